//! The attempt log: every attempt a sink was called for, stored with its outcome in the same
//! write, read back per delivery and with an alert's history, and pruned with its alert.

use std::sync::Arc;
use std::time::Duration;

use herald_core::{Alert, Level, Receipt};
use herald_store::*;
use jiff::Timestamp;

use crate::Backend;

const LEASE: Duration = Duration::from_secs(30);

fn t(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + seconds).unwrap()
}

/// Stores one alert at `at` with one delivery to `slack`; returns the delivery's id.
async fn accept(store: &dyn Store, at: Timestamp) -> String {
    let alert = Alert {
        source: "sentry".into(),
        resource: "issue".into(),
        action: "created".into(),
        project: Some("api".into()),
        level: Some(Level::Error),
        title: "boom".into(),
        ..Alert::default()
    };
    let new = NewAlert {
        source: "sentry".into(),
        request_id: None,
        endpoint: Endpoint::PLATFORM,
        received_at: at,
        alert: Arc::new(alert),
        raw: "{}".into(),
        deliveries: vec![("prod".into(), "slack".into())],
    };
    store.accept(new).await.unwrap().delivery_ids.remove(0)
}

/// Leases the one due delivery at `now`, as the dispatcher would before an attempt.
async fn lease(store: &dyn Store, now: Timestamp) {
    assert_eq!(
        store.lease_due(now, 10, LEASE, None).await.unwrap().len(),
        1
    );
}

fn record(started: Timestamp, latency_ms: u64, status: Option<u16>) -> AttemptRecord {
    AttemptRecord {
        started_at: started,
        latency: Duration::from_millis(latency_ms),
        status,
    }
}

/// An attempt as [`AdminStore::attempts`] should give it back.
#[allow(clippy::too_many_arguments)]
fn attempt(
    id: &str,
    number: u32,
    started: Timestamp,
    finished: Timestamp,
    outcome: AttemptOutcome,
    status: Option<u16>,
    error: Option<&str>,
    latency_ms: u64,
) -> Attempt {
    Attempt {
        delivery_id: id.to_owned(),
        number,
        started_at: started,
        finished_at: finished,
        outcome,
        status,
        error: error.map(str::to_owned),
        latency: Duration::from_millis(latency_ms),
    }
}

pub async fn a_delivery_that_failed_twice_then_succeeded_keeps_three_attempts_in_order(b: Backend) {
    let store = b.open().await;
    let id = accept(&*store, t(0)).await;

    lease(&*store, t(0)).await;
    let unavailable = "unavailable (503): slack is having trouble";
    let first = record(t(0), 250, Some(503));
    assert!(
        store
            .mark_retry(&id, t(10), unavailable, t(1), Some(&first))
            .await
            .unwrap()
    );
    lease(&*store, t(10)).await;
    let refused = "connection refused by hooks.slack.com; check that the provider is up";
    let second = record(t(10), 3, None);
    assert!(
        store
            .mark_retry(&id, t(30), refused, t(11), Some(&second))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .delivery(&id)
            .await
            .unwrap()
            .unwrap()
            .last_error
            .as_deref(),
        Some(refused)
    );
    lease(&*store, t(30)).await;
    let third = record(t(30), 120, Some(200));
    assert!(
        store
            .mark_delivered(&id, &Receipt::default(), t(31), Some(&third))
            .await
            .unwrap()
    );

    // Delivered: no last error, the errors before it are its history.
    let row = store.delivery(&id).await.unwrap().unwrap();
    assert_eq!(row.status, Status::Delivered);
    assert_eq!(row.last_error, None);
    let expected = vec![
        attempt(
            &id,
            1,
            t(0),
            t(1),
            AttemptOutcome::Retried,
            Some(503),
            Some(unavailable),
            250,
        ),
        attempt(
            &id,
            2,
            t(10),
            t(11),
            AttemptOutcome::Retried,
            None,
            Some(refused),
            3,
        ),
        attempt(
            &id,
            3,
            t(30),
            t(31),
            AttemptOutcome::Delivered,
            Some(200),
            None,
            120,
        ),
    ];
    assert_eq!(store.attempts(&id).await.unwrap(), expected);
    let history = store.alert_history(&row.alert_id).await.unwrap();
    assert_eq!(history.attempts, expected);
}

