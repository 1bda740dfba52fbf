//! The checkpointer copies what the writer commits back into the database file, which the
//! writer's own connection never does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_core::Alert;
use herald_core::config::SyncMode;
use tempfile::TempDir;

use sqlx::Connection;
use sqlx::sqlite::SqliteConnection;

use super::{CATCH_UP_PAGES, EVERY, catch_up};
use crate::sqlite::SqliteStore;
use crate::{NewAlert, Store};

/// Stores an alert whose body is `bytes` of padding (a page holds 4 KiB).
async fn accept_padded(store: &SqliteStore, bytes: usize) {
    store
        .accept(NewAlert {
            source: "sentry".into(),
            request_id: None,
            endpoint: crate::Endpoint::PLATFORM,
            received_at: jiff::Timestamp::now(),
            alert: Arc::new(Alert::default()),
            raw: format!(r#"{{"padding":"{}"}}"#, "x".repeat(bytes)),
            deliveries: vec![("prod".into(), "slack".into())],
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn committed_pages_reach_the_database_file() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("herald.db");
    let url = format!("sqlite://{}", path.display());
    let store = SqliteStore::open(&url, SyncMode::Normal).await.unwrap();
    let before = std::fs::metadata(&path).unwrap().len();
    // About 64 pages: far fewer than SQLite's automatic checkpoint waits for (1,000), so only
    // the background checkpointer can copy them into the file while the store is open.
    let body = 256 * 1024;
    accept_padded(&store, body).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let size = std::fs::metadata(&path).unwrap().len();
        if size >= before + body as u64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the database file stayed at {size} bytes (it was {before})"
        );
        tokio::time::sleep(EVERY / 4).await;
    }
    store.close().await;
}

#[tokio::test]
async fn the_catch_up_leaves_the_writer_a_few_pages_at_most() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("herald.db");
    let url = format!("sqlite://{}", path.display());
    // The WAL is filled by a connection of the test's own, with automatic checkpoints off and
    // no store open: the store's background checkpointer would otherwise race the catch-up
    // for the same pages (on a loaded machine it sometimes won, leaving nothing to measure).
    let mut writer = SqliteConnection::connect(&format!("{url}?mode=rwc"))
        .await
        .unwrap();
    for pragma in [
        "PRAGMA journal_mode = WAL",
        "PRAGMA wal_autocheckpoint = 0",
        "CREATE TABLE padding (body BLOB NOT NULL)",
    ] {
        sqlx::query(pragma).execute(&mut writer).await.unwrap();
    }
    // Far more than CATCH_UP_PAGES (each row ~64 pages of 4 KiB), committed just before it.
    for _ in 0..8 {
        sqlx::query("INSERT INTO padding (body) VALUES (zeroblob(256 * 1024))")
            .execute(&mut writer)
            .await
            .unwrap();
    }
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    let wal = catch_up(&mut conn, &path)
        .await
        .expect("the catch-up checkpointed");
    assert!(wal.pages >= 8 * 64, "the WAL held only {} pages", wal.pages);
    assert!(
        wal.pages - wal.copied <= CATCH_UP_PAGES,
        "{} of {} pages were left to the writer",
        wal.pages - wal.copied,
        wal.pages
    );
    conn.close().await.unwrap();
    writer.close().await.unwrap();
}
