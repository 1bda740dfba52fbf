//! Group commit for the PostgreSQL store: a few tasks per store ([`WRITERS`]) take the accepts
//! and outcomes callers queue; an idle one drains what is queued (up to [`MAX_BATCH`]), runs
//! it all in one transaction on one connection and answers each caller once that transaction
//! is committed.
//! Concurrent webhooks and finished attempts then share one commit, and so one `fdatasync` of
//! the server's WAL, instead of paying one each, which is where the time of a
//! commit-per-operation store went.
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
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::{Accepted, AttemptOutcome, StoreError};

/// The most jobs one transaction carries.
pub(super) const MAX_BATCH: usize = 256;

/// How many tasks run transactions at once, each on a connection of its own. One alone
/// spends its time waiting for the server's answers, statement after statement, and became
/// the bottleneck (the benchmark's ack p99 at 1,000/s rose to 200 ms); a few overlap their
/// round trips while each still folds what is queued into one commit.
const WRITERS: usize = 4;

/// How many jobs may wait for the writer before callers wait to queue theirs.
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

/// How a delivery's attempt ended, with what that outcome stores.
#[derive(Debug)]
pub(super) enum Mark {
    Delivered { receipt: String },
    Retry { next_attempt_at: i64, error: String },
    Dead { reason: String },
}

/// The attempt behind an outcome: stored in `attempts` in the outcome's transaction.
#[derive(Debug)]
pub(super) struct Attempt {
    pub(super) started_at: i64,
    pub(super) status: Option<i64>,
    pub(super) latency_ms: i64,
}

/// One delivery's outcome to store.
#[derive(Debug)]
pub(super) struct MarkJob {
    pub(super) id: String,
    pub(super) now: i64,
    pub(super) mark: Mark,
    /// `None` when no sink was called (nothing to record in `attempts`).
    pub(super) attempt: Option<Attempt>,
}

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// A queued write and whom to answer.
#[derive(Debug)]
enum Job {
    Accept(AcceptJob, Reply<Accepted>),
    Mark(MarkJob, Reply<bool>),
}

/// A job's result, before it is handed to its caller.
enum Answer {
    Accepted(Accepted),
    Marked(bool),
}

impl Job {
    fn answer(self, answer: Result<Answer, StoreError>) {
        // A caller that went away (its request dropped) needs no answer: the write stands.
        match (self, answer) {
            (Job::Accept(_, reply), Ok(Answer::Accepted(accepted))) => {
                let _ = reply.send(Ok(accepted));
            }
            (Job::Mark(_, reply), Ok(Answer::Marked(changed))) => {
                let _ = reply.send(Ok(changed));
            }
            (Job::Accept(_, reply), Err(e)) => {
                let _ = reply.send(Err(e));
            }
            (Job::Mark(_, reply), Err(e)) => {
                let _ = reply.send(Err(e));
            }
            // Never happens: `commit` answers each job with its own kind.
            (Job::Accept(_, reply), Ok(Answer::Marked(_))) => {
                let _ = reply.send(Err(StoreError::Closed));
            }
            (Job::Mark(_, reply), Ok(Answer::Accepted(_))) => {
                let _ = reply.send(Err(StoreError::Closed));
            }
        }
    }
}

