//! [`PostgresStore`]: the [`Store`] on a PostgreSQL server, which several herald instances can
//! share (`storage.url = "postgres://USER[:PASSWORD]@HOST[:PORT]/DB"`). Every operation is a
//! short transaction on a pooled connection, except accepts and outcomes: those go through a
//! few tasks per store (`writer.rs`) that fold the ones queued at the same time into one
//! transaction and one commit, as the SQLite store's writer thread does. A lease at accept
//! ([`Store::accept_leased`]) is taken in that same transaction. Rows locked by one instance
//! are skipped by the others.
//!
//! Leases carry an expiry and a holder (`deliveries.lease_holder`, this store's instance id):
//! a lease takes due rows `FOR UPDATE SKIP LOCKED`, so two instances leasing at once never
//! take the same delivery, and work held by an instance that died is taken by the others once
//! its `lease_until` has passed. Unlike SQLite's, opening this store gives back no lease: the
//! database is shared, and another instance may be alive and holding them. Instance identity,
//! heartbeat, lease renewal and the wake-ups instances send each other are `cluster.rs`'s.
//!
//! The url's password (substituted by the config loader from `${VAR}` or `${file:...}`)
//! appears in no error, log line or `Debug` output: errors name the url through
//! [`crate::redact`], and the store keeps only that form.

mod admin;
mod cluster;
mod noise;
mod writer;

pub use cluster::heartbeat_every;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use herald_core::Receipt;
use jiff::Timestamp;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{ConnectOptions, Connection, PgConnection, Row};

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

use crate::sqlite::alert_from_json;
use crate::{
    Accepted, AttemptRecord, Delivery, LeasedDelivery, NewAlert, Status, StatusCounts, Store,
    StoreError, StoreStats, StoredAlert, duration_millis, from_millis, redact, to_millis,
};

/// Applied at open. sqlx's migrator holds a PostgreSQL advisory lock while it runs, so two
/// instances starting at once against an empty database apply each migration once: the second
/// waits for the first and then finds nothing left to do.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations_pg");

/// Connections per instance: the webhook handlers, the dispatcher, the noise stage and the
/// operator's queries share them.
const POOL: u32 = 16;

/// How long an operation waits for a free connection, or a new one, before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The columns of a delivery row, in the order [`delivery_from_row`] reads them.
macro_rules! delivery_columns {
    ($prefix:literal) => {
        concat!(
            $prefix,
            "id, ",
            $prefix,
            "alert_id, ",
            $prefix,
            "route, ",
            $prefix,
            "sink, ",
            $prefix,
            "status, ",
            $prefix,
            "attempts, ",
            $prefix,
            "next_attempt_at, ",
            $prefix,
            "lease_until, ",
            $prefix,
            "last_error, ",
            $prefix,
            "receipt, ",
            $prefix,
            "created_at, ",
            $prefix,
            "updated_at"
        )
    };
}
pub(crate) use delivery_columns;

/// The PostgreSQL store. Cheap to share as `Arc<dyn Store>`.
#[derive(Debug)]
pub struct PostgresStore {
    pool: PgPool,
    /// This instance's id, written as the holder of every lease it takes.
    holder: String,
    /// The url without its password, for errors.
    shown: String,
    /// Lease length, heartbeat and wake-ups (`cluster.rs`).
    cluster: cluster::Cluster,
    closed: AtomicBool,
    operations: AtomicU64,
    /// Shared with the writer task, which counts its group commits.
    commits: Arc<AtomicU64>,
    /// The group-commit tasks accepts and outcomes go through (`writer.rs`).
    writer: writer::Writer,
}

/// The connect options of a `postgres://` url; an error shows the url without its password.
fn options(url: &str) -> Result<PgConnectOptions, StoreError> {
    let options: PgConnectOptions = url.parse().map_err(|e: sqlx::Error| StoreError::Open {
        path: redact(url),
        source: e.into(),
    })?;
    // Statements are logged at debug level by sqlx; none carries the password.
    Ok(options.application_name("herald"))
}

impl PostgresStore {
    /// Connects to the database `url` names, applies pending migrations and returns the store,
    /// with leases of the default 30 seconds. The database must exist; herald creates its
    /// tables, not the database.
    pub async fn open(url: &str) -> Result<PostgresStore, StoreError> {
        PostgresStore::open_with(url, Duration::from_secs(30)).await
    }

