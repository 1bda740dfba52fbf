//! Micro-benchmark of the acknowledged-write path: 8 concurrent clients call `accept` (one
//! alert, two deliveries, a unique Request-ID, a ~2 KiB body) on a fresh store in a temporary
//! folder, for each sync mode, and print accepts per second and how many commits they shared.
//!
//! `cargo run --release -p herald-store --example accept_bench -- [ALERTS] [CLIENTS]`

use std::sync::Arc;
use std::time::Instant;

use herald_core::config::SyncMode;
use herald_core::{Alert, Level};
use herald_store::{NewAlert, SqliteStore, Store};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let alerts: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(20_000);
    let clients: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(8);
    let clients = clients.max(1);

    let mut alert = Alert {
        source: "sentry".into(),
        resource: "event_alert".into(),
        action: "triggered".into(),
        project: Some("backend".into()),
        level: Some(Level::Error),
        title: "ZeroDivisionError: division by zero".into(),
        culprit: Some("app.views.checkout in compute_total".into()),
        ..Alert::default()
    };
    alert.tags.insert("environment", "production");
    let alert = Arc::new(alert);
    let raw = format!(
        r#"{{"action":"triggered","data":{{"event":{{"title":"ZeroDivisionError","padding":"{}"}}}}}}"#,
        "x".repeat(2000)
    );

    println!("{alerts} alerts, {clients} concurrent clients, 2 deliveries each");
    for sync in [SyncMode::Normal, SyncMode::Full] {
        let dir = tempfile::TempDir::new()?;
        let url = format!("sqlite://{}/bench.db", dir.path().display());
        let store = Arc::new(SqliteStore::open(&url, sync).await?);
        let started = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|client| {
                let store = store.clone();
                let alert = alert.clone();
                let raw = raw.clone();
                tokio::spawn(async move {
                    for i in (client..alerts).step_by(clients) {
                        let new = NewAlert {
                            source: "sentry".into(),
                            request_id: Some(format!("req-{i}")),
                            endpoint: herald_store::Endpoint::PLATFORM,
                            received_at: jiff::Timestamp::now(),
                            alert: alert.clone(),
                            raw: raw.clone(),
                            deliveries: vec![
                                ("prod".into(), "slack".into()),
                                ("prod".into(), "email".into()),
                            ],
                        };
                        store.accept(new).await?;
                    }
                    Ok::<_, herald_store::StoreError>(())
                })
            })
            .collect();
        for task in tasks {
            task.await??;
        }
        let elapsed = started.elapsed();
        let stats = store.stats();
        let counted = store.count_by_status().await?.pending;
        store.close().await;
        println!(
            "sync={sync:?}: {:.0} accepts/s ({alerts} in {:.2} s), {} commits, {:.1} alerts per commit, {counted} deliveries stored",
            alerts as f64 / elapsed.as_secs_f64(),
            elapsed.as_secs_f64(),
            stats.commits,
            stats.operations as f64 / stats.commits.max(1) as f64,
        );
    }
    Ok(())
}
