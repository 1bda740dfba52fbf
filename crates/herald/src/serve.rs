//! `herald serve`: loads the config, opens the store, binds the listener and hands them to
//! `herald_server::serve` until SIGINT or SIGTERM. Everything about requests and deliveries
//! lives in `herald-server`; this module only assembles it: the metrics recorder, the config
//! loader that reloads use (the same [`App::load_listening`] as a start and `herald check`, so
//! a reload validates the whole file), and the reload triggers that belong to a process
//! (SIGHUP, `--watch`).

use std::future::Future;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use herald_server::{AppState, Loaded, Loader};

use crate::app::App;

/// How often `--watch` looks at the config file.
const WATCH_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// `server.log_level` from the config, read before logging starts (the config is read again,
/// fully checked, once it has).
pub fn log_level(config: &Path) -> Option<String> {
    let text = std::fs::read_to_string(config).ok()?;
    let env = herald_core::config::Env::process();
    herald_core::config::Config::parse_lenient(&text, &config.display().to_string(), &env)?
        .server
        .log_level
}

/// Reads and checks the whole config again, as a start does (with `--listen`, its address is
/// the one credentials written in the file are checked against).
fn loader(path: &Path, listen: Option<&str>) -> Loader {
    let path = path.to_owned();
    let listen = listen.map(str::to_owned);
    Loader::new(
        move || match App::load_listening(&path, listen.as_deref()) {
            Ok(app) => {
                // Every reload repeats them, so an insecure source is never forgotten in the log.
                log_warnings(&app);
                Ok(Loaded {
                    config: app.config,
                    sources: app.sources,
                    sinks: app.sinks,
                })
            }
            Err(errors) => Err(errors.errors.iter().map(ToString::to_string).collect()),
        },
    )
}

/// Every route, nested ones included.
fn count_routes(routes: &[herald_core::route::Route]) -> usize {
    routes.iter().map(|r| 1 + count_routes(&r.routes)).sum()
}

fn log_warnings(app: &App) {
    for w in &app.warnings {
        tracing::warn!(warning = %w, "config warning");
    }
}

pub fn run(config: &Path, listen: Option<&str>, watch: bool) -> anyhow::Result<ExitCode> {
    let app = match App::load_listening(config, listen) {
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
    log_warnings(&app);
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(serve(app, config, listen, watch))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(app: App, path: &Path, listen: Option<&str>, watch: bool) -> anyhow::Result<()> {
    let stop = shutdown_signal()?;
    let hangup = hangup_signal()?;
    survive_file_size_limit()?;
    if let Err(e) = herald_server::metrics::install() {
        tracing::warn!(error = %e, "metrics are off");
    }
    let storage = &app.config.storage;
    // The url may carry a password: only its redacted form is shown.
    let shown_url = herald_store::redact(&storage.url);
    let store = herald_store::open(storage)
        .await
        .with_context(|| format!("cannot open the store \"{shown_url}\""))?;
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
    // One line that answers the first questions after a start: where, which store, whether
    // the admin API (and so `herald deliveries`/`silence`) can be used, and how much of the
    // config was loaded.
    tracing::info!(
        listen = %bound,
        store = %shown_url,
        admin_api = if app.config.server.admin_token.is_some() { "on" } else { "off (no server.admin_token)" },
        routes = count_routes(&app.config.routes.routes),
        sources = app.sources.len(),
        sinks = app.sinks.len(),
        "herald is serving"
    );
    let state = AppState::new(Arc::new(app.config), app.sources, app.sinks, store.clone())
        .with_source_kinds(crate::sources::registry())
        .with_loader(loader(path, listen));
    tokio::spawn(reload_on(hangup, state.clone()));
    if watch {
        tokio::spawn(watch_file(path.to_owned(), state.clone()));
    }
    let result = herald_server::serve(listener, state, stop).await;
    store.close().await;
    tracing::info!("herald stopped");
    result
}

/// Reloads the config on every SIGHUP.
async fn reload_on(mut hangups: Hangups, state: AppState) {
    while hangups.next().await {
        // The outcome is logged by the reload itself.
        let _ = state.reload("SIGHUP").await;
    }
}

/// `--watch`: reloads when the config file's modification time or size changes. Polling once
/// a second bounds the cost and works on every filesystem, including bind mounts.
async fn watch_file(path: std::path::PathBuf, state: AppState) {
    let stamp = |path: &Path| {
        std::fs::metadata(path)
            .ok()
            .map(|m| (m.modified().ok(), m.len()))
    };
    let mut last = stamp(&path);
    let mut tick = tokio::time::interval(WATCH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = stamp(&path);
        if now != last {
            last = now;
            if last.is_some() {
                let _ = state.reload("watch").await;
            }
        }
    }
}

#[cfg(unix)]
struct Hangups(tokio::signal::unix::Signal);

#[cfg(unix)]
impl Hangups {
    async fn next(&mut self) -> bool {
        self.0.recv().await.is_some()
    }
}

/// SIGHUP's handler, installed before the listener is bound so that an early SIGHUP reloads
/// instead of ending the process (its default action).
#[cfg(unix)]
fn hangup_signal() -> anyhow::Result<Hangups> {
    use tokio::signal::unix::{SignalKind, signal};
    Ok(Hangups(
        signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?,
    ))
}

#[cfg(not(unix))]
struct Hangups;

#[cfg(not(unix))]
impl Hangups {
    async fn next(&mut self) -> bool {
        std::future::pending::<bool>().await
    }
}

#[cfg(not(unix))]
fn hangup_signal() -> anyhow::Result<Hangups> {
    Ok(Hangups)
}

/// A write past the process's file-size limit (`ulimit -f`) raises SIGXFSZ, whose default
/// action ends the process. Handled, the write fails like a full disk instead: the store
/// reports it, webhooks get `503`, and herald recovers once the limit is raised.
#[cfg(unix)]
fn survive_file_size_limit() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    // SIGXFSZ is 25 on Linux and the BSDs.
    let mut xfsz = signal(SignalKind::from_raw(25)).context("cannot listen for SIGXFSZ")?;
    tokio::spawn(async move {
        while xfsz.recv().await.is_some() {
            tracing::warn!(
                "a write went past the process's file-size limit (ulimit -f); it fails like a full disk"
            );
        }
    });
    Ok(())
}

#[cfg(not(unix))]
fn survive_file_size_limit() -> anyhow::Result<()> {
    Ok(())
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
