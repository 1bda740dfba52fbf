//! herald's config file: parsing, `${VAR}` substitution, and validation that reports every
//! problem at once, each with file, line, column, the bad value and a hint.
//!
//! The loader works on a located [`Node`] tree rather than straight serde structs because
//! serde stops at the first error and forgets where values were. Sections that belong to other
//! crates (a source's or a sink's settings) are handed over as nodes; [`Diagnostics::typed`]
//! turns one into a serde type and still reports its errors with a location.

pub mod diag;
mod env;
mod error;
pub(crate) mod node;
mod secret;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

pub use diag::{Diagnostics, closest};
pub use env::Env;
pub use error::{ConfigError, ConfigErrors, Location, Severity};
pub use node::{Node, Pos, Value};
pub use secret::Secret;

use crate::noise::interval::TimeIntervals;
use crate::route::tree::RouteTree;

/// The whole config, validated. Sources and sinks keep their settings as nodes for the crates
/// that own them (see `herald`'s config assembly); routes are compiled.
#[derive(Debug)]
pub struct Config {
    pub file: String,
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub sources: Vec<SectionSpec>,
    pub sinks: Vec<SectionSpec>,
    pub routes: RouteTree,
    /// The named windows of `time_intervals:`, for quiet hours.
    pub time_intervals: TimeIntervals,
    /// Credentials of this section (`server.admin_token`) whose value is written in the file;
    /// see [`PublicCredential`].
    pub public_credentials: Vec<PublicCredential>,
    /// Where to report that the config has no source (see [`Config::serve_errors`]).
    no_sources: Option<Pos>,
}

/// A named entry of `sources` or `sinks`: its `type` and its settings, not yet typed.
#[derive(Debug, Clone)]
pub struct SectionSpec {
    pub name: String,
    pub kind: String,
    /// The whole mapping, `type` included (for a sink, without the generic `retry` key,
    /// which is read here for every sink type so that no sink crate has to know it).
    pub node: Node,
    /// A sink's own `retry:` settings; `None` uses the defaults.
    pub retry: Option<SinkRetry>,
    /// A sink's `flood_guard:` (`max` 0 for off); `None` keeps the sink kind's default (the
    /// flood guard's module says which). Read here, like `retry`, for every sink type.
    pub flood_guard: Option<crate::noise::policy::Guard>,
}

/// A sink's `retry:` settings: how often and how long its failed deliveries are tried again.
/// Each key left out keeps its default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkRetry {
    /// Attempts in all, the first included (default 10).
    pub max_attempts: Option<u32>,
    /// How long after it was accepted a delivery may still be retried (default 86400).
    pub max_age_seconds: Option<u64>,
    /// The ceiling of the first retry's wait, doubled with every further attempt (default 1).
    pub min_backoff_seconds: Option<u64>,
    /// The largest wait between two attempts (default 300).
    pub max_backoff_seconds: Option<u64>,
}

/// Reads a sink's `retry:` mapping, reporting values that cannot work.
fn sink_retry(name: &str, node: &Node, diag: &mut Diagnostics) -> Option<SinkRetry> {
    let retry: SinkRetry = diag.typed(node)?;
    let at = |key: &str| node.get(key).unwrap_or(node).clone();
    let mut ok = true;
    if retry.max_attempts == Some(0) {
        diag.error(
            &at("max_attempts"),
            format!("sink \"{name}\": retry.max_attempts is 0, so nothing would ever be sent"),
            Some("use 1 for a single attempt without retries".into()),
        );
        ok = false;
    }
    if retry.max_backoff_seconds == Some(0) {
        diag.error(
            &at("max_backoff_seconds"),
            format!("sink \"{name}\": retry.max_backoff_seconds is 0"),
            Some("the largest wait between attempts must be at least 1 second".into()),
        );
        ok = false;
    }
    if let (Some(min), Some(max)) = (retry.min_backoff_seconds, retry.max_backoff_seconds)
        && min > max
    {
        diag.error(
            &at("min_backoff_seconds"),
            format!(
                "sink \"{name}\": retry.min_backoff_seconds ({min}) is above max_backoff_seconds ({max})"
            ),
            Some("the first wait cannot be longer than the largest one".into()),
        );
        ok = false;
    }
    ok.then_some(retry)
}

