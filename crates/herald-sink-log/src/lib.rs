//! The `log` sink: writes each notification as one line to herald's log (through `tracing`),
//! so the example config runs with no external account and an operator can watch alerts flow.
//!
//! ```yaml
//! sinks:
//!   console: { type: log, level: info }   # level: info (default) or warn
//! ```
//!
//! It never fails, so a delivery to it is always `delivered`; its receipt's `detail` is the
//! line it wrote (`logged at info: ...`), which `herald send-test` prints. A line stays short (the title is
//! cut at 300 characters, with its length given) and alert text is escaped, so an alert cannot
//! forge log lines.

use std::sync::Arc;

use async_trait::async_trait;
use herald_core::sink::SinkContext;
use herald_core::{Notification, Receipt, Sink, SinkError, SinkFactory};
use serde::Deserialize;

/// Settings of a `log` sink.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
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

/// Longest title a line shows; a longer one is cut with `…` and its length in characters.
pub const MAX_TITLE_CHARS: usize = 300;
/// Longest project and URL a line shows, cut the same way.
const MAX_PROJECT_CHARS: usize = 100;
const MAX_URL_CHARS: usize = 300;

/// One line per notification, a few hundred characters at most. Alert text is escaped the
/// way Rust's `Debug` does (`\n`, `\u{202e}`), so control, bidirectional and invisible
/// characters in an alert cannot forge log lines or make one read differently.
fn line(n: &Notification) -> String {
    let a = n.first();
    let project = match a.project.as_deref() {
        Some(p) => escaped(&cut(p, MAX_PROJECT_CHARS)),
        None => "-".to_owned(),
    };
    let mut text = format!(
        "[{}] {project}: {}",
        a.level.map_or("-", |l| l.as_str()),
        quoted(&a.title, MAX_TITLE_CHARS)
    );
    if n.alerts.len() > 1 || n.folded > 0 {
        text.push_str(&format!(
            " (+{} more)",
            n.alerts.len() as u64 - 1 + n.folded
        ));
    }
    if let Some(url) = &a.url {
        text.push(' ');
        text.push_str(&quoted(url, MAX_URL_CHARS));
    }
    text
}

/// At most `max` characters; a longer text is cut and ends in `…`.
fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s.to_owned(),
    }
}

/// Escaped like `Debug`, without the quotes: a name that reads as it is in the usual case.
fn escaped(s: &str) -> String {
    s.escape_debug().to_string()
}

/// Quoted and escaped like `Debug`; a text longer than `max` is cut, and its length given.
fn quoted(s: &str, max: usize) -> String {
    if s.chars().nth(max).is_none() {
        format!("{s:?}")
    } else {
        format!("{:?} ({} chars)", cut(s, max), s.chars().count())
    }
}

#[async_trait]
impl Sink for LogSink {
    fn kind(&self) -> &'static str {
        "log"
    }

    /// A log line is read by log tooling, not paged to a person, and every alert's line is
    /// what an operator greps for: no flood guard unless the config sets `flood_guard:`.
    fn flood_guard_default(&self) -> Option<herald_core::flood::Guard> {
        None
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
        // The receipt carries the line itself: `send-test` prints it (a one-shot command logs
        // only warnings, so the line would otherwise go unseen), and the admin API shows what
        // was written.
        let level = match self.level {
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
        };
        Ok(Receipt {
            detail: Some(format!("logged at {level}: {text}")),
            ..Receipt::default()
        })
    }

    fn preview(&self, n: &Notification) -> Result<String, String> {
        Ok(line(n))
    }
}

#[cfg(test)]
mod tests;