    /// [`PostgresStore::open`] with leases of `lease` (`storage.lease_seconds`): how long the
    /// work of an instance that died waits before the others take it. Registers the instance
    /// and starts its heartbeat and its listener for the other instances' wake-ups.
    pub async fn open_with(url: &str, lease: Duration) -> Result<PostgresStore, StoreError> {
        let shown = redact(url);
        let options = options(url)?;
        let open_error = |e: sqlx::Error| StoreError::Open {
            path: shown.clone(),
            source: e.into(),
        };
        let mut conn = options.connect().await.map_err(open_error)?;
        MIGRATOR
            .run(&mut conn)
            .await
            .map_err(|e| StoreError::Migrate {
                path: shown.clone(),
                source: e.into(),
            })?;
        let _ = conn.close().await;
        // One more for the connection that listens for the other instances' wake-ups.
        let pool = PgPoolOptions::new()
            .max_connections(POOL + 1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(open_error)?;
        let commits = Arc::new(AtomicU64::new(0));
        let store = PostgresStore {
            writer: writer::Writer::spawn(pool.clone(), commits.clone()),
            pool,
            holder: uuid::Uuid::new_v4().to_string(),
            shown,
            cluster: cluster::Cluster::new(lease),
            closed: AtomicBool::new(false),
            operations: AtomicU64::new(0),
            commits,
        };
        store.heartbeat(Timestamp::now()).await?;
        store.cluster.start(&store.pool, &store.holder);
        Ok(store)
    }

    /// This instance's id, the holder of the leases it takes.
    pub fn instance(&self) -> &str {
        &self.holder
    }

    fn check_open(&self) -> Result<(), StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        Ok(())
    }

