//! The delivery queue: leases and their expiry, outcomes, retries, releases, and which due
//! work a lease takes.

use herald_core::Receipt;
use herald_store::*;

use crate::Backend;
use crate::fixtures::*;

pub async fn a_leased_delivery_can_be_marked_delivered(b: Backend) {
    let store = b.open().await;
    let accepted = store
        .accept(new_alert("boom", None, t(0), &["slack"]))
        .await
        .unwrap();
    let leased = lease(&*store, t(1)).await;
    assert_eq!(ids(&leased), accepted.delivery_ids);
    let got = &leased[0];
    assert_eq!(got.delivery.status, Status::InFlight);
    assert_eq!(got.delivery.attempts, 1);
    assert_eq!(got.delivery.lease_until, Some(t(31)));
    assert_eq!(got.alert.title, "boom");
    assert_eq!(got.alert.raw["action"], "created");
    let notification = got.notification();
    assert_eq!(notification.idempotency_key, accepted.delivery_ids[0]);
    assert_eq!(notification.attempt, 1);
    assert_eq!(notification.sink, "slack");

    // Leased work is not handed to a second worker while the lease holds.
    assert!(lease(&*store, t(2)).await.is_empty());

    let receipt = Receipt {
        status: Some(200),
        message_id: Some("1700000000.000100".into()),
        channel: Some("C123".into()),
        destination: Some("#alerts".into()),
        detail: None,
        thread: None,
    };
    assert!(
        store
            .mark_delivered(&got.delivery.id, &receipt, t(3), None)
            .await
            .unwrap()
    );
    let row = store.delivery(&got.delivery.id).await.unwrap().unwrap();
    assert_eq!(row.status, Status::Delivered);
    assert_eq!(row.receipt, Some(receipt));
    assert_eq!(row.lease_until, None);
    assert_eq!(row.updated_at, t(3));

    // A finished delivery stays finished, even for a late worker, and is never leased again.
    assert!(
        !store
            .mark_retry(&got.delivery.id, t(60), "late failure", t(4), None)
            .await
            .unwrap()
    );
    assert_eq!(
        status_of(&*store, &got.delivery.id).await,
        Status::Delivered
    );
    assert!(lease(&*store, t(1000)).await.is_empty());
    assert_eq!(store.next_due_at().await.unwrap(), None);
}

pub async fn an_expired_lease_is_taken_again_with_the_same_id(b: Backend) {
    let store = b.open().await;
    let accepted = store
        .accept(new_alert("boom", None, t(0), &["slack"]))
        .await
        .unwrap();
    let first = lease(&*store, t(0)).await;
    assert_eq!(ids(&first), accepted.delivery_ids);
    assert_eq!(store.next_due_at().await.unwrap(), Some(t(30)));
    assert!(lease(&*store, t(29)).await.is_empty());

    let second = lease(&*store, t(30)).await;
    assert_eq!(ids(&second), accepted.delivery_ids);
    assert_eq!(second[0].delivery.attempts, 2);
    assert_eq!(second[0].delivery.lease_until, Some(t(60)));
    assert_eq!(
        second[0].notification().idempotency_key,
        accepted.delivery_ids[0]
    );
}

pub async fn a_retry_waits_for_its_next_attempt_time(b: Backend) {
    let store = b.open().await;
    let accepted = store
        .accept(new_alert("boom", None, t(0), &["slack"]))
        .await
        .unwrap();
    let id = &accepted.delivery_ids[0];
    lease(&*store, t(0)).await;
    assert!(
        store
            .mark_retry(id, t(60), "slack answered 503", t(1), None)
            .await
            .unwrap()
    );
    let row = store.delivery(id).await.unwrap().unwrap();
    assert_eq!(row.status, Status::Pending);
    assert_eq!(row.next_attempt_at, t(60));
    assert_eq!(row.lease_until, None);
    assert_eq!(row.last_error.as_deref(), Some("slack answered 503"));
    assert_eq!(store.next_due_at().await.unwrap(), Some(t(60)));

    assert!(lease(&*store, t(59)).await.is_empty());
    let again = lease(&*store, t(60)).await;
    assert_eq!(ids(&again), accepted.delivery_ids);
    assert_eq!(again[0].delivery.attempts, 2);
    assert_eq!(again[0].notification().attempt, 2);
}

