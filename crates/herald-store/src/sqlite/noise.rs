//! [`NoiseStore`] for [`SqliteStore`]. The gate reads the state of a decision, runs the pure
//! decision and writes its outcome in one `BEGIN IMMEDIATE` transaction on a write connection
//! of its own: gates of one process queue on a mutex, and SQLite serialises them with the
//! group-commit writer (WAL, busy timeout). Routes without noise settings never come here, so
//! the webhook path and the plain delivery queue do not share this connection's cost.

use std::sync::Arc;

use async_trait::async_trait;
use herald_core::noise::{DedupEntry, GateState, Group, Verdict, Window};
use jiff::Timestamp;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteRow};
use sqlx::{ConnectOptions, Connection, Row};
use tokio::sync::{Mutex, MutexGuard};

use super::{BUSY_TIMEOUT, SqliteStore, alert_from_json};
use crate::admin::{Page, PageRequest};
use crate::noise::{
    Decide, FLOOD_WINDOW, GateRequest, GateResult, HeldBack, HeldFilter, IssueRecord, Member,
    NewSilence, NoiseStore, SilenceRecord, ThreadRecord, issue_record,
};
use crate::{StoreError, from_millis, to_millis};

/// The gate's connection, opened on first use.
#[derive(Debug, Default)]
pub(crate) struct GateConnection(Mutex<Option<SqliteConnection>>);

/// The columns [`held_from_row`] reads, in its order.
pub(super) const HELD_COLUMNS: &str = "delivery_id, alert_id, route, sink, outcome, detail, reason, folded_into, created_at, decided_at";

/// One `held_back` row, selected as [`HELD_COLUMNS`].
pub(super) fn held_from_row(row: &SqliteRow) -> Result<HeldBack, StoreError> {
    let id: String = row.try_get(0)?;
    Ok(HeldBack {
        alert_id: row.try_get(1)?,
        route: row.try_get(2)?,
        sink: row.try_get(3)?,
        outcome: row.try_get(4)?,
        detail: row.try_get(5)?,
        reason: row.try_get(6)?,
        folded_into: row.try_get(7)?,
        created_at: from_millis(row.try_get(8)?, "held-back delivery", &id)?,
        decided_at: from_millis(row.try_get(9)?, "held-back delivery", &id)?,
        delivery_id: id,
    })
}

