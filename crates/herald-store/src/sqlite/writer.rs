//! The group-commit writer: one OS thread that owns SQLite's write connection (`rusqlite`, not
//! sqlx). Callers send it jobs; it takes everything queued, runs it in one transaction with
//! cached prepared statements, commits once, and answers each caller only after the commit, so
//! an answer always means "on disk as far as the sync mode promises". Running the statements on
//! the thread that owns the connection makes a batch cost one hand-off in and one answer out,
//! instead of a round trip to a connection thread per statement (BEGIN and COMMIT included).
//! Keeping a single writer also means SQLite never returns `SQLITE_BUSY` to herald.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use herald_core::config::SyncMode;
use rusqlite::{Connection, params};
use tokio::sync::{mpsc, oneshot};

use crate::{Accepted, NewAlert, StoreError, StoreStats};

/// Most jobs in one transaction: large enough to absorb bursts, small enough that the first
/// caller of a batch does not wait long behind the others.
const MAX_BATCH: usize = 256;

/// How long a batch of delivery outcomes alone waits for another write to share its commit.
/// At a steady trickle (each alert its own commit) the next accept comes within about a
/// millisecond and the outcome rides along, on the very pages that accept writes anyway, so
/// an outcome costs neither a commit nor WAL pages of its own; when nothing comes, the wait
/// bounds how late an outcome is recorded (a crash in that window resends, never loses).
pub(crate) const OUTCOME_WAIT: Duration = Duration::from_millis(5);

/// Prepared statements kept on the write connection: every statement below, with room.
const STATEMENT_CACHE: usize = 32;

/// WAL pages after which the writer checkpoints by itself after a commit, as SQLite would every
/// 1,000 pages by default. The background checkpointer (`checkpoint.rs`) copies the pages and
/// asks the writer for the last few ([`Job::Checkpoint`]) long before this; the backstop only
/// bounds the WAL if the checkpointer falls behind (without any, the WAL grew to 740 MB in 5 s
/// in a closed-loop benchmark: it starts over only when fully copied as a transaction begins).
pub(super) const WAL_BACKSTOP_PAGES: i64 = 16_384;

/// Counters shared between the writer and [`SqliteStore::stats`](super::SqliteStore).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    operations: AtomicU64,
    commits: AtomicU64,
    /// Batches of outcomes alone that waited for company ([`OUTCOME_WAIT`]).
    pub(crate) waited: AtomicU64,
    /// Set while the last write failed (disk full, read-only file), with the error; cleared
    /// by the next write that commits.
    failing: std::sync::atomic::AtomicBool,
    failure: std::sync::Mutex<Option<String>>,
    /// Held by a test while it queues jobs, so that the writer takes them as one batch.
    #[cfg(test)]
    pub(crate) gate: std::sync::Mutex<()>,
}

