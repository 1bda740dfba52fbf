//! [`AdminStore`] for [`PostgresStore`]: the operator's queries, on the pool like everything
//! else (PostgreSQL has no single writer to keep them away from). Every instance sees the
//! whole cluster's alerts and deliveries.

use async_trait::async_trait;
use jiff::Timestamp;
use sqlx::Row;

use super::noise::{HELD_COLUMNS, held_from_row};
use super::{PgQuery, PostgresStore, delivery_from_row, stored_alert_from_row};
use crate::admin::{
    ATTEMPT_COLUMNS, Activity, AdminStore, AlertFilter, AlertHistory, AttemptColumns,
    DeliveryFilter, DeliveryView, FoundAlert, FoundBy, InstanceView, Page, PageRequest, QueueDepth,
    RetryOutcome, SinkActivity, attempt_from_columns, id_bound,
};
use crate::{Attempt, Status, StoreError, StoredAlert, from_millis, to_millis};

/// The conditions of a [`DeliveryFilter`] over `deliveries d JOIN alerts a`, parameters $1 to
/// $6 in the order bound by [`bind_filter`].
const DELIVERY_WHERE: &str = "($1::text IS NULL OR d.status = $1)
      AND ($2::text IS NULL OR d.sink = $2)
      AND ($3::text IS NULL OR d.route = $3)
      AND ($4::text IS NULL OR a.alert ->> 'project' = $4)
      AND ($5::bigint IS NULL OR d.created_at >= $5)
      AND ($6::bigint IS NULL OR d.created_at < $6)";

/// For a list of dead deliveries, the status written as a literal, so that the planner can
/// use the partial index `deliveries_dead` (migration `0011`) for a generic plan too.
fn dead_term(filter: &DeliveryFilter) -> &'static str {
    if filter.status == Some(Status::Dead) {
        " AND d.status = 'dead'"
    } else {
        ""
    }
}

fn bind_filter<'q>(query: PgQuery<'q>, filter: &'q DeliveryFilter) -> PgQuery<'q> {
    query
        .bind(filter.status.map(Status::as_str))
        .bind(filter.sink.as_deref())
        .bind(filter.route.as_deref())
        .bind(filter.project.as_deref())
        .bind(filter.since.map(to_millis))
        .bind(filter.until.map(to_millis))
}

/// The rows of one page plus one: the extra row only tells that there is a next page.
fn page<T>(mut items: Vec<T>, limit: usize, id: impl Fn(&T) -> &str) -> Page<T> {
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|last| id(last).to_owned())
    } else {
        None
    };
    Page { items, next_cursor }
}

fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit + 1).unwrap_or(i64::MAX)
}

/// How [`AdminStore::find_alert`] tries a key, in order; each condition has an index
/// (`migrations_pg/0002_explain_lookups.sql`).
const LOOKUPS: [(FoundBy, &str); 4] = [
    (FoundBy::AlertId, "id = $1"),
    (FoundBy::RequestId, "request_id = $1"),
    (FoundBy::EventId, "(alert ->> 'event_id') = $1"),
    (FoundBy::IssueId, "(alert ->> 'issue_id') = $1"),
];

#[async_trait]
impl AdminStore for PostgresStore {
    async fn find_alert(&self, key: &str) -> Result<Option<FoundAlert>, StoreError> {
        for (found_by, condition) in LOOKUPS {
            // The newest; ids (UUIDv7, "C" collation) break ties within a millisecond.
            let sql = format!(
                "SELECT id, source, request_id, received_at, alert::text, raw FROM alerts
                 WHERE {condition} ORDER BY received_at DESC, id DESC LIMIT 1"
            );
            let Some(row) = sqlx::query(&sql)
                .bind(key)
                .fetch_optional(&self.pool)
                .await?
            else {
                continue;
            };
            let alert = stored_alert_from_row(&row)?;
            let others = if found_by == FoundBy::AlertId {
                0
            } else {
                let count: i64 =
                    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM alerts WHERE {condition}"))
                        .bind(key)
                        .fetch_one(&self.pool)
                        .await?;
                u64::try_from(count - 1).unwrap_or(0)
            };
            return Ok(Some(FoundAlert {
                alert,
                found_by,
                others,
            }));
        }
        Ok(None)
    }

