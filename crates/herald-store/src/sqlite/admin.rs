//! [`AdminStore`] for [`SqliteStore`]: the operator's queries. Reads use the read-only pool.
//! Writes (retries, giving up a removed sink's deliveries) are rare and operator-driven, so
//! they open their own short-lived connection instead of joining the group-commit writer's
//! queue; SQLite serialises them with the writer's transactions (WAL, busy timeout), and the
//! webhook path never waits on them for longer than one such statement.

use async_trait::async_trait;
use jiff::Timestamp;
use sqlx::Row;

use super::noise::{HELD_COLUMNS, held_from_row};
use super::{SqliteStore, alert_from_json, delivery_from_row};
use crate::admin::{
    ATTEMPT_COLUMNS, Activity, AdminStore, AlertFilter, AlertHistory, AttemptColumns,
    DeliveryFilter, DeliveryView, FoundAlert, FoundBy, Page, PageRequest, QueueDepth, RetryOutcome,
    SinkActivity, attempt_from_columns, id_bound,
};
use crate::{Attempt, Status, StoreError, StoredAlert, from_millis, to_millis};

/// The conditions of a [`DeliveryFilter`] over `deliveries d JOIN alerts a`, parameters ?1 to
/// ?6 in the order bound by [`bind_filter`].
const DELIVERY_WHERE: &str = "(?1 IS NULL OR d.status = ?1)
      AND (?2 IS NULL OR d.sink = ?2)
      AND (?3 IS NULL OR d.route = ?3)
      AND (?4 IS NULL OR json_extract(a.alert, '$.project') = ?4)
      AND (?5 IS NULL OR d.created_at >= ?5)
      AND (?6 IS NULL OR d.created_at < ?6)";

/// For a list of dead deliveries, the status written as a literal: the planner uses the
/// partial index `deliveries_dead` (migration `0700`) only when the query names its condition,
/// which the parameter above does not; without it the dead-letter page walks the whole
/// history newest first looking for the rare dead row.
fn dead_term(filter: &DeliveryFilter) -> &'static str {
    if filter.status == Some(Status::Dead) {
        " AND d.status = 'dead'"
    } else {
        ""
    }
}

/// The cursor's condition, written for the page asked for: `id < ?n` when there is a cursor
/// (a range of the id index, so a page deep in the history costs what the first one does),
/// else `?n IS NULL`, which keeps the parameter bound. The usual `(?n IS NULL OR id < ?n)`
/// makes SQLite walk the index from the newest row to the cursor.
fn after_cursor(request: &PageRequest, column: &str, n: u8) -> String {
    if request.cursor.is_some() {
        format!("{column} < ?{n}")
    } else {
        format!("?{n} IS NULL")
    }
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

fn bind_filter<'q>(query: Query<'q>, filter: &'q DeliveryFilter) -> Query<'q> {
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

/// The columns of a delivery row, in the order `delivery_from_row` reads them.
const DELIVERY_COLUMNS: &str = "id, alert_id, route, sink, status, attempts, next_attempt_at,
    lease_until, last_error, receipt, created_at, updated_at";

/// How each kind of id finds its alerts: the condition on `alerts`, bound to `?1`. The JSON
/// expressions are those of the indexes of migration `0500`, written identically so SQLite
/// uses them.
const LOOKUPS: [(FoundBy, &str); 4] = [
    (FoundBy::AlertId, "id = ?1"),
    (FoundBy::RequestId, "request_id = ?1"),
    (FoundBy::EventId, "json_extract(alert, '$.event_id') = ?1"),
    (FoundBy::IssueId, "json_extract(alert, '$.issue_id') = ?1"),
];

/// An `alerts` row selected as `id, source, request_id, received_at, alert, raw`.
fn stored_alert(row: &sqlx::sqlite::SqliteRow) -> Result<StoredAlert, StoreError> {
    let id: String = row.try_get("id")?;
    let alert_json: String = row.try_get("alert")?;
    let raw: String = row.try_get("raw")?;
    Ok(StoredAlert {
        source: row.try_get("source")?,
        request_id: row.try_get("request_id")?,
        received_at: from_millis(row.try_get("received_at")?, "alert", &id)?,
        alert: std::sync::Arc::new(alert_from_json(&id, &alert_json, &raw)?),
        raw,
        id,
    })
}

fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit + 1).unwrap_or(i64::MAX)
}

