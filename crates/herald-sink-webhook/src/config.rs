//! The webhook sink's settings as written in the config file, and the load-time checks that
//! turn them into ready-to-send values (a parsed URL, a header map, a compiled body template),
//! each problem reported at its line and column.

use std::collections::BTreeMap;
use std::time::Duration;

use herald_core::Secret;
use herald_core::config::{Diagnostics, Node, number};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

/// `type: webhook` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where to POST, an `http://` or `https://` URL.
    pub url: String,
    /// Extra request headers, name to value (an `Authorization` token, a routing key). Values
    /// are kept as secrets because they often carry credentials.
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    /// Key for the `X-Herald-Signature` header (HMAC-SHA256); no signature without one.
    pub secret: Option<Secret>,
    /// How long one attempt may take, connecting included, before it counts as unreachable.
    #[serde(default = "default_timeout_seconds", deserialize_with = "number::u64")]
    pub timeout_seconds: u64,
    /// A minijinja template replacing the default JSON body. Printed values are JSON-escaped
    /// *without* quotes, so write `"title": "{{ title }}"`; use `{{ alert|tojson }}` for a
    /// whole object. The result must be valid JSON.
    pub body: Option<String>,
}

fn default_timeout_seconds() -> u64 {
    10
}

/// Headers herald sets itself; a custom header may not replace them.
pub const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "host",
    "idempotency-key",
    "transfer-encoding",
    "x-herald-signature",
];

/// The URL, checked: it parses and is http or https. Reports the problem at the `url` node.
pub fn check_url(
    config: &WebhookConfig,
    section: &Node,
    diag: &mut Diagnostics,
) -> Option<reqwest::Url> {
    let at = section.get("url").unwrap_or(section);
    let shown = at.shown();
    match reqwest::Url::parse(config.url.trim()) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Some(url),
        Ok(url) => {
            diag.error(
                at,
                format!("webhook url \"{shown}\" has scheme \"{}\"", url.scheme()),
                Some("use an http:// or https:// URL".into()),
            );
            None
        }
        Err(e) => {
            diag.error(
                at,
                format!("webhook url \"{shown}\" is not a valid URL: {e}"),
                Some("for example \"https://hooks.example.com/herald\"".into()),
            );
            None
        }
    }
}

/// The custom headers as a header map; a bad name or value, or a reserved name, is reported at
/// its key. Values never appear in messages.
pub fn check_headers(
    config: &WebhookConfig,
    section: &Node,
    diag: &mut Diagnostics,
) -> Option<HeaderMap> {
    let mut map = HeaderMap::with_capacity(config.headers.len() + 2);
    let mut ok = true;
    let headers_node = section.get("headers").unwrap_or(section);
    for (name, value) in &config.headers {
        let at = headers_node.key_node(name).unwrap_or(headers_node);
        let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
            diag.error(
                at,
                format!("header name \"{name}\" is not a valid HTTP header name"),
                Some("use letters, digits and dashes, e.g. \"X-Team\"".into()),
            );
            ok = false;
            continue;
        };
        if RESERVED_HEADERS.contains(&header.as_str()) {
            diag.error(
                at,
                format!("header \"{name}\" is set by herald and cannot be configured"),
                Some(format!("herald sets: {}", RESERVED_HEADERS.join(", "))),
            );
            ok = false;
            continue;
        }
        let Ok(mut value) = HeaderValue::from_str(value.expose()) else {
            diag.error(
                headers_node.get(name).unwrap_or(at),
                format!("the value of header \"{name}\" is not a valid HTTP header value"),
                Some("header values are one line of visible ASCII text".into()),
            );
            ok = false;
            continue;
        };
        value.set_sensitive(true);
        map.insert(header, value);
    }
    ok.then_some(map)
}

/// The per-attempt time limit; zero is refused because it would fail every delivery.
pub fn check_timeout(
    config: &WebhookConfig,
    section: &Node,
    diag: &mut Diagnostics,
) -> Option<Duration> {
    if config.timeout_seconds == 0 {
        let at = section.get("timeout_seconds").unwrap_or(section);
        diag.error(
            at,
            "timeout_seconds \"0\" would fail every delivery",
            Some("use at least 1 (default 10)".into()),
        );
        return None;
    }
    Some(Duration::from_secs(config.timeout_seconds))
}

#[cfg(test)]
mod tests;
