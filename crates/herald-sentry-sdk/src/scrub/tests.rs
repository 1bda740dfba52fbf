//! Tests for scrubbing: the keys Sentry filters by default (in objects, pair lists and query
//! strings), card numbers by Luhn, bearer tokens and private keys in text, what is left
//! alone, and the event sentry-python sent with its own scrubber switched off.

use serde_json::json;

use super::*;

fn scrubbed(mut event: Value) -> Value {
    scrub_event(event.as_object_mut().unwrap());
    event
}

#[test]
fn values_under_sensitive_keys_are_filtered_whatever_their_type() {
    let event = json!({
        "extra": {
            "password": "hunter2", "DB_PASSWD": "x", "client_secret": "x", "api_key": "x",
            "X-Api-Key": "x", "apiKey": "x", "Authorization": "Basic x", "credentials": {"user": "a"},
            "mysql_pwd": "x", "private_key": "x", "privateKey": "x", "access_token": ["a", "b"],
            "bearer": "x", "cookie": "a=b", "session": "s", "sessionid": "s", "otp": 123456,
            "two-factor": "1", "empty_token": "", "null_secret": null,
            "username": "ann", "order_id": 7, "sessions_today": 3
        }
    });
    expect_test::expect![[r#"
        {
          "extra": {
            "password": "[Filtered]",
            "DB_PASSWD": "[Filtered]",
            "client_secret": "[Filtered]",
            "api_key": "[Filtered]",
            "X-Api-Key": "[Filtered]",
            "apiKey": "[Filtered]",
            "Authorization": "[Filtered]",
            "credentials": "[Filtered]",
            "mysql_pwd": "[Filtered]",
            "private_key": "[Filtered]",
            "privateKey": "[Filtered]",
            "access_token": "[Filtered]",
            "bearer": "[Filtered]",
            "cookie": "[Filtered]",
            "session": "[Filtered]",
            "sessionid": "[Filtered]",
            "otp": "[Filtered]",
            "two-factor": "[Filtered]",
            "empty_token": "",
            "null_secret": null,
            "username": "ann",
            "order_id": 7,
            "sessions_today": 3
          }
        }"#]]
    .assert_eq(&serde_json::to_string_pretty(&scrubbed(event)).unwrap());
}

#[test]
fn pair_lists_and_query_strings_are_filtered_by_key() {
    let event = json!({
        "request": {
            "headers": [["Authorization", "Bearer abc"], ["Accept", "text/html"]],
            "cookies": [["csrftoken", "x"]],
            "query_string": "page=2&token=abc&q=hello+world",
        }
    });
    let out = scrubbed(event);
    assert_eq!(
        out["request"]["headers"],
        json!([["Authorization", "[Filtered]"], ["Accept", "text/html"]])
    );
    assert_eq!(out["request"]["cookies"], json!("[Filtered]"));
    assert_eq!(
        out["request"]["query_string"],
        json!("page=2&token=%5BFiltered%5D&q=hello+world")
    );
    let clean = json!({"request": {"query_string": "page=2&q=a%20b"}});
    assert_eq!(
        scrubbed(clean.clone()),
        clean,
        "a query without secrets is left as sent"
    );
}

#[test]
fn card_numbers_are_filtered_only_when_luhn_says_so() {
    let cases = [
        (
            "card 4111 1111 1111 1111 declined",
            "card [Filtered] declined",
        ),
        ("4111-1111-1111-1111", "[Filtered]"),
        ("amex 378282246310005.", "amex [Filtered]."),
        ("mc 5555555555554444 ok", "mc [Filtered] ok"),
        // Right shape, wrong check digit: an order number, kept.
        ("order 4111111111111112", "order 4111111111111112"),
        // A millisecond timestamp and a trace id are not cards.
        (
            "at 1733058000000 trace 4bf92f3577b34da6a3ce929d0e0e4736",
            "at 1733058000000 trace 4bf92f3577b34da6a3ce929d0e0e4736",
        ),
        (
            "Authorization: Bearer eyJhbGciOi.x.y rest",
            "Authorization: [Filtered] rest",
        ),
        (
            "key -----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY----- end",
            "key [Filtered] end",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(
            scrub_text(text).as_deref().unwrap_or(text),
            expected,
            "{text}"
        );
    }
    assert_eq!(
        scrubbed(json!({"extra": {"n": 4111111111111111u64}})),
        json!({"extra": {"n": "[Filtered]"}})
    );
    assert!(luhn("79927398713") && !luhn("79927398710") && !luhn(""));
}

#[test]
fn sdk_and_debug_meta_are_left_alone() {
    let event = json!({"sdk": {"integrations": ["auth"], "token": "kept"}, "debug_meta": {"images": [{"secret": "x"}]}});
    assert_eq!(scrubbed(event.clone()), event);
}

#[test]
fn the_event_sentry_python_sent_unscrubbed_is_scrubbed() {
    let body = include_bytes!("../../tests/fixtures/python/unscrubbed.envelope");
    let mut event = crate::parse_envelope(body, crate::MAX_EVENT_BYTES)
        .unwrap()
        .event
        .unwrap();
    let before = serde_json::to_string(&event).unwrap();
    assert!(before.contains("tok_live_abc") && before.contains("4111 1111 1111 1111"));
    scrub_event(&mut event);
    let after = serde_json::to_string(&event).unwrap();
    // The token stays in the frame's source lines, which are code, as in Sentry.
    assert!(
        !after.contains("4111 1111 1111 1111"),
        "the card number stays"
    );
    let frames = &event["exception"]["values"][0]["stacktrace"]["frames"];
    let charge = frames
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["function"] == "charge")
        .unwrap();
    assert_eq!(charge["vars"]["api_token"], "[Filtered]");
    assert_eq!(charge["vars"]["card"], "'[Filtered]'");
    assert_eq!(
        event["exception"]["values"][0]["value"],
        "card [Filtered] was declined"
    );
    assert_eq!(charge["module"], "__main__", "frames keep their names");
}
