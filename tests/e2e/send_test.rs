//! `herald send-test`, and through it the conformance check every registered sink type must
//! pass: pointed at a local stand-in that answers like the real provider, it delivers and
//! prints the provider's answer; pointed at one that is down, it fails and says herald would
//! retry. A sink type that `herald check` lists but this file does not cover fails the test.

use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::support::{herald, stderr, stdout};

/// One request the provider stand-in received.
#[derive(Clone, Debug)]
struct Seen {
    path: String,
    auth: String,
    body: String,
}

#[derive(Clone, Default)]
struct Provider {
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// Answers like Slack, LINE, LINE Notify and a webhook receiver, by path. Paths under
/// `/down/` answer 503 as a provider having an outage does.
async fn provider(
    State(p): State<Provider>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    p.seen.lock().unwrap().push(Seen {
        path: path.clone(),
        auth: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let json = [("content-type", "application/json")];
    if path.starts_with("/down/") {
        return (StatusCode::SERVICE_UNAVAILABLE, "upstream unavailable").into_response();
    }
    match path.as_str() {
        "/slack/webhook" => (StatusCode::OK, "ok").into_response(),
        "/slack/api/chat.postMessage" => (
            StatusCode::OK,
            json,
            r#"{"ok":true,"channel":"C024BE91L","ts":"1700000000.000100","message":{"text":"x"}}"#,
        )
            .into_response(),
        "/line/v2/bot/message/push" => (
            StatusCode::OK,
            json,
            r#"{"sentMessages":[{"id":"461230966842064897","quoteToken":"IStG5h1Tz7b"}]}"#,
        )
            .into_response(),
        "/notify/api/notify" => {
            (StatusCode::OK, json, r#"{"status":200,"message":"ok"}"#).into_response()
        }
        "/hook" => (StatusCode::OK, json, r#"{"received":true}"#).into_response(),
        _ => (StatusCode::NOT_FOUND, "no such path").into_response(),
    }
}

async fn start_provider() -> (String, Provider) {
    let p = Provider::default();
    let app = axum::Router::new().fallback(provider).with_state(p.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, p)
}

/// A real SMTP server (Python's aiosmtpd, which `scripts/test` installs) printing what it gets.
struct Smtp {
    port: u16,
    child: Child,
}

impl Smtp {
    fn start() -> Smtp {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args([
                "-u",
                "-m",
                "aiosmtpd",
                "-n",
                "-c",
                "aiosmtpd.handlers.Debugging",
                "-l",
            ])
            .arg(format!("127.0.0.1:{port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs (scripts/test says how to get it)");
        // Ready when it accepts connections; bounded.
        let mut child = child;
        let start = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                child.try_wait().unwrap().is_none(),
                "python3 -m aiosmtpd exited: run scripts/test, which installs aiosmtpd"
            );
            assert!(start.elapsed().as_secs() < 20, "aiosmtpd did not start");
            std::thread::park_timeout(std::time::Duration::from_millis(20));
        }
        Smtp { port, child }
    }

    /// Stops the server and returns everything it printed (the messages it received).
    fn finish(mut self) -> String {
        let _ = self.child.kill();
        let mut out = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let _ = self.child.wait();
        out
    }
}

const TOKEN: &str = "conformance-secret-token";

/// Sink settings per type, pointed at the stand-ins (`{base}` and `{smtp}` are filled in).
fn sink_configs() -> BTreeMap<&'static str, Vec<(&'static str, String)>> {
    let mut m = BTreeMap::new();
    m.insert("log", vec![("console", "{ type: log }".to_owned())]);
    m.insert(
        "slack",
        vec![
            ("slack-hook", "{ type: slack, webhook_url: \"{base}/slack/webhook\" }".to_owned()),
            (
                "slack-bot",
                format!("{{ type: slack, token: \"{TOKEN}\", channel: \"#alerts-{{{{ tags.team }}}}\", allowed: [\"#alerts-herald\"], api_base: \"{{base}}/slack/api\" }}"),
            ),
        ],
    );
    m.insert(
        "line",
        vec![(
            "line-push",
            format!("{{ type: line, channel_access_token: \"{TOKEN}\", to: \"Cabcdef0123456789abcdef0123456789\", api_base: \"{{base}}/line\" }}"),
        )],
    );
    m.insert(
        "line_notify",
        vec![(
            "line-notify",
            format!("{{ type: line_notify, token: \"{TOKEN}\", api_base: \"{{base}}/notify\" }}"),
        )],
    );
    m.insert(
        "webhook",
        vec![(
            "hook",
            format!("{{ type: webhook, url: \"{{base}}/hook\", secret: \"{TOKEN}\" }}"),
        )],
    );
    m.insert(
        "email",
        vec![(
            "mail",
            "{ type: email, host: 127.0.0.1, port: {smtp}, tls: none, from: herald@example.com, to: [oncall@example.com] }".to_owned(),
        )],
    );
    m
}

fn write_config(dir: &std::path::Path, base: &str, smtp: u16) -> std::path::PathBuf {
    // `herald check` reads this config too, and a config it calls valid has a source.
    let mut text =
        String::from("sources: { sentry: { type: sentry, client_secret: stand-in } }\nsinks:\n");
    for sinks in sink_configs().values() {
        for (name, settings) in sinks {
            let s = settings
                .replace("{base}", base)
                .replace("{smtp}", &smtp.to_string());
            text.push_str(&format!("  {name}: {s}\n"));
        }
    }
    let path = dir.join("herald.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_registered_sink_type_delivers_a_test_notification_to_its_stand_in() {
    let (base, seen) = start_provider().await;
    let smtp = Smtp::start();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &base, smtp.port);
    let config = config.to_str().unwrap();

    // The registered types, as `herald check` lists them; each must be covered here.
    let check = herald(&["check", "--config", config]);
    assert!(check.status.success(), "{}", stderr(&check));
    let types: Vec<String> = stdout(&check)
        .lines()
        .find_map(|l| l.strip_prefix("sink types available: "))
        .expect("check lists the sink types")
        .split(", ")
        .map(str::to_owned)
        .collect();
    let covered = sink_configs();
    for t in &types {
        assert!(
            covered.contains_key(t.as_str()),
            "sink type \"{t}\" has no conformance case"
        );
    }

    let mut outputs = BTreeMap::new();
    for (name, _) in covered.values().flatten() {
        let out = tokio::task::spawn_blocking({
            let config = config.to_owned();
            let name = name.to_string();
            move || herald(&["send-test", "--config", &config, &name])
        })
        .await
        .unwrap();
        assert!(
            out.status.success(),
            "send-test {name}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        assert!(
            stdout(&out).contains("delivered"),
            "{name}: {}",
            stdout(&out)
        );
        // No secret reaches the output.
        assert!(
            !stdout(&out).contains(TOKEN) && !stderr(&out).contains(TOKEN),
            "{name} leaked the token"
        );
        outputs.insert(*name, stdout(&out));
    }
    // The log sink shows the line it wrote, which the one-shot command's log level hides.
    assert!(
        outputs["console"].contains(
            r#"response: logged at info: [error] herald-send-test: "herald test notification: this sink works""#
        ),
        "{}",
        outputs["console"]
    );
    assert!(
        outputs["slack-bot"].contains("message id: 1700000000.000100"),
        "{}",
        outputs["slack-bot"]
    );
    assert!(
        outputs["slack-bot"].contains("channel: C024BE91L"),
        "{}",
        outputs["slack-bot"]
    );

    let seen = seen.seen.lock().unwrap().clone();
    let by_path = |p: &str| {
        seen.iter()
            .find(|s| s.path == p)
            .cloned()
            .unwrap_or_else(|| panic!("nothing at {p}: {seen:?}"))
    };
    assert!(
        by_path("/slack/webhook")
            .body
            .contains("herald test notification")
    );
    let bot = by_path("/slack/api/chat.postMessage");
    assert_eq!(bot.auth, format!("Bearer {TOKEN}"));
    assert!(
        bot.body.contains("\"channel\":\"#alerts-herald\""),
        "{}",
        bot.body
    );
    assert_eq!(
        by_path("/line/v2/bot/message/push").auth,
        format!("Bearer {TOKEN}")
    );
    assert_eq!(
        by_path("/notify/api/notify").auth,
        format!("Bearer {TOKEN}")
    );
    let hook: serde_json::Value = serde_json::from_str(&by_path("/hook").body).unwrap();
    assert_eq!(
        hook["alert"]["title"],
        "herald test notification: this sink works"
    );

    let mail = smtp.finish();
    assert!(
        mail.contains("herald test notification"),
        "the SMTP server got: {mail}"
    );
    assert!(mail.contains("oncall@example.com"), "{mail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_whose_provider_is_down_fails_with_retry_advice() {
    let (base, _seen) = start_provider().await;
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "sinks:\n  slack-down: {{ type: slack, webhook_url: \"{base}/down/slack\" }}\n  line-down: {{ type: line, channel_access_token: \"{TOKEN}\", to: \"U1\", api_base: \"{base}/down/line\" }}\n  hook-down: {{ type: webhook, url: \"{base}/down/hook\" }}\n  hook-gone: {{ type: webhook, url: \"{base}/nowhere\" }}\n"
    );
    let path = dir.path().join("herald.yaml");
    std::fs::write(&path, text).unwrap();
    let config = path.to_str().unwrap().to_owned();
    for (name, advice) in [
        ("slack-down", "herald would retry"),
        ("line-down", "herald would retry"),
        ("hook-down", "herald would retry"),
        ("hook-gone", "herald would not retry"),
    ] {
        let config = config.clone();
        let out =
            tokio::task::spawn_blocking(move || herald(&["send-test", "--config", &config, name]))
                .await
                .unwrap();
        assert_eq!(out.status.code(), Some(1), "{name}: {}", stdout(&out));
        assert!(stdout(&out).contains("failed:"), "{name}: {}", stdout(&out));
        assert!(stdout(&out).contains(advice), "{name}: {}", stdout(&out));
    }
}