/// The caller's side of the writer task.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer task on `pool`; it counts each transaction it commits in `commits`
    /// and ends when the last [`Writer`] is dropped.
    pub(super) fn spawn(pool: PgPool, commits: Arc<AtomicU64>) -> Writer {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..WRITERS {
            tokio::spawn(run(pool.clone(), queue.clone(), commits.clone()));
        }
        Writer { jobs }
    }

    /// Queues `job` and waits for its commit.
    pub(super) async fn accept(&self, job: AcceptJob) -> Result<Accepted, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job::Accept(job, reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Queues `job` and waits for its commit; true when it changed the delivery.
    pub(super) async fn mark(&self, job: MarkJob) -> Result<bool, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job::Mark(job, reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

async fn run(pool: PgPool, queue: Arc<Mutex<mpsc::Receiver<Job>>>, commits: Arc<AtomicU64>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        {
            // The queue is held only while a batch is taken, so the next idle task takes
            // what arrives while this one runs its transaction.
            let mut queue = queue.lock().await;
            let Some(first) = queue.recv().await else {
                return;
            };
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
        }
        // Accepts first, then outcomes. Reordering is harmless: an outcome can only name a
        // delivery whose accept was already answered, so none depends on an accept queued
        // with it.
        batch.sort_by_key(|job| matches!(job, Job::Mark(..)));
        if batch.len() > 1 {
            match commit(&pool, &batch).await {
                Ok(answers) => {
                    commits.fetch_add(1, Ordering::Relaxed);
                    for (job, answer) in batch.drain(..).zip(answers) {
                        job.answer(Ok(answer));
                    }
                    continue;
                }
                Err(e) => {
                    tracing::debug!(error = %e, jobs = batch.len(), "a group commit failed; running its jobs one by one");
                }
            }
        }
        // Alone, or after a failed batch: each job in its own transaction, so one job's
        // error is its caller's only.
        for job in batch.drain(..) {
            let answer = commit(&pool, std::slice::from_ref(&job)).await;
            if answer.is_ok() {
                commits.fetch_add(1, Ordering::Relaxed);
            }
            job.answer(
                answer
                    .map(|mut answers| answers.remove(0))
                    .map_err(StoreError::from),
            );
        }
    }
}

/// Runs the jobs of `batch` in one transaction and commits it; on an error nothing of it is
/// kept (dropping the transaction rolls it back).
async fn commit(pool: &PgPool, batch: &[Job]) -> Result<Vec<Answer>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut answers = Vec::with_capacity(batch.len());
    for job in batch {
        answers.push(match job {
            Job::Accept(job, _) => Answer::Accepted(insert(&mut tx, job).await?),
            Job::Mark(job, _) => Answer::Marked(mark(&mut tx, job).await?),
        });
    }
    tx.commit().await?;
    Ok(answers)
}

/// Stores one outcome and, when a sink was called, its attempt; true when it changed the
/// delivery. Finished deliveries stay finished: a worker whose lease expired and was re-taken
/// must not turn a delivered row back into a retry. Success clears `last_error`: the errors
/// before it are history, kept in `attempts`.
async fn mark(conn: &mut PgConnection, job: &MarkJob) -> Result<bool, sqlx::Error> {
    if job.attempt.is_some() {
        // The delivery's row lock orders two attempts finishing at once (a lease that
        // expired under a slow worker): the second reads the first's number only after its
        // commit, so their numbers differ.
        sqlx::query("SELECT 1 FROM deliveries WHERE id = $1 FOR UPDATE")
            .bind(&job.id)
            .execute(&mut *conn)
            .await?;
    }
    let update = match &job.mark {
        Mark::Delivered { receipt } => sqlx::query(
            "UPDATE deliveries
             SET status = 'delivered', receipt = $3, last_error = NULL, lease_until = NULL,
                 lease_holder = NULL, updated_at = $2
             WHERE id = $1 AND status IN ('pending', 'in_flight')",
        )
        .bind(&job.id)
        .bind(job.now)
        .bind(receipt),
        Mark::Retry {
            next_attempt_at,
            error,
        } => sqlx::query(
            "UPDATE deliveries
             SET status = 'pending', next_attempt_at = $4, last_error = $3,
                 lease_until = NULL, lease_holder = NULL, updated_at = $2
             WHERE id = $1 AND status IN ('pending', 'in_flight')",
        )
        .bind(&job.id)
        .bind(job.now)
        .bind(error)
        .bind(*next_attempt_at),
        Mark::Dead { reason } => sqlx::query(
            "UPDATE deliveries
             SET status = 'dead', last_error = $3, lease_until = NULL, lease_holder = NULL,
                 updated_at = $2
             WHERE id = $1 AND status IN ('pending', 'in_flight')",
        )
        .bind(&job.id)
        .bind(job.now)
        .bind(reason),
    };
    let changed = update.execute(&mut *conn).await?.rows_affected() > 0;
    if let Some(attempt) = &job.attempt {
        let (outcome, error) = match &job.mark {
            Mark::Delivered { .. } => (AttemptOutcome::Delivered, None),
            Mark::Retry { error, .. } => (AttemptOutcome::Retried, Some(error)),
            Mark::Dead { reason } => (AttemptOutcome::Dead, Some(reason)),
        };
        sqlx::query(
            "INSERT INTO attempts
                 (delivery_id, number, started_at, finished_at, outcome, status, error,
                  latency_ms)
             SELECT id,
                    COALESCE((SELECT MAX(number) FROM attempts WHERE delivery_id = $1), 0) + 1,
                    $2, $3, $4, $5, $6, $7
             FROM deliveries WHERE id = $1",
        )
        .bind(&job.id)
        .bind(attempt.started_at)
        .bind(job.now)
        .bind(outcome.as_str())
        .bind(attempt.status)
        .bind(error)
        .bind(attempt.latency_ms)
        .execute(&mut *conn)
        .await?;
    }
    Ok(changed)
}

