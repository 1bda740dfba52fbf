//! Changing the config without a restart. Whatever asks for it (`SIGHUP`, `POST /-/reload`,
//! the binary's file watcher) ends in [`AppState::reload`]: the loader the binary gave
//! ([`AppState::with_loader`]) reads and validates the whole file the same way a start does,
//! and only a config without errors replaces the running one, in one atomic swap of
//! [`Live`]. A refused config leaves everything as it was; its located errors go
//! to the log and to the caller, and `herald_config_last_reload_successful` drops to 0.
//!
//! What a reload changes at once: routes, sources (secrets included), sinks and their
//! settings, and the admin token. `server.listen`, `server.max_body_bytes` and `storage` are
//! read at start only; a change to them is logged as needing a restart. Deliveries still
//! queued for a sink the new config no longer has are made dead with the reason
//! `sink "<name>" was removed from the config`, so they show up in the admin API (and can be
//! retried there once the sink is back) instead of waiting for ever.

use std::collections::BTreeMap;
use std::sync::Arc;

use herald_core::config::Config;
use herald_core::{Sink, Source};
use serde::Serialize;

use crate::errors::error_chain;
use crate::{AppState, Live, metrics};

/// A config read and validated in full: what [`Loader`] hands back.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub sources: BTreeMap<String, Arc<dyn Source>>,
    pub sinks: BTreeMap<String, Arc<dyn Sink>>,
}

/// Reads the config again. `Err` carries every error, each one line with its
/// `file:line:column` location; it is never given a secret's value.
#[derive(Clone)]
pub struct Loader(Arc<dyn Fn() -> Result<Loaded, Vec<String>> + Send + Sync>);

impl Loader {
    pub fn new(load: impl Fn() -> Result<Loaded, Vec<String>> + Send + Sync + 'static) -> Loader {
        Loader(Arc::new(load))
    }
}

impl std::fmt::Debug for Loader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Loader")
    }
}

/// What a successful reload changed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReloadReport {
    /// Sinks the new config has and the old one did not.
    pub sinks_added: Vec<String>,
    /// Sinks the old config had and the new one does not.
    pub sinks_removed: Vec<String>,
    /// Deliveries made dead because their sink was removed.
    pub deliveries_dead: u64,
    /// Settings that changed but only take effect after a restart.
    pub needs_restart: Vec<String>,
}

/// Why a reload did not happen.
#[derive(Debug)]
pub enum ReloadError {
    /// The server was started without a loader (an embedded server, a test).
    Unavailable,
    /// The new config has errors; the running one stays.
    Invalid(Vec<String>),
}

impl std::fmt::Display for ReloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReloadError::Unavailable => f.write_str("this server cannot reload its config"),
            ReloadError::Invalid(errors) => write!(
                f,
                "the new config has {} error{}; the running config stays",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            ),
        }
    }
}

impl std::error::Error for ReloadError {}

/// The reason kept on deliveries whose sink a reload removed.
pub fn removed_reason(sink: &str) -> String {
    format!("sink \"{sink}\" was removed from the config")
}

impl AppState {
    /// Reloads the config through the loader; `trigger` (`SIGHUP`, `api`, `watch`) is logged.
    /// Reloads are serialised: one that starts while another runs waits for it.
    pub async fn reload(&self, trigger: &str) -> Result<ReloadReport, ReloadError> {
        let Some(loader) = self.inner.loader.clone() else {
            return Err(ReloadError::Unavailable);
        };
        let _one_at_a_time = self.inner.reloading.lock().await;
        let loaded = match tokio::task::spawn_blocking(move || (loader.0)()).await {
            Ok(loaded) => loaded,
            Err(e) => Err(vec![format!("the config loader failed: {e}")]),
        };
        let now = self.clock().now();
        match loaded {
            Err(errors) => {
                for error in &errors {
                    tracing::error!(trigger, error = %error, "config reload refused");
                }
                tracing::error!(
                    trigger,
                    errors = errors.len(),
                    "config reload refused; the running config stays"
                );
                metrics::config_loaded(false, unix_seconds(now));
                Err(ReloadError::Invalid(errors))
            }
            Ok(loaded) => {
                let report = self.apply(loaded).await;
                metrics::config_loaded(true, unix_seconds(now));
                self.register_metrics();
                tracing::info!(
                    trigger,
                    sinks_added = %report.sinks_added.join(","),
                    sinks_removed = %report.sinks_removed.join(","),
                    deliveries_dead = report.deliveries_dead,
                    "config reloaded"
                );
                for setting in &report.needs_restart {
                    tracing::warn!(setting = %setting, "this setting changed but only takes effect after a restart");
                }
                Ok(report)
            }
        }
    }