pub async fn a_dead_delivery_keeps_each_attempt_and_a_retry_counts_on(b: Backend) {
    let store = b.open().await;
    let id = accept(&*store, t(0)).await;
    lease(&*store, t(0)).await;
    store
        .mark_retry(
            &id,
            t(10),
            "timeout after 10s",
            t(10),
            Some(&record(t(0), 10_000, None)),
        )
        .await
        .unwrap();
    lease(&*store, t(10)).await;
    let reason = "rejected (404): channel_not_found; check the channel";
    assert!(
        store
            .mark_dead(&id, reason, t(11), Some(&record(t(10), 80, Some(404))))
            .await
            .unwrap()
    );
    let row = store.delivery(&id).await.unwrap().unwrap();
    assert_eq!(
        (row.status, row.last_error.as_deref()),
        (Status::Dead, Some(reason))
    );
    let dead = vec![
        attempt(
            &id,
            1,
            t(0),
            t(10),
            AttemptOutcome::Retried,
            None,
            Some("timeout after 10s"),
            10_000,
        ),
        attempt(
            &id,
            2,
            t(10),
            t(11),
            AttemptOutcome::Dead,
            Some(404),
            Some(reason),
            80,
        ),
    ];
    assert_eq!(store.attempts(&id).await.unwrap(), dead);

    // An operator's retry starts a fresh attempt budget, not a fresh history: the requeue
    // itself is no attempt, and the next one is number 3.
    assert_eq!(
        store.retry_delivery(&id, t(100)).await.unwrap(),
        RetryOutcome::Requeued
    );
    assert_eq!(store.attempts(&id).await.unwrap(), dead);
    lease(&*store, t(100)).await;
    store
        .mark_delivered(
            &id,
            &Receipt::default(),
            t(101),
            Some(&record(t(100), 50, Some(200))),
        )
        .await
        .unwrap();
    let all = store.attempts(&id).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[..2], dead[..]);
    assert_eq!(
        all[2],
        attempt(
            &id,
            3,
            t(100),
            t(101),
            AttemptOutcome::Delivered,
            Some(200),
            None,
            50
        )
    );
}

pub async fn only_outcomes_of_a_sink_call_are_attempts(b: Backend) {
    let store = b.open().await;
    let id = accept(&*store, t(0)).await;
    lease(&*store, t(0)).await;
    // The noise stage putting a delivery back called no sink.
    assert!(
        store
            .mark_retry(&id, t(1), "noise stage: database is locked", t(0), None)
            .await
            .unwrap()
    );
    assert_eq!(store.attempts(&id).await.unwrap(), vec![]);
    lease(&*store, t(1)).await;
    store
        .mark_delivered(
            &id,
            &Receipt::default(),
            t(2),
            Some(&record(t(1), 5, Some(200))),
        )
        .await
        .unwrap();

    // A worker whose lease expired finishes after the delivery was delivered: its outcome
    // changes nothing, but the sink was called, so the attempt is in the history.
    let late = "unavailable (502): bad gateway";
    assert!(
        !store
            .mark_retry(
                &id,
                t(60),
                late,
                t(40),
                Some(&record(t(5), 35_000, Some(502)))
            )
            .await
            .unwrap()
    );
    let row = store.delivery(&id).await.unwrap().unwrap();
    assert_eq!((row.status, row.last_error), (Status::Delivered, None));
    let attempts = store.attempts(&id).await.unwrap();
    let outcomes: Vec<(u32, AttemptOutcome)> =
        attempts.iter().map(|a| (a.number, a.outcome)).collect();
    assert_eq!(
        outcomes,
        vec![(1, AttemptOutcome::Delivered), (2, AttemptOutcome::Retried)]
    );

    // An unknown delivery gets no attempt.
    assert!(
        !store
            .mark_dead("no-such-id", "x", t(2), Some(&record(t(1), 5, Some(400))))
            .await
            .unwrap()
    );
    assert_eq!(store.attempts("no-such-id").await.unwrap(), vec![]);
}

pub async fn pruning_an_alert_removes_its_attempts(b: Backend) {
    let store = b.open().await;
    let old = accept(&*store, t(0)).await;
    let young = accept(&*store, t(1000)).await;
    for (id, at) in [(&old, t(0)), (&young, t(1000))] {
        lease(&*store, at).await;
        store
            .mark_retry(
                id,
                at,
                "unavailable (503): later",
                at,
                Some(&record(at, 9, Some(503))),
            )
            .await
            .unwrap();
        lease(&*store, at).await;
        store
            .mark_delivered(id, &Receipt::default(), at, Some(&record(at, 9, Some(200))))
            .await
            .unwrap();
    }
    assert_eq!(store.attempts(&old).await.unwrap().len(), 2);

    assert_eq!(store.prune(t(500), 10).await.unwrap(), 1);
    assert!(store.delivery(&old).await.unwrap().is_none());
    assert_eq!(store.attempts(&old).await.unwrap(), vec![]);
    // The young alert keeps its history.
    assert_eq!(store.attempts(&young).await.unwrap().len(), 2);
}

crate::for_each_backend!(
    a_delivery_that_failed_twice_then_succeeded_keeps_three_attempts_in_order,
    a_dead_delivery_keeps_each_attempt_and_a_retry_counts_on,
    only_outcomes_of_a_sink_call_are_attempts,
    pruning_an_alert_removes_its_attempts,
);
