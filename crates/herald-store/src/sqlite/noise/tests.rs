//! The noise gate on a real SQLite file with explicit times: a digest gathered and sent with
//! its members, throttle folding, suppression recorded in `held_back`, a retry not decided
//! twice, and digests and silences surviving a reopen, and the Slack threads kept before `sink_threads`
//! moving there.

use std::sync::Arc;
use std::time::Duration;

use herald_core::config::SyncMode;
use herald_core::noise::{Gate, GateKeys, NoisePolicy, Silence, decide, parse_matchers};
use herald_core::{Alert, Level};
use jiff::Timestamp;
use tempfile::TempDir;

use super::super::SqliteStore;
use crate::noise::{GateRequest, HeldFilter, NewSilence, NoiseStore};
use crate::{LeasedDelivery, NewAlert, PageRequest, Status, Store};

const LEASE: Duration = Duration::from_secs(30);

fn t(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + seconds).unwrap()
}

async fn open(dir: &TempDir) -> SqliteStore {
    let url = format!("sqlite://{}/herald.db", dir.path().display());
    SqliteStore::open(&url, SyncMode::Normal).await.unwrap()
}

fn alert(project: &str, issue: &str) -> Arc<Alert> {
    Arc::new(Alert {
        source: "sentry".into(),
        resource: "event_alert".into(),
        action: "triggered".into(),
        project: Some(project.into()),
        level: Some(Level::Error),
        title: format!("boom in {project} #{issue}"),
        issue_id: Some(issue.into()),
        ..Alert::default()
    })
}

async fn accept(store: &SqliteStore, a: Arc<Alert>, at: Timestamp) -> String {
    let accepted = store
        .accept(NewAlert {
            source: "sentry".into(),
            request_id: None,
            endpoint: crate::Endpoint::PLATFORM,
            received_at: at,
            alert: a,
            raw: "{}".into(),
            deliveries: vec![("r".into(), "s".into())],
        })
        .await
        .unwrap();
    accepted.delivery_ids[0].clone()
}

/// Leases everything due at `now` and runs each through the gate, as the dispatcher does.
async fn gate_due(
    store: &SqliteStore,
    policy: &NoisePolicy,
    silences: &[Silence],
    now: Timestamp,
) -> Vec<(LeasedDelivery, crate::GateResult)> {
    let leased = store.lease_due(now, 1000, LEASE, None).await.unwrap();
    let mut out = Vec::new();
    for l in leased {
        let request = GateRequest {
            delivery_id: l.delivery.id.clone(),
            route: l.delivery.route.clone(),
            sink: l.delivery.sink.clone(),
            keys: GateKeys::of(Some(policy), &l.alert),
            now,
            flood: false,
        };
        let alert = l.alert.clone();
        let id = l.delivery.id.clone();
        let decide_one = move |state: &herald_core::noise::GateState| {
            decide(
                &Gate {
                    delivery: &id,
                    alert: &alert,
                    now,
                    policy: Some(policy),
                    silences,
                },
                state,
            )
        };
        let result = store.noise_gate(&request, &decide_one).await.unwrap();
        out.push((l, result));
    }
    out
}

fn digest_policy() -> NoisePolicy {
    NoisePolicy {
        group: Some(herald_core::noise::Grouping {
            by: vec![herald_core::noise::GroupBy::Field(
                herald_core::alert::Field::Project,
            )],
            wait: Duration::from_secs(30),
            interval: Duration::from_secs(300),
        }),
        ..NoisePolicy::default()
    }
}

/// Stores `n` alerts of one project a second apart and gates each, as the dispatcher would:
/// the first becomes the digest's lead (returned), pending until the group's release at
/// t(30); the others are held back, folded into it.
async fn gather_digest(store: &SqliteStore, policy: &NoisePolicy, n: i64) -> String {
    let mut lead = String::new();
    for i in 0..n {
        let id = accept(store, alert("api", &i.to_string()), t(i)).await;
        if i == 0 {
            lead = id;
        }
        gate_due(store, policy, &[], t(i)).await;
    }
    lead
}