fn opt_ms(ms: Option<i64>, what: &'static str, id: &str) -> Result<Option<Timestamp>, StoreError> {
    ms.map(|ms| from_millis(ms, what, id)).transpose()
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

async fn load_state(
    tx: &mut SqliteConnection,
    request: &GateRequest,
) -> Result<GateState, StoreError> {
    let (route, sink) = (&request.route, &request.sink);
    let mut state = GateState::default();
    if let Some(key) = &request.keys.dedup {
        let row: Option<(Option<i64>, i64)> = sqlx::query_as(
            "SELECT expires_at, suppressed FROM noise_dedup WHERE route = ?1 AND sink = ?2 AND key = ?3",
        )
        .bind(route)
        .bind(sink)
        .bind(key)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((expires_at, suppressed)) = row {
            state.dedup = DedupEntry {
                expires_at: opt_ms(expires_at, "dedup entry", key)?,
                suppressed: count(suppressed),
            };
        }
    }
    state.window = load_window(tx, route, sink).await?;
    if request.flood {
        state.flood = load_window(tx, FLOOD_WINDOW, sink).await?;
    }
    if let Some(key) = &request.keys.group {
        let row: Option<(Option<String>, Option<i64>, Option<i64>)> = sqlx::query_as(
            "SELECT lead, release_at, last_sent_at FROM noise_groups
             WHERE route = ?1 AND sink = ?2 AND group_key = ?3",
        )
        .bind(route)
        .bind(sink)
        .bind(key)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((lead, release_at, last_sent_at)) = row {
            state.group = Group {
                lead,
                release_at: opt_ms(release_at, "digest group", key)?,
                last_sent_at: opt_ms(last_sent_at, "digest group", key)?,
            };
        }
    }
    Ok(state)
}

async fn save_state(
    tx: &mut SqliteConnection,
    request: &GateRequest,
    before: &GateState,
    after: &GateState,
) -> Result<(), sqlx::Error> {
    let (route, sink) = (&request.route, &request.sink);
    if let Some(key) = request
        .keys
        .dedup
        .as_ref()
        .filter(|_| before.dedup != after.dedup)
    {
        sqlx::query(
            "INSERT INTO noise_dedup (route, sink, key, expires_at, suppressed)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (route, sink, key)
             DO UPDATE SET expires_at = excluded.expires_at, suppressed = excluded.suppressed",
        )
        .bind(route)
        .bind(sink)
        .bind(key)
        .bind(after.dedup.expires_at.map(to_millis))
        .bind(i64::try_from(after.dedup.suppressed).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
    }
    if before.window != after.window {
        save_window(tx, route, sink, &after.window).await?;
    }
    if request.flood && before.flood != after.flood {
        save_window(tx, FLOOD_WINDOW, sink, &after.flood).await?;
    }
    if let Some(key) = request
        .keys
        .group
        .as_ref()
        .filter(|_| before.group != after.group)
    {
        sqlx::query(
            "INSERT INTO noise_groups (route, sink, group_key, lead, release_at, last_sent_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (route, sink, group_key) DO UPDATE SET lead = excluded.lead,
                 release_at = excluded.release_at, last_sent_at = excluded.last_sent_at",
        )
        .bind(route)
        .bind(sink)
        .bind(key)
        .bind(&after.group.lead)
        .bind(after.group.release_at.map(to_millis))
        .bind(after.group.last_sent_at.map(to_millis))
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// A throttle window: a (route, sink)'s, or with [`FLOOD_WINDOW`] for the route, the sink's
/// flood guard's.
async fn load_window(
    tx: &mut SqliteConnection,
    route: &str,
    sink: &str,
) -> Result<Window, StoreError> {
    let row: Option<(Option<i64>, i64, Option<String>)> = sqlx::query_as(
        "SELECT window_start, sent, carrier FROM noise_windows WHERE route = ?1 AND sink = ?2",
    )
    .bind(route)
    .bind(sink)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((start, sent, carrier)) = row else {
        return Ok(Window::default());
    };
    Ok(Window {
        start: opt_ms(start, "throttle window", route)?,
        sent: u32::try_from(sent).unwrap_or(u32::MAX),
        carrier,
    })
}

async fn save_window(
    tx: &mut SqliteConnection,
    route: &str,
    sink: &str,
    window: &Window,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO noise_windows (route, sink, window_start, sent, carrier)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (route, sink) DO UPDATE SET window_start = excluded.window_start,
             sent = excluded.sent, carrier = excluded.carrier",
    )
    .bind(route)
    .bind(sink)
    .bind(window.start.map(to_millis))
    .bind(i64::from(window.sent))
    .bind(&window.carrier)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Moves a delivery from the queue to `held_back`.
async fn hold_back(
    tx: &mut SqliteConnection,
    request: &GateRequest,
    outcome: &herald_core::noise::Outcome,
    reason: &str,
    folded_into: Option<&str>,
) -> Result<(), sqlx::Error> {
    use herald_core::noise::Outcome;
    let detail = match outcome {
        Outcome::Silenced { silence } => Some(silence.as_str()),
        Outcome::Muted { interval } => Some(interval.as_str()),
        _ => None,
    };
    sqlx::query(
        "INSERT INTO held_back (delivery_id, alert_id, route, sink, outcome, detail, reason,
                                folded_into, created_at, decided_at)
         SELECT id, alert_id, route, sink, ?2, ?3, ?4, ?5, created_at, ?6
         FROM deliveries WHERE id = ?1",
    )
    .bind(&request.delivery_id)
    .bind(outcome.as_str())
    .bind(detail)
    .bind(reason)
    .bind(folded_into)
    .bind(to_millis(request.now))
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM deliveries WHERE id = ?1")
        .bind(&request.delivery_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

async fn members(tx: &mut SqliteConnection, lead: &str) -> Result<Vec<Member>, StoreError> {
    let rows = sqlx::query(
        "SELECT h.delivery_id, h.outcome, a.id, a.alert, a.raw
         FROM held_back h JOIN alerts a ON a.id = h.alert_id
         WHERE h.folded_into = ?1 ORDER BY h.decided_at, h.delivery_id",
    )
    .bind(lead)
    .fetch_all(&mut *tx)
    .await?;
    rows.iter()
        .map(|row| {
            let alert_id: String = row.try_get(2)?;
            let alert = alert_from_json(&alert_id, row.try_get(3)?, row.try_get(4)?)?;
            Ok(Member {
                delivery_id: row.try_get(0)?,
                outcome: row.try_get(1)?,
                alert: Arc::new(alert),
            })
        })
        .collect()
}

/// A little housekeeping with each send, so the noise tables do not grow without bound: a few
/// expired dedup entries of this (route, sink) (those with an uncounted repeat are kept a
/// day, for the issue's next message), and `noise_sends` rows older than a week (no retry
/// of a delivery is that late).
async fn prune(tx: &mut SqliteConnection, request: &GateRequest) -> Result<(), sqlx::Error> {
    const DAY_MS: i64 = 86_400_000;
    let now = to_millis(request.now);
    sqlx::query(
        "DELETE FROM noise_dedup WHERE (route, sink, key) IN (
             SELECT route, sink, key FROM noise_dedup
             WHERE route = ?1 AND sink = ?2 AND expires_at < ?3
               AND (suppressed = 0 OR expires_at < ?3 - ?4)
             LIMIT 16)",
    )
    .bind(&request.route)
    .bind(&request.sink)
    .bind(now)
    .bind(DAY_MS)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "DELETE FROM noise_sends WHERE delivery_id IN (
             SELECT delivery_id FROM noise_sends WHERE decided_at < ?1 LIMIT 16)",
    )
    .bind(now - 7 * DAY_MS)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn gate(
    tx: &mut SqliteConnection,
    request: &GateRequest,
    decide: Decide<'_>,
) -> Result<GateResult, StoreError> {
    let id = &request.delivery_id;
    let decided: Option<i64> =
        sqlx::query_scalar("SELECT folded FROM noise_sends WHERE delivery_id = ?1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(folded) = decided {
        return Ok(GateResult {
            verdict: Verdict::Send {
                folded: count(folded),
            },
            members: members(tx, id).await?,
        });
    }
    let before = load_state(tx, request).await?;
    let (verdict, after) = decide(&before);
    save_state(tx, request, &before, &after).await?;
    let now = to_millis(request.now);
    let mut result = GateResult {
        verdict: verdict.clone(),
        members: Vec::new(),
    };
    match &verdict {
        Verdict::Send { folded } => {
            sqlx::query(
                "INSERT INTO noise_sends (delivery_id, folded, decided_at) VALUES (?1, ?2, ?3)",
            )
            .bind(id)
            .bind(i64::try_from(*folded).unwrap_or(i64::MAX))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            result.members = members(tx, id).await?;
            prune(tx, request).await?;
        }
        Verdict::Hold { until, reason } => {
            // Back to the queue until its time; the lease's attempt is given back since
            // nothing was tried.
            sqlx::query(
                "UPDATE deliveries SET status = 'pending', next_attempt_at = ?2, lease_until = NULL,
                     attempts = MAX(attempts - 1, 0), last_error = ?3, updated_at = ?4
                 WHERE id = ?1",
            )
            .bind(id)
            .bind(to_millis(*until))
            .bind(format!("held: {reason}"))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        Verdict::Join {
            lead,
            outcome,
            reason,
        } => hold_back(tx, request, outcome, reason, Some(lead)).await?,
        Verdict::Suppress { outcome, reason } => {
            hold_back(tx, request, outcome, reason, None).await?;
        }
    }
    Ok(result)
}

fn silence_from_row(row: &SqliteRow) -> Result<SilenceRecord, StoreError> {
    let id: String = row.try_get(0)?;
    let matchers: String = row.try_get(1)?;
    Ok(SilenceRecord {
        matchers: serde_json::from_str(&matchers).map_err(|e| StoreError::Corrupt {
            what: "silence",
            id: id.clone(),
            detail: e.to_string(),
        })?,
        starts_at: from_millis(row.try_get(2)?, "silence", &id)?,
        ends_at: from_millis(row.try_get(3)?, "silence", &id)?,
        author: row.try_get(4)?,
        comment: row.try_get(5)?,
        created_at: from_millis(row.try_get(6)?, "silence", &id)?,
        expired_at: opt_ms(row.try_get(7)?, "silence", &id)?,
        id,
    })
}

const SILENCE_COLUMNS: &str =
    "id, matchers, starts_at, ends_at, author, comment, created_at, expired_at";

impl SqliteStore {
    async fn silence_by_id(&self, id: &str) -> Result<Option<SilenceRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {SILENCE_COLUMNS} FROM silences WHERE id = ?1"
        ))
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(silence_from_row).transpose()
    }

    /// The noise connection, opened on first use, inside a new `BEGIN IMMEDIATE`
    /// transaction (which takes the write lock at once, so the state read is the state
    /// written over). End it with [`end`].
    async fn noise_begin(&self) -> Result<MutexGuard<'_, Option<SqliteConnection>>, StoreError> {
        let mut slot = self.noise.0.lock().await;
        if slot.is_none() {
            *slot = Some(self.side_connection().await?);
        }
        let conn = slot.as_mut().ok_or(StoreError::Closed)?;
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        Ok(slot)
    }
}

