//! An example of a sink written outside herald: `type: example_chat` posts each notification
//! as a JSON message to a chat service's incoming webhook (the shape Discord, Teams and most
//! chat tools share). It is small on purpose; read it as a recipe for your own sink, and copy
//! the crate to start one.
//!
//! # Writing your own sink, step by step
//!
//! 1. **Make a crate** under `crates/` that depends on `herald-core` (the contract),
//!    `herald-http` (the shared client and [`herald_http::send`]), `async-trait`, `serde` and
//!    `serde_json`, with `herald-http` and its `testing` feature as a dev-dependency. Add it to
//!    the workspace's `[workspace.dependencies]` (one line).
//!
//! 2. **Describe the settings** (`config.rs`, [`ChatConfig`]) as a serde struct with
//!    `#[serde(deny_unknown_fields)]` and a doc comment on every field. The factory gets the
//!    sink's own keys only (not `type`, not `retry`). Use [`herald_core::Secret`] for tokens
//!    and credential-bearing URLs (its `Debug` prints `***`), and
//!    [`herald_core::config::number`] for numbers, which may arrive as text from `${VAR}`.
//!
//! 3. **Render** (`render.rs`, [`render`]): a pure function from the
//!    [`herald_core::Notification`] to the body. Alert text is untrusted: escape it for the
//!    provider's markup ([`herald_core::text`] drops invisible and bidirectional characters),
//!    and reuse [`herald_core::template::fields`] for the usual fields and tags.
//!
//! 4. **Send and classify** (`sink.rs`, [`ChatSink`]): `deliver()` builds the request from
//!    [`herald_http::client`], hands it to [`herald_http::send`] (which names network failures
//!    without the URL), and sorts the [`herald_http::Answer`] in [`classify`]: a
//!    [`herald_core::Receipt`] on success, `Unavailable` when a retry could help (the
//!    dispatcher decides when), `Rejected` when it cannot ([`herald_core::SinkError::refused`]
//!    for what herald refuses before sending). One attempt per call: never sleep or retry in
//!    `deliver`. A provider that limits how often one destination may be posted to states it
//!    in [`herald_core::Sink::pace`]; one that keeps conversations says so in
//!    [`herald_core::Sink::threads`] and returns its reference in [`herald_core::Receipt::thread`].
//!
//! 5. **Write a factory** ([`ChatFactory`], [`herald_core::SinkFactory`]): `kind()` is the
//!    `type` users write; `build()` reads the settings with
//!    `ctx.diag.typed::<ChatConfig>(ctx.node)` (an unknown key or a bad value is reported with
//!    its line and column), checks what serde cannot with `ctx.diag.error(node, message,
//!    hint)`, and returns `None` when anything was wrong, so `herald check` lists every
//!    problem at once.
//!
//! 6. **Register it** in the herald binary: the crate in `crates/herald/Cargo.toml` and one
//!    line in `crates/herald/src/sinks.rs`:
//!
//!    ```text
//!    registry.register(herald_example_sink::ChatFactory);
//!    ```
//!
//!    From then on, a config can say:
//!
//!    ```yaml
//!    sinks:
//!      team-chat:
//!        type: example_chat
//!        url: ${CHAT_WEBHOOK_URL}
//!    ```
//!
//! 7. **Test it** against `herald_http::testing::StandIn` (the `testing` feature), a stand-in on
//!    127.0.0.1 that records what arrived and answers with the provider's real success and
//!    error shapes. Build the sink from YAML through its factory
//!    ([`herald_core::testing::build_sink`]), so the config checks are tested too. See this
//!    crate's `tests/`.
//!
//! # What `type: example_chat` sends and how it reads the answer
//!
//! A `POST` of `{"text": "...", "idempotency_key": "..."}` (the text from [`render`]). A 2xx
//! is delivered; 429, 408 and 5xx are worth a retry (after `Retry-After` when given); any
//! other status is refused, with the service's `{"error": ...}` message when it sends one.

mod config;
mod render;
mod sink;

pub use config::ChatConfig;
pub use render::{MAX_TEXT_CHARS, render};
pub use sink::{ChatFactory, ChatSink, classify};
