//! The delivery state machine through the dispatcher: retries after the backoff, dead on a
//! rejection or when attempts run out, `retry_after` honoured, the per-sink slot limit, and
//! the run loop (woken by new work, sleeping until the next due time, releasing unfinished
//! work on shutdown), a sink's pace kept without holding its slot, and threads attached and
//! kept only for a sink that declares them.
//!
//! The state machine tests pass time in explicitly (`run_once(now)`). The run loop tests use
//! the real clock with sub-second delays and bounded polling: a paused Tokio clock does not
//! work with SQLite, whose connections live on their own threads, because Tokio advances a
//! paused clock whenever its tasks wait on them, firing the pool's timeouts.

use std::time::Duration;

use herald_server::{DeliveryPolicy, RetryPolicy};
use herald_store::{AttemptOutcome, Status};
use jiff::Timestamp;

use crate::support::{Answer, Options, alert, eventually, setup, setup_with};

fn at(t0: Timestamp, ms: u64) -> Timestamp {
    t0 + Duration::from_millis(ms)
}

#[tokio::test]
async fn a_due_delivery_is_sent_once_with_its_id_as_key() {
    let s = setup().await;
    let t0 = Timestamp::now();
    let id = s.accept("boom", t0).await;
    let dispatcher = s.state.dispatcher();
    assert_eq!(dispatcher.run_once(t0).await.unwrap(), 1);
    assert_eq!(dispatcher.run_once(at(t0, 60_000)).await.unwrap(), 0);
    let calls = s.fake.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!((calls[0].key.as_str(), calls[0].attempt), (id.as_str(), 1));
    let delivery = s.store.delivery(&id).await.unwrap().unwrap();
    assert_eq!(delivery.status, Status::Delivered);
    assert_eq!(delivery.receipt.unwrap().status, Some(200));
}

#[tokio::test]
async fn unavailable_then_ok_is_delivered_on_the_retry() {
    let s = setup().await;
    s.fake.script([Answer::Unavailable(None)]);
    let t0 = Timestamp::now();
    let id = s.accept("boom", t0).await;
    let dispatcher = s.state.dispatcher();
    dispatcher.run_once(t0).await.unwrap();
    let delivery = s.store.delivery(&id).await.unwrap().unwrap();
    assert_eq!(delivery.status, Status::Pending);
    assert!(delivery.last_error.unwrap().contains("unavailable (503)"));
    // full jitter on the first retry: somewhere within base (1s)
    assert!(delivery.next_attempt_at >= t0 && delivery.next_attempt_at <= at(t0, 1000));

    assert_eq!(dispatcher.run_once(at(t0, 1000)).await.unwrap(), 1);
    let delivery = s.store.delivery(&id).await.unwrap().unwrap();
    assert_eq!(delivery.status, Status::Delivered);
    let calls = s.fake.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!((calls[1].key.as_str(), calls[1].attempt), (id.as_str(), 2));
}

/// Every attempt is in the delivery's log with what it got (a status, or none for a network
/// cause), its error and its latency; success clears `last_error` but not that history.
#[tokio::test]
async fn each_attempt_is_logged_with_its_status_and_error() {
    let s = setup().await;
    s.fake.script([Answer::Unavailable(None), Answer::Refused]);
    let t0 = Timestamp::now();
    let id = s.accept("boom", t0).await;
    let dispatcher = s.state.dispatcher();
    dispatcher.run_once(t0).await.unwrap();
    dispatcher.run_once(at(t0, 60_000)).await.unwrap();
    dispatcher.run_once(at(t0, 180_000)).await.unwrap();
    assert_eq!(s.fake.calls().len(), 3);

    let delivery = s.store.delivery(&id).await.unwrap().unwrap();
    assert_eq!(
        (delivery.status, delivery.last_error),
        (Status::Delivered, None)
    );
    let attempts = s.store.attempts(&id).await.unwrap();
    let seen: Vec<_> = attempts
        .iter()
        .map(|a| (a.number, a.outcome, a.status, a.error.as_deref()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (
                1,
                AttemptOutcome::Retried,
                Some(503),
                Some("unavailable (503): try later")
            ),
            (
                2,
                AttemptOutcome::Retried,
                None,
                Some("connection refused by the fake provider")
            ),
            (3, AttemptOutcome::Delivered, Some(200), None),
        ]
    );
    for a in &attempts {
        assert!(a.started_at <= a.finished_at, "{a:?}");
        assert!(a.latency < Duration::from_secs(5), "{a:?}");
    }
}