/// `server:`: where herald listens and how it treats requests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on, `host:port`.
    pub listen: String,
    /// Largest webhook body accepted; larger ones get 413.
    #[serde(deserialize_with = "number::u64")]
    pub max_body_bytes: u64,
    /// How long a shutdown waits for in-flight deliveries.
    #[serde(deserialize_with = "number::u64")]
    pub shutdown_grace_seconds: u64,
    /// Bearer token for the admin API; without one the admin API is off.
    pub admin_token: Option<Secret>,
    /// Log filter when `RUST_LOG` is not set, in `RUST_LOG`'s syntax (`info`,
    /// `warn,herald_server=debug`); default `info` for `herald serve`.
    pub log_level: Option<String>,
    /// A request's headers must arrive within this many seconds of its first byte (of the
    /// connection, for its first request); slower clients are disconnected.
    #[serde(deserialize_with = "number::u64")]
    pub header_timeout_seconds: u64,
    /// A request's whole body must arrive within this many seconds of its headers; later
    /// ones are answered `408`.
    #[serde(deserialize_with = "number::u64")]
    pub body_timeout_seconds: u64,
    /// A kept-alive connection with no request is closed after this many seconds.
    #[serde(deserialize_with = "number::u64")]
    pub idle_timeout_seconds: u64,
    /// Connections open at once (also bounded by the process's file limit). At the cap, the
    /// connection that has waited longest without a request in progress is closed for the
    /// newcomer; with none such, the newcomer gets `503` with `Retry-After`.
    #[serde(deserialize_with = "number::u64")]
    pub max_connections: u64,
    /// Request body bytes held in memory at once, over all requests. Beyond it, the request
    /// that has been sending its body longest is dropped for the newcomer; with none such,
    /// the newcomer gets `503` with `Retry-After`. At least `max_body_bytes`.
    #[serde(deserialize_with = "number::u64")]
    pub max_buffered_bytes: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 1024 * 1024,
            shutdown_grace_seconds: 10,
            admin_token: None,
            log_level: None,
            header_timeout_seconds: 10,
            body_timeout_seconds: 30,
            idle_timeout_seconds: 60,
            max_connections: 1024,
            max_buffered_bytes: 16 * 1024 * 1024,
        }
    }
}

