//! Delivery tests against a local stand-in for Slack on 127.0.0.1: what the sink sends
//! (method, path, headers, body) and how it reads each of Slack's real answers, plus the pure
//! classification of every documented error code.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::Method;
use expect_test::{Expect, expect};
use herald_core::{Alert, Level, Notification, Sink, SinkError, Tags};
use herald_http::testing::StandIn;

use super::{Api, classify};
use crate::tests::build;

/// One scripted answer: status, extra headers, body.
type Answer = (u16, Vec<(&'static str, &'static str)>, &'static str);

/// The shared stand-in for Slack, giving `answers` in order.
async fn stand_in(answers: Vec<Answer>) -> StandIn {
    StandIn::start(answers).await
}

fn notification() -> Notification {
    let alert = Alert {
        source: "sentry".into(),
        resource: "event_alert".into(),
        action: "triggered".into(),
        project: Some("backend".into()),
        level: Some(Level::Error),
        title: "<!channel> <script>alert(1)</script> @everyone".into(),
        url: Some("https://sentry.example/issues/7/".into()),
        tags: Tags(vec![("team".into(), "payments".into())]),
        ..Alert::default()
    };
    Notification::single(Arc::new(alert), "prod", "s", "delivery-1")
}

fn webhook_sink(addr: SocketAddr) -> Arc<dyn Sink> {
    let yaml = format!(
        "sinks:\n  s:\n    type: slack\n    webhook_url: http://{addr}/services/T000/B000/sekritpath\n"
    );
    let (sink, errors) = build(&yaml);
    sink.unwrap_or_else(|| panic!("{errors:?}"))
}

fn bot_sink(addr: SocketAddr) -> Arc<dyn Sink> {
    team_sink(addr, "    fallback: \"#alerts-triage\"\n")
}

/// A bot sink posting to `#alerts-{{ tags.team }}` for the payments team and the mobile ones,
/// with `extra` settings (a fallback).
fn team_sink(addr: SocketAddr, extra: &str) -> Arc<dyn Sink> {
    let yaml = format!(
        "sinks:\n  s:\n    type: slack\n    token: ${{SLACK_TOKEN}}\n    api_base: http://{addr}/api/\n    channel: \"#alerts-{{{{ tags.team }}}}\"\n    allowed: [\"#alerts-payments\", \"~#alerts-mobile-.*\"]\n{extra}"
    );
    let (sink, errors) = build(&yaml);
    sink.unwrap_or_else(|| panic!("{errors:?}"))
}

/// A delivery outcome as one line.
fn verdict(result: Result<herald_core::Receipt, SinkError>) -> String {
    match result {
        Ok(r) => format!(
            "receipt {:?} id={:?} channel={:?}",
            r.status, r.message_id, r.channel
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

/// A status as the verdicts show it: the number, or `-` when no provider answered.
fn shown(status: Option<u16>) -> String {
    status.map_or("-".into(), |s| s.to_string())
}

async fn run(sink: &dyn Sink, n: usize) -> String {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(verdict(sink.deliver(&notification()).await));
    }
    out.join("\n")
}

#[tokio::test]
async fn webhook_posts_blocks_to_the_url_and_reads_ok() {
    let server = stand_in(vec![(200, vec![], "ok")]).await;
    let sink = webhook_sink(server.addr);
    expect!["receipt Some(200) id=None channel=None"].assert_eq(&run(sink.as_ref(), 1).await);
    let seen = server.seen()[0].clone();
    assert_eq!(seen.method, Method::POST);
    assert_eq!(seen.path, "/services/T000/B000/sekritpath");
    assert_eq!(
        seen.headers["content-type"],
        "application/json; charset=utf-8"
    );
    assert!(seen.headers.get("authorization").is_none());
    let body: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
    assert!(body.get("channel").is_none(), "webhooks refuse a channel");
    assert_eq!(body["blocks"][0]["type"], "header");
    assert!(body["text"].as_str().unwrap().contains("&lt;!channel&gt;"));
    // What was sent is what `preview` shows.
    let preview: serde_json::Value =
        serde_json::from_str(&sink.preview(&notification()).unwrap()).unwrap();
    assert_eq!(preview, body);
}

#[tokio::test]
async fn bot_posts_to_chat_post_message_with_the_token_and_reads_ts() {
    let server = stand_in(vec![(
        200,
        vec![],
        r#"{"ok":true,"ts":"1700000000.000100","channel":"C123","message":{"text":"x"}}"#,
    )])
    .await;
    let sink = bot_sink(server.addr);
    expect![[r##"receipt Some(200) id=Some("1700000000.000100") channel=Some("C123")"##]]
        .assert_eq(&run(sink.as_ref(), 1).await);
    let seen = server.seen()[0].clone();
    assert_eq!(seen.method, Method::POST);
    assert_eq!(seen.path, "/api/chat.postMessage");
    assert_eq!(seen.headers["authorization"], "Bearer xoxb-sekrit-token");
    assert_eq!(
        seen.headers["content-type"],
        "application/json; charset=utf-8"
    );
    let body: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
    assert_eq!(body["channel"], "#alerts-payments");
    assert_eq!(body["blocks"][1]["type"], "section");
}

#[tokio::test]
async fn bot_answers_are_classified() {
    let server = stand_in(vec![
        (200, vec![], r#"{"ok":false,"error":"channel_not_found"}"#),
        (200, vec![], r#"{"ok":false,"error":"ratelimited"}"#),
        (
            429,
            vec![("retry-after", "30")],
            r#"{"ok":false,"error":"ratelimited"}"#,
        ),
        (500, vec![], "Internal Server Error"),
        (
            200,
            vec![],
            r#"{"ok":false,"error":"invalid_blocks","response_metadata":{"messages":["[ERROR] must be less than 151 characters [json-pointer:/blocks/0/text]"]}}"#,
        ),
    ])
    .await;
    let sink = bot_sink(server.addr);
    expect![[r##"
        rejected 200: channel_not_found (the channel does not exist or the app cannot see it; check channel (a private one needs the app invited))
        unavailable 200 retry_after=None: ratelimited (Slack is limiting the rate; herald retries later)
        unavailable 429 retry_after=Some(30s): ratelimited (Slack is limiting the rate; herald retries later)
        unavailable 500 retry_after=None: Internal Server Error
        rejected 200: invalid_blocks: [ERROR] must be less than 151 characters [json-pointer:/blocks/0/text] (Slack refused the message's shape; check the sink's template)"##]]
    .assert_eq(&run(sink.as_ref(), 5).await);
}

#[tokio::test]
async fn webhook_answers_are_classified() {
    let server = stand_in(vec![
        (400, vec![], "invalid_payload"),
        (403, vec![], "action_prohibited"),
        (404, vec![], "channel_not_found"),
        (404, vec![], "no_service"),
        (410, vec![], "channel_is_archived"),
        (429, vec![("retry-after", "30")], "rate_limited"),
        (500, vec![], ""),
        (200, vec![], "<html>login</html>"),
    ])
    .await;
    let sink = webhook_sink(server.addr);
    expect![[r##"
        rejected 400: invalid_payload (Slack refused the message's shape; check the sink's template)
        rejected 403: action_prohibited (the workspace's settings forbid this post; ask a Slack admin or choose another channel)
        rejected 404: channel_not_found (the channel does not exist or the app cannot see it; check channel (a private one needs the app invited))
        rejected 404: no_service (the incoming webhook was revoked or its app removed; make a new webhook URL)
        rejected 410: channel_is_archived (the channel is archived; unarchive it or choose another)
        unavailable 429 retry_after=Some(30s): rate_limited (Slack is limiting the rate; herald retries later)
        unavailable 500 retry_after=None: empty answer with status 500
        rejected 200: unexpected answer: <html>login</html>"##]]
    .assert_eq(&run(sink.as_ref(), 8).await);
}

#[tokio::test]
async fn closed_port_is_unreachable_and_the_error_hides_the_url() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let sink = webhook_sink(addr);
    let err = sink.deliver(&notification()).await.unwrap_err();
    assert!(matches!(err, SinkError::Unreachable { .. }), "{err:?}");
    let mut shown = format!("{err} {err:?}");
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        shown.push_str(&format!(" {s} {s:?}"));
        source = s.source();
    }
    assert!(!shown.contains("sekritpath"), "{shown}");
    assert!(shown.contains("cannot connect to slack"), "{shown}");
}

#[tokio::test]
async fn a_silent_server_times_out_as_unreachable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts connections (the kernel does) but never answers.
    let yaml = format!(
        "sinks:\n  s:\n    type: slack\n    webhook_url: http://{addr}/hook\n    timeout_seconds: 1\n"
    );
    let sink = build(&yaml).0.unwrap();
    let started = std::time::Instant::now();
    let result = sink.deliver(&notification()).await;
    expect!["unreachable: no answer from slack within 1 second (timeout); raise timeout_seconds if it is only slow"].assert_eq(&verdict(result));
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(listener);
}

fn check(api: Api, status: u16, body: &str, expect: Expect) {
    expect.assert_eq(&verdict(classify(api, status, None, body)));
}

#[test]
fn web_api_error_codes_are_final_or_transient() {
    let bot = |error: &str| format!(r#"{{"ok":false,"error":"{error}"}}"#);
    for code in [
        "channel_not_found",
        "invalid_auth",
        "not_in_channel",
        "is_archived",
        "account_inactive",
        "token_revoked",
        "no_permission",
        "invalid_blocks",
        "msg_blocks_too_long",
    ] {
        let v = verdict(classify(Api::Bot, 200, None, &bot(code)));
        let hint = super::hint(code).expect("a hint for every common code");
        assert_eq!(v, format!("rejected 200: {code} ({hint})"));
    }
    for code in [
        "ratelimited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
    ] {
        let v = verdict(classify(Api::Bot, 200, None, &bot(code)));
        let shown = super::explained(code);
        assert_eq!(v, format!("unavailable 200 retry_after=None: {shown}"));
    }
}

#[test]
fn odd_answers_have_a_verdict_too() {
    check(
        Api::Bot,
        200,
        "ok",
        expect!["rejected 200: unexpected answer: ok"],
    );
    check(
        Api::Bot,
        404,
        "",
        expect!["rejected 404: empty answer with status 404"],
    );
    // The codes named in the issue, as an incoming webhook answers them.
    check(
        Api::Webhook,
        403,
        "invalid_token",
        expect![
            "rejected 403: invalid_token (the webhook URL's token is not valid; make a new webhook URL)"
        ],
    );
    check(
        Api::Bot,
        200,
        r#"{"ok":false,"error":"not_in_channel"}"#,
        expect![
            "rejected 200: not_in_channel (the app is not a member of the channel; invite it there)"
        ],
    );
    check(
        Api::Bot,
        503,
        r#"{"ok":false,"error":"invalid_auth"}"#,
        expect![
            "unavailable 503 retry_after=None: invalid_auth (the token is wrong or missing; check token)"
        ],
    );
    check(
        Api::Webhook,
        200,
        r#"{"ok":true}"#,
        expect!["receipt Some(200) id=None channel=None"],
    );
    check(
        Api::Webhook,
        408,
        "timeout",
        expect!["unavailable 408 retry_after=None: timeout"],
    );
}

fn threaded(sink_yaml_extra: &str, addr: SocketAddr) -> Arc<dyn Sink> {
    let yaml = format!(
        "sinks:\n  s:\n    type: slack\n    token: ${{SLACK_TOKEN}}\n    api_base: http://{addr}/api/\n    channel: \"#alerts\"\n{sink_yaml_extra}"
    );
    let (sink, errors) = build(&yaml);
    sink.unwrap_or_else(|| panic!("{errors:?}"))
}

fn resolved_in_thread() -> Notification {
    let mut n = notification();
    let mut alert = (*n.alerts[0]).clone();
    alert.action = "resolved".into();
    n.alerts[0] = Arc::new(alert);
    n.thread = Some(herald_core::Thread {
        reference: crate::ThreadRef {
            channel: "C0123".into(),
            ts: "1700000000.000100".into(),
        }
        .encode(),
        destination: "#alerts".into(),
    });
    n
}

#[tokio::test]
async fn a_later_event_replies_in_the_thread_and_updates_the_first_message() {
    let server = stand_in(vec![
        (
            200,
            vec![],
            r#"{"ok":true,"channel":"C0123","ts":"1700000001.000200"}"#,
        ),
        (
            200,
            vec![],
            r#"{"ok":true,"channel":"C0123","ts":"1700000000.000100"}"#,
        ),
    ])
    .await;
    let sink = threaded("    reply_broadcast: true\n", server.addr);
    let receipt = sink.deliver(&resolved_in_thread()).await.unwrap();
    assert_eq!(receipt.message_id.as_deref(), Some("1700000001.000200"));
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].path, "/api/chat.postMessage");
    let reply: serde_json::Value = serde_json::from_str(&seen[0].body).unwrap();
    assert_eq!(reply["thread_ts"], "1700000000.000100");
    assert_eq!(
        reply["channel"], "C0123",
        "the thread's channel, not the template's"
    );
    assert_eq!(reply["reply_broadcast"], true);
    assert_eq!(seen[1].path, "/api/chat.update");
    let update: serde_json::Value = serde_json::from_str(&seen[1].body).unwrap();
    assert_eq!(update["ts"], "1700000000.000100");
    assert_eq!(update["channel"], "C0123");
    assert!(update.get("thread_ts").is_none());
}

#[tokio::test]
async fn a_failed_update_keeps_the_reply_and_says_so() {
    let server = stand_in(vec![
        (
            200,
            vec![],
            r#"{"ok":true,"channel":"C0123","ts":"1700000001.000200"}"#,
        ),
        (200, vec![], r#"{"ok":false,"error":"message_not_found"}"#),
    ])
    .await;
    let sink = threaded("", server.addr);
    let receipt = sink.deliver(&resolved_in_thread()).await.unwrap();
    assert!(
        receipt
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("message_not_found")),
        "{receipt:?}"
    );
    let reply: serde_json::Value = serde_json::from_str(&server.seen()[0].body).unwrap();
    assert!(reply.get("reply_broadcast").is_none());
}

#[tokio::test]
async fn with_threads_off_a_later_event_is_a_new_message() {
    let server = stand_in(vec![(
        200,
        vec![],
        r#"{"ok":true,"channel":"C0999","ts":"1700000002.000300"}"#,
    )])
    .await;
    let sink = threaded("    threads: false\n", server.addr);
    sink.deliver(&resolved_in_thread()).await.unwrap();
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    let body: serde_json::Value = serde_json::from_str(&seen[0].body).unwrap();
    assert!(body.get("thread_ts").is_none());
    assert_eq!(body["channel"], "#alerts");
}

/// [`notification`] with the `team` tag set to `team`.
fn from_team(team: &str) -> Notification {
    let mut n = notification();
    let mut alert = (*n.alerts[0]).clone();
    alert.tags = Tags(vec![("team".into(), team.into())]);
    n.alerts[0] = Arc::new(alert);
    n
}

const POSTED: &str = r#"{"ok":true,"channel":"C0999","ts":"1700000002.000300"}"#;

#[tokio::test]
async fn a_hostile_team_tag_lands_in_the_fallback_and_allowed_ones_in_their_channel() {
    let server = stand_in(vec![(200, vec![], POSTED); 5]).await;
    let sink = bot_sink(server.addr);
    let mut receipts = Vec::new();
    for team in [
        "payments",
        "mobile-ios",
        "ceo-private",
        "payments\n#general",
        "pay\u{202E}ments",
    ] {
        receipts.push(sink.deliver(&from_team(team)).await.unwrap());
    }
    let channels: Vec<String> = server
        .seen()
        .iter()
        .map(|s| serde_json::from_str::<serde_json::Value>(&s.body).unwrap()["channel"].to_string())
        .collect();
    expect![[r##"["\"#alerts-payments\"", "\"#alerts-mobile-ios\"", "\"#alerts-triage\"", "\"#alerts-triage\"", "\"#alerts-triage\""]"##]]
        .assert_eq(&format!("{channels:?}"));
    let destinations: Vec<_> = receipts.iter().map(|r| r.destination.as_deref()).collect();
    assert_eq!(
        destinations,
        [
            Some("#alerts-payments"),
            Some("#alerts-mobile-ios"),
            Some("#alerts-triage"),
            Some("#alerts-triage"),
            Some("#alerts-triage")
        ]
    );
    assert_eq!(receipts[0].detail.as_deref(), Some("ok"));
    expect![[r##"ok; alert data chose the channel "#alerts-pay\u{202e}ments", which is not allowed, so it went to the fallback"##]]
        .assert_eq(receipts[4].detail.as_deref().unwrap());
}

#[tokio::test]
async fn without_a_fallback_a_channel_not_allowed_is_refused_with_the_reason() {
    let server = stand_in(vec![]).await;
    let sink = team_sink(server.addr, "");
    let result = sink.deliver(&from_team("ceo-private")).await;
    expect![[r##"rejected -: alert data chose the channel "#alerts-ceo-private", which is not in "allowed" and the sink has no "fallback"; add it to "allowed" if it is a real destination, or set "fallback""##]]
        .assert_eq(&verdict(result));
    assert!(server.seen().is_empty(), "nothing was posted");
    // `herald route --render` says the same.
    let preview = sink.preview(&from_team("ceo-private")).unwrap_err();
    assert!(preview.contains("not in \"allowed\""), "{preview}");
}

#[tokio::test]
async fn a_thread_started_in_another_channel_is_neither_replied_to_nor_updated() {
    let server = stand_in(vec![(200, vec![], POSTED)]).await;
    let sink = bot_sink(server.addr);
    // The issue's first event carried a hostile tag: its message is in the fallback channel.
    let mut n = from_team("payments");
    n.thread = Some(herald_core::Thread {
        reference: crate::ThreadRef {
            channel: "C0TRIAGE".into(),
            ts: "1700000000.000100".into(),
        }
        .encode(),
        destination: "#alerts-triage".into(),
    });
    let receipt = sink.deliver(&n).await.unwrap();
    let seen = server.seen();
    assert_eq!(seen.len(), 1, "one new message, no chat.update");
    assert_eq!(seen[0].path, "/api/chat.postMessage");
    let body: serde_json::Value = serde_json::from_str(&seen[0].body).unwrap();
    assert_eq!(body["channel"], "#alerts-payments");
    assert!(body.get("thread_ts").is_none(), "{body}");
    assert_eq!(receipt.destination.as_deref(), Some("#alerts-payments"));
}

#[tokio::test]
async fn a_thread_started_in_the_same_channel_is_replied_to() {
    let server = stand_in(vec![(200, vec![], POSTED), (200, vec![], POSTED)]).await;
    let sink = bot_sink(server.addr);
    let mut n = from_team("ceo-private");
    n.thread = Some(herald_core::Thread {
        reference: crate::ThreadRef {
            channel: "C0TRIAGE".into(),
            ts: "1700000000.000100".into(),
        }
        .encode(),
        destination: "#alerts-triage".into(),
    });
    let receipt = sink.deliver(&n).await.unwrap();
    let seen = server.seen();
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(paths, ["/api/chat.postMessage", "/api/chat.update"]);
    let reply: serde_json::Value = serde_json::from_str(&seen[0].body).unwrap();
    assert_eq!(reply["channel"], "C0TRIAGE");
    assert_eq!(reply["thread_ts"], "1700000000.000100");
    assert_eq!(receipt.destination.as_deref(), Some("#alerts-triage"));
}

#[tokio::test]
async fn a_new_bot_message_returns_its_thread_and_a_reply_returns_none() {
    let server = stand_in(vec![
        (200, vec![], POSTED),
        (200, vec![], POSTED),
        (200, vec![], POSTED),
    ])
    .await;
    let sink = threaded("", server.addr);
    assert!(sink.threads());
    let first = sink.deliver(&notification()).await.unwrap();
    let reference = first.thread.expect("a new message starts a thread");
    assert_eq!(
        crate::ThreadRef::decode(&reference),
        Some(crate::ThreadRef {
            channel: "C0999".into(),
            ts: "1700000002.000300".into(),
        })
    );
    let mut later = notification();
    later.thread = Some(herald_core::Thread {
        reference,
        destination: "#alerts".into(),
    });
    let reply = sink.deliver(&later).await.unwrap();
    assert_eq!(
        reply.thread, None,
        "a reply keeps the first message's thread"
    );
    let paths: Vec<String> = server.seen().iter().map(|s| s.path.clone()).collect();
    assert_eq!(
        paths,
        [
            "/api/chat.postMessage",
            "/api/chat.postMessage",
            "/api/chat.update"
        ]
    );
}

#[tokio::test]
async fn a_webhook_or_threads_off_keeps_no_conversation() {
    let server = stand_in(vec![(200, vec![], "ok"), (200, vec![], POSTED)]).await;
    let hook = webhook_sink(server.addr);
    assert!(!hook.threads());
    assert_eq!(hook.deliver(&notification()).await.unwrap().thread, None);
    let off = threaded("    threads: false\n", server.addr);
    assert!(!off.threads());
    assert_eq!(off.deliver(&notification()).await.unwrap().thread, None);
}

#[tokio::test]
async fn the_pace_is_one_message_a_second_per_chosen_channel() {
    let server = stand_in(vec![]).await;
    let bot = bot_sink(server.addr);
    let pace = |sink: &Arc<dyn Sink>, n: &Notification| sink.pace(n).map(|p| (p.key, p.every));
    let second = Duration::from_secs(1);
    assert_eq!(
        pace(&bot, &from_team("payments")),
        Some(("#alerts-payments".into(), second))
    );
    assert_eq!(
        pace(&bot, &from_team("ceo-private")),
        Some(("#alerts-triage".into(), second)),
        "the fallback's pace, where it goes"
    );
    // A webhook's channel is fixed: one pace for the sink.
    let hook = webhook_sink(server.addr);
    assert_eq!(pace(&hook, &notification()), Some((String::new(), second)));
    // A channel that cannot be chosen is refused without a post: no pace to keep.
    assert_eq!(
        pace(&team_sink(server.addr, ""), &from_team("ceo-private")),
        None
    );
}
