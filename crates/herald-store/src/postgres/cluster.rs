//! What lets several herald instances share one PostgreSQL database beyond the row locks of a
//! lease: each store's identity and heartbeat, the renewal of the leases its attempts hold,
//! and the wake-ups instances send each other.
//!
//! - Identity: every [`PostgresStore`] is an instance with a fresh UUID, written as the holder
//!   of each lease it takes and registered in `instances` (with its host and pid, for people)
//!   at open; a background task refreshes its `last_seen` every few seconds and deletes rows
//!   of instances not heard of for a day. The row goes when the store is closed.
//! - Leases last `storage.lease_seconds` ([`PostgresStore::lease`]) and the dispatcher renews
//!   those of its running attempts ([`crate::Store::renew_leases`]) several times a lease, so
//!   a slow send is never taken over while its instance lives. An instance that died stops
//!   renewing; its leases run out and any instance's next lease takes them. Since every
//!   start is a new instance id, a start gives back no lease: the ones of its previous life
//!   expire like any dead instance's, and another live instance's are never touched.
//! - Wake-ups: when this instance stores work another may take (a delivery stored pending, a
//!   retry scheduled, an operator's retry, a lease given back), it sends
//!   `NOTIFY herald_work` with its id, at most once per [`DEBOUNCE`]; every instance
//!   `LISTEN`s on a connection of its own and bumps the counter [`crate::Store::work_signals`]
//!   hands out, which wakes its dispatcher. A lost listening connection is opened again and
//!   counts as a signal, since notifications sent meanwhile are gone; the dispatcher's look
//!   at the next due time remains the fallback.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::PostgresStore;
use crate::{StoreError, duration_millis, to_millis};

/// The channel instances wake each other on.
pub(crate) const CHANNEL: &str = "herald_work";

/// The shortest gap between two wake-ups this instance sends: a burst of stored work costs
/// the others one look at the queue, not one per row.
pub(crate) const DEBOUNCE: Duration = Duration::from_millis(10);

/// How long the row of an instance that died without deleting it stays in `instances`.
const FORGET_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// Waits between two attempts to listen again when the server does not answer.
const RELISTEN: Duration = Duration::from_secs(1);

/// How often an instance refreshes its row (and the dispatcher renews its leases): three
/// times a lease, at most every 5 seconds, so one missed beat never loses a lease.
pub fn heartbeat_every(lease: Duration) -> Duration {
    (lease / 3).clamp(Duration::from_millis(100), Duration::from_secs(5))
}

/// The background side of one instance.
#[derive(Debug)]
pub(super) struct Cluster {
    /// How long leases last (`storage.lease_seconds`).
    pub(super) lease: Duration,
    /// Bumped when another instance says it stored work.
    signals: watch::Sender<u64>,
    /// Set when this instance stored work others may take; the notifier sends it on.
    outgoing: Arc<Notify>,
    /// The heartbeat, notifier and listener; aborted when the store closes or is dropped.
    tasks: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

impl Cluster {
    pub(super) fn new(lease: Duration) -> Cluster {
        Cluster {
            lease,
            signals: watch::channel(0).0,
            outgoing: Arc::new(Notify::new()),
            tasks: std::sync::Mutex::default(),
        }
    }

    /// A receiver of the other instances' wake-ups.
    pub(super) fn subscribe(&self) -> watch::Receiver<u64> {
        self.signals.subscribe()
    }

    /// Tells the other instances (soon, debounced) that there is work in the queue.
    pub(super) fn signal_work(&self) {
        self.outgoing.notify_one();
    }

