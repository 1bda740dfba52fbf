//! Tests of the SQLite store on real files in temporary folders. Time is passed in, never
//! slept on: leases expire because a later `now` is handed over.

use std::sync::Arc;
use std::time::Duration;

use herald_core::config::SyncMode;
use herald_core::{Alert, Level, Receipt};
use jiff::Timestamp;
use tempfile::TempDir;

use super::writer::{AcceptJob, Job, LeaseJob, Mark, MarkJob};
use super::*;

const LEASE: Duration = Duration::from_secs(30);

fn t(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + seconds).unwrap()
}

fn url(dir: &TempDir) -> String {
    format!("sqlite://{}/data/herald.db", dir.path().display())
}

async fn open(dir: &TempDir) -> SqliteStore {
    SqliteStore::open(&url(dir), SyncMode::Normal)
        .await
        .unwrap()
}

fn alert(title: &str) -> Arc<Alert> {
    let mut alert = Alert {
        source: "sentry".into(),
        resource: "issue".into(),
        action: "created".into(),
        project: Some("backend".into()),
        level: Some(Level::Error),
        title: title.into(),
        short_id: Some("BACKEND-7".into()),
        timestamp: Some(t(-5)),
        ..Alert::default()
    };
    alert.tags.insert("environment", "production");
    Arc::new(alert)
}

fn new_alert(title: &str, request_id: Option<&str>, at: Timestamp, sinks: &[&str]) -> NewAlert {
    NewAlert {
        source: "sentry".into(),
        request_id: request_id.map(str::to_string),
        endpoint: crate::Endpoint::PLATFORM,
        received_at: at,
        alert: alert(title),
        raw: format!(r#"{{"action":"created","data":{{"title":"{title}"}}}}"#),
        deliveries: sinks
            .iter()
            .map(|sink| ("prod".to_string(), sink.to_string()))
            .collect(),
    }
}

async fn lease(store: &SqliteStore, now: Timestamp) -> Vec<LeasedDelivery> {
    store.lease_due(now, 100, LEASE, None).await.unwrap()
}

fn ids(leased: &[LeasedDelivery]) -> Vec<String> {
    leased.iter().map(|l| l.delivery.id.clone()).collect()
}

async fn status_of(store: &SqliteStore, id: &str) -> Status {
    store.delivery(id).await.unwrap().unwrap().status
}

#[tokio::test]
async fn accept_commits_and_survives_reopening() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir).await;
    let new = new_alert("boom", Some("req-1"), t(0), &["slack", "email"]);
    let original = new.alert.clone();
    let accepted = store.accept(new).await.unwrap();
    assert!(!accepted.duplicate);
    assert_eq!(accepted.delivery_ids.len(), 2);
    // Dropped without close(): the answer alone must mean the rows are committed.
    drop(store);

    let store = open(&dir).await;
    let stored = store.alert(&accepted.alert_id).await.unwrap().unwrap();
    assert_eq!(stored.source, "sentry");
    assert_eq!(stored.request_id.as_deref(), Some("req-1"));
    assert_eq!(stored.received_at, t(0));
    assert!(stored.raw.contains(r#""title":"boom""#));
    assert_eq!(stored.alert.raw["data"]["title"], "boom");
    let mut expected = (*original).clone();
    expected.raw = stored.alert.raw.clone();
    assert_eq!(*stored.alert, expected);

    let first = store
        .delivery(&accepted.delivery_ids[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (first.route.as_str(), first.sink.as_str()),
        ("prod", "slack")
    );
    assert_eq!(first.status, Status::Pending);
    assert_eq!(first.attempts, 0);
    assert_eq!(first.next_attempt_at, t(0));
    assert_eq!(first.alert_id, accepted.alert_id);
    let counts = store.count_by_status().await.unwrap();
    assert_eq!(
        counts,
        StatusCounts {
            pending: 2,
            ..StatusCounts::default()
        }
    );
}

#[tokio::test]
async fn open_creates_the_folder_and_uses_wal() {
    let dir = TempDir::new().unwrap();
    let store = SqliteStore::open(&url(&dir), SyncMode::Full).await.unwrap();
    assert!(dir.path().join("data/herald.db").is_file());
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&store.reader)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    store.ping().await.unwrap();
}

#[tokio::test]
async fn a_repeat_inside_one_group_commit_is_still_stored_once() {
    let dir = TempDir::new().unwrap();
    let store = Arc::new(open(&dir).await);
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .accept(new_alert("boom", Some("same"), t(0), &["slack"]))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut fresh = 0;
    let mut alert_ids = std::collections::HashSet::new();
    for task in tasks {
        let accepted = task.await.unwrap();
        fresh += usize::from(!accepted.duplicate);
        alert_ids.insert(accepted.alert_id);
    }
    assert_eq!(fresh, 1);
    assert_eq!(alert_ids.len(), 1);
    // The point of the test: repeats met inside one transaction, not only across commits.
    assert!(store.stats().commits < 20, "{:?}", store.stats());
    assert_eq!(store.count_by_status().await.unwrap().total(), 1);
}

/// An accept whose alert carries its parsed body, as the webhook handler's does.
fn parsed(mut new: NewAlert) -> NewAlert {
    let mut alert = (*new.alert).clone();
    alert.raw = serde_json::from_str(&new.raw).unwrap();
    new.alert = Arc::new(alert);
    new
}

#[tokio::test]
async fn an_accept_can_take_the_first_lease_in_the_same_commit() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir).await;
    let commits = store.stats().commits;
    let new = parsed(new_alert("boom", Some("req-1"), t(0), &["slack", "email"]));
    let (accepted, leased) = store.accept_leased(new.clone(), LEASE).await.unwrap();
    assert_eq!(
        store.stats().commits,
        commits + 1,
        "one commit for the accept and its lease"
    );
    assert_eq!(ids(&leased), accepted.delivery_ids);
    for got in &leased {
        // What the handler hands on is the row as stored, as a lease would read it back.
        let row = store.delivery(&got.delivery.id).await.unwrap().unwrap();
        assert_eq!(row, got.delivery);
        assert_eq!(row.status, Status::InFlight);
        assert_eq!(row.attempts, 1);
        assert_eq!(row.lease_until, Some(t(30)));
        assert_eq!(got.alert.raw["action"], "created");
        assert_eq!(got.notification().attempt, 1);
    }
    // Nobody else takes them while the lease holds; they come back, same ids, when it ends.
    assert!(lease(&store, t(29)).await.is_empty());
    assert_eq!(store.next_due_at().await.unwrap(), Some(t(30)));
    let again = lease(&store, t(30)).await;
    assert_eq!(ids(&again), accepted.delivery_ids);
    assert_eq!(again[0].delivery.attempts, 2);

    // A repeated request stores nothing and hands nothing on.
    let (duplicate, none) = store.accept_leased(new, LEASE).await.unwrap();
    assert!(duplicate.duplicate);
    assert_eq!(duplicate.delivery_ids, accepted.delivery_ids);
    assert!(none.is_empty());
}

