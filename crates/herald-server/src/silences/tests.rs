//! The silences API on a real store: create, list, expire, refusals, and the cache the
//! dispatcher reads following every change.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use herald_core::config::{Config, Env};
use herald_core::{Alert, Level};
use herald_store::Store;
use serde_json::{Value, json};
use tempfile::TempDir;
use tower::ServiceExt;

use crate::AppState;

async fn state(dir: &TempDir) -> AppState {
    let (config, _) = Config::parse(
        "sinks: {log: {type: log}}\nroutes:\n  - name: all\n    sinks: [log]\n",
        "t.yaml",
        &Env::from_pairs(Vec::<(String, String)>::new()),
    )
    .unwrap();
    let url = format!("sqlite://{}/h.db", dir.path().display());
    let store: Arc<dyn Store> = herald_store::open(&herald_core::config::StorageConfig {
        url,
        ..Default::default()
    })
    .await
    .unwrap();
    AppState::new(Arc::new(config), BTreeMap::new(), BTreeMap::new(), store)
}

async fn call(
    state: &AppState,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("Content-Type", "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let response = super::router()
        .with_state(state.clone())
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn api_alert() -> Alert {
    Alert {
        project: Some("api".into()),
        level: Some(Level::Error),
        ..Alert::default()
    }
}

#[tokio::test]
async fn a_silence_is_created_listed_applied_and_expired() {
    let dir = TempDir::new().unwrap();
    let state = state(&dir).await;
    let (status, created) = call(
        &state,
        "POST",
        "/api/v1/silences",
        Some(json!({"matchers": {"project": "api"}, "duration_seconds": 3600, "author": "ana", "comment": "deploy"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["state"], "active");
    let id = created["id"].as_str().unwrap().to_owned();

    let (status, listed) = call(&state, "GET", "/api/v1/silences", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["silences"][0]["id"], id.as_str());

    // The dispatcher's cache follows at once.
    let now = state.clock().now();
    let cached = state.noise().silences();
    assert_eq!(cached.len(), 1);
    assert!(cached[0].silences(&api_alert(), now));

    let (status, expired) = call(&state, "DELETE", &format!("/api/v1/silences/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(expired["state"], "expired");
    assert!(state.noise().silences().is_empty());
    let (_, listed) = call(&state, "GET", "/api/v1/silences", None).await;
    assert_eq!(listed["silences"], json!([]));
    let (_, all) = call(&state, "GET", "/api/v1/silences?all=true", None).await;
    assert_eq!(all["silences"].as_array().unwrap().len(), 1);

    let (status, _) = call(&state, "DELETE", "/api/v1/silences/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_silences_are_refused_with_the_reason() {
    let dir = TempDir::new().unwrap();
    let state = state(&dir).await;
    let cases = [
        (
            json!({"matchers": {"projekt": "api"}, "duration_seconds": 60, "author": "a"}),
            "projekt",
        ),
        (
            json!({"matchers": {"project": "api"}, "author": "a"}),
            "exactly one of ends_at",
        ),
        (
            json!({"matchers": {"project": "api"}, "duration_seconds": 60, "author": " "}),
            "author",
        ),
        (
            json!({"matchers": {"project": "api"}, "ends_at": "2001-01-01T00:00:00Z", "author": "a"}),
            "in the future",
        ),
        (
            json!({"matchers": {"project": "api"}, "duration_seconds": 60, "author": "a", "colour": 1}),
            "colour",
        ),
    ];
    for (body, wanted) in cases {
        let (status, answer) = call(&state, "POST", "/api/v1/silences", Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains(wanted), "{error} lacks {wanted}");
    }
}
