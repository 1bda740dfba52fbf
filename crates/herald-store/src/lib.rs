//! herald's durable store: every accepted webhook and the queue of deliveries it fans out to,
//! kept so that an acknowledged alert is never lost and every delivery is attempted at least
//! once, across restarts and crashes. Sentry gives a webhook one second and often does not
//! retry, so the handler stores, answers `202`, and leaves the sending to workers that lease
//! rows from here.
//!
//! # Interface
//!
//! [`Store`] is the contract (async, object safe, used as `Arc<dyn Store>`), and [`open`] the
//! one way in: it picks the backend by the url's scheme. [`SqliteStore`] is the embedded
//! implementation (`storage.url = "sqlite://PATH"`, one herald process); [`PostgresStore`]
//! keeps the same data on a PostgreSQL server several instances can share
//! (`postgres://USER[:PASSWORD]@HOST[:PORT]/DB`, its schema in `migrations_pg/`). The types in
//! [`model`] carry no SQL, and [`StoreError`] no backend's error type. Both pass the same
//! conformance suite (`tests/conformance`). What follows describes the SQLite store.
//!
//! # Schema
//!
//! Three tables for the queue and its history (see `migrations/`, embedded in the binary and
//! applied by [`SqliteStore::open`]; noise control keeps its state in tables of its own):
//!
//! - `alerts`: `id` (UUID v7 text), `source`, `request_id` (Sentry's `Request-ID`),
//!   `endpoint` (`platform` or `legacy`), `body_sha256` (hex), `received_at`, `alert` (the JSON
//!   of [`herald_core::Alert::to_json`]) and `raw` (the body text as received).
//!   `(source, endpoint, request_id, body_sha256)` is unique when the request id is present:
//!   a redelivery is stored once, while a reused id with another body (or through the other
//!   endpoint) is a new alert. Alerts stored before that key existed have neither column and
//!   never count as the first of a redelivery.
//! - `deliveries`: one row per (alert, route, sink): `id` (UUID v7 text, the idempotency key sent
//!   to the sink), `alert_id`, `route`, `sink`, `status` (`pending`, `in_flight`, `delivered`,
//!   `dead`), `attempts`, `next_attempt_at`, `lease_until`, `last_error`, `receipt` (JSON),
//!   `created_at`, `updated_at`. Partial indexes cover "pending and due" and "in flight and
//!   lease expired", the only two scans a worker makes.
//! - `attempts`: one row per attempt a sink was called for, written by the outcome method in
//!   the same job as the outcome ([`AttemptRecord`] in, [`Attempt`] out): `delivery_id`,
//!   `number` (from 1, counting on across an operator's retry), `started_at`, `finished_at`,
//!   `outcome` (`delivered`, `retried`, `dead`), `status` (the provider's, `NULL` for a
//!   network cause), `error` and `latency_ms`. A delivered delivery's `last_error` is cleared;
//!   its earlier errors are here. [`AdminStore::prune`] deletes them with their alert.
//!
//! Times are stored as Unix milliseconds and handed in by the caller (`now` parameters), so
//! tests move time by passing values instead of sleeping.
//!
//! # Group commit
//!
//! One writer thread (a plain OS thread, not a Tokio task) owns the only write connection,
//! opened with `rusqlite`. Every write ([`Store::accept`], leases, marks, releases) is a message
//! to it over a bounded channel; it takes everything queued at that moment (up to 256), runs it
//! in one `BEGIN IMMEDIATE` transaction with cached prepared statements, commits once, and only
//! then answers each caller over a oneshot channel. A batch therefore costs one hand-off in and
//! one answer out, however many statements it runs (with sqlx each statement, `BEGIN` and
//! `COMMIT` included, was a round trip to the connection's own thread). A lone caller is
//! committed at once; the one exception is a batch of delivery outcomes alone, which waits
//! up to 5 ms for another write to share its commit (at a trickle of alerts the next accept
//! comes within a millisecond; the outcome then costs no commit of its own, and 13% fewer WAL
//! bytes were written per alert at 1,000 alerts/s). Concurrent callers share a commit, which is what
//! makes thousands of acknowledged alerts per second possible when each commit may cost an
//! `fsync`. If one operation of a batch fails, the batch is rolled back and each operation is
//! replayed in its own transaction, so one bad request never fails its neighbours. Reads go
//! through a small pool of read-only sqlx connections, which WAL lets run beside the writer;
//! the operator's writes and the noise stage use short side connections of their own.
//!
//! # Checkpoints
//!
//! Copying the WAL back into the database file is the job of a background task: every 100 ms
//! after any round in which the writer committed, it runs a `PASSIVE` checkpoint on a
//! connection of its own, which takes no lock the writer needs. At SQLite's default the
//! writer's connection would do it itself inside a commit every 1,000 pages, with its
//! `fsync`s, holding up every webhook queued behind that commit. The WAL starts over from its
//! beginning only when a transaction begins with every page already copied, which under steady
//! load never happens by chance (the writer commits again while the checkpoint waits for its
//! `fsync`s; the WAL grew to hundreds of MB that way). So once the WAL passes 4,096 pages
//! (16 MiB) the task asks the writer, between two of its transactions and after answering its
//! callers, to copy the few pages written since; the next transaction then starts the WAL
//! over. SQLite's own automatic checkpoint stays on the writer as a backstop at 16,384 pages
//! in case the task falls behind. The WAL holds committed data either way, so checkpoints
//! change no durability promise.
//!
//! # Durability
//!
//! [`Store::accept`] returns only after its transaction is committed. The database runs in WAL
//! mode; [`SyncMode`](herald_core::config::SyncMode) picks what a commit survives:
//!
//! - `Normal` (`synchronous=NORMAL`): the commit is in the WAL file, handed to the operating
//!   system but not yet flushed. It survives herald crashing or being killed (`kill -9`); a
//!   power loss or kernel crash may lose the last commits before a checkpoint, never corrupt
//!   the database.
//! - `Full` (`synchronous=FULL`): the WAL is flushed to disk before the commit returns, so an
//!   acknowledged alert also survives power loss (on a disk that honours flushes), at the cost
//!   of one `fsync` per group commit.
//!
//! Deliveries are at least once: a worker that dies holding a lease leaves an `in_flight` row
//! that [`Store::lease_due`] hands out again, same id, once `lease_until` has passed.