#[async_trait]
impl AdminStore for SqliteStore {
    async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
        request: &PageRequest,
    ) -> Result<Page<DeliveryView>, StoreError> {
        let limit = request.effective_limit();
        let sql = format!(
            "SELECT d.id, d.alert_id, d.route, d.sink, d.status, d.attempts, d.next_attempt_at,
                    d.lease_until, d.last_error, d.receipt, d.created_at, d.updated_at,
                    json_extract(a.alert, '$.project') AS project,
                    json_extract(a.alert, '$.title') AS title
             FROM deliveries d JOIN alerts a ON a.id = d.alert_id
             WHERE {DELIVERY_WHERE} AND {}{}
             ORDER BY d.id DESC LIMIT ?8",
            after_cursor(request, "d.id", 7),
            dead_term(filter)
        );
        let rows = bind_filter(sqlx::query(&sql), filter)
            .bind(request.cursor.as_deref())
            .bind(limit_param(limit))
            .fetch_all(&self.reader)
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
        let sql = format!(
            "SELECT id, source, request_id, received_at, alert, raw FROM alerts
             WHERE (?1 IS NULL OR source = ?1)
               AND (?2 IS NULL OR json_extract(alert, '$.project') = ?2)
               AND (?3 IS NULL OR received_at >= ?3)
               AND (?4 IS NULL OR received_at < ?4)
               AND (?7 IS NULL OR json_extract(alert, '$.level') = ?7)
               AND (?8 IS NULL OR EXISTS (SELECT 1 FROM deliveries d
                                          WHERE d.alert_id = alerts.id AND d.route = ?8))
               AND {}
             ORDER BY id DESC LIMIT ?6",
            after_cursor(request, "id", 5)
        );
        let rows = sqlx::query(&sql)
            .bind(filter.source.as_deref())
            .bind(filter.project.as_deref())
            .bind(filter.since.map(to_millis))
            .bind(filter.until.map(to_millis))
            .bind(request.cursor.as_deref())
            .bind(limit_param(limit))
            .bind(filter.level.as_deref())
            .bind(filter.route.as_deref())
            .fetch_all(&self.reader)
            .await?;
        let items = rows
            .iter()
            .map(stored_alert)
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(page(items, limit, |a| &a.id))
    }

    async fn find_alert(&self, key: &str) -> Result<Option<FoundAlert>, StoreError> {
        for (found_by, condition) in LOOKUPS {
            // The newest by rowid, which follows insertion: the index holds its entries in
            // rowid order for each key, so this reads one entry, not all of an issue's.
            let sql = format!(
                "SELECT id, source, request_id, received_at, alert, raw FROM alerts
                 WHERE {condition} ORDER BY rowid DESC LIMIT 1"
            );
            let Some(row) = sqlx::query(&sql)
                .bind(key)
                .fetch_optional(&self.reader)
                .await?
            else {
                continue;
            };
            let alert = stored_alert(&row)?;
            let others = if found_by == FoundBy::AlertId {
                0
            } else {
                let count: i64 =
                    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM alerts WHERE {condition}"))
                        .bind(key)
                        .fetch_one(&self.reader)
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
        let deliveries = sqlx::query(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE alert_id = ?1 ORDER BY id"
        ))
        .bind(alert_id)
        .fetch_all(&self.reader)
        .await?;
        let held_back = sqlx::query(&format!(
            "SELECT {HELD_COLUMNS} FROM held_back WHERE alert_id = ?1 ORDER BY delivery_id"
        ))
        .bind(alert_id)
        .fetch_all(&self.reader)
        .await?;
        let folded_into = sqlx::query(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id IN
                 (SELECT folded_into FROM held_back WHERE alert_id = ?1)
             ORDER BY id"
        ))
        .bind(alert_id)
        .fetch_all(&self.reader)
        .await?;
        let attempts: Vec<AttemptColumns> = sqlx::query_as(&format!(
            "SELECT {ATTEMPT_COLUMNS} FROM attempts
             WHERE delivery_id IN (SELECT id FROM deliveries WHERE alert_id = ?1
                                   UNION ALL
                                   SELECT delivery_id FROM held_back WHERE alert_id = ?1)
             ORDER BY delivery_id, number"
        ))
        .bind(alert_id)
        .fetch_all(&self.reader)
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

    async fn attempts(&self, delivery_id: &str) -> Result<Vec<Attempt>, StoreError> {
        let rows: Vec<AttemptColumns> = sqlx::query_as(&format!(
            "SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE delivery_id = ?1 ORDER BY number"
        ))
        .bind(delivery_id)
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter().map(attempt_from_columns).collect()
    }

    async fn retry_delivery(&self, id: &str, now: Timestamp) -> Result<RetryOutcome, StoreError> {
        let mut conn = self.side_connection().await?;
        let done = sqlx::query(
            "UPDATE deliveries
             SET status = 'pending', attempts = 0, next_attempt_at = ?2, lease_until = NULL,
                 updated_at = ?2
             WHERE id = ?1 AND status = 'dead'",
        )
        .bind(id)
        .bind(to_millis(now))
        .execute(&mut conn)
        .await?;
        if done.rows_affected() > 0 {
            return Ok(RetryOutcome::Requeued);
        }
        let status: Option<String> =
            sqlx::query_scalar("SELECT status FROM deliveries WHERE id = ?1")
                .bind(id)
                .fetch_optional(&mut conn)
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
        let dead = DeliveryFilter {
            status: Some(Status::Dead),
            ..filter.clone()
        };
        let sql = format!(
            "UPDATE deliveries
             SET status = 'pending', attempts = 0, next_attempt_at = ?7, lease_until = NULL,
                 updated_at = ?7
             WHERE status = 'dead' AND id IN (
                 SELECT d.id FROM deliveries d JOIN alerts a ON a.id = d.alert_id
                 WHERE {DELIVERY_WHERE})
             RETURNING id"
        );
        let mut conn = self.side_connection().await?;
        let mut ids: Vec<String> = bind_filter(sqlx::query(&sql), &dead)
            .bind(to_millis(now))
            .fetch_all(&mut conn)
            .await?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()?;
        ids.sort();
        Ok(ids)
    }

    async fn kill_sink(&self, sink: &str, reason: &str, now: Timestamp) -> Result<u64, StoreError> {
        let mut conn = self.side_connection().await?;
        let done = sqlx::query(
            "UPDATE deliveries
             SET status = 'dead', lease_until = NULL, last_error = ?2, updated_at = ?3
             WHERE sink = ?1 AND status IN ('pending', 'in_flight')",
        )
        .bind(sink)
        .bind(reason)
        .bind(to_millis(now))
        .execute(&mut conn)
        .await?;
        Ok(done.rows_affected())
    }

    async fn queue_depth(&self) -> Result<Vec<QueueDepth>, StoreError> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            // One query per status, each naming its status literally, so each reads its
            // partial index (`deliveries_due`, `deliveries_lease`) instead of the whole table,
            // which `status IN (...)` made SQLite scan (133 ms at 1,000,000 rows).
            "SELECT sink, status, n FROM (
                SELECT sink, 'pending' AS status, COUNT(*) AS n FROM deliveries
                 WHERE status = 'pending' GROUP BY sink
                UNION ALL
                SELECT sink, 'in_flight' AS status, COUNT(*) AS n FROM deliveries
                 WHERE status = 'in_flight' GROUP BY sink
             ) ORDER BY sink, status",
        )
        .fetch_all(&self.reader)
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
                .fetch_one(&self.reader)
                .await?;
        oldest
            .map(|ms| from_millis(ms, "oldest pending delivery", ""))
            .transpose()
    }

    async fn activity(&self, since: Timestamp) -> Result<Activity, StoreError> {
        let (bound, since) = (id_bound(since), to_millis(since));
        let (alerts, deliveries, dead): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM alerts WHERE id >= ?1 AND received_at >= ?2),
                    (SELECT COUNT(*) FROM deliveries WHERE id >= ?1 AND created_at >= ?2),
                    (SELECT COUNT(*) FROM deliveries WHERE status = 'dead')",
        )
        .bind(&bound)
        .bind(since)
        .fetch_one(&self.reader)
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
            "SELECT d.sink, COUNT(*), SUM(t.outcome = 'delivered'), AVG(t.latency_ms), MAX(t.latency_ms)
             FROM attempts t JOIN deliveries d ON d.id = t.delivery_id
             WHERE t.delivery_id >= ?1 AND d.created_at >= ?2
             GROUP BY d.sink ORDER BY d.sink",
        )
        .bind(&bound)
        .bind(since)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.into_iter().map(sink_activity).collect())
    }

    async fn prune(&self, before: Timestamp, max: usize) -> Result<usize, StoreError> {
        let before = to_millis(before);
        let mut conn = self.side_connection().await?;
        // IMMEDIATE: no delivery can change status between the check and the delete. On an
        // error the connection is dropped, and closing it rolls the transaction back.
        sqlx::query("BEGIN IMMEDIATE").execute(&mut conn).await?;
        let pruned = prune_in(&mut conn, before, max).await?;
        sqlx::query("COMMIT").execute(&mut conn).await?;
        Ok(pruned)
    }
}