    /// Starts the heartbeat, the notifier and the listener of the instance `holder`.
    pub(super) fn start(&self, pool: &PgPool, holder: &str) {
        let every = heartbeat_every(self.lease);
        let heartbeat = {
            let (pool, holder) = (pool.clone(), holder.to_owned());
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(every);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                ticks.tick().await;
                loop {
                    ticks.tick().await;
                    if let Err(e) = beat(&pool, &holder, Timestamp::now()).await {
                        tracing::warn!(error = %e, "cannot refresh this instance's heartbeat");
                    }
                }
            })
        };
        let notifier = {
            let (pool, holder, outgoing) = (pool.clone(), holder.to_owned(), self.outgoing.clone());
            tokio::spawn(async move {
                loop {
                    outgoing.notified().await;
                    let sent = sqlx::query("SELECT pg_notify($1, $2)")
                        .bind(CHANNEL)
                        .bind(&holder)
                        .execute(&pool)
                        .await;
                    if let Err(e) = sent {
                        if pool.is_closed() {
                            return;
                        }
                        tracing::warn!(error = %e, "cannot wake the other instances; they find the work at their next look");
                    }
                    // Production pacing, not a test's wait: signals arriving meanwhile are
                    // kept by the Notify and sent as one.
                    tokio::time::sleep(DEBOUNCE).await;
                }
            })
        };
        let listener = {
            let (pool, holder, signals) = (pool.clone(), holder.to_owned(), self.signals.clone());
            tokio::spawn(listen(pool, holder, signals))
        };
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.extend([heartbeat, notifier, listener]);
    }

    /// Stops the background tasks.
    pub(super) fn stop(&self) {
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for task in tasks {
            task.abort();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Listens for the other instances' wake-ups until the pool closes, bumping `signals` for
/// each one (and whenever the connection was lost, since what was sent meanwhile is gone).
async fn listen(pool: PgPool, holder: String, signals: watch::Sender<u64>) {
    let bump = || signals.send_modify(|n| *n = n.wrapping_add(1));
    // Work stored before the first connection is found by the dispatcher's first look.
    let mut first = true;
    loop {
        let listening = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = match listening.await {
            Ok(listener) => listener,
            Err(_) if pool.is_closed() => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for the other instances' wake-ups; trying again");
                tokio::time::sleep(RELISTEN).await;
                continue;
            }
        };
        // Work may have been stored while nobody listened.
        if !first {
            bump();
        }
        first = false;
        loop {
            match listener.try_recv().await {
                Ok(Some(note)) => {
                    if note.payload() != holder {
                        bump();
                    }
                }
                // The connection was lost; the next call opens a new one and listens again.
                Ok(None) => bump(),
                Err(_) if pool.is_closed() => return,
                Err(e) => {
                    tracing::warn!(error = %e, "lost the connection that listens for the other instances' wake-ups");
                    break;
                }
            }
        }
    }
}

/// Registers or refreshes the row of `holder` at `now`, and forgets instances not heard of
/// for [`FORGET_AFTER`].
async fn beat(pool: &PgPool, holder: &str, now: Timestamp) -> Result<(), StoreError> {
    let now = to_millis(now);
    let host = hostname::get()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO instances (id, host, pid, started_at, last_seen) VALUES ($1, $2, $3, $4, $4)
         ON CONFLICT (id) DO UPDATE SET last_seen = GREATEST(instances.last_seen, $4)",
    )
    .bind(holder)
    .bind(host)
    .bind(i64::from(std::process::id()))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM instances WHERE last_seen < $1")
        .bind(now.saturating_sub(duration_millis(FORGET_AFTER)))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

impl PostgresStore {
    /// Registers this instance, or refreshes its `last_seen`, as of `now`. The store's
    /// heartbeat calls it every few seconds; tests call it with the time they choose.
    pub async fn heartbeat(&self, now: Timestamp) -> Result<(), StoreError> {
        self.check_open()?;
        beat(&self.pool, &self.holder, now).await
    }

    /// How long this store's leases last (`storage.lease_seconds`).
    pub fn lease(&self) -> Duration {
        self.cluster.lease
    }

    /// Extends to `now + lease` the leases among `ids` this instance still holds; returns how
    /// many. A lease another instance took over (this one was cut off for longer than a
    /// lease) stays theirs.
    pub(super) async fn renew(
        &self,
        ids: &[String],
        now: Timestamp,
        lease: Duration,
    ) -> Result<u64, StoreError> {
        self.check_open()?;
        if ids.is_empty() {
            return Ok(0);
        }
        let until = to_millis(now).saturating_add(duration_millis(lease));
        let done = sqlx::query(
            "UPDATE deliveries SET lease_until = GREATEST(lease_until, $2)
             WHERE id = ANY($1) AND status = 'in_flight' AND lease_holder = $3",
        )
        .bind(ids)
        .bind(until)
        .bind(&self.holder)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Deletes this instance's row, when it stops.
    pub(super) async fn unregister(&self) {
        let gone = sqlx::query("DELETE FROM instances WHERE id = $1")
            .bind(&self.holder)
            .execute(&self.pool)
            .await;
        if let Err(e) = gone {
            tracing::debug!(error = %e, "cannot delete this instance's row; the others forget it in a day");
        }
    }
}

#[cfg(test)]
mod tests;
