//! `herald serve`: loads the config, opens the store, binds the listener and hands them to
//! `herald_server::serve` until SIGINT or SIGTERM. Everything about requests and deliveries
//! lives in `herald-server`; this module only assembles it.

use std::future::Future;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use herald_server::AppState;
use herald_store::{SqliteStore, Store};

use crate::app::App;

pub fn run(config: &Path, listen: Option<&str>) -> anyhow::Result<ExitCode> {
    let app = match App::load(config) {
        Ok(app) => app,
        Err(errors) => {
            for e in errors.warnings.iter().chain(&errors.errors) {
                eprintln!("{e}");
            }
            anyhow::bail!(
                "cannot start: {} is invalid ({} error{}; `herald check --config {}` shows them)",
                config.display(),
                errors.errors.len(),
                if errors.errors.len() == 1 { "" } else { "s" },
                config.display()
            );
        }
    };
    for w in &app.warnings {
        eprintln!("{w}");
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(serve(app, listen))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(app: App, listen: Option<&str>) -> anyhow::Result<()> {
    let stop = shutdown_signal()?;
    let storage = &app.config.storage;
    let store = SqliteStore::open(&storage.url, storage.sync)
        .await
        .with_context(|| format!("cannot open the store \"{}\"", storage.url))?;
    let store: Arc<dyn Store> = Arc::new(store);
    let address = listen.unwrap_or(&app.config.server.listen).to_string();
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .with_context(|| {
            format!("cannot listen on \"{address}\" (is another process using it?)")
        })?;
    let bound = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or(address);
    tracing::info!(
        listen = %bound,
        store = %storage.url,
        sources = app.sources.len(),
        sinks = app.sinks.len(),
        "herald is serving"
    );
    let state = AppState::new(Arc::new(app.config), app.sources, app.sinks, store.clone());
    let result = herald_server::serve(listener, state, stop).await;
    store.close().await;
    tracing::info!("herald stopped");
    result
}

/// A future that resolves on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed here,
/// before the listener is bound, so a signal sent as soon as herald answers is never lost to
/// the default action (which would skip the graceful shutdown).
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("SIGINT received; stopping"),
            _ = terminate.recv() => tracing::info!("SIGTERM received; stopping"),
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    Ok(async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => tracing::info!("Ctrl-C received; stopping"),
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for Ctrl-C");
                std::future::pending::<()>().await;
            }
        }
    })
}
