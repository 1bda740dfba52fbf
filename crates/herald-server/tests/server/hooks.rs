//! The webhook endpoints' answers: every shared Sentry fixture is accepted and reaches a
//! sink; each kind of bad request gets its status and stores nothing; repeats are stored
//! once; unrouted alerts are kept; a closed store is a 5xx without details.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use herald_core::Secret;
use herald_sentry::Parsed;
use jiff::Timestamp;
use serde_json::json;

use crate::support::{Options, TOKEN, event_alert, fixtures, setup, setup_with, signed};

#[tokio::test]
async fn every_sentry_fixture_is_answered_and_delivered() {
    let Some(root) = fixtures() else { return };
    let s = setup().await;
    let mut expected_resources = Vec::new();
    let mut deliveries = 0;
    for folder in ["integration-platform", "legacy-webhooks-plugin"] {
        let mut names: Vec<_> = std::fs::read_dir(root.join(folder))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".json"))
            .collect();
        names.sort();
        for (i, name) in names.iter().enumerate() {
            let body = std::fs::read(root.join(folder).join(name)).unwrap();
            let legacy = folder == "legacy-webhooks-plugin";
            let resource = (!legacy).then(|| name.split('.').next().unwrap());
            let request = match resource {
                Some(resource) => signed(
                    "/hooks/sentry",
                    resource,
                    &format!("{folder}-{i}"),
                    body.clone(),
                ),
                None => Request::post(format!("/hooks/sentry/legacy?token={TOKEN}"))
                    .header("Content-Type", "application/json")
                    .body(Body::from(body.clone()))
                    .unwrap(),
            };
            let (status, _, answer) = s.send(request).await;
            match herald_sentry::parse("sentry", resource, &body).unwrap() {
                Parsed::Ignored { reason, .. } => {
                    assert_eq!(status, StatusCode::OK, "{name}: {answer}");
                    assert_eq!(answer, json!({ "ignored": reason }), "{name}");
                }
                Parsed::Alert(alert) => {
                    assert_eq!(status, StatusCode::ACCEPTED, "{name}: {answer}");
                    let n = answer["deliveries"].as_u64().unwrap();
                    assert!(n >= 1, "{name}: every alert matches route `all`");
                    assert!(answer["id"].is_string(), "{name}: {answer}");
                    deliveries += n;
                    expected_resources.push((alert.resource, alert.title));
                }
            }
        }
    }
    assert!(!expected_resources.is_empty());
    assert_eq!(s.stored().await, deliveries);

    let attempted = s
        .state
        .dispatcher()
        .run_once(Timestamp::now())
        .await
        .unwrap();
    assert_eq!(attempted as u64, deliveries);
    let counts = s.store.count_by_status().await.unwrap();
    assert_eq!(counts.delivered, deliveries, "{counts:?}");
    let seen: Vec<(String, String)> = s
        .fake
        .calls()
        .into_iter()
        .filter(|c| c.route == "all")
        .map(|c| (c.resource, c.title))
        .collect();
    for expected in &expected_resources {
        assert!(
            seen.contains(expected),
            "{expected:?} did not reach the sink: {seen:?}"
        );
    }
}

#[tokio::test]
async fn a_signed_alert_is_stored_before_the_answer() {
    let s = setup().await;
    let (status, code, answer) = s
        .send(signed(
            "/hooks/sentry",
            "event_alert",
            "r1",
            event_alert("boom", "error"),
        ))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(code, None);
    // errors -> fake and other, then all -> fake again (a second delivery, another route)
    assert_eq!(answer["deliveries"], json!(3));
    let stored = s.store.alert(answer["id"].as_str().unwrap()).await.unwrap();
    assert_eq!(stored.unwrap().alert.title, "boom");
    assert_eq!(s.stored().await, 3);
    // the handler did not call any sink
    assert!(s.fake.calls().is_empty() && s.other.calls().is_empty());
}

async fn refused(request: Request<Body>, status: StatusCode, code: &str, message: &str) {
    let s = setup().await;
    let (got, got_code, answer) = s.send(request).await;
    assert_eq!(got, status, "{answer}");
    assert_eq!(got_code.as_deref(), Some(code));
    let error = answer["error"].as_str().unwrap();
    assert!(error.contains(message), "{error:?} lacks {message:?}");
    assert_eq!(s.stored().await, 0, "a refused request stored something");
}

#[tokio::test]
async fn a_wrong_signature_is_401() {
    let mut request = signed(
        "/hooks/sentry",
        "event_alert",
        "r1",
        event_alert("boom", "error"),
    );
    let wrong = herald_sentry::sign(&Secret::new("not-the-secret"), b"x");
    request
        .headers_mut()
        .insert("Sentry-Hook-Signature", wrong.parse().unwrap());
    refused(
        request,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "does not match the body",
    )
    .await;
}