impl Counters {
    /// The error of the last write, while no write has committed since.
    pub(crate) fn failure(&self) -> Option<String> {
        if !self.failing.load(Ordering::Acquire) {
            return None;
        }
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn write_failed(&self, error: &rusqlite::Error) {
        *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(error.to_string());
        self.failing.store(true, Ordering::Release);
    }

    pub(crate) fn write_succeeded(&self) {
        if self.failing.swap(false, Ordering::AcqRel) {
            *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = None;
            tracing::info!("the store commits again");
        }
    }

    pub(crate) fn snapshot(&self) -> StoreStats {
        StoreStats {
            operations: self.operations.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
        }
    }
}

/// An alert to insert, already encoded by the caller so the writer spends its time on SQL.
/// The raw body is bound as a parameter, not embedded in JSON, so neither side escapes or
/// re-parses its kilobytes.
#[derive(Debug)]
pub(crate) struct AcceptJob {
    pub alert_id: String,
    pub source: String,
    pub request_id: Option<String>,
    pub endpoint: &'static str,
    /// Lowercase hex SHA-256 of `raw`, part of the redelivery key.
    pub body_sha256: String,
    pub received_at: i64,
    /// [`herald_core::Alert::to_json`] as text.
    pub alert_json: String,
    /// The body as received.
    pub raw: String,
    /// `(id, route, sink)` in the order of the request's deliveries.
    pub deliveries: Vec<(String, String, String)>,
    /// Set: the deliveries are stored already leased, `in_flight` until then, one attempt
    /// counted ([`crate::Store::accept_leased`]).
    pub lease_until: Option<i64>,
}

impl AcceptJob {
    pub(crate) fn new(new: NewAlert) -> AcceptJob {
        let alert_id = uuid::Uuid::now_v7().to_string();
        let received_at = crate::to_millis(new.received_at);
        // Straight from the struct: the same text as `to_json().to_string()` without building
        // a `serde_json::Value` first.
        let alert_json =
            serde_json::to_string(&*new.alert).unwrap_or_else(|_| new.alert.to_json().to_string());
        let body_sha256 = new.body_sha256();
        let deliveries = new
            .deliveries
            .into_iter()
            .map(|(route, sink)| (uuid::Uuid::now_v7().to_string(), route, sink))
            .collect();
        AcceptJob {
            alert_id,
            source: new.source,
            request_id: new.request_id,
            endpoint: new.endpoint.as_str(),
            body_sha256,
            received_at,
            alert_json,
            raw: new.raw,
            deliveries,
            lease_until: None,
        }
    }
}

#[derive(Debug)]
pub(crate) struct LeaseJob {
    pub now: i64,
    pub lease_until: i64,
    pub limit: i64,
    /// A JSON array of sink names, or `None` for every sink.
    pub sinks: Option<String>,
    /// A JSON object `{sink: most to lease}`; when set it replaces `sinks` and the whole
    /// lease is one statement, however many sinks have free slots.
    pub limits: Option<String>,
    /// Alerts the caller already holds: their rows (and bodies) are not read back.
    pub known: Option<Arc<super::recent::RecentAlerts>>,
}

/// A delivery row as stored, in the columns of [`delivery_columns`]; turned into a
/// [`crate::Delivery`] by the caller, off the writer thread.
#[derive(Debug)]
pub(crate) struct DeliveryRow {
    pub id: String,
    pub alert_id: String,
    pub route: String,
    pub sink: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub lease_until: Option<i64>,
    pub last_error: Option<String>,
    pub receipt: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl DeliveryRow {
    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<DeliveryRow> {
        Ok(DeliveryRow {
            id: row.get(0)?,
            alert_id: row.get(1)?,
            route: row.get(2)?,
            sink: row.get(3)?,
            status: row.get(4)?,
            attempts: row.get(5)?,
            next_attempt_at: row.get(6)?,
            lease_until: row.get(7)?,
            last_error: row.get(8)?,
            receipt: row.get(9)?,
            created_at: row.get(10)?,
            updated_at: row.get(11)?,
        })
    }
}

/// An alert read back for a lease: `id`, the alert JSON and the raw body.
#[derive(Debug)]
pub(crate) struct AlertRow {
    pub id: String,
    pub alert: String,
    pub raw: String,
}

/// The rows a lease took, parsed by the caller rather than on the writer.
pub(crate) struct LeaseRows {
    pub deliveries: Vec<DeliveryRow>,
    /// Every alert those deliveries belong to that was not cached.
    pub alerts: Vec<AlertRow>,
    /// The alerts found in [`LeaseJob::known`], by id.
    pub cached: HashMap<String, Arc<herald_core::Alert>>,
}

impl std::fmt::Debug for LeaseRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseRows")
            .field("deliveries", &self.deliveries.len())
            .field("alerts", &self.alerts.len())
            .finish()
    }
}

#[derive(Debug)]
pub(crate) enum Mark {
    Delivered { receipt: String },
    Retry { next_attempt_at: i64, error: String },
    Dead { reason: String },
}

#[derive(Debug)]
pub(crate) struct MarkJob {
    pub id: String,
    pub mark: Mark,
    pub now: i64,
    /// The attempt this outcome concludes, stored beside it ([`crate::AttemptRecord`]).
    pub attempt: Option<AttemptRow>,
}

/// [`crate::AttemptRecord`] in its stored units.
#[derive(Debug)]
pub(crate) struct AttemptRow {
    pub started_at: i64,
    pub latency_ms: i64,
    pub status: Option<u16>,
}