/// `storage:`: where accepted alerts and deliveries are kept. Its `Debug` shows the url
/// through [`redact_url`], since a PostgreSQL url may carry a password.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `sqlite://PATH` (relative to the working directory) or
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`; the store picks its backend by the scheme.
    pub url: String,
    /// SQLite's setting, ignored by other backends: `normal` survives `kill -9`; `full` also
    /// survives power loss, at a cost.
    pub sync: SyncMode,
    /// Finished alerts (every delivery delivered, dead or held back) are deleted this many
    /// days after they were received, with their deliveries; `0` keeps them forever.
    #[serde(deserialize_with = "number::u64")]
    pub retention_days: u64,
    /// How long a delivery lease lasts. A running instance renews the leases of its attempts
    /// well before they end, so this only bounds how long the work of an instance that died
    /// (killed, machine lost, cut off) waits before another instance takes it over.
    #[serde(deserialize_with = "number::u64")]
    pub lease_seconds: u64,
}

impl std::fmt::Debug for StorageConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageConfig")
            .field("url", &redact_url(&self.url))
            .field("sync", &self.sync)
            .field("retention_days", &self.retention_days)
            .field("lease_seconds", &self.lease_seconds)
            .finish()
    }
}

/// `url` with the password of its `USER:PASSWORD@` part, if any, replaced by `***`, and with
/// any `password=` query parameter's value replaced the same way: the form of a storage url
/// that may be logged or shown in an error.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    // The authority ends at the first '/', '?' or '#'; its user info at the last '@' in it
    // (a password may itself contain '@' when not percent-encoded).
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                        format!("{key}=***")
                    }
                    _ => pair.to_string(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            url: "sqlite://data/herald.db".into(),
            sync: SyncMode::Normal,
            retention_days: 30,
            lease_seconds: 30,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    #[default]
    Normal,
    Full,
}

const TOP_LEVEL_KEYS: &[&str] = &[
    "server",
    "storage",
    "sources",
    "sinks",
    "routes",
    "time_intervals",
];

impl Config {
    /// Reads and validates a config file, taking `${VAR}` values from the process environment.
    pub fn load(path: &Path) -> Result<(Config, Vec<ConfigError>), ConfigErrors> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors::one(ConfigError::new(
                Location::file(&file),
                format!("cannot read config file \"{file}\": {e}"),
            ))
        })?;
        Config::parse(&text, &file, &Env::process())
    }

    /// Validates config text. Returns the config and its warnings, or every error found.
    pub fn parse(
        text: &str,
        file: &str,
        env: &Env,
    ) -> Result<(Config, Vec<ConfigError>), ConfigErrors> {
        let mut diag = Diagnostics::new(file);
        let mut root = match node::parse(text) {
            Ok(root) => root,
            Err(e) => return Err(ConfigErrors::one(yaml_error(file, text, &e))),
        };
        for (pos, tag) in node::untag(&mut root, text) {
            diag.error(
                &Node::new(pos, Value::Null),
                format!("unquoted {tag} is read as a YAML tag, and the value as empty"),
                Some(format!(
                    "quote values that start with ! or *: write \"{tag}\""
                )),
            );
        }
        let config = Config::from_root(root, file, env, &mut diag);
        diag.into_result(config)
    }

    /// The config as far as it could be read, errors or not; `None` only when the YAML itself
    /// is broken. Lets the binary go on checking sources and sinks after a routing error.
    pub fn parse_lenient(text: &str, file: &str, env: &Env) -> Option<Config> {
        let mut diag = Diagnostics::new(file);
        let mut root = node::parse(text).ok()?;
        node::untag(&mut root, text);
        Some(Config::from_root(root, file, env, &mut diag))
    }

    fn from_root(mut root: Node, file: &str, env: &Env, diag: &mut Diagnostics) -> Config {
        env.substitute(&mut root, diag);
        Config::from_node(&root, file, diag)
    }

    fn from_node(root: &Node, file: &str, diag: &mut Diagnostics) -> Config {
        if root.as_map().is_none() && root.value != Value::Null {
            diag.error(
                root,
                format!("the config must be a mapping, found {}", root.value.kind()),
                Some(format!("top-level keys: {}", TOP_LEVEL_KEYS.join(", "))),
            );
        }
        diag.unknown_keys(root, TOP_LEVEL_KEYS, "top-level key");
        let mut server = root
            .get("server")
            .and_then(|n| diag.typed::<ServerConfig>(n))
            .unwrap_or_default();
        // `admin_token: ${HERALD_ADMIN_TOKEN:-}` with the variable unset means "no admin API",
        // never "the empty token opens it".
        if server.admin_token.as_ref().is_some_and(Secret::is_empty) {
            server.admin_token = None;
        }
        if let Some(node) = root.get("server") {
            check_server_limits(&server, node, diag);
            if let Some(at) = node.get("listen")
                && let Err(e) = check_listen(&server.listen)
            {
                diag.error(
                    at,
                    format!("server.listen \"{}\" {}", at.shown(), e.message),
                    Some(e.hint),
                );
            }
        }
        let public_credentials = root
            .get("server")
            .and_then(|n| PublicCredential::find(diag, n, "admin_token", "server.admin_token"))
            .into_iter()
            .collect();
        let storage = root
            .get("storage")
            .and_then(|n| diag.typed::<StorageConfig>(n))
            .unwrap_or_default();
        if let Some(at) = root.get("storage").and_then(|n| n.get("url")) {
            check_storage_url(&storage.url, at, diag);
        }
        if let Some(at) = root.get("storage").and_then(|n| n.get("lease_seconds")) {
            check_lease_seconds(storage.lease_seconds, at, diag);
        }
        // Absent, empty or `sources: {}`: herald could run but never receive anything. Which
        // is an error only for a config that is served (see `serve_errors`), not for tests and
        // tools that look at its routes or sinks alone.
        let no_sources = match root.get("sources") {
            None => Some(Pos { line: 1, column: 1 }),
            Some(n) if n.value == Value::Null || n.as_map().is_some_and(<[_]>::is_empty) => {
                root.key_node("sources").map(|k| k.pos)
            }
            Some(_) => None,
        };
        let sources = named_sections(root.get("sources"), "source", diag);
        let sinks = named_sections(root.get("sinks"), "sink", diag);
        let sink_names: Vec<&str> = sinks.iter().map(|s| s.name.as_str()).collect();
        let time_intervals = TimeIntervals::from_node(root.get("time_intervals"), diag);
        let routes =
            RouteTree::from_node_with(root.get("routes"), &sink_names, &time_intervals, diag);
        Config {
            time_intervals,
            file: file.to_owned(),
            server,
            storage,
            sources,
            sinks,
            routes,
            public_credentials,
            no_sources,
        }
    }

    /// What keeps a config that parsed from being served: today, having no source, since
    /// herald could then receive nothing. `herald check` and `herald serve` (and every reload)
    /// add these to [`Config::parse`]'s errors; tests and tools that look at one part of a
    /// config (its routes, a sink) do not need a source.
    pub fn serve_errors(&self) -> Vec<ConfigError> {
        let Some(pos) = self.no_sources else {
            return vec![];
        };
        let location = Location {
            file: self.file.clone(),
            line: pos.line,
            column: pos.column,
        };
        vec![
            ConfigError::new(location, "no sources: herald could not receive anything")
                .with_hint(
                    "add one, for example `sources: {sentry: {type: sentry, client_secret: \"${SENTRY_CLIENT_SECRET}\"}}`, served at POST /hooks/sentry",
                ),
        ]
    }
}

