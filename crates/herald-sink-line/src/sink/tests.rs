//! Delivery tests against local stand-ins for the Messaging API and a LINE Notify-compatible
//! service on 127.0.0.1: what the sinks send (method, path, headers, body, the retry key on
//! every attempt) and how they read each of LINE's real answers.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::Method;
use expect_test::expect;
use herald_core::{Alert, Level, Notification, Sink, SinkError};
use herald_http::testing::StandIn;

use super::retry_key;
use crate::tests::build;

/// One scripted answer: status, extra headers, body.
type Answer = (u16, Vec<(&'static str, &'static str)>, &'static str);

/// The shared stand-in for LINE, giving `answers` in order, each with a request id as LINE
/// sends one.
async fn stand_in(answers: Vec<Answer>) -> StandIn {
    StandIn::start_with(
        answers,
        vec![("x-line-request-id", "5ac0b2d8-0a4b-4c6e-9e1c-8d2f3a7b6c10")],
    )
    .await
}

fn notification(attempt: u32) -> Notification {
    let alert = Alert {
        source: "sentry".into(),
        resource: "event_alert".into(),
        action: "triggered".into(),
        project: Some("backend".into()),
        level: Some(Level::Error),
        title: "TypeError: x is undefined".into(),
        url: Some("https://sentry.example/issues/7/".into()),
        ..Alert::default()
    };
    let mut n = Notification::single(Arc::new(alert), "prod", "s", "delivery-42");
    n.attempt = attempt;
    n
}

fn push_sink(addr: SocketAddr) -> Arc<dyn Sink> {
    push_sink_with(addr, "    fallback: Cfedcba9876543210fedcba9876543210\n")
}

/// A push sink whose `to` comes from the `group` tag, allowed to reach one group and any room.
fn push_sink_with(addr: SocketAddr, extra: &str) -> Arc<dyn Sink> {
    let yaml = format!(
        "sinks:\n  s:\n    type: line\n    channel_access_token: ${{LINE_TOKEN}}\n    to: \"{{{{ tags.group | default('C0123456789abcdef0123456789abcdef') }}}}\"\n    allowed: [C0123456789abcdef0123456789abcdef, \"~R[0-9a-f]{{32}}\"]\n    api_base: http://{addr}\n{extra}"
    );
    let (sink, errors) = build(&yaml);
    sink.unwrap_or_else(|| panic!("{errors:?}"))
}

fn from_group(group: &str) -> Notification {
    let mut n = notification(1);
    let mut alert = (*n.alerts[0]).clone();
    alert.tags = herald_core::Tags(vec![("group".into(), group.into())]);
    n.alerts[0] = Arc::new(alert);
    n
}

#[tokio::test]
async fn a_hostile_group_tag_lands_in_the_fallback_and_allowed_ones_where_they_say() {
    let server = stand_in(vec![(200, vec![], SENT); 4]).await;
    let sink = push_sink_with(
        server.addr,
        "    fallback: Cfedcba9876543210fedcba9876543210\n",
    );
    let mut receipts = Vec::new();
    for group in [
        "C0123456789abcdef0123456789abcdef",
        "R00112233445566778899aabbccddeeff",
        "U0000000000000000000000000000beef",
        "R00112233445566778899aabbccddeeff0",
    ] {
        receipts.push(sink.deliver(&from_group(group)).await.unwrap());
    }
    let to: Vec<String> = server
        .seen()
        .iter()
        .map(|s| serde_json::from_str::<serde_json::Value>(&s.body).unwrap()["to"].to_string())
        .collect();
    expect![[r#"
        "C0123456789abcdef0123456789abcdef"
        "R00112233445566778899aabbccddeeff"
        "Cfedcba9876543210fedcba9876543210"
        "Cfedcba9876543210fedcba9876543210""#]]
    .assert_eq(&to.join("\n"));
    let destinations: Vec<_> = receipts
        .iter()
        .map(|r| r.destination.clone().unwrap())
        .collect();
    assert_eq!(
        destinations,
        to.iter().map(|t| t.trim_matches('"')).collect::<Vec<_>>()
    );
    expect![[r#"ok (request id 5ac0b2d8-0a4b-4c6e-9e1c-8d2f3a7b6c10); alert data chose the recipient "U0000000000000000000000000000beef", which is not allowed, so it went to the fallback"#]].assert_eq(receipts[2].detail.as_deref().unwrap());
}

#[tokio::test]
async fn without_a_fallback_a_recipient_not_allowed_is_refused_with_the_reason() {
    let server = stand_in(vec![]).await;
    let sink = push_sink_with(server.addr, "");
    let result = sink
        .deliver(&from_group("U0000000000000000000000000000beef"))
        .await;
    expect![[r#"rejected -: alert data chose the recipient "U0000000000000000000000000000beef", which is not in "allowed" and the sink has no "fallback"; add it to "allowed" if it is a real destination, or set "fallback""#]].assert_eq(&verdict(result));
    assert!(server.seen().is_empty(), "nothing was pushed");
}

fn notify_sink(addr: SocketAddr) -> Arc<dyn Sink> {
    let yaml = format!(
        "sinks:\n  s:\n    type: line_notify\n    token: ${{LINE_TOKEN}}\n    api_base: http://{addr}/\n"
    );
    let (sink, errors) = build(&yaml);
    sink.unwrap_or_else(|| panic!("{errors:?}"))
}

/// A status as the verdicts show it: the number, or `-` when no provider answered.
fn shown(status: Option<u16>) -> String {
    status.map_or("-".into(), |s| s.to_string())
}

fn verdict(result: Result<herald_core::Receipt, SinkError>) -> String {
    match result {
        Ok(r) => format!(
            "receipt {:?} id={:?} detail={:?}",
            r.status, r.message_id, r.detail
        ),
        Err(SinkError::Unavailable {
            status,
            retry_after,
            detail,
        }) => format!(
            "unavailable {} retry_after={retry_after:?}: {detail}",
            shown(status)
        ),
        Err(SinkError::Rejected { status, detail }) => {
            format!("rejected {}: {detail}", shown(status))
        }
        Err(SinkError::Unreachable { detail, .. }) => format!("unreachable: {detail}"),
    }
}

const SENT: &str =
    r#"{"sentMessages":[{"id":"461230966842064897","quoteToken":"IStG5h1Tz7b..."}]}"#;
const BAD_REQUEST: &str = r#"{"message":"The request body has 1 error(s)","details":[{"message":"May not be empty","property":"messages[0].text"}]}"#;

#[tokio::test]
async fn push_sends_text_with_token_and_a_stable_retry_key() {
    let server = stand_in(vec![
        (
            500,
            vec![],
            r#"{"message":"An error occurred in the server"}"#,
        ),
        (200, vec![], SENT),
    ])
    .await;
    let sink = push_sink(server.addr);
    let first = verdict(sink.deliver(&notification(1)).await);
    let second = verdict(sink.deliver(&notification(2)).await);
    expect!["unavailable 500 retry_after=None: An error occurred in the server"].assert_eq(&first);
    expect![[r#"receipt Some(200) id=Some("461230966842064897") detail=Some("ok (request id 5ac0b2d8-0a4b-4c6e-9e1c-8d2f3a7b6c10)")"#]]
        .assert_eq(&second);
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    for s in &seen {
        assert_eq!(s.method, Method::POST);
        assert_eq!(s.path, "/v2/bot/message/push");
        assert_eq!(s.headers["authorization"], "Bearer line-sekrit-token");
        assert_eq!(s.headers["content-type"], "application/json");
    }
    let key = seen[0].headers["x-line-retry-key"].to_str().unwrap();
    assert_eq!(key, seen[1].headers["x-line-retry-key"].to_str().unwrap());
    assert_eq!(key, retry_key("delivery-42").to_string());
    let body: serde_json::Value = serde_json::from_str(&seen[0].body).unwrap();
    expect![[r#"
        {
          "to": "C0123456789abcdef0123456789abcdef",
          "messages": [
            {
              "type": "text",
              "text": "[ERROR] TypeError: x is undefined\nProject: backend\nhttps://sentry.example/issues/7/"
            }
          ]
        }"#]]
    .assert_eq(&serde_json::to_string_pretty(&body).unwrap());
    // What was sent is what `preview` shows.
    let preview: serde_json::Value =
        serde_json::from_str(&sink.preview(&notification(1)).unwrap()).unwrap();
    assert_eq!(preview, body);
}

#[tokio::test]
async fn push_answers_are_classified() {
    let server = stand_in(vec![
        (
            409,
            vec![(
                "x-line-accepted-request-id",
                "0e4e7a5b-1c7d-4f1e-9a3b-6c2d8e5f4a10",
            )],
            r#"{"message":"The retry key is already accepted"}"#,
        ),
        (
            409,
            vec![],
            r#"{"message":"The retry key is already accepted"}"#,
        ),
        (
            429,
            vec![("retry-after", "30")],
            r#"{"message":"The API rate limit has been exceeded. Try again later."}"#,
        ),
        (400, vec![], BAD_REQUEST),
        (401, vec![], r#"{"message":"Authentication failed due to the following reason: invalid token. Confirm that the access token in the authorization header is valid."}"#),
        (403, vec![], r#"{"message":"Access to this API is not available for your account"}"#),
        (500, vec![], ""),
    ])
    .await;
    let sink = push_sink(server.addr);
    let mut out = Vec::new();
    for attempt in [2, 1, 2, 1, 1, 1, 3] {
        out.push(verdict(sink.deliver(&notification(attempt)).await));
    }
    expect![[r#"
        receipt Some(409) id=None detail=Some("delivered by an earlier attempt (request id 0e4e7a5b-1c7d-4f1e-9a3b-6c2d8e5f4a10)")
        rejected 409: retry key already used on a first attempt: The retry key is already accepted
        unavailable 429 retry_after=Some(30s): The API rate limit has been exceeded. Try again later; LINE's rate limit or this month's message quota was reached; herald retries later
        rejected 400: The request body has 1 error(s) (messages[0].text: May not be empty); LINE refused the request as written: check to (an id the bot can reach) and the sink's template
        rejected 401: Authentication failed due to the following reason: invalid token. Confirm that the access token in the authorization header is valid; the token is invalid, expired or revoked: issue a new channel access token (LINE Notify: a new token)
        rejected 403: Access to this API is not available for your account; this channel's plan or permissions do not allow this API
        unavailable 500 retry_after=None: empty answer with status 500"#]]
    .assert_eq(&out.join("\n"));
}

#[tokio::test]
async fn notify_posts_a_form_and_reads_its_answers() {
    let server = stand_in(vec![
        (200, vec![], r#"{"status":200,"message":"ok"}"#),
        (
            401,
            vec![],
            r#"{"status":401,"message":"Invalid access token"}"#,
        ),
        (
            400,
            vec![],
            r#"{"status":400,"message":"message: must not be empty"}"#,
        ),
        (
            429,
            vec![("retry-after", "60")],
            r#"{"status":429,"message":"Rate limit exceeded"}"#,
        ),
        (500, vec![], r#"{"status":500,"message":"Internal error"}"#),
    ])
    .await;
    let sink = notify_sink(server.addr);
    let mut out = Vec::new();
    for _ in 0..5 {
        out.push(verdict(sink.deliver(&notification(1)).await));
    }
    expect![[r#"
        receipt Some(200) id=None detail=Some("ok")
        rejected 401: Invalid access token; the token is invalid, expired or revoked: issue a new channel access token (LINE Notify: a new token)
        rejected 400: message: must not be empty; LINE refused the request as written: check to (an id the bot can reach) and the sink's template
        unavailable 429 retry_after=Some(60s): Rate limit exceeded; LINE's rate limit or this month's message quota was reached; herald retries later
        unavailable 500 retry_after=None: Internal error"#]]
    .assert_eq(&out.join("\n"));
    let seen = server.seen()[0].clone();
    assert_eq!(seen.method, Method::POST);
    assert_eq!(seen.path, "/api/notify");
    assert_eq!(seen.headers["authorization"], "Bearer line-sekrit-token");
    assert_eq!(
        seen.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert!(seen.headers.get("x-line-retry-key").is_none());
    expect!["message=%5BERROR%5D+TypeError%3A+x+is+undefined%0AProject%3A+backend%0Ahttps%3A%2F%2Fsentry.example%2Fissues%2F7%2F"]
        .assert_eq(&seen.body);
}

#[tokio::test]
async fn closed_port_is_unreachable_and_the_error_hides_the_token() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    for sink in [push_sink(addr), notify_sink(addr)] {
        let err = sink.deliver(&notification(1)).await.unwrap_err();
        assert!(matches!(err, SinkError::Unreachable { .. }), "{err:?}");
        let mut shown = format!("{err} {err:?}");
        let mut source = std::error::Error::source(&err);
        while let Some(s) = source {
            shown.push_str(&format!(" {s} {s:?}"));
            source = s.source();
        }
        assert!(!shown.contains("sekrit"), "{shown}");
        assert!(shown.contains("cannot connect to line"), "{shown}");
    }
}

#[test]
fn retry_key_is_the_uuid_itself_or_derived_stably() {
    let uuid = "3f2b8a10-4c1d-4e7a-9b2c-6d5e4f3a2b1c";
    assert_eq!(retry_key(uuid).to_string(), uuid);
    assert_eq!(retry_key("delivery-42"), retry_key("delivery-42"));
    assert_ne!(retry_key("delivery-42"), retry_key("delivery-43"));
    assert_eq!(retry_key("delivery-42").get_version_num(), 5);
}

#[test]
fn notify_rate_limit_reset_becomes_a_wait() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "x-ratelimit-reset",
        (now + 600).to_string().parse().unwrap(),
    );
    let err = super::classify_notify(429, &headers, "").unwrap_err();
    let wait = err.retry_after().unwrap().as_secs();
    assert!((590..=600).contains(&wait), "{wait}");
}
