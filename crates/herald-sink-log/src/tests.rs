//! Unit tests for the log sink: the line it writes, quoting of hostile text, and that it
//! always reports delivery.

use std::sync::Arc;

use herald_core::{Alert, Level};

use super::*;

fn notification(title: &str) -> Notification {
    let alert = Alert {
        title: title.into(),
        level: Some(Level::Error),
        project: Some("payments-api".into()),
        ..Alert::default()
    };
    Notification::single(Arc::new(alert), "r", "console", "d1")
}

#[test]
fn line_quotes_alert_text_so_newlines_cannot_forge_log_lines() {
    let text = line(&notification("boom\nINFO fake line"));
    assert_eq!(text, r#"[error] payments-api: "boom\nINFO fake line""#);
}

#[tokio::test]
async fn delivery_always_succeeds() {
    let sink = LogSink::new(LogLevel::Info);
    let receipt = sink.deliver(&notification("x")).await.unwrap();
    assert_eq!(receipt.detail.as_deref(), Some("written to herald's log"));
}