/// Inserts one alert and its deliveries. A repeated `(source, endpoint, request_id,
/// body_sha256)`, in the table or earlier in this very transaction, inserts nothing and
/// answers with the first request's ids.
async fn insert(conn: &mut PgConnection, job: &AcceptJob) -> Result<Accepted, sqlx::Error> {
    let (ids, routes, sinks): (Vec<&str>, Vec<&str>, Vec<&str>) = job
        .deliveries
        .iter()
        .map(|(id, route, sink)| (id.as_str(), route.as_str(), sink.as_str()))
        .collect();
    // One statement, one round trip: the writer's time goes to waiting for the server's
    // answers, so the alert, its deliveries and the Request-ID check travel together. The
    // check reads the statement's snapshot, which holds other requests' rows, never this
    // insert's own (whose body is the same anyway).
    let (inserted, request_id_reused): (bool, bool) = sqlx::query_as(
        "WITH alert AS (
             INSERT INTO alerts
                 (id, source, request_id, endpoint, body_sha256, received_at, alert, raw)
             VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8)
             ON CONFLICT (source, endpoint, request_id, body_sha256) DO NOTHING
             RETURNING id
         ), delivered AS (
             INSERT INTO deliveries
                 (id, alert_id, route, sink, status, attempts, next_attempt_at, lease_until,
                  lease_holder, created_at, updated_at)
             SELECT d.id, $1, d.route, d.sink,
                    CASE WHEN $12::bigint IS NULL THEN 'pending' ELSE 'in_flight' END,
                    CASE WHEN $12::bigint IS NULL THEN 0 ELSE 1 END,
                    $6, $12, CASE WHEN $12::bigint IS NULL THEN NULL ELSE $13 END, $6, $6
             FROM UNNEST($9::text[], $10::text[], $11::text[]) WITH ORDINALITY
                  AS d (id, route, sink, n)
             WHERE EXISTS (SELECT 1 FROM alert)
             ORDER BY d.n
         )
         SELECT EXISTS (SELECT 1 FROM alert),
                $3::text IS NOT NULL AND EXISTS (SELECT 1 FROM alerts
                    WHERE source = $2 AND endpoint = $4 AND request_id = $3
                      AND body_sha256 IS DISTINCT FROM $5)",
    )
    .bind(&job.alert_id)
    .bind(&job.source)
    .bind(&job.request_id)
    .bind(&job.endpoint)
    .bind(&job.body_sha256)
    .bind(job.received_at)
    .bind(&job.alert_json)
    .bind(&job.raw)
    .bind(&ids)
    .bind(&routes)
    .bind(&sinks)
    .bind(job.lease_until)
    .bind(&job.holder)
    .fetch_one(&mut *conn)
    .await?;
    if !inserted {
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
    Ok(Accepted {
        alert_id: job.alert_id.clone(),
        delivery_ids: job.deliveries.iter().map(|(id, _, _)| id.clone()).collect(),
        duplicate: false,
        request_id_reused,
    })
}
