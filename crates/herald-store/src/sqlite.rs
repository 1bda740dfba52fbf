//! [`SqliteStore`]: the embedded [`Store`], one SQLite file in WAL mode. Writes go to the
//! group-commit writer thread (`writer.rs`); reads use a small pool of read-only connections;
//! WAL checkpoints run on a connection of their own (`checkpoint.rs`).

mod admin;
mod checkpoint;
mod noise;
mod recent;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use herald_core::config::SyncMode;
use herald_core::{Alert, Receipt};
use jiff::Timestamp;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions, Row};
use tokio::sync::{mpsc, oneshot};

use crate::{
    Accepted, AttemptRecord, Delivery, LeasedDelivery, NewAlert, Status, StatusCounts, Store,
    StoreError, StoreStats, StoredAlert, duration_millis, from_millis, to_millis,
};
use writer::{
    AcceptJob, AttemptRow, Counters, DeliveryRow, Job, LeaseJob, LeaseRows, Mark, MarkJob,
    ReleaseJob, delivery_columns,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// Jobs that may wait for the writer before callers feel back-pressure.
const QUEUE: usize = 4096;

/// How long a statement waits for a lock held by another process on the same file (a second
/// herald, a backup tool) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The SQLite store. Cheap to share as `Arc<dyn Store>`.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    jobs: mpsc::Sender<Job>,
    reader: SqlitePool,
    counters: Arc<Counters>,
    /// The noise stage's own write connection (`noise.rs`).
    noise: noise::GateConnection,
    /// Alerts just accepted, so leasing their deliveries does not read them back.
    recent: Arc<recent::RecentAlerts>,
}