/// Why a listen address is refused, and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressError {
    /// What is wrong, to follow the value in a sentence (`is a port alone ...`).
    pub message: String,
    pub hint: String,
}

/// Checks that `listen` is `host:port` as herald binds it: an IP address (IPv6 in brackets) or
/// a host name such as `localhost`, and a port from 0 to 65535. A port alone (`8080`, `:8080`)
/// is refused: herald would not know whether to listen on loopback or everywhere.
pub fn check_listen(listen: &str) -> Result<(), AddressError> {
    if listen.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(());
    }
    let both = |port: &str| {
        format!(
            "write \"127.0.0.1:{port}\" (this machine only) or \"0.0.0.0:{port}\" (every interface)"
        )
    };
    let error = |message: &str, hint: String| {
        Err(AddressError {
            message: message.to_owned(),
            hint,
        })
    };
    if let Some((scheme, rest)) = listen.split_once("://") {
        let address = rest.split('/').next().unwrap_or(rest);
        return error(
            &format!("is a URL, not host:port (the {scheme}:// is not needed)"),
            format!("write \"{address}\""),
        );
    }
    let Some((host, port)) = listen.rsplit_once(':') else {
        if !listen.is_empty() && listen.chars().all(|c| c.is_ascii_digit()) {
            return error("is a port alone, not host:port", both(listen));
        }
        return error(
            "has no port",
            format!("write host:port, for example \"{listen}:8080\""),
        );
    };
    if port.parse::<u16>().is_err() {
        return error(
            &format!("has port \"{port}\", which is not a number from 0 to 65535"),
            "write host:port, for example \"127.0.0.1:8080\"".into(),
        );
    }
    if host.is_empty() {
        return error("has a port but no host", both(port));
    }
    if host.contains(':') && !host.starts_with('[') {
        return error(
            "is an IPv6 address without brackets",
            format!("write \"[{host}]:{port}\""),
        );
    }
    let name_ok = !host.starts_with(['-', '.'])
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'));
    if host.starts_with('[') || !name_ok {
        return error(
            &format!("has host \"{host}\", which is neither an IP address nor a host name"),
            both(port),
        );
    }
    Ok(())
}

