//! A server state over a real SQLite store in a temporary folder, with scripted sinks, an
//! admin token, and a loader that reads a config text the test can change.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use herald_core::config::{Config, Env};
use herald_core::{Notification, Receipt, Secret, Sink, SinkError};
use herald_sentry::{SentryFactory, SentrySource, SourceConfig};
use herald_server::{AppState, Loaded, Loader};
use herald_store::Store;
use jiff::Timestamp;
use tempfile::TempDir;
use tower::ServiceExt;

pub const SECRET: &str = "operate-client-secret";
pub const ADMIN: &str = "operate-admin-token";

/// A sink that answers every attempt the same way and counts them.
#[derive(Debug)]
pub struct Scripted {
    pub ok: bool,
    pub calls: Mutex<u32>,
    /// Attempts answered `503` before the sink answers as `ok` says.
    pub unavailable_first: Mutex<u32>,
}

impl Scripted {
    pub fn new(ok: bool) -> Arc<Scripted> {
        Scripted::flaky(ok, 0)
    }

    /// A sink that is unavailable for its first `n` attempts.
    pub fn flaky(ok: bool, n: u32) -> Arc<Scripted> {
        Arc::new(Scripted {
            ok,
            calls: Mutex::new(0),
            unavailable_first: Mutex::new(n),
        })
    }

    pub fn calls(&self) -> u32 {
        *self.calls.lock().unwrap()
    }
}

#[async_trait]
impl Sink for Scripted {
    fn kind(&self) -> &'static str {
        "scripted"
    }

    async fn deliver(&self, _: &Notification) -> Result<Receipt, SinkError> {
        *self.calls.lock().unwrap() += 1;
        let mut unavailable = self.unavailable_first.lock().unwrap();
        if *unavailable > 0 {
            *unavailable -= 1;
            return Err(SinkError::Unavailable {
                status: Some(503),
                retry_after: None,
                detail: "service_unavailable".into(),
            });
        }
        drop(unavailable);
        if self.ok {
            Ok(Receipt {
                status: Some(200),
                ..Receipt::default()
            })
        } else {
            Err(SinkError::Rejected {
                status: Some(400),
                detail: "invalid_payload".into(),
            })
        }
    }

    fn preview(&self, _: &Notification) -> Result<String, String> {
        Ok("preview".into())
    }
}

/// A config with the given sinks (all scripted) and routes, the admin token set.
pub fn config_text(sinks: &[&str], routes: &str) -> String {
    let mut text = format!("server:\n  admin_token: {ADMIN}\nsinks:\n");
    for sink in sinks {
        text.push_str(&format!("  {sink}: {{ type: scripted }}\n"));
    }
    text.push_str(routes);
    text
}

/// Parses a config text and builds its sinks from `bank` (by name).
pub fn load(text: &str, bank: &BTreeMap<String, Arc<Scripted>>) -> Result<Loaded, Vec<String>> {
    let (config, _) = Config::parse(
        text,
        "herald.yaml",
        &Env::from_pairs(Vec::<(String, String)>::new()),
    )
    .map_err(|e| e.errors.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    let sinks = config
        .sinks
        .iter()
        .map(|spec| {
            let sink: Arc<dyn Sink> = bank[&spec.name].clone();
            (spec.name.clone(), sink)
        })
        .collect();
    let sources = ["sentry", "metered"]
        .into_iter()
        .map(|name| {
            let source = SourceConfig {
                kind: Some("sentry".into()),
                client_secret: Some(Secret::new(SECRET)),
                legacy_token: None,
                max_skew_seconds: None,
                insecure: false,
            };
            let source: Arc<dyn herald_core::Source> = Arc::new(SentrySource::new(name, source));
            (name.to_owned(), source)
        })
        .collect();
    Ok(Loaded {
        config,
        sources,
        sinks,
    })
}

pub struct Setup {
    pub state: AppState,
    pub store: Arc<dyn Store>,
    /// The text the loader reads on a reload.
    pub text: Arc<Mutex<String>>,
    pub bank: BTreeMap<String, Arc<Scripted>>,
    _dir: TempDir,
}

/// A state over `text`, sinks named `ok*` succeed, `flaky*` answer `503` once and then
/// succeed, and all others are rejected.
pub async fn setup(text: &str, names: &[&str]) -> Setup {
    let bank: BTreeMap<String, Arc<Scripted>> = names
        .iter()
        .map(|n| {
            let sink = if n.starts_with("flaky") {
                Scripted::flaky(true, 1)
            } else {
                Scripted::new(n.starts_with("ok"))
            };
            ((*n).to_owned(), sink)
        })
        .collect();
    let loaded = load(text, &bank).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("herald.db").display());
    let store: Arc<dyn Store> = herald_store::open(&herald_core::config::StorageConfig {
        url,
        ..Default::default()
    })
    .await
    .unwrap();
    let shared = Arc::new(Mutex::new(text.to_owned()));
    let (reader, loader_bank) = (shared.clone(), bank.clone());
    let state = AppState::new(
        Arc::new(loaded.config),
        loaded.sources,
        loaded.sinks,
        store.clone(),
    )
    .with_source_kinds(kinds())
    .with_loader(Loader::new(move || {
        let text = reader.lock().unwrap().clone();
        load(&text, &loader_bank)
    }));
    Setup {
        state,
        store,
        text: shared,
        bank,
        _dir: dir,
    }
}

impl Setup {
    pub async fn send(&self, request: Request<Body>) -> (StatusCode, String) {
        let response = herald_server::routes(self.state.clone())
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    /// An admin API call with the right token; the answer parsed as JSON.
    pub async fn admin(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
    ) -> (StatusCode, serde_json::Value) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("Authorization", format!("Bearer {ADMIN}"))
            .body(Body::from(body))
            .unwrap();
        let (status, text) = self.send(request).await;
        let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
        (status, json)
    }

    /// Delivers everything due now, once.
    pub async fn deliver(&self) -> usize {
        self.state
            .dispatcher()
            .run_once(Timestamp::now())
            .await
            .unwrap()
    }
}

/// A signed event_alert for the source `source`.
pub fn alert(source: &str, title: &str, level: &str, request_id: &str) -> Request<Body> {
    let body = serde_json::json!({
        "action": "triggered",
        "data": {
            "event": { "title": title, "level": level, "project": 1, "url": "https://sentry.io/e/1/" },
            "triggered_rule": "errors"
        }
    })
    .to_string()
    .into_bytes();
    let signature = herald_sentry::sign(&Secret::new(SECRET), &body);
    Request::post(format!("/hooks/{source}"))
        .header("Content-Type", "application/json")
        .header("Sentry-Hook-Resource", "event_alert")
        .header("Sentry-Hook-Signature", signature)
        .header("Request-ID", request_id)
        .body(Body::from(body))
        .unwrap()
}

/// The source kinds the tests serve: Sentry's webhooks.
fn kinds() -> herald_core::SourceRegistry {
    let mut kinds = herald_core::SourceRegistry::new();
    kinds.register(SentryFactory);
    kinds
}