#[tokio::test]
async fn a_missing_signature_is_401() {
    let mut request = signed(
        "/hooks/sentry",
        "event_alert",
        "r1",
        event_alert("boom", "error"),
    );
    request.headers_mut().remove("Sentry-Hook-Signature");
    refused(
        request,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "no Sentry-Hook-Signature",
    )
    .await;
}

#[tokio::test]
async fn the_app_signature_header_is_accepted_too() {
    let s = setup().await;
    let mut request = signed(
        "/hooks/sentry",
        "event_alert",
        "r1",
        event_alert("boom", "error"),
    );
    let signature = request
        .headers_mut()
        .remove("Sentry-Hook-Signature")
        .unwrap();
    request
        .headers_mut()
        .insert("Sentry-App-Signature", signature);
    let (status, _, answer) = s.send(request).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
}

#[tokio::test]
async fn a_stale_timestamp_is_401() {
    let mut request = signed(
        "/hooks/sentry",
        "event_alert",
        "r1",
        event_alert("boom", "error"),
    );
    let old = (Timestamp::now().as_second() - 1000).to_string();
    request
        .headers_mut()
        .insert("Sentry-Hook-Timestamp", old.parse().unwrap());
    refused(
        request,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "more than max_skew_seconds",
    )
    .await;
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let body = format!("{{\"pad\": \"{}\"}}", "x".repeat(70_000)).into_bytes();
    let request = signed("/hooks/sentry", "event_alert", "r1", body);
    refused(
        request,
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        "larger than 65536 bytes",
    )
    .await;
}

#[tokio::test]
async fn malformed_json_is_400() {
    let request = signed(
        "/hooks/sentry",
        "event_alert",
        "r1",
        b"{\"action\": ".to_vec(),
    );
    refused(
        request,
        StatusCode::BAD_REQUEST,
        "malformed",
        "not valid JSON",
    )
    .await;
}

#[tokio::test]
async fn a_payload_without_its_container_is_400() {
    let request = signed(
        "/hooks/sentry",
        "event_alert",
        "r1",
        br#"{"action":"triggered","data":{}}"#.to_vec(),
    );
    refused(
        request,
        StatusCode::BAD_REQUEST,
        "malformed",
        "data.event is missing",
    )
    .await;
}

#[tokio::test]
async fn an_unknown_source_is_404() {
    let request = signed(
        "/hooks/nope",
        "event_alert",
        "r1",
        event_alert("boom", "error"),
    );
    refused(
        request,
        StatusCode::NOT_FOUND,
        "unknown_source",
        "unknown source \"nope\"",
    )
    .await;
}

#[tokio::test]
async fn an_unknown_path_is_404() {
    let request = Request::get("/admin").body(Body::empty()).unwrap();
    refused(
        request,
        StatusCode::NOT_FOUND,
        "not_found",
        "POST /hooks/<source>",
    )
    .await;
}

