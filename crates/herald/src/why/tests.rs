//! `herald why`'s text: escaping of alert text, and the screen for a stored alert and for a
//! refused webhook.

use serde_json::json;

use super::{shown, text};

#[test]
fn control_and_invisible_characters_are_shown_escaped() {
    assert_eq!(shown("a\nb\x1b[31m"), "a\\nb\\u{1b}[31m");
    assert_eq!(shown("txt\u{202E}exe"), "txt\\u{202e}exe");
    assert_eq!(shown("zero\u{200B}width"), "zero\\u{200b}width");
    assert_eq!(shown("plain é 👩"), "plain é 👩");
}

#[test]
fn a_stored_alert_prints_its_routing_and_what_happened() {
    let answer = json!({
        "query": "req-1",
        "found_by": "issue_id",
        "others": 2,
        "alert": {
            "id": "a-1", "source": "sentry", "request_id": "req-1",
            "received_at": "2025-06-01T00:00:00Z",
            "alert": {"resource": "event_alert", "action": "triggered", "project": "api",
                      "level": "error", "title": "boom\u{1b}[2J", "issue_id": "77"}
        },
        "routing": {"note": "today's routes", "explain": [
            {"route": "fatal", "depth": 0, "matched": false, "why": ["level is error, not fatal"]},
            {"route": "errors", "depth": 0, "matched": true, "used": true, "sinks": ["slack"]}
        ]},
        "deliveries": [{"id": "d-1", "sink": "slack", "route": "errors", "attempt_log": [
            {"number": 1, "started_at": "2025-06-01T00:00:00.100Z", "outcome": "retried",
             "status": null, "latency_ms": 3,
             "error": "connection refused by slack\u{1b}[2J; check that the provider is up"},
            {"number": 2, "started_at": "2025-06-01T00:00:00.900Z", "outcome": "retried",
             "status": 503, "latency_ms": 250, "error": "unavailable (503): try later"},
            {"number": 3, "started_at": "2025-06-01T00:00:01Z", "outcome": "delivered",
             "status": 200, "latency_ms": 80, "error": null}
        ]}],
        "held_back": [],
        "refusals": [],
        "refusals_kept": "in memory",
        "summary": ["slack (route errors): delivered at 2025-06-01T00:00:01Z after 3 attempts"]
    });
    let printed = text(&answer);
    expect_test::expect![[r#"
        alert a-1 (found by its Sentry issue id)
          2 other alert(s) share that id; this is the most recent (`herald alerts list` shows them)
          received 2025-06-01T00:00:00Z through source sentry, Request-ID req-1
          event_alert/triggered project=api level=error environment=- issue=77 event=-
          title: boom\u{1b}[2J
        routing (today's routes):
          - fatal: no match: level is error, not fatal
          + errors: matches, sends to slack
        what happened:
          slack (route errors): delivered at 2025-06-01T00:00:01Z after 3 attempts
        attempts to slack (route errors):
          #1 2025-06-01T00:00:00.100Z retried, no answer, 3 ms: connection refused by slack\u{1b}[2J; check that the provider is up
          #2 2025-06-01T00:00:00.900Z retried, status 503, 250 ms: unavailable (503): try later
          #3 2025-06-01T00:00:01Z delivered, status 200, 80 ms
        delivery ids: slack d-1
    "#]]
    .assert_eq(&printed);
}

#[test]
fn a_refused_webhook_prints_the_reason_and_where_refusals_are_kept() {
    let answer = json!({
        "query": "req-x",
        "found_by": "refusal",
        "refusals": [{"code": "unauthorized"}],
        "refusals_kept": "kept in memory only",
        "summary": ["refused at T with 401 (source sentry, platform endpoint): unauthorized: bad signature"]
    });
    expect_test::expect![[r#"
        herald stored no alert for "req-x"; it turned away a webhook with that Request-ID:
          refused at T with 401 (source sentry, platform endpoint): unauthorized: bad signature
        note: kept in memory only
    "#]]
    .assert_eq(&text(&answer));
}
