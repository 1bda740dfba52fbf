//! `herald serve` on PostgreSQL: a fresh database (created with `psql` on the machine's server,
//! dropped at the end), a password that comes from `${VAR}`, signed alerts accepted and
//! delivered to a stand-in, and the password nowhere in herald's log.

use std::process::Command;
use std::time::Duration;

use crate::standin::{Herald, SECRET, StandIn, event_alert, post_signed, wait_until};

/// A database of one test on the machine's PostgreSQL, dropped with it.
pub struct Database(pub String);

/// Runs `sql` with `psql` on the machine's server as `postgres`, in database `postgres`.
pub fn psql(sql: &str) {
    psql_in("postgres", sql);
}

/// Runs `sql` with `psql` in `database` and returns its unaligned output.
pub fn psql_in(database: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            database,
            "-Atc",
            sql,
        ])
        .output()
        .expect("psql runs (PostgreSQL's client, needed by this test)");
    assert!(
        out.status.success(),
        "psql -c {sql:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Database {
    pub fn create() -> Database {
        let name = format!("herald_e2e_{}", uuid::Uuid::new_v4().simple());
        psql(&format!("CREATE DATABASE {name}"));
        Database(name)
    }

    /// The url of this database, its password (if any) taken from `${PGPASS}`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.0)
    }

    /// `SELECT status, COUNT(*) FROM deliveries` as `status|count` lines, sorted.
    pub fn statuses(&self) -> String {
        psql_in(
            &self.0,
            "SELECT status, COUNT(*) FROM deliveries GROUP BY status ORDER BY status",
        )
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        psql(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_postgres_accepts_and_delivers_without_showing_the_password() {
    let db = Database::create();
    let standin = StandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    // Trust authentication takes any password; this one must never be shown.
    let password = "pg-e2e-Sup3r-s3cret";
    let config = format!(
        "server:\n  shutdown_grace_seconds: 5\nstorage:\n  url: \"postgres://postgres:${{PGPASS}}@127.0.0.1:5432/{}\"\nsources:\n  sentry: {{ type: sentry, client_secret: \"{SECRET}\", max_skew_seconds: 300 }}\nsinks:\n  hook: {{ type: webhook, url: \"{}\" }}\nroutes:\n  - name: all\n    sinks: [hook]\n",
        db.0,
        standin.url("/hook")
    );
    let h = Herald::start_with(dir.path(), &config, &[], &[("PGPASS", password)]).await;
    let client = reqwest::Client::new();
    for i in 0..20 {
        let body = event_alert(&format!("pg-{i}"));
        let r = post_signed(&client, &h, Some("event_alert"), &body)
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }
    let delivered = wait_until(Duration::from_secs(10), || standin.alert_ids().len() == 20).await;
    assert!(delivered, "{} of 20 delivered", standin.alert_ids().len());
    let log = h.log();
    assert!(
        log.contains("postgres://postgres:***@127.0.0.1:5432"),
        "{log}"
    );
    assert!(!log.contains(password), "{log}");
}
