//! [`ChatSink`]: one POST per attempt through `herald-http`, then [`classify`] sorts the
//! answer. [`ChatFactory`] checks the settings when the config loads.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use herald_core::sink::SinkContext;
use herald_core::{Notification, Receipt, Secret, Sink, SinkError, SinkFactory};
use herald_http::Answer;

use crate::config::ChatConfig;
use crate::render::render;

/// Builds `type: example_chat` sinks.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChatFactory;

impl SinkFactory for ChatFactory {
    fn kind(&self) -> &'static str {
        "example_chat"
    }

    fn build(&self, ctx: SinkContext<'_>) -> Option<Arc<dyn Sink>> {
        let config = ctx.diag.typed::<ChatConfig>(ctx.node)?;
        let url = config.url.expose().trim();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            let at = ctx.node.get("url").unwrap_or(ctx.node);
            // The value is a credential: the message says what is wrong, not what it is.
            ctx.diag.error(
                at,
                "example_chat url is not an http(s) URL",
                Some("copy the incoming-webhook URL the chat service gave you".into()),
            );
            return None;
        }
        Some(Arc::new(ChatSink {
            url: config.url,
            timeout: Duration::from_secs(config.timeout_seconds),
        }))
    }
}

/// Posts notifications to a chat service's incoming webhook. `Debug` shows no URL.
#[derive(Debug)]
pub struct ChatSink {
    url: Secret,
    timeout: Duration,
}

#[async_trait]
impl Sink for ChatSink {
    fn kind(&self) -> &'static str {
        "example_chat"
    }

    async fn deliver(&self, n: &Notification) -> Result<Receipt, SinkError> {
        let request = herald_http::client()?
            .post(self.url.expose().trim())
            .json(&render(n));
        let answer = herald_http::send("example_chat", request, self.timeout).await?;
        classify(&answer)
    }

    fn preview(&self, n: &Notification) -> Result<String, String> {
        serde_json::to_string_pretty(&render(n)).map_err(|e| e.to_string())
    }
}

/// The service's answer as a receipt, or as an error saying whether a retry makes sense.
pub fn classify(answer: &Answer) -> Result<Receipt, SinkError> {
    if answer.is_success() {
        return Ok(Receipt {
            status: Some(answer.status),
            detail: Some("ok".into()),
            ..Receipt::default()
        });
    }
    // The service explains a refusal as `{"error": "..."}`; anything else is shown cut short.
    let detail = serde_json::from_str::<serde_json::Value>(&answer.text)
        .ok()
        .and_then(|v| v.get("error")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| answer.text.trim().chars().take(200).collect());
    let detail = if detail.is_empty() {
        format!("empty answer with status {}", answer.status)
    } else {
        detail
    };
    Err(SinkError::from_status(
        answer.status,
        answer.retry_after(),
        detail,
    ))
}
