//! The group-commit writer: the one task that owns SQLite's write connection. Callers send it
//! jobs; it takes everything queued, runs it in one transaction, commits once, and answers each
//! caller only after the commit, so an answer always means "on disk as far as the sync mode
//! promises". Keeping a single writer also means SQLite never returns `SQLITE_BUSY` to herald.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::sqlite::{SqliteConnection, SqliteRow};
use sqlx::{Connection, Row};
use tokio::sync::{mpsc, oneshot};

use crate::{Accepted, NewAlert, StoreError, StoreStats};

/// Most jobs in one transaction: large enough to absorb bursts, small enough that the first
/// caller of a batch does not wait long behind the others.
const MAX_BATCH: usize = 256;

/// Counters shared between the writer and [`SqliteStore::stats`](super::SqliteStore).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    operations: AtomicU64,
    commits: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> StoreStats {
        StoreStats {
            operations: self.operations.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
        }
    }
}

/// An alert to insert, already encoded by the caller so the writer spends its time on SQL.
/// A whole batch of these goes in with two statements (alerts, then deliveries): each statement
/// is a round trip to SQLite's thread, the main cost of a commit.
#[derive(Debug)]
pub(crate) struct AcceptJob {
    pub alert_id: String,
    pub source: String,
    pub request_id: Option<String>,
    /// `[id, source, request_id, received_at, alert json, raw]` as JSON.
    pub alert_row: String,
    /// In the order of the request's deliveries.
    pub delivery_ids: Vec<String>,
    /// `[id, alert_id, route, sink, received_at]` JSON arrays, comma separated, one per delivery.
    pub delivery_rows: String,
}

