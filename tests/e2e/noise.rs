//! Noise control end to end: a running `herald serve` turns a flood of one issue into one
//! message with every held-back alert listed by the admin API, `herald silence add|list|expire`
//! mutes and unmutes through that API, and `herald route` explains a route's noise settings.

use std::time::Duration;

use serde_json::Value;

use crate::standin::{Herald, SECRET, StandIn, event_alert, poll_until, post_signed, wait_until};
use crate::support::{herald, repo, stderr, stdout};

const TOKEN: &str = "e2e-admin-token";

fn config(url: &str) -> String {
    format!(
        "server:\n  shutdown_grace_seconds: 5\n  admin_token: \"{TOKEN}\"\nstorage:\n  url: \"sqlite://data/herald.db\"\nsources:\n  sentry: {{ type: sentry, client_secret: \"{SECRET}\", max_skew_seconds: 300 }}\nsinks:\n  hook: {{ type: webhook, url: \"{url}\" }}\nroutes:\n  - name: payments\n    sinks: [hook]\n    dedup_seconds: 600\n"
    )
}

/// `event_alert` with another Sentry issue id.
fn alert_of_issue(alert_id: &str, issue: &str) -> Vec<u8> {
    let mut body: Value = serde_json::from_slice(&event_alert(alert_id)).unwrap();
    body["data"]["event"]["issue_id"] = Value::from(issue);
    serde_json::to_vec(&body).unwrap()
}

async fn admin(client: &reqwest::Client, h: &Herald, path: &str) -> Value {
    client
        .get(h.url(path))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn held_count(client: &reqwest::Client, h: &Herald, outcome: &str) -> usize {
    let page = admin(
        client,
        h,
        &format!("/api/v1/held-back?outcome={outcome}&limit=500"),
    )
    .await;
    page["items"].as_array().map_or(0, Vec::len)
}

/// Runs the CLI on a blocking thread so the test's runtime keeps serving the stand-in.
async fn cli(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        herald(&args)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_becomes_one_message_and_silences_mute_through_the_cli() {
    let standin = StandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let h = Herald::start(dir.path(), &config(&standin.url("/hook"))).await;
    let client = reqwest::Client::new();

    for i in 0..100 {
        let body = event_alert(&format!("flood-{i}"));
        let r = post_signed(&client, &h, Some("event_alert"), &body)
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }
    let held = std::sync::atomic::AtomicUsize::new(0);
    let all_decided = poll_until(Duration::from_secs(10), || async {
        let n = held_count(&client, &h, "duplicate").await;
        held.store(n, std::sync::atomic::Ordering::SeqCst);
        n == 99
    })
    .await;
    let held = held.into_inner();
    assert!(all_decided, "held back {held} of 99; log:\n{}", h.log());
    assert_eq!(standin.hits().len(), 1, "one message for the whole flood");

    // Silence the project through the CLI: the next alert of a new issue is held back.
    let url = h.url("");
    let base = |cmd: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = vec!["silence".into()];
        v.extend(cmd.iter().map(|s| s.to_string()));
        v.extend(["--url".into(), url.clone(), "--token".into(), TOKEN.into()]);
        v
    };
    let out = cli(base(&[
        "add",
        "-m",
        "project=payments-api",
        "--duration",
        "1h",
        "--author",
        "e2e",
        "--comment",
        "deploy",
    ]))
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let id = stdout(&out).trim().to_owned();
    let listed = cli(base(&["list"])).await;
    assert!(stdout(&listed).contains(&id), "{}", stdout(&listed));
    assert!(stdout(&listed).contains("active"));

    let body = alert_of_issue("silenced-1", "777");
    // `herald route` beside the running server reads the silence from its store.
    std::fs::write(h.dir.join("payload.json"), &body).unwrap();
    let dir = h.dir.clone();
    let routed = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
            .args([
                "route",
                "--config",
                "herald.yaml",
                "--resource",
                "event_alert",
                "payload.json",
            ])
            .current_dir(dir)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        stdout(&routed).contains(&format!("silenced now by {id}")),
        "{}",
        stdout(&routed)
    );
    post_signed(&client, &h, Some("event_alert"), &body)
        .await
        .unwrap();
    let silenced = poll_until(Duration::from_secs(10), || async {
        held_count(&client, &h, "silenced").await == 1
    })
    .await;
    assert!(silenced, "log:\n{}", h.log());
    assert_eq!(standin.hits().len(), 1);

    // Expired, it stops applying at once.
    let out = cli(base(&["expire", &id])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let body = alert_of_issue("after-1", "888");
    post_signed(&client, &h, Some("event_alert"), &body)
        .await
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || standin.hits().len() == 2).await,
        "log:\n{}",
        h.log()
    );
    assert!(standin.alert_ids().contains("after-1"));
}