    /// Counts one write and, when it succeeded, its commit.
    fn counted<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        self.operations.fetch_add(1, Ordering::Relaxed);
        if result.is_ok() {
            self.commits.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    async fn insert(
        &self,
        new: NewAlert,
        lease_until: Option<i64>,
    ) -> Result<(Accepted, Vec<(String, String, String)>, i64), StoreError> {
        self.check_open()?;
        let alert_id = uuid::Uuid::now_v7().to_string();
        let received_at = to_millis(new.received_at);
        let alert_json =
            serde_json::to_string(&*new.alert).unwrap_or_else(|_| new.alert.to_json().to_string());
        let body_sha256 = new.body_sha256();
        let endpoint = new.endpoint.as_str();
        let deliveries: Vec<(String, String, String)> = new
            .deliveries
            .into_iter()
            .map(|(route, sink)| (uuid::Uuid::now_v7().to_string(), route, sink))
            .collect();
        let accepted = self
            .writer
            .accept(writer::AcceptJob {
                alert_id,
                source: new.source,
                request_id: new.request_id,
                endpoint: endpoint.to_owned(),
                body_sha256,
                received_at,
                alert_json,
                raw: new.raw,
                deliveries: deliveries.clone(),
                lease_until,
                holder: self.holder.clone(),
            })
            .await;
        self.operations.fetch_add(1, Ordering::Relaxed);
        let accepted = accepted?;
        if accepted.duplicate {
            return Ok((accepted, Vec::new(), received_at));
        }
        if lease_until.is_none() && !deliveries.is_empty() {
            // Stored pending: whichever instance has room may take it.
            self.cluster.signal_work();
        }
        Ok((accepted, deliveries, received_at))
    }

    /// Stores an outcome of delivery `id` through the writer and, when a sink was called,
    /// its attempt in the same transaction; true when it changed the delivery.
    async fn mark(
        &self,
        id: &str,
        mark: writer::Mark,
        now: Timestamp,
        attempt: Option<&AttemptRecord>,
    ) -> Result<bool, StoreError> {
        self.check_open()?;
        let done = self
            .writer
            .mark(writer::MarkJob {
                id: id.to_owned(),
                now: to_millis(now),
                mark,
                attempt: attempt.map(|a| writer::Attempt {
                    started_at: to_millis(a.started_at),
                    status: a.status.map(i64::from),
                    latency_ms: duration_millis(a.latency),
                }),
            })
            .await;
        self.operations.fetch_add(1, Ordering::Relaxed);
        done
    }

    /// The alerts of leased rows, parsed, by id.
    async fn leased(&self, rows: Vec<PgRow>) -> Result<Vec<LeasedDelivery>, StoreError> {
        let deliveries = rows
            .iter()
            .map(delivery_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let mut alert_ids: Vec<&str> = deliveries.iter().map(|d| d.alert_id.as_str()).collect();
        alert_ids.sort_unstable();
        alert_ids.dedup();
        let rows = sqlx::query("SELECT id, alert::text, raw FROM alerts WHERE id = ANY($1)")
            .bind(&alert_ids)
            .fetch_all(&self.pool)
            .await?;
        let mut alerts = std::collections::HashMap::with_capacity(rows.len());
        for row in rows {
            let id: String = row.try_get(0)?;
            let alert = alert_from_json(&id, row.try_get(1)?, row.try_get(2)?)?;
            alerts.insert(id, Arc::new(alert));
        }
        let mut leased =
            deliveries
                .into_iter()
                .map(|delivery| {
                    let alert = alerts.get(&delivery.alert_id).cloned().ok_or_else(|| {
                        StoreError::Corrupt {
                            what: "delivery",
                            id: delivery.id.clone(),
                            detail: format!("its alert \"{}\" is missing", delivery.alert_id),
                        }
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

    /// A connection of the pool for a transaction of its own.
    async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, StoreError> {
        self.check_open()?;
        Ok(self.pool.begin().await?)
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn accept(&self, new: NewAlert) -> Result<Accepted, StoreError> {
        Ok(self.insert(new, None).await?.0)
    }

    async fn accept_leased(
        &self,
        new: NewAlert,
        lease: Duration,
    ) -> Result<(Accepted, Vec<LeasedDelivery>), StoreError> {
        // Deliveries handed on must carry the parsed body, as a lease read back would.
        if new.alert.raw.is_null() && !new.raw.is_empty() {
            return Ok((self.accept(new).await?, Vec::new()));
        }
        let alert = new.alert.clone();
        let lease_until = to_millis(new.received_at).saturating_add(duration_millis(lease));
        let (accepted, deliveries, at) = self.insert(new, Some(lease_until)).await?;
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
        self.check_open()?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let now = to_millis(now);
        // SKIP LOCKED: rows another instance (or worker) is leasing right now are passed
        // over instead of waited for, so concurrent leases split the due work between them.
        let rows = sqlx::query(concat!(
            "WITH due AS (
                 SELECT id FROM deliveries
                 WHERE ((status = 'pending' AND next_attempt_at <= $1)
                        OR (status = 'in_flight' AND lease_until <= $1))
                   AND ($4::text[] IS NULL OR sink = ANY($4))
                 ORDER BY CASE WHEN status = 'pending' THEN next_attempt_at ELSE lease_until END,
                          id
                 LIMIT $3
                 FOR UPDATE SKIP LOCKED
             )
             UPDATE deliveries d
             SET status = 'in_flight', lease_until = $2, lease_holder = $5,
                 attempts = d.attempts + 1, updated_at = $1
             FROM due WHERE d.id = due.id
             RETURNING ",
            delivery_columns!("d.")
        ))
        .bind(now)
        .bind(now.saturating_add(duration_millis(lease)))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(sinks)
        .bind(&self.holder)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::from);
        let rows = self.counted(rows)?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        self.leased(rows).await
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
        self.mark(id, writer::Mark::Delivered { receipt }, now, attempt)
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
        // A retry scheduled: every instance learns its due time, so it is attempted on time
        // even if this one is gone by then.
        self.cluster.signal_work();
        let mark = writer::Mark::Retry {
            next_attempt_at: to_millis(next_attempt_at),
            error: error.to_owned(),
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
        let mark = writer::Mark::Dead {
            reason: reason.to_owned(),
        };
        self.mark(id, mark, now, attempt).await
    }

    async fn release_in_flight(&self, ids: &[String], now: Timestamp) -> Result<u64, StoreError> {
        self.check_open()?;
        if ids.is_empty() {
            return Ok(0);
        }
        let done = sqlx::query(
            "UPDATE deliveries
             SET status = 'pending', lease_until = NULL, lease_holder = NULL,
                 attempts = GREATEST(attempts - 1, 0), updated_at = $2
             WHERE status = 'in_flight' AND id = ANY($1)",
        )
        .bind(ids)
        .bind(to_millis(now))
        .execute(&self.pool)
        .await
        .map_err(StoreError::from);
        let released = self.counted(done)?.rows_affected();
        if released > 0 {
            // Given back at a stop: another instance may send them now.
            self.cluster.signal_work();
        }
        Ok(released)
    }

    async fn renew_leases(
        &self,
        ids: &[String],
        now: Timestamp,
        lease: Duration,
    ) -> Result<u64, StoreError> {
        self.renew(ids, now, lease).await
    }

    fn lease_renewal(&self) -> Option<Duration> {
        Some(self.cluster.lease)
    }

    fn work_signals(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(self.cluster.subscribe())
    }

    async fn next_due_at(&self) -> Result<Option<Timestamp>, StoreError> {
        let next: Option<i64> = sqlx::query_scalar(
            "SELECT LEAST(
                 (SELECT MIN(next_attempt_at) FROM deliveries WHERE status = 'pending'),
                 (SELECT MIN(lease_until) FROM deliveries WHERE status = 'in_flight'))",
        )
        .fetch_one(&self.pool)
        .await?;
        next.map(|ms| from_millis(ms, "next due time", ""))
            .transpose()
    }

    async fn count_by_status(&self) -> Result<StatusCounts, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM deliveries GROUP BY status")
                .fetch_all(&self.pool)
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
            delivery_columns!(""),
            " FROM deliveries WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(delivery_from_row).transpose()
    }

    async fn alert(&self, id: &str) -> Result<Option<StoredAlert>, StoreError> {
        let row = sqlx::query(
            "SELECT id, source, request_id, received_at, alert::text, raw FROM alerts WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(stored_alert_from_row).transpose()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.check_open()?;
        sqlx::query_scalar::<_, i32>("SELECT 1")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| StoreError::Unwritable {
                detail: format!("{} does not answer: {e}", self.shown),
            })?;
        Ok(())
    }

    fn stats(&self) -> StoreStats {
        StoreStats {
            operations: self.operations.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
        }
    }

    async fn close(&self) {
        self.cluster.stop();
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.unregister().await;
        }
        self.pool.close().await;
    }
}

/// The silences not yet ended at `now` in the database at `url`, read on one connection
/// without migrating it. `None` when herald's tables are not there yet.
pub(crate) async fn read_silences(
    url: &str,
    now: Timestamp,
) -> Result<Option<Vec<crate::SilenceRecord>>, StoreError> {
    let mut conn: PgConnection = options(url)?
        .connect()
        .await
        .map_err(|e| StoreError::Open {
            path: redact(url),
            source: e.into(),
        })?;
    let has_table: bool = sqlx::query_scalar("SELECT to_regclass('silences') IS NOT NULL")
        .fetch_one(&mut conn)
        .await?;
    if !has_table {
        return Ok(None);
    }
    let rows = sqlx::query(&format!(
        "SELECT {} FROM silences WHERE ends_at > $1 ORDER BY id DESC",
        noise::SILENCE_COLUMNS
    ))
    .bind(to_millis(now))
    .fetch_all(&mut conn)
    .await?;
    let _ = conn.close().await;
    rows.iter()
        .map(noise::silence_from_row)
        .collect::<Result<_, _>>()
        .map(Some)
}

pub(crate) fn delivery_from_row(row: &PgRow) -> Result<Delivery, StoreError> {
    let id: String = row.try_get(0)?;
    let corrupt = |detail: String| StoreError::Corrupt {
        what: "delivery",
        id: id.clone(),
        detail,
    };
    let status: String = row.try_get(4)?;
    let attempts: i64 = row.try_get(5)?;
    let receipt: Option<String> = row.try_get(9)?;
    Ok(Delivery {
        alert_id: row.try_get(1)?,
        route: row.try_get(2)?,
        sink: row.try_get(3)?,
        status: status.parse().map_err(corrupt)?,
        attempts: u32::try_from(attempts)
            .map_err(|e| corrupt(format!("attempts {attempts}: {e}")))?,
        next_attempt_at: from_millis(row.try_get(6)?, "delivery", &id)?,
        lease_until: row
            .try_get::<Option<i64>, _>(7)?
            .map(|ms| from_millis(ms, "delivery", &id))
            .transpose()?,
        last_error: row.try_get(8)?,
        receipt: receipt
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|e| corrupt(format!("receipt: {e}")))?,
        created_at: from_millis(row.try_get(10)?, "delivery", &id)?,
        updated_at: from_millis(row.try_get(11)?, "delivery", &id)?,
        id,
    })
}

/// An alert row read as `id, source, request_id, received_at, alert::text, raw`.
pub(crate) fn stored_alert_from_row(row: &PgRow) -> Result<StoredAlert, StoreError> {
    let id: String = row.try_get(0)?;
    let alert_json: String = row.try_get(4)?;
    let raw: String = row.try_get(5)?;
    Ok(StoredAlert {
        source: row.try_get(1)?,
        request_id: row.try_get(2)?,
        received_at: from_millis(row.try_get(3)?, "alert", &id)?,
        alert: Arc::new(alert_from_json(&id, &alert_json, &raw)?),
        raw,
        id,
    })
}

#[cfg(test)]
mod tests;
