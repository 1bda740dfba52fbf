//! What the handlers and the dispatcher share: [`AppState`] (the store, the running config as
//! one swappable [`Live`] value, the wake-up signal, the refusal records), the
//! [`DeliveryPolicy`] that schedules deliveries, and the [`Clock`] that tells "now".

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use herald_core::config::Config;
use herald_core::{Sink, Source, SourceRegistry};
use herald_store::Store;
use jiff::Timestamp;
use tokio::sync::{Notify, watch};

use crate::{
    Dispatcher, Loader, RetryPolicy, handoff, metrics, noise, recent_refusals, refusals, reload,
};

/// How deliveries are scheduled. Defaults for now; per-sink overrides can come later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeliveryPolicy {
    /// When to retry and when to give up.
    pub retry: RetryPolicy,
    /// Attempts running at once for one sink (default 32).
    pub per_sink_concurrency: usize,
    /// Deliveries leased per store call and sink (default 256).
    pub batch: usize,
    /// How long an attempt may run before it counts as unreachable (default 60 s). Sinks
    /// have their own, shorter timeouts; this one protects the lease.
    pub attempt_timeout: Duration,
    /// How long a lease keeps a delivery from other workers (default 5 min, longer than
    /// `attempt_timeout`); after that a delivery whose worker died is taken again. On a store
    /// that renews leases while their attempts run ([`Store::lease_renewal`]) it is the
    /// store's, `storage.lease_seconds`.
    pub lease: Duration,
    /// How long a shutdown waits for running attempts (`server.shutdown_grace_seconds`).
    pub shutdown_grace: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        DeliveryPolicy {
            retry: RetryPolicy::default(),
            per_sink_concurrency: 32,
            batch: 256,
            attempt_timeout: Duration::from_secs(60),
            lease: Duration::from_secs(5 * 60),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Where "now" comes from. Production reads the system clock; tests follow Tokio's clock,
/// which `tokio::time::pause()` lets them move without sleeping.
#[derive(Clone, Copy, Debug)]
pub enum Clock {
    System,
    /// Wall time at `start`, advanced by Tokio's clock since then.
    Tokio {
        origin: Timestamp,
        start: tokio::time::Instant,
    },
}

impl Clock {
    /// A clock that follows Tokio's (possibly paused) time, starting at the current wall time.
    pub fn tokio() -> Clock {
        Clock::Tokio {
            origin: Timestamp::now(),
            start: tokio::time::Instant::now(),
        }
    }

    pub fn now(&self) -> Timestamp {
        match self {
            Clock::System => Timestamp::now(),
            Clock::Tokio { origin, start } => origin
                .checked_add(start.elapsed())
                .unwrap_or(Timestamp::MAX),
        }
    }
}

/// Everything the handlers and the dispatcher share. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Clone, Debug)]
pub(crate) struct Inner {
    /// The running config; a reload swaps it whole. Readers take a snapshot per request.
    pub(crate) live: Arc<ArcSwap<Live>>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) wake: Arc<Notify>,
    pub(crate) policy: DeliveryPolicy,
    pub(crate) clock: Clock,
    pub(crate) loader: Option<Loader>,
    pub(crate) reloading: Arc<tokio::sync::Mutex<()>>,
    /// Bumped by every applied reload; the dispatcher's supervisor watches it.
    pub(crate) reloads: Arc<watch::Sender<u64>>,
    /// Route noise policies and the silences cache.
    pub(crate) noise: Arc<noise::NoiseStage>,
    /// Deliveries leased at accept, on their way from the handler to the dispatcher.
    pub(crate) handoff: Arc<handoff::Handoff>,
    /// Alerts no route matched since start, for `/readyz`.
    pub(crate) unmatched: Arc<AtomicU64>,
    /// Refused webhooks, logged one line per source and reason per interval.
    pub(crate) refusals: Arc<refusals::RefusalLog>,
    /// The most recent refused webhooks, in memory only (`herald why`).
    pub(crate) recent_refusals: Arc<recent_refusals::RecentRefusals>,
    /// The source kinds this build knows: the router mounts their endpoints, and a request
    /// no configured source takes is answered in its kind's protocol.
    pub(crate) kinds: Arc<SourceRegistry>,
}

/// The part of the state a config reload replaces, swapped as one value so a request never
/// sees the routes of one config with the sinks of another.
#[derive(Debug)]
pub struct Live {
    pub config: Arc<Config>,
    pub sources: BTreeMap<String, Arc<dyn Source>>,
    pub sinks: BTreeMap<String, Arc<dyn Sink>>,
    /// When this config was loaded (start or the reload that applied it).
    pub loaded_at: Timestamp,
}