#[test]
fn route_explains_the_noise_settings_of_the_matched_route() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("herald.yaml");
    std::fs::write(
        &config,
        "sources: { sentry: { type: sentry, client_secret: x } }\nsinks: { log: { type: log } }\nroutes:\n  - name: payments\n    sinks: [log]\n    dedup_seconds: 600\n    throttle: { max: 10, per_seconds: 60 }\n",
    )
    .unwrap();
    let config = config.display().to_string();
    let payload = "tests/fixtures/sentry/event_alert.payments.json";
    let out = herald(&[
        "route",
        "--config",
        &config,
        "--resource",
        "event_alert",
        payload,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(
            "payments: dedup: issue 4410021 with action triggered is sent once per 600s per sink"
        ),
        "{text}"
    );
    assert!(
        text.contains("payments: throttle: at most 10 messages per 60s per sink"),
        "{text}"
    );
    assert!(
        text.contains("they are checked when herald serves"),
        "{text}"
    );
    let out = herald(&[
        "route",
        "--config",
        &config,
        "--resource",
        "event_alert",
        "--format",
        "json",
        payload,
    ]);
    let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["noise"][0]["route"], "payments");
    assert!(json["noise"][0]["explain"].as_array().unwrap().len() >= 2);
}

/// A Slack Web API stand-in: records `(path, body)` and answers `ok` with a new `ts` each time.
async fn slack_standin() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>>,
) {
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let app = {
        let seen = seen.clone();
        axum::Router::new().fallback(move |uri: axum::http::Uri, body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                let body: Value = serde_json::from_slice(&body).unwrap_or_default();
                let mut seen = seen.lock().unwrap();
                let ts = format!("1700000000.{:06}", seen.len() + 1);
                seen.push((uri.path().to_owned(), body));
                axum::Json(serde_json::json!({"ok": true, "channel": "C0123", "ts": ts}))
            }
        })
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/api"), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolved_issue_updates_its_slack_message_and_replies_in_the_thread_after_a_restart() {
    let (api, seen) = slack_standin().await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "server:\n  shutdown_grace_seconds: 5\nstorage:\n  url: \"sqlite://data/herald.db\"\nsources:\n  sentry: {{ type: sentry, client_secret: \"{SECRET}\", max_skew_seconds: 300 }}\nsinks:\n  slack: {{ type: slack, token: xoxb-test, api_base: \"{api}\", channel: \"#alerts\" }}\nroutes:\n  - name: all\n    sinks: [slack]\n"
    );
    let mut h = Herald::start(dir.path(), &config).await;
    let client = reqwest::Client::new();
    let triggered =
        std::fs::read(repo().join("tests/fixtures/sentry/event_alert.payments.json")).unwrap();
    let r = post_signed(&client, &h, Some("event_alert"), &triggered)
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let count = || seen.lock().unwrap().len();
    assert!(
        wait_until(Duration::from_secs(10), || count() == 1).await,
        "log:\n{}",
        h.log()
    );
    {
        let first = &seen.lock().unwrap()[0];
        assert_eq!(first.0, "/api/chat.postMessage");
        assert!(
            first.1.get("thread_ts").is_none(),
            "the first message is top level"
        );
    }
    // Wait for the delivery to be recorded (and its ts kept) before stopping.
    let recorded = wait_until(Duration::from_secs(10), || h.log().contains("delivered")).await;
    assert!(recorded, "log:\n{}", h.log());
    assert!(h.terminate(Duration::from_secs(10)).success());
    h.restart().await;

    let resolved = std::fs::read(repo().join("tests/fixtures/sentry/issue.resolved.json")).unwrap();
    let r = post_signed(&client, &h, Some("issue"), &resolved)
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert!(
        wait_until(Duration::from_secs(10), || count() == 3).await,
        "log:\n{}",
        h.log()
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[1].0, "/api/chat.postMessage");
    assert_eq!(
        seen[1].1["thread_ts"], "1700000000.000001",
        "a reply in the first message's thread"
    );
    assert_eq!(seen[1].1["channel"], "C0123");
    assert_eq!(seen[2].0, "/api/chat.update");
    assert_eq!(
        seen[2].1["ts"], "1700000000.000001",
        "the first message is updated"
    );
}