/// The storage URL names its kind: `sqlite://PATH` (the store decides what else it supports,
/// and says so when it opens). A bare path is the common mistake.
fn check_storage_url(url: &str, at: &Node, diag: &mut Diagnostics) {
    let shown = at.shown();
    let sqlite = "sqlite://PATH, relative to the working directory, or sqlite:///ABSOLUTE/PATH";
    match url.split_once("://") {
        Some(("sqlite", "")) => diag.error(
            at,
            format!("storage.url \"{shown}\" names no file"),
            Some("write sqlite://PATH, for example \"sqlite://data/herald.db\"".into()),
        ),
        Some(("sqlite" | "postgres" | "postgresql", _)) => {}
        Some((scheme, _)) => diag.error(
            at,
            format!("storage.url \"{shown}\" has unknown scheme \"{scheme}\""),
            Some(format!("storage urls are {sqlite}")),
        ),
        None => {
            let path = shown.strip_prefix("sqlite:").unwrap_or(&shown);
            diag.error(
                at,
                format!("storage.url \"{shown}\" has no scheme"),
                Some(format!("write \"sqlite://{path}\" ({sqlite})")),
            );
        }
    }
}

/// A lease must outlast the renewals that keep it (a few a lease), and a long one keeps the
/// work of a dead instance waiting for as long.
fn check_lease_seconds(seconds: u64, at: &Node, diag: &mut Diagnostics) {
    if !(1..=MAX_LEASE_SECONDS).contains(&seconds) {
        diag.error(
            at,
            format!("storage.lease_seconds {seconds} is out of range"),
            Some(format!(
                "use 1 to {MAX_LEASE_SECONDS}: how long the work of an instance that died waits before another takes it (default 30)"
            )),
        );
    }
}

/// The longest `storage.lease_seconds`: an hour of alerts held up by a dead instance is
/// already more than anyone wants.
pub const MAX_LEASE_SECONDS: u64 = 3600;

/// The front door's limits must leave room for one request: a zero timeout or cap would
/// refuse everything, and a buffer smaller than the largest body could never take it.
fn check_server_limits(server: &ServerConfig, node: &Node, diag: &mut Diagnostics) {
    let positive = [
        ("header_timeout_seconds", server.header_timeout_seconds),
        ("body_timeout_seconds", server.body_timeout_seconds),
        ("idle_timeout_seconds", server.idle_timeout_seconds),
        ("max_connections", server.max_connections),
        ("max_body_bytes", server.max_body_bytes),
    ];
    for (key, value) in positive {
        if value == 0 {
            let at = node.get(key).unwrap_or(node);
            diag.error(
                at,
                format!("server.{key} is 0, which would refuse every request"),
                Some("give a positive number, or remove the key for its default".into()),
            );
        }
    }
    if server.max_buffered_bytes < server.max_body_bytes {
        let at = node.get("max_buffered_bytes").unwrap_or(node);
        diag.error(
            at,
            format!(
                "server.max_buffered_bytes ({}) is smaller than server.max_body_bytes ({}), so the largest body could never be taken",
                server.max_buffered_bytes, server.max_body_bytes
            ),
            Some("raise max_buffered_bytes to at least max_body_bytes (default 16 MiB)".into()),
        );
    }
}

/// A credential herald checks on requests it receives (a source's secret, the admin token)
/// whose value is written in the config file itself: a literal, or the default of
/// `${VAR:-default}` when that default is used. Config files are shared and published, so such
/// a value is public; it is accepted only while herald listens on a loopback address
/// ([`exposure_errors`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicCredential {
    /// The key as a path for messages, such as `server.admin_token` or
    /// `sources.sentry.client_secret`.
    pub key: String,
    /// Where the value is written.
    pub location: Location,
    /// The value as written (`${VAR:-default}` or the literal); public by definition.
    pub written: String,
}