impl SqliteStore {
    /// Opens (creating on first start) the database named by `sqlite://PATH`, PATH being
    /// relative to the working directory unless absolute (`sqlite:///var/lib/herald.db`).
    /// Creates the parent folder, applies pending migrations, starts the writer thread and the
    /// checkpointer task, so it must be called inside a Tokio runtime.
    pub async fn open(url: &str, sync: SyncMode) -> Result<SqliteStore, StoreError> {
        let path = sqlite_path(url)?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|source| StoreError::CreateDir {
                    path: parent.display().to_string(),
                    source,
                })?;
        }
        let shown = path.display().to_string();
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match sync {
                SyncMode::Normal => SqliteSynchronous::Normal,
                SyncMode::Full => SqliteSynchronous::Full,
            })
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);

        let mut conn = options
            .clone()
            .create_if_missing(true)
            .connect()
            .await
            .map_err(|source| StoreError::Open {
                path: shown.clone(),
                source: source.into(),
            })?;
        MIGRATOR
            .run(&mut conn)
            .await
            .map_err(|source| StoreError::Migrate {
                path: shown.clone(),
                source: source.into(),
            })?;
        // Leases held when the last process died (kill -9, power loss) belong to nobody now:
        // their work goes back to the queue at once instead of waiting out the lease, so a
        // restart resumes delivery immediately. One herald process serves a SQLite database;
        // a second one on the same file would only cause repeats, never a loss.
        let now = to_millis(Timestamp::now());
        sqlx::query(
            "UPDATE deliveries SET status = 'pending', lease_until = NULL, \
             next_attempt_at = MIN(next_attempt_at, ?1), updated_at = ?1 \
             WHERE status = 'in_flight'",
        )
        .bind(now)
        .execute(&mut conn)
        .await
        .map_err(|source| StoreError::Open {
            path: shown.clone(),
            source: source.into(),
        })?;
        // Read-only connections make "one writer" a guarantee rather than a habit.
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await
            .map_err(|source| StoreError::Open {
                path: shown.clone(),
                source: source.into(),
            })?;

        let (jobs, queue) = mpsc::channel(QUEUE);
        let counters = Arc::new(Counters::default());
        let opened = writer::spawn(
            path.clone(),
            sync,
            queue,
            counters.clone(),
            writer::OUTCOME_WAIT,
        )
        .map_err(|e| StoreError::OpenWriter {
            path: shown.clone(),
            source: e.into(),
        })?;
        match opened.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                return Err(StoreError::OpenWriter {
                    path: shown,
                    source: e.into(),
                });
            }
            Err(_) => return Err(StoreError::Closed),
        }
        // The migration connection, done with, copies the WAL back from now on.
        tokio::spawn(checkpoint::run(
            conn,
            path.clone(),
            Arc::downgrade(&counters),
            jobs.downgrade(),
        ));
        Ok(SqliteStore {
            path,
            jobs,
            reader,
            counters,
            noise: noise::GateConnection::default(),
            recent: Arc::default(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A write connection beside the group-commit writer, for work that must not queue behind
    /// webhooks nor hold them up: the operator's rare writes (`admin.rs`) and the noise
    /// stage's transactions (`noise.rs`). SQLite serializes it with the writer.
    async fn side_connection(&self) -> Result<sqlx::sqlite::SqliteConnection, StoreError> {
        use sqlx::ConnectOptions;
        SqliteConnectOptions::new()
            .filename(&self.path)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .connect()
            .await
            .map_err(|source| StoreError::Open {
                path: self.path.display().to_string(),
                source: source.into(),
            })
    }

    /// Hands a job to the writer and waits for its committed answer.
    async fn write<T>(
        &self,
        (job, answer): (Job, oneshot::Receiver<Result<T, StoreError>>),
    ) -> Result<T, StoreError> {
        self.jobs.send(job).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    async fn mark(
        &self,
        id: &str,
        mark: Mark,
        now: Timestamp,
        attempt: Option<&AttemptRecord>,
    ) -> Result<bool, StoreError> {
        self.write(Job::mark(MarkJob {
            id: id.to_string(),
            mark,
            now: to_millis(now),
            attempt: attempt.map(|a| AttemptRow {
                started_at: to_millis(a.started_at),
                latency_ms: duration_millis(a.latency),
                status: a.status,
            }),
        }))
        .await
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn accept(&self, new: NewAlert) -> Result<Accepted, StoreError> {
        // Only an alert whose parsed body is in hand is cached; otherwise a lease reads the
        // stored one, which has `raw` parsed back in. It goes in before the commit: the
        // dispatcher may lease the new rows before this task runs again, and an entry whose
        // rows never commit is never asked for.
        let cache = has_parsed_body(&new);
        let alert = new.alert.clone();
        // Encoding happens here, on the caller's task, so the single writer only runs SQL.
        let job = AcceptJob::new(new);
        let id = job.alert_id.clone();
        if cache {
            self.recent.insert(&id, alert);
        }
        let accepted = self.write(Job::accept(job)).await;
        if cache && accepted.as_ref().map_or(true, |a| a.duplicate) {
            self.recent.remove(&id);
        }
        accepted
    }

    async fn accept_leased(
        &self,
        new: NewAlert,
        lease: Duration,
    ) -> Result<(Accepted, Vec<LeasedDelivery>), StoreError> {
        // Deliveries handed on must carry the parsed body, as a lease read back would.
        if !has_parsed_body(&new) {
            return Ok((self.accept(new).await?, Vec::new()));
        }
        let alert = new.alert.clone();
        let mut job = AcceptJob::new(new);
        let lease_until = job.received_at.saturating_add(duration_millis(lease));
        job.lease_until = Some(lease_until);
        let at = job.received_at;
        let deliveries: Vec<(String, String, String)> = job.deliveries.clone();
        let accepted = self.write(Job::accept(job)).await?;
        if accepted.duplicate {
            return Ok((accepted, Vec::new()));
        }
        let at = from_millis(at, "alert", &accepted.alert_id)?;
        let until = from_millis(lease_until, "alert", &accepted.alert_id)?;
        let leased = deliveries
            .into_iter()
            .map(|(id, route, sink)| LeasedDelivery {
                delivery: Delivery {
                    id,
                    alert_id: accepted.alert_id.clone(),
                    route,
                    sink,
                    status: Status::InFlight,
                    attempts: 1,
                    next_attempt_at: at,
                    lease_until: Some(until),
                    last_error: None,
                    receipt: None,
                    created_at: at,
                    updated_at: at,
                },
                alert: alert.clone(),
            })
            .collect();
        Ok((accepted, leased))
    }

    async fn lease_due(
        &self,
        now: Timestamp,
        limit: usize,
        lease: Duration,
        sinks: Option<&[String]>,
    ) -> Result<Vec<LeasedDelivery>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let now = to_millis(now);
        let rows = self
            .write(Job::lease(LeaseJob {
                now,
                lease_until: now.saturating_add(duration_millis(lease)),
                limit: i64::try_from(limit).unwrap_or(i64::MAX),
                sinks: sinks.map(|s| serde_json::Value::from(s.to_vec()).to_string()),
                limits: None,
                known: Some(self.recent.clone()),
            }))
            .await?;
        leased_from_rows(rows)
    }

    async fn lease_due_limited(
        &self,
        now: Timestamp,
        limit: usize,
        limits: &[(String, usize)],
        lease: Duration,
    ) -> Result<Vec<LeasedDelivery>, StoreError> {
        let limits: Vec<&(String, usize)> = limits.iter().filter(|(_, n)| *n > 0).collect();
        let total: usize = limits.iter().map(|(_, n)| n).sum::<usize>().min(limit);
        if total == 0 {
            return Ok(Vec::new());
        }
        let object: serde_json::Map<String, serde_json::Value> = limits
            .iter()
            .map(|(sink, n)| (sink.clone(), (*n).into()))
            .collect();
        let now = to_millis(now);
        let rows = self
            .write(Job::lease(LeaseJob {
                now,
                lease_until: now.saturating_add(duration_millis(lease)),
                limit: i64::try_from(total).unwrap_or(i64::MAX),
                sinks: None,
                limits: Some(serde_json::Value::Object(object).to_string()),
                known: Some(self.recent.clone()),
            }))
            .await?;
        leased_from_rows(rows)
    }

    async fn mark_delivered(
        &self,
        id: &str,
        receipt: &Receipt,
        now: Timestamp,
        attempt: Option<&AttemptRecord>,
    ) -> Result<bool, StoreError> {
        let receipt = serde_json::to_string(receipt).map_err(|e| StoreError::Corrupt {
            what: "receipt for delivery",
            id: id.to_string(),
            detail: e.to_string(),
        })?;
        self.mark(id, Mark::Delivered { receipt }, now, attempt)
            .await
    }

    async fn mark_retry(
        &self,
        id: &str,
        next_attempt_at: Timestamp,
        error: &str,
        now: Timestamp,
        attempt: Option<&AttemptRecord>,
    ) -> Result<bool, StoreError> {
        let mark = Mark::Retry {
            next_attempt_at: to_millis(next_attempt_at),
            error: error.to_string(),
        };
        self.mark(id, mark, now, attempt).await
    }

    async fn mark_dead(
        &self,
        id: &str,
        reason: &str,
        now: Timestamp,
        attempt: Option<&AttemptRecord>,
    ) -> Result<bool, StoreError> {
        let mark = Mark::Dead {
            reason: reason.to_string(),
        };
        self.mark(id, mark, now, attempt).await
    }

    async fn release_in_flight(&self, ids: &[String], now: Timestamp) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        self.write(Job::release(ReleaseJob {
            ids: serde_json::Value::from(ids.to_vec()).to_string(),
            now: to_millis(now),
        }))
        .await
    }

    async fn next_due_at(&self) -> Result<Option<Timestamp>, StoreError> {
        let next: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(due) FROM (
                 SELECT MIN(next_attempt_at) AS due FROM deliveries WHERE status = 'pending'
                 UNION ALL
                 SELECT MIN(lease_until) FROM deliveries WHERE status = 'in_flight'
             )",
        )
        .fetch_one(&self.reader)
        .await?;
        next.map(|ms| from_millis(ms, "next due time", ""))
            .transpose()
    }

    async fn count_by_status(&self) -> Result<StatusCounts, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM deliveries GROUP BY status")
                .fetch_all(&self.reader)
                .await?;
        let mut counts = StatusCounts::default();
        for (status, n) in rows {
            let n = u64::try_from(n).unwrap_or(0);
            match status.parse::<Status>() {
                Ok(Status::Pending) => counts.pending = n,
                Ok(Status::InFlight) => counts.in_flight = n,
                Ok(Status::Delivered) => counts.delivered = n,
                Ok(Status::Dead) => counts.dead = n,
                Err(detail) => {
                    return Err(StoreError::Corrupt {
                        what: "delivery status",
                        id: status,
                        detail,
                    });
                }
            }
        }
        Ok(counts)
    }

    async fn delivery(&self, id: &str) -> Result<Option<Delivery>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            delivery_columns!(),
            " FROM deliveries WHERE id = ?1"
        ))
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(delivery_from_row).transpose()
    }

    async fn alert(&self, id: &str) -> Result<Option<StoredAlert>, StoreError> {
        let row = sqlx::query(
            "SELECT id, source, request_id, received_at, alert, raw FROM alerts WHERE id = ?1",
        )
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let id: String = row.try_get("id")?;
        let alert_json: String = row.try_get("alert")?;
        let raw: String = row.try_get("raw")?;
        Ok(Some(StoredAlert {
            source: row.try_get("source")?,
            request_id: row.try_get("request_id")?,
            received_at: from_millis(row.try_get("received_at")?, "alert", &id)?,
            alert: Arc::new(alert_from_json(&id, &alert_json, &raw)?),
            raw,
            id,
        }))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        if self.jobs.is_closed() {
            return Err(StoreError::Closed);
        }
        sqlx::query_scalar::<_, i64>("SELECT 1")
            .fetch_one(&self.reader)
            .await?;
        if let Some(failure) = self.counters.failure() {
            // The last commit failed. Rather than wait for the next alert to find out, try one
            // small write now: readiness recovers as soon as the disk has room again.
            let probe = async {
                let mut conn = self.side_connection().await?;
                sqlx::query(
                    "INSERT INTO write_probe (id, at) VALUES (1, ?1)
                     ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                )
                .bind(Timestamp::now().as_millisecond())
                .execute(&mut conn)
                .await?;
                Ok::<(), StoreError>(())
            };
            match probe.await {
                Ok(()) => self.counters.write_succeeded(),
                Err(e) => {
                    tracing::debug!(error = %e, "the write probe failed too");
                    return Err(StoreError::Unwritable { detail: failure });
                }
            }
        }
        Ok(())
    }

    fn stats(&self) -> StoreStats {
        self.counters.snapshot()
    }

    async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.jobs.send(Job::Close(done)).await.is_ok() {
            // An error only means the writer had already stopped.
            let _ = closed.await;
        }
        self.reader.close().await;
    }
}