#[derive(Debug)]
pub(crate) struct ReleaseJob {
    /// A JSON array of delivery ids.
    pub ids: String,
    pub now: i64,
}

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// One write. The result is kept in the job until the transaction commits, then sent.
#[derive(Debug)]
pub(crate) enum Job {
    Accept(AcceptJob, Reply<Accepted>, Option<Accepted>),
    Lease(LeaseJob, Reply<LeaseRows>, Option<LeaseRows>),
    Mark(MarkJob, Reply<bool>, Option<bool>),
    Release(ReleaseJob, Reply<u64>, Option<u64>),
    /// Stop after this batch.
    Close(oneshot::Sender<()>),
    /// After this batch, copy into the database file the WAL pages the checkpointer has not:
    /// between two transactions of the only writer, so the next one can start the WAL over.
    Checkpoint,
}

impl Job {
    pub(crate) fn accept(job: AcceptJob) -> (Job, oneshot::Receiver<Result<Accepted, StoreError>>) {
        let (tx, rx) = oneshot::channel();
        (Job::Accept(job, tx, None), rx)
    }

    pub(crate) fn lease(job: LeaseJob) -> (Job, oneshot::Receiver<Result<LeaseRows, StoreError>>) {
        let (tx, rx) = oneshot::channel();
        (Job::Lease(job, tx, None), rx)
    }

    pub(crate) fn mark(job: MarkJob) -> (Job, oneshot::Receiver<Result<bool, StoreError>>) {
        let (tx, rx) = oneshot::channel();
        (Job::Mark(job, tx, None), rx)
    }

    pub(crate) fn release(job: ReleaseJob) -> (Job, oneshot::Receiver<Result<u64, StoreError>>) {
        let (tx, rx) = oneshot::channel();
        (Job::Release(job, tx, None), rx)
    }

    /// Forgets an outcome from a transaction that was rolled back.
    fn reset(&mut self) {
        match self {
            Job::Accept(_, _, out) => *out = None,
            Job::Lease(_, _, out) => *out = None,
            Job::Mark(_, _, out) => *out = None,
            Job::Release(_, _, out) => *out = None,
            Job::Close(_) | Job::Checkpoint => {}
        }
    }

    /// Answers the caller: the committed outcome, or the error. A caller that stopped waiting
    /// (its request was cancelled) is no concern: the data is committed either way.
    fn answer(self, error: Option<StoreError>) {
        fn send<T>(reply: Reply<T>, out: Option<T>, error: Option<StoreError>) {
            let result = match (out, error) {
                (_, Some(e)) => Err(e),
                (Some(v), None) => Ok(v),
                (None, None) => Err(StoreError::Closed),
            };
            let _ = reply.send(result);
        }
        match self {
            Job::Accept(_, reply, out) => send(reply, out, error),
            Job::Lease(_, reply, out) => send(reply, out, error),
            Job::Mark(_, reply, out) => send(reply, out, error),
            Job::Release(_, reply, out) => send(reply, out, error),
            Job::Close(reply) => {
                let _ = reply.send(());
            }
            Job::Checkpoint => {}
        }
    }

    fn is_mark(&self) -> bool {
        matches!(self, Job::Mark(..))
    }

    fn is_close(&self) -> bool {
        matches!(self, Job::Close(_))
    }

    /// Whether the job writes rows (and counts as an operation).
    fn is_write(&self) -> bool {
        !matches!(self, Job::Close(_) | Job::Checkpoint)
    }
}

/// Opens the write connection and starts the writer thread on it. The answer says whether the
/// connection opened; the thread ends when every sender is gone or a [`Job::Close`] arrives.
pub(crate) fn spawn(
    path: PathBuf,
    sync: SyncMode,
    jobs: mpsc::Receiver<Job>,
    counters: Arc<Counters>,
    outcome_wait: Duration,
) -> Result<oneshot::Receiver<Result<(), rusqlite::Error>>, std::io::Error> {
    let (ready, opened) = oneshot::channel();
    std::thread::Builder::new()
        .name("herald-store-writer".into())
        .spawn(move || match connect(&path, sync) {
            Ok(conn) => {
                let _ = ready.send(Ok(()));
                run(conn, jobs, &counters, outcome_wait);
            }
            Err(e) => {
                let _ = ready.send(Err(e));
            }
        })?;
    Ok(opened)
}

