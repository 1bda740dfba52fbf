//! The source seam from the server's side, with a second source kind the server has never
//! heard of: a test-only `probe` whose endpoint is shared by its sources (no `{source}` in the
//! path, a project id instead, as the SDK source's `/api/{project_id}/envelope/`), with its own
//! body limit, credential header, answers and preflight. The server mounts it from the
//! registry, finds the source that claims a request, and stores what it takes.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use herald_core::config::{Config, Diagnostics, Env, Node, PublicCredential};
use herald_core::source::{
    Answer, Endpoint, Head, Ignored, Incoming, Intake, Refusal, SourceContext, SourceFactory,
    Stored,
};
use herald_core::{Alert, Source, SourceRegistry};
use herald_server::AppState;
use herald_store::Store;
use tower::ServiceExt;

/// A probe source: one project id, one key in `X-Probe-Key`, bodies up to 1 MiB.
#[derive(Debug)]
struct Probe {
    project: &'static str,
}

const PATH: &str = "/probe/{project}/in/";

#[async_trait]
impl Source for Probe {
    fn kind(&self) -> &'static str {
        "probe"
    }

    fn body_limit(&self, _server_limit: u64) -> u64 {
        1 << 20
    }

    fn claims(&self, head: &Head<'_>) -> bool {
        head.param("project") == Some(self.project)
    }

    fn precheck(&self, head: &Head<'_>) -> Result<(), Refusal> {
        if head.endpoint.name == "preflight" || head.header("X-Probe-Key")? == Some("k") {
            return Ok(());
        }
        Err(Refusal::new(StatusCode::UNAUTHORIZED, "probe_key", "no key").unread())
    }

    async fn take(&self, head: &Head<'_>, body: &[u8]) -> Result<Intake, Refusal> {
        if head.endpoint.name == "preflight" {
            return Ok(Intake::default());
        }
        let alert = Alert {
            source: "apps".into(),
            resource: "probe".into(),
            action: "created".into(),
            title: format!("{} bytes", body.len()),
            event_id: Some("e1".into()),
            ..Alert::default()
        };
        Ok(Intake {
            alerts: vec![Incoming {
                alert: Arc::new(alert),
                raw: String::from_utf8_lossy(body).into_owned(),
                request_id: None,
                endpoint: "probe",
                issue: None,
            }],
            ignored: vec![],
        })
    }

    fn accepted(&self, head: &Head<'_>, stored: &[Stored], _: &[Ignored]) -> Answer {
        let mut answer = axum::http::Response::new(Vec::new());
        answer
            .headers_mut()
            .insert("Access-Control-Allow-Origin", "*".parse().unwrap());
        if head.endpoint.name != "preflight" {
            let id = stored[0].alert.event_id.clone().unwrap_or_default();
            *answer.body_mut() = format!(r#"{{"id":"{id}"}}"#).into_bytes();
        }
        answer
    }
}

struct ProbeFactory;

impl SourceFactory for ProbeFactory {
    fn kind(&self) -> &'static str {
        "probe"
    }
    fn endpoints(&self) -> Vec<Endpoint> {
        vec![
            Endpoint::new("in", Method::POST, PATH),
            Endpoint::new("preflight", Method::OPTIONS, PATH),
        ]
    }
    fn build(&self, _: SourceContext<'_>) -> Option<Arc<dyn Source>> {
        Some(Arc::new(Probe { project: "42" }))
    }
    fn public_credentials(&self, _: &str, _: &Node, _: &Diagnostics) -> Vec<PublicCredential> {
        vec![]
    }
    fn refuse(&self, refusal: &Refusal) -> Answer {
        let mut answer = axum::http::Response::new(refusal.message.clone().into_bytes());
        *answer.status_mut() = refusal.status;
        answer
            .headers_mut()
            .insert("X-Probe-Error", refusal.code.parse().unwrap());
        answer
    }
}