pub mod admin;
pub mod error;
pub mod location;
pub mod model;
pub mod noise;
pub mod postgres;
pub mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use herald_core::Receipt;
use herald_core::config::StorageConfig;
use jiff::Timestamp;

pub use admin::{
    Activity, AdminStore, AlertFilter, AlertHistory, DeliveryFilter, DeliveryView, FoundAlert,
    FoundBy, InstanceView, Page, PageRequest, QueueDepth, RetryOutcome, SinkActivity,
};
pub use error::StoreError;
pub use location::{Backend, redact};
pub use model::{
    Accepted, Attempt, AttemptOutcome, AttemptRecord, Delivery, Endpoint, LeasedDelivery, NewAlert,
    Status, StatusCounts, StoreStats, StoredAlert,
};
pub use noise::{
    GateRequest, GateResult, HeldBack, HeldFilter, IssueRecord, Member, NewSilence, NoiseStore,
    SilenceRecord, ThreadRecord,
};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// Opens the store `config.url` names, by its scheme: `sqlite://PATH` (with `config.sync`,
/// SQLite's own setting) or `postgres://`/`postgresql://`. Creates or migrates the database
/// as needed and starts the backend's background work, so it must be called inside a Tokio
/// runtime. The one way in for the binary and the tests: none of them names a backend.
pub async fn open(config: &StorageConfig) -> Result<Arc<dyn Store>, StoreError> {
    match Backend::of(&config.url)? {
        Backend::Sqlite => Ok(Arc::new(SqliteStore::open(&config.url, config.sync).await?)),
        Backend::Postgres => Ok(Arc::new(
            PostgresStore::open_with(&config.url, Duration::from_secs(config.lease_seconds))
                .await?,
        )),
    }
}

