//! The `log` sink: writes each notification as one line to herald's log (through `tracing`),
//! so the example config runs with no external account and an operator can watch alerts flow.
//!
//! ```yaml
//! sinks:
//!   console: { type: log, level: info }   # level: info (default) or warn
//! ```
//!
//! It never fails, so a delivery to it is always `delivered`.

use std::sync::Arc;

use async_trait::async_trait;
use herald_core::sink::SinkContext;
use herald_core::{Notification, Receipt, Sink, SinkError, SinkFactory};
use serde::Deserialize;

/// Settings of a `log` sink.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// Always `log`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The log level of the lines: `info` (default) or `warn`.
    #[serde(default)]
    pub level: LogLevel,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    #[default]
    Info,
    Warn,
}

/// Registers `type: log`.
#[derive(Debug, Clone, Copy)]
pub struct LogSinkFactory;

impl SinkFactory for LogSinkFactory {
    fn kind(&self) -> &'static str {
        "log"
    }

    fn build(&self, ctx: SinkContext<'_>) -> Option<Arc<dyn Sink>> {
        let config = ctx.diag.typed::<LogConfig>(ctx.node)?;
        Some(Arc::new(LogSink {
            level: config.level,
        }))
    }
}

/// Writes notifications to the log.
#[derive(Debug)]
pub struct LogSink {
    level: LogLevel,
}

impl LogSink {
    pub fn new(level: LogLevel) -> Self {
        LogSink { level }
    }
}

/// One line per notification; alert text is quoted by `tracing`'s `?` formatting, so control
/// characters in an alert cannot forge log lines.
fn line(n: &Notification) -> String {
    let a = n.first();
    let mut text = format!(
        "[{}] {}: {:?}",
        a.level.map_or("-", |l| l.as_str()),
        a.project.as_deref().unwrap_or("-"),
        a.title
    );
    if n.alerts.len() > 1 || n.folded > 0 {
        text.push_str(&format!(
            " (+{} more)",
            n.alerts.len() as u64 - 1 + n.folded
        ));
    }
    if let Some(url) = &a.url {
        text.push_str(&format!(" {url:?}"));
    }
    text
}

#[async_trait]
impl Sink for LogSink {
    fn kind(&self) -> &'static str {
        "log"
    }

    async fn deliver(&self, n: &Notification) -> Result<Receipt, SinkError> {
        let text = line(n);
        match self.level {
            LogLevel::Info => tracing::info!(
                sink = %n.sink, route = %n.route, delivery_id = %n.idempotency_key,
                attempt = n.attempt, "notification: {text}"
            ),
            LogLevel::Warn => tracing::warn!(
                sink = %n.sink, route = %n.route, delivery_id = %n.idempotency_key,
                attempt = n.attempt, "notification: {text}"
            ),
        }
        Ok(Receipt {
            detail: Some("written to herald's log".into()),
            ..Receipt::default()
        })
    }

    fn preview(&self, n: &Notification) -> Result<String, String> {
        Ok(line(n))
    }
}

#[cfg(test)]
mod tests;
