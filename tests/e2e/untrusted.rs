//! Untrusted alert text end to end: a Sentry payload whose action, title and project carry
//! newlines, carriage returns and terminal escape sequences never forges a line or reaches the
//! operator's terminal raw, neither in `herald serve`'s log nor in `herald deliveries list`.

use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::standin::{Herald, SECRET, StandIn, post_signed, wait_until};

const ADMIN: &str = "e2e-admin-token-untrusted";
const LIMIT: Duration = Duration::from_secs(20);
/// A newline that would start a forged log line, a carriage return and ESC sequences that would
/// clear the line and recolour the terminal.
const FORGED: &str = "x\nFORGED  INFO herald: alert accepted\r\x1b[2K\x1b[31mred";

fn config(url: &str) -> String {
    format!(
        "server:\n  admin_token: {ADMIN}\n  shutdown_grace_seconds: 5\nstorage:\n  url: \"sqlite://data/herald.db\"\nsources:\n  sentry: {{ type: sentry, client_secret: \"{SECRET}\" }}\nsinks:\n  hook: {{ type: webhook, url: \"{url}\" }}\nroutes:\n  - name: all\n    sinks: [hook]\n"
    )
}

fn assert_not_forged(what: &str, text: &str) {
    assert!(
        !text.lines().any(|l| l.starts_with("FORGED")),
        "{what} has a forged line:\n{text}"
    );
    assert!(
        !text.contains(['\r', '\x1b']),
        "{what} has raw CR or ESC:\n{text:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_stays_on_its_line_in_the_log_and_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let hook = StandIn::start().await;
    // Refused, so the delivery is dead and the list shows its last error too.
    hook.script(|_, _| (400, None));
    let herald = Herald::start(dir.path(), &config(&hook.url("/hook"))).await;
    let client = reqwest::Client::new();

    let ignored = json!({"action": FORGED, "data": {}}).to_string();
    let r = post_signed(&client, &herald, Some("issue"), ignored.as_bytes())
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let alert = json!({"action": "triggered", "data": {"event": {
        "title": FORGED, "level": "error", "culprit": FORGED,
        "url": format!("https://sentry.io/api/0/projects/acme/{FORGED}/events/1/"),
    }}})
    .to_string();
    let r = post_signed(&client, &herald, Some("event_alert"), alert.as_bytes())
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert!(
        wait_until(LIMIT, || herald.log().contains("outcome=dead")).await,
        "{}",
        herald.log()
    );

    let log = herald.log();
    assert!(log.contains("webhook ignored"), "{log}");
    assert_not_forged("the log", &log);
    assert!(log.contains(r"action=x\nFORGED"), "{log}");

    let out = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "deliveries",
            "list",
            "--url",
            &herald.url(""),
            "--token",
            ADMIN,
        ])
        .env_remove("HERALD_ADMIN_TOKEN")
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        listed.lines().count(),
        2,
        "a header and one delivery:\n{listed}"
    );
    assert_not_forged("deliveries list", &listed);
    assert!(
        listed.contains(r"x\nFORGED  INFO herald: alert accepted\r\u{1b}[2K"),
        "{listed}"
    );
}