/// The silences not yet ended at `now` in the store `url` names, read without opening it for
/// work (no migration, no writer), for `herald route`. `None` when there is no database there
/// yet, or it has no silences table.
pub async fn read_silences(
    url: &str,
    now: Timestamp,
) -> Result<Option<Vec<SilenceRecord>>, StoreError> {
    match Backend::of(url)? {
        Backend::Sqlite => SqliteStore::read_silences(url, now).await,
        Backend::Postgres => postgres::read_silences(url, now).await,
    }
}

/// The durable store the server and the delivery workers share.
#[async_trait]
/// Its operator-side queries are the supertrait [`AdminStore`]; noise control's state is
/// [`NoiseStore`].
pub trait Store: AdminStore + NoiseStore + Send + Sync + std::fmt::Debug {
    /// Stores an alert and its deliveries; returns once they are committed. A repeated
    /// `(source, endpoint, request_id)` with the same body stores nothing and returns the
    /// first request's ids with `duplicate: true`; with another body it is stored and says
    /// `request_id_reused: true`.
    async fn accept(&self, new: NewAlert) -> Result<Accepted, StoreError>;

    /// [`Store::accept`], with each new delivery's first lease taken in the same commit: the
    /// rows are stored `in_flight` until `received_at + lease` with one attempt counted, and
    /// come back ready to send, so the server hands them straight to its dispatcher instead of
    /// leasing them back from the store a moment later. A duplicate comes back with none.
    /// A store that cannot do this returns none either (this default): its deliveries stay
    /// pending and are leased as usual.
    async fn accept_leased(
        &self,
        new: NewAlert,
        lease: Duration,
    ) -> Result<(Accepted, Vec<LeasedDelivery>), StoreError> {
        let _ = lease;
        Ok((self.accept(new).await?, Vec::new()))
    }

    /// Leases up to `limit` deliveries that are pending and due at `now`, or in flight with an
    /// expired lease, oldest due first: each becomes `in_flight` until `now + lease` and its
    /// `attempts` grows by one. `sinks` restricts the lease to those sink names.
    async fn lease_due(
        &self,
        now: Timestamp,
        limit: usize,
        lease: Duration,
        sinks: Option<&[String]>,
    ) -> Result<Vec<LeasedDelivery>, StoreError>;

    /// Leases due deliveries of several sinks in one go: at most `limit` in all and at most
    /// `n` for each `(sink, n)` of `limits`, oldest due first, as [`Store::lease_due`] would
    /// one sink at a time (which is what this default does). A store that can do it in one
    /// statement should: the dispatcher calls this with every sink that has free slots.
    async fn lease_due_limited(
        &self,
        now: Timestamp,
        limit: usize,
        limits: &[(String, usize)],
        lease: Duration,
    ) -> Result<Vec<LeasedDelivery>, StoreError> {
        let mut leased = Vec::new();
        for (sink, n) in limits {
            let room = limit.saturating_sub(leased.len()).min(*n);
            let one = std::slice::from_ref(sink);
            leased.extend(self.lease_due(now, room, lease, Some(one)).await?);
        }
        Ok(leased)
    }

    /// Records a successful delivery and clears its `last_error` (earlier errors stay in its
    /// attempts). Returns false when the delivery is unknown or already finished (delivered
    /// or dead), which leaves it unchanged.
    ///
    /// Each outcome method takes the `attempt` it concludes, when a sink was called: it is
    /// stored as an [`Attempt`] in the same transaction as the outcome, with the outcome's
    /// text as its error. An attempt of a delivery already finished (a worker whose lease
    /// expired while another finished the delivery) is still recorded, since the sink was
    /// called; one of an unknown delivery is not. Outcomes no sink call led to (the noise
    /// stage putting a delivery back) pass `None` and leave no attempt.
    async fn mark_delivered(
        &self,
        id: &str,
        receipt: &Receipt,
        now: Timestamp,
        attempt: Option<&AttemptRecord>,
    ) -> Result<bool, StoreError>;

