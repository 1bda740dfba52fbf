//! Tests for envelope parsing: every envelope the capture script recorded from sentry-python
//! (events, a binary attachment whose payload holds newlines, transactions, sessions, client
//! reports, check-ins), items without `length`, the limits, and each malformed shape.

use super::*;

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("../../tests/fixtures/python/", $name, ".envelope")).as_slice()
    };
}

/// An envelope as one line: the event's title-ish fields and the dropped items.
fn summary(body: &[u8]) -> String {
    match parse_envelope(body, MAX_EVENT_BYTES) {
        Ok(e) => {
            let event = e
                .event
                .as_ref()
                .map(|ev| {
                    let level = ev.get("level").and_then(Value::as_str).unwrap_or("-");
                    let same_id =
                        ev.get("event_id").and_then(Value::as_str) == e.event_id.as_deref();
                    format!("event {level} (same id as header: {same_id})")
                })
                .unwrap_or_else(|| "no event".into());
            let dropped: Vec<String> = e.dropped.iter().map(|(l, n)| format!("{l}={n}")).collect();
            format!("{event}; dropped [{}]", dropped.join(" "))
        }
        Err(err) => format!("{} {err}", err.status()),
    }
}

#[test]
fn envelopes_sentry_python_sent() {
    let cases = [
        (
            fixture!("key-error"),
            "event error (same id as header: true); dropped []",
        ),
        (
            fixture!("logging-warning"),
            "event warning (same id as header: true); dropped []",
        ),
        (
            fixture!("message"),
            "event info (same id as header: true); dropped []",
        ),
        (
            fixture!("attachment"),
            "event error (same id as header: true); dropped [attachment=1]",
        ),
        (
            fixture!("transaction"),
            "event error (same id as header: true); dropped []",
        ),
        (
            fixture!("transaction-2"),
            "no event; dropped [transaction=1]",
        ),
        (fixture!("flask-2"), "no event; dropped [sessions=1]"),
        (fixture!("flask-3"), "no event; dropped [client_report=1]"),
        (fixture!("check-in"), "no event; dropped [check_in=1]"),
    ];
    let got: Vec<String> = cases.iter().map(|(body, _)| summary(body)).collect();
    let expected: Vec<String> = cases.iter().map(|(_, e)| e.to_string()).collect();
    assert_eq!(got, expected);
}

#[test]
fn the_header_keeps_event_id_and_dsn() {
    let e = parse_envelope(
        b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\",\"dsn\":\"https://k@h/42\"}\n",
        MAX_EVENT_BYTES,
    )
    .unwrap();
    assert_eq!(
        e.event_id.as_deref(),
        Some("9ec79c33ec9942ab8353589fcb2e04dc")
    );
    assert_eq!(e.dsn.as_deref(), Some("https://k@h/42"));
    assert!(e.event.is_none() && e.dropped.is_empty());
}

#[test]
fn items_without_length_run_to_the_newline() {
    let body = b"{}\n{\"type\":\"session\"}\n{\"sid\":\"x\"}\n{\"type\":\"event\"}\n{\"message\":\"hi\"}\n\n";
    assert_eq!(
        summary(body),
        "event - (same id as header: true); dropped [session=1]"
    );
    // The last payload may end the body without a newline, and so may an empty one.
    assert_eq!(
        summary(b"{}\n{\"type\":\"event\"}\n{\"message\":\"hi\"}"),
        "event - (same id as header: true); dropped []"
    );
}

#[test]
fn unknown_item_types_share_one_label() {
    let body = b"{}\n{\"type\":\"brand_new\",\"length\":2}\n{}\n{\"type\":\"another\",\"length\":0}\n\n{\"type\":\"replay_video\",\"length\":1}\nx\n";
    assert_eq!(summary(body), "no event; dropped [other=2 replay_video=1]");
    assert_eq!(item_label("span"), "span");
    assert_eq!(item_label("Event"), "other");
}

#[test]
fn limits_on_the_event() {
    let event = format!("{{\"message\":\"{}\"}}", "x".repeat(100));
    let body = format!(
        "{{}}\n{{\"type\":\"event\",\"length\":{}}}\n{event}\n",
        event.len()
    );
    assert!(parse_envelope(body.as_bytes(), event.len()).is_ok());
    let err = parse_envelope(body.as_bytes(), event.len() - 1).unwrap_err();
    assert_eq!(
        err,
        EnvelopeError::EventTooLarge {
            size: event.len(),
            limit: event.len() - 1
        }
    );
    assert_eq!(err.status(), 413);
    // Other items are not held to the event's limit (the envelope's cap bounds them).
    let big = "y".repeat(200);
    let body = format!("{{}}\n{{\"type\":\"attachment\",\"length\":200}}\n{big}\n");
    assert!(parse_envelope(body.as_bytes(), 100).is_ok());
}

#[test]
fn malformed_envelopes_get_one_sentence() {
    let cases: &[(&[u8], &str)] = &[
        (
            b"",
            "400 the envelope header (first line) is not a JSON object: EOF while parsing a value at line 1 column 0",
        ),
        (
            b"[1]\n",
            "400 the envelope header (first line) is not a JSON object: invalid type: sequence, expected a map at line 1 column 0",
        ),
        (
            b"{}\nnot json\n",
            "400 the header of item 1 is not a JSON object with a \"type\": expected ident at line 1 column 2",
        ),
        (
            b"{}\n{\"length\":2}\n{}\n",
            "400 the header of item 1 is not a JSON object with a \"type\": \"type\" is missing or not text",
        ),
        (
            b"{}\n{\"type\":\"event\",\"length\":-1}\n",
            "400 the header of item 1 is not a JSON object with a \"type\": \"length\" is -1, expected a whole number",
        ),
        (
            b"{}\n{\"type\":\"event\",\"length\":50}\n{}\n",
            "400 item 1 (event) declares a length of 50 bytes, but only 3 follow",
        ),
        (
            b"{}\n{\"type\":\"event\"}\n[]\n",
            "400 the event is not a JSON object: invalid type: sequence, expected a map at line 1 column 0",
        ),
        (
            b"{}\n{\"type\":\"event\"}\n{}\n{\"type\":\"event\"}\n{}\n",
            "400 the envelope holds more than one event item (SDKs send one per envelope)",
        ),
    ];
    let got: Vec<String> = cases.iter().map(|(body, _)| summary(body)).collect();
    let expected: Vec<String> = cases.iter().map(|(_, e)| e.to_string()).collect();
    assert_eq!(got, expected);
}

#[test]
fn a_store_body_is_one_event() {
    let e = parse_store(
        b"{\"message\":\"old sdk\",\"level\":\"error\"}",
        MAX_EVENT_BYTES,
    )
    .unwrap();
    assert_eq!(e.event.unwrap()["message"], "old sdk");
    let err = parse_store(b"{\"message\":1}", 5).unwrap_err();
    assert_eq!(err.status(), 413);
    assert_eq!(
        parse_store(b"nope", MAX_EVENT_BYTES).unwrap_err().status(),
        400
    );
}