    async fn alert_history(&self, alert_id: &str) -> Result<AlertHistory, StoreError> {
        let deliveries = sqlx::query(concat!(
            "SELECT ",
            super::delivery_columns!(""),
            " FROM deliveries WHERE alert_id = $1 ORDER BY id"
        ))
        .bind(alert_id)
        .fetch_all(&self.pool)
        .await?;
        let held_back = sqlx::query(&format!(
            "SELECT {HELD_COLUMNS} FROM held_back WHERE alert_id = $1 ORDER BY delivery_id"
        ))
        .bind(alert_id)
        .fetch_all(&self.pool)
        .await?;
        let folded_into = sqlx::query(concat!(
            "SELECT ",
            super::delivery_columns!(""),
            " FROM deliveries WHERE id IN
                 (SELECT folded_into FROM held_back WHERE alert_id = $1)
             ORDER BY id"
        ))
        .bind(alert_id)
        .fetch_all(&self.pool)
        .await?;
        let attempts: Vec<AttemptColumns> = sqlx::query_as(&format!(
            "SELECT {ATTEMPT_COLUMNS} FROM attempts
             WHERE delivery_id IN (SELECT id FROM deliveries WHERE alert_id = $1
                                   UNION ALL
                                   SELECT delivery_id FROM held_back WHERE alert_id = $1)
             ORDER BY delivery_id, number"
        ))
        .bind(alert_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(AlertHistory {
            deliveries: deliveries
                .iter()
                .map(delivery_from_row)
                .collect::<Result<_, _>>()?,
            attempts: attempts
                .into_iter()
                .map(attempt_from_columns)
                .collect::<Result<_, _>>()?,
            held_back: held_back
                .iter()
                .map(held_from_row)
                .collect::<Result<_, _>>()?,
            folded_into: folded_into
                .iter()
                .map(delivery_from_row)
                .collect::<Result<_, _>>()?,
        })
    }

    async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
        request: &PageRequest,
    ) -> Result<Page<DeliveryView>, StoreError> {
        let limit = request.effective_limit();
        let sql = format!(
            "SELECT {}, a.alert ->> 'project' AS project, a.alert ->> 'title' AS title
             FROM deliveries d JOIN alerts a ON a.id = d.alert_id
             WHERE {DELIVERY_WHERE} AND ($7::text IS NULL OR d.id < $7){}
             ORDER BY d.id DESC LIMIT $8",
            super::delivery_columns!("d."),
            dead_term(filter)
        );
        let rows = bind_filter(sqlx::query(&sql), filter)
            .bind(request.cursor.as_deref())
            .bind(limit_param(limit))
            .fetch_all(&self.pool)
            .await?;
        let items = rows
            .iter()
            .map(|row| {
                Ok(DeliveryView {
                    delivery: delivery_from_row(row)?,
                    project: row.try_get("project")?,
                    title: row
                        .try_get::<Option<String>, _>("title")?
                        .unwrap_or_default(),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(page(items, limit, |v| &v.delivery.id))
    }

    async fn list_alerts(
        &self,
        filter: &AlertFilter,
        request: &PageRequest,
    ) -> Result<Page<StoredAlert>, StoreError> {
        let limit = request.effective_limit();
        let rows = sqlx::query(
            "SELECT id, source, request_id, received_at, alert::text, raw FROM alerts
             WHERE ($1::text IS NULL OR source = $1)
               AND ($2::text IS NULL OR alert ->> 'project' = $2)
               AND ($3::bigint IS NULL OR received_at >= $3)
               AND ($4::bigint IS NULL OR received_at < $4)
               AND ($5::text IS NULL OR id < $5)
               AND ($7::text IS NULL OR alert ->> 'level' = $7)
               AND ($8::text IS NULL OR EXISTS (SELECT 1 FROM deliveries d
                                                WHERE d.alert_id = alerts.id AND d.route = $8))
             ORDER BY id DESC LIMIT $6",
        )
        .bind(filter.source.as_deref())
        .bind(filter.project.as_deref())
        .bind(filter.since.map(to_millis))
        .bind(filter.until.map(to_millis))
        .bind(request.cursor.as_deref())
        .bind(limit_param(limit))
        .bind(filter.level.as_deref())
        .bind(filter.route.as_deref())
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .iter()
            .map(stored_alert_from_row)
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(page(items, limit, |a| &a.id))
    }

    async fn attempts(&self, delivery_id: &str) -> Result<Vec<Attempt>, StoreError> {
        let rows: Vec<AttemptColumns> = sqlx::query_as(&format!(
            "SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE delivery_id = $1 ORDER BY number"
        ))
        .bind(delivery_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(attempt_from_columns).collect()
    }

    async fn retry_delivery(&self, id: &str, now: Timestamp) -> Result<RetryOutcome, StoreError> {
        self.check_open()?;
        let done = sqlx::query(
            "UPDATE deliveries
             SET status = 'pending', attempts = 0, next_attempt_at = $2, lease_until = NULL,
                 lease_holder = NULL, updated_at = $2
             WHERE id = $1 AND status = 'dead'",
        )
        .bind(id)
        .bind(to_millis(now))
        .execute(&self.pool)
        .await?;
        if done.rows_affected() > 0 {
            self.cluster.signal_work();
            return Ok(RetryOutcome::Requeued);
        }
        let status: Option<String> =
            sqlx::query_scalar("SELECT status FROM deliveries WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        match status {
            None => Ok(RetryOutcome::NotFound),
            Some(s) => s
                .parse()
                .map(RetryOutcome::NotDead)
                .map_err(|detail| StoreError::Corrupt {
                    what: "delivery status",
                    id: id.to_owned(),
                    detail,
                }),
        }
    }

    async fn retry_dead(
        &self,
        filter: &DeliveryFilter,
        now: Timestamp,
    ) -> Result<Vec<String>, StoreError> {
        self.check_open()?;
        let dead = DeliveryFilter {
            status: Some(Status::Dead),
            ..filter.clone()
        };
        let sql = format!(
            "UPDATE deliveries
             SET status = 'pending', attempts = 0, next_attempt_at = $7, lease_until = NULL,
                 lease_holder = NULL, updated_at = $7
             WHERE status = 'dead' AND id IN (
                 SELECT d.id FROM deliveries d JOIN alerts a ON a.id = d.alert_id
                 WHERE {DELIVERY_WHERE})
             RETURNING id"
        );
        let mut ids: Vec<String> = bind_filter(sqlx::query(&sql), &dead)
            .bind(to_millis(now))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()?;
        ids.sort();
        if !ids.is_empty() {
            self.cluster.signal_work();
        }
        Ok(ids)
    }

    async fn kill_sink(&self, sink: &str, reason: &str, now: Timestamp) -> Result<u64, StoreError> {
        self.check_open()?;
        let done = sqlx::query(
            "UPDATE deliveries
             SET status = 'dead', lease_until = NULL, lease_holder = NULL, last_error = $2,
                 updated_at = $3
             WHERE sink = $1 AND status IN ('pending', 'in_flight')",
        )
        .bind(sink)
        .bind(reason)
        .bind(to_millis(now))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn queue_depth(&self) -> Result<Vec<QueueDepth>, StoreError> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT sink, status, COUNT(*) FROM deliveries
             WHERE status IN ('pending', 'in_flight')
             GROUP BY sink, status ORDER BY sink COLLATE \"C\", status COLLATE \"C\"",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(sink, status, count)| {
                let status = status.parse().map_err(|detail| StoreError::Corrupt {
                    what: "delivery status",
                    id: sink.clone(),
                    detail,
                })?;
                Ok(QueueDepth {
                    sink,
                    status,
                    count: u64::try_from(count).unwrap_or(0),
                })
            })
            .collect()
    }

    async fn oldest_pending(&self) -> Result<Option<Timestamp>, StoreError> {
        let oldest: Option<i64> =
            sqlx::query_scalar("SELECT MIN(created_at) FROM deliveries WHERE status = 'pending'")
                .fetch_one(&self.pool)
                .await?;
        oldest
            .map(|ms| from_millis(ms, "oldest pending delivery", ""))
            .transpose()
    }

    async fn activity(&self, since: Timestamp) -> Result<Activity, StoreError> {
        let (bound, since) = (id_bound(since), to_millis(since));
        let (alerts, deliveries, dead): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM alerts WHERE id >= $1 AND received_at >= $2),
                    (SELECT COUNT(*) FROM deliveries WHERE id >= $1 AND created_at >= $2),
                    (SELECT COUNT(*) FROM deliveries WHERE status = 'dead')",
        )
        .bind(&bound)
        .bind(since)
        .fetch_one(&self.pool)
        .await?;
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(Activity {
            alerts: n(alerts),
            deliveries: n(deliveries),
            dead_waiting: n(dead),
        })
    }

    async fn sink_activity(&self, since: Timestamp) -> Result<Vec<SinkActivity>, StoreError> {
        let (bound, since) = (id_bound(since), to_millis(since));
        let rows: Vec<(String, i64, i64, Option<f64>, Option<i64>)> = sqlx::query_as(
            "SELECT d.sink, COUNT(*), COUNT(*) FILTER (WHERE t.outcome = 'delivered'),
                    AVG(t.latency_ms)::float8, MAX(t.latency_ms)
             FROM attempts t JOIN deliveries d ON d.id = t.delivery_id
             WHERE t.delivery_id >= $1 AND d.created_at >= $2
             GROUP BY d.sink ORDER BY d.sink",
        )
        .bind(&bound)
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(sink, attempts, delivered, mean, max)| SinkActivity {
                sink,
                attempts: u64::try_from(attempts).unwrap_or(0),
                delivered: u64::try_from(delivered).unwrap_or(0),
                // A mean of whole milliseconds, rounded; never negative.
                mean_latency_ms: mean.map(|m| m.max(0.0).round() as u64),
                max_latency_ms: max.and_then(|m| u64::try_from(m).ok()),
            })
            .collect())
    }