/// Whether the alert carries its body parsed (or there is none), as an alert leased back from
/// the store would: only such an alert may skip that read.
fn has_parsed_body(new: &NewAlert) -> bool {
    !new.alert.raw.is_null() || new.raw.is_empty()
}

/// The file path in a `sqlite://PATH` url.
fn sqlite_path(url: &str) -> Result<PathBuf, StoreError> {
    let bad = |hint| StoreError::BadUrl {
        url: crate::redact(url),
        hint,
    };
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err(bad(
                "it names no file; use sqlite://PATH, for example sqlite://data/herald.db",
            ));
        }
        if path.contains('?') || path.starts_with(":memory:") {
            return Err(bad(
                "only a plain file path is supported, without ?options or :memory:",
            ));
        }
        return Ok(PathBuf::from(path));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Err(bad(
            "PostgreSQL storage is not available yet; use sqlite://PATH",
        ));
    }
    Err(bad(
        "use sqlite://PATH (relative to the working directory), for example sqlite://data/herald.db",
    ))
}

fn delivery_from_row(row: &SqliteRow) -> Result<Delivery, StoreError> {
    delivery_from_parts(DeliveryRow {
        id: row.try_get(0)?,
        alert_id: row.try_get(1)?,
        route: row.try_get(2)?,
        sink: row.try_get(3)?,
        status: row.try_get(4)?,
        attempts: row.try_get(5)?,
        next_attempt_at: row.try_get(6)?,
        lease_until: row.try_get(7)?,
        last_error: row.try_get(8)?,
        receipt: row.try_get(9)?,
        created_at: row.try_get(10)?,
        updated_at: row.try_get(11)?,
    })
}