    /// Puts a delivery back to `pending` until `next_attempt_at`, keeping the error. Returns
    /// false when it is unknown or already finished.
    async fn mark_retry(
        &self,
        id: &str,
        next_attempt_at: Timestamp,
        error: &str,
        now: Timestamp,
        attempt: Option<&AttemptRecord>,
    ) -> Result<bool, StoreError>;

    /// Gives a delivery up, keeping the reason. Returns false when it is unknown or already
    /// finished.
    async fn mark_dead(
        &self,
        id: &str,
        reason: &str,
        now: Timestamp,
        attempt: Option<&AttemptRecord>,
    ) -> Result<bool, StoreError>;

    /// Returns leased deliveries that were never started (shutdown) to `pending`, giving back
    /// the attempt their lease counted. Returns how many were in flight.
    async fn release_in_flight(&self, ids: &[String], now: Timestamp) -> Result<u64, StoreError>;

    /// How long leases on this store should last when their holder renews them while their
    /// attempts run ([`Store::renew_leases`]), which is then how long the work of an instance
    /// that died waits for another (`storage.lease_seconds`). `None` (this default): the store
    /// belongs to one process, gives back that process's leases when it opens, and renews
    /// nothing, so callers lease for longer than any attempt may run.
    fn lease_renewal(&self) -> Option<Duration> {
        None
    }

    /// Extends to `now + lease` the leases among `ids` that this store instance still holds,
    /// while their attempts run; returns how many it extended (fewer than asked: another
    /// instance took some over). Called every [`postgres::heartbeat_every`] of
    /// [`Store::lease_renewal`]'s lease; a store that renews nothing returns 0 (this default).
    async fn renew_leases(
        &self,
        ids: &[String],
        now: Timestamp,
        lease: Duration,
    ) -> Result<u64, StoreError> {
        let _ = (ids, now, lease);
        Ok(0)
    }

    /// A counter that moves each time another process sharing this store says it stored work
    /// (a delivery pending, a retry scheduled, an operator's retry, a lease given back): a
    /// dispatcher woken by it looks at the queue. `None` (this default): nobody else writes to
    /// this store. Signals are hints; the queue's next due time stays the fallback.
    fn work_signals(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }

    /// Whether other processes write to this store too (several instances on one database),
    /// so what a caller keeps of its state (the silences) must be read again before use.
    fn shared(&self) -> bool {
        self.work_signals().is_some()
    }

    /// The earliest time at which [`Store::lease_due`] would find work: the first pending
    /// `next_attempt_at` or in-flight `lease_until`. `None` when nothing is waiting.
    async fn next_due_at(&self) -> Result<Option<Timestamp>, StoreError>;

    /// How many deliveries are in each status.
    async fn count_by_status(&self) -> Result<StatusCounts, StoreError>;

    /// One delivery row, if it exists.
    async fn delivery(&self, id: &str) -> Result<Option<Delivery>, StoreError>;

    /// One stored alert, if it exists.
    async fn alert(&self, id: &str) -> Result<Option<StoredAlert>, StoreError>;

    /// Readiness: the database answers and the writer is running.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Writer counters since opening.
    fn stats(&self) -> StoreStats;

    /// Finishes queued writes and closes the connections; later calls fail with
    /// [`StoreError::Closed`].
    async fn close(&self);
}

/// Unix milliseconds, the stored form of every time.
fn to_millis(ts: Timestamp) -> i64 {
    ts.as_millisecond()
}

fn from_millis(ms: i64, what: &'static str, id: &str) -> Result<Timestamp, StoreError> {
    Timestamp::from_millisecond(ms).map_err(|e| StoreError::Corrupt {
        what,
        id: id.to_string(),
        detail: format!("time {ms} is out of range: {e}"),
    })
}

fn duration_millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
