//! The SDK source end to end, with the real SDKs: an unchanged sentry-python Flask app (its
//! `before_send` dropping HTTP errors below 500, the logging integration at `WARNING`) and the
//! Rust `sentry` crate report to a running `herald serve` through the DSN `herald dsn`
//! prints; their events arrive at a Slack stand-in by the YAML routes, grouped into issues
//! (`created` once, then `event`, counted by the store), and compressed, oversized,
//! malformed, wrong-key and rate-limited requests get the answers SDKs understand.

use std::io::Write;
use std::time::Duration;

use serde_json::Value;

use crate::standin::{Herald, SlackStandIn, poll_until};
use crate::support::{herald, stdout};

const TOKEN: &str = "e2e-admin-token";
const KEY: &str = "0123456789abcdef0123456789abcdef";
const LIMITED_KEY: &str = "fedcba9876543210fedcba9876543210";

fn config(slack_api: &str) -> String {
    format!(
        "server:\n  shutdown_grace_seconds: 5\n  admin_token: \"{TOKEN}\"\nstorage:\n  url: \"sqlite://data/herald.db\"\nsources:\n  apps:\n    type: sentry_sdk\n    projects:\n      shop: {{ id: 42, public_key: \"{KEY}\" }}\n      limited: {{ id: 43, public_key: \"{LIMITED_KEY}\", rate_limit_per_minute: 2 }}\nsinks:\n  alerts: {{ type: slack, token: xoxb-test, api_base: \"{slack_api}\", channel: \"#alerts\" }}\n  payments: {{ type: slack, token: xoxb-test, api_base: \"{slack_api}\", channel: \"#payments\" }}\nroutes:\n  - name: payments\n    match: {{ tags: {{ team: payments }} }}\n    sinks: [payments]\n  - name: all\n    sinks: [alerts]\n    dedup_seconds: 3600\n"
    )
}

/// The DSN of a project as `herald dsn` prints it for `base`.
fn dsn(dir: &std::path::Path, base: &str, project: &str) -> String {
    let out = herald(&[
        "dsn",
        "--config",
        dir.join("herald.yaml").to_str().unwrap(),
        "--base-url",
        base,
    ]);
    assert!(out.status.success(), "{out:?}");
    stdout(&out)
        .lines()
        .find_map(|l| l.strip_prefix(&format!("apps/{project} ")))
        .unwrap_or_else(|| panic!("no DSN of {project} in {}", stdout(&out)))
        .to_owned()
}

async fn alerts(h: &Herald) -> Vec<Value> {
    let body: Value = reqwest::Client::new()
        .get(h.url("/api/v1/alerts?source=apps&limit=500"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["items"].as_array().cloned().unwrap_or_default()
}

/// The source's stored alerts once there are at least `n`, polled for at most 20 s.
async fn alerts_at_least(h: &Herald, n: usize) -> Vec<Value> {
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    for _ in 0..400 {
        tick.tick().await;
        let stored = alerts(h).await;
        if stored.len() >= n {
            return stored;
        }
    }
    panic!(
        "fewer than {n} alerts stored after 20 s: {:#?}\n{}",
        alerts(h).await,
        h.log()
    )
}

fn titled<'a>(alerts: &'a [Value], prefix: &str) -> Vec<&'a Value> {
    alerts
        .iter()
        .filter(|a| {
            a["alert"]["title"]
                .as_str()
                .is_some_and(|t| t.starts_with(prefix))
        })
        .collect()
}

/// The Slack messages posted to `channel` (chat.postMessage calls).
fn posted(slack: &SlackStandIn, channel: &str) -> Vec<String> {
    slack
        .seen()
        .into_iter()
        .filter(|(path, body)| path.ends_with("chat.postMessage") && body["channel"] == channel)
        .map(|(_, body)| body.to_string())
        .collect()
}

const FLASK_APP: &str = r#"
import logging, sys
import sentry_sdk
from flask import Flask, abort
from sentry_sdk.integrations.flask import FlaskIntegration
from sentry_sdk.integrations.logging import LoggingIntegration
from werkzeug.exceptions import HTTPException, NotFound

