//! Operating a running herald end to end: no secret from the config ever reaches its log
//! (JSON lines, debug level, a full run with deliveries, the admin API and a reload); herald
//! reports its own errors to a Sentry stand-in when `SENTRY_DSN` is set; SIGHUP and `--watch`
//! reload the config; `herald deliveries` lists and retries a dead delivery, and
//! `herald healthcheck` answers.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::standin::{Herald, SECRET, StandIn, event_alert, poll_until, post_signed, wait_until};

const ADMIN: &str = "e2e-admin-token-5c1d";
const LIMIT: Duration = Duration::from_secs(20);

/// The route tree's names, through the admin API.
async fn route_names(herald: &Herald) -> Vec<String> {
    let tree = herald.admin_json("/api/v1/routes", ADMIN).await;
    tree["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect()
}

/// A config with the admin token, routing everything to a webhook sink at `url`.
fn config(url: &str, route: &str) -> String {
    format!(
        "server:\n  admin_token: {ADMIN}\n  shutdown_grace_seconds: 5\nstorage:\n  url: \"sqlite://data/herald.db\"\nsources:\n  sentry: {{ type: sentry, client_secret: \"{SECRET}\" }}\nsinks:\n  hook: {{ type: webhook, url: \"{url}\" }}\nroutes:\n  - name: {route}\n    sinks: [hook]\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let hook = StandIn::start().await;
    let slack = StandIn::start().await;
    let hook_secret = "whsec-e2e-7f3a9b";
    let slack_token = "xoxb-e2e-4242-secret";
    let text = format!(
        "server:\n  admin_token: {ADMIN}\n  shutdown_grace_seconds: 5\nstorage:\n  url: \"sqlite://data/herald.db\"\nsources:\n  sentry: {{ type: sentry, client_secret: \"{SECRET}\" }}\nsinks:\n  hook: {{ type: webhook, url: \"{}\", secret: \"{hook_secret}\" }}\n  chat: {{ type: slack, token: \"{slack_token}\", channel: \"#alerts\", api_base: \"{}\" }}\nroutes:\n  - name: all\n    sinks: [hook, chat]\n",
        hook.url("/hook"),
        slack.url("/api"),
    );
    let mut herald = Herald::start_with(
        dir.path(),
        &text,
        &["--log-format", "json"],
        &[("RUST_LOG", "debug")],
    )
    .await;
    let client = reqwest::Client::new();
    let r = post_signed(
        &client,
        &herald,
        Some("event_alert"),
        &event_alert("secret-run"),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 202);
    assert!(
        wait_until(LIMIT, || !hook.hits().is_empty()
            && !slack.hits().is_empty())
        .await
    );
    for token in [ADMIN, "wrong-token"] {
        client
            .get(herald.url("/api/v1/deliveries"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
    }
    let r = client
        .post(herald.url("/-/reload"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    herald.terminate(LIMIT);

    let log = herald.log();
    assert!(log.contains("alert accepted"), "{log}");
    assert!(log.contains("config reloaded"), "{log}");
    for line in log.lines() {
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(line);
        assert!(parsed.is_ok(), "not a JSON line: {line}");
    }
    for secret in [SECRET, hook_secret, slack_token, ADMIN] {
        assert!(
            !log.contains(secret),
            "the log holds the secret {secret:?}:\n{log}"
        );
    }
}

/// A Sentry stand-in: records the path of every request.
async fn sentry_standin() -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    let paths: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = paths.clone();
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let seen = seen.clone();
        async move {
            seen.lock()
                .unwrap()
                .push(format!("{} {}", request.method(), request.uri().path()));
            axum::Json(serde_json::json!({ "id": "0" }))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, paths)
}

/// Starts herald with `SENTRY_DSN` pointing at `sentry`, then has it log an error: a reload of
/// a config that does not validate is refused and logged as one.
async fn herald_with_an_error_to_report(
    dir: &std::path::Path,
    sentry: std::net::SocketAddr,
) -> (Herald, StandIn) {
    let hook = StandIn::start().await;
    let dsn = format!("http://e2epublickey@{sentry}/42");
    let herald = Herald::start_with(
        dir,
        &config(&hook.url("/hook"), "all"),
        &[],
        &[("SENTRY_DSN", &dsn)],
    )
    .await;
    std::fs::write(
        dir.join("herald.yaml"),
        config(&hook.url("/hook"), "all").replace("sinks: [hook]", "sinks: [nosuch]"),
    )
    .unwrap();
    let r = reqwest::Client::new()
        .post(herald.url("/-/reload"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    (herald, hook)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_reports_its_own_errors_to_sentry_when_a_dsn_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, paths) = sentry_standin().await;
    let (mut herald, _hook) = herald_with_an_error_to_report(dir.path(), addr).await;
    let arrived = wait_until(LIMIT, || {
        paths
            .lock()
            .unwrap()
            .iter()
            .any(|p| p == "POST /api/42/envelope/")
    })
    .await;
    herald.terminate(LIMIT);
    assert!(
        arrived,
        "no envelope reached the Sentry stand-in: {:?}",
        paths.lock().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentry_that_never_answers_does_not_hold_up_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    // Accepts connections and never answers them.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    let (mut herald, _hook) = herald_with_an_error_to_report(dir.path(), addr).await;
    // The error report is now stuck on its way; SIGTERM still ends herald within its grace
    // period plus the two seconds it gives error reports.
    let status = herald.terminate(Duration::from_secs(10));
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_dsn_nothing_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let hook = StandIn::start().await;
    let (_, paths) = sentry_standin().await;
    let mut herald = Herald::start_with(
        dir.path(),
        &config(&hook.url("/hook"), "all"),
        &[],
        &[("SENTRY_DSN", "")],
    )
    .await;
    std::fs::write(dir.path().join("herald.yaml"), "routes: [").unwrap();
    let r = reqwest::Client::new()
        .post(herald.url("/-/reload"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    herald.terminate(LIMIT);
    assert!(herald.log().contains("config reload refused"));
    assert!(paths.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_and_a_watched_file_reload_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let hook = StandIn::start().await;
    let mut herald = Herald::start_with(
        dir.path(),
        &config(&hook.url("/hook"), "first"),
        &["--watch"],
        &[],
    )
    .await;
    assert_eq!(route_names(&herald).await, ["first"]);

    std::fs::write(
        dir.path().join("herald.yaml"),
        config(&hook.url("/hook"), "watched"),
    )
    .unwrap();
    let watched = poll_until(Duration::from_secs(10), || async {
        route_names(&herald).await == ["watched"]
    })
    .await;
    assert!(
        watched,
        "the watched change was not applied; log:\n{}",
        herald.log()
    );

    // A broken file is refused, the running routes stay, and the error says where.
    std::fs::write(
        dir.path().join("herald.yaml"),
        config(&hook.url("/hook"), "broken").replace("sinks: [hook]", "sinks: [nosuch]"),
    )
    .unwrap();
    assert!(wait_until(LIMIT, || herald.log().contains("config reload refused")).await);
    assert!(herald.log().contains("herald.yaml:"), "{}", herald.log());
    assert_eq!(route_names(&herald).await, ["watched"]);

    // SIGHUP reloads too (the file's stamp is unchanged since the watcher's last look).
    std::fs::write(
        dir.path().join("herald.yaml"),
        config(&hook.url("/hook"), "hangup"),
    )
    .unwrap();
    herald.signal("HUP");
    let hung_up = poll_until(Duration::from_secs(10), || async {
        route_names(&herald).await == ["hangup"]
    })
    .await;
    assert!(hung_up, "SIGHUP did not reload; log:\n{}", herald.log());
    herald.terminate(LIMIT);
}

fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(args)
        .env_remove("HERALD_ADMIN_TOKEN")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_lists_and_retries_a_dead_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let hook = StandIn::start().await;
    hook.script(|_, _| (400, None));
    let mut herald = Herald::start(dir.path(), &config(&hook.url("/hook"), "all")).await;
    let client = reqwest::Client::new();
    post_signed(
        &client,
        &herald,
        Some("event_alert"),
        &event_alert("cli-run"),
    )
    .await
    .unwrap();
    assert!(
        wait_until(LIMIT, || herald.log().contains("outcome=dead")).await,
        "{}",
        herald.log()
    );

    let url = herald.url("");
    let out = cli(&[
        "deliveries",
        "list",
        "--url",
        &url,
        "--token",
        ADMIN,
        "--status",
        "dead",
    ]);
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        listed.contains("dead") && listed.contains("hook"),
        "{listed}"
    );
    assert!(listed.contains("rejected (400)"), "{listed}");

    let out = cli(&["deliveries", "list", "--url", &url, "--token", "wrong"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("refused the admin token"));

    hook.script(|_, _| (200, None));
    let out = cli(&[
        "deliveries",
        "retry",
        "--dead",
        "--sink",
        "hook",
        "--url",
        &url,
        "--token",
        ADMIN,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 dead deliveries are pending again"));
    assert!(wait_until(LIMIT, || hook.hits().len() == 2).await);
    let mut page = serde_json::Value::Null;
    let delivered = poll_until(Duration::from_secs(5), || {
        let out = cli(&[
            "deliveries",
            "list",
            "--url",
            &url,
            "--token",
            ADMIN,
            "--format",
            "json",
        ]);
        page = serde_json::from_slice(&out.stdout).unwrap();
        let done = page["items"][0]["status"] == "delivered";
        async move { done }
    })
    .await;
    assert!(delivered, "{page}");

    let out = cli(&["healthcheck", "--url", &url]);
    assert!(out.status.success());
    herald.terminate(LIMIT);
    let out = cli(&["healthcheck", "--url", &url]);
    assert!(!out.status.success());
}
