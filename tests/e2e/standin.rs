//! A local stand-in for a webhook receiver, and a running `herald serve`, for the end-to-end
//! delivery tests. The stand-in records every request (time, path, idempotency key, the alert
//! id carried in the alert's tags) and answers as each test scripts it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

/// One request the stand-in received.
#[derive(Clone, Debug)]
pub struct Hit {
    pub at: Instant,
    pub key: String,
    pub alert_id: Option<String>,
}

/// How the stand-in answers: given the request and how many earlier requests carried the same
/// idempotency key, a status and optional `Retry-After`.
pub type Script = dyn Fn(&Hit, usize) -> (u16, Option<&'static str>) + Send + Sync;

#[derive(Clone)]
struct Shared {
    hits: Arc<Mutex<Vec<Hit>>>,
    script: Arc<Mutex<Arc<Script>>>,
}

pub struct StandIn {
    pub addr: SocketAddr,
    shared: Shared,
}

impl StandIn {
    /// Starts a receiver on 127.0.0.1, port chosen by the system, answering 200 until told otherwise.
    pub async fn start() -> StandIn {
        let shared = Shared {
            hits: Arc::default(),
            script: Arc::new(Mutex::new(Arc::new(|_: &Hit, _| (200, None)))),
        };
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        StandIn { addr, shared }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn script(
        &self,
        f: impl Fn(&Hit, usize) -> (u16, Option<&'static str>) + Send + Sync + 'static,
    ) {
        *self.shared.script.lock().unwrap() = Arc::new(f);
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.shared.hits.lock().unwrap().clone()
    }

    /// The distinct alert ids received so far.
    pub fn alert_ids(&self) -> BTreeSet<String> {
        self.hits().into_iter().filter_map(|h| h.alert_id).collect()
    }

    /// Requests grouped by idempotency key, in arrival order.
    pub fn by_key(&self) -> BTreeMap<String, Vec<Hit>> {
        let mut map: BTreeMap<String, Vec<Hit>> = BTreeMap::new();
        for h in self.hits() {
            map.entry(h.key.clone()).or_default().push(h);
        }
        map
    }
}

async fn receive(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let hit = Hit {
        at: Instant::now(),
        key: headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        alert_id: body["alert"]["tags"]["alert_id"]
            .as_str()
            .map(str::to_owned),
    };
    let (status, retry_after) = {
        let mut hits = shared.hits.lock().unwrap();
        let earlier = hits.iter().filter(|h| h.key == hit.key).count();
        let script = shared.script.lock().unwrap().clone();
        let answer = script(&hit, earlier);
        hits.push(hit);
        answer
    };
    let status = StatusCode::from_u16(status).unwrap();
    match retry_after {
        Some(s) => (status, [("retry-after", s)], "").into_response(),
        None => (status, "").into_response(),
    }
}

/// Polls `done` every 20 ms until it holds or `limit` passes; returns whether it held.
pub async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        tick.tick().await;
        if done() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
    }
}

/// Like [`wait_until`] for a check that must itself wait (an HTTP call, a CLI run): polls
/// every 20 ms until it holds or `limit` passes; returns whether it held.
pub async fn poll_until<F, Fut>(limit: Duration, mut done: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        tick.tick().await;
        if done().await {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
    }
}

pub const SECRET: &str = "e2e-client-secret";

/// A config with one Sentry source and one webhook sink `hook` at `url`, catching everything.
pub fn config(url: &str, extra_sink_settings: &str) -> String {
    format!(
        "server:\n  shutdown_grace_seconds: 5\nstorage:\n  url: \"sqlite://data/herald.db\"\nsources:\n  sentry: {{ type: sentry, client_secret: \"{SECRET}\", max_skew_seconds: 300 }}\nsinks:\n  hook: {{ type: webhook, url: \"{url}\"{extra_sink_settings} }}\nroutes:\n  - name: all\n    sinks: [hook]\n"
    )
}

/// A running `herald serve` in its own folder, its log written to `herald.log` there.
pub struct Herald {
    pub dir: PathBuf,
    pub port: u16,
    child: Option<Child>,
    /// Added to `herald serve`'s arguments and environment.
    args: Vec<String>,
    /// A program that runs herald (with herald's path and arguments after its own), such as
    /// `prlimit --nofile=256 --`; empty: herald itself.
    runner: Vec<String>,
    env: Vec<(String, String)>,
}

impl Herald {
    /// Writes the config into `dir` and starts herald there; waits until `/readyz` answers.
    pub async fn start(dir: &Path, config: &str) -> Herald {
        Herald::start_with(dir, config, &[], &[]).await
    }

    /// [`Herald::start`] with more arguments for `herald serve` and more environment variables
    /// (which override the default `RUST_LOG=info`).
    pub async fn start_with(
        dir: &Path,
        config: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Herald {
        Herald::launch(dir, config, &[], args, env).await
    }

    /// [`Herald::start`] under `runner` (a program and its arguments, herald's command line
    /// appended), e.g. `["prlimit", "--nofile=256", "--"]`.
    pub async fn start_under(dir: &Path, config: &str, runner: &[&str]) -> Herald {
        Herald::launch(dir, config, runner, &[], &[]).await
    }

    async fn launch(
        dir: &Path,
        config: &str,
        runner: &[&str],
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Herald {
        std::fs::write(dir.join("herald.yaml"), config).unwrap();
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let owned = |v: &[&str]| v.iter().map(|a| (*a).to_owned()).collect();
        let mut h = Herald {
            dir: dir.to_owned(),
            port,
            child: None,
            runner: owned(runner),
            args: owned(args),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        h.spawn().await;
        h
    }

    /// `GET path` on herald's admin API with `token`, read as JSON.
    pub async fn admin_json(&self, path: &str, token: &str) -> serde_json::Value {
        reqwest::Client::new()
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The running herald's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("herald is running").id()
    }

    async fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("herald.log"))
            .unwrap();
        let herald = env!("CARGO_BIN_EXE_herald");
        let mut command = match self.runner.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(herald);
                c
            }
            None => Command::new(herald),
        };
        let child = command
            .args(["serve", "--config", "herald.yaml", "--listen"])
            .arg(format!("127.0.0.1:{}", self.port))
            .current_dir(&self.dir)
            .env("RUST_LOG", "info")
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("herald serve starts");
        self.child = Some(child);
        let url = self.url("/readyz");
        let client = reqwest::Client::new();
        let start = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            tick.tick().await;
            if let Ok(r) = client.get(&url).send().await
                && r.status().is_success()
            {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "herald exited with {status} before it was ready; log:\n{}",
                    self.log()
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "herald not ready in 30 s; log:\n{}",
                self.log()
            );
        }
    }

    /// Starts herald again on the same folder (same store) and port.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "stop or kill herald first");
        self.spawn().await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("herald.log")).unwrap_or_default()
    }

    /// Sends a signal by name (`HUP`, `TERM`) to the running herald.
    pub fn signal(&self, name: &str) {
        let child = self.child.as_ref().expect("herald is running");
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(ok.success(), "kill -{name} failed");
    }

    /// `kill -9`: no chance to clean up.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// SIGTERM, then waits (bounded) for the exit status.
    pub fn terminate(&mut self, limit: Duration) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        let ok = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if start.elapsed() > limit {
                child.kill().unwrap();
                panic!("herald did not exit within {limit:?} of SIGTERM");
            }
            // Bounded poll of the exit status; the child gives no other signal to wait on.
            std::thread::park_timeout(Duration::from_millis(20));
        }
    }
}