fn is_send(v: &herald_core::noise::Verdict) -> bool {
    matches!(v, herald_core::noise::Verdict::Send { .. })
}

#[tokio::test]
async fn a_digest_is_gathered_survives_a_restart_and_is_sent_with_its_members() {
    let dir = TempDir::new().unwrap();
    let policy = digest_policy();
    let store = open(&dir).await;
    let lead = gather_digest(&store, &policy, 20).await;
    // The lead waits, pending until the group's release; the others are held back.
    let row = store.delivery(&lead).await.unwrap().unwrap();
    assert_eq!((row.status, row.next_attempt_at), (Status::Pending, t(30)));
    let held = store
        .held_back(&HeldFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(held.items.len(), 19);
    assert!(
        held.items
            .iter()
            .all(|h| h.outcome == "digest" && h.folded_into.as_deref() == Some(lead.as_str()))
    );
    store.close().await;

    // After a restart the buffered digest is still there and goes out at its time.
    let store = open(&dir).await;
    assert!(gate_due(&store, &policy, &[], t(29)).await.is_empty());
    let sent = gate_due(&store, &policy, &[], t(30)).await;
    assert_eq!(sent.len(), 1);
    let (l, result) = &sent[0];
    assert_eq!(l.delivery.id, lead);
    assert!(is_send(&result.verdict));
    assert_eq!(result.members.len(), 19);
    assert_eq!(result.members[0].alert.issue_id.as_deref(), Some("1"));

    // A retry of the sent digest is not decided again: same members, still a send.
    store
        .mark_retry(&lead, t(31), "unavailable", t(30), None)
        .await
        .unwrap();
    let again = gate_due(&store, &policy, &[], t(31)).await;
    assert!(is_send(&again[0].1.verdict));
    assert_eq!(again[0].1.members.len(), 19);
}

#[tokio::test]
async fn silences_are_stored_listed_expired_and_survive_a_restart() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir).await;
    let created = store
        .create_silence(
            NewSilence {
                matchers: serde_json::json!({"project": "api"}),
                starts_at: t(0),
                ends_at: t(3600),
                author: "ana".into(),
                comment: "deploy".into(),
            },
            t(0),
        )
        .await
        .unwrap();
    store.close().await;
    let store = open(&dir).await;
    let listed = store.silences(false, t(10)).await.unwrap();
    assert_eq!(listed, vec![created.clone()]);
    assert_eq!(listed[0].state(t(10)), "active");

    // While it applies, a matching delivery is recorded as silenced and leaves the queue.
    let silence = Silence {
        id: created.id.clone(),
        matchers: parse_matchers(&created.matchers).unwrap(),
        starts_at: created.starts_at,
        ends_at: created.ends_at,
    };
    let id = accept(&store, alert("api", "1"), t(10)).await;
    let policy = NoisePolicy::default();
    let out = gate_due(&store, &policy, std::slice::from_ref(&silence), t(10)).await;
    assert!(!is_send(&out[0].1.verdict));
    assert!(store.delivery(&id).await.unwrap().is_none());
    let held = store
        .held_back(
            &HeldFilter {
                outcome: Some("silenced".into()),
                ..HeldFilter::default()
            },
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(held.items[0].delivery_id, id);
    assert_eq!(held.items[0].detail.as_deref(), Some(created.id.as_str()));

    // Expired by hand, it ends now and is no longer listed as live.
    let expired = store
        .expire_silence(&created.id, t(20))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((expired.ends_at, expired.expired_at), (t(20), Some(t(20))));
    assert!(store.silences(false, t(21)).await.unwrap().is_empty());
    assert_eq!(store.silences(true, t(21)).await.unwrap().len(), 1);
    assert!(store.expire_silence("nope", t(21)).await.unwrap().is_none());
}

