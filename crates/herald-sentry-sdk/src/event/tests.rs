//! Tests for the event → alert mapping on the events sentry-python really sent (an error in a
//! Flask view, a chained exception, a tagged error, a log record, a message), on what the
//! Rust `sentry` crate serializes, and on the loose shapes older SDKs use.

use herald_core::config::Location;
use herald_core::{Level, Secret};
use serde_json::json;

use super::*;

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("../../tests/fixtures/python/", $name, ".envelope")).as_slice()
    };
}

fn source(scrub: bool) -> SdkSourceConfig {
    SdkSourceConfig {
        name: "apps".into(),
        scrub,
        projects: vec![Project {
            slug: "shop".into(),
            id: 42,
            public_key: Secret::new("0123456789abcdef0123456789abcdef"),
            rate_limit_per_minute: None,
            id_at: Location::file("h.yaml"),
        }],
    }
}

fn from_envelope(body: &[u8]) -> SdkEvent {
    let envelope = crate::parse_envelope(body, crate::MAX_EVENT_BYTES).unwrap();
    let source = source(true);
    to_alert(
        &source,
        &source.projects[0],
        envelope.event.unwrap(),
        envelope.event_id.as_deref(),
    )
}

fn from_json(event: Value) -> SdkEvent {
    let source = source(true);
    let Value::Object(event) = event else {
        panic!()
    };
    to_alert(&source, &source.projects[0], event, None)
}

/// The fields a route or a message uses, one per line.
fn shown(e: &SdkEvent) -> String {
    let a = &e.alert;
    let tags: Vec<String> = a.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "source={} resource={} action={} project={:?} level={:?}\nenvironment={:?} release={:?}\ntitle={}\nculprit={:?}\ntags=[{}]\nkey={:?}",
        a.source,
        a.resource,
        a.action,
        a.project,
        a.level.map(Level::as_str),
        a.environment,
        a.release,
        a.title,
        a.culprit,
        tags.join(" "),
        e.grouping.key,
    )
}

