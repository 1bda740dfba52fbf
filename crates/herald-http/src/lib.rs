//! What every HTTP sink (Slack, LINE, webhook) needs and should do the same way: one shared,
//! pooled HTTP client that never follows redirects, the `Retry-After` header read as seconds or
//! as an HTTP date, and network failures described without the URL (a webhook URL or a query
//! string may carry a credential).
//!
//! A sink crate keeps its own request building and answer classification; only this plumbing
//! is shared, so a fix here (a pool setting, a date format) reaches every sink at once.

use std::sync::OnceLock;
use std::time::Duration;

use herald_core::SinkError;
use herald_core::network::NetworkCause;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// The `User-Agent` herald sends everywhere.
pub const USER_AGENT: &str = concat!("herald/", env!("CARGO_PKG_VERSION"));

/// The one client every HTTP sink uses: connections are kept alive and reused across sinks
/// that post to the same host, which is what makes thousands of deliveries a second cheap.
/// Redirects are not followed: no provider sends them to a POST, and following one could carry
/// a token elsewhere.
pub fn client() -> Result<&'static reqwest::Client, SinkError> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .user_agent(USER_AGENT)
                .redirect(reqwest::redirect::Policy::none())
                .pool_max_idle_per_host(256)
                .pool_idle_timeout(Duration::from_secs(90))
                .tcp_nodelay(true)
                .tcp_keepalive(Duration::from_secs(60))
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| SinkError::Unreachable {
            detail: format!("cannot set up the http client: {e}"),
            source: None,
        })
}

/// `Retry-After` from the response headers, when present and readable.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    parse_retry_after(headers.get(RETRY_AFTER)?.to_str().ok()?)
}

/// `Retry-After` as delay-seconds or an HTTP date (RFC 9110 section 10.2.3); a date in the
/// past means "now".
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let wait = at.duration_since(jiff::Timestamp::now());
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

/// A network failure (no answer, no connection) as a retryable error naming the provider and
/// the cause (connection refused, name not resolved, TLS failure, timeout, connection reset,
/// closed without an answer) with what to check, never the URL.
pub fn network_error(provider: &str, e: reqwest::Error, timeout: Duration) -> SinkError {
    let e = e.without_url();
    let cause = if e.is_timeout() {
        Some(NetworkCause::Timeout)
    } else {
        NetworkCause::of(&e)
    };
    let detail = match cause {
        Some(cause) => cause.describe(provider, timeout),
        // Unrecognised: the innermost message is the most specific one there is (reqwest's
        // own texts are stripped of the URL above, and the layers below never carry it).
        None if e.is_connect() => format!(
            "cannot connect to {provider}: {}",
            herald_core::network::innermost(&e)
        ),
        None => format!(
            "request to {provider} failed: {}",
            herald_core::network::innermost(&e)
        ),
    };
    SinkError::unreachable(detail, e)
}

#[cfg(test)]
mod tests;
