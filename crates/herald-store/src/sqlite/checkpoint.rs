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
//!
//! SQLite flushes the database file only at the end of a checkpoint that copied the whole WAL,
//! so that flush would fall to the writer's share and carry every page this task copied since
//! the last restart: 6-8 ms of the writer's time, measured with `strace -T`, while webhooks
//! queue behind it. This task flushes the database file itself first, so the writer's flush
//! covers only its own few pages.

use std::path::{Path, PathBuf};
use std::sync::Weak;
use std::time::Duration;

use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection, Row};

use tokio::sync::mpsc::WeakSender;

use super::writer::{Counters, Job};

/// WAL pages (4 KiB each) above which the writer is asked to finish a checkpoint, so that the
/// WAL starts over: large enough that it happens a few times a second at most under load.
pub(crate) const RESTART_PAGES: i64 = 4096;

/// Pages the writer may be left to copy at a restart: a few hundred microseconds of its time.
const CATCH_UP_PAGES: i64 = 64;

/// Checkpoints tried to get there; under a heavy load the writer commits as fast as they copy.
const CATCH_UP_ROUNDS: usize = 4;

/// How often the WAL is checked: short enough that the WAL stays a few MiB at thousands of
/// alerts a second, long enough that an idle herald does nothing.
pub(crate) const EVERY: Duration = Duration::from_millis(100);

/// Runs until the store is gone (its counters dropped), checkpointing after any round in which
/// the writer committed something.
/// `writer` is weak so that this task never keeps the writer running after the store is gone.
pub(crate) async fn run(
    mut conn: SqliteConnection,
    database: PathBuf,
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
            Ok(wal) => {
                done = commits;
                if wal.pages >= RESTART_PAGES {
                    catch_up(&mut conn, &database).await;
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

/// Leaves the writer as little as possible to do before the WAL starts over: flushes the
/// database file, then copies what was committed meanwhile (up to [`CATCH_UP_ROUNDS`] times,
/// until at most [`CATCH_UP_PAGES`] are left). Whatever is left, the writer copies itself, so
/// a failure here only makes its share longer.
/// Returns the WAL as the last checkpoint left it.
async fn catch_up(conn: &mut SqliteConnection, database: &Path) -> Option<Wal> {
    if let Err(e) = flush(database.to_owned()).await {
        tracing::warn!(error = %e, "cannot flush the database file ahead of the writer's checkpoint");
        return None;
    }
    let mut last = None;
    for _ in 0..CATCH_UP_ROUNDS {
        match checkpoint(conn).await {
            Ok(wal) => {
                last = Some(wal);
                if wal.pages - wal.copied <= CATCH_UP_PAGES {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "WAL checkpoint failed; the writer copies the rest");
                break;
            }
        }
    }
    last
}

/// Flushes the pages checkpoints copied into the database file to the disk (`fsync` of any
/// descriptor of a file flushes the file), on a blocking thread.
async fn flush(database: PathBuf) -> std::io::Result<()> {
    tokio::task::spawn_blocking(move || std::fs::File::open(database)?.sync_data())
        .await
        .map_err(std::io::Error::other)?
}

/// The WAL after a checkpoint, in pages.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Wal {
    pub pages: i64,
    /// Of those, the pages now in the database file.
    pub copied: i64,
}

/// One passive checkpoint; returns once SQLite has copied what it could.
pub(crate) async fn checkpoint(conn: &mut SqliteConnection) -> Result<Wal, sqlx::Error> {
    let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(&mut *conn)
        .await?;
    // (busy, pages in the WAL, pages copied); busy is 1 only when another checkpoint ran.
    Ok(Wal {
        pages: row.try_get(1)?,
        copied: row.try_get(2)?,
    })
}

#[cfg(test)]
mod tests;