def before_send(event, hint):
    # The common recipe: HTTP errors below 500 are the client's, not the app's.
    exc = hint.get("exc_info", (None, None, None))[1]
    if isinstance(exc, HTTPException) and (exc.code or 500) < 500:
        return None
    return event

sentry_sdk.init(
    dsn=sys.argv[1],
    before_send=before_send,
    integrations=[FlaskIntegration(), LoggingIntegration(level=logging.INFO, event_level=logging.WARNING)],
)

app = Flask(__name__)

@app.route("/checkout")
def checkout():
    cart = {}
    return cart["user"]

@app.route("/missing")
def missing():
    abort(404)

@app.route("/same")
def same():
    raise ValueError("the same failure")

@app.route("/pay")
def pay():
    sentry_sdk.set_tag("team", "payments")
    raise RuntimeError("card declined by the processor")

client = app.test_client()
client.get("/checkout")
logging.warning("disk almost full on %s", "db1")
logging.info("a routine info line")
client.get("/missing")
try:
    abort(404)
except NotFound as e:
    sentry_sdk.capture_exception(e)
for _ in range(50):
    client.get("/same")
client.get("/pay")
sentry_sdk.flush(timeout=20)
print("flushed")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flask_app_reports_through_its_dsn_and_its_errors_arrive_grouped_by_the_routes() {
    let slack = SlackStandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let h = Herald::start(dir.path(), &config(&slack.api)).await;
    let dsn = dsn(dir.path(), &h.url(""), "shop");
    assert_eq!(dsn, format!("http://{KEY}@127.0.0.1:{}/42", h.port));
    std::fs::write(dir.path().join("app.py"), FLASK_APP).unwrap();
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let app = dir.path().join("app.py");
    let run = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(app)
            .arg(&dsn)
            .output()
    })
    .await
    .unwrap()
    .expect("python runs (scripts/test installs sentry-sdk and flask)");
    assert!(
        run.status.success() && String::from_utf8_lossy(&run.stdout).contains("flushed"),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    // 1 KeyError + 1 warning + 50 of the same + 1 payments error; the info line and the 404s
    // are not sent (or not stored).
    let stored = alerts_at_least(&h, 53).await;
    assert_eq!(stored.len(), 53, "{stored:#?}");
    assert!(titled(&stored, "NotFound").is_empty());
    assert!(titled(&stored, "a routine info line").is_empty());

    let [key_error] = titled(&stored, "KeyError: ")[..] else {
        panic!("one KeyError alert: {stored:#?}")
    };
    assert_eq!(key_error["alert"]["title"], "KeyError: 'user'");
    assert_eq!(key_error["alert"]["culprit"], "checkout");
    assert_eq!(key_error["alert"]["level"], "error");
    assert_eq!(key_error["alert"]["project"], "shop");
    assert_eq!(key_error["alert"]["action"], "created");

    let [warning] = titled(&stored, "disk almost full")[..] else {
        panic!("one warning alert: {stored:#?}")
    };
    assert_eq!(warning["alert"]["level"], "warning");
    assert_eq!(warning["alert"]["title"], "disk almost full on db1");

    // The same error 50 times: one issue, created once.
    let same = titled(&stored, "ValueError: the same failure");
    assert_eq!(same.len(), 50);
    let issue = same[0]["alert"]["issue_id"].as_str().unwrap().to_owned();
    assert!(
        same.iter()
            .all(|a| a["alert"]["issue_id"] == issue.as_str())
    );
    let created = same
        .iter()
        .filter(|a| a["alert"]["action"] == "created")
        .count();
    let later = same
        .iter()
        .filter(|a| a["alert"]["action"] == "event")
        .count();
    assert_eq!((created, later), (1, 49));
    let record: Value = h
        .admin_json(&format!("/api/v1/issues/apps/{issue}"), TOKEN)
        .await;
    assert_eq!(record["events"], 50, "{record}");
    assert!(record["first_seen"].as_str() <= record["last_seen"].as_str());

    // Slack: one message per issue on the dedup route, the payments error on its own channel.
    assert!(
        poll_until(Duration::from_secs(20), || async {
            posted(&slack, "#alerts").len() >= 3 && !posted(&slack, "#payments").is_empty()
        })
        .await,
        "{:#?}",
        slack.seen()
    );
    let alerts_channel = posted(&slack, "#alerts");
    assert_eq!(alerts_channel.len(), 3, "{alerts_channel:#?}");
    let key_error_msgs: Vec<_> = alerts_channel
        .iter()
        .filter(|m| m.contains("KeyError: 'user'"))
        .collect();
    assert_eq!(key_error_msgs.len(), 1);
    assert!(
        key_error_msgs[0].contains("checkout"),
        "{}",
        key_error_msgs[0]
    );
    assert_eq!(
        alerts_channel
            .iter()
            .filter(|m| m.contains("the same failure"))
            .count(),
        1
    );
    let payments = posted(&slack, "#payments");
    assert_eq!(payments.len(), 1);
    assert!(payments[0].contains("card declined"), "{}", payments[0]);
}

