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
    assert_eq!(
        receipt.detail.as_deref(),
        Some(r#"logged at info: [error] payments-api: "x""#)
    );
}

#[test]
fn a_long_title_is_cut_with_its_original_length() {
    let title = format!("{}tail", "x".repeat(5000));
    let text = line(&notification(&title));
    assert!(text.len() < 400, "{} bytes", text.len());
    assert_eq!(
        text,
        format!(
            r#"[error] payments-api: "{}…" (5004 chars)"#,
            "x".repeat(MAX_TITLE_CHARS)
        )
    );
    // A title at the limit is shown whole.
    let title = "y".repeat(MAX_TITLE_CHARS);
    assert_eq!(
        line(&notification(&title)),
        format!(r#"[error] payments-api: "{title}""#)
    );
}

#[test]
fn every_alert_value_is_quoted_and_bounded() {
    let alert = Alert {
        title: "t".into(),
        project: Some(format!("evil\nINFO forged\u{202E} {}", "p".repeat(500))),
        url: Some(format!("https://s.example/{}\r\n", "u".repeat(1000))),
        ..Alert::default()
    };
    let text = line(&Notification::single(Arc::new(alert), "r", "console", "d1"));
    assert!(
        !text.contains('\n') && !text.contains('\r') && !text.contains('\u{202E}'),
        "{text}"
    );
    assert!(
        text.starts_with(r#"[-] evil\nINFO forged\u{202e} ppp"#),
        "{text}"
    );
    assert!(
        text.chars().count() < 1000,
        "{} chars",
        text.chars().count()
    );
}