#[tokio::test]
async fn deliveries_leased_at_accept_are_given_back_when_the_process_dies() {
    let dir = TempDir::new().unwrap();
    let (accepted, _) = {
        let store = open(&dir).await;
        let new = parsed(new_alert("boom", None, t(0), &["slack"]));
        let out = store.accept_leased(new, LEASE).await.unwrap();
        store.close().await;
        out
    };
    let reopened = open(&dir).await;
    assert_eq!(
        status_of(&reopened, &accepted.delivery_ids[0]).await,
        Status::Pending
    );
    assert_eq!(ids(&lease(&reopened, t(1)).await), accepted.delivery_ids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_accepts_are_all_committed_in_fewer_commits() {
    let dir = TempDir::new().unwrap();
    // Used the way the server holds it.
    let store: Arc<dyn Store> = Arc::new(open(&dir).await);
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .accept(new_alert(
                        &format!("alert {i}"),
                        Some(&format!("req-{i}")),
                        t(0),
                        &["slack"],
                    ))
                    .await
            })
        })
        .collect();
    let mut alert_ids = std::collections::HashSet::new();
    for task in tasks {
        let accepted = task.await.unwrap().unwrap();
        assert!(!accepted.duplicate);
        alert_ids.insert(accepted.alert_id);
    }
    assert_eq!(alert_ids.len(), 200);
    let stats = store.stats();
    assert_eq!(stats.operations, 200);
    assert!(
        stats.commits < stats.operations,
        "group commit did not batch: {stats:?}"
    );

    // Committed means durable: a fresh store over the same file sees every one.
    store.close().await;
    let reopened = open(&dir).await;
    assert_eq!(reopened.count_by_status().await.unwrap().pending, 200);
}