struct Probed {
    state: AppState,
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

async fn probed() -> Probed {
    let (config, _) = Config::parse(
        "server: { max_body_bytes: 65536 }\nsinks:\n  fake: { type: fake }\nroutes:\n  - { name: all, sinks: [fake] }\n",
        "test.yaml",
        &Env::from_pairs(Vec::<(String, String)>::new()),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = herald_store::open(&herald_core::config::StorageConfig {
        url: format!("sqlite://{}", dir.path().join("herald.db").display()),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut sources: BTreeMap<String, Arc<dyn Source>> = BTreeMap::new();
    sources.insert("apps".into(), Arc::new(Probe { project: "42" }));
    let mut kinds = SourceRegistry::new();
    kinds
        .register(ProbeFactory)
        .register(herald_sentry::SentryFactory);
    let mut sinks: BTreeMap<String, Arc<dyn herald_core::Sink>> = BTreeMap::new();
    sinks.insert("fake".into(), Arc::new(crate::support::FakeSink::default()));
    let state =
        AppState::new(Arc::new(config), sources, sinks, store.clone()).with_source_kinds(kinds);
    Probed {
        state,
        store,
        _dir: dir,
    }
}

impl Probed {
    async fn send(&self, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
        let response = herald_server::routes(self.state.clone())
            .oneshot(request)
            .await
            .unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        (
            parts.status,
            parts.headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    /// Deliveries stored: one per alert taken, since the one route sends everything to `fake`.
    async fn stored(&self) -> u64 {
        self.store.count_by_status().await.unwrap().total()
    }
}

fn post(path: &str, key: Option<&str>, body: Vec<u8>) -> Request<Body> {
    let mut request = Request::post(path).header("Content-Length", body.len());
    if let Some(key) = key {
        request = request.header("X-Probe-Key", key);
    }
    request.body(Body::from(body)).unwrap()
}

#[tokio::test]
async fn a_source_kind_the_server_never_named_is_mounted_and_answers_its_own_way() {
    let p = probed().await;
    let (status, headers, body) = p
        .send(post("/probe/42/in/", Some("k"), b"x".to_vec()))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, r#"{"id":"e1"}"#);
    assert_eq!(headers["Access-Control-Allow-Origin"], "*");
    assert_eq!(p.stored().await, 1);
}

#[tokio::test]
async fn its_body_limit_is_its_own_not_the_servers() {
    let p = probed().await;
    // Over `server.max_body_bytes` (64 KiB), under the probe's 1 MiB.
    let big = vec![b'a'; 100_000];
    let (status, _, body) = p.send(post("/probe/42/in/", Some("k"), big)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(p.stored().await, 1);
    let (status, headers, body) = p
        .send(post("/probe/42/in/", Some("k"), vec![b'a'; (1 << 20) + 1]))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        body.contains("1048576 bytes, the most this source takes"),
        "{body}"
    );
    assert_eq!(headers["X-Probe-Error"], "body_too_large");
    assert_eq!(headers["Connection"], "close");
    assert_eq!(p.stored().await, 1);
}

#[tokio::test]
async fn its_refusals_are_shaped_by_it_and_remembered_with_its_code() {
    let p = probed().await;
    let (status, headers, body) = p.send(post("/probe/42/in/", None, b"x".to_vec())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["X-Probe-Error"], "probe_key");
    assert!(headers.get("Sentry-Hook-Error").is_none());
    assert_eq!(body, "no key");
    assert_eq!(p.stored().await, 0);
    assert_eq!(p.state.recent_refusals().len(), 1);
}

#[tokio::test]
async fn a_request_no_source_of_the_kind_claims_is_an_unknown_source() {
    let p = probed().await;
    let (status, headers, body) = p.send(post("/probe/7/in/", Some("k"), b"x".to_vec())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers["X-Probe-Error"], "unknown_source");
    assert!(body.contains("\"probe\""), "{body}");
    assert_eq!(p.stored().await, 0);
}

#[tokio::test]
async fn a_preflight_goes_to_the_source_and_stores_nothing() {
    let p = probed().await;
    let request = Request::builder()
        .method(Method::OPTIONS)
        .uri("/probe/42/in/")
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = p.send(request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["Access-Control-Allow-Origin"], "*");
    assert_eq!(p.stored().await, 0);
}

#[tokio::test]
async fn a_webhook_path_names_only_a_source_of_its_own_kind() {
    let p = probed().await;
    // `apps` is configured, but as a probe: the Sentry endpoint does not take it.
    let request = Request::post("/hooks/apps").body(Body::from("{}")).unwrap();
    let (status, headers, _) = p.send(request).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers["Sentry-Hook-Error"], "unknown_source");
}