#[tokio::test]
async fn a_rejection_is_dead_at_once_and_never_retried() {
    let s = setup().await;
    s.fake.script([Answer::Rejected]);
    let t0 = Timestamp::now();
    let id = s.accept("boom", t0).await;
    let dispatcher = s.state.dispatcher();
    dispatcher.run_once(t0).await.unwrap();
    assert_eq!(dispatcher.run_once(at(t0, 3_600_000)).await.unwrap(), 0);
    assert_eq!(s.fake.calls().len(), 1);
    let delivery = s.store.delivery(&id).await.unwrap().unwrap();
    assert_eq!(delivery.status, Status::Dead);
    assert_eq!(
        delivery.last_error.as_deref(),
        Some("rejected (404): channel_not_found")
    );
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let s = setup().await;
    s.fake
        .script([Answer::Unavailable(Some(Duration::from_secs(30)))]);
    let t0 = Timestamp::now();
    let id = s.accept("boom", t0).await;
    let dispatcher = s.state.dispatcher();
    dispatcher.run_once(t0).await.unwrap();
    // The retry is at t0 + 30s + (time the attempt took); nothing may be sent before t0 + 30s.
    assert_eq!(dispatcher.run_once(at(t0, 29_999)).await.unwrap(), 0);
    assert_eq!(s.fake.calls().len(), 1);
    let due = s
        .store
        .delivery(&id)
        .await
        .unwrap()
        .unwrap()
        .next_attempt_at;
    assert!(due >= at(t0, 30_000), "{due} is before t0 + 30s");
    assert_eq!(dispatcher.run_once(due).await.unwrap(), 1);
    assert_eq!(
        s.store.delivery(&id).await.unwrap().unwrap().status,
        Status::Delivered
    );
}

#[tokio::test]
async fn exhausted_attempts_are_dead_with_the_reason() {
    let s = setup_with(Options {
        policy: DeliveryPolicy {
            retry: RetryPolicy {
                max_attempts: 3,
                ..RetryPolicy::default()
            },
            ..DeliveryPolicy::default()
        },
        ..Options::default()
    })
    .await;
    s.fake
        .script(std::iter::repeat_n(Answer::Unavailable(None), 5));
    let t0 = Timestamp::now();
    let id = s.accept("boom", t0).await;
    let dispatcher = s.state.dispatcher();
    for minute in 0..5 {
        dispatcher.run_once(at(t0, minute * 60_000)).await.unwrap();
    }
    assert_eq!(s.fake.calls().len(), 3);
    let delivery = s.store.delivery(&id).await.unwrap().unwrap();
    assert_eq!(delivery.status, Status::Dead);
    assert_eq!(
        delivery.last_error.as_deref(),
        Some("gave up after 3 attempts: unavailable (503): try later")
    );
}

/// A sink's own `retry:` settings win over the dispatcher's policy (10 attempts, a day).
#[tokio::test]
async fn a_sink_with_its_own_max_attempts_gives_up_after_them() {
    let s = setup_with(Options {
        fake_settings: ", retry: { max_attempts: 2 }",
        ..Options::default()
    })
    .await;
    s.fake
        .script(std::iter::repeat_n(Answer::Unavailable(None), 5));
    let t0 = Timestamp::now();
    let id = s.accept("boom", t0).await;
    let dispatcher = s.state.dispatcher();
    for minute in 0..5 {
        dispatcher.run_once(at(t0, minute * 60_000)).await.unwrap();
    }
    assert_eq!(s.fake.calls().len(), 2);
    let delivery = s.store.delivery(&id).await.unwrap().unwrap();
    assert_eq!(delivery.status, Status::Dead);
    assert_eq!(
        delivery.last_error.as_deref(),
        Some("gave up after 2 attempts: unavailable (503): try later")
    );
}

