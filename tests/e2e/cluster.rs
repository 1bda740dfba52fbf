//! Two `herald serve` processes on one PostgreSQL database (a fresh one per test, dropped at
//! the end), with `storage.lease_seconds: 2` so a takeover happens within the test: alerts
//! spread over both with one killed (`kill -9`) halfway all arrive, the same Request-ID sent
//! to both is stored once, a dedup window holds across both, a silence made through one
//! holds the next alert on the other at once, a digest gathered from both is sent once, one
//! stopped with SIGTERM leaves nothing lost
//! and nothing stuck, and a send slower than two leases is not taken over while its
//! instance lives (its dispatcher renews the lease). Every wait is bounded.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::postgres::Database;
use crate::standin::{Herald, SECRET, StandIn, event_alert, wait_until};

const TOKEN: &str = "e2e-cluster-admin-token";

/// How long the alerts of a test may take to arrive, takeover included.
const LIMIT: Duration = Duration::from_secs(30);

/// One instance's config: the shared database with 2-second leases, an admin token, one
/// webhook sink `hook`, and `routes` (YAML list items under `routes:`).
fn config(db: &Database, hook: &str, routes: &str) -> String {
    format!(
        "server:\n  shutdown_grace_seconds: 5\n  admin_token: \"{TOKEN}\"\nstorage:\n  url: \"{}\"\n  lease_seconds: 2\nsources:\n  sentry: {{ type: sentry, client_secret: \"{SECRET}\", max_skew_seconds: 300 }}\nsinks:\n  hook: {{ type: webhook, url: \"{hook}\" }}\nroutes:\n{routes}",
        db.url()
    )
}

const CATCH_ALL: &str = "  - name: all\n    sinks: [hook]\n";

/// Two instances of `config`, each in a folder of its own.
async fn pair(config: &str) -> (Herald, Herald, [tempfile::TempDir; 2]) {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let a = Herald::start(dirs[0].path(), config).await;
    let b = Herald::start(dirs[1].path(), config).await;
    (a, b, dirs)
}

/// Posts `body` signed as an `event_alert` to the instance at `base` with `request_id`.
async fn post(
    client: &reqwest::Client,
    base: &str,
    body: &[u8],
    request_id: &str,
) -> reqwest::Result<reqwest::Response> {
    let secret = herald_core::Secret::new(SECRET);
    client
        .post(format!("{base}/hooks/sentry"))
        .header("content-type", "application/json")
        .header("request-id", request_id)
        .header("sentry-hook-resource", "event_alert")
        .header(
            "sentry-hook-timestamp",
            jiff::Timestamp::now().as_second().to_string(),
        )
        .header("sentry-hook-signature", herald_sentry::sign(&secret, body))
        .body(body.to_vec())
        .send()
        .await
}

/// How many requests the stand-in received for each alert id.
fn received(standin: &StandIn) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for hit in standin.hits() {
        if let Some(id) = hit.alert_id {
            *counts.entry(id).or_default() += 1;
        }
    }
    counts
}