impl AppState {
    /// The state for a loaded config: its sources by name (mount their kinds' endpoints with
    /// [`AppState::with_source_kinds`]), its built sinks and an open store.
    /// The shutdown grace comes from `server.shutdown_grace_seconds`; the rest of the
    /// [`DeliveryPolicy`] is its default.
    pub fn new(
        config: Arc<Config>,
        sources: BTreeMap<String, Arc<dyn Source>>,
        sinks: BTreeMap<String, Arc<dyn Sink>>,
        store: Arc<dyn Store>,
    ) -> AppState {
        // A store whose leases are renewed while their attempts run (several instances on
        // one database) keeps them short, `storage.lease_seconds`, so the work of an instance
        // that died is taken over that soon.
        let defaults = DeliveryPolicy::default();
        let policy = DeliveryPolicy {
            shutdown_grace: Duration::from_secs(config.server.shutdown_grace_seconds),
            lease: store.lease_renewal().unwrap_or(defaults.lease),
            ..defaults
        };
        let live = Arc::new(ArcSwap::from_pointee(Live {
            config,
            sources,
            sinks,
            loaded_at: Timestamp::now(),
        }));
        AppState {
            inner: Arc::new(Inner {
                noise: Arc::new(noise::NoiseStage::new(store.clone(), live.clone())),
                live,
                store,
                wake: Arc::new(Notify::new()),
                policy,
                clock: Clock::System,
                loader: None,
                reloading: Arc::default(),
                reloads: Arc::new(watch::channel(0).0),
                handoff: Arc::default(),
                unmatched: Arc::default(),
                refusals: Arc::default(),
                recent_refusals: Arc::default(),
                kinds: Arc::default(),
            }),
        }
    }

    pub fn with_policy(mut self, policy: DeliveryPolicy) -> AppState {
        Arc::make_mut(&mut self.inner).policy = policy;
        self
    }

    pub fn with_clock(mut self, clock: Clock) -> AppState {
        Arc::make_mut(&mut self.inner).clock = clock;
        self
    }

    /// The source kinds this build knows (the binary's registry): their endpoints are
    /// mounted, whether or not the config has a source of that kind yet.
    pub fn with_source_kinds(mut self, kinds: SourceRegistry) -> AppState {
        Arc::make_mut(&mut self.inner).kinds = Arc::new(kinds);
        self
    }

    /// The source kinds this build knows.
    pub fn source_kinds(&self) -> &SourceRegistry {
        &self.inner.kinds
    }

    /// How [`AppState::reload`] reads the config again (the binary's `App::load`).
    pub fn with_loader(mut self, loader: Loader) -> AppState {
        Arc::make_mut(&mut self.inner).loader = Some(loader);
        self
    }

    /// Noise control: route policies and the silences cache.
    pub fn noise(&self) -> &Arc<noise::NoiseStage> {
        &self.inner.noise
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The running config (a snapshot: a reload does not change the one returned).
    pub fn config(&self) -> Arc<Config> {
        self.inner.live.load().config.clone()
    }

    /// The running config, sources and sinks, as one snapshot.
    pub fn live(&self) -> Arc<Live> {
        self.inner.live.load_full()
    }

    /// The names of the running config's sinks.
    pub fn sink_names(&self) -> Vec<String> {
        self.inner.live.load().sinks.keys().cloned().collect()
    }

    /// Makes the metric series of the running config's sources and sinks exist, at 0.
    pub(crate) fn register_metrics(&self) {
        let live = self.live();
        metrics::register(
            live.sources
                .iter()
                .map(|(name, source)| (name.as_str(), source.refusal_codes(), source.resources())),
            live.sinks.keys().map(String::as_str),
        );
        if metrics::enabled() {
            for source in live.sources.values() {
                source.register_metrics();
            }
        }
    }

    /// Alerts stored since start that no route matched.
    pub fn unmatched_alerts(&self) -> u64 {
        self.inner.unmatched.load(Ordering::Relaxed)
    }

    pub(crate) fn count_unmatched(&self) {
        self.inner.unmatched.fetch_add(1, Ordering::Relaxed);
    }

    /// The rate-limited log of refused webhooks.
    pub fn refusals(&self) -> &Arc<refusals::RefusalLog> {
        &self.inner.refusals
    }

    pub fn policy(&self) -> &DeliveryPolicy {
        &self.inner.policy
    }

    pub fn clock(&self) -> Clock {
        self.inner.clock
    }

    /// The most recent refused webhooks (kept in memory, bounded).
    pub fn recent_refusals(&self) -> &recent_refusals::RecentRefusals {
        &self.inner.recent_refusals
    }

    /// The signal the handler gives when it stored new deliveries.
    pub fn wake(&self) -> Arc<Notify> {
        self.inner.wake.clone()
    }

    /// A dispatcher over this state's store and sinks. It holds the sinks by name: each
    /// attempt uses the sink of that name in the config running at that moment.
    pub fn dispatcher(&self) -> Dispatcher {
        let sinks: BTreeMap<String, Arc<dyn Sink>> = self
            .sink_names()
            .into_iter()
            .map(|name| {
                let sink: Arc<dyn Sink> = Arc::new(reload::LiveSink {
                    name: name.clone(),
                    live: self.inner.live.clone(),
                });
                (name, sink)
            })
            .collect();
        Dispatcher::new(
            self.inner.store.clone(),
            &sinks,
            self.inner.policy,
            self.inner.wake.clone(),
            self.inner.clock,
        )
        .with_noise(self.inner.noise.clone())
        .with_handoff(self.inner.handoff.clone())
        .with_live(self.inner.live.clone())
    }
}
