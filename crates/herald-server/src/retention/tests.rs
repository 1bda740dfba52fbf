//! Retention on a real SQLite store: the age boundary, unfinished work kept, and the periodic
//! task.

use std::sync::Arc;
use std::time::Duration;

use herald_core::{Alert, Receipt};
use herald_store::{NewAlert, Store};
use jiff::Timestamp;
use tempfile::TempDir;
use tokio::sync::watch;

use super::{round, run};
use crate::Clock;

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

async fn open(dir: &TempDir) -> Arc<dyn Store> {
    let url = format!("sqlite://{}/herald.db", dir.path().display());
    herald_store::open(&herald_core::config::StorageConfig {
        url,
        ..Default::default()
    })
    .await
    .unwrap()
}

/// Stores an alert received at `at` with one delivery, delivered when `finished`; returns the
/// alert id.
async fn alert(store: &dyn Store, at: Timestamp, finished: bool) -> String {
    let accepted = store
        .accept(NewAlert {
            source: "sentry".into(),
            request_id: None,
            endpoint: herald_store::Endpoint::PLATFORM,
            received_at: at,
            alert: Arc::new(Alert::default()),
            raw: "{}".into(),
            deliveries: vec![("r".into(), "s".into())],
        })
        .await
        .unwrap();
    if finished {
        store
            .mark_delivered(&accepted.delivery_ids[0], &Receipt::default(), at, None)
            .await
            .unwrap();
    }
    accepted.alert_id
}

#[tokio::test]
async fn a_round_deletes_finished_alerts_only_once_they_are_older_than_the_retention() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir).await;
    let at = Timestamp::from_second(1_700_000_000).unwrap();
    let done = alert(store.as_ref(), at, true).await;
    let waiting = alert(store.as_ref(), at, false).await;
    let (_stop, stopped) = watch::channel(false);

    let day_29 = at.checked_add(DAY * 29).unwrap();
    assert_eq!(
        round(store.as_ref(), 30, day_29, &stopped).await.unwrap(),
        0
    );
    assert!(store.alert(&done).await.unwrap().is_some());

    let day_31 = at.checked_add(DAY * 31).unwrap();
    assert_eq!(
        round(store.as_ref(), 30, day_31, &stopped).await.unwrap(),
        1
    );
    assert!(store.alert(&done).await.unwrap().is_none());
    assert!(store.alert(&waiting).await.unwrap().is_some());
}

#[tokio::test]
async fn the_task_prunes_at_start_and_on_each_round_and_stops_with_the_server() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir).await;
    let clock = Clock::System;
    let two_days_ago = clock.now().checked_sub(DAY * 2).unwrap();
    let first = alert(store.as_ref(), two_days_ago, true).await;
    let (stop, stopped) = watch::channel(false);
    let every = Duration::from_millis(50);
    let task = tokio::spawn(run(store.clone(), || 1, clock, every, stopped));

    // The first round runs at start; a later one finds an alert stored after it.
    gone(store.as_ref(), &first).await;
    let second = alert(store.as_ref(), two_days_ago, true).await;
    gone(store.as_ref(), &second).await;

    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the task stops when the server does")
        .unwrap();
}

/// Waits, for at most 10 s, until the alert is deleted.
async fn gone(store: &dyn Store, id: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.alert(id).await.unwrap().is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "alert {id} was never pruned"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