/// Sends `total` alerts (`{prefix}-{n}`) over `connections` connections, alternating between
/// the instances at `bases`; an alert an instance does not take (it is gone) is sent to the
/// next one with the same Request-ID, as a load balancer would. Returns the ids that got a `202`. `sent` counts the
/// alerts answered so far, for the test to act halfway.
async fn spread(
    bases: Vec<String>,
    prefix: &'static str,
    total: usize,
    connections: usize,
    sent: Arc<AtomicUsize>,
) -> Vec<String> {
    let next = Arc::new(AtomicUsize::new(0));
    let bases = Arc::new(bases);
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let (next, sent, bases) = (next.clone(), sent.clone(), bases.clone());
            tokio::spawn(async move {
                // One client each: its own kept-alive connections.
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .unwrap();
                let mut acked = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= total {
                        return acked;
                    }
                    let id = format!("{prefix}-{n}");
                    let body = event_alert(&id);
                    // The same Request-ID to the next instance: if the first stored it but
                    // its answer was lost, the copy is recognized and stored once.
                    let request_id = uuid::Uuid::new_v4().simple().to_string();
                    for k in 0..bases.len() {
                        let base = &bases[(n + k) % bases.len()];
                        match post(&client, base, &body, &request_id).await {
                            Ok(r) if r.status() == 202 => {
                                acked.push(id.clone());
                                break;
                            }
                            _ => {}
                        }
                    }
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let mut acked = Vec::new();
    for worker in workers {
        acked.extend(worker.await.unwrap());
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_spread_over_two_instances_all_arrive_when_one_is_killed_halfway() {
    const TOTAL: usize = 2_000;
    let db = Database::create();
    let standin = StandIn::start().await;
    let (a, mut b, _dirs) = pair(&config(&db, &standin.url("/hook"), CATCH_ALL)).await;
    let started = Instant::now();
    let sent = Arc::new(AtomicUsize::new(0));
    let sending = tokio::spawn(spread(
        vec![a.url(""), b.url("")],
        "kill",
        TOTAL,
        8,
        sent.clone(),
    ));
    assert!(
        wait_until(LIMIT, || sent.load(Ordering::Relaxed) >= TOTAL / 2).await,
        "half the alerts not answered within {LIMIT:?}"
    );
    b.kill9();
    let killed_at = started.elapsed();
    let acked = sending.await.unwrap();
    let sent_in = started.elapsed();
    // Every alert that got a 202 arrives, the killed instance's leased work included once its
    // 2-second leases run out.
    let arrived = wait_until(LIMIT, || {
        let got = received(&standin);
        acked.iter().all(|id| got.contains_key(id))
    })
    .await;
    let got = received(&standin);
    let missing: Vec<&String> = acked.iter().filter(|id| !got.contains_key(*id)).collect();
    if let Some(first) = missing.first() {
        let rows = crate::postgres::psql_in(
            &db.0,
            &format!(
                "SELECT d.id, d.status, d.attempts, d.lease_until, d.lease_holder, d.next_attempt_at, d.last_error, a.request_id, a.received_at, (extract(epoch from now()) * 1000)::bigint FROM deliveries d JOIN alerts a ON a.id = d.alert_id WHERE a.raw LIKE '%\"{first}\"%'"
            ),
        );
        let activity = crate::postgres::psql_in(
            &db.0,
            "SELECT pid, state, xact_start, left(query, 60) FROM pg_stat_activity WHERE datname = current_database()",
        );
        panic!(
            "{} of {} acknowledged alerts never arrived; the first, {first}: {rows}\nactivity: {activity}\ndeliveries: {}\nlog of the survivor:\n{}",
            missing.len(),
            acked.len(),
            db.statuses(),
            a.log()
        );
    }
    assert!(arrived);
    // Duplicates come only from attempts running on the killed instance, whose sends may
    // have reached the stand-in without their outcome being stored: at most one per attempt
    // slot of its one sink (32).
    let duplicates: usize = got.values().map(|n| n - 1).sum();
    assert!(duplicates <= 32, "{duplicates} duplicates");
    assert!(
        acked.len() >= TOTAL / 2,
        "only {} acknowledged",
        acked.len()
    );
    eprintln!(
        "{} of {TOTAL} acknowledged, killed at {killed_at:?}, sent in {sent_in:?}, all arrived at {:?}, {duplicates} duplicates",
        acked.len(),
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_request_id_sent_to_both_instances_is_stored_once() {
    let db = Database::create();
    let standin = StandIn::start().await;
    let (a, b, _dirs) = pair(&config(&db, &standin.url("/hook"), CATCH_ALL)).await;
    let client = reqwest::Client::new();
    let body = event_alert("twice");
    let (a_url, b_url) = (a.url(""), b.url(""));
    let (first, second) = tokio::join!(
        post(&client, &a_url, &body, "req-twice"),
        post(&client, &b_url, &body, "req-twice"),
    );
    let first: Value = first.unwrap().json().await.unwrap();
    let second: Value = second.unwrap().json().await.unwrap();
    assert_eq!(first["id"], second["id"], "{first} {second}");
    assert!(wait_until(LIMIT, || received(&standin).contains_key("twice")).await);
    let alerts = crate::postgres::psql_in(&db.0, "SELECT COUNT(*) FROM alerts");
    assert_eq!(alerts.trim(), "1");
    assert_eq!(db.statuses().trim(), "delivered|1");
    assert_eq!(received(&standin)["twice"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dedup_window_holds_across_both_instances() {
    let db = Database::create();
    let standin = StandIn::start().await;
    let routes = "  - name: dedup\n    sinks: [hook]\n    dedup_seconds: 600\n";
    let (a, b, _dirs) = pair(&config(&db, &standin.url("/hook"), routes)).await;
    // 200 events of one issue (event_alert's issue is always the same), over both.
    let acked = spread(vec![a.url(""), b.url("")], "dup", 200, 8, Arc::default()).await;
    assert_eq!(acked.len(), 200);
    // Every delivery decided: one delivered, the rest held back as duplicates.
    let decided = wait_until(LIMIT, || {
        crate::postgres::psql_in(&db.0, "SELECT COUNT(*) FROM held_back").trim() == "199"
    })
    .await;
    assert!(decided, "deliveries: {}", db.statuses());
    assert_eq!(standin.hits().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_gathered_from_both_instances_is_sent_once() {
    const TOTAL: usize = 40;
    let db = Database::create();
    let (hook, seen) = crate::noise::body_standin().await;
    // A wait long enough for all the alerts to be answered within it even on a busy machine
    // (they take tens of milliseconds), short enough for the test.
    let routes =
        "  - name: digest\n    sinks: [hook]\n    group_by: [project]\n    group_wait_seconds: 2\n";
    let (a, b, _dirs) = pair(&config(&db, &hook, routes)).await;
    // One project's alerts, alternating between A and B (`spread` sends alert n to n % 2).
    let started = Instant::now();
    let acked = spread(vec![a.url(""), b.url("")], "grp", TOTAL, 4, Arc::default()).await;
    let sent_in = started.elapsed();
    assert_eq!(acked.len(), TOTAL);
    assert!(
        sent_in < Duration::from_secs(2),
        "sending took {sent_in:?}, longer than the group's wait: the test proves nothing"
    );
    // Every alert decided: one leads the digest, the others joined it, whichever instance
    // took them.
    let decided = wait_until(LIMIT, || {
        crate::postgres::psql_in(
            &db.0,
            "SELECT COUNT(*) FROM held_back WHERE outcome = 'digest'",
        )
        .trim()
            == (TOTAL - 1).to_string()
    })
    .await;
    assert!(
        decided,
        "deliveries: {}\n{}\n{}",
        db.statuses(),
        a.log(),
        b.log()
    );
    assert!(
        wait_until(LIMIT, || db.statuses().trim() == "delivered|1").await,
        "deliveries: {}",
        db.statuses()
    );
    let messages = seen.lock().unwrap().clone();
    assert_eq!(messages.len(), 1, "one message: {messages:?}");
    // The one message lists or counts every alert, from both instances.
    let listed = messages[0]["alerts"].as_array().map_or(0, Vec::len);
    let folded = messages[0]["folded"].as_u64().unwrap_or(0) as usize;
    assert_eq!(listed + folded, TOTAL, "{}", messages[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silence_made_through_one_instance_holds_the_next_alert_on_the_other_at_once() {
    let db = Database::create();
    let standin = StandIn::start().await;
    let (a, b, _dirs) = pair(&config(&db, &standin.url("/hook"), CATCH_ALL)).await;
    let client = reqwest::Client::new();
    // B has read the silences once already (none), as a running instance has.
    let r = post(&client, &b.url(""), &event_alert("before"), "req-before")
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert!(wait_until(LIMIT, || received(&standin).contains_key("before")).await);
    let made = client
        .post(a.url("/api/v1/silences"))
        .bearer_auth(TOKEN)
        .json(&json!({
            "matchers": {"tags": {"alert_id": "hushed"}},
            "duration_seconds": 3600,
            "author": "ana",
            "comment": "payments deploy"
        }))
        .send()
        .await
        .unwrap();
    assert!(made.status().is_success(), "{}", made.status());
    let r = post(&client, &b.url(""), &event_alert("hushed"), "req-hushed")
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    // Sent after it, an alert that is delivered shows the silenced one was decided too.
    let r = post(&client, &b.url(""), &event_alert("after"), "req-after")
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let decided = wait_until(LIMIT, || {
        crate::postgres::psql_in(&db.0, "SELECT outcome FROM held_back").trim() == "silenced"
    })
    .await;
    assert!(decided, "deliveries: {}\n{}", db.statuses(), b.log());
    assert!(wait_until(LIMIT, || received(&standin).contains_key("after")).await);
    assert!(!received(&standin).contains_key("hushed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_instance_stopped_with_sigterm_leaves_nothing_lost_and_nothing_stuck() {
    const TOTAL: usize = 400;
    let db = Database::create();
    let standin = StandIn::start().await;
    let (mut a, b, _dirs) = pair(&config(&db, &standin.url("/hook"), CATCH_ALL)).await;
    let sent = Arc::new(AtomicUsize::new(0));
    let sending = tokio::spawn(spread(
        vec![a.url(""), b.url("")],
        "term",
        TOTAL,
        4,
        sent.clone(),
    ));
    assert!(wait_until(LIMIT, || sent.load(Ordering::Relaxed) >= TOTAL / 2).await);
    let status = tokio::task::spawn_blocking(move || {
        let status = a.terminate(Duration::from_secs(15));
        (status, a)
    })
    .await
    .unwrap();
    assert!(status.0.success(), "{}", status.1.log());
    let acked = sending.await.unwrap();
    assert_eq!(
        acked.len(),
        TOTAL,
        "the other instance takes what the first refuses"
    );
    let arrived = wait_until(LIMIT, || {
        let got = received(&standin);
        acked.iter().all(|id| got.contains_key(id))
    })
    .await;
    assert!(arrived, "deliveries: {}\n{}", db.statuses(), b.log());
    // Nothing pending or in flight is left behind by the stopped instance.
    let settled = wait_until(LIMIT, || {
        db.statuses().trim() == format!("delivered|{TOTAL}")
    })
    .await;
    assert!(settled, "deliveries: {}", db.statuses());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_slower_than_the_lease_is_never_taken_over_while_its_instance_lives() {
    // A receiver that answers after 5 s, more than two 2-second leases.
    let hits = Arc::new(AtomicUsize::new(0));
    let answered = Arc::new(AtomicUsize::new(0));
    let app = {
        let (hits, answered) = (hits.clone(), answered.clone());
        axum::Router::new().fallback(move || {
            let (hits, answered) = (hits.clone(), answered.clone());
            async move {
                hits.fetch_add(1, Ordering::SeqCst);
                // The slow peer under test, not a wait of the test's own.
                tokio::time::sleep(Duration::from_secs(5)).await;
                answered.fetch_add(1, Ordering::SeqCst);
                "ok"
            }
        })
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let db = Database::create();
    let (a, _b, _dirs) = pair(&config(&db, &url, CATCH_ALL)).await;
    let r = post(
        &reqwest::Client::new(),
        &a.url(""),
        &event_alert("slow"),
        "req-slow",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 202);
    assert!(wait_until(LIMIT, || answered.load(Ordering::SeqCst) == 1).await);
    let settled = wait_until(LIMIT, || db.statuses().trim() == "delivered|1").await;
    assert!(settled, "deliveries: {}", db.statuses());
    // A's dispatcher renewed the lease while the send ran: neither instance sent it again.
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    let attempts = crate::postgres::psql_in(&db.0, "SELECT attempts FROM deliveries");
    assert_eq!(attempts.trim(), "1");
}
