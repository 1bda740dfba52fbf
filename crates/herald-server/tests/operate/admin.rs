//! The admin API: the bearer token (401 without it, 404 when none is configured), delivery
//! and alert lists with filters and cursor paging, single and bulk retries of dead
//! deliveries, the route tree and the routing dry run.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;

use crate::support::{ADMIN, Setup, alert, config_text, setup};

const ROUTES: &str = "routes:\n  - name: errors\n    match: { level: \">=error\" }\n    sinks: [ok-a, bad-b]\n  - name: rest\n    sinks: [ok-a]\n";

async fn two_sinks() -> Setup {
    setup(&config_text(&["ok-a", "bad-b"], ROUTES), &["ok-a", "bad-b"]).await
}

/// Stores `errors` error alerts and one info alert, then delivers: every `ok-a` delivery is
/// delivered and every `bad-b` one is dead.
async fn run(s: &Setup, errors: usize) {
    for i in 0..errors {
        let (status, _) = s
            .send(alert(
                "sentry",
                &format!("boom {i}"),
                "error",
                &format!("e{i}"),
            ))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    s.send(alert("sentry", "fyi", "info", "i0")).await;
    s.deliver().await;
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_missing_or_wrong_token_is_401_and_reveals_nothing() {
    let s = two_sinks().await;
    for auth in [
        None,
        Some("Bearer nope"),
        Some(ADMIN),
        Some("Basic b3BlcmF0ZQ=="),
    ] {
        let mut request = Request::get("/api/v1/deliveries");
        if let Some(auth) = auth {
            request = request.header("Authorization", auth);
        }
        let (status, body) = s.send(request.body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(body, r#"{"error":"unauthorized"}"#);
    }
    let (status, body) = s
        .send(Request::post("/-/reload").body(Body::empty()).unwrap())
        .await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::UNAUTHORIZED, r#"{"error":"unauthorized"}"#)
    );
}

#[tokio::test]
async fn without_a_configured_token_the_admin_api_is_not_there() {
    let text = config_text(&["ok-a"], "routes:\n  - sinks: [ok-a]\n").replace(
        "  admin_token: operate-admin-token\n",
        "  max_body_bytes: 65536\n",
    );
    let s = setup(&text, &["ok-a"]).await;
    for (method, path) in [
        ("GET", "/api/v1/deliveries"),
        ("POST", "/-/reload"),
        ("GET", "/api/v1/routes"),
    ] {
        let (status, _) = s.admin(method, path, Vec::new()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn deliveries_are_filtered_and_paged() {
    let s = two_sinks().await;
    run(&s, 3).await;
    let (status, all) = s.admin("GET", "/api/v1/deliveries", Vec::new()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&all).len(), 7);
    assert!(all["next_cursor"].is_null());

    let (_, dead) = s
        .admin("GET", "/api/v1/deliveries?status=dead", Vec::new())
        .await;
    let dead = dead["items"].as_array().unwrap().clone();
    assert_eq!(dead.len(), 3);
    assert!(
        dead.iter()
            .all(|d| d["sink"] == "bad-b" && d["status"] == "dead")
    );
    assert_eq!(dead[0]["last_error"], "rejected (400): invalid_payload");
    assert_eq!(dead[0]["title"], "boom 2", "newest first");

    let count = |v: &Value| v["items"].as_array().unwrap().len();
    let (_, r) = s
        .admin("GET", "/api/v1/deliveries?route=rest", Vec::new())
        .await;
    assert_eq!(count(&r), 1);
    let (_, r) = s
        .admin(
            "GET",
            "/api/v1/deliveries?sink=ok-a&status=delivered",
            Vec::new(),
        )
        .await;
    assert_eq!(count(&r), 4);
    let (_, r) = s
        .admin("GET", "/api/v1/deliveries?since=1h", Vec::new())
        .await;
    assert_eq!(count(&r), 7);
    let (_, r) = s
        .admin("GET", "/api/v1/deliveries?until=1h", Vec::new())
        .await;
    assert_eq!(count(&r), 0);
    let (_, r) = s
        .admin(
            "GET",
            "/api/v1/deliveries?until=2999-01-01T00:00:00Z&project=nosuch",
            Vec::new(),
        )
        .await;
    assert_eq!(count(&r), 0);

    let mut seen = Vec::new();
    let mut path = "/api/v1/deliveries?limit=3".to_owned();
    loop {
        let (_, page) = s.admin("GET", &path, Vec::new()).await;
        assert!(count(&page) <= 3);
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/deliveries?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        ids(&all),
        "the pages together are the whole list, in order"
    );

    let (_, alerts) = s.admin("GET", "/api/v1/alerts?limit=2", Vec::new()).await;
    assert_eq!(count(&alerts), 2);
    assert_eq!(alerts["items"][0]["alert"]["title"], "fyi");
    assert!(alerts["next_cursor"].is_string());

    for bad in ["status=lost", "limit=0", "since=yesterday", "colour=red"] {
        let (status, body) = s
            .admin("GET", &format!("/api/v1/deliveries?{bad}"), Vec::new())
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(body["error"].is_string());
    }
}

#[tokio::test]
async fn dead_deliveries_are_retried_one_by_one_or_by_filter() {
    let s = two_sinks().await;
    run(&s, 3).await;
    let (_, dead) = s
        .admin("GET", "/api/v1/deliveries?status=dead", Vec::new())
        .await;
    let dead = ids(&dead);
    let (_, delivered) = s
        .admin("GET", "/api/v1/deliveries?status=delivered", Vec::new())
        .await;
    let delivered = ids(&delivered);

    let (status, body) = s
        .admin(
            "POST",
            &format!("/api/v1/deliveries/{}/retry", dead[0]),
            Vec::new(),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("pending"))
    );
    let (status, body) = s
        .admin(
            "POST",
            &format!("/api/v1/deliveries/{}/retry", delivered[0]),
            Vec::new(),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["error"].as_str().unwrap().contains("is delivered"),
        "{body}"
    );
    let (status, _) = s
        .admin("POST", "/api/v1/deliveries/nosuch/retry", Vec::new())
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    assert_eq!(s.deliver().await, 1, "the retried delivery is due at once");
    assert_eq!(s.bank["bad-b"].calls(), 4);

    let (status, body) = s
        .admin("POST", "/api/v1/deliveries/retry?sink=bad-b", Vec::new())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["retried"], 3);
    let (_, body) = s
        .admin("POST", "/api/v1/deliveries/retry?sink=ok-a", Vec::new())
        .await;
    assert_eq!(
        body["retried"], 0,
        "delivered ones are never retried in bulk"
    );
    assert_eq!(s.deliver().await, 3);
}

#[tokio::test]
async fn the_route_tree_and_the_dry_run_are_served() {
    let s = two_sinks().await;
    let (status, tree) = s.admin("GET", "/api/v1/routes", Vec::new()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tree["routes"][0]["name"], "errors");
    assert_eq!(tree["routes"][0]["match"]["level"], ">=error");
    assert_eq!(
        tree["routes"][0]["sinks"],
        serde_json::json!(["ok-a", "bad-b"])
    );
    assert_eq!(tree["routes"][1]["name"], "rest");

    let payload = serde_json::json!({
        "action": "triggered",
        "data": { "event": { "title": "boom", "level": "fatal" }, "triggered_rule": "r" }
    });
    let (status, out) = s
        .admin(
            "POST",
            "/api/v1/route-test?resource=event_alert",
            payload.to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(out["routes"], serde_json::json!(["errors"]));
    assert_eq!(out["sinks"], serde_json::json!(["ok-a", "bad-b"]));
    assert_eq!(out["explain"][0]["matched"], true);
    assert_eq!(out["alert"]["level"], "fatal");

    let (status, out) = s
        .admin(
            "POST",
            "/api/v1/route-test?resource=installation",
            br#"{"action":"created","data":{}}"#.to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(out["ignored"].is_string(), "{out}");
    let (status, _) = s
        .admin(
            "POST",
            "/api/v1/route-test?resource=event_alert",
            b"{".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
