//! What the tests share: a recording sink whose answers are scripted, a config and state
//! built around it on a temporary SQLite store, and helpers to build signed requests.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use herald_core::config::{Config, Env};
use herald_core::{Alert, Notification, Receipt, Secret, Sink, SinkError};
use herald_sentry::{SentryFactory, SentrySource, SourceConfig};
use herald_server::{AppState, Clock, DeliveryPolicy};
use herald_store::{NewAlert, Store};
use jiff::Timestamp;
use tempfile::TempDir;
use tower::ServiceExt;

pub const SECRET: &str = "s3cret-client-secret";
pub const TOKEN: &str = "legacy-t0ken";

/// What a scripted sink answers to one attempt.
#[derive(Clone, Debug)]
pub enum Answer {
    Ok,
    Unavailable(Option<Duration>),
    Rejected,
    /// No answer at all: a network cause (no status).
    Refused,
    /// Never answers (a provider that hangs), until the attempt is cancelled.
    Hang,
}

/// One attempt the sink saw.
#[derive(Clone, Debug)]
pub struct Call {
    pub key: String,
    pub attempt: u32,
    pub route: String,
    pub resource: String,
    pub title: String,
    pub at: tokio::time::Instant,
    /// The conversation the dispatcher handed over.
    pub thread: Option<herald_core::Thread>,
}

/// A sink that records every attempt and answers from a script (then `Ok` forever).
#[derive(Debug, Default)]
pub struct FakeSink {
    script: Mutex<VecDeque<Answer>>,
    calls: Mutex<Vec<Call>>,
    /// A pace per key, the key being the alert title up to its first `/`.
    pace: Mutex<Option<Duration>>,
    /// Keeps conversations: each delivery without one starts `thread of <title>`.
    threads: std::sync::atomic::AtomicBool,
}

impl FakeSink {
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.script.lock().unwrap().extend(answers);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Paces deliveries per title prefix (`a/1` and `a/2` share the key `a`).
    pub fn pace_by_title(&self, every: Duration) {
        *self.pace.lock().unwrap() = Some(every);
    }

    /// Declares that this sink keeps conversations.
    pub fn keep_threads(&self) {
        self.threads
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[async_trait]
impl Sink for FakeSink {
    fn kind(&self) -> &'static str {
        "fake"
    }

    fn threads(&self) -> bool {
        self.threads.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn pace(&self, n: &Notification) -> Option<herald_core::Pace> {
        let every = (*self.pace.lock().unwrap())?;
        let key = n.first().title.split('/').next().unwrap_or_default();
        Some(herald_core::Pace {
            key: key.to_owned(),
            every,
        })
    }

    async fn deliver(&self, n: &Notification) -> Result<Receipt, SinkError> {
        self.calls.lock().unwrap().push(Call {
            key: n.idempotency_key.clone(),
            attempt: n.attempt,
            route: n.route.clone(),
            resource: n.first().resource.clone(),
            title: n.first().title.clone(),
            at: tokio::time::Instant::now(),
            thread: n.thread.clone(),
        });
        let answer = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Answer::Ok);
        match answer {
            Answer::Ok => Ok(Receipt {
                status: Some(200),
                destination: Some("#alerts".into()),
                thread: (self.threads() && n.thread.is_none())
                    .then(|| format!("thread of {}", n.first().title)),
                ..Receipt::default()
            }),
            Answer::Unavailable(retry_after) => Err(SinkError::Unavailable {
                status: Some(503),
                retry_after,
                detail: "try later".into(),
            }),
            Answer::Rejected => Err(SinkError::Rejected {
                status: Some(404),
                detail: "channel_not_found".into(),
            }),
            Answer::Refused => Err(SinkError::Unreachable {
                detail: "connection refused by the fake provider".into(),
                source: None,
            }),
            Answer::Hang => std::future::pending().await,
        }
    }
}

/// Routes used unless a test gives its own: everything goes to `fake`, errors also to
/// `other`.
pub const ROUTES: &str = r#"
routes:
  - name: errors
    match: { level: ">=error" }
    sinks: [fake, other]
    continue: true
  - name: all
    match: {}
    sinks: [fake]
"#;

/// A running test setup: the state, its sinks and store, and the folder that holds it.
#[derive(Debug)]
pub struct Setup {
    pub state: AppState,
    pub store: Arc<dyn Store>,
    pub fake: Arc<FakeSink>,
    pub other: Arc<FakeSink>,
    _dir: TempDir,
}

pub struct Options {
    pub routes: &'static str,
    pub policy: DeliveryPolicy,
    pub clock: Clock,
    /// More settings of the `fake` sink in the config, such as `retry: {max_attempts: 2}`.
    pub fake_settings: &'static str,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            routes: ROUTES,
            policy: DeliveryPolicy::default(),
            clock: Clock::System,
            fake_settings: "",
        }
    }
}

pub async fn setup() -> Setup {
    setup_with(Options::default()).await
}

