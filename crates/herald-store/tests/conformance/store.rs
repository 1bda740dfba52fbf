//! Accepting alerts: what is committed, Request-ID deduplication per endpoint and body, the
//! first lease taken with the accept, and a closed store.

use std::sync::Arc;

use herald_store::*;

use crate::Backend;
use crate::fixtures::*;

pub async fn accept_commits_and_survives_reopening(b: Backend) {
    let store = b.open().await;
    let new = new_alert("boom", Some("req-1"), t(0), &["slack", "email"]);
    let original = new.alert.clone();
    let accepted = store.accept(new).await.unwrap();
    assert!(!accepted.duplicate);
    assert_eq!(accepted.delivery_ids.len(), 2);
    // Dropped without close(): the answer alone must mean the rows are committed.
    drop(store);

    let store = b.open().await;
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

pub async fn a_repeated_request_id_is_stored_once(b: Backend) {
    let store = b.open().await;
    let first = store
        .accept(new_alert("boom", Some("req-1"), t(0), &["slack", "email"]))
        .await
        .unwrap();
    let again = store
        .accept(new_alert("boom", Some("req-1"), t(1), &["slack", "email"]))
        .await
        .unwrap();
    assert!(again.duplicate);
    assert_eq!(again.alert_id, first.alert_id);
    assert_eq!(again.delivery_ids, first.delivery_ids);
    assert_eq!(store.count_by_status().await.unwrap().total(), 2);

    // Another source may reuse the id, and alerts without one are always new.
    let mut other = new_alert("boom", Some("req-1"), t(2), &["slack"]);
    other.source = "sentry-eu".into();
    assert!(!store.accept(other).await.unwrap().duplicate);
    for at in [3, 4] {
        let accepted = store
            .accept(new_alert("boom", None, t(at), &["slack"]))
            .await
            .unwrap();
        assert!(!accepted.duplicate);
    }
    assert_eq!(store.count_by_status().await.unwrap().total(), 5);
}

pub async fn a_request_id_reused_with_another_body_is_a_new_alert(b: Backend) {
    let store = b.open().await;
    let first = store
        .accept(new_alert("boom", Some("req-1"), t(0), &["slack"]))
        .await
        .unwrap();
    assert!(!first.duplicate && !first.request_id_reused);
    // Someone sends another body under the same id first or later: it is not swallowed.
    let other = store
        .accept(new_alert("other", Some("req-1"), t(1), &["slack"]))
        .await
        .unwrap();
    assert!(!other.duplicate);
    assert!(other.request_id_reused);
    assert_ne!(other.alert_id, first.alert_id);
    // A real redelivery of either body is still a duplicate of its own first copy.
    let again = store
        .accept(new_alert("other", Some("req-1"), t(2), &["slack"]))
        .await
        .unwrap();
    assert!(again.duplicate && !again.request_id_reused);
    assert_eq!(again.alert_id, other.alert_id);
    assert_eq!(store.count_by_status().await.unwrap().total(), 2);
}

pub async fn a_request_id_is_deduplicated_per_endpoint(b: Backend) {
    let store = b.open().await;
    let platform = store
        .accept(new_alert("boom", Some("req-1"), t(0), &["slack"]))
        .await
        .unwrap();
    // The same id and body through the legacy endpoint (another credential) is its own alert.
    let mut legacy = new_alert("boom", Some("req-1"), t(1), &["slack"]);
    legacy.endpoint = Endpoint::LEGACY;
    let legacy = store.accept(legacy).await.unwrap();
    assert!(!legacy.duplicate && !legacy.request_id_reused);
    assert_ne!(legacy.alert_id, platform.alert_id);
    assert_eq!(store.count_by_status().await.unwrap().total(), 2);
}

pub async fn concurrent_repeats_are_stored_once(b: Backend) {
    let store = b.open().await;
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
    assert_eq!(store.count_by_status().await.unwrap().total(), 1);
}

fn parsed(mut new: NewAlert) -> NewAlert {
    let mut alert = (*new.alert).clone();
    alert.raw = serde_json::from_str(&new.raw).unwrap();
    new.alert = Arc::new(alert);
    new
}

pub async fn an_accept_can_take_the_first_lease(b: Backend) {
    let store = b.open().await;
    let new = parsed(new_alert("boom", Some("req-1"), t(0), &["slack", "email"]));
    let (accepted, leased) = store.accept_leased(new.clone(), LEASE).await.unwrap();
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
    assert!(lease(&*store, t(29)).await.is_empty());
    assert_eq!(store.next_due_at().await.unwrap(), Some(t(30)));
    let again = lease(&*store, t(30)).await;
    assert_eq!(ids(&again), accepted.delivery_ids);
    assert_eq!(again[0].delivery.attempts, 2);

    // A repeated request stores nothing and hands nothing on.
    let (duplicate, none) = store.accept_leased(new, LEASE).await.unwrap();
    assert!(duplicate.duplicate);
    assert_eq!(duplicate.delivery_ids, accepted.delivery_ids);
    assert!(none.is_empty());
}

pub async fn an_accept_without_its_parsed_body_is_stored_pending_instead_of_leased(b: Backend) {
    let store = b.open().await;
    let (accepted, leased) = store
        .accept_leased(new_alert("boom", None, t(0), &["slack"]), LEASE)
        .await
        .unwrap();
    assert!(leased.is_empty());
    assert_eq!(
        status_of(&*store, &accepted.delivery_ids[0]).await,
        Status::Pending
    );
    assert_eq!(ids(&lease(&*store, t(0)).await), accepted.delivery_ids);
}

pub async fn a_closed_store_refuses_writes(b: Backend) {
    let store = b.open().await;
    store.ping().await.unwrap();
    store.close().await;
    assert!(matches!(store.ping().await, Err(StoreError::Closed)));
    let refused = store
        .accept(new_alert("boom", None, t(0), &["slack"]))
        .await;
    assert!(matches!(refused, Err(StoreError::Closed)));
}

crate::for_each_backend!(
    accept_commits_and_survives_reopening,
    a_repeated_request_id_is_stored_once,
    a_request_id_reused_with_another_body_is_a_new_alert,
    a_request_id_is_deduplicated_per_endpoint,
    concurrent_repeats_are_stored_once,
    an_accept_can_take_the_first_lease,
    an_accept_without_its_parsed_body_is_stored_pending_instead_of_leased,
    a_closed_store_refuses_writes,
);