#[tokio::test]
async fn a_legacy_request_needs_its_token() {
    let legacy = |query: &str| {
        Request::post(format!("/hooks/sentry/legacy{query}"))
            .body(Body::from(r#"{"project_slug":"web","level":"error","message":"boom","triggering_rules":["r"]}"#))
            .unwrap()
    };
    refused(
        legacy(""),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "has no token",
    )
    .await;
    refused(
        legacy("?token=nope"),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "does not match legacy_token",
    )
    .await;
    let s = setup().await;
    let (status, _, answer) = s.send(legacy(&format!("?token={TOKEN}"))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["deliveries"], json!(3));
}

#[tokio::test]
async fn a_repeated_request_id_is_stored_once() {
    let s = setup().await;
    let send = || {
        signed(
            "/hooks/sentry",
            "event_alert",
            "0123456789abcdef0123456789abcdef",
            event_alert("boom", "error"),
        )
    };
    let (first_status, _, first) = s.send(send()).await;
    let (second_status, _, second) = s.send(send()).await;
    assert_eq!(
        (first_status, second_status),
        (StatusCode::ACCEPTED, StatusCode::ACCEPTED)
    );
    assert_eq!(first["id"], second["id"]);
    assert_eq!(second["duplicate"], json!(true));
    assert_eq!(first.get("duplicate"), None);
    assert_eq!(s.stored().await, 3);
}

#[tokio::test]
async fn an_alert_no_route_matches_is_kept_with_no_delivery() {
    let s = setup_with(Options {
        routes: "routes:\n  - name: web-only\n    match: { project: web }\n    sinks: [fake]\n",
        ..Options::default()
    })
    .await;
    let body = event_alert("elsewhere", "info")
        .into_iter()
        .collect::<Vec<u8>>();
    let body = String::from_utf8(body)
        .unwrap()
        .replace("/projects/acme/web/", "/projects/acme/api/");
    let (status, _, answer) = s
        .send(signed(
            "/hooks/sentry",
            "event_alert",
            "r1",
            body.into_bytes(),
        ))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["deliveries"], json!(0));
    let stored = s
        .store
        .alert(answer["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.alert.project.as_deref(), Some("api"));
    assert_eq!(s.stored().await, 0);
}

#[tokio::test]
async fn an_ignored_resource_is_200_and_not_stored() {
    let s = setup().await;
    let body = br#"{"action":"created","data":{"installation":{"uuid":"x"}}}"#.to_vec();
    let (status, _, answer) = s
        .send(signed("/hooks/sentry", "installation", "r1", body))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(answer["ignored"].is_string(), "{answer}");
    assert_eq!(s.stored().await, 0);
}

#[tokio::test]
async fn probes_follow_the_store() {
    let s = setup().await;
    let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
    assert_eq!(s.send(get("/healthz")).await.0, StatusCode::OK);
    assert_eq!(s.send(get("/readyz")).await.0, StatusCode::OK);
    s.store.close().await;
    assert_eq!(s.send(get("/healthz")).await.0, StatusCode::OK);
    let (status, _, answer) = s.send(get("/readyz")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer["status"], "unavailable");
    // It says why, in the store's words (never the storage URL or a secret).
    assert!(
        answer["reason"]
            .as_str()
            .is_some_and(|r| r.contains("store is closed")),
        "{answer}"
    );
}

#[tokio::test]
async fn a_store_failure_is_a_503_without_details() {
    let s = setup().await;
    s.store.close().await;
    let (status, code, answer) = s
        .send(signed(
            "/hooks/sentry",
            "event_alert",
            "r1",
            event_alert("boom", "error"),
        ))
        .await;
    // A store that cannot take the alert is herald's trouble: 503 ("later"), never a 500.
    assert_eq!(status, 503, "{status}");
    assert_eq!(code.as_deref(), Some("store_unavailable"));
    assert!(
        !answer["error"].as_str().unwrap().contains("database"),
        "{answer}"
    );
}

/// `/readyz` counts the alerts no route matched since start: not a matched one, not one a
/// route with `sinks: []` drops on purpose, and a redelivery of the same request once.
#[tokio::test]
async fn readyz_counts_the_alerts_no_route_matched() {
    let s = setup_with(Options {
        routes: "routes:\n  - name: web-only\n    match: { project: web }\n    sinks: [fake]\n  - name: drop-info\n    match: { level: info }\n    sinks: []\n",
        ..Options::default()
    })
    .await;
    let get = || Request::get("/readyz").body(Body::empty()).unwrap();
    let ready = |answer: &serde_json::Value| answer["unmatched_alerts"].clone();
    let (status, _, answer) = s.send(get()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["status"], "ready");
    assert_eq!(ready(&answer), json!(0));

    let elsewhere = || {
        String::from_utf8(event_alert("elsewhere", "error"))
            .unwrap()
            .replace("/projects/acme/web/", "/projects/acme/api/")
            .into_bytes()
    };
    for request_id in ["r1", "r1", "r2"] {
        let (status, _, answer) = s
            .send(signed(
                "/hooks/sentry",
                "event_alert",
                request_id,
                elsewhere(),
            ))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    }
    // Matched by web-only, and dropped on purpose by drop-info: neither is unmatched.
    s.send(signed(
        "/hooks/sentry",
        "event_alert",
        "r3",
        event_alert("web", "error"),
    ))
    .await;
    let dropped = String::from_utf8(event_alert("fyi", "info"))
        .unwrap()
        .replace("/projects/acme/web/", "/projects/acme/api/");
    s.send(signed(
        "/hooks/sentry",
        "event_alert",
        "r4",
        dropped.into_bytes(),
    ))
    .await;
    let (_, _, answer) = s.send(get()).await;
    assert_eq!(ready(&answer), json!(2), "{answer}");
    assert_eq!(s.state.unmatched_alerts(), 2);

    // Unavailable keeps the count beside the reason.
    s.store.close().await;
    let (status, _, answer) = s.send(get()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(answer["reason"].is_string(), "{answer}");
    assert_eq!(ready(&answer), json!(2), "{answer}");
}
