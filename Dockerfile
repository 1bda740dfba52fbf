# herald in a container: a Rust build stage, then a small Debian runtime with the one binary,
# run as a non-root user. The build stage's RUN steps are the README's "Building from source"
# steps, word for word (an e2e test compares them), so a build that works by hand works here.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p herald
RUN install -m 0755 target/release/herald /usr/local/bin/herald

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/herald --create-home herald
COPY --from=build /usr/local/bin/herald /usr/local/bin/herald
COPY config /etc/herald
USER herald
WORKDIR /var/lib/herald
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["herald", "healthcheck", "--url", "http://127.0.0.1:8080"]
ENTRYPOINT ["herald"]
CMD ["serve", "--config", "/etc/herald/compose.yaml"]
