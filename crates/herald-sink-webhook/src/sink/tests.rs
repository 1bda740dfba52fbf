//! Tests for the response helpers: `Retry-After` in both forms and the receipt excerpt.

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

#[test]
fn excerpt_keeps_the_first_200_characters() {
    let long = "é".repeat(300);
    assert_eq!(excerpt(long.as_bytes()).chars().count(), 200);
    assert_eq!(excerpt(b"  ok \n"), "ok");
}
