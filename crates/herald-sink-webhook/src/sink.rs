//! `WebhookSink`: one POST per attempt on a client shared by every webhook sink, then the
//! response status sorted into a receipt or a [`SinkError`].

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use herald_core::sink::SinkContext;
use herald_core::template::Templates;
use herald_core::{Notification, Receipt, Secret, Sink, SinkError, SinkFactory};
use reqwest::header::{self, HeaderMap, HeaderValue};

use crate::config::{WebhookConfig, check_headers, check_timeout, check_url};
use crate::render::{compile_body, default_body, templated_body};
use crate::signature::sign;

/// `User-Agent` of every webhook request.
pub use herald_http::USER_AGENT;

/// How much of a response body goes into a receipt or an error.
const DETAIL_CHARS: usize = 200;

/// Builds `type: webhook` sinks.
#[derive(Debug, Clone, Copy, Default)]
pub struct WebhookFactory;

impl SinkFactory for WebhookFactory {
    fn kind(&self) -> &'static str {
        "webhook"
    }

    fn build(&self, ctx: SinkContext<'_>) -> Option<Arc<dyn Sink>> {
        let config = ctx.diag.typed::<WebhookConfig>(ctx.node)?;
        let url = check_url(&config, ctx.node, ctx.diag);
        let custom = check_headers(&config, ctx.node, ctx.diag);
        let timeout = check_timeout(&config, ctx.node, ctx.diag);
        let body = match &config.body {
            Some(source) => {
                let at = ctx.node.get("body").unwrap_or(ctx.node);
                Some(compile_body(source, at, ctx.diag))
            }
            None => None,
        };
        let (url, mut headers, timeout) = (url?, custom?, timeout?);
        let body = match body {
            Some(compiled) => Some(compiled?),
            None => None,
        };
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
        Some(Arc::new(WebhookSink {
            name: ctx.name.to_owned(),
            url,
            headers,
            secret: config.secret.filter(|s| !s.is_empty()),
            timeout,
            body,
        }))
    }
}

/// Posts each notification as JSON to one URL.
pub struct WebhookSink {
    name: String,
    url: reqwest::Url,
    /// Custom headers plus `Content-Type` and `User-Agent`, built once at load.
    headers: HeaderMap,
    secret: Option<Secret>,
    timeout: Duration,
    body: Option<Templates>,
}

impl std::fmt::Debug for WebhookSink {
    // The URL's path and query may hold a token, header values often do: show the host only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSink")
            .field("name", &self.name)
            .field("host", &self.url.host_str().unwrap_or_default())
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("signed", &self.secret.is_some())
            .field("timeout", &self.timeout)
            .field("templated", &self.body.is_some())
            .finish()
    }
}

impl WebhookSink {
    /// The body this sink sends for a notification.
    pub fn body(&self, n: &Notification) -> Result<Vec<u8>, String> {
        match &self.body {
            Some(templates) => templated_body(templates, n),
            None => Ok(default_body(n)),
        }
    }

    fn host(&self) -> &str {
        self.url.host_str().unwrap_or("?")
    }
}

#[async_trait]
impl Sink for WebhookSink {
    fn kind(&self) -> &'static str {
        "webhook"
    }

    /// A webhook feeds a program (an incident tool, a ticket queue, a chat bridge of its own),
    /// which wants every alert and groups them itself: no flood guard unless the config sets
    /// `flood_guard:`.
    fn flood_guard_default(&self) -> Option<herald_core::flood::Guard> {
        None
    }

    async fn deliver(&self, n: &Notification) -> Result<Receipt, SinkError> {
        let body = self.body(n).map_err(SinkError::refused)?;
        let key = HeaderValue::from_str(&n.idempotency_key).map_err(|_| {
            SinkError::refused(format!(
                "idempotency key \"{}\" cannot be sent as a header",
                n.idempotency_key
            ))
        })?;
        let mut request = herald_http::client()?
            .post(self.url.clone())
            .headers(self.headers.clone())
            .header("idempotency-key", key);
        if let Some(secret) = &self.secret {
            let now = jiff::Timestamp::now().as_second();
            let signature = sign(secret.expose().as_bytes(), now, &body);
            // Hex, digits and `t=,` only: always a valid header value.
            if let Ok(value) = HeaderValue::from_str(&signature) {
                request = request.header("x-herald-signature", value);
            }
        }
        // The host only: the URL's path or query may carry a token.
        let provider = format!("webhook at {}", self.host());
        let answer = herald_http::send(&provider, request.body(body), self.timeout).await?;
        let status = answer.status;
        let text = excerpt(answer.text.as_bytes());
        if answer.is_success() {
            return Ok(Receipt {
                status: Some(status),
                detail: (!text.is_empty()).then_some(text),
                ..Receipt::default()
            });
        }
        let detail = if text.is_empty() {
            format!("webhook at {} answered {status}", self.host())
        } else {
            text
        };
        Err(SinkError::from_status(status, answer.retry_after(), detail))
    }

    fn preview(&self, n: &Notification) -> Result<String, String> {
        let body = self.body(n)?;
        String::from_utf8(body).map_err(|e| format!("the body is not UTF-8: {e}"))
    }
}

/// The first 200 characters of a response body, trimmed.
pub fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(DETAIL_CHARS * 4)]);
    text.trim().chars().take(DETAIL_CHARS).collect()
}

#[cfg(test)]
mod tests;