/// A webhook receiver that keeps every body.
pub(crate) async fn body_standin() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let app = {
        let seen = seen.clone();
        axum::Router::new().fallback(move |body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                let body: Value = serde_json::from_slice(&body).unwrap_or_default();
                seen.lock().unwrap().push(body);
                "ok"
            }
        })
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_the_shared_fixtures_becomes_one_digest_per_project_with_nothing_lost() {
    let Some(shared) = crate::support::shared_fixtures() else {
        return;
    };
    // Every published integration-platform payload herald routes, by resource.
    let fixtures: Vec<(&str, Vec<u8>)> = [
        ("event_alert", "event_alert.triggered.json"),
        ("issue", "issue.created.json"),
        ("issue", "issue.created.2019-docs.json"),
        ("metric_alert", "metric_alert.resolved.json"),
        ("error", "error.created.json"),
        ("comment", "comment.created.json"),
    ]
    .into_iter()
    .map(|(resource, file)| {
        let path = shared.join("integration-platform").join(file);
        (
            resource,
            std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        )
    })
    .collect();
    // The groups a person would want: one per project, as `herald route` sees the payloads.
    let mut projects = std::collections::BTreeSet::new();
    for (resource, body) in &fixtures {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), body).unwrap();
        let out = herald(&[
            "route",
            "--config",
            "config/herald.yaml",
            "--resource",
            resource,
            "--format",
            "json",
            &file.path().display().to_string(),
        ]);
        let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
        projects.insert(json["alert"]["project"].as_str().unwrap_or("").to_owned());
    }

    let (url, seen) = body_standin().await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "server:\n  shutdown_grace_seconds: 5\n  admin_token: \"{TOKEN}\"\nstorage:\n  url: \"sqlite://data/herald.db\"\nsources:\n  sentry: {{ type: sentry, client_secret: \"{SECRET}\", max_skew_seconds: 300 }}\nsinks:\n  hook: {{ type: webhook, url: \"{url}\" }}\nroutes:\n  - name: all\n    sinks: [hook]\n    group_by: [project]\n    group_wait_seconds: 4\n"
    );
    let h = Herald::start(dir.path(), &config).await;
    let client = reqwest::Client::new();
    const ROUNDS: usize = 25;
    for _ in 0..ROUNDS {
        for (resource, body) in &fixtures {
            let r = post_signed(&client, &h, Some(resource), body)
                .await
                .unwrap();
            assert_eq!(r.status(), 202, "{resource}");
        }
    }
    let total = ROUNDS * fixtures.len();
    assert!(
        wait_until(Duration::from_secs(20), || seen.lock().unwrap().len()
            >= projects.len())
        .await,
        "expected {} digests; log:\n{}",
        projects.len(),
        h.log()
    );
    // Every alert is in a message (listed or counted) or nowhere: nothing is lost.
    poll_until(Duration::from_secs(10), || async {
        held_count(&client, &h, "digest").await + projects.len() == total
    })
    .await;
    let members = held_count(&client, &h, "digest").await;
    assert_eq!(members + projects.len(), total);
    let messages = seen.lock().unwrap().clone();
    assert_eq!(
        messages.len(),
        projects.len(),
        "one message per project: {messages:?}"
    );
    let accounted: u64 = messages
        .iter()
        .map(|m| {
            let listed = m["alerts"].as_array().map_or(1, Vec::len) as u64;
            listed + m["folded"].as_u64().unwrap_or(0)
        })
        .sum();
    assert_eq!(
        accounted as usize, total,
        "listed plus folded covers every alert"
    );
}