/// An application's error, as the `sentry` crate reports it: the type from its `Debug`.
#[derive(Debug)]
struct LedgerLocked;

impl std::fmt::Display for LedgerLocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the ledger is locked")
    }
}

impl std::error::Error for LedgerLocked {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_sentry_crate_sends_an_error_and_a_message_and_both_arrive() {
    let slack = SlackStandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let h = Herald::start(dir.path(), &config(&slack.api)).await;
    let dsn = dsn(dir.path(), &h.url(""), "shop");
    tokio::task::spawn_blocking(move || {
        let mut options = sentry::ClientOptions::default();
        options.release = Some("shop@1.2.3".into());
        options.environment = Some("production".into());
        options.dsn = Some(dsn.parse().expect("a DSN"));
        // What `sentry::init` does: the default transport (reqwest) and integrations.
        let options = sentry::apply_defaults(options);
        let client = std::sync::Arc::new(sentry::Client::from_config(options));
        let hub = sentry::Hub::new(Some(client.clone()), Default::default());
        hub.capture_error(&LedgerLocked);
        hub.capture_message("nightly export finished late", sentry::Level::Warning);
        assert!(client.close(Some(Duration::from_secs(10))), "flushed");
    })
    .await
    .unwrap();
    let stored = alerts_at_least(&h, 2).await;
    let error = titled(&stored, "LedgerLocked: the ledger is locked");
    let message = titled(&stored, "nightly export finished late");
    assert_eq!((error.len(), message.len()), (1, 1), "{stored:#?}");
    assert_eq!(error[0]["alert"]["level"], "error");
    assert_eq!(error[0]["alert"]["release"], "shop@1.2.3");
    assert_eq!(error[0]["alert"]["environment"], "production");
    assert_eq!(message[0]["alert"]["level"], "warning");
    assert!(
        poll_until(Duration::from_secs(20), || async {
            posted(&slack, "#alerts").len() >= 2
        })
        .await
    );
}

fn envelope(message: &str) -> Vec<u8> {
    let event = serde_json::json!({"message": message, "level": "error"}).to_string();
    format!(
        "{{}}\n{{\"type\":\"event\",\"length\":{}}}\n{event}\n{{\"type\":\"session\"}}\n{{}}\n",
        event.len()
    )
    .into_bytes()
}

fn auth(key: &str) -> String {
    format!("Sentry sentry_key={key}, sentry_version=7, sentry_client=e2e/1.0")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_oversized_malformed_wrong_key_and_rate_limited_requests_get_their_answers() {
    let slack = SlackStandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let h = Herald::start(dir.path(), &config(&slack.api)).await;
    let client = reqwest::Client::new();
    let post = |project: u32, key: &str, encoding: Option<&str>, body: Vec<u8>| {
        let mut request = client
            .post(h.url(&format!("/api/{project}/envelope/")))
            .header("x-sentry-auth", auth(key))
            .body(body);
        if let Some(encoding) = encoding {
            request = request.header("content-encoding", encoding);
        }
        request.send()
    };

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&envelope("gzip arrived")).unwrap();
    let answer = post(42, KEY, Some("gzip"), gz.finish().unwrap())
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["access-control-allow-origin"], "*");
    let id = answer.json::<Value>().await.unwrap()["id"].clone();
    assert_eq!(id.as_str().map(str::len), Some(32), "{id}");

