//! Unit tests for the dispatcher's bookkeeping of running attempts.

use super::*;

#[tokio::test]
async fn ended_attempts_are_forgotten_without_waiting() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let ended = Arc::new(AtomicUsize::new(0));
    let mut running = Running::default();
    for i in 0..300 {
        let ended = ended.clone();
        running.spawn(format!("d{i}"), async move {
            ended.fetch_add(1, Ordering::SeqCst);
        });
    }
    // Let every attempt run to its end (bounded: the scheduler runs a few dozen per turn).
    for _ in 0..1000 {
        if ended.load(Ordering::SeqCst) == 300 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(ended.load(Ordering::SeqCst), 300);
    assert_eq!(
        running.tasks.len(),
        300,
        "a JoinSet keeps ended tasks until joined"
    );
    running.reap();
    assert_eq!(running.tasks.len(), 0);
    assert!(running.ids.is_empty());
}

#[tokio::test]
async fn reaping_leaves_running_attempts_alone() {
    let mut running = Running::default();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    running.spawn("slow".into(), async move {
        let _ = rx.await;
    });
    running.spawn("quick".into(), async {});
    tokio::task::yield_now().await;
    running.reap();
    assert_eq!(running.tasks.len(), 1);
    assert_eq!(running.ids.values().collect::<Vec<_>>(), ["slow"]);
    tx.send(()).unwrap();
    running.all().await;
    assert!(running.ids.is_empty());
}
