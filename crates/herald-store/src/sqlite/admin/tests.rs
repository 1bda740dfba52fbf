//! SQLite specifics of the operator's queries: every lookup of `find_alert` reads an index.
//! Their behaviour is the conformance suite's (crates/herald-store/tests/conformance), run on
//! every backend.

use herald_core::config::SyncMode;
use tempfile::TempDir;

use crate::SqliteStore;

async fn open(dir: &TempDir) -> SqliteStore {
    let url = format!("sqlite://{}/herald.db", dir.path().display());
    SqliteStore::open(&url, SyncMode::Normal).await.unwrap()
}

#[tokio::test]
async fn every_kind_of_lookup_reads_an_index_not_the_history() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir).await;
    for (found_by, condition) in super::LOOKUPS {
        for sql in [
            format!("SELECT id FROM alerts WHERE {condition} ORDER BY rowid DESC LIMIT 1"),
            format!("SELECT COUNT(*) FROM alerts WHERE {condition}"),
        ] {
            let plan = explain(&store, &sql).await;
            let text = plan.join(" / ");
            assert!(
                text.contains("USING INDEX") || text.contains("USING COVERING INDEX"),
                "{found_by:?}: {sql}: {text}"
            );
            assert!(!text.contains("TEMP B-TREE"), "{found_by:?}: {sql}: {text}");
        }
    }
}

/// `EXPLAIN QUERY PLAN` of `sql` (one `?1` bound), the detail of each step.
async fn explain(store: &SqliteStore, sql: &str) -> Vec<String> {
    use sqlx::Row;
    sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
        .bind("x")
        .fetch_all(&store.reader)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get::<String, _>(3))
        .collect()
}