/// Rows looked at per query while looking for alerts to prune.
const PRUNE_SCAN: i64 = 256;

/// Walks the alerts in insertion order (the rowid, which follows `received_at`), so it stops
/// at the first alert young enough to keep instead of scanning the whole history; finished
/// alerts are collected, unfinished ones are stepped over and stay.
async fn prune_in(
    conn: &mut sqlx::SqliteConnection,
    before: i64,
    max: usize,
) -> Result<usize, StoreError> {
    let mut doomed: Vec<String> = Vec::new();
    let mut after = 0_i64;
    'scan: while doomed.len() < max {
        let rows: Vec<(i64, String, i64, bool)> = sqlx::query_as(
            "SELECT a.rowid, a.id, a.received_at,
                    EXISTS (SELECT 1 FROM deliveries d
                            WHERE d.alert_id = a.id AND d.status IN ('pending', 'in_flight'))
                    OR EXISTS (SELECT 1 FROM held_back h JOIN deliveries d ON d.id = h.folded_into
                               WHERE h.alert_id = a.id AND d.status IN ('pending', 'in_flight'))
             FROM alerts a WHERE a.rowid > ?1 ORDER BY a.rowid LIMIT ?2",
        )
        .bind(after)
        .bind(PRUNE_SCAN)
        .fetch_all(&mut *conn)
        .await?;
        let Some(last) = rows.last() else {
            break;
        };
        after = last.0;
        for (_, id, received_at, live) in rows {
            if received_at >= before {
                break 'scan;
            }
            if !live {
                doomed.push(id);
                if doomed.len() == max {
                    break 'scan;
                }
            }
        }
    }
    if doomed.is_empty() {
        return Ok(0);
    }
    let count = doomed.len();
    let ids = serde_json::Value::from(doomed).to_string();
    for statement in [
        "DELETE FROM noise_sends WHERE delivery_id IN
             (SELECT id FROM deliveries WHERE alert_id IN (SELECT value FROM json_each(?1)))",
        "DELETE FROM attempts WHERE delivery_id IN
             (SELECT id FROM deliveries WHERE alert_id IN (SELECT value FROM json_each(?1))
              UNION ALL
              SELECT delivery_id FROM held_back WHERE alert_id IN (SELECT value FROM json_each(?1)))",
        "DELETE FROM deliveries WHERE alert_id IN (SELECT value FROM json_each(?1))",
        "DELETE FROM held_back WHERE alert_id IN (SELECT value FROM json_each(?1))",
        "DELETE FROM alerts WHERE id IN (SELECT value FROM json_each(?1))",
    ] {
        sqlx::query(statement)
            .bind(&ids)
            .execute(&mut *conn)
            .await?;
    }
    Ok(count)
}

#[cfg(test)]
mod tests;

/// A row of the sinks' activity query (sink, attempts, delivered, mean and max latency).
fn sink_activity(row: (String, i64, i64, Option<f64>, Option<i64>)) -> SinkActivity {
    let (sink, attempts, delivered, mean, max) = row;
    SinkActivity {
        sink,
        attempts: u64::try_from(attempts).unwrap_or(0),
        delivered: u64::try_from(delivered).unwrap_or(0),
        // A mean of whole milliseconds, rounded; never negative.
        mean_latency_ms: mean.map(|m| m.max(0.0).round() as u64),
        max_latency_ms: max.and_then(|m| u64::try_from(m).ok()),
    }
}