/// Commits on success, rolls back on failure; a connection whose rollback failed is dropped
/// so the next call starts clean.
async fn end<T>(
    mut slot: MutexGuard<'_, Option<SqliteConnection>>,
    result: Result<T, StoreError>,
) -> Result<T, StoreError> {
    let Some(conn) = slot.as_mut() else {
        return Err(StoreError::Closed);
    };
    match result {
        Ok(value) => {
            sqlx::query("COMMIT").execute(&mut *conn).await?;
            Ok(value)
        }
        Err(e) => {
            if let Err(rollback) = sqlx::query("ROLLBACK").execute(&mut *conn).await {
                tracing::warn!(error = %rollback, "rolling back a noise write failed; reopening its connection");
                if let Some(conn) = slot.take() {
                    let _ = conn.close().await;
                }
            }
            Err(e)
        }
    }
}

macro_rules! in_transaction {
    ($store:expr, |$tx:ident| $body:expr) => {{
        let mut slot = $store.noise_begin().await?;
        let result = match slot.as_mut() {
            Some($tx) => $body.await,
            None => Err(StoreError::Closed),
        };
        end(slot, result).await
    }};
}

impl SqliteStore {
    /// The silences not yet ended at `now` in the database at `url` (`sqlite://PATH`), read
    /// without opening the store (no migration, no writer, a read-only connection), for
    /// `herald route`. `None` when no database file is there or it has no silences yet.
    pub async fn read_silences(
        url: &str,
        now: Timestamp,
    ) -> Result<Option<Vec<SilenceRecord>>, StoreError> {
        let path = super::sqlite_path(url)?;
        if !path.is_file() {
            return Ok(None);
        }
        let mut conn = SqliteConnectOptions::new()
            .filename(&path)
            .read_only(true)
            .busy_timeout(BUSY_TIMEOUT)
            .connect()
            .await
            .map_err(|source| StoreError::Open {
                path: path.display().to_string(),
                source: source.into(),
            })?;
        let has_table: Option<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'silences'",
        )
        .fetch_optional(&mut conn)
        .await?;
        if has_table.is_none() {
            return Ok(None);
        }
        let rows = sqlx::query(&format!(
            "SELECT {SILENCE_COLUMNS} FROM silences WHERE ends_at > ?1 ORDER BY id DESC"
        ))
        .bind(to_millis(now))
        .fetch_all(&mut conn)
        .await?;
        let _ = conn.close().await;
        rows.iter()
            .map(silence_from_row)
            .collect::<Result<_, _>>()
            .map(Some)
    }
}