#[test]
fn an_error_in_a_flask_view() {
    let e = from_envelope(fixture!("flask"));
    expect_test::expect![[r#"
        source=apps resource=sdk action=event project=Some("shop") level=Some("error")
        environment=Some("production") release=Some("shop@1.4.2")
        title=KeyError: 'A-55'
        culprit=Some("show_order")
        tags=[]
        key=["type:KeyError", "frame:__main__.show_order", "frame:__main__.checkout", "frame:__main__.load_order"]"#]]
    .assert_eq(&shown(&e));
    assert_eq!(
        e.alert.issue_id.as_deref(),
        Some(e.grouping.issue_id.as_str())
    );
    assert!(!e.grouping.from_fingerprint);
    assert!(e.alert.timestamp.is_some());
    let id = e.alert.event_id.as_deref().unwrap();
    assert_eq!(id.len(), 32);
    assert_eq!(e.alert.raw["event_id"], id);
    assert_eq!(
        e.alert.raw["request"]["headers"]["Authorization"],
        "[Filtered]"
    );
}

#[test]
fn a_captured_error_outside_a_request_names_the_last_in_app_frame() {
    let e = from_envelope(fixture!("key-error"));
    assert_eq!(e.alert.title, "KeyError: 'A-1001'");
    assert_eq!(e.alert.culprit.as_deref(), Some("__main__ in load_order"));
}

#[test]
fn the_same_error_again_is_the_same_issue_and_another_is_not() {
    let once = from_envelope(fixture!("key-error"));
    let again = from_envelope(fixture!("key-error-gzip"));
    assert_ne!(once.alert.event_id, again.alert.event_id);
    assert_eq!(once.grouping.issue_id, again.grouping.issue_id);
    let tagged = from_envelope(fixture!("tagged"));
    assert_eq!(
        tagged.grouping.issue_id, once.grouping.issue_id,
        "tags do not split issues"
    );
    let flask = from_envelope(fixture!("flask"));
    assert_ne!(
        flask.grouping.issue_id, once.grouping.issue_id,
        "other frames, other issue"
    );
}

#[test]
fn a_chained_exception_shows_the_last_raised() {
    let e = from_envelope(fixture!("chained"));
    assert_eq!(e.alert.title, "RuntimeError: checkout failed");
    let kinds: Vec<&str> = e
        .grouping
        .key
        .iter()
        .filter(|k| k.starts_with("type:"))
        .map(String::as_str)
        .collect();
    assert_eq!(kinds, ["type:KeyError", "type:RuntimeError"]);
}

#[test]
fn a_tag_set_by_the_app_is_routable() {
    let e = from_envelope(fixture!("tagged"));
    assert_eq!(e.alert.tags.get("team"), Some("payments"));
}

#[test]
fn a_log_record_and_a_message() {
    let e = from_envelope(fixture!("logging-warning"));
    expect_test::expect![[r#"
        source=apps resource=sdk action=event project=Some("shop") level=Some("warning")
        environment=Some("production") release=Some("shop@1.4.2")
        title=disk /var is 93% full
        culprit=None
        tags=[logger=shop.disk]
        key=["logger:shop.disk", "message:disk %s is %d%% full"]"#]]
    .assert_eq(&shown(&e));
    let e = from_envelope(fixture!("message"));
    assert_eq!(e.alert.title, "cache miss rate is 37% on node 12");
    assert_eq!(e.alert.level, Some(Level::Info));
    assert_eq!(
        e.grouping.key,
        ["message:cache miss rate is <int>% on node <int>"]
    );
}

#[test]
fn scrub_false_keeps_the_event_as_sent() {
    let body = fixture!("unscrubbed");
    let envelope = crate::parse_envelope(body, crate::MAX_EVENT_BYTES).unwrap();
    let source = source(false);
    let e = to_alert(&source, &source.projects[0], envelope.event.unwrap(), None);
    assert_eq!(
        e.alert.title,
        "ValueError: card 4111 1111 1111 1111 was declined"
    );
    let scrubbed = from_envelope(body);
    assert_eq!(
        scrubbed.alert.title,
        "ValueError: card [Filtered] was declined"
    );
}

#[test]
fn what_the_rust_sdk_serializes() {
    use sentry::protocol::{Envelope, Event, Exception, Frame, Stacktrace};
    let error = Event {
        exception: vec![Exception {
            ty: "ParseIntError".into(),
            value: Some("invalid digit found in string".into()),
            stacktrace: Some(Stacktrace {
                frames: vec![
                    Frame {
                        function: Some("std::rt::lang_start".into()),
                        in_app: Some(false),
                        ..Frame::default()
                    },
                    Frame {
                        function: Some("billing::parse".into()),
                        module: Some("billing".into()),
                        in_app: Some(true),
                        lineno: Some(12),
                        ..Frame::default()
                    },
                ],
                ..Stacktrace::default()
            }),
            ..Exception::default()
        }]
        .into(),
        level: sentry::Level::Error,
        release: Some("billing@2.0.0".into()),
        environment: Some("staging".into()),
        ..Event::default()
    };
    let message = Event {
        message: Some("queue is 80% full".into()),
        level: sentry::Level::Warning,
        ..Event::default()
    };
    let mut shown_events = vec![];
    for event in [error, message] {
        let id = event.event_id.simple().to_string();
        let mut body = Vec::new();
        Envelope::from(event).to_writer(&mut body).unwrap();
        let e = from_envelope(&body);
        assert_eq!(e.alert.event_id.as_deref(), Some(id.as_str()));
        shown_events.push(format!(
            "{} | {:?} | {:?} | {:?}",
            e.alert.title,
            e.alert.culprit,
            e.alert.level.map(Level::as_str),
            e.grouping.key
        ));
    }
    expect_test::expect![[r#"
        [
            "ParseIntError: invalid digit found in string | Some(\"billing in billing::parse\") | Some(\"error\") | [\"type:ParseIntError\", \"frame:billing.billing::parse\"]",
            "queue is 80% full | None | Some(\"warning\") | [\"message:queue is <int>% full\"]",
        ]
    "#]]
    .assert_debug_eq(&shown_events);
}

#[test]
fn loose_and_older_shapes() {
    let e = from_json(json!({
        "exception": [{"type": "TypeError", "value": "x is undefined\nat line 2"}],
        "message": {"message": "ignored, the exception wins"},
        "level": "CRITICAL",
        "tags": [["environment", "prod"], ["region", "eu"]],
        "timestamp": 1733058000.5,
        "event_id": "9EC79C33-EC99-42AB-8353-589FCB2E04DC",
        "culprit": "app/main.js"
    }));
    assert_eq!(e.alert.title, "TypeError: x is undefined");
    assert_eq!(e.alert.level, Some(Level::Fatal));
    assert_eq!(e.alert.environment.as_deref(), Some("prod"));
    assert_eq!(e.alert.culprit.as_deref(), Some("app/main.js"));
    assert_eq!(
        e.alert.event_id.as_deref(),
        Some("9ec79c33ec9942ab8353589fcb2e04dc")
    );
    assert_eq!(
        e.alert.timestamp.unwrap().to_string(),
        "2024-12-01T13:00:00.5Z"
    );
    assert_eq!(
        e.grouping.key,
        ["type:TypeError", "value:x is undefined\nat line <int>"]
    );

    let e = from_json(json!({"message": {"formatted": "user 17 logged out"}, "level": "bogus"}));
    assert_eq!(e.alert.title, "user 17 logged out");
    assert_eq!(
        e.alert.level,
        Some(Level::Error),
        "an unknown level reads as Sentry's default"
    );
    assert_eq!(e.grouping.key, ["message:user <int> logged out"]);

    let e = from_json(json!({}));
    assert_eq!(e.alert.title, "<unlabeled event>");
    assert_eq!(
        e.alert.event_id.as_deref().map(str::len),
        Some(32),
        "a new id"
    );
}

#[test]
fn fields_are_held_to_the_limits() {
    let e = from_json(json!({"message": "x".repeat(10_000), "release": "r".repeat(1000)}));
    assert!(e.alert.title.len() <= herald_core::alert::limits::MAX_TEXT_BYTES);
    assert!(e.alert.release.unwrap().len() <= herald_core::alert::limits::MAX_NAME_BYTES);
}