/// The write connection: WAL, the configured sync mode, foreign keys on, and the automatic
/// checkpoint only as a backstop ([`WAL_BACKSTOP_PAGES`]): at SQLite's default it would run
/// inside a commit every thousand pages and hold up every caller queued behind it; the store's
/// checkpointer (`checkpoint.rs`) does that work on a connection of its own.
pub(super) fn connect(path: &Path, sync: SyncMode) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(super::BUSY_TIMEOUT)?;
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))?;
    let synchronous = match sync {
        SyncMode::Normal => "NORMAL",
        SyncMode::Full => "FULL",
    };
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update_and_check(None, "wal_autocheckpoint", WAL_BACKSTOP_PAGES, |row| {
        row.get::<_, i64>(0)
    })?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// The writer loop: wait for one job, take whatever else is queued, commit, answer. A batch
/// of outcomes alone first waits up to `outcome_wait` for another job to share its commit.
fn run(
    conn: Connection,
    mut jobs: mpsc::Receiver<Job>,
    counters: &Counters,
    outcome_wait: Duration,
) {
    // Only for that bounded wait: `blocking_recv` has no timeout. Without a timer the writer
    // commits outcomes at once, as it did before the wait existed.
    let timer = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| tracing::warn!(error = %e, "no timer for the store writer; delivery outcomes are committed one batch each"))
        .ok();
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut closing = false;
    while !closing {
        let Some(first) = jobs.blocking_recv() else {
            break;
        };
        #[cfg(test)]
        drop(counters.gate.lock());
        batch.push(first);
        take_queued(&mut jobs, &mut batch);
        let only_outcomes = batch.iter().all(Job::is_mark);
        if let Some(timer) = timer
            .as_ref()
            .filter(|_| only_outcomes && !outcome_wait.is_zero())
        {
            counters.waited.fetch_add(1, Ordering::Relaxed);
            // The timeout is made inside `block_on`: its timer needs that runtime.
            let next =
                timer.block_on(async { tokio::time::timeout(outcome_wait, jobs.recv()).await });
            // Senders gone (`Ok(None)`) or the wait over: commit what there is.
            if let Ok(Some(job)) = next {
                batch.push(job);
                take_queued(&mut jobs, &mut batch);
            }
        }
        closing = batch.iter().any(Job::is_close);
        if closing {
            // Later senders fail at once instead of queueing work nobody will run.
            jobs.close();
        }
        let writes = batch.iter().filter(|job| job.is_write()).count() as u64;
        let checkpoint = batch.iter().any(|job| matches!(job, Job::Checkpoint));
        match commit(&conn, &mut batch) {
            Ok(()) => {
                if writes > 0 {
                    counters.commits.fetch_add(1, Ordering::Relaxed);
                    counters.write_succeeded();
                }
                counters.operations.fetch_add(writes, Ordering::Relaxed);
                for job in batch.drain(..) {
                    job.answer(None);
                }
            }
            Err(e) => {
                tracing::warn!(jobs = batch.len(), error = %e, "group commit failed, retrying its writes one by one");
                for mut job in batch.drain(..) {
                    job.reset();
                    let mut one = [job];
                    let result = commit(&conn, &mut one);
                    let [job] = one;
                    if job.is_write() {
                        counters.operations.fetch_add(1, Ordering::Relaxed);
                        match &result {
                            Ok(()) => {
                                counters.commits.fetch_add(1, Ordering::Relaxed);
                                counters.write_succeeded();
                            }
                            Err(e) => counters.write_failed(e),
                        }
                    }
                    job.answer(result.err().map(StoreError::from));
                }
            }
        }
        if checkpoint {
            // Answers went out first: callers do not wait for it. A failure loses nothing
            // (the pages stay in the WAL for the next round).
            if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                tracing::warn!(error = %e, "WAL checkpoint on the writer failed; retrying later");
            }
        }
    }
    if let Err((_, e)) = conn.close() {
        tracing::warn!(error = %e, "closing the database write connection failed");
    }
}

