//! The issues of sources that group events themselves: the first event of an issue is
//! `created` and every later one is not, first and last seen and the count are kept per
//! source, an event older than the last seen does not move it back, the record survives a
//! restart, and concurrent first events (two store handles on one database, as two instances
//! have) agree that exactly one was the first.

use jiff::Timestamp;

use crate::Backend;

fn t(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + seconds).unwrap()
}

async fn the_first_event_creates_the_issue_and_later_ones_count(backend: Backend) {
    let store = backend.open().await;
    assert_eq!(store.issue("apps", "abc").await.unwrap(), None);
    let first = store.record_issue("apps", "abc", t(0)).await.unwrap();
    assert!(first.created);
    assert_eq!(
        (first.first_seen, first.last_seen, first.events),
        (t(0), t(0), 1)
    );
    for n in 1..50 {
        let later = store.record_issue("apps", "abc", t(n)).await.unwrap();
        assert!(!later.created, "event {n}");
        assert_eq!(later.events, u64::try_from(n).unwrap() + 1);
    }
    // An event that arrives late (an SDK's retry) counts, but does not move last seen back.
    let late = store.record_issue("apps", "abc", t(-5)).await.unwrap();
    assert_eq!(
        (late.first_seen, late.last_seen, late.events),
        (t(0), t(49), 51)
    );
    // Another source's issue with the same id is its own.
    assert!(
        store
            .record_issue("other", "abc", t(1))
            .await
            .unwrap()
            .created
    );
    drop(store);
    let store = backend.open().await;
    let kept = store.issue("apps", "abc").await.unwrap().expect("kept");
    assert_eq!(
        (kept.first_seen, kept.last_seen, kept.events),
        (t(0), t(49), 51)
    );
}

async fn concurrent_first_events_agree_on_one_creation(backend: Backend) {
    let a = backend.open().await;
    // A SQLite store belongs to one process; PostgreSQL is shared by instances, so there the
    // two handles are two stores on one database.
    let b = if backend.url().starts_with("postgres") {
        backend.open().await
    } else {
        a.clone()
    };
    let mut tasks = vec![];
    for i in 0..20 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            store.record_issue("apps", "race", t(i)).await.unwrap()
        }));
    }
    let mut created = 0;
    for task in tasks {
        created += usize::from(task.await.unwrap().created);
    }
    assert_eq!(created, 1);
    assert_eq!(a.issue("apps", "race").await.unwrap().unwrap().events, 20);
}

crate::for_each_backend!(
    the_first_event_creates_the_issue_and_later_ones_count,
    concurrent_first_events_agree_on_one_creation,
);
