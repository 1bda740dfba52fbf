//! `herald serve` end to end: signed Sentry webhooks in, a local webhook receiver out. Every
//! fixture arrives; bad requests get clear answers; nothing acknowledged is lost across
//! `kill -9`, a sink outage or a graceful restart; retries follow the sink's answers.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::standin::{Herald, StandIn, config, event_alert, post_signed, wait_until};
use crate::support::{repo, shared_fixtures};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Every payload file in a folder with the resource its name gives (none for legacy ones).
fn payloads(dir: &std::path::Path) -> Vec<(Option<String>, Vec<u8>, String)> {
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let resource = name.split('.').next().unwrap().to_owned();
        let resource = (!resource.starts_with("legacy")).then_some(resource);
        out.push((resource, std::fs::read(&path).unwrap(), name));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_signed_goes_in_and_arrives() {
    let rx = StandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let herald = Herald::start(dir.path(), &config(&rx.url("/hook"), "")).await;
    let client = client();
    let mut sets = vec![payloads(&repo().join("tests/fixtures/sentry"))];
    if let Some(shared) = shared_fixtures() {
        sets.push(payloads(&shared.join("integration-platform")));
        sets.push(payloads(&shared.join("legacy-webhooks-plugin")));
    }
    let mut expected = 0;
    for (resource, body, name) in sets.into_iter().flatten() {
        let r = if resource.is_none() {
            // The legacy plugin signs nothing; without a legacy token the source refuses it.
            continue;
        } else {
            post_signed(&client, &herald, resource.as_deref(), &body)
                .await
                .unwrap()
        };
        let status = r.status().as_u16();
        let answer: serde_json::Value = r.json().await.unwrap();
        if name.starts_with("installation") {
            assert_eq!(status, 200, "{name}: {answer}");
            assert!(answer["ignored"].is_string(), "{name}: {answer}");
        } else {
            assert_eq!(status, 202, "{name}: {answer}");
            assert_eq!(answer["deliveries"], 1, "{name}: {answer}");
            expected += 1;
        }
    }
    let arrived = wait_until(Duration::from_secs(20), || rx.by_key().len() >= expected).await;
    assert!(
        arrived,
        "{} of {expected} arrived; log:\n{}",
        rx.by_key().len(),
        herald.log()
    );
    assert_eq!(rx.by_key().len(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_answers_and_deliver_nothing() {
    let rx = StandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let herald = Herald::start(dir.path(), &config(&rx.url("/hook"), "")).await;
    let client = client();
    let body = event_alert("bad-1");
    let base = || {
        client
            .post(herald.url("/hooks/sentry"))
            .header("sentry-hook-resource", "event_alert")
            .header(
                "sentry-hook-timestamp",
                jiff::Timestamp::now().as_second().to_string(),
            )
    };
    let secret = herald_core::Secret::new(crate::standin::SECRET);
    let good_sig = herald_sentry::sign(&secret, &body);

    // wrong signature
    let r = base()
        .header("sentry-hook-signature", "0".repeat(64))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("error"));
    // missing signature
    let r = base().body(body.clone()).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // stale timestamp
    let r = client
        .post(herald.url("/hooks/sentry"))
        .header("sentry-hook-resource", "event_alert")
        .header(
            "sentry-hook-timestamp",
            (jiff::Timestamp::now().as_second() - 3600).to_string(),
        )
        .header("sentry-hook-signature", &good_sig)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // oversized
    let big = vec![b' '; 2 * 1024 * 1024];
    let r = base()
        .header("sentry-hook-signature", herald_sentry::sign(&secret, &big))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // malformed, correctly signed
    let junk = b"{\"action\": \"triggered\", \"data\": ".to_vec();
    let r = base()
        .header("sentry-hook-signature", herald_sentry::sign(&secret, &junk))
        .body(junk)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let msg: serde_json::Value = r.json().await.unwrap();
    assert!(
        msg["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{msg}"
    );
    // unknown source
    let r = client
        .post(herald.url("/hooks/nope"))
        .header("sentry-hook-resource", "event_alert")
        .header("sentry-hook-signature", &good_sig)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // One good request after the bad ones: it is the only thing the receiver ever gets.
    let r = post_signed(
        &client,
        &herald,
        Some("event_alert"),
        &event_alert("good-1"),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 202);
    assert!(
        wait_until(Duration::from_secs(10), || !rx.hits().is_empty()).await,
        "{}",
        herald.log()
    );
    let ids = rx.alert_ids();
    assert_eq!(ids, BTreeSet::from(["good-1".to_owned()]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_load_then_restart_loses_nothing_acknowledged() {
    const N: usize = 2000;
    const KILL_AFTER: usize = 600;
    let rx = StandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut herald = Herald::start(dir.path(), &config(&rx.url("/hook"), "")).await;
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let next = Arc::new(AtomicUsize::new(0));
    let dead = Arc::new(AtomicBool::new(false));
    let url_port = herald.port;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (acked, count, next, dead) = (acked.clone(), count.clone(), next.clone(), dead.clone());
        let client = client();
        tasks.push(tokio::spawn(async move {
            let h = HeraldAddr(url_port);
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= N || dead.load(Ordering::SeqCst) {
                    return;
                }
                let id = format!("k{i}");
                match h.post(&client, &event_alert(&id)).await {
                    Some(202) => {
                        acked.lock().unwrap().insert(id);
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    Some(other) => panic!("unexpected answer {other} for {id}"),
                    None => return, // connection refused or cut: herald is gone
                }
            }
        }));
    }
    assert!(
        wait_until(Duration::from_secs(60), || count.load(Ordering::SeqCst)
            >= KILL_AFTER)
        .await,
        "herald did not acknowledge {KILL_AFTER} alerts; log:\n{}",
        herald.log()
    );
    herald.kill9();
    dead.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= KILL_AFTER);

    herald.restart().await;
    let all_arrived = wait_until(Duration::from_secs(60), || {
        rx.alert_ids().is_superset(&acked)
    })
    .await;
    let got = rx.alert_ids();
    let missing: Vec<_> = acked.difference(&got).take(10).collect();
    assert!(
        all_arrived,
        "{} acknowledged alerts never arrived, e.g. {missing:?}",
        acked.difference(&got).count()
    );
    // At-least-once: repeats come only from sends that were in flight at the kill.
    let posts = rx.hits().len();
    let duplicates = posts - rx.by_key().len();
    assert!(
        duplicates <= 512,
        "{duplicates} duplicates for {} posts",
        posts
    );
}

/// Posting without holding a `Herald` (the tasks outlive no borrow of it).
struct HeraldAddr(u16);

impl HeraldAddr {
    async fn post(&self, client: &reqwest::Client, body: &[u8]) -> Option<u16> {
        let secret = herald_core::Secret::new(crate::standin::SECRET);
        client
            .post(format!("http://127.0.0.1:{}/hooks/sentry", self.0))
            .header("sentry-hook-resource", "event_alert")
            .header("request-id", uuid::Uuid::new_v4().simple().to_string())
            .header(
                "sentry-hook-timestamp",
                jiff::Timestamp::now().as_second().to_string(),
            )
            .header("sentry-hook-signature", herald_sentry::sign(&secret, body))
            .body(body.to_vec())
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_down_for_a_while_gets_everything_once_it_is_back() {
    let rx = StandIn::start().await;
    // Each delivery is refused with 503 twice, then taken.
    rx.script(|_, earlier| {
        if earlier < 2 {
            (503, None)
        } else {
            (200, None)
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let herald = Herald::start(dir.path(), &config(&rx.url("/hook"), "")).await;
    let client = client();
    let ids: BTreeSet<String> = (0..5).map(|i| format!("d{i}")).collect();
    for id in &ids {
        let r = post_signed(&client, &herald, Some("event_alert"), &event_alert(id))
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }
    let delivered = || rx.by_key().values().filter(|hits| hits.len() >= 3).count();
    assert!(
        wait_until(Duration::from_secs(60), || delivered() == ids.len()).await,
        "log:\n{}",
        herald.log()
    );
    for (key, hits) in rx.by_key() {
        assert_eq!(hits.len(), 3, "{key}: retried until taken, then not again");
        // The same delivery (same idempotency key) carried the same alert on every attempt.
        assert!(hits.iter().all(|h| h.alert_id == hits[0].alert_id));
    }
    assert_eq!(rx.alert_ids(), ids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured() {
    let rx = StandIn::start().await;
    rx.script(|_, earlier| {
        if earlier == 0 {
            (429, Some("2"))
        } else {
            (200, None)
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let herald = Herald::start(dir.path(), &config(&rx.url("/hook"), "")).await;
    let r = post_signed(&client(), &herald, Some("event_alert"), &event_alert("r1"))
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert!(
        wait_until(Duration::from_secs(20), || rx.hits().len() >= 2).await,
        "log:\n{}",
        herald.log()
    );
    let hits = rx.hits();
    let gap = hits[1].at.duration_since(hits[0].at);
    assert!(
        gap >= Duration::from_secs(2),
        "retried after {gap:?}, before Retry-After: 2"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_refusal_is_dead_at_once_and_not_retried() {
    let rx = StandIn::start().await;
    rx.script(|_, _| (400, None));
    let dir = tempfile::tempdir().unwrap();
    let herald = Herald::start(dir.path(), &config(&rx.url("/hook"), "")).await;
    let r = post_signed(&client(), &herald, Some("event_alert"), &event_alert("x1"))
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    // herald logs the outcome of every delivery; wait for the dead one.
    assert!(
        wait_until(Duration::from_secs(20), || herald
            .log()
            .contains("delivery given up"))
        .await,
        "no dead delivery in the log:\n{}",
        herald.log()
    );
    assert_eq!(rx.hits().len(), 1, "a 400 is not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_keeps_undelivered_work_for_the_next_start() {
    let rx = StandIn::start().await;
    let down = Arc::new(AtomicBool::new(true));
    let d = down.clone();
    rx.script(move |_, _| {
        if d.load(Ordering::SeqCst) {
            (503, None)
        } else {
            (200, None)
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let mut herald = Herald::start(dir.path(), &config(&rx.url("/hook"), "")).await;
    let client = client();
    let ids: BTreeSet<String> = (0..20).map(|i| format!("g{i}")).collect();
    for id in &ids {
        let r = post_signed(&client, &herald, Some("event_alert"), &event_alert(id))
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }
    let status = herald.terminate(Duration::from_secs(15));
    assert!(
        status.success(),
        "herald exited with {status} on SIGTERM; log:\n{}",
        herald.log()
    );
    down.store(false, Ordering::SeqCst);
    herald.restart().await;
    assert!(
        wait_until(Duration::from_secs(90), || rx.alert_ids().is_superset(&ids)).await,
        "{} of {} arrived after the restart; log:\n{}",
        rx.alert_ids().intersection(&ids).count(),
        ids.len(),
        herald.log()
    );
}

/// The line herald logs once it serves says whether the admin API is on and how much of the
/// config was loaded: nested routes count, and a config without `admin_token` says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_startup_line_says_whether_the_admin_api_is_on_and_what_was_loaded() {
    let standin = StandIn::start().await;
    let url = standin.url("/hook");
    let nested = format!(
        "{}    routes:\n      - name: child\n        match: {{ project: api }}\n  - name: second\n    sinks: [hook, console]\n",
        config(&url, "").replace(
            "sinks:\n  hook:",
            "sinks:\n  console: { type: log }\n  hook:"
        )
    );
    let serving = |log: &str| {
        log.lines()
            .find(|l| l.contains("herald is serving"))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no startup line in:\n{log}"))
    };

    let dir = tempfile::tempdir().unwrap();
    let h = Herald::start(dir.path(), &nested).await;
    let line = serving(&h.log());
    assert!(
        line.contains(r#"admin_api="off (no server.admin_token)""#)
            && line.contains("routes=3 sources=1 sinks=2"),
        "{line}"
    );
    drop(h);

    let dir = tempfile::tempdir().unwrap();
    let on = config(&url, "").replace("server:\n", "server:\n  admin_token: \"${ADMIN_TOKEN}\"\n");
    let h = Herald::start_with(dir.path(), &on, &[], &[("ADMIN_TOKEN", "t0ken-for-e2e")]).await;
    let line = serving(&h.log());
    assert!(
        line.contains(r#"admin_api="on" routes=1 sources=1 sinks=1"#),
        "{line}"
    );
}