/// Adds whatever is queued to the batch, up to [`MAX_BATCH`].
fn take_queued(jobs: &mut mpsc::Receiver<Job>, batch: &mut Vec<Job>) {
    while batch.len() < MAX_BATCH {
        match jobs.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
}

/// Runs the jobs in one transaction; on any error nothing of it is kept.
fn commit(conn: &Connection, batch: &mut [Job]) -> rusqlite::Result<()> {
    if !batch.iter().any(Job::is_write) {
        return Ok(());
    }
    // IMMEDIATE: the write lock is taken (waiting out a side connection's transaction, within
    // the busy timeout) before any statement, so none of them can fail half-way for it.
    conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
    let done = run_all(conn, batch).and_then(|()| {
        conn.prepare_cached("COMMIT")?.execute([])?;
        Ok(())
    });
    if done.is_err() && !conn.is_autocommit() {
        // Some errors end the transaction by themselves; only an open one is rolled back. A
        // failing rollback leaves the connection unusable, which the next BEGIN reports.
        if let Err(e) = conn.execute_batch("ROLLBACK") {
            tracing::warn!(error = %e, "rolling back a failed group commit failed");
        }
    }
    done
}

fn run_all(conn: &Connection, batch: &mut [Job]) -> rusqlite::Result<()> {
    // Accepts first, then outcomes, then the rest in order. Reordering is harmless: a lease or
    // mark can only name deliveries whose accept was already answered, so none of them
    // depends on an accept of the same batch.
    for job in batch.iter_mut() {
        if let Job::Accept(job, _, out) = job {
            *out = Some(accept(conn, job)?);
        }
    }
    for job in batch.iter_mut() {
        if let Job::Mark(job, _, out) = job {
            *out = Some(mark(conn, job)? > 0);
        }
    }
    for job in batch.iter_mut() {
        match job {
            Job::Lease(job, _, out) => *out = Some(lease(conn, job)?),
            Job::Release(job, _, out) => *out = Some(release(conn, job)?),
            Job::Accept(..) | Job::Mark(..) | Job::Close(_) | Job::Checkpoint => {}
        }
    }
    Ok(())
}

/// Inserts one alert and its deliveries. A repeated `(source, endpoint, request_id,
/// body_sha256)`, in the table or earlier in this very batch, inserts nothing and answers with
/// the first request's ids.
fn accept(conn: &Connection, job: &AcceptJob) -> rusqlite::Result<Accepted> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO alerts
                 (id, source, request_id, endpoint, body_sha256, received_at, alert, raw)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (source, endpoint, request_id, body_sha256) DO NOTHING",
        )?
        .execute(params![
            job.alert_id,
            job.source,
            job.request_id,
            job.endpoint,
            job.body_sha256,
            job.received_at,
            job.alert_json,
            job.raw
        ])?;
    if inserted == 0 {
        return duplicate_of(conn, job);
    }
    // Only a request that carries an id can reuse one; the unique index's prefix finds it.
    let request_id_reused = job.request_id.is_some()
        && conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM alerts
                     WHERE source = ?1 AND endpoint = ?2 AND request_id = ?3
                       AND body_sha256 IS NOT ?4)",
            )?
            .query_row(
                params![job.source, job.endpoint, job.request_id, job.body_sha256],
                |row| row.get::<_, bool>(0),
            )?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO deliveries
             (id, alert_id, route, sink, status, attempts, next_attempt_at, lease_until,
              created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, CASE WHEN ?6 IS NULL THEN 'pending' ELSE 'in_flight' END,
                 ?6 IS NOT NULL, ?5, ?6, ?5, ?5)",
    )?;
    for (id, route, sink) in &job.deliveries {
        insert.execute(params![
            id,
            job.alert_id,
            route,
            sink,
            job.received_at,
            job.lease_until
        ])?;
    }
    Ok(Accepted {
        alert_id: job.alert_id.clone(),
        delivery_ids: job.deliveries.iter().map(|(id, _, _)| id.clone()).collect(),
        duplicate: false,
        request_id_reused,
    })
}