#[tokio::test]
async fn slack_threads_kept_before_the_move_to_sink_threads_are_kept() {
    let dir = TempDir::new().unwrap();
    let url = format!("sqlite://{}/herald.db?mode=rwc", dir.path().display());
    // A database as the release before `sink_threads` left it, with one Slack thread kept.
    {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let all = &super::super::MIGRATOR;
        let before = sqlx::migrate::Migrator {
            migrations: all
                .migrations
                .iter()
                .filter(|m| m.version < 700)
                .cloned()
                .collect(),
            ignore_missing: all.ignore_missing,
            locking: all.locking,
            no_tx: all.no_tx,
        };
        before.run(&pool).await.unwrap();
        sqlx::query(
            "INSERT INTO slack_threads (sink, issue_id, channel, ts, destination, updated_at)
             VALUES ('slack', '42', 'C1', '1.0001', '#alerts', 0)",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    }
    let store = open(&dir).await;
    let kept = store.thread("slack", "42").await.unwrap().unwrap();
    assert_eq!(kept.destination, "#alerts");
    let reference: serde_json::Value = serde_json::from_str(&kept.reference).unwrap();
    assert_eq!(
        reference,
        serde_json::json!({"channel": "C1", "ts": "1.0001"})
    );
    assert_eq!(store.thread("slack", "43").await.unwrap(), None);
}

#[tokio::test]
async fn silences_can_be_read_without_opening_the_store() {
    let dir = TempDir::new().unwrap();
    let url = format!("sqlite://{}/herald.db", dir.path().display());
    assert_eq!(SqliteStore::read_silences(&url, t(0)).await.unwrap(), None);
    let store = open(&dir).await;
    let made = store
        .create_silence(
            NewSilence {
                matchers: serde_json::json!({"project": "api"}),
                starts_at: t(0),
                ends_at: t(60),
                author: "ana".into(),
                comment: String::new(),
            },
            t(0),
        )
        .await
        .unwrap();
    store.close().await;
    let read = SqliteStore::read_silences(&url, t(10)).await.unwrap();
    assert_eq!(read, Some(vec![made]));
    let ended = SqliteStore::read_silences(&url, t(60)).await.unwrap();
    assert_eq!(ended, Some(vec![]));
}

#[tokio::test]
async fn expired_dedup_entries_are_pruned_as_later_alerts_are_sent() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir).await;
    let policy = NoisePolicy {
        dedup: Some(Duration::from_secs(60)),
        ..NoisePolicy::default()
    };
    for i in 0..5 {
        accept(&store, alert("api", &i.to_string()), t(0)).await;
    }
    gate_due(&store, &policy, &[], t(0)).await;
    let count = |store: &SqliteStore| {
        let reader = store.reader.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM noise_dedup")
                .fetch_one(&reader)
                .await
                .unwrap()
        }
    };
    assert_eq!(count(&store).await, 5);
    // Long after they expired, the next send clears them (its own entry stays).
    accept(&store, alert("api", "new"), t(600)).await;
    gate_due(&store, &policy, &[], t(600)).await;
    assert_eq!(count(&store).await, 1);
}

#[tokio::test]
async fn an_alerts_history_names_the_digest_its_delivery_was_folded_into() {
    use crate::AdminStore;

    let dir = TempDir::new().unwrap();
    let policy = digest_policy();
    let store = open(&dir).await;
    let lead = gather_digest(&store, &policy, 3).await;
    let lead_alert = store.delivery(&lead).await.unwrap().unwrap().alert_id;
    let held = store
        .held_back(&HeldFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    let member = held.items[0].clone();

    let history = store.alert_history(&member.alert_id).await.unwrap();
    assert!(history.deliveries.is_empty(), "{history:?}");
    assert_eq!(history.held_back, vec![member]);
    let folded: Vec<_> = history.folded_into.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(folded, [lead.as_str()]);
    assert_eq!(history.folded_into[0].status, Status::Pending);

    let history = store.alert_history(&lead_alert).await.unwrap();
    let ids: Vec<_> = history.deliveries.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, [lead.as_str()]);
    assert!(history.held_back.is_empty() && history.folded_into.is_empty());

    let none = store.alert_history("no-such-alert").await.unwrap();
    assert_eq!(none, crate::AlertHistory::default());
}
