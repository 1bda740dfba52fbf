//! The backends the suite runs against, each a fresh, empty database per test: SQLite in a
//! temporary folder, and PostgreSQL in a database of its own (`herald_test_<random>`) on the
//! machine's server (`HERALD_TEST_POSTGRES`, by default `postgres://postgres@127.0.0.1:5432`),
//! dropped when the test ends, so tests run in parallel. Opening the same backend again (a
//! restart) sees what the last store committed.

use std::sync::Arc;

use herald_core::config::StorageConfig;
use herald_store::Store;
use sqlx::{ConnectOptions, Connection};
use tempfile::TempDir;

/// A fresh database of one backend, removed when dropped.
#[derive(Debug)]
pub struct Backend {
    pub config: StorageConfig,
    _dir: Option<TempDir>,
    _database: Option<Database>,
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
            _database: None,
        }
    }

    /// A new, empty PostgreSQL database.
    pub async fn postgres() -> Backend {
        let database = Database::create().await;
        Backend {
            config: StorageConfig {
                url: format!("{}/{}", database.server, database.name),
                ..StorageConfig::default()
            },
            _dir: None,
            _database: Some(database),
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

/// A database created for one test on the PostgreSQL server, dropped with it.
#[derive(Debug)]
struct Database {
    server: String,
    name: String,
}

impl Database {
    async fn create() -> Database {
        let server = std::env::var("HERALD_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let name = format!("herald_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = admin(&server).await;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let _ = admin.close().await;
        Database { server, name }
    }
}

async fn admin(server: &str) -> sqlx::PgConnection {
    let url = format!("{server}/postgres");
    url.parse::<sqlx::postgres::PgConnectOptions>()
        .unwrap()
        .connect()
        .await
        .unwrap_or_else(|e| {
            panic!("PostgreSQL at {server} does not answer ({e}); start it, or set HERALD_TEST_POSTGRES")
        })
}

impl Drop for Database {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot be blocked on: a thread of its
        // own drops the database (FORCE ends the connections a failed test left open).
        let (server, name) = (self.server.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut admin = admin(&server).await;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await
                    .unwrap();
                let _ = admin.close().await;
            });
        })
        .join();
        if dropped.is_err() && !std::thread::panicking() {
            panic!("cannot drop the test database {}", self.name);
        }
    }
}