#[tokio::test]
async fn a_sink_with_its_own_max_age_gives_up_when_the_next_try_is_too_late() {
    let s = setup_with(Options {
        fake_settings: ", retry: { max_age_seconds: 0 }",
        ..Options::default()
    })
    .await;
    s.fake
        .script([Answer::Unavailable(Some(Duration::from_secs(1)))]);
    let t0 = Timestamp::now();
    let id = s.accept("boom", t0).await;
    s.state.dispatcher().run_once(t0).await.unwrap();
    let delivery = s.store.delivery(&id).await.unwrap().unwrap();
    assert_eq!(delivery.status, Status::Dead);
    assert!(
        delivery
            .last_error
            .as_deref()
            .unwrap()
            .starts_with("gave up after 1 attempts, the next one would come after max_age (0s)"),
        "{:?}",
        delivery.last_error
    );
}

#[tokio::test]
async fn a_sink_gets_no_more_attempts_than_its_slots() {
    let s = setup_with(Options {
        policy: DeliveryPolicy {
            per_sink_concurrency: 2,
            ..DeliveryPolicy::default()
        },
        ..Options::default()
    })
    .await;
    let t0 = Timestamp::now();
    for i in 0..5 {
        s.accept(&format!("alert {i}"), t0).await;
    }
    let dispatcher = s.state.dispatcher();
    let mut rounds = Vec::new();
    for _ in 0..4 {
        rounds.push(dispatcher.run_once(t0).await.unwrap());
    }
    assert_eq!(rounds, [2, 2, 1, 0]);
    assert_eq!(s.store.count_by_status().await.unwrap().delivered, 5);
}

fn looping() -> Options {
    Options {
        policy: DeliveryPolicy {
            shutdown_grace: Duration::from_millis(200),
            ..DeliveryPolicy::default()
        },
        ..Options::default()
    }
}

#[tokio::test]
async fn the_run_loop_wakes_for_new_work() {
    let s = setup_with(looping()).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(s.state.dispatcher().run(async {
        let _ = stopped.await;
    }));
    // Let the loop lease nothing: from then on, with nothing due, it sleeps 60s (1s at the
    // least, should it see the new delivery as already due), so a delivery within 900ms can
    // only come from the wake-up.
    let leased = eventually(100, Duration::from_millis(5), || async {
        s.store.stats().operations > 0
    })
    .await;
    assert!(leased, "the loop never leased");
    let started = tokio::time::Instant::now();
    s.accept("boom", s.state.clock().now()).await;
    s.state.wake().notify_one();
    let delivered = eventually(90, Duration::from_millis(10), || async {
        s.store.count_by_status().await.unwrap().delivered == 1
    })
    .await;
    assert!(delivered, "not delivered within 900ms after the wake-up");
    assert!(started.elapsed() < Duration::from_millis(900));
    stop.send(()).unwrap();
    run.await.unwrap();
}

#[tokio::test]
async fn the_run_loop_retries_when_due_and_not_before() {
    let s = setup_with(looping()).await;
    s.fake
        .script([Answer::Unavailable(Some(Duration::from_millis(300)))]);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(s.state.dispatcher().run(async {
        let _ = stopped.await;
    }));
    s.accept("boom", s.state.clock().now()).await;
    s.state.wake().notify_one();
    let delivered = eventually(500, Duration::from_millis(10), || async {
        s.store.count_by_status().await.unwrap().delivered == 1
    })
    .await;
    assert!(delivered, "the retry did not happen within 5s");
    let calls = s.fake.calls();
    assert!(calls.len() >= 2, "{calls:?}");
    let gap = calls[1].at - calls[0].at;
    assert!(gap >= Duration::from_millis(300), "retried after {gap:?}");
    assert_eq!(calls[0].key, calls[1].key);
    stop.send(()).unwrap();
    run.await.unwrap();
}

#[tokio::test]
async fn shutdown_releases_attempts_that_outlive_the_grace() {
    let s = setup_with(looping()).await;
    s.fake.script([Answer::Hang]);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(s.state.dispatcher().run(async {
        let _ = stopped.await;
    }));
    let id = s.accept("boom", s.state.clock().now()).await;
    s.state.wake().notify_one();
    let started = eventually(100, Duration::from_millis(10), || async {
        !s.fake.calls().is_empty()
    })
    .await;
    assert!(started);
    assert_eq!(
        s.store.delivery(&id).await.unwrap().unwrap().status,
        Status::InFlight
    );
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the dispatcher did not stop after its grace")
        .unwrap();
    let delivery = s.store.delivery(&id).await.unwrap().unwrap();
    assert_eq!(delivery.status, Status::Pending);
    assert_eq!(delivery.attempts, 0, "the cancelled attempt is given back");
    // The next run sends it again, same id.
    s.state
        .dispatcher()
        .run_once(s.state.clock().now())
        .await
        .unwrap();
    let calls = s.fake.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].key, id);
}

