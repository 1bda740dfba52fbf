//! `GET /api/v1/alerts/{id}/explain`: a delivered and a dead delivery, an alert no route
//! matched, a webhook refused for its signature (found by its Request-ID in memory), and an id
//! nothing matches.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;

use crate::support::{alert, config_text, setup};

fn summary(answer: &Value) -> String {
    answer["summary"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn deliveries_and_the_routes_that_matched_are_explained() {
    let routes = "routes:\n  - name: fatal\n    match: { level: fatal }\n    sinks: [bad-b]\n  - name: errors\n    match: { level: \">=error\" }\n    sinks: [ok-a, bad-b]\n";
    let s = setup(&config_text(&["ok-a", "bad-b"], routes), &["ok-a", "bad-b"]).await;
    let (status, _) = s.send(alert("sentry", "boom", "error", "req-1")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    s.deliver().await;

    let (status, answer) = s.admin("GET", "/api/v1/alerts/req-1/explain", vec![]).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["found_by"], "request_id");
    assert_eq!(answer["alert"]["request_id"], "req-1");
    assert_eq!(answer["alert"]["alert"]["title"], "boom");
    let by_sink: Vec<(String, String)> = answer["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["sink"].as_str().unwrap().to_owned(),
                d["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        by_sink,
        [
            ("ok-a".to_owned(), "delivered".to_owned()),
            ("bad-b".to_owned(), "dead".to_owned())
        ]
    );
    let dead = &answer["deliveries"][1];
    assert_eq!(dead["attempts"], 1);
    assert!(
        dead["last_error"]
            .as_str()
            .unwrap()
            .contains("invalid_payload"),
        "{dead}"
    );
    let steps = answer["routing"]["explain"].as_array().unwrap();
    assert_eq!(steps[0]["route"], "fatal");
    assert_eq!(steps[0]["matched"], false);
    assert!(
        steps[0]["why"][0].as_str().unwrap().contains("level"),
        "{steps:?}"
    );
    assert_eq!(steps[1]["matched"], true);
    assert_eq!(steps[1]["sinks"], serde_json::json!(["ok-a", "bad-b"]));
    assert_eq!(answer["routing"]["config"], "current");
    let text = summary(&answer);
    assert!(text.contains("ok-a (route errors): delivered at"), "{text}");
    assert!(
        text.contains("bad-b (route errors): gave up at") && text.contains("invalid_payload"),
        "{text}"
    );

    // The same alert by herald's own id.
    let id = answer["alert"]["id"].as_str().unwrap().to_owned();
    let (status, by_id) = s
        .admin("GET", &format!("/api/v1/alerts/{id}/explain"), vec![])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_id["found_by"], "alert_id");
    assert_eq!(by_id["deliveries"], answer["deliveries"]);
}

/// A delivery that succeeded on its retry: no last error, and each attempt (the `503`, then
/// the success) in the explanation and in `GET /api/v1/deliveries/{id}/attempts`.
#[tokio::test]
async fn a_delivery_retried_then_delivered_shows_each_attempt() {
    let routes = "routes:\n  - name: all\n    sinks: [flaky-a]\n";
    let s = setup(&config_text(&["flaky-a"], routes), &["flaky-a"]).await;
    let (status, _) = s.send(alert("sentry", "boom", "error", "req-flaky")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    s.deliver().await;
    let later = jiff::Timestamp::now() + std::time::Duration::from_secs(600);
    assert_eq!(s.state.dispatcher().run_once(later).await.unwrap(), 1);
    assert_eq!(s.bank["flaky-a"].calls(), 2);

    let (status, answer) = s
        .admin("GET", "/api/v1/alerts/req-flaky/explain", vec![])
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let delivery = &answer["deliveries"][0];
    assert_eq!(delivery["status"], "delivered");
    assert_eq!(delivery["last_error"], Value::Null);
    let log = delivery["attempt_log"].as_array().unwrap();
    let seen: Vec<(u64, &str, Value, Value)> = log
        .iter()
        .map(|a| {
            (
                a["number"].as_u64().unwrap(),
                a["outcome"].as_str().unwrap(),
                a["status"].clone(),
                a["error"].clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                1,
                "retried",
                Value::from(503),
                Value::from("unavailable (503): service_unavailable")
            ),
            (2, "delivered", Value::from(200), Value::Null),
        ]
    );
    assert!(
        log.iter()
            .all(|a| a["latency_ms"].is_u64() && a["started_at"].is_string())
    );
    let text = summary(&answer);
    assert!(
        text.contains("after 2 attempts (1 failed before it, the last with: unavailable (503): service_unavailable)"),
        "{text}"
    );

    let id = delivery["id"].as_str().unwrap();
    let (status, attempts) = s
        .admin("GET", &format!("/api/v1/deliveries/{id}/attempts"), vec![])
        .await;
    assert_eq!(status, StatusCode::OK, "{attempts}");
    assert_eq!(attempts["delivery_id"], id);
    assert_eq!(&attempts["attempts"], &delivery["attempt_log"]);

    let (status, missing) = s
        .admin("GET", "/api/v1/deliveries/no-such-id/attempts", vec![])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    assert!(missing["error"].as_str().unwrap().contains("no-such-id"));
}

#[tokio::test]
async fn an_alert_no_route_matched_says_so_and_why() {
    let routes = "routes:\n  - name: fatal-only\n    match: { level: fatal }\n    sinks: [ok-a]\n";
    let s = setup(&config_text(&["ok-a"], routes), &["ok-a"]).await;
    let (status, _) = s.send(alert("sentry", "lost", "warning", "req-lost")).await;
    assert_eq!(status, StatusCode::ACCEPTED);

    let (status, answer) = s
        .admin("GET", "/api/v1/alerts/req-lost/explain", vec![])
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(answer["deliveries"].as_array().unwrap().is_empty());
    assert!(
        summary(&answer).contains("no route matched when it arrived"),
        "{answer}"
    );
    assert_eq!(answer["routing"]["explain"][0]["route"], "fatal-only");
    assert_eq!(answer["routing"]["explain"][0]["matched"], false);
    assert_eq!(answer["routing"]["sinks"], serde_json::json!([]));
}

#[tokio::test]
async fn a_refused_webhook_is_found_by_its_request_id_and_the_reason_is_given() {
    let s = setup(
        &config_text(&["ok-a"], "routes:\n  - sinks: [ok-a]\n"),
        &["ok-a"],
    )
    .await;
    let request = Request::post("/hooks/sentry")
        .header("Content-Type", "application/json")
        .header("Sentry-Hook-Resource", "event_alert")
        .header("Sentry-Hook-Signature", "00".repeat(32))
        .header("Request-ID", "req-forged")
        .body(Body::from(r#"{"action":"triggered","data":{}}"#))
        .unwrap();
    let (status, _) = s.send(request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = s
        .send(
            Request::post("/hooks/nosuch")
                .header("Request-ID", "req-nowhere")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, answer) = s
        .admin("GET", "/api/v1/alerts/req-forged/explain", vec![])
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["found_by"], "refusal");
    assert_eq!(answer["alert"], Value::Null);
    let refusal = &answer["refusals"][0];
    assert_eq!(refusal["code"], "unauthorized");
    assert_eq!(refusal["status"], 401);
    assert_eq!(refusal["source"], "sentry");
    assert_eq!(refusal["endpoint"], "platform");
    assert!(
        refusal["message"].as_str().unwrap().contains("signature"),
        "{refusal}"
    );
    assert!(
        answer["refusals_kept"]
            .as_str()
            .unwrap()
            .contains("in memory only"),
        "{answer}"
    );
    assert!(summary(&answer).contains("refused at"), "{answer}");

    // A name that is not a configured source is never recorded as the caller wrote it.
    let (_, answer) = s
        .admin("GET", "/api/v1/alerts/req-nowhere/explain", vec![])
        .await;
    assert_eq!(answer["refusals"][0]["source"], "unknown");
    assert_eq!(answer["refusals"][0]["code"], "unknown_source");
}

#[tokio::test]
async fn an_id_nothing_matches_is_404_with_a_hint() {
    let s = setup(
        &config_text(&["ok-a"], "routes:\n  - sinks: [ok-a]\n"),
        &["ok-a"],
    )
    .await;
    let (status, answer) = s
        .admin("GET", "/api/v1/alerts/nothing-here/explain", vec![])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let message = answer["error"].as_str().unwrap();
    assert!(
        message.contains("no alert, Sentry event, issue or Request-ID \"nothing-here\""),
        "{message}"
    );
    assert!(message.contains("in memory only"), "{message}");
}