    async fn live_instances(
        &self,
        now: Timestamp,
    ) -> Result<Option<Vec<InstanceView>>, StoreError> {
        let recent = to_millis(now).saturating_sub(60_000);
        let rows: Vec<(String, String, i64, i64, i64)> = sqlx::query_as(
            "SELECT id, host, pid, started_at, last_seen FROM instances
             WHERE last_seen >= $1 ORDER BY started_at, id",
        )
        .bind(recent)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(id, host, pid, started_at, last_seen)| {
                Ok(InstanceView {
                    started_at: from_millis(started_at, "instance", &id)?,
                    last_seen: from_millis(last_seen, "instance", &id)?,
                    pid: u64::try_from(pid).unwrap_or(0),
                    host,
                    id,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()
            .map(Some)
    }

    async fn prune(&self, before: Timestamp, max: usize) -> Result<usize, StoreError> {
        let mut tx = self.begin().await?;
        // One instance prunes at a time: the others find the lock taken and prune nothing
        // this round (their retention task stops its round at a short chunk), instead of
        // queueing on the same rows.
        let ours: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1, $2)")
            .bind(PRUNE_LOCK.0)
            .bind(PRUNE_LOCK.1)
            .fetch_one(&mut *tx)
            .await?;
        if !ours {
            return Ok(0);
        }
        let candidates = prune_candidates(&mut tx, to_millis(before), max).await?;
        if candidates.is_empty() {
            return Ok(0);
        }
        // Lock the candidates' deliveries and the digest leads that list them, then decide
        // again: this statement's snapshot is taken after the locks, so no delivery can come
        // back to life (an operator's retry, a digest still waiting) between the check and
        // the delete. On an error the transaction is dropped, which rolls it back.
        sqlx::query(
            "SELECT 1 FROM deliveries WHERE alert_id = ANY($1)
                OR id IN (SELECT folded_into FROM held_back
                          WHERE alert_id = ANY($1) AND folded_into IS NOT NULL)
             FOR UPDATE",
        )
        .bind(&candidates)
        .execute(&mut *tx)
        .await?;
        let doomed: Vec<String> = sqlx::query_scalar(
            "SELECT a.id FROM alerts a WHERE a.id = ANY($1)
               AND NOT EXISTS (SELECT 1 FROM deliveries d
                               WHERE d.alert_id = a.id AND d.status IN ('pending', 'in_flight'))
               AND NOT EXISTS (SELECT 1 FROM held_back h JOIN deliveries d ON d.id = h.folded_into
                               WHERE h.alert_id = a.id AND d.status IN ('pending', 'in_flight'))",
        )
        .bind(&candidates)
        .fetch_all(&mut *tx)
        .await?;
        for statement in [
            "DELETE FROM noise_sends WHERE delivery_id IN
                 (SELECT id FROM deliveries WHERE alert_id = ANY($1))",
            "DELETE FROM attempts WHERE delivery_id IN
                 (SELECT id FROM deliveries WHERE alert_id = ANY($1)
                  UNION ALL SELECT delivery_id FROM held_back WHERE alert_id = ANY($1))",
            "DELETE FROM deliveries WHERE alert_id = ANY($1)",
            "DELETE FROM held_back WHERE alert_id = ANY($1)",
            "DELETE FROM alerts WHERE id = ANY($1)",
        ] {
            sqlx::query(statement)
                .bind(&doomed)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(doomed.len())
    }
}

/// The advisory lock of a prune transaction, as two 32-bit keys (`hera`, 1): PostgreSQL keeps
/// those apart from the single 64-bit keys of the noise gate's (route, sink) locks.
pub(super) const PRUNE_LOCK: (i32, i32) = (0x6865_7261, 1);

/// Rows looked at per query while looking for alerts to prune.
const PRUNE_SCAN: i64 = 256;

/// Up to `max` finished alerts received before `before`, oldest first: walks the alerts in
/// `(received_at, id)` order and stops at the first one young enough to keep, instead of
/// scanning the whole history; unfinished ones are stepped over and stay.
async fn prune_candidates(
    conn: &mut sqlx::PgConnection,
    before: i64,
    max: usize,
) -> Result<Vec<String>, StoreError> {
    let mut doomed: Vec<String> = Vec::new();
    let mut after: (i64, String) = (i64::MIN, String::new());
    while doomed.len() < max {
        let rows: Vec<(String, i64, bool)> = sqlx::query_as(
            "SELECT a.id, a.received_at,
                    EXISTS (SELECT 1 FROM deliveries d
                            WHERE d.alert_id = a.id AND d.status IN ('pending', 'in_flight'))
                    OR EXISTS (SELECT 1 FROM held_back h JOIN deliveries d ON d.id = h.folded_into
                               WHERE h.alert_id = a.id AND d.status IN ('pending', 'in_flight'))
             FROM alerts a
             WHERE (a.received_at, a.id) > ($1, $2) AND a.received_at < $3
             ORDER BY a.received_at, a.id LIMIT $4",
        )
        .bind(after.0)
        .bind(&after.1)
        .bind(before)
        .bind(PRUNE_SCAN)
        .fetch_all(&mut *conn)
        .await?;
        let Some(last) = rows.last() else {
            break;
        };
        after = (last.1, last.0.clone());
        for (id, _, live) in rows {
            if !live {
                doomed.push(id);
                if doomed.len() == max {
                    break;
                }
            }
        }
    }
    Ok(doomed)
}