pub async fn setup_with(options: Options) -> Setup {
    let text = format!(
        "server: {{ max_body_bytes: 65536 }}\nsinks:\n  fake: {{ type: fake{} }}\n  other: {{ type: fake }}\n{}",
        options.fake_settings, options.routes
    );
    let (config, _warnings) = Config::parse(
        &text,
        "test.yaml",
        &Env::from_pairs(Vec::<(String, String)>::new()),
    )
    .unwrap_or_else(|e| panic!("test config: {:?}", e.errors));
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("herald.db").display());
    let store: Arc<dyn Store> = herald_store::open(&herald_core::config::StorageConfig {
        url,
        ..Default::default()
    })
    .await
    .unwrap();
    let fake = Arc::new(FakeSink::default());
    let other = Arc::new(FakeSink::default());
    let mut sinks: BTreeMap<String, Arc<dyn Sink>> = BTreeMap::new();
    sinks.insert("fake".into(), fake.clone());
    sinks.insert("other".into(), other.clone());
    let mut sources: BTreeMap<String, Arc<dyn herald_core::Source>> = BTreeMap::new();
    sources.insert(
        "sentry".to_string(),
        Arc::new(SentrySource::new(
            "sentry",
            SourceConfig {
                kind: Some("sentry".into()),
                client_secret: Some(Secret::new(SECRET)),
                legacy_token: Some(Secret::new(TOKEN)),
                max_skew_seconds: Some(300),
                insecure: false,
            },
        )),
    );
    let mut kinds = herald_core::SourceRegistry::new();
    kinds.register(SentryFactory);
    let state = AppState::new(Arc::new(config), sources, sinks, store.clone())
        .with_source_kinds(kinds)
        .with_policy(options.policy)
        .with_clock(options.clock);
    Setup {
        state,
        store,
        fake,
        other,
        _dir: dir,
    }
}

impl Setup {
    /// Sends one request through the router.
    pub async fn send(
        &self,
        request: Request<Body>,
    ) -> (StatusCode, Option<String>, serde_json::Value) {
        let response: Response<Body> = herald_server::routes(self.state.clone())
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status();
        let code = response
            .headers()
            .get("Sentry-Hook-Error")
            .map(|v| v.to_str().unwrap().to_string());
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let json = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)));
        (status, code, json)
    }

    /// How many deliveries are stored, in any status.
    pub async fn stored(&self) -> u64 {
        self.store.count_by_status().await.unwrap().total()
    }

    /// Stores one alert for `fake` (route `all`) as the handler would, returning its delivery id.
    pub async fn accept(&self, title: &str, received_at: Timestamp) -> String {
        self.accept_to("fake", alert(title), received_at).await
    }

    /// Stores `alert` for `sink` (route `all`), returning its delivery id.
    pub async fn accept_to(&self, sink: &str, alert: Alert, received_at: Timestamp) -> String {
        let accepted = self
            .store
            .accept(NewAlert {
                source: "sentry".into(),
                request_id: None,
                endpoint: herald_store::Endpoint::PLATFORM,
                received_at,
                alert: Arc::new(alert),
                raw: "{}".into(),
                deliveries: vec![("all".into(), sink.into())],
            })
            .await
            .unwrap();
        accepted.delivery_ids[0].clone()
    }
}

/// An alert titled `title`, with no issue.
pub fn alert(title: &str) -> Alert {
    Alert {
        source: "sentry".into(),
        resource: "event_alert".into(),
        action: "triggered".into(),
        title: title.into(),
        ..Alert::default()
    }
}

/// A signed integration-platform request, stamped now.
pub fn signed(path: &str, resource: &str, request_id: &str, body: Vec<u8>) -> Request<Body> {
    let signature = herald_sentry::sign(&Secret::new(SECRET), &body);
    Request::post(path)
        .header("Content-Type", "application/json")
        .header("Sentry-Hook-Resource", resource)
        .header(
            "Sentry-Hook-Timestamp",
            Timestamp::now().as_second().to_string(),
        )
        .header("Sentry-Hook-Signature", signature)
        .header("Request-ID", request_id)
        .body(Body::from(body))
        .unwrap()
}

/// A small event_alert body written for these tests.
pub fn event_alert(title: &str, level: &str) -> Vec<u8> {
    serde_json::json!({
        "action": "triggered",
        "installation": { "uuid": "7a485448-a9e2-4c85-8a3c-4f44175783c9" },
        "data": {
            "event": {
                "title": title,
                "level": level,
                "url": "https://sentry.io/api/0/projects/acme/web/events/e1/",
                "web_url": "https://sentry.io/organizations/acme/issues/1/events/e1/"
            },
            "triggered_rule": "errors"
        }
    })
    .to_string()
    .into_bytes()
}

/// `../shared/fixtures/sentry` beside the repository, when present.
pub fn fixtures() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/sentry");
    if root.is_dir() {
        Some(root)
    } else {
        eprintln!(
            "notice: {} is absent; skipping the checks against Sentry's published payloads",
            root.display()
        );
        None
    }
}

/// Polls `check` with Tokio's clock until it holds, at most `tries` times `step` apart.
pub async fn eventually<F, Fut>(tries: u32, step: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..tries {
        if check().await {
            return true;
        }
        tokio::time::sleep(step).await;
    }
    check().await
}
