//! Unit tests of the admin API's parsing: times and durations for `since`/`until`.

use jiff::Timestamp;

use super::parse_time;

fn now() -> Timestamp {
    "2025-06-01T12:00:00Z".parse().unwrap()
}

fn check(text: &str) -> Result<String, String> {
    parse_time("since", text, now()).map(|t| t.to_string())
}

#[test]
fn rfc3339_times_are_taken_as_written() {
    assert_eq!(
        check("2025-05-31T10:00:00Z").unwrap(),
        "2025-05-31T10:00:00Z"
    );
}

#[test]
fn durations_count_back_from_now() {
    assert_eq!(check("90m").unwrap(), "2025-06-01T10:30:00Z");
    assert_eq!(check("2h").unwrap(), "2025-06-01T10:00:00Z");
    assert_eq!(check("1d").unwrap(), "2025-05-31T12:00:00Z");
}

#[test]
fn anything_else_is_refused_with_the_value_quoted() {
    let e = check("yesterday").unwrap_err();
    assert!(e.contains("since \"yesterday\""), "{e}");
}
