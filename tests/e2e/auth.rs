//! The front door end to end: each endpoint of a source is opened by its own credential only
//! (an unsigned integration-platform request to a source that has just a legacy token is
//! refused and stores nothing); a `Request-ID` sent again with another body is a new alert;
//! `insecure: true` works and is warned about at every start and reload; and a credential
//! written in the config file is refused once herald listens beyond loopback.

use std::process::Command;
use std::time::Duration;

use crate::standin::{Herald, SECRET, StandIn, event_alert, poll_until, wait_until};
use crate::support::{repo, stderr};

const ADMIN: &str = "e2e-auth-admin-9d2e";
const LEGACY_TOKEN: &str = "e2e-auth-legacy-41c7";
const LIMIT: Duration = Duration::from_secs(20);

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A config whose source `sentry` has the given settings, with the admin API on (its token
/// from `${ADMIN}`) and every alert going to a webhook sink at `url`.
fn config(url: &str, source: &str) -> String {
    format!(
        "server:\n  admin_token: \"${{ADMIN}}\"\n  shutdown_grace_seconds: 5\nstorage:\n  url: \"sqlite://data/herald.db\"\nsources:\n  sentry: {{ type: sentry, {source} }}\nsinks:\n  hook: {{ type: webhook, url: \"{url}\" }}\nroutes:\n  - name: all\n    sinks: [hook]\n"
    )
}

/// The alerts herald stored, through the admin API.
async fn stored_alerts(herald: &Herald) -> Vec<serde_json::Value> {
    let page = herald.admin_json("/api/v1/alerts", ADMIN).await;
    page["items"].as_array().unwrap().clone()
}

/// A legacy WebHooks plugin payload carrying `alert_id` as a tag.
fn legacy_alert(alert_id: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "id": "4410021",
        "project_slug": "payments-api",
        "level": "error",
        "culprit": "payments.charge in capture_payment",
        "message": "issuer declined the charge",
        "url": "https://sentry.io/organizations/acme/issues/4410021/",
        "triggering_rules": ["payments: page on-call"],
        "event": {"title": "CardDeclinedError", "tags": [["alert_id", alert_id]]}
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_with_only_a_legacy_token_refuses_unsigned_platform_requests() {
    let rx = StandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let herald = Herald::start_with(
        dir.path(),
        &config(
            &rx.url("/hook"),
            "legacy_token: \"${LT}\", max_skew_seconds: 300",
        ),
        &[],
        &[("ADMIN", ADMIN), ("LT", LEGACY_TOKEN)],
    )
    .await;
    let client = client();
    let body = event_alert("forged");
    let forged = herald_sentry::sign(&herald_core::Secret::new("any key at all"), &body);
    // Unsigned, signed with some key, and with the legacy token in the URL: all refused, since
    // only a client secret opens the integration-platform endpoint.
    for (signature, url) in [
        (None, herald.url("/hooks/sentry")),
        (Some(forged.as_str()), herald.url("/hooks/sentry")),
        (
            None,
            herald.url(&format!("/hooks/sentry?token={LEGACY_TOKEN}")),
        ),
    ] {
        let mut request = client
            .post(&url)
            .header("sentry-hook-resource", "event_alert")
            .header("request-id", uuid::Uuid::new_v4().simple().to_string())
            .body(body.clone());
        if let Some(signature) = signature {
            request = request.header("sentry-hook-signature", signature);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 401, "{url} {signature:?}");
        let answer: serde_json::Value = r.json().await.unwrap();
        assert!(
            answer["error"]
                .as_str()
                .is_some_and(|e| e.contains("no client_secret")),
            "{answer}"
        );
    }
    assert_eq!(
        stored_alerts(&herald).await,
        Vec::<serde_json::Value>::new()
    );

    // The legacy endpoint, with its own credential, still works: it is the only alert stored
    // and the only one delivered.
    let r = client
        .post(herald.url(&format!("/hooks/sentry/legacy?token={LEGACY_TOKEN}")))
        .header("content-type", "application/json")
        .body(legacy_alert("legacy-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    assert!(
        wait_until(LIMIT, || !rx.hits().is_empty()).await,
        "{}",
        herald.log()
    );
    assert_eq!(stored_alerts(&herald).await.len(), 1);
    assert_eq!(
        rx.alert_ids().into_iter().collect::<Vec<_>>(),
        vec!["legacy-1".to_owned()]
    );
}

/// Posts `body` signed with the test secret and the given `Request-ID`.
async fn post_with_id(herald: &Herald, request_id: &str, body: &[u8]) -> serde_json::Value {
    let r = client()
        .post(herald.url("/hooks/sentry"))
        .header("content-type", "application/json")
        .header("sentry-hook-resource", "event_alert")
        .header("request-id", request_id)
        .header(
            "sentry-hook-signature",
            herald_sentry::sign(&herald_core::Secret::new(SECRET), body),
        )
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_id_with_two_bodies_delivers_both() {
    let rx = StandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    // The secret is written in the file and server.listen is open to the network, but
    // `--listen 127.0.0.1:...` (which the harness passes) is what counts, so herald starts.
    let text = config(&rx.url("/hook"), &format!("client_secret: \"{SECRET}\""))
        .replace("server:\n", "server:\n  listen: \"0.0.0.0:9\"\n");
    let herald = Herald::start_with(dir.path(), &text, &[], &[("ADMIN", ADMIN)]).await;
    let id = "0123456789abcdef0123456789abcdef";
    let first = event_alert("first");
    let second = event_alert("second");
    let a = post_with_id(&herald, id, &first).await;
    let b = post_with_id(&herald, id, &second).await;
    assert!(
        a.get("duplicate").is_none() && b.get("duplicate").is_none(),
        "{a} {b}"
    );
    assert_ne!(a["id"], b["id"]);
    // A true redelivery (same id, same body) is still recognised as one.
    let again = post_with_id(&herald, id, &first).await;
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(again["id"], a["id"]);

    let both = wait_until(LIMIT, || rx.alert_ids().len() == 2).await;
    assert!(both, "{:?}; log:\n{}", rx.alert_ids(), herald.log());
    assert_eq!(
        rx.alert_ids().into_iter().collect::<Vec<_>>(),
        vec!["first".to_owned(), "second".to_owned()]
    );
    let metrics = client()
        .get(herald.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("herald_alerts_request_id_reused_total{source=\"sentry\"} 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_insecure_source_accepts_anyone_and_is_warned_about_at_start_and_reload() {
    let rx = StandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let herald = Herald::start_with(
        dir.path(),
        &config(&rx.url("/hook"), "insecure: true"),
        &[],
        &[("ADMIN", ADMIN)],
    )
    .await;
    let warned = |log: &str| log.matches("source \"sentry\" is insecure").count();
    assert_eq!(warned(&herald.log()), 1, "{}", herald.log());
    let r = client()
        .post(herald.url("/hooks/sentry"))
        .header("sentry-hook-resource", "event_alert")
        .body(event_alert("open-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = client()
        .post(herald.url("/hooks/sentry/legacy"))
        .body(legacy_alert("open-2"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert!(wait_until(LIMIT, || rx.alert_ids().len() == 2).await);

    herald.signal("HUP");
    let again = poll_until(LIMIT, || async { warned(&herald.log()) == 2 }).await;
    assert!(again, "{}", herald.log());
}

/// `herald` run from the repo's top folder with none of the example config's variables set.
fn herald_without_env(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(args)
        .current_dir(repo())
        .env_remove("RUST_LOG")
        .env_remove("SENTRY_CLIENT_SECRET")
        .env_remove("SENTRY_LEGACY_TOKEN")
        .env_remove("HERALD_ADMIN_TOKEN")
        .envs(env.iter().copied())
        .output()
        .expect("the herald binary runs")
}

#[test]
fn a_credential_written_in_the_config_is_refused_beyond_loopback() {
    // The quick start's config is valid as it is: it listens on 127.0.0.1.
    let out = herald_without_env(&["check", "--config", "config/herald.yaml"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));

    // Serving it to the network with its written default secret is refused before binding.
    let out = herald_without_env(
        &[
            "serve",
            "--config",
            "config/herald.yaml",
            "--listen",
            "0.0.0.0:0",
        ],
        &[],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("config/herald.yaml:24:20: sources.sentry.client_secret \"${SENTRY_CLIENT_SECRET:-change-me}\" is written in the config file, so anyone who reads the file knows it, and herald listens on \"0.0.0.0:0\" (--listen), which is not a loopback address (hint: take the value from the environment with ${VAR} or from a file with ${file:PATH}"),
        "{err}"
    );

    // `herald check` says the same of a config that listens beyond loopback itself, for the
    // admin token too; a value from the environment is fine there.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("open.yaml");
    std::fs::write(
        &path,
        "server:\n  listen: \"0.0.0.0:8080\"\n  admin_token: open-sesame\nsources:\n  sentry: { type: sentry, client_secret: \"${CS:-change-me}\" }\nsinks: { log: { type: log } }\nroutes: [{ name: all, sinks: [log] }]\n",
    )
    .unwrap();
    let path = path.to_str().unwrap();
    let out = herald_without_env(&["check", "--config", path], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{path}:3:16: server.admin_token \"open-sesame\" is written in the config file"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{path}:5:42: sources.sentry.client_secret \"${{CS:-change-me}}\" is written in the config file"
        )),
        "{err}"
    );
    assert!(err.contains("is invalid: 2 errors"), "{err}");
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("open-sesame", "\"${ADMIN}\"");
    std::fs::write(path, text).unwrap();
    let out = herald_without_env(
        &["check", "--config", path],
        &[("ADMIN", "from-env"), ("CS", "from-env")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}