impl PublicCredential {
    /// `section.key` when its value is a non-empty text written in the file; an empty value
    /// is a credential switched off, which is not public but absent.
    pub fn find(diag: &Diagnostics, section: &Node, key: &str, path: &str) -> Option<Self> {
        let node = section.get(key)?;
        let empty = match &node.value {
            Value::Str(s) => s.is_empty(),
            Value::Null => true,
            _ => false,
        };
        if empty || !node.is_public() {
            return None;
        }
        Some(PublicCredential {
            key: path.to_owned(),
            location: diag.location(node),
            written: node.shown(),
        })
    }
}

/// Whether `listen` (`host:port`) is an address only this machine can reach: `127.0.0.0/8`,
/// `::1` or `localhost`. Anything else, including a host name, counts as reachable from
/// elsewhere.
pub fn is_loopback(listen: &str) -> bool {
    if let Ok(address) = listen.parse::<std::net::SocketAddr>() {
        return address.ip().is_loopback();
    }
    listen
        .rsplit_once(':')
        .is_some_and(|(host, _)| host.eq_ignore_ascii_case("localhost"))
}

/// The errors for public credentials when herald listens on `listen`, which `listen_from`
/// names for the message (`server.listen`, `--listen`): none on a loopback address, one per
/// credential otherwise.
pub fn exposure_errors(
    credentials: &[PublicCredential],
    listen: &str,
    listen_from: &str,
) -> Vec<ConfigError> {
    if is_loopback(listen) {
        return vec![];
    }
    credentials
        .iter()
        .map(|c| {
            ConfigError::new(
                c.location.clone(),
                format!(
                    "{} \"{}\" is written in the config file, so anyone who reads the file knows it, and herald listens on \"{listen}\" ({listen_from}), which is not a loopback address",
                    c.key, c.written
                ),
            )
            .with_hint(
                "take the value from the environment with ${VAR} or from a file with ${file:PATH} (a value written in the file is accepted only while herald listens on 127.0.0.1, ::1 or localhost)",
            )
        })
        .collect()
}

/// Reads `name: {type: ..., ...}` entries of `sources` or `sinks`.
fn named_sections(node: Option<&Node>, what: &str, diag: &mut Diagnostics) -> Vec<SectionSpec> {
    let Some(node) = node else { return vec![] };
    if node.value == Value::Null {
        return vec![];
    }
    let Some(entries) = node.as_map() else {
        diag.error(
            node,
            format!(
                "{what}s must be a mapping of names to settings, found {}",
                node.value.kind()
            ),
            Some(format!("for example `my-{what}: {{ type: ... }}`")),
        );
        return vec![];
    };
    let mut out = Vec::new();
    for (key, value) in entries {
        let Some(name) = key.scalar_text() else {
            diag.error(key, format!("a {what} name must be text"), None);
            continue;
        };
        if value.as_map().is_none() {
            diag.error(
                value,
                format!(
                    "{what} \"{name}\" must be a mapping of settings, found {}",
                    value.value.kind()
                ),
                Some(format!("for example `{name}: {{ type: ... }}`")),
            );
            continue;
        }
        let kind = match value.get("type") {
            Some(t) => match t.as_str() {
                Some(k) => k.to_owned(),
                None => {
                    diag.error(
                        t,
                        format!("{what} \"{name}\" has a `type` that is not text"),
                        None,
                    );
                    continue;
                }
            },
            None => {
                diag.error(
                    value,
                    format!("{what} \"{name}\" has no `type`"),
                    Some(format!("add `type:` naming the kind of {what}")),
                );
                continue;
            }
        };
        let mut node = value.clone();
        let mut retry = None;
        let mut flood_guard = None;
        if what == "sink"
            && let Value::Map(entries) = &mut node.value
        {
            if let Some(i) = entries
                .iter()
                .position(|(k, _)| k.as_str() == Some("retry"))
            {
                let (_, settings) = entries.remove(i);
                retry = sink_retry(&name, &settings, diag);
            }
            if let Some(i) = entries
                .iter()
                .position(|(k, _)| k.as_str() == Some("flood_guard"))
            {
                let (_, setting) = entries.remove(i);
                flood_guard = crate::noise::policy::flood_guard_setting(
                    &format!("sink \"{name}\""),
                    &setting,
                    diag,
                );
            }
        }
        out.push(SectionSpec {
            name,
            kind,
            node,
            retry,
            flood_guard,
        });
    }
    out
}