impl Drop for Herald {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Posts a body to `/hooks/sentry` signed as Sentry signs it.
pub async fn post_signed(
    client: &reqwest::Client,
    herald: &Herald,
    resource: Option<&str>,
    body: &[u8],
) -> reqwest::Result<reqwest::Response> {
    let secret = herald_core::Secret::new(SECRET);
    let mut req = client
        .post(herald.url("/hooks/sentry"))
        .header("content-type", "application/json")
        .header("request-id", uuid::Uuid::new_v4().simple().to_string())
        .header(
            "sentry-hook-timestamp",
            jiff::Timestamp::now().as_second().to_string(),
        )
        .header("sentry-hook-signature", herald_sentry::sign(&secret, body));
    if let Some(r) = resource {
        req = req.header("sentry-hook-resource", r);
    }
    req.body(body.to_vec()).send().await
}

/// A compact `event_alert` payload for `payments-api` carrying `alert_id` as a tag.
pub fn event_alert(alert_id: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "action": "triggered",
        "installation": {"uuid": "5f0c2b7e-9a41-4d1e-8c3a-2b7d6e1f0a93"},
        "data": {
            "event": {
                "event_id": uuid::Uuid::new_v4().simple().to_string(),
                "issue_id": "4410021",
                "project": 4505,
                "level": "error",
                "title": "CardDeclinedError: issuer declined the charge",
                "culprit": "payments.charge in capture_payment",
                "environment": "production",
                "tags": [["team", "payments"], ["alert_id", alert_id]],
                "url": "https://sentry.io/api/0/projects/acme/payments-api/events/1/",
                "web_url": "https://sentry.io/organizations/acme/issues/4410021/events/1/"
            },
            "triggered_rule": "payments: new errors"
        },
        "actor": {"type": "application", "id": "sentry", "name": "Sentry"}
    }))
    .unwrap()
}

/// A Slack Web API stand-in for bot-mode sinks: records `(path, body)` of every call and
/// answers `ok` with a new `ts` each time and a channel id for the channel asked for (an id as
/// it is, a `#name` as `C` and its letters in capitals: `#alerts-payments` is `CALERTSPAYMENTS`),
/// as Slack answers with the id whatever name was sent.
pub struct SlackStandIn {
    /// The Web API base to configure as `api_base`.
    pub api: String,
    seen: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
}

impl SlackStandIn {
    pub async fn start() -> SlackStandIn {
        let seen: Arc<Mutex<Vec<(String, serde_json::Value)>>> = Arc::default();
        let app = {
            let seen = seen.clone();
            axum::Router::new().fallback(move |uri: axum::http::Uri, body: Bytes| {
                let seen = seen.clone();
                async move {
                    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                    let asked = body["channel"].as_str().unwrap_or_default();
                    let channel = if asked.starts_with('C') {
                        asked.to_owned()
                    } else {
                        let letters: String = asked
                            .chars()
                            .filter(char::is_ascii_alphanumeric)
                            .map(|c| c.to_ascii_uppercase())
                            .collect();
                        format!("C{letters}")
                    };
                    let mut seen = seen.lock().unwrap();
                    let ts = format!("1700000000.{:06}", seen.len() + 1);
                    seen.push((uri.path().to_owned(), body));
                    axum::Json(serde_json::json!({"ok": true, "channel": channel, "ts": ts}))
                }
            })
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        SlackStandIn {
            api: format!("http://{addr}/api"),
            seen,
        }
    }

    /// Every call so far: the path (`/api/chat.postMessage`, `/api/chat.update`) and the body.
    pub fn seen(&self) -> Vec<(String, serde_json::Value)> {
        self.seen.lock().unwrap().clone()
    }
}