fn delivery_from_parts(row: DeliveryRow) -> Result<Delivery, StoreError> {
    let id = row.id;
    let corrupt = |detail: String| StoreError::Corrupt {
        what: "delivery",
        id: id.clone(),
        detail,
    };
    let attempts = row.attempts;
    Ok(Delivery {
        alert_id: row.alert_id,
        route: row.route,
        sink: row.sink,
        status: row.status.parse().map_err(corrupt)?,
        attempts: u32::try_from(attempts)
            .map_err(|e| corrupt(format!("attempts {attempts}: {e}")))?,
        next_attempt_at: from_millis(row.next_attempt_at, "delivery", &id)?,
        lease_until: row
            .lease_until
            .map(|ms| from_millis(ms, "delivery", &id))
            .transpose()?,
        last_error: row.last_error,
        receipt: row
            .receipt
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|e| corrupt(format!("receipt: {e}")))?,
        created_at: from_millis(row.created_at, "delivery", &id)?,
        updated_at: from_millis(row.updated_at, "delivery", &id)?,
        id,
    })
}

/// The alert as stored, with `raw` parsed back in (or kept as a string when the body was not
/// JSON).
pub(crate) fn alert_from_json(id: &str, alert_json: &str, raw: &str) -> Result<Alert, StoreError> {
    let mut alert: Alert = serde_json::from_str(alert_json).map_err(|e| StoreError::Corrupt {
        what: "alert",
        id: id.to_string(),
        detail: e.to_string(),
    })?;
    alert.raw = serde_json::from_str(raw).unwrap_or_else(|_| raw.into());
    Ok(alert)
}

fn leased_from_rows(rows: LeaseRows) -> Result<Vec<LeasedDelivery>, StoreError> {
    let mut alerts = rows.cached;
    alerts.reserve(rows.alerts.len());
    for row in rows.alerts {
        let alert = alert_from_json(&row.id, &row.alert, &row.raw)?;
        alerts.insert(row.id, Arc::new(alert));
    }
    let mut leased = rows
        .deliveries
        .into_iter()
        .map(|row| {
            let delivery = delivery_from_parts(row)?;
            let alert =
                alerts
                    .get(&delivery.alert_id)
                    .cloned()
                    .ok_or_else(|| StoreError::Corrupt {
                        what: "delivery",
                        id: delivery.id.clone(),
                        detail: format!("its alert \"{}\" is missing", delivery.alert_id),
                    })?;
            Ok(LeasedDelivery { delivery, alert })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    // RETURNING gives no order; workers expect the oldest work first.
    leased.sort_by(|a, b| {
        (a.delivery.next_attempt_at, &a.delivery.id)
            .cmp(&(b.delivery.next_attempt_at, &b.delivery.id))
    });
    Ok(leased)
}

#[cfg(test)]
mod tests;
