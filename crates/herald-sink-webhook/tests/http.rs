//! The webhook sink against a real HTTP server on 127.0.0.1: what arrives (method, path,
//! headers, signature, body shape) and how each answer is classified.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use herald_core::config::Env;
use herald_core::{Alert, Level, Notification, Sink, SinkError, Tags};
use herald_sink_webhook::{WebhookFactory, sign};
use tokio::sync::mpsc;

/// One request as the stand-in received it.
#[derive(Debug)]
struct Seen {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

/// Starts the stand-in; the path picks the answer.
async fn receiver() -> (String, mpsc::UnboundedReceiver<Seen>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            async move {
                let path = uri.path().to_owned();
                let _ = tx.send(Seen {
                    method,
                    path: path.clone(),
                    headers,
                    body,
                });
                answer(&path).await
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), rx)
}

async fn answer(path: &str) -> Response {
    match path {
        "/hooks/ok" => (StatusCode::OK, "accepted").into_response(),
        "/hooks/created" => (StatusCode::CREATED, r#"{"id":"evt_123"}"#).into_response(),
        "/hooks/limited" => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "2")],
            r#"{"error":"rate limited"}"#,
        )
            .into_response(),
        "/hooks/down" => (StatusCode::SERVICE_UNAVAILABLE, "maintenance").into_response(),
        "/hooks/bad" => (StatusCode::BAD_REQUEST, r#"{"error":"bad payload"}"#).into_response(),
        "/hooks/hang" => std::future::pending().await,
        _ => (StatusCode::NOT_FOUND, "no such hook").into_response(),
    }
}

fn build(yaml: &str) -> Arc<dyn Sink> {
    let env = Env::from_pairs::<_, String, String>([]);
    herald_core::testing::build_sink(WebhookFactory, yaml, &env)
        .into_result()
        .unwrap()
}

fn sink_for(url: &str) -> Arc<dyn Sink> {
    build(&format!(
        "sinks:\n  ops-hook:\n    type: webhook\n    url: {url}\n    secret: s3cret\n    \
         timeout_seconds: 1\n    headers:\n      X-Team: payments\n"
    ))
}

fn notification() -> Notification {
    let alert = Alert {
        source: "sentry".into(),
        resource: "event_alert".into(),
        action: "triggered".into(),
        project: Some("checkout".into()),
        level: Some(Level::Error),
        environment: Some("production".into()),
        release: Some("1.2.3".into()),
        title: "TypeError: \"x\" is undefined".into(),
        culprit: Some("app/cart.js in total".into()),
        issue_id: Some("42".into()),
        url: Some("https://sentry.example.com/issues/42/".into()),
        tags: Tags(vec![("team".into(), "payments".into())]),
        ..Alert::default()
    };
    Notification::single(Arc::new(alert), "prod-errors", "ops-hook", "dlv-0001")
}

#[tokio::test]
async fn a_delivery_is_a_signed_json_post_with_the_idempotency_key() {
    let (base, mut seen) = receiver().await;
    let sink = sink_for(&format!("{base}/hooks/ok"));
    let receipt = sink.deliver(&notification()).await.unwrap();
    assert_eq!(receipt.status, Some(200));
    assert_eq!(receipt.detail.as_deref(), Some("accepted"));

    let req = seen.recv().await.unwrap();
    assert_eq!(req.method, Method::POST);
    assert_eq!(req.path, "/hooks/ok");
    let header = |name: &str| {
        req.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    assert_eq!(header("content-type"), "application/json");
    assert!(
        header("user-agent").starts_with("herald/"),
        "{}",
        header("user-agent")
    );
    assert_eq!(header("idempotency-key"), "dlv-0001");
    assert_eq!(header("x-team"), "payments");

    // Verify as a receiver would, following the crate docs.
    let signature = header("x-herald-signature");
    let (t, v1) = signature
        .split_once(',')
        .map(|(t, v)| {
            (
                t.strip_prefix("t=").unwrap(),
                v.strip_prefix("v1=").unwrap(),
            )
        })
        .unwrap();
    let t: i64 = t.parse().unwrap();
    assert!((jiff::Timestamp::now().as_second() - t).abs() < 60);
    assert_eq!(sign(b"s3cret", t, &req.body), signature);
    assert_eq!(v1.len(), 64);

    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body["delivery_id"], header("idempotency-key"));
    assert_eq!(body["route"], "prod-errors");
    assert_eq!(body["sink"], "ops-hook");
    assert!(body.get("alert_id").is_none());
    let alert = &body["alert"];
    for key in [
        "source",
        "resource",
        "action",
        "project",
        "level",
        "environment",
        "release",
        "title",
        "culprit",
        "issue_id",
        "url",
        "tags",
    ] {
        assert!(alert.get(key).is_some(), "alert lacks {key}: {alert}");
    }
    assert_eq!(alert["level"], "error");
    assert_eq!(alert["title"], "TypeError: \"x\" is undefined");
    assert_eq!(alert["tags"], serde_json::json!({"team": "payments"}));
}