pub async fn a_dead_delivery_keeps_its_reason(b: Backend) {
    let store = b.open().await;
    let accepted = store
        .accept(new_alert("boom", None, t(0), &["slack"]))
        .await
        .unwrap();
    let id = &accepted.delivery_ids[0];
    lease(&*store, t(0)).await;
    assert!(
        store
            .mark_dead(id, "slack answered 404 channel_not_found", t(1), None)
            .await
            .unwrap()
    );
    let row = store.delivery(id).await.unwrap().unwrap();
    assert_eq!(row.status, Status::Dead);
    assert_eq!(
        row.last_error.as_deref(),
        Some("slack answered 404 channel_not_found")
    );
    assert!(lease(&*store, t(1000)).await.is_empty());
    assert!(
        !store
            .mark_dead("no-such-id", "x", t(2), None)
            .await
            .unwrap()
    );
    assert_eq!(
        store.count_by_status().await.unwrap(),
        StatusCounts {
            dead: 1,
            ..StatusCounts::default()
        }
    );
}

pub async fn released_work_is_pending_again_without_spending_an_attempt(b: Backend) {
    let store = b.open().await;
    let accepted = store
        .accept(new_alert("boom", None, t(0), &["slack", "email"]))
        .await
        .unwrap();
    let leased = lease(&*store, t(0)).await;
    assert_eq!(leased.len(), 2);
    let released = store
        .release_in_flight(&accepted.delivery_ids, t(1))
        .await
        .unwrap();
    assert_eq!(released, 2);
    for id in &accepted.delivery_ids {
        let row = store.delivery(id).await.unwrap().unwrap();
        assert_eq!(
            (row.status, row.attempts, row.lease_until),
            (Status::Pending, 0, None)
        );
    }
    // Available at once, not after the lease would have run out.
    assert_eq!(lease(&*store, t(1)).await.len(), 2);
}

pub async fn a_lease_takes_the_oldest_due_work_of_the_asked_sinks(b: Backend) {
    let store = b.open().await;
    let mut by_time = Vec::new();
    for at in [3, 1, 2] {
        let accepted = store
            .accept(new_alert("boom", None, t(at), &["slack", "email"]))
            .await
            .unwrap();
        by_time.push((at, accepted.delivery_ids));
    }
    by_time.sort();
    let slack = vec!["slack".to_string()];
    let leased = store
        .lease_due(t(10), 2, LEASE, Some(&slack))
        .await
        .unwrap();
    assert_eq!(
        ids(&leased),
        [by_time[0].1[0].clone(), by_time[1].1[0].clone()]
    );
    assert!(leased.iter().all(|l| l.delivery.sink == "slack"));
    assert_eq!(store.count_by_status().await.unwrap().pending, 4);
    assert!(
        store
            .lease_due(t(10), 0, LEASE, None)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn a_limited_lease_takes_each_sinks_share(b: Backend) {
    let store = b.open().await;
    let mut by_time = Vec::new();
    for at in [3, 1, 2] {
        let accepted = store
            .accept(new_alert("boom", None, t(at), &["slack", "email", "pager"]))
            .await
            .unwrap();
        by_time.push((at, accepted.delivery_ids));
    }
    by_time.sort();
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

/// Workers leasing at once (several dispatchers, or several herald instances on one database)
/// each get their own deliveries: every due delivery is handed out exactly once.
pub async fn concurrent_leases_never_hand_out_one_delivery_twice(b: Backend) {
    let store = b.open().await;
    let mut all = Vec::new();
    for i in 0..50 {
        let new = new_alert(&format!("boom {i}"), None, t(0), &["slack", "email"]);
        all.extend(store.accept(new).await.unwrap().delivery_ids);
    }
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                loop {
                    let leased = store.lease_due(t(1), 7, LEASE, None).await.unwrap();
                    if leased.is_empty() {
                        return got;
                    }
                    got.extend(ids(&leased));
                }
            })
        })
        .collect();
    let mut seen = Vec::new();
    for worker in workers {
        seen.extend(worker.await.unwrap());
    }
    seen.sort();
    all.sort();
    assert_eq!(seen, all);
}

crate::for_each_backend!(
    a_leased_delivery_can_be_marked_delivered,
    an_expired_lease_is_taken_again_with_the_same_id,
    a_retry_waits_for_its_next_attempt_time,
    a_dead_delivery_keeps_its_reason,
    released_work_is_pending_again_without_spending_an_attempt,
    a_lease_takes_the_oldest_due_work_of_the_asked_sinks,
    a_limited_lease_takes_each_sinks_share,
    concurrent_leases_never_hand_out_one_delivery_twice,
);
