//! Tests of what only the PostgreSQL store does: a url's password kept out of its errors and
//! `Debug`, concurrent accepts sharing one commit, and the Slack threads of an older schema
//! moving to `sink_threads`. Its behaviour is the conformance suite's (`tests/conformance`).

use std::sync::Arc;

use jiff::Timestamp;

use super::PostgresStore;
use crate::{Accepted, AdminStore, NewAlert, Store, StoreError};

#[tokio::test]
async fn a_password_never_appears_in_an_open_error() {
    // A port nothing listens on, and a url nothing can parse: both fail, neither shows it.
    for url in [
        "postgres://herald:Sup3r-s3cret@127.0.0.1:1/herald",
        "postgres://herald:Sup3r-s3cret@127.0.0.1:notaport/herald",
    ] {
        let err = PostgresStore::open(url).await.unwrap_err();
        let mut shown = format!("{err} {err:?}");
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            shown.push_str(&format!(" {cause} {cause:?}"));
            source = cause.source();
        }
        assert!(!shown.contains("Sup3r-s3cret"), "{shown}");
        assert!(shown.contains("herald:***@127.0.0.1"), "{shown}");
    }
}

#[tokio::test]
async fn a_password_never_appears_in_the_stores_debug() {
    use sqlx::{ConnectOptions, Connection};
    // The machine's PostgreSQL trusts local connections, so any password is taken; the
    // store is opened on a database of its own, dropped at the end.
    let admin_url = "postgres://postgres@127.0.0.1:5432/postgres";
    let name = format!("herald_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = admin_url
        .parse::<sqlx::postgres::PgConnectOptions>()
        .unwrap()
        .connect()
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = format!("postgres://postgres:Sup3r-s3cret@127.0.0.1:5432/{name}");
    let store = PostgresStore::open(&url).await.unwrap();
    let shown = format!("{store:?}");
    store.close().await;
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
    let _ = admin.close().await;
    assert!(!shown.contains("Sup3r-s3cret"), "{shown}");
}

/// A store on a database of its own, and the connection that drops it.
async fn fresh() -> (Arc<PostgresStore>, sqlx::PgConnection, String) {
    use sqlx::ConnectOptions;
    let mut admin = "postgres://postgres@127.0.0.1:5432/postgres"
        .parse::<sqlx::postgres::PgConnectOptions>()
        .unwrap()
        .connect()
        .await
        .unwrap();
    let name = format!("herald_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
    let store = Arc::new(PostgresStore::open(&url).await.unwrap());
    (store, admin, name)
}

async fn drop_database(store: Arc<PostgresStore>, mut admin: sqlx::PgConnection, name: String) {
    use sqlx::Connection;
    store.close().await;
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
    let _ = admin.close().await;
}

fn new_alert(title: &str, request_id: Option<&str>, raw: &str) -> NewAlert {
    NewAlert {
        source: "sentry".into(),
        request_id: request_id.map(str::to_string),
        endpoint: crate::Endpoint::PLATFORM,
        received_at: Timestamp::from_second(1_700_000_000).unwrap(),
        alert: Arc::new(herald_core::Alert {
            source: "sentry".into(),
            resource: "issue".into(),
            action: "created".into(),
            title: title.into(),
            ..herald_core::Alert::default()
        }),
        raw: raw.to_string(),
        deliveries: vec![
            ("prod".to_string(), "slack".to_string()),
            ("prod".to_string(), "pager".to_string()),
        ],
    }
}

/// Accepts every alert at once, on tasks of their own, and returns the answers in order.
async fn accept_all(
    store: &Arc<PostgresStore>,
    alerts: Vec<NewAlert>,
) -> Vec<Result<Accepted, StoreError>> {
    let tasks: Vec<_> = alerts
        .into_iter()
        .map(|new| {
            let store = store.clone();
            tokio::spawn(async move { store.accept(new).await })
        })
        .collect();
    let mut answers = Vec::with_capacity(tasks.len());
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

#[tokio::test]
async fn concurrent_accepts_share_commits_and_dedup_within_a_batch() {
    let (store, admin, name) = fresh().await;
    let before = store.stats().commits;
    // 56 different alerts and 8 redeliveries of one request, all queued at once.
    let mut alerts: Vec<NewAlert> = (0..56)
        .map(|i| new_alert(&format!("boom {i}"), Some(&format!("req-{i}")), "{}"))
        .collect();
    for _ in 0..8 {
        alerts.push(new_alert("again", Some("req-again"), r#"{"again":1}"#));
    }
    let answers: Vec<Accepted> = accept_all(&store, alerts)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let commits = store.stats().commits - before;
    assert!(commits < 16, "64 concurrent accepts took {commits} commits");

    let again = &answers[56..];
    assert_eq!(
        again.iter().filter(|a| !a.duplicate).count(),
        1,
        "{again:?}"
    );
    for answer in again {
        assert_eq!(answer.alert_id, again[0].alert_id);
        assert_eq!(answer.delivery_ids.len(), 2);
        assert_eq!(answer.delivery_ids, again[0].delivery_ids);
    }
    assert!(answers[..56].iter().all(|a| !a.duplicate));
    for answer in &answers {
        assert!(store.alert(&answer.alert_id).await.unwrap().is_some());
        for id in &answer.delivery_ids {
            assert_eq!(
                store.delivery(id).await.unwrap().unwrap().alert_id,
                answer.alert_id
            );
        }
    }
    assert_eq!(store.count_by_status().await.unwrap().pending, 57 * 2);
    drop_database(store, admin, name).await;
}

#[tokio::test]
async fn a_failing_accept_fails_alone_not_its_batch() {
    let (store, admin, name) = fresh().await;
    // PostgreSQL's text takes no NUL byte: that insert fails inside the shared transaction.
    let mut alerts: Vec<NewAlert> = (0..31)
        .map(|i| new_alert(&format!("fine {i}"), Some(&format!("req-{i}")), "{}"))
        .collect();
    alerts.insert(10, new_alert("bad", Some("req-bad"), "nul \0 byte"));
    let answers = accept_all(&store, alerts).await;
    for (i, answer) in answers.iter().enumerate() {
        if i == 10 {
            assert!(answer.is_err(), "{answer:?}");
        } else {
            let accepted = answer.as_ref().unwrap();
            assert!(!accepted.duplicate);
            assert!(store.alert(&accepted.alert_id).await.unwrap().is_some());
        }
    }
    assert_eq!(store.count_by_status().await.unwrap().pending, 31 * 2);
    drop_database(store, admin, name).await;
}

#[tokio::test]
async fn concurrent_outcomes_share_commits_and_number_their_attempts() {
    let (store, admin, name) = fresh().await;
    let alerts = (0..32)
        .map(|i| new_alert(&format!("boom {i}"), None, "{}"))
        .collect();
    let ids: Vec<String> = accept_all(&store, alerts)
        .await
        .into_iter()
        .flat_map(|a| a.unwrap().delivery_ids)
        .collect();
    let now = Timestamp::from_second(1_700_000_010).unwrap();
    let lease = std::time::Duration::from_secs(30);
    assert_eq!(
        store.lease_due(now, 100, lease, None).await.unwrap().len(),
        64
    );
    let attempt = crate::AttemptRecord {
        started_at: now,
        latency: std::time::Duration::from_millis(3),
        status: Some(500),
    };
    let before = store.stats().commits;
    // Every delivery retried, and the first one retried twice at once (a re-taken lease's
    // two workers): its two attempts must get different numbers.
    let mut targets = ids.clone();
    targets.push(ids[0].clone());
    let tasks: Vec<_> = targets
        .into_iter()
        .map(|id| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .mark_retry(&id, now, "503 from the sink", now, Some(&attempt))
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let commits = store.stats().commits - before;
    assert!(
        commits < 16,
        "65 concurrent outcomes took {commits} commits"
    );
    assert_eq!(store.count_by_status().await.unwrap().pending, 64);
    let numbers: Vec<u32> = store
        .attempts(&ids[0])
        .await
        .unwrap()
        .iter()
        .map(|a| a.number)
        .collect();
    assert_eq!(numbers, [1, 2]);
    assert_eq!(store.attempts(&ids[1]).await.unwrap().len(), 1);
    drop_database(store, admin, name).await;
}

#[tokio::test]
async fn slack_threads_kept_before_the_move_to_sink_threads_are_kept() {
    use sqlx::{ConnectOptions, Connection};
    let admin_url = "postgres://postgres@127.0.0.1:5432/postgres";
    let name = format!("herald_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = admin_url
        .parse::<sqlx::postgres::PgConnectOptions>()
        .unwrap()
        .connect()
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
    // A database as the release before `sink_threads` left it, with one Slack thread kept.
    {
        let mut conn = url
            .parse::<sqlx::postgres::PgConnectOptions>()
            .unwrap()
            .connect()
            .await
            .unwrap();
        let all = &super::MIGRATOR;
        let before = sqlx::migrate::Migrator {
            migrations: all
                .migrations
                .iter()
                .filter(|m| m.version < 20)
                .cloned()
                .collect(),
            ignore_missing: all.ignore_missing,
            locking: all.locking,
            no_tx: all.no_tx,
        };
        before.run(&mut conn).await.unwrap();
        sqlx::query(
            "INSERT INTO slack_threads (sink, issue_id, channel, ts, destination, updated_at)
             VALUES ('slack', '42', 'C1', '1.0001', '#alerts', 0)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        let _ = conn.close().await;
    }
    let store = PostgresStore::open(&url).await.unwrap();
    let kept = crate::NoiseStore::thread(&store, "slack", "42").await;
    let missing = crate::NoiseStore::thread(&store, "slack", "43").await;
    store.close().await;
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
    let _ = admin.close().await;
    let kept = kept.unwrap().unwrap();
    assert_eq!(kept.destination, "#alerts");
    let reference: serde_json::Value = serde_json::from_str(&kept.reference).unwrap();
    assert_eq!(
        reference,
        serde_json::json!({"channel": "C1", "ts": "1.0001"})
    );
    assert_eq!(missing.unwrap(), None);
}