fn yaml_error(file: &str, source: &str, e: &serde_saphyr::Error) -> ConfigError {
    let (line, column) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((0, 0));
    let location = Location {
        file: file.to_owned(),
        line,
        column,
    };
    // An unquoted value starting with `*` is an alias to YAML (`project: *` or `[*, a]`);
    // the parser's sentence about anchors does not say what to do.
    if let Some(value) = alias_at(source, line, column) {
        return ConfigError::new(
            location,
            format!(
                "invalid YAML: unquoted {value} is read as an alias (a reference to an &anchor)"
            ),
        )
        .with_hint(format!(
            "quote values that start with ! or *: write \"{value}\""
        ));
    }
    // serde-saphyr's Display includes a snippet; the first line is the sentence.
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("invalid YAML").trim();
    // It repeats the location as "error: line 3 column 22: ", which the location says already.
    let sentence = first
        .strip_prefix("error: ")
        .map(|rest| match rest.split_once(": ") {
            Some((at, s)) if at.starts_with("line ") => s,
            _ => rest,
        })
        .unwrap_or(first);
    ConfigError::new(
        location,
        format!("invalid YAML: {}", sentence.trim_end_matches('.')),
    )
}

/// The plain value starting with `*` at a 1-based line and column, up to where YAML would end
/// it (a comma, bracket or brace in a flow, a comment, the end of the line).
fn alias_at(source: &str, line: u64, column: u64) -> Option<String> {
    let line = source
        .lines()
        .nth(usize::try_from(line).ok()?.checked_sub(1)?)?;
    let rest: String = line
        .chars()
        .skip(usize::try_from(column).ok()?.checked_sub(1)?)
        .collect();
    if !rest.starts_with('*') {
        return None;
    }
    let end = rest
        .find([',', ']', '}'])
        .into_iter()
        .chain(rest.find(" #"))
        .min()
        .unwrap_or(rest.len());
    Some(rest[..end].trim_end().to_owned())
}

/// Serde helpers for numbers that may arrive as text (a value from `${VAR}` is text).
pub mod number {
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumOrText {
        Num(u64),
        Text(String),
    }

    pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        match NumOrText::deserialize(d)? {
            NumOrText::Num(n) => Ok(n),
            NumOrText::Text(t) => t
                .trim()
                .parse()
                .map_err(|_| serde::de::Error::custom(format!("\"{t}\" is not a whole number"))),
        }
    }

    pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        match Option::<NumOrText>::deserialize(d)? {
            None => Ok(None),
            Some(NumOrText::Num(n)) => Ok(Some(n)),
            Some(NumOrText::Text(t)) if t.trim().is_empty() => Ok(None),
            Some(NumOrText::Text(t)) => t
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| serde::de::Error::custom(format!("\"{t}\" is not a whole number"))),
        }
    }

    pub fn u16<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
        let n = u64(d)?;
        u16::try_from(n)
            .map_err(|_| serde::de::Error::custom(format!("{n} is out of range (0 to 65535)")))
    }

    pub fn u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        let n = u64(d)?;
        u32::try_from(n).map_err(|_| serde::de::Error::custom(format!("{n} is too large")))
    }
}

/// Looks up sections by name, for the checks that resolve references.
pub fn by_name(sections: &[SectionSpec]) -> BTreeMap<&str, &SectionSpec> {
    sections.iter().map(|s| (s.name.as_str(), s)).collect()
}