#[async_trait]
impl NoiseStore for SqliteStore {
    async fn noise_gate(
        &self,
        request: &GateRequest,
        decide: Decide<'_>,
    ) -> Result<GateResult, StoreError> {
        in_transaction!(self, |tx| gate(tx, request, decide))
    }

    async fn held_back(
        &self,
        filter: &HeldFilter,
        request: &PageRequest,
    ) -> Result<Page<HeldBack>, StoreError> {
        let limit = request.effective_limit();
        let rows = sqlx::query(
            "SELECT delivery_id, alert_id, route, sink, outcome, detail, reason, folded_into,
                    created_at, decided_at
             FROM held_back
             WHERE (?1 IS NULL OR outcome = ?1) AND (?2 IS NULL OR route = ?2)
               AND (?3 IS NULL OR sink = ?3) AND (?4 IS NULL OR folded_into = ?4)
               AND (?5 IS NULL OR delivery_id < ?5)
             ORDER BY delivery_id DESC LIMIT ?6",
        )
        .bind(filter.outcome.as_deref())
        .bind(filter.route.as_deref())
        .bind(filter.sink.as_deref())
        .bind(filter.folded_into.as_deref())
        .bind(request.cursor.as_deref())
        .bind(i64::try_from(limit + 1).unwrap_or(i64::MAX))
        .fetch_all(&self.reader)
        .await?;
        let mut items = rows
            .iter()
            .map(held_from_row)
            .collect::<Result<Vec<_>, StoreError>>()?;
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|h| h.delivery_id.clone())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    async fn create_silence(
        &self,
        new: NewSilence,
        now: Timestamp,
    ) -> Result<SilenceRecord, StoreError> {
        let id = uuid::Uuid::now_v7().to_string();
        let record = SilenceRecord {
            id: id.clone(),
            matchers: new.matchers,
            starts_at: new.starts_at,
            ends_at: new.ends_at,
            author: new.author,
            comment: new.comment,
            created_at: now,
            expired_at: None,
        };
        let row = &record;
        in_transaction!(self, |tx| async {
            sqlx::query(
                    "INSERT INTO silences (id, matchers, starts_at, ends_at, author, comment, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .bind(&row.id)
                .bind(row.matchers.to_string())
                .bind(to_millis(row.starts_at))
                .bind(to_millis(row.ends_at))
                .bind(&row.author)
                .bind(&row.comment)
                .bind(to_millis(row.created_at))
                .execute(&mut *tx)
                .await?;
            Ok(())
        })?;
        Ok(record)
    }

    async fn silences(
        &self,
        include_expired: bool,
        now: Timestamp,
    ) -> Result<Vec<SilenceRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {SILENCE_COLUMNS} FROM silences WHERE ?1 OR ends_at > ?2 ORDER BY id DESC"
        ))
        .bind(include_expired)
        .bind(to_millis(now))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(silence_from_row).collect()
    }

    async fn expire_silence(
        &self,
        id: &str,
        now: Timestamp,
    ) -> Result<Option<SilenceRecord>, StoreError> {
        let at = to_millis(now);
        in_transaction!(self, |tx| async {
            sqlx::query(
                "UPDATE silences SET ends_at = ?2, expired_at = ?2 WHERE id = ?1 AND ends_at > ?2",
            )
            .bind(id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            Ok(())
        })?;
        self.silence_by_id(id).await
    }

    async fn record_issue(
        &self,
        source: &str,
        issue_id: &str,
        at: Timestamp,
    ) -> Result<IssueRecord, StoreError> {
        let row: (i64, i64, i64) = in_transaction!(self, |tx| async {
            Ok::<_, StoreError>(
                sqlx::query_as(
                    "INSERT INTO issues (source, issue_id, first_seen, last_seen, events)
             VALUES (?1, ?2, ?3, ?3, 1)
             ON CONFLICT (source, issue_id) DO UPDATE
             SET last_seen = max(issues.last_seen, excluded.last_seen),
                 events = issues.events + 1
             RETURNING first_seen, last_seen, events",
                )
                .bind(source)
                .bind(issue_id)
                .bind(to_millis(at))
                .fetch_one(&mut *tx)
                .await?,
            )
        })?;
        issue_record(source, issue_id, row)
    }

    async fn issue(&self, source: &str, issue_id: &str) -> Result<Option<IssueRecord>, StoreError> {
        let row: Option<(i64, i64, i64)> = sqlx::query_as(
            "SELECT first_seen, last_seen, events FROM issues
             WHERE source = ?1 AND issue_id = ?2",
        )
        .bind(source)
        .bind(issue_id)
        .fetch_optional(&self.reader)
        .await?;
        row.map(|row| issue_record(source, issue_id, row))
            .transpose()
    }

    async fn thread(&self, sink: &str, key: &str) -> Result<Option<ThreadRecord>, StoreError> {
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT reference, destination FROM sink_threads WHERE sink = ?1 AND thread_key = ?2",
        )
        .bind(sink)
        .bind(key)
        .fetch_optional(&self.reader)
        .await?;
        Ok(row.map(|(reference, destination)| ThreadRecord {
            reference,
            destination,
        }))
    }

    async fn save_thread(
        &self,
        sink: &str,
        key: &str,
        thread: &ThreadRecord,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        in_transaction!(self, |tx| async {
            sqlx::query(
                "INSERT INTO sink_threads (sink, thread_key, reference, destination, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (sink, thread_key) DO UPDATE
                     SET reference = excluded.reference, destination = excluded.destination,
                         updated_at = excluded.updated_at
                     WHERE sink_threads.destination <> excluded.destination",
            )
            .bind(sink)
            .bind(key)
            .bind(&thread.reference)
            .bind(&thread.destination)
            .bind(to_millis(now))
            .execute(&mut *tx)
            .await?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests;