/// The answer for a repeated request: the first request's alert and deliveries.
fn duplicate_of(conn: &Connection, job: &AcceptJob) -> rusqlite::Result<Accepted> {
    let first: String = conn
        .prepare_cached(
            "SELECT id FROM alerts
             WHERE source = ?1 AND endpoint = ?2 AND request_id = ?3 AND body_sha256 = ?4",
        )?
        .query_row(
            params![job.source, job.endpoint, job.request_id, job.body_sha256],
            |row| row.get(0),
        )?;
    let delivery_ids = conn
        .prepare_cached("SELECT id FROM deliveries WHERE alert_id = ?1 ORDER BY rowid")?
        .query_map([&first], |row| row.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(Accepted {
        alert_id: first,
        delivery_ids,
        duplicate: true,
        request_id_reused: false,
    })
}

/// The columns of a delivery row, in the order [`super::delivery_from_row`] reads them; a macro
/// so that queries can be `concat!`ed into one static string.
macro_rules! delivery_columns {
    () => {
        "id, alert_id, route, sink, status, attempts, next_attempt_at, lease_until, \
         last_error, receipt, created_at, updated_at"
    };
}
pub(crate) use delivery_columns;

/// Due deliveries of the sinks named in the limits, at most that many per sink (the oldest
/// first within each), taken among the oldest `?5` due rows of those sinks so the scan stays
/// bounded however long the backlog is. Two arms so each uses its partial index.
const LEASE_LIMITED: &str = concat!(
    "UPDATE deliveries
     SET status = 'in_flight', lease_until = ?2, attempts = attempts + 1, updated_at = ?1
     WHERE id IN (
         SELECT c.id FROM (
             SELECT id, sink, due,
                    ROW_NUMBER() OVER (PARTITION BY sink ORDER BY due, id) AS n
             FROM (
                 SELECT * FROM (
                     SELECT id, sink, next_attempt_at AS due FROM deliveries
                     WHERE status = 'pending' AND next_attempt_at <= ?1
                       AND sink IN (SELECT key FROM json_each(?4))
                     ORDER BY next_attempt_at LIMIT ?5)
                 UNION ALL
                 SELECT * FROM (
                     SELECT id, sink, lease_until AS due FROM deliveries
                     WHERE status = 'in_flight' AND lease_until <= ?1
                       AND sink IN (SELECT key FROM json_each(?4))
                     ORDER BY lease_until LIMIT ?5)
             )
         ) AS c JOIN json_each(?4) AS l ON l.key = c.sink
         WHERE c.n <= l.value
         ORDER BY c.due, c.id
         LIMIT ?3
     )
     RETURNING ",
    delivery_columns!()
);

/// The lease of the sinks named in `sinks` (all when `None`), oldest due first.
const LEASE_FILTERED: &str = concat!(
    "UPDATE deliveries
     SET status = 'in_flight', lease_until = ?2, attempts = attempts + 1, updated_at = ?1
     WHERE id IN (
         SELECT id FROM (
             SELECT id, next_attempt_at AS due FROM deliveries
             WHERE status = 'pending' AND next_attempt_at <= ?1
               AND (?4 IS NULL OR sink IN (SELECT value FROM json_each(?4)))
             UNION ALL
             SELECT id, lease_until AS due FROM deliveries
             WHERE status = 'in_flight' AND lease_until <= ?1
               AND (?4 IS NULL OR sink IN (SELECT value FROM json_each(?4)))
         )
         ORDER BY due, id
         LIMIT ?3
     )
     RETURNING ",
    delivery_columns!()
);

fn lease(conn: &Connection, job: &LeaseJob) -> rusqlite::Result<LeaseRows> {
    let deliveries = if let Some(limits) = &job.limits {
        conn.prepare_cached(LEASE_LIMITED)?
            .query_map(
                params![
                    job.now,
                    job.lease_until,
                    job.limit,
                    limits,
                    job.limit.saturating_mul(4)
                ],
                DeliveryRow::read,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?
    } else {
        conn.prepare_cached(LEASE_FILTERED)?
            .query_map(
                params![job.now, job.lease_until, job.limit, job.sinks],
                DeliveryRow::read,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?
    };
    let mut alert_ids: Vec<&str> = deliveries.iter().map(|d| d.alert_id.as_str()).collect();
    alert_ids.sort_unstable();
    alert_ids.dedup();
    // Taken out of the cache here, not looked up later: an eviction in between cannot lose one.
    let mut cached = HashMap::new();
    if let Some(known) = &job.known {
        alert_ids.retain(|id| match known.get(id) {
            Some(alert) => {
                cached.insert((*id).to_owned(), alert);
                false
            }
            None => true,
        });
    }
    let mut alerts = Vec::with_capacity(alert_ids.len());
    if !alert_ids.is_empty() {
        let mut select = conn.prepare_cached("SELECT id, alert, raw FROM alerts WHERE id = ?1")?;
        for id in alert_ids {
            alerts.push(select.query_row([id], |row| {
                Ok(AlertRow {
                    id: row.get(0)?,
                    alert: row.get(1)?,
                    raw: row.get(2)?,
                })
            })?);
        }
    }
    Ok(LeaseRows {
        deliveries,
        alerts,
        cached,
    })
}

fn mark(conn: &Connection, job: &MarkJob) -> rusqlite::Result<usize> {
    // Finished deliveries stay finished: a worker whose lease expired and was re-taken must
    // not turn a delivered row back into a retry. Marks of one batch run in their queue
    // order, so of two outcomes for one delivery the first that finishes it wins. Success
    // clears `last_error`: the errors before it are history, kept in `attempts`.
    let changed = match &job.mark {
        Mark::Delivered { receipt } => conn
            .prepare_cached(
                "UPDATE deliveries
                 SET status = 'delivered', receipt = ?3, last_error = NULL, lease_until = NULL,
                     updated_at = ?2
                 WHERE id = ?1 AND status IN ('pending', 'in_flight')",
            )?
            .execute(params![job.id, job.now, receipt])?,
        Mark::Retry {
            next_attempt_at,
            error,
        } => conn
            .prepare_cached(
                "UPDATE deliveries
                 SET status = 'pending', next_attempt_at = ?3, last_error = ?4,
                     lease_until = NULL, updated_at = ?2
                 WHERE id = ?1 AND status IN ('pending', 'in_flight')",
            )?
            .execute(params![job.id, job.now, next_attempt_at, error])?,
        Mark::Dead { reason } => conn
            .prepare_cached(
                "UPDATE deliveries
                 SET status = 'dead', last_error = ?3, lease_until = NULL, updated_at = ?2
                 WHERE id = ?1 AND status IN ('pending', 'in_flight')",
            )?
            .execute(params![job.id, job.now, reason])?,
    };
    if let Some(attempt) = &job.attempt {
        let (outcome, error) = match &job.mark {
            Mark::Delivered { .. } => ("delivered", None),
            Mark::Retry { error, .. } => ("retried", Some(error)),
            Mark::Dead { reason } => ("dead", Some(reason)),
        };
        // Recorded even when the outcome changed nothing (the sink was called all the same),
        // but only for a delivery that exists. The primary key's index finds the last number.
        conn.prepare_cached(
            "INSERT INTO attempts
                 (delivery_id, number, started_at, finished_at, outcome, status, error, latency_ms)
             SELECT id, COALESCE((SELECT MAX(number) FROM attempts WHERE delivery_id = ?1), 0) + 1,
                    ?2, ?3, ?4, ?5, ?6, ?7
             FROM deliveries WHERE id = ?1",
        )?
        .execute(params![
            job.id,
            attempt.started_at,
            job.now,
            outcome,
            attempt.status,
            error,
            attempt.latency_ms
        ])?;
    }
    Ok(changed)
}

fn release(conn: &Connection, job: &ReleaseJob) -> rusqlite::Result<u64> {
    let released = conn
        .prepare_cached(
            "UPDATE deliveries
             SET status = 'pending', lease_until = NULL, attempts = MAX(attempts - 1, 0),
                 updated_at = ?2
             WHERE status = 'in_flight' AND id IN (SELECT value FROM json_each(?1))",
        )?
        .execute(params![job.ids, job.now])?;
    Ok(released as u64)
}
