//! The backends the suite runs against, each a fresh, empty database per test: SQLite in a
//! temporary folder. Opening the same backend again (a restart) sees what the last store
//! committed.

use std::sync::Arc;

use herald_core::config::StorageConfig;
use herald_store::Store;
use tempfile::TempDir;

/// A fresh database of one backend, removed when dropped.
#[derive(Debug)]
pub struct Backend {
    pub config: StorageConfig,
    _dir: Option<TempDir>,
}

impl Backend {
    /// A SQLite file in a new temporary folder.
    pub async fn sqlite() -> Backend {
        let dir = TempDir::new().unwrap();
        let url = format!("sqlite://{}/data/herald.db", dir.path().display());
        Backend {
            config: StorageConfig {
                url,
                ..StorageConfig::default()
            },
            _dir: Some(dir),
        }
    }

    /// Opens the store through the one way in, as `herald serve` does.
    pub async fn open(&self) -> Arc<dyn Store> {
        herald_store::open(&self.config).await.unwrap()
    }

    /// The url of the database, for what reads it without opening the store.
    pub fn url(&self) -> &str {
        &self.config.url
    }
}
