//! Unit tests for the shared HTTP plumbing: Retry-After forms, and network errors that name
//! the provider but never the URL.

use super::*;

#[test]
fn retry_after_reads_seconds_and_dates() {
    assert_eq!(parse_retry_after(" 30 "), Some(Duration::from_secs(30)));
    assert_eq!(
        parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
        Some(Duration::ZERO),
        "a date in the past means now"
    );
    let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(120);
    let text = jiff::fmt::rfc2822::to_string(&soon.to_zoned(jiff::tz::TimeZone::UTC)).unwrap();
    let wait = parse_retry_after(&text).unwrap();
    assert!(
        wait > Duration::from_secs(100) && wait <= Duration::from_secs(120),
        "{wait:?}"
    );
    assert_eq!(parse_retry_after("soon"), None);
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