    /// Swaps in an already validated config and settles the deliveries of removed sinks.
    pub async fn apply(&self, loaded: Loaded) -> ReloadReport {
        let old = self.live();
        let new = Live {
            config: Arc::new(loaded.config),
            sources: loaded.sources,
            sinks: loaded.sinks,
            loaded_at: self.clock().now(),
        };
        let mut report = ReloadReport {
            sinks_added: names_missing(&new.sinks, &old.sinks),
            sinks_removed: names_missing(&old.sinks, &new.sinks),
            ..ReloadReport::default()
        };
        let (was, is) = (&old.config, &new.config);
        if was.server.listen != is.server.listen {
            report.needs_restart.push("server.listen".into());
        }
        if was.server.max_body_bytes != is.server.max_body_bytes {
            report.needs_restart.push("server.max_body_bytes".into());
        }
        // The front door's connection limits are fixed when the listener starts
        // (`body_timeout_seconds` is read per request and applies at once).
        let door = |s: &herald_core::config::ServerConfig| {
            (
                s.header_timeout_seconds,
                s.idle_timeout_seconds,
                s.max_connections,
                s.max_buffered_bytes,
            )
        };
        if door(&was.server) != door(&is.server) {
            report.needs_restart.push(
                "server.header_timeout_seconds/idle_timeout_seconds/max_connections/max_buffered_bytes"
                    .into(),
            );
        }
        if was.storage.url != is.storage.url
            || was.storage.sync != is.storage.sync
            || was.storage.lease_seconds != is.storage.lease_seconds
        {
            report.needs_restart.push("storage".into());
        }
        self.inner.live.store(Arc::new(new));
        let now = self.clock().now();
        for sink in &report.sinks_removed {
            match self
                .store()
                .kill_sink(sink, &removed_reason(sink), now)
                .await
            {
                Ok(n) => {
                    if n > 0 {
                        tracing::warn!(sink = %sink, deliveries = n, outcome = %"dead", "queued deliveries of a removed sink are dead");
                    }
                    metrics::dead_without_attempt(sink, n);
                    report.deliveries_dead += n;
                }
                Err(e) => tracing::error!(
                    sink = %sink,
                    error = %error_chain(&e),
                    "cannot give up the deliveries of a removed sink; they stay queued"
                ),
            }
        }
        // The dispatcher runs one lane per sink: a new set of sinks needs new lanes.
        self.inner
            .reloads
            .send_modify(|generation| *generation += 1);
        report
    }
}

fn names_missing<T>(from: &BTreeMap<String, T>, other: &BTreeMap<String, T>) -> Vec<String> {
    from.keys()
        .filter(|name| !other.contains_key(*name))
        .cloned()
        .collect()
}

pub(crate) fn unix_seconds(ts: jiff::Timestamp) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let ms = ts.as_millisecond() as f64;
    ms / 1000.0
}

/// The sink the dispatcher holds for one name: each attempt goes to the sink of that name in
/// the config running at that moment, so a reload that changes a sink's settings takes effect
/// with the next attempt and needs no new dispatcher.
pub(crate) struct LiveSink {
    pub(crate) name: String,
    pub(crate) live: Arc<arc_swap::ArcSwap<Live>>,
}

impl std::fmt::Debug for LiveSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSink")
            .field("name", &self.name)
            .finish()
    }
}

impl LiveSink {
    fn current(&self) -> Option<Arc<dyn Sink>> {
        self.live.load().sinks.get(&self.name).cloned()
    }

    fn removed(&self) -> herald_core::SinkError {
        herald_core::SinkError::refused(removed_reason(&self.name))
    }
}

#[async_trait::async_trait]
impl Sink for LiveSink {
    fn kind(&self) -> &'static str {
        self.current().map_or("removed", |s| s.kind())
    }

    async fn deliver(
        &self,
        notification: &herald_core::Notification,
    ) -> Result<herald_core::Receipt, herald_core::SinkError> {
        match self.current() {
            Some(sink) => sink.deliver(notification).await,
            None => Err(self.removed()),
        }
    }

    fn preview(&self, notification: &herald_core::Notification) -> Result<String, String> {
        match self.current() {
            Some(sink) => sink.preview(notification),
            None => Err(removed_reason(&self.name)),
        }
    }
    fn threads(&self) -> bool {
        self.current().is_some_and(|s| s.threads())
    }

    fn pace(&self, notification: &herald_core::Notification) -> Option<herald_core::Pace> {
        self.current()?.pace(notification)
    }
}
