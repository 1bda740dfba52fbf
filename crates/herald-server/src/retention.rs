//! Retention: once an hour (and once at start), finished alerts received more than
//! `storage.retention_days` ago are deleted with their deliveries, so the database does not
//! grow for as long as herald runs. Unfinished work is never touched: an alert with a delivery
//! pending or in flight, or listed by a digest still waiting, stays however old it is (the
//! store decides, [`AdminStore::prune`](herald_store::AdminStore::prune)). The deletes run in
//! short transactions of [`CHUNK`] alerts on a side connection, with a pause between them, so
//! webhooks arriving meanwhile wait at most one chunk.

use std::sync::Arc;
use std::time::Duration;

use herald_store::{Store, StoreError};
use jiff::Timestamp;
use tokio::sync::watch;

use crate::Clock;

/// How often old alerts are looked for.
pub(crate) const EVERY: Duration = Duration::from_secs(60 * 60);

/// Alerts deleted per transaction.
const CHUNK: usize = 200;

/// The pause between two chunks. The store's writer waits for the write lock with SQLite's
/// busy handler, which sleeps and retries; a pruner that took the lock again at once could
/// keep it from ever getting it while a large backlog is deleted, holding up webhooks.
const BREATHER: Duration = Duration::from_millis(20);

/// Prunes at once, then every `every` ([`EVERY`] when serving) until `stopped`; `days` is read
/// at each round (`0`: keep all), so a reloaded config applies from the next round.
pub(crate) async fn run(
    store: Arc<dyn Store>,
    days: impl Fn() -> u64,
    clock: Clock,
    every: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => break,
            _ = ticks.tick() => {}
        }
        let days = days();
        if days == 0 {
            continue;
        }
        match round(store.as_ref(), days, clock.now(), &stopped).await {
            Ok(0) => {}
            Ok(pruned) => {
                tracing::info!(
                    alerts = pruned,
                    retention_days = days,
                    "deleted finished alerts older than the retention"
                );
            }
            Err(e) => tracing::warn!(
                error = %crate::errors::error_chain(&e),
                "cannot delete old alerts; trying again in an hour"
            ),
        }
    }
}

/// One round: deletes, chunk by chunk, the finished alerts received more than `days` before
/// `now`, stopping early at shutdown. Returns how many.
pub(crate) async fn round(
    store: &dyn Store,
    days: u64,
    now: Timestamp,
    stopped: &watch::Receiver<bool>,
) -> Result<usize, StoreError> {
    let age = Duration::from_secs(days.saturating_mul(24 * 60 * 60));
    let Some(before) = now.checked_sub(age).ok() else {
        return Ok(0);
    };
    let mut total = 0;
    while !*stopped.borrow() {
        let pruned = store.prune(before, CHUNK).await?;
        total += pruned;
        if pruned < CHUNK {
            break;
        }
        tokio::time::sleep(BREATHER).await;
    }
    Ok(total)
}

#[cfg(test)]
mod tests;