/// In a container or CI job `$USER` is often unset: `silence add` without `--author` then
/// signs with the hostname instead of failing with "a silence needs an author", and
/// `silence list` answers the same JSON with `--format json` as with the older `--json`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silence_without_user_is_signed_with_the_hostname() {
    let standin = StandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let h = Herald::start(dir.path(), &config(&standin.url("/hook"))).await;
    let url = h.url("");
    let run = move |args: Vec<&'static str>| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
                .arg("silence")
                .args(args)
                .args(["--url", &url, "--token", TOKEN])
                .current_dir(repo())
                .env_remove("USER")
                .env_remove("RUST_LOG")
                .output()
                .unwrap()
        })
    };
    let out = run(vec!["add", "-m", "project=api", "--duration", "1h"])
        .await
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let id = stdout(&out).trim().to_owned();

    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "herald-cli".to_owned());
    let listed = run(vec!["list", "--format", "json"]).await.unwrap();
    assert!(listed.status.success(), "{}", stderr(&listed));
    let answer: Value = serde_json::from_str(&stdout(&listed)).unwrap();
    assert_eq!(answer["silences"][0]["id"], id.as_str());
    assert_eq!(answer["silences"][0]["author"], hostname.as_str());

    let old = run(vec!["list", "--json"]).await.unwrap();
    assert_eq!(stdout(&old), stdout(&listed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_distinct_issues_to_slack_is_cut_to_the_flood_guard_and_one_summary() {
    let (api, seen) = slack_standin().await;
    let dir = tempfile::tempdir().unwrap();
    // No noise settings on the route: only the sink's flood guard stands between a crash loop
    // and the channel. Its window is 4 s here so that the test sees the summary go out.
    let config = format!(
        "server:\n  shutdown_grace_seconds: 5\n  admin_token: \"{TOKEN}\"\nstorage:\n  url: \"sqlite://data/herald.db\"\nsources:\n  sentry: {{ type: sentry, client_secret: \"{SECRET}\", max_skew_seconds: 300 }}\nsinks:\n  slack: {{ type: slack, token: xoxb-test, api_base: \"{api}\", channel: \"#alerts\", flood_guard: {{ max: 3, per_seconds: 4 }} }}\nroutes:\n  - name: all\n    sinks: [slack]\n"
    );
    let h = Herald::start(dir.path(), &config).await;
    let client = reqwest::Client::new();
    for i in 0..40 {
        let body = alert_of_issue(&format!("storm-{i}"), &format!("{}", 9000 + i));
        let r = post_signed(&client, &h, Some("event_alert"), &body)
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }
    // Every alert is accounted for: 3 sent, one summary, the rest folded into it.
    let folded = poll_until(Duration::from_secs(20), || async {
        held_count(&client, &h, "flooded").await == 36
    })
    .await;
    assert!(
        folded,
        "held back as flooded: {}; log:\n{}",
        held_count(&client, &h, "flooded").await,
        h.log()
    );
    let posts = || seen.lock().unwrap().len();
    assert!(
        wait_until(Duration::from_secs(20), || posts() == 4).await,
        "3 messages and one summary; got {}; log:\n{}",
        posts(),
        h.log()
    );
    let summary = seen.lock().unwrap()[3].1.to_string();
    assert!(
        summary.contains("37 alerts"),
        "the summary names itself and the 36 it folded: {summary}"
    );
    // Nothing more comes: the storm is over and everything it held was in the summary.
    let page = admin(&client, &h, "/api/v1/held-back?outcome=flooded&limit=500").await;
    let into: std::collections::BTreeSet<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["folded_into"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(into.len(), 1, "one summary holds them all: {into:?}");
    let status = admin(&client, &h, "/api/v1/deliveries?status=pending&limit=10").await;
    assert_eq!(
        status["items"].as_array().map_or(0, Vec::len),
        0,
        "nothing waits: {status}"
    );
    assert_eq!(posts(), 4);
}