#[tokio::test]
async fn deliveries_of_a_crashed_process_are_taken_again_as_soon_as_it_restarts() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir).await;
    let accepted = store
        .accept(new_alert("boom", None, t(0), &["slack", "email"]))
        .await
        .unwrap();
    assert_eq!(lease(&store, t(0)).await.len(), 2);
    // The process dies holding the lease: no release, no close.
    drop(store);

    // Reopening gives the dead process's leases back at once, not when they run out (t(30)).
    let store = open(&dir).await;
    let counts = store.count_by_status().await.unwrap();
    assert_eq!((counts.in_flight, counts.pending), (0, 2));
    let recovered = lease(&store, t(1)).await;
    let mut got = ids(&recovered);
    got.sort();
    let mut expected = accepted.delivery_ids.clone();
    expected.sort();
    assert_eq!(got, expected, "same ids: the same idempotency keys");
    // The attempt that may have gone out before the crash still counts.
    assert!(recovered.iter().all(|l| l.delivery.attempts == 2));
}

#[tokio::test]
async fn one_failing_write_does_not_fail_its_batch() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir).await;
    // Queued while the writer is held at its gate, so all three land in one batch. The sink
    // filter is not JSON, which makes SQLite's json_each fail.
    let (a, a_answer) = Job::accept(AcceptJob::new(new_alert("a", None, t(0), &["slack"])));
    let (bad, bad_answer) = Job::lease(LeaseJob {
        now: to_millis(t(0)),
        lease_until: to_millis(t(30)),
        limit: 10,
        sinks: Some("not json".into()),
        limits: None,
        known: None,
    });
    let (b, b_answer) = Job::accept(AcceptJob::new(new_alert("b", None, t(0), &["slack"])));
    let held = store.counters.gate.lock().unwrap();
    for job in [a, bad, b] {
        store.jobs.try_send(job).unwrap();
    }
    drop(held);
    assert!(a_answer.await.unwrap().is_ok());
    assert!(matches!(
        bad_answer.await.unwrap(),
        Err(StoreError::Write(_))
    ));
    assert!(b_answer.await.unwrap().is_ok());
    assert_eq!(store.count_by_status().await.unwrap().pending, 2);
    assert_eq!(
        store.stats(),
        StoreStats {
            operations: 3,
            commits: 2
        }
    );
}

#[tokio::test]
async fn a_closed_store_refuses_writes() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir).await;
    store.ping().await.unwrap();
    store.close().await;
    assert!(matches!(store.ping().await, Err(StoreError::Closed)));
    let refused = store
        .accept(new_alert("boom", None, t(0), &["slack"]))
        .await;
    assert!(matches!(refused, Err(StoreError::Closed)));
}

#[test]
fn storage_urls_are_checked() {
    assert_eq!(
        sqlite_path("sqlite://data/herald.db").unwrap(),
        PathBuf::from("data/herald.db")
    );
    assert_eq!(
        sqlite_path("sqlite:///var/lib/herald.db").unwrap(),
        PathBuf::from("/var/lib/herald.db")
    );
    let message = |url| sqlite_path(url).unwrap_err().to_string();
    assert_eq!(
        message("postgres://db/herald"),
        "unsupported storage url \"postgres://db/herald\": PostgreSQL storage is not available yet; use sqlite://PATH"
    );
    assert_eq!(
        message("sqlite://"),
        "unsupported storage url \"sqlite://\": it names no file; use sqlite://PATH, for example sqlite://data/herald.db"
    );
    assert!(message("sqlite://:memory:").contains("without ?options or :memory:"));
    assert!(message("data/herald.db").contains("use sqlite://PATH"));
}

