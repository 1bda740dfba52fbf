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
/// A whole batch of these goes in with few statements (alerts in chunks of [`ALERT_CHUNK`]
/// rows, then all deliveries): each statement is a round trip to SQLite's thread, the main
/// cost of a commit. The raw body is bound as a parameter, not embedded in JSON, so neither
/// side escapes or re-parses its kilobytes.
#[derive(Debug)]
pub(crate) struct AcceptJob {
    pub alert_id: String,
    pub source: String,
    pub request_id: Option<String>,
    pub received_at: i64,
    /// [`herald_core::Alert::to_json`] as text.
    pub alert_json: String,
    /// The body as received.
    pub raw: String,
    /// In the order of the request's deliveries.
    pub delivery_ids: Vec<String>,
    /// `[id, alert_id, route, sink, received_at]` JSON arrays, comma separated, one per delivery.
    pub delivery_rows: String,
}

impl AcceptJob {
    pub(crate) fn new(new: NewAlert) -> AcceptJob {
        let alert_id = uuid::Uuid::now_v7().to_string();
        let received_at = crate::to_millis(new.received_at);
        // Straight from the struct: the same text as `to_json().to_string()` without building
        // a `serde_json::Value` first.
        let alert_json =
            serde_json::to_string(&*new.alert).unwrap_or_else(|_| new.alert.to_json().to_string());
        let mut delivery_ids = Vec::with_capacity(new.deliveries.len());
        let mut rows = String::new();
        for (route, sink) in &new.deliveries {
            let id = uuid::Uuid::now_v7().to_string();
            if !rows.is_empty() {
                rows.push(',');
            }
            rows.push_str(&serde_json::json!([id, alert_id, route, sink, received_at]).to_string());
            delivery_ids.push(id);
        }
        AcceptJob {
            alert_id,
            source: new.source,
            request_id: new.request_id,
            received_at,
            alert_json,
            raw: new.raw,
            delivery_ids,
            delivery_rows: rows,
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

/// The rows a lease took, parsed by the caller rather than on the writer.
pub(crate) struct LeaseRows {
    pub deliveries: Vec<SqliteRow>,
    /// `id, alert, raw` of every alert those deliveries belong to that was not cached.
    pub alerts: Vec<SqliteRow>,
    /// The alerts found in [`LeaseJob::known`], by id.
    pub cached: std::collections::HashMap<String, Arc<herald_core::Alert>>,
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
            // Marks are run together by `mark_all`; one left unanswered ran alone.
            Job::Mark(job, _, out) => {
                if out.is_none() {
                    *out = Some(mark(conn, job).await? > 0);
                }
            }
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
    mark_all(conn, batch).await?;
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
    // A repeated (source, request_id), in the table or earlier in this very batch, inserts
    // nothing and so is missing from RETURNING.
    let mut inserted = std::collections::HashSet::with_capacity(jobs.len());
    for chunk in jobs.chunks(ALERT_CHUNK) {
        let mut query = sqlx::query_scalar::<_, String>(insert_alerts_sql(chunk.len()));
        for (job, _) in chunk {
            query = query
                .bind(&job.alert_id)
                .bind(&job.source)
                .bind(&job.request_id)
                .bind(job.received_at)
                .bind(&job.alert_json)
                .bind(&job.raw);
        }
        inserted.extend(query.fetch_all(&mut *conn).await?);
    }

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

/// Most alerts in one `INSERT`: six parameters each, and one cached statement per size.
const ALERT_CHUNK: usize = 32;

/// `INSERT INTO alerts ... VALUES` with `n` rows of parameters, built once per size.
fn insert_alerts_sql(n: usize) -> &'static str {
    static SQL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let all = SQL.get_or_init(|| {
        (0..=ALERT_CHUNK)
            .map(|rows| {
                let values = vec!["(?, ?, ?, ?, ?, ?)"; rows.max(1)].join(", ");
                format!(
                    "INSERT INTO alerts (id, source, request_id, received_at, alert, raw)
                     VALUES {values}
                     ON CONFLICT (source, request_id) DO NOTHING
                     RETURNING id"
                )
            })
            .collect()
    });
    &all[n.clamp(1, ALERT_CHUNK)]
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

async fn lease(conn: &mut SqliteConnection, job: &LeaseJob) -> Result<LeaseRows, sqlx::Error> {
    let deliveries = if let Some(limits) = &job.limits {
        sqlx::query(LEASE_LIMITED)
            .bind(job.now)
            .bind(job.lease_until)
            .bind(job.limit)
            .bind(limits)
            .bind(job.limit.saturating_mul(4))
            .fetch_all(&mut *conn)
            .await?
    } else {
        lease_filtered(conn, job).await?
    };
    if deliveries.is_empty() {
        return Ok(LeaseRows {
            deliveries,
            alerts: Vec::new(),
            cached: std::collections::HashMap::new(),
        });
    }
    let mut alert_ids: Vec<String> = deliveries
        .iter()
        .map(|row| row.try_get::<String, _>(1))
        .collect::<Result<_, _>>()?;
    alert_ids.sort();
    alert_ids.dedup();
    // Taken out of the cache here, not looked up later: an eviction in between cannot lose one.
    let mut cached = std::collections::HashMap::new();
    if let Some(known) = &job.known {
        alert_ids.retain(|id| match known.get(id) {
            Some(alert) => {
                cached.insert(id.clone(), alert);
                false
            }
            None => true,
        });
    }
    if alert_ids.is_empty() {
        return Ok(LeaseRows {
            deliveries,
            alerts: Vec::new(),
            cached,
        });
    }
    let alerts = sqlx::query(
        "SELECT id, alert, raw FROM alerts WHERE id IN (SELECT value FROM json_each(?1))",
    )
    .bind(serde_json::Value::from(alert_ids).to_string())
    .fetch_all(&mut *conn)
    .await?;
    Ok(LeaseRows {
        deliveries,
        alerts,
        cached,
    })
}

/// The lease of the sinks named in `sinks` (all when `None`), oldest due first.
async fn lease_filtered(
    conn: &mut SqliteConnection,
    job: &LeaseJob,
) -> Result<Vec<SqliteRow>, sqlx::Error> {
    sqlx::query(concat!(
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
    .await
}

/// Records every outcome of the batch with one statement: attempts that end together (the
/// common case under load) cost one round trip to SQLite's thread, not one each. A delivery
/// named twice in one batch is left to [`mark`], in order, so the last word wins as before.
async fn mark_all(conn: &mut SqliteConnection, batch: &mut [Job]) -> Result<(), sqlx::Error> {
    let mut marks: Vec<(&MarkJob, &mut Option<bool>)> = batch
        .iter_mut()
        .filter_map(|job| match job {
            Job::Mark(job, _, out) => Some((&*job, out)),
            _ => None,
        })
        .collect();
    let mut seen = std::collections::HashSet::with_capacity(marks.len());
    let repeated: std::collections::HashSet<&str> = marks
        .iter()
        .filter(|(job, _)| !seen.insert(job.id.as_str()))
        .map(|(job, _)| job.id.as_str())
        .collect();
    marks.retain(|(job, _)| !repeated.contains(job.id.as_str()));
    if marks.is_empty() {
        return Ok(());
    }
    let rows: Vec<serde_json::Value> = marks
        .iter()
        .map(|(job, _)| {
            let (status, next, text) = match &job.mark {
                Mark::Delivered { receipt } => ("delivered", None, receipt),
                Mark::Retry {
                    next_attempt_at,
                    error,
                } => ("pending", Some(*next_attempt_at), error),
                Mark::Dead { reason } => ("dead", None, reason),
            };
            serde_json::json!([job.id, job.now, status, next, text])
        })
        .collect();
    // Finished deliveries stay finished (see `mark`). A receipt replaces nothing else; a
    // retry or a death keeps its reason in `last_error`.
    let updated: std::collections::HashSet<String> = sqlx::query_scalar(
        "UPDATE deliveries
         SET status = m.status,
             receipt = CASE WHEN m.status = 'delivered' THEN m.text ELSE deliveries.receipt END,
             last_error = CASE WHEN m.status = 'delivered' THEN deliveries.last_error
                               ELSE m.text END,
             next_attempt_at = CASE WHEN m.status = 'pending' THEN m.next
                                    ELSE deliveries.next_attempt_at END,
             lease_until = NULL,
             updated_at = m.now
         FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS now,
                      json_extract(value, '$[2]') AS status, json_extract(value, '$[3]') AS next,
                      json_extract(value, '$[4]') AS text
               FROM json_each(?1)) AS m
         WHERE deliveries.id = m.id AND deliveries.status IN ('pending', 'in_flight')
         RETURNING deliveries.id",
    )
    .bind(serde_json::Value::from(rows).to_string())
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    for (job, out) in marks {
        *out = Some(updated.contains(&job.id));
    }
    Ok(())
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