impl AcceptJob {
    pub(crate) fn new(new: NewAlert) -> AcceptJob {
        let alert_id = uuid::Uuid::now_v7().to_string();
        let received_at = crate::to_millis(new.received_at);
        let alert_row = serde_json::json!([
            alert_id,
            new.source,
            new.request_id,
            received_at,
            new.alert.to_json().to_string(),
            new.raw,
        ])
        .to_string();
        let mut delivery_ids = Vec::with_capacity(new.deliveries.len());
        let mut rows = Vec::with_capacity(new.deliveries.len());
        for (route, sink) in &new.deliveries {
            let id = uuid::Uuid::now_v7().to_string();
            rows.push(serde_json::json!([id, alert_id, route, sink, received_at]).to_string());
            delivery_ids.push(id);
        }
        AcceptJob {
            alert_id,
            source: new.source,
            request_id: new.request_id,
            alert_row,
            delivery_ids,
            delivery_rows: rows.join(","),
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
}

/// The rows a lease took, parsed by the caller rather than on the writer.
pub(crate) struct LeaseRows {
    pub deliveries: Vec<SqliteRow>,
    /// `id, alert, raw` of every alert those deliveries belong to.
    pub alerts: Vec<SqliteRow>,
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

    /// Runs the job's statements inside the open transaction and keeps the outcome.
    async fn run(&mut self, conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
        match self {
            // Accepts are run together by `accept_all` before the other jobs.
            Job::Accept(..) => {}
            Job::Lease(job, _, out) => *out = Some(lease(conn, job).await?),
            Job::Mark(job, _, out) => *out = Some(mark(conn, job).await? > 0),
            Job::Release(job, _, out) => *out = Some(release(conn, job).await?),
            Job::Close(_) => {}
        }
        Ok(())
    }

    /// Forgets an outcome from a transaction that was rolled back.
    fn reset(&mut self) {
        match self {
            Job::Accept(_, _, out) => *out = None,
            Job::Lease(_, _, out) => *out = None,
            Job::Mark(_, _, out) => *out = None,
            Job::Release(_, _, out) => *out = None,
            Job::Close(_) => {}
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
        }
    }

    fn is_close(&self) -> bool {
        matches!(self, Job::Close(_))
    }
}

/// The writer loop; ends when every sender is gone or a [`Job::Close`] arrives.
pub(crate) async fn run(
    mut conn: SqliteConnection,
    mut jobs: mpsc::Receiver<Job>,
    counters: Arc<Counters>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut closing = false;
    while !closing && jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        closing = batch.iter().any(Job::is_close);
        if closing {
            // Later senders fail at once instead of queueing work nobody will run.
            jobs.close();
        }
        let writes = batch.iter().filter(|job| !job.is_close()).count() as u64;
        match commit(&mut conn, &mut batch).await {
            Ok(()) => {
                if writes > 0 {
                    counters.commits.fetch_add(1, Ordering::Relaxed);
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
                    let result = commit(&mut conn, &mut one).await;
                    let [job] = one;
                    if !job.is_close() {
                        counters.operations.fetch_add(1, Ordering::Relaxed);
                        if result.is_ok() {
                            counters.commits.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    job.answer(result.err().map(StoreError::Database));
                }
            }
        }
    }
    if let Err(e) = conn.close().await {
        tracing::warn!(error = %e, "closing the database write connection failed");
    }
}

/// Runs the jobs in one transaction; on any error nothing of it is kept.
async fn commit(conn: &mut SqliteConnection, batch: &mut [Job]) -> Result<(), sqlx::Error> {
    if batch.iter().all(Job::is_close) {
        return Ok(());
    }
    let mut tx = conn.begin().await?;
    match run_all(&mut tx, batch).await {
        Ok(()) => tx.commit().await,
        Err(e) => {
            tx.rollback().await?;
            Err(e)
        }
    }
}

async fn run_all(conn: &mut SqliteConnection, batch: &mut [Job]) -> Result<(), sqlx::Error> {
    // Reordering is harmless: a lease or mark can only name deliveries whose accept was
    // already answered, so none of them depends on an accept of the same batch.
    accept_all(conn, batch).await?;
    for job in batch.iter_mut() {
        job.run(conn).await?;
    }
    Ok(())
}

/// Inserts every alert of the batch with one statement and all their deliveries with another.
async fn accept_all(conn: &mut SqliteConnection, batch: &mut [Job]) -> Result<(), sqlx::Error> {
    let jobs: Vec<(&AcceptJob, &mut Option<Accepted>)> = batch
        .iter_mut()
        .filter_map(|job| match job {
            Job::Accept(job, _, out) => Some((&*job, out)),
            _ => None,
        })
        .collect();
    if jobs.is_empty() {
        return Ok(());
    }
    let alerts = json_list(jobs.iter().map(|(job, _)| job.alert_row.as_str()));
    // A repeated (source, request_id), in the table or earlier in this very batch, inserts
    // nothing and so is missing from RETURNING.
    let inserted: std::collections::HashSet<String> = sqlx::query_scalar(
        "INSERT INTO alerts (id, source, request_id, received_at, alert, raw)
         SELECT json_extract(a.value, '$[0]'), json_extract(a.value, '$[1]'),
                json_extract(a.value, '$[2]'), json_extract(a.value, '$[3]'),
                json_extract(a.value, '$[4]'), json_extract(a.value, '$[5]')
         FROM json_each(?1) AS a
         WHERE true
         ORDER BY a.key
         ON CONFLICT (source, request_id) DO NOTHING
         RETURNING id",
    )
    .bind(&alerts)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();

    let deliveries = json_list(
        jobs.iter()
            .filter(|(job, _)| inserted.contains(&job.alert_id) && !job.delivery_rows.is_empty())
            .map(|(job, _)| job.delivery_rows.as_str()),
    );
    if deliveries != "[]" {
        sqlx::query(
            "INSERT INTO deliveries
                 (id, alert_id, route, sink, status, attempts, next_attempt_at, created_at, updated_at)
             SELECT json_extract(d.value, '$[0]'), json_extract(d.value, '$[1]'),
                    json_extract(d.value, '$[2]'), json_extract(d.value, '$[3]'), 'pending', 0,
                    json_extract(d.value, '$[4]'), json_extract(d.value, '$[4]'),
                    json_extract(d.value, '$[4]')
             FROM json_each(?1) AS d
             ORDER BY d.key",
        )
        .bind(&deliveries)
        .execute(&mut *conn)
        .await?;
    }

    for (job, out) in jobs {
        *out = Some(if inserted.contains(&job.alert_id) {
            Accepted {
                alert_id: job.alert_id.clone(),
                delivery_ids: job.delivery_ids.clone(),
                duplicate: false,
            }
        } else {
            duplicate_of(conn, job).await?
        });
    }
    Ok(())
}

fn json_list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let mut list = String::from("[");
    for (i, item) in items.enumerate() {
        if i > 0 {
            list.push(',');
        }
        list.push_str(item);
    }
    list.push(']');
    list
}

/// The answer for a repeated request: the first request's alert and deliveries.
async fn duplicate_of(
    conn: &mut SqliteConnection,
    job: &AcceptJob,
) -> Result<Accepted, sqlx::Error> {
    let first: String =
        sqlx::query_scalar("SELECT id FROM alerts WHERE source = ?1 AND request_id = ?2")
            .bind(&job.source)
            .bind(&job.request_id)
            .fetch_one(&mut *conn)
            .await?;
    let delivery_ids: Vec<String> =
        sqlx::query_scalar("SELECT id FROM deliveries WHERE alert_id = ?1 ORDER BY rowid")
            .bind(&first)
            .fetch_all(&mut *conn)
            .await?;
    Ok(Accepted {
        alert_id: first,
        delivery_ids,
        duplicate: true,
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

async fn lease(conn: &mut SqliteConnection, job: &LeaseJob) -> Result<LeaseRows, sqlx::Error> {
    // Two arms so each can use its partial index; an expired lease is as due as a pending row.
    let deliveries = sqlx::query(concat!(
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
    ))
    .bind(job.now)
    .bind(job.lease_until)
    .bind(job.limit)
    .bind(&job.sinks)
    .fetch_all(&mut *conn)
    .await?;

    if deliveries.is_empty() {
        return Ok(LeaseRows {
            deliveries,
            alerts: Vec::new(),
        });
    }
    let mut alert_ids: Vec<String> = deliveries
        .iter()
        .map(|row| row.try_get::<String, _>(1))
        .collect::<Result<_, _>>()?;
    alert_ids.sort();
    alert_ids.dedup();
    let alerts = sqlx::query(
        "SELECT id, alert, raw FROM alerts WHERE id IN (SELECT value FROM json_each(?1))",
    )
    .bind(serde_json::Value::from(alert_ids).to_string())
    .fetch_all(&mut *conn)
    .await?;
    Ok(LeaseRows { deliveries, alerts })
}

async fn mark(conn: &mut SqliteConnection, job: &MarkJob) -> Result<u64, sqlx::Error> {
    // Finished deliveries stay finished: a worker whose lease expired and was re-taken must
    // not turn a delivered row back into a retry.
    let query = match &job.mark {
        Mark::Delivered { receipt } => sqlx::query(
            "UPDATE deliveries
             SET status = 'delivered', receipt = ?3, lease_until = NULL, updated_at = ?2
             WHERE id = ?1 AND status IN ('pending', 'in_flight')",
        )
        .bind(&job.id)
        .bind(job.now)
        .bind(receipt),
        Mark::Retry {
            next_attempt_at,
            error,
        } => sqlx::query(
            "UPDATE deliveries
             SET status = 'pending', next_attempt_at = ?3, last_error = ?4, lease_until = NULL,
                 updated_at = ?2
             WHERE id = ?1 AND status IN ('pending', 'in_flight')",
        )
        .bind(&job.id)
        .bind(job.now)
        .bind(next_attempt_at)
        .bind(error),
        Mark::Dead { reason } => sqlx::query(
            "UPDATE deliveries
             SET status = 'dead', last_error = ?3, lease_until = NULL, updated_at = ?2
             WHERE id = ?1 AND status IN ('pending', 'in_flight')",
        )
        .bind(&job.id)
        .bind(job.now)
        .bind(reason),
    };
    Ok(query.execute(&mut *conn).await?.rows_affected())
}

async fn release(conn: &mut SqliteConnection, job: &ReleaseJob) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE deliveries
         SET status = 'pending', lease_until = NULL, attempts = MAX(attempts - 1, 0),
             updated_at = ?2
         WHERE status = 'in_flight' AND id IN (SELECT value FROM json_each(?1))",
    )
    .bind(&job.ids)
    .bind(job.now)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}
