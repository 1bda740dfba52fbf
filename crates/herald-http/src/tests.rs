//! Unit tests for the shared HTTP plumbing: Retry-After forms, and network errors that name
//! the provider but never the URL.

use super::*;

#[test]
fn retry_after_takes_seconds() {
    assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
    assert_eq!(parse_retry_after(" 120 "), Some(Duration::from_secs(120)));
}

#[test]
fn retry_after_takes_an_http_date() {
    let later = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(90);
    let text = jiff::fmt::rfc2822::DateTimePrinter::new()
        .timestamp_to_rfc9110_string(&later)
        .unwrap();
    assert!(text.ends_with("GMT"), "{text}");
    let wait = parse_retry_after(&text).unwrap();
    assert!(
        wait > Duration::from_secs(80) && wait <= Duration::from_secs(90),
        "{wait:?}"
    );
    assert_eq!(
        parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
        Some(Duration::ZERO)
    );
}

#[test]
fn retry_after_ignores_nonsense() {
    assert_eq!(parse_retry_after("soon"), None);
    assert_eq!(parse_retry_after("-3"), None);
}

#[tokio::test]
async fn a_refused_connection_names_the_provider_not_the_url() {
    // Port 1 on loopback is closed on any sane machine: the connection is refused at once.
    let url = "http://127.0.0.1:1/services/T000/B000/SECRETPART";
    let e = client().unwrap().post(url).send().await.unwrap_err();
    let err = network_error("slack", e, Duration::from_secs(5));
    assert!(err.is_retryable());
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        text.push_str(&format!(" / {s}"));
        source = s.source();
    }
    assert!(text.starts_with("cannot connect to slack"), "{text}");
    assert!(!text.contains("SECRETPART"), "{text}");
}
