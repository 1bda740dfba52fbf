//! The background checkpointer: copies committed pages from the WAL back into the database
//! file on its own connection, so the group-commit writer never does it. Left to SQLite's
//! automatic checkpoint, every thousandth page or so one commit would also copy the WAL and
//! wait for its `fsync`s, and every webhook queued behind that commit would wait too (the ack
//! latency's 99th percentile). A passive checkpoint runs beside the writer: it takes no lock
//! the writer needs, and whatever it cannot copy yet is copied on the next round.

use std::sync::Weak;
use std::time::Duration;

use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection, Row};

use super::writer::Counters;

/// How often the WAL is checked: short enough that the WAL stays a few MiB at thousands of
/// alerts a second, long enough that an idle herald does nothing.
pub(crate) const EVERY: Duration = Duration::from_millis(100);

/// Runs until the store is gone (its counters dropped), checkpointing after any round in which
/// the writer committed something.
pub(crate) async fn run(mut conn: SqliteConnection, counters: Weak<Counters>) {
    let mut done = 0;
    let mut ticks = tokio::time::interval(EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(counters) = counters.upgrade() else {
            break;
        };
        let commits = counters.snapshot().commits;
        drop(counters);
        if commits == done {
            continue;
        }
        match checkpoint(&mut conn).await {
            Ok(()) => done = commits,
            // A busy or failing checkpoint loses nothing (the pages stay in the WAL); say so
            // and try again on the next round.
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; retrying shortly"),
        }
    }
    let _ = conn.close().await;
}

/// One passive checkpoint; returns once SQLite has copied what it could.
pub(crate) async fn checkpoint(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(&mut *conn)
        .await?;
    // (busy, frames in the WAL, frames copied); busy is 1 only when another checkpoint ran.
    let _busy: i64 = row.try_get(0)?;
    Ok(())
}

#[cfg(test)]
mod tests;