#[tokio::test]
async fn a_limited_lease_takes_each_sinks_share_in_one_commit() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir).await;
    let mut by_time = Vec::new();
    for at in [3, 1, 2] {
        let accepted = store
            .accept(new_alert("boom", None, t(at), &["slack", "email", "pager"]))
            .await
            .unwrap();
        by_time.push((at, accepted.delivery_ids));
    }
    by_time.sort();
    let before = store.stats();
    let limits = [("slack".to_string(), 2), ("email".to_string(), 1)];
    let leased = store
        .lease_due_limited(t(10), 10, &limits, LEASE)
        .await
        .unwrap();
    let mut got = ids(&leased);
    got.sort();
    let mut expected = vec![
        by_time[0].1[0].clone(),
        by_time[1].1[0].clone(),
        by_time[0].1[1].clone(),
    ];
    expected.sort();
    assert_eq!(got, expected);
    assert!(leased.iter().all(|l| l.delivery.status == Status::InFlight));
    assert_eq!(store.stats().commits, before.commits + 1);
    assert_eq!(store.count_by_status().await.unwrap().pending, 6);
    // The overall limit caps the sinks' shares.
    let all = [("pager".to_string(), 3), ("slack".to_string(), 3)];
    assert_eq!(
        store
            .lease_due_limited(t(10), 2, &all, LEASE)
            .await
            .unwrap()
            .len(),
        2
    );
    // A sink given no room gets nothing, and no room at all leases nothing.
    let none = [("pager".to_string(), 0)];
    assert!(
        store
            .lease_due_limited(t(10), 10, &none, LEASE)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn outcomes_that_end_together_are_written_in_one_commit() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir).await;
    store
        .accept(new_alert("boom", None, t(0), &["a", "b", "c"]))
        .await
        .unwrap();
    let leased = lease(&store, t(1)).await;
    assert_eq!(leased.len(), 3);
    let id = |sink: &str| {
        leased
            .iter()
            .find(|l| l.delivery.sink == sink)
            .unwrap()
            .delivery
            .id
            .clone()
    };
    let before = store.stats();
    let receipt = Receipt {
        status: Some(200),
        message_id: None,
        channel: None,
        destination: None,
        detail: Some("ok".into()),
        thread: None,
    };
    // Queued while the writer is held at its gate, so all four share a batch.
    let mark = |mark, id: String| {
        Job::mark(MarkJob {
            id,
            mark,
            now: to_millis(t(2)),
            attempt: None,
        })
    };
    let (a, a_answer) = mark(
        Mark::Delivered {
            receipt: serde_json::to_string(&receipt).unwrap(),
        },
        id("a"),
    );
    let (b, b_answer) = mark(
        Mark::Retry {
            next_attempt_at: to_millis(t(60)),
            error: "503".into(),
        },
        id("b"),
    );
    let (c, c_answer) = mark(
        Mark::Dead {
            reason: "gone".into(),
        },
        id("c"),
    );
    let (unknown, unknown_answer) = mark(Mark::Dead { reason: "?".into() }, "nope".into());
    let held = store.counters.gate.lock().unwrap();
    for job in [a, b, c, unknown] {
        store.jobs.try_send(job).unwrap();
    }
    drop(held);
    assert!(a_answer.await.unwrap().unwrap());
    assert!(b_answer.await.unwrap().unwrap());
    assert!(c_answer.await.unwrap().unwrap());
    assert!(!unknown_answer.await.unwrap().unwrap());
    assert_eq!(store.stats().commits, before.commits + 1);

    let a = store.delivery(&id("a")).await.unwrap().unwrap();
    assert_eq!(
        (a.status, a.receipt, a.last_error),
        (Status::Delivered, Some(receipt), None)
    );
    assert_eq!(a.updated_at, t(2));
    let b = store.delivery(&id("b")).await.unwrap().unwrap();
    assert_eq!(b.status, Status::Pending);
    assert_eq!(b.next_attempt_at, t(60));
    assert_eq!(b.last_error.as_deref(), Some("503"));
    assert_eq!(b.lease_until, None);
    let c = store.delivery(&id("c")).await.unwrap().unwrap();
    assert_eq!(
        (c.status, c.last_error.as_deref()),
        (Status::Dead, Some("gone"))
    );
    assert_eq!(c.next_attempt_at, t(0));
}

#[tokio::test]
async fn a_just_accepted_alert_is_leased_from_memory_with_its_body() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir).await;
    let mut new = new_alert("boom", None, t(0), &["slack"]);
    let mut parsed = (*new.alert).clone();
    parsed.raw = serde_json::from_str(&new.raw).unwrap();
    new.alert = Arc::new(parsed);
    let kept = new.alert.clone();
    store.accept(new).await.unwrap();
    let leased = lease(&store, t(1)).await;
    assert!(
        Arc::ptr_eq(&leased[0].alert, &kept),
        "read back instead of cached"
    );

    // After a restart the cache is empty and the same alert comes from the database.
    store.close().await;
    let store = open(&dir).await;
    let leased = lease(&store, t(100)).await;
    assert!(!Arc::ptr_eq(&leased[0].alert, &kept));
    assert_eq!(*leased[0].alert, *kept);
}