#[tokio::test]
async fn a_201_is_a_receipt_with_the_body_excerpt() {
    let (base, _seen) = receiver().await;
    let receipt = sink_for(&format!("{base}/hooks/created"))
        .deliver(&notification())
        .await
        .unwrap();
    assert_eq!(receipt.status, Some(201));
    assert_eq!(receipt.detail.as_deref(), Some(r#"{"id":"evt_123"}"#));
}

async fn failure(path: &str) -> SinkError {
    let (base, _seen) = receiver().await;
    sink_for(&format!("{base}{path}"))
        .deliver(&notification())
        .await
        .unwrap_err()
}

#[tokio::test]
async fn a_429_is_unavailable_with_its_retry_after() {
    match failure("/hooks/limited").await {
        SinkError::Unavailable {
            status,
            retry_after,
            detail,
        } => {
            assert_eq!(status, Some(429));
            assert_eq!(retry_after, Some(Duration::from_secs(2)));
            assert_eq!(detail, r#"{"error":"rate limited"}"#);
        }
        other => panic!("expected unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_503_is_unavailable() {
    let err = failure("/hooks/down").await;
    assert!(
        matches!(
            err,
            SinkError::Unavailable {
                status: Some(503),
                retry_after: None,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_400_is_rejected_with_the_reason() {
    let err = failure("/hooks/bad").await;
    match &err {
        SinkError::Rejected { status, detail } => {
            assert_eq!(*status, Some(400));
            assert_eq!(detail, r#"{"error":"bad payload"}"#);
        }
        other => panic!("expected rejected, got {other:?}"),
    }
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn a_404_is_rejected() {
    let err = failure("/hooks/nowhere").await;
    assert!(
        matches!(
            err,
            SinkError::Rejected {
                status: Some(404),
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = sink_for(&format!("http://{addr}/hooks/ok"))
        .deliver(&notification())
        .await
        .unwrap_err();
    assert!(matches!(err, SinkError::Unreachable { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "cannot connect to webhook at 127.0.0.1: connection refused; check the host and port, and that the service is up"
    );
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_as_unreachable() {
    let (base, mut seen) = receiver().await;
    let started = std::time::Instant::now();
    let err = sink_for(&format!("{base}/hooks/hang"))
        .deliver(&notification())
        .await
        .unwrap_err();
    assert!(matches!(err, SinkError::Unreachable { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("no answer from webhook at 127.0.0.1 within ")
            && err
                .to_string()
                .ends_with(" (timeout); raise timeout_seconds if it is only slow"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(seen.recv().await.unwrap().path, "/hooks/hang");
}

#[tokio::test]
async fn a_body_template_replaces_the_default_body() {
    let (base, mut seen) = receiver().await;
    let sink = build(&format!(
        "sinks:\n  hook:\n    type: webhook\n    url: {base}/hooks/ok\n    \
         body: '{{\"text\": \"[{{{{ level }}}}] {{{{ title }}}}\", \"id\": \"{{{{ issue_id }}}}\"}}'\n"
    ));
    sink.deliver(&notification()).await.unwrap();
    let req = seen.recv().await.unwrap();
    assert!(req.headers.get("x-herald-signature").is_none());
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"text": "[error] TypeError: \"x\" is undefined", "id": "42"})
    );
    let preview = sink.preview(&notification()).unwrap();
    assert_eq!(preview.as_bytes(), &req.body[..]);
}
