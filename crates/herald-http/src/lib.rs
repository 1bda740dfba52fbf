//! What every HTTP sink (chat APIs, webhooks) needs and should do the same way: one shared,
//! pooled HTTP client that never follows redirects, [`send`], which makes one request and
//! returns the provider's [`Answer`] (status, headers, body text up to [`MAX_ANSWER_BYTES`])
//! or a classified network failure described without the URL (a webhook URL or a query string
//! may carry a credential), and the `Retry-After` header read as seconds or as an HTTP date.
//!
//! A sink crate writes only its request and its classification of the answer; the plumbing is
//! shared, so a fix here (a pool setting, a date format) reaches every sink at once. The
//! `testing` feature adds the `testing` module, the scripted stand-in provider the sinks' tests
//! share.

use std::sync::OnceLock;
use std::time::Duration;

use herald_core::SinkError;
use herald_core::network::NetworkCause;
use reqwest::header::{HeaderMap, RETRY_AFTER};

#[cfg(feature = "testing")]
pub mod testing;

/// The most of an answer's body [`send`] reads: enough for any provider's error JSON, while a
/// misconfigured URL that streams a large page cannot fill herald's memory.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// What a provider answered to one request.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    /// The body as text (invalid UTF-8 replaced), at most [`MAX_ANSWER_BYTES`] of it. For a
    /// 2xx whose body broke off, what arrived followed by `(response body unreadable: ...)`:
    /// the provider took the request, and a broken body does not undo that.
    pub text: String,
}

impl Answer {
    /// A 2xx status.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The answer's `Retry-After`, when present and readable.
    pub fn retry_after(&self) -> Option<Duration> {
        retry_after(&self.headers)
    }

    /// A header's value as text, when present and readable.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }
}

/// Sends `request` through [`client`]'s pool with `timeout` and reads the answer. A failure
/// before an answer (no connection, a timeout, a reset), or a body that breaks off after a
/// non-2xx status, is [`SinkError::Unreachable`] naming `provider` and the cause, never the
/// URL. Build `request` from [`client()`].
pub async fn send(
    provider: &str,
    request: reqwest::RequestBuilder,
    timeout: Duration,
) -> Result<Answer, SinkError> {
    let mut response = request
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| network_error(provider, e, timeout))?;
    let status = response.status().as_u16();
    let headers = std::mem::take(response.headers_mut());
    let mut body = Vec::new();
    let mut broken = None;
    while body.len() < MAX_ANSWER_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(e) => {
                broken = Some(e);
                break;
            }
        }
    }
    body.truncate(MAX_ANSWER_BYTES);
    let mut text = String::from_utf8_lossy(&body).into_owned();
    if let Some(e) = broken {
        if !(200..300).contains(&status) {
            return Err(network_error(provider, e, timeout));
        }
        text.push_str(&format!(
            "(response body unreadable: {})",
            herald_core::network::innermost(&e.without_url())
        ));
    }
    Ok(Answer {
        status,
        headers,
        text,
    })
}

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