#[tokio::test]
async fn the_write_connection_leaves_checkpoints_to_the_checkpointer_up_to_the_backstop() {
    use rusqlite::types::Value;
    let dir = TempDir::new().unwrap();
    let store = open(&dir).await;
    for (sync, level) in [(SyncMode::Normal, 1), (SyncMode::Full, 2)] {
        let conn = writer::connect(store.path(), sync).unwrap();
        let pragma = |name| {
            conn.pragma_query_value(None, name, |row| row.get::<_, Value>(0))
                .unwrap()
        };
        assert_eq!(pragma("journal_mode"), Value::Text("wal".into()));
        assert_eq!(pragma("synchronous"), Value::Integer(level));
        assert_eq!(pragma("foreign_keys"), Value::Integer(1));
        assert_eq!(
            pragma("wal_autocheckpoint"),
            Value::Integer(writer::WAL_BACKSTOP_PAGES)
        );
    }
    store.close().await;
}

#[tokio::test]
async fn a_checkpoint_job_makes_the_writer_copy_the_wal_into_the_file() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir).await;
    let path = store.path().to_path_buf();
    store.close().await;
    // No store, so no background checkpointer: only the writer started here writes the file.
    drop(store);
    let (jobs, queue) = tokio::sync::mpsc::channel(8);
    let opened = writer::spawn(
        path.clone(),
        SyncMode::Normal,
        queue,
        Arc::default(),
        writer::OUTCOME_WAIT,
    )
    .unwrap();
    opened.await.unwrap().unwrap();
    let before = std::fs::metadata(&path).unwrap().len();
    let body = 256 * 1024;
    let mut new = new_alert("big", None, t(0), &["slack"]);
    new.raw = format!(r#"{{"padding":"{}"}}"#, "x".repeat(body));
    let (accept, accepted) = Job::accept(AcceptJob::new(new));
    jobs.send(accept).await.unwrap();
    accepted.await.unwrap().unwrap();
    // Committed to the WAL only: far below the backstop.
    assert!(std::fs::metadata(&path).unwrap().len() < before + body as u64);

    jobs.send(Job::Checkpoint).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let size = std::fs::metadata(&path).unwrap().len();
        if size >= before + body as u64 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the database file stayed at {size} bytes (it was {before})"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (done, closed) = tokio::sync::oneshot::channel();
    jobs.send(Job::Close(done)).await.unwrap();
    closed.await.unwrap();
}

#[tokio::test]
async fn an_outcome_waits_for_the_next_write_and_shares_its_commit() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir).await;
    let path = store.path().to_path_buf();
    store.close().await;
    drop(store);
    // A wait far longer than the test, so only the accept can end it.
    let counters = Arc::new(writer::Counters::default());
    let (jobs, queue) = tokio::sync::mpsc::channel(8);
    let opened = writer::spawn(
        path,
        SyncMode::Normal,
        queue,
        counters.clone(),
        Duration::from_secs(600),
    )
    .unwrap();
    opened.await.unwrap().unwrap();
    let (accept, accepted) = Job::accept(AcceptJob::new(new_alert("one", None, t(0), &["slack"])));
    jobs.send(accept).await.unwrap();
    let first = accepted.await.unwrap().unwrap();
    let commits = counters.snapshot().commits;

    let (mark, marked) = Job::mark(MarkJob {
        id: first.delivery_ids[0].clone(),
        mark: Mark::Dead {
            reason: "gone".into(),
        },
        now: 1,
        attempt: None,
    });
    jobs.send(mark).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while counters.waited.load(std::sync::atomic::Ordering::Relaxed) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the outcome never waited"
        );
        tokio::task::yield_now().await;
    }
    let (accept, accepted) = Job::accept(AcceptJob::new(new_alert("two", None, t(1), &["slack"])));
    jobs.send(accept).await.unwrap();
    assert!(marked.await.unwrap().unwrap());
    accepted.await.unwrap().unwrap();
    assert_eq!(
        counters.snapshot().commits,
        commits + 1,
        "one commit for both"
    );

    let (done, closed) = tokio::sync::oneshot::channel();
    jobs.send(Job::Close(done)).await.unwrap();
    closed.await.unwrap();
}
