//! Group commit for the PostgreSQL store: one task per store takes the accepts callers queue,
//! drains what else is queued (up to [`MAX_BATCH`]), runs them all in one transaction on one
//! connection and answers each caller once that transaction is committed. Concurrent webhooks
//! then share one commit, and so one `fdatasync` of the server's WAL, instead of paying one
//! each, which is where the time of a commit-per-accept store went.
//!
//! A job whose statement fails must not fail the others queued with it: PostgreSQL aborts the
//! whole transaction on an error, so on any error of a batch it is rolled back and its jobs
//! run again one by one, each in its own transaction, as the SQLite writer does. Request-ID
//! dedup holds within a batch too: a transaction sees its own rows, so a second job carrying
//! the key of an earlier one in the same batch inserts nothing and answers with its ids.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::PgConnection;
use sqlx::postgres::PgPool;
use tokio::sync::{mpsc, oneshot};

use crate::{Accepted, StoreError};

/// The most accepts one transaction carries.
pub(super) const MAX_BATCH: usize = 256;

/// How many accepts may wait for the writer before callers wait to queue theirs.
const QUEUE: usize = 4 * MAX_BATCH;

/// One alert to store, prepared by the caller (ids, serialized alert, body digest).
#[derive(Debug)]
pub(super) struct AcceptJob {
    pub(super) alert_id: String,
    pub(super) source: String,
    pub(super) request_id: Option<String>,
    pub(super) endpoint: String,
    pub(super) body_sha256: String,
    pub(super) received_at: i64,
    pub(super) alert_json: String,
    pub(super) raw: String,
    /// `(id, route, sink)` of each delivery.
    pub(super) deliveries: Vec<(String, String, String)>,
    /// Set when the deliveries are leased to `holder` at accept, until then.
    pub(super) lease_until: Option<i64>,
    pub(super) holder: String,
}

type Reply = oneshot::Sender<Result<Accepted, StoreError>>;

/// The caller's side of the writer task.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    jobs: mpsc::Sender<(AcceptJob, Reply)>,
}

impl Writer {
    /// Starts the writer task on `pool`; it counts each transaction it commits in `commits`
    /// and ends when the last [`Writer`] is dropped.
    pub(super) fn spawn(pool: PgPool, commits: Arc<AtomicU64>) -> Writer {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run(pool, queue, commits));
        Writer { jobs }
    }

    /// Queues `job` and waits for its commit.
    pub(super) async fn accept(&self, job: AcceptJob) -> Result<Accepted, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send((job, reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

async fn run(pool: PgPool, mut queue: mpsc::Receiver<(AcceptJob, Reply)>, commits: Arc<AtomicU64>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = queue.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if batch.len() > 1 {
            match commit(&pool, &batch).await {
                Ok(answers) => {
                    commits.fetch_add(1, Ordering::Relaxed);
                    for ((_, reply), answer) in batch.drain(..).zip(answers) {
                        let _ = reply.send(Ok(answer));
                    }
                    continue;
                }
                Err(e) => {
                    tracing::debug!(error = %e, jobs = batch.len(), "a group commit failed; running its accepts one by one");
                }
            }
        }
        // Alone, or after a failed batch: each job in its own transaction, so one job's
        // error is its caller's only.
        for (job, reply) in batch.drain(..) {
            let answer = commit(&pool, std::slice::from_ref(&(job, ()))).await;
            if answer.is_ok() {
                commits.fetch_add(1, Ordering::Relaxed);
            }
            let _ = reply.send(
                answer
                    .map(|mut answers| answers.remove(0))
                    .map_err(StoreError::from),
            );
        }
    }
}

/// Runs the accepts of `batch` in one transaction and commits it; on an error nothing of it
/// is kept (dropping the transaction rolls it back).
async fn commit<R>(pool: &PgPool, batch: &[(AcceptJob, R)]) -> Result<Vec<Accepted>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut answers = Vec::with_capacity(batch.len());
    for (job, _) in batch {
        answers.push(insert(&mut tx, job).await?);
    }
    tx.commit().await?;
    Ok(answers)
}

/// Inserts one alert and its deliveries. A repeated `(source, endpoint, request_id,
/// body_sha256)`, in the table or earlier in this very transaction, inserts nothing and
/// answers with the first request's ids.
async fn insert(conn: &mut PgConnection, job: &AcceptJob) -> Result<Accepted, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO alerts
             (id, source, request_id, endpoint, body_sha256, received_at, alert, raw)
         VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8)
         ON CONFLICT (source, endpoint, request_id, body_sha256) DO NOTHING",
    )
    .bind(&job.alert_id)
    .bind(&job.source)
    .bind(&job.request_id)
    .bind(&job.endpoint)
    .bind(&job.body_sha256)
    .bind(job.received_at)
    .bind(&job.alert_json)
    .bind(&job.raw)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        // The first copy is committed, or is this transaction's own: a conflicting insert
        // waits for another transaction's commit, and this statement's snapshot is taken
        // after that wait.
        let first: String = sqlx::query_scalar(
            "SELECT id FROM alerts
             WHERE source = $1 AND endpoint = $2 AND request_id = $3 AND body_sha256 = $4",
        )
        .bind(&job.source)
        .bind(&job.endpoint)
        .bind(&job.request_id)
        .bind(&job.body_sha256)
        .fetch_one(&mut *conn)
        .await?;
        let delivery_ids: Vec<String> =
            sqlx::query_scalar("SELECT id FROM deliveries WHERE alert_id = $1 ORDER BY id")
                .bind(&first)
                .fetch_all(&mut *conn)
                .await?;
        return Ok(Accepted {
            alert_id: first,
            delivery_ids,
            duplicate: true,
            request_id_reused: false,
        });
    }
    let request_id_reused = match &job.request_id {
        None => false,
        Some(request_id) => {
            sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM alerts
                 WHERE source = $1 AND endpoint = $2 AND request_id = $3
                   AND body_sha256 IS DISTINCT FROM $4)",
            )
            .bind(&job.source)
            .bind(&job.endpoint)
            .bind(request_id)
            .bind(&job.body_sha256)
            .fetch_one(&mut *conn)
            .await?
        }
    };
    let (ids, routes, sinks): (Vec<&str>, Vec<&str>, Vec<&str>) = job
        .deliveries
        .iter()
        .map(|(id, route, sink)| (id.as_str(), route.as_str(), sink.as_str()))
        .collect();
    sqlx::query(
        "INSERT INTO deliveries
             (id, alert_id, route, sink, status, attempts, next_attempt_at, lease_until,
              lease_holder, created_at, updated_at)
         SELECT d.id, $4, d.route, d.sink,
                CASE WHEN $6::bigint IS NULL THEN 'pending' ELSE 'in_flight' END,
                CASE WHEN $6::bigint IS NULL THEN 0 ELSE 1 END,
                $5, $6, CASE WHEN $6::bigint IS NULL THEN NULL ELSE $7 END, $5, $5
         FROM UNNEST($1::text[], $2::text[], $3::text[]) WITH ORDINALITY
              AS d (id, route, sink, n)
         ORDER BY d.n",
    )
    .bind(&ids)
    .bind(&routes)
    .bind(&sinks)
    .bind(&job.alert_id)
    .bind(job.received_at)
    .bind(job.lease_until)
    .bind(&job.holder)
    .execute(&mut *conn)
    .await?;
    Ok(Accepted {
        alert_id: job.alert_id.clone(),
        delivery_ids: job.deliveries.iter().map(|(id, _, _)| id.clone()).collect(),
        duplicate: false,
        request_id_reused,
    })
}