    let mut br = Vec::new();
    brotli::CompressorWriter::new(&mut br, 4096, 5, 22)
        .write_all(&envelope("brotli arrived"))
        .unwrap();
    let answer = post(42, KEY, Some("br"), br).await.unwrap();
    assert_eq!(answer.status(), 200);

    // 30 MiB of zeros compress to a few KiB: refused after decompression, without storing.
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..30 {
        bomb.write_all(&zeros).unwrap();
    }
    let answer = post(42, KEY, Some("gzip"), bomb.finish().unwrap())
        .await
        .unwrap();
    assert_eq!(answer.status(), 413);
    // A body over 20 MiB as sent is refused by its announced length, before herald reads it
    // (so the request is written by hand: a client still sending would see the close first).
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", h.port))
        .await
        .unwrap();
    let head = format!(
        "POST /api/42/envelope/ HTTP/1.1\r\nHost: herald\r\nX-Sentry-Auth: {}\r\nContent-Length: {}\r\n\r\n",
        auth(KEY),
        21 * 1024 * 1024
    );
    tokio::io::AsyncWriteExt::write_all(&mut stream, head.as_bytes())
        .await
        .unwrap();
    let mut answer = vec![0u8; 1024];
    let n = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::AsyncReadExt::read(&mut stream, &mut answer),
    )
    .await
    .expect("answered before the body")
    .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    let answer = post(42, KEY, None, b"not an envelope\n".to_vec())
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let detail = answer.json::<Value>().await.unwrap()["detail"].clone();
    assert!(
        detail.as_str().unwrap().contains("envelope header"),
        "{detail}"
    );

    let answer = post(42, LIMITED_KEY, None, envelope("wrong key"))
        .await
        .unwrap();
    assert_eq!(answer.status(), 403);
    let answer = post(99, KEY, None, envelope("unknown project"))
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);

    for n in 0..2 {
        let answer = post(43, LIMITED_KEY, None, envelope(&format!("limited {n}")))
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    let answer = post(43, LIMITED_KEY, None, envelope("limited 2"))
        .await
        .unwrap();
    assert_eq!(answer.status(), 429);
    let retry: u64 = answer.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    assert_eq!(
        answer.headers()["x-sentry-rate-limits"],
        format!("{retry}:error;default:project:project_quota").as_str()
    );

    let preflight = client
        .request(reqwest::Method::OPTIONS, h.url("/api/42/envelope/"))
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    assert!(
        preflight.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("x-sentry-auth")
    );

    // Only what was accepted is stored: gzip, brotli and the two within the limit.
    let mut titles: Vec<String> = alerts(&h)
        .await
        .iter()
        .map(|a| a["alert"]["title"].as_str().unwrap().to_owned())
        .collect();
    titles.sort();
    assert_eq!(
        titles,
        ["brotli arrived", "gzip arrived", "limited 0", "limited 1"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_route_reads_an_sdk_envelope_and_check_refuses_a_repeated_project_id() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("herald.yaml");
    std::fs::write(&config_path, config("http://127.0.0.1:9/api")).unwrap();
    let envelope_path = dir.path().join("event.envelope");
    std::fs::write(&envelope_path, envelope("checkout failed")).unwrap();
    let out = herald(&[
        "route",
        "--config",
        config_path.to_str().unwrap(),
        envelope_path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.contains("checkout failed") && text.contains("all"),
        "{text}"
    );

    let repeated = config("http://127.0.0.1:9/api").replace(
        "sinks:\n",
        &format!("  more:\n    type: sentry_sdk\n    projects:\n      other: {{ id: 42, public_key: \"{LIMITED_KEY}\" }}\nsinks:\n"),
    );
    std::fs::write(&config_path, repeated).unwrap();
    let out = herald(&["check", "--config", config_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = crate::support::stderr(&out);
    assert!(
        err.contains("herald.yaml:") && err.contains("has id 42, which project \"shop\""),
        "{err}"
    );
}

/// How many deliveries to `sink` the flood guard folded, from the admin API's held-back list.
async fn flooded(h: &Herald, sink: &str) -> u64 {
    let client = reqwest::Client::new();
    let mut count = 0;
    let mut cursor = String::new();
    for _ in 0..100 {
        let page: Value = client
            .get(h.url(&format!(
                "/api/v1/held-back?outcome=flooded&sink={sink}&limit=500{cursor}"
            )))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        count += page["items"].as_array().map_or(0, Vec::len) as u64;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_distinct_errors_in_a_minute_reach_slack_as_the_flood_guards_twenty_messages()
{
    let slack = SlackStandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    // No noise settings on the route and no `flood_guard:` on the sink: the default guard
    // (20 messages a minute for a Slack sink) is all that stands between a crash loop and
    // the channel.
    let config = format!(
        "server:\n  shutdown_grace_seconds: 5\n  admin_token: \"{TOKEN}\"\nstorage:\n  url: \"sqlite://data/herald.db\"\nsources:\n  apps:\n    type: sentry_sdk\n    projects:\n      shop: {{ id: 42, public_key: \"{KEY}\" }}\nsinks:\n  alerts: {{ type: slack, token: xoxb-test, api_base: \"{}\", channel: \"#alerts\" }}\nroutes:\n  - name: all\n    sinks: [alerts]\n",
        slack.api
    );
    let h = Herald::start(dir.path(), &config).await;
    let client = reqwest::Client::new();
    const EVENTS: usize = 2_000;
    let mut senders = Vec::new();
    for worker in 0..8 {
        let client = client.clone();
        let url = h.url("/api/42/envelope/");
        senders.push(tokio::spawn(async move {
            for i in (worker..EVENTS).step_by(8) {
                // A fingerprint of its own: 2,000 distinct issues, so dedup folds none.
                let event = serde_json::json!({
                    "level": "error",
                    "fingerprint": [format!("crash-{i}")],
                    "exception": {"values": [{"type": "KeyError", "value": format!("'user-{i}'")}]},
                })
                .to_string();
                let body = format!(
                    "{{}}\n{{\"type\":\"event\",\"length\":{}}}\n{event}\n",
                    event.len()
                );
                let answer = client
                    .post(&url)
                    .header("x-sentry-auth", auth(KEY))
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(answer.status(), 200, "event {i}");
            }
        }));
    }
    for sender in senders {
        sender.await.unwrap();
    }
    // Every event is decided: 20 sent, one held as the minute's summary, the rest folded
    // into it (recorded, not dropped).
    let all_decided = poll_until(Duration::from_secs(60), || async {
        flooded(&h, "alerts").await == (EVENTS - 21) as u64
    })
    .await;
    assert!(
        all_decided,
        "flooded: {}; log:\n{}",
        flooded(&h, "alerts").await,
        h.log()
    );
    let twenty = poll_until(Duration::from_secs(40), || async {
        posted(&slack, "#alerts").len() >= 20
    })
    .await;
    assert!(twenty, "posted {}", posted(&slack, "#alerts").len());
    assert_eq!(
        posted(&slack, "#alerts").len(),
        20,
        "the guard's 20 and nothing more before the minute ends"
    );
    let pending: Value = client
        .get(h.url("/api/v1/deliveries?status=pending&limit=10"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pending = pending["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(pending.len(), 1, "only the summary waits: {pending:?}");
}
