//! The background checkpointer: copies committed pages from the WAL back into the database
//! file on its own connection, so the group-commit writer never does it. Left to SQLite's
//! automatic checkpoint, every thousandth page or so one commit would also copy the WAL and
//! wait for its `fsync`s, and every webhook queued behind that commit would wait too (the ack
//! latency's 99th percentile). A passive checkpoint runs beside the writer: it takes no lock
//! the writer needs, and whatever it cannot copy yet is copied on the next round.
//!
//! The WAL starts over from its beginning only when a transaction begins with every page
//! already copied, and under steady load the writer always commits again while a checkpoint
//! here waits for its `fsync`s. So once the WAL is large, this task asks the writer, between
//! two of its transactions, to copy the few pages written since ([`Job::Checkpoint`]).

use std::sync::Weak;
use std::time::Duration;

use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection, Row};

use tokio::sync::mpsc::WeakSender;

use super::writer::{Counters, Job};

/// WAL pages (4 KiB each) above which the writer is asked to finish a checkpoint, so that the
/// WAL starts over: large enough that it happens a few times a second at most under load.
pub(crate) const RESTART_PAGES: i64 = 4096;

/// How often the WAL is checked: short enough that the WAL stays a few MiB at thousands of
/// alerts a second, long enough that an idle herald does nothing.
pub(crate) const EVERY: Duration = Duration::from_millis(100);

/// Runs until the store is gone (its counters dropped), checkpointing after any round in which
/// the writer committed something.
/// `writer` is weak so that this task never keeps the writer running after the store is gone.
pub(crate) async fn run(
    mut conn: SqliteConnection,
    counters: Weak<Counters>,
    writer: WeakSender<Job>,
) {
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
            Ok(pages) => {
                done = commits;
                if pages >= RESTART_PAGES {
                    match writer.upgrade() {
                        // A full queue means the writer is busy; the next round asks again.
                        Some(jobs) => {
                            let _ = jobs.try_send(Job::Checkpoint);
                        }
                        None => break,
                    }
                }
            }
            // A busy or failing checkpoint loses nothing (the pages stay in the WAL); say so
            // and try again on the next round.
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; retrying shortly"),
        }
    }
    let _ = conn.close().await;
}

/// One passive checkpoint; returns once SQLite has copied what it could, with the size of the
/// WAL in pages.
pub(crate) async fn checkpoint(conn: &mut SqliteConnection) -> Result<i64, sqlx::Error> {
    let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(&mut *conn)
        .await?;
    // (busy, pages in the WAL, pages copied); busy is 1 only when another checkpoint ran.
    row.try_get(1)
}

#[cfg(test)]
mod tests;
