//! The example sink end to end against the shared stand-in provider: built from YAML through
//! its factory, what it posts, how it reads the service's success and error answers, and a
//! bad URL reported with its location but not its value.

use std::sync::Arc;
use std::time::Duration;

use herald_core::config::Env;
use herald_core::{Alert, Level, Notification, Sink, SinkError, SinkRegistry};
use herald_example_sink::ChatFactory;
use herald_http::testing::{Reply, StandIn};

fn build(url: &str) -> Result<Arc<dyn Sink>, Vec<String>> {
    let yaml = "sinks:\n  team-chat:\n    type: example_chat\n    url: ${CHAT_URL}\n";
    let env = Env::from_pairs([("CHAT_URL", url)]);
    herald_core::testing::build_sink(ChatFactory, yaml, &env).into_result()
}

fn notification(title: &str) -> Notification {
    let alert = Alert {
        source: "sentry".into(),
        resource: "issue".into(),
        action: "created".into(),
        title: title.into(),
        level: Some(Level::Error),
        project: Some("api".into()),
        ..Alert::default()
    };
    Notification::single(Arc::new(alert), "all", "team-chat", "d1")
}

#[tokio::test]
async fn a_notification_is_posted_as_one_json_message() {
    let provider = StandIn::start(vec![Reply::new(204, "")]).await;
    let sink = build(&format!("{}/hooks/sekrit", provider.url())).unwrap();
    let receipt = sink
        .deliver(&notification("boom \u{202e}here"))
        .await
        .unwrap();
    assert_eq!(receipt.status, Some(204));
    let seen = provider.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/hooks/sekrit");
    assert_eq!(
        seen[0].json(),
        serde_json::json!({"text": "[error] boom here\nProject: api", "idempotency_key": "d1"})
    );
}

#[tokio::test]
async fn the_services_answers_are_sorted_into_retry_or_not() {
    let provider = StandIn::start(vec![
        Reply::new(429, r#"{"error":"slow down"}"#).with("retry-after", "7"),
        Reply::new(503, "<html>maintenance</html>"),
        Reply::new(404, r#"{"error":"unknown webhook"}"#),
    ])
    .await;
    let sink = build(&format!("{}/hooks/sekrit", provider.url())).unwrap();
    let n = notification("boom");
    let limited = sink.deliver(&n).await.unwrap_err();
    assert_eq!(limited.retry_after(), Some(Duration::from_secs(7)));
    assert_eq!(limited.to_string(), "unavailable (429): slow down");
    let down = sink.deliver(&n).await.unwrap_err();
    assert!(down.is_retryable());
    assert_eq!(
        down.to_string(),
        "unavailable (503): <html>maintenance</html>"
    );
    let gone = sink.deliver(&n).await.unwrap_err();
    assert!(matches!(
        gone,
        SinkError::Rejected {
            status: Some(404),
            ..
        }
    ));
    assert_eq!(gone.to_string(), "rejected (404): unknown webhook");
}

#[tokio::test]
async fn no_answer_is_unreachable_without_the_url() {
    // Port 1 on loopback is closed: the connection is refused at once.
    let sink = build("http://127.0.0.1:1/hooks/sekrit").unwrap();
    let error = sink.deliver(&notification("boom")).await.unwrap_err();
    assert!(error.is_retryable());
    let shown = format!("{error} {error:?} {sink:?}");
    assert!(shown.contains("example_chat"), "{shown}");
    assert!(!shown.contains("sekrit"), "{shown}");
}

#[test]
fn a_url_that_is_not_http_is_a_located_error_that_hides_it() {
    let errors = build("ftp://chat.example/hooks/sekrit").unwrap_err();
    assert!(
        errors[0].starts_with("herald.yaml:4:10: example_chat url is not an http(s) URL"),
        "{errors:?}"
    );
    assert!(!errors[0].contains("sekrit"), "{errors:?}");
}

#[test]
fn the_registry_knows_it_by_its_type() {
    let mut registry = SinkRegistry::new();
    registry.register(ChatFactory);
    assert_eq!(registry.kinds(), ["example_chat"]);
}