#[tokio::test]
async fn a_burst_to_one_key_is_spread_at_its_pace_without_holding_up_other_keys_or_sinks() {
    const PACE: Duration = Duration::from_millis(150);
    // One slot: a paced attempt that waited in it would hold up everything behind it.
    let s = setup_with(Options {
        policy: DeliveryPolicy {
            per_sink_concurrency: 1,
            shutdown_grace: Duration::from_millis(200),
            ..DeliveryPolicy::default()
        },
        ..Options::default()
    })
    .await;
    s.fake.pace_by_title(PACE);
    let t0 = s.state.clock().now();
    for title in ["a/1", "a/2", "a/3", "a/4", "b/1"] {
        s.accept(title, t0).await;
    }
    s.accept_to("other", alert("a/1"), t0).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(s.state.dispatcher().run(async {
        let _ = stopped.await;
    }));
    let delivered = eventually(500, Duration::from_millis(10), || async {
        s.store.count_by_status().await.unwrap().delivered == 6
    })
    .await;
    stop.send(()).unwrap();
    run.await.unwrap();
    assert!(delivered, "not all delivered within 5s");
    let calls = s.fake.calls();
    let a: Vec<_> = calls.iter().filter(|c| c.title.starts_with("a/")).collect();
    assert_eq!(a.len(), 4, "{calls:?}");
    for pair in a.windows(2) {
        let gap = pair[1].at - pair[0].at;
        // The turn is taken just before the first attempt starts: allow that moment.
        assert!(
            gap >= PACE - Duration::from_millis(10),
            "{gap:?} in {calls:?}"
        );
    }
    let b = calls.iter().find(|c| c.title == "b/1").unwrap();
    assert!(b.at < a[1].at, "key b waited for key a: {calls:?}");
    let other = s.other.calls();
    assert_eq!(other.len(), 1);
    assert!(other[0].at < a[1].at, "sink other waited for fake's pace");
}

/// An alert of issue 42.
fn of_issue(title: &str) -> herald_core::Alert {
    herald_core::Alert {
        issue_id: Some("42".into()),
        ..alert(title)
    }
}

#[tokio::test]
async fn a_threading_sink_gets_the_thread_its_first_message_started() {
    let s = setup().await;
    s.fake.keep_threads();
    let t0 = Timestamp::now();
    s.accept_to("fake", of_issue("first"), t0).await;
    let dispatcher = s.state.dispatcher();
    dispatcher.run_once(t0).await.unwrap();
    s.accept_to("fake", of_issue("second"), t0).await;
    dispatcher.run_once(t0).await.unwrap();
    let calls = s.fake.calls();
    assert_eq!(calls[0].thread, None);
    assert_eq!(
        calls[1].thread,
        Some(herald_core::Thread {
            reference: "thread of first".into(),
            destination: "#alerts".into(),
        })
    );
    // The reply started none: the first message stays the issue's thread.
    let kept = s.store.thread("fake", "42").await.unwrap().unwrap();
    assert_eq!(kept.reference, "thread of first");
}

#[tokio::test]
async fn a_sink_that_does_not_thread_never_reads_or_writes_threads() {
    let s = setup().await;
    let t0 = Timestamp::now();
    let kept = herald_store::ThreadRecord {
        reference: "kept elsewhere".into(),
        destination: "#alerts".into(),
    };
    s.store.save_thread("other", "42", &kept, t0).await.unwrap();
    s.accept_to("other", of_issue("first"), t0).await;
    s.accept_to("fake", of_issue("first"), t0).await;
    s.state.dispatcher().run_once(t0).await.unwrap();
    assert_eq!(s.other.calls()[0].thread, None);
    assert_eq!(s.store.thread("fake", "42").await.unwrap(), None);
    assert_eq!(s.store.thread("other", "42").await.unwrap(), Some(kept));
}
