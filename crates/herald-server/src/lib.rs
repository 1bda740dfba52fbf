//! herald's HTTP server: it takes Sentry's webhooks, stores each one durably, answers, and
//! leaves the sending to delivery workers that read the store. The one invariant everything
//! here serves: **the webhook handler never waits on a sink.** Sentry gives a webhook about
//! one second and, for internal integrations, does not retry; a slow Slack must not turn into
//! a lost alert.
//!
//! # Endpoints ([`routes`])
//!
//! | request | answer |
//! |---|---|
//! | `POST /hooks/{source}` | an integration-platform webhook (`Sentry-Hook-Resource` set); without that header it is read as the legacy WebHooks plugin, token in `?token=` |
//! | `POST /hooks/{source}/legacy?token=...` | the legacy WebHooks plugin (any resource header is ignored) |
//! | `GET /healthz` | `200 {"status":"ok"}` while the process runs |
//! | `GET /readyz` | `200 {"status":"ready","unmatched_alerts":n}` when the store answers and can write, else `503 {"status":"unavailable","reason":"...","unmatched_alerts":n}`; `n` counts the alerts no route matched since start |
//! | `GET /ui/` | the operator's console ([`console`]), only while the admin API is on |
//!
//! # Handling a webhook
//!
//! Connections come through the [`frontdoor`], which bounds how long a client may take and how
//! much it may make herald hold. Then, in this order, the first failure answering:
//!
//! 1. the source must be configured, else `404`;
//! 2. an announced `Content-Length` must fit `server.max_body_bytes`, else `413`;
//! 3. [`herald_sentry::SourceConfig::precheck`] decides what needs no body: a missing
//!    signature, a stale timestamp, a missing or wrong legacy token are `401`. Up to here
//!    nothing of the body has been read, and the answer says `Connection: close`;
//! 4. the body is read within `server.body_timeout_seconds` (`408`), at most
//!    `max_body_bytes` (`413`), its bytes held against the front door's shared budget (`503`
//!    with `Retry-After` when requests being answered hold all of it);
//! 5. [`herald_sentry::SourceConfig::authenticate`] checks the signature over the raw bytes
//!    (`Sentry-Hook-Signature`, or `Sentry-App-Signature` when that is absent), the timestamp
//!    when `max_skew_seconds` is set, or the legacy token; a failure is `401`;
//! 6. [`herald_sentry::parse`] reads the payload; a malformed one is `400` saying what is
//!    wrong; a payload herald does not route (an installation, an unknown resource or action)
//!    is `200 {"ignored": "<why>"}` and is not stored;
//! 7. the routing tree picks `(route, sink)` pairs, and the alert is stored with one delivery
//!    per pair by [`herald_store::Store::accept`], or, when the running dispatcher has room,
//!    by [`herald_store::Store::accept_leased`], which takes each delivery's first lease in the
//!    same commit (`handoff.rs`);
//! 8. only once that is committed: `202 {"id": "<alert id>", "deliveries": n}`; the leased
//!    deliveries go to the dispatcher in memory, or the dispatcher is woken to lease the
//!    pending ones.
//!
//! An alert that no route matches is still stored (with no delivery) and answered `202` with
//! `"deliveries": 0`, so it can be looked up later and a routing mistake loses nothing; it is
//! logged as a warning (source, project, level, title, alert id), counted by
//! `herald_alerts_unmatched_total` and in `/readyz`'s `unmatched_alerts`. Refusals are
//! logged one line per source and reason per minute, with their count ([`refusals`]). A
//! repeated `Request-ID` with the same body through the same source and endpoint is stored
//! once; the repeat is answered `202` with the first request's id and `"duplicate": true`. The
//! same id with another body is a new alert, counted by
//! `herald_alerts_request_id_reused_total`. Every refusal has a JSON body
//! `{"error": "..."}` and a `Sentry-Hook-Error: <code>` header, which Sentry shows in the
//! integration's request log (codes: `unknown_source`, `body_too_large`, `unreadable_body`,
//! `bad_request_id`, `bad_query`, `unauthorized`, `body_timeout`, `overloaded`, `malformed`,
//! `store_unavailable`). Bad input never gets a `5xx`; a store that cannot take the alert
//! (closed, disk full, read-only) gets `503` with `Retry-After` and no details, which go to
//! the log. Every refusal, and every payload answered `ignored`, is also remembered with its
//! time, source, endpoint, `Request-ID`, code and message in a ring of the last 1,000 held in
//! memory (`recent_refusals.rs`), never in the store, so `herald why <Request-ID>` can tell what
//! became of a webhook that never became an alert; a restart forgets them.
//!
//! # Delivering ([`dispatcher`])
//!
//! A delivery moves `pending → in_flight → delivered | pending (retry) | dead`. The
//! dispatcher leases due deliveries in batches, only as many per sink as that sink has free
//! slots ([`DeliveryPolicy::per_sink_concurrency`]), and runs each attempt as its own task;
//! the store's group commit batches the status writes of attempts that finish together. A
//! success is `delivered` with the sink's receipt; a [`herald_core::SinkError::Rejected`] is
//! `dead` at once; any other failure is retried after an exponential, fully jittered delay
//! (never before the sink's `retry_after`) until `max_attempts` or `max_age`, then `dead`,
//! the reason kept ([`backoff`]). Each attempt carries the delivery id as idempotency key, so
//! a redelivery after a crash (the store hands out leases whose holder vanished) can be
//! recognised by the provider. Deliveries handed over at accept start without a store call;
//! the store is asked for due work only at start, when woken (work stored pending, an
//! operator's retry, a retry or hold scheduled by an attempt), while its leases keep finding
//! work, and at its next due time. So a healthy delivery costs two commits (the accept with
//! its lease, the outcome) instead of three plus a read. The hand-off is bounded
//! (`handoff::CAPACITY`); beyond it, deliveries are stored pending and leased as before.
//!
//! # Shutdown ([`serve`])
//!
//! When `stop` resolves: the listener stops accepting and in-flight requests finish; the
//! dispatcher stops leasing; attempts already running get `server.shutdown_grace_seconds` to
//! finish; the rest are cancelled and released back to `pending` (their attempt given back),
//! to be sent after the next start with the same delivery id.

pub mod admin;
pub mod backoff;
pub mod console;
pub mod dispatcher;
pub mod dry_run;
pub mod explain;
pub mod frontdoor;
mod handoff;
mod hooks;
pub mod metrics;
pub mod noise;
mod observe;
pub mod recent_refusals;
pub mod refusals;
pub mod reload;
mod retention;
pub mod silences;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use herald_core::Sink;
use herald_core::config::Config;
use herald_sentry::SourceConfig;
use herald_store::Store;
use jiff::Timestamp;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

pub use admin::admin_router;
pub use backoff::RetryPolicy;
pub use dispatcher::Dispatcher;
pub use reload::{Loaded, Loader, ReloadError, ReloadReport};

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
    inner: Arc<Inner>,
}

#[derive(Clone, Debug)]
struct Inner {
    /// The running config; a reload swaps it whole. Readers take a snapshot per request.
    live: Arc<ArcSwap<Live>>,
    store: Arc<dyn Store>,
    wake: Arc<Notify>,
    policy: DeliveryPolicy,
    clock: Clock,
    loader: Option<Loader>,
    reloading: Arc<tokio::sync::Mutex<()>>,
    /// Bumped by every applied reload; the dispatcher's supervisor watches it.
    reloads: Arc<watch::Sender<u64>>,
    /// Route noise policies and the silences cache.
    noise: Arc<noise::NoiseStage>,
    /// Deliveries leased at accept, on their way from the handler to the dispatcher.
    handoff: Arc<handoff::Handoff>,
    /// Alerts no route matched since start, for `/readyz`.
    unmatched: Arc<AtomicU64>,
    /// Refused webhooks, logged one line per source and reason per interval.
    refusals: Arc<refusals::RefusalLog>,
    /// The most recent refused webhooks, in memory only (`herald why`).
    recent_refusals: Arc<recent_refusals::RecentRefusals>,
}

/// The part of the state a config reload replaces, swapped as one value so a request never
/// sees the routes of one config with the sinks of another.
#[derive(Debug)]
pub struct Live {
    pub config: Arc<Config>,
    pub sources: BTreeMap<String, SourceConfig>,
    pub sinks: BTreeMap<String, Arc<dyn Sink>>,
    /// When this config was loaded (start or the reload that applied it).
    pub loaded_at: Timestamp,
}

impl AppState {
    /// The state for a loaded config: its sources by name, its built sinks and an open store.
    /// The shutdown grace comes from `server.shutdown_grace_seconds`; the rest of the
    /// [`DeliveryPolicy`] is its default.
    pub fn new(
        config: Arc<Config>,
        sources: BTreeMap<String, SourceConfig>,
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
            live.sources.keys().map(String::as_str),
            live.sinks.keys().map(String::as_str),
        );
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

/// The HTTP routes (see the crate docs), with the body limit of `server.max_body_bytes`.
pub fn routes(state: AppState) -> Router {
    let limit = usize::try_from(state.config().server.max_body_bytes).unwrap_or(usize::MAX);
    Router::new()
        .route("/hooks/{source}", post(hooks::hook))
        .route("/hooks/{source}/legacy", post(hooks::legacy))
        .route("/healthz", get(hooks::healthz))
        .route("/readyz", get(hooks::readyz))
        .route("/metrics", get(observe::scrape))
        .merge(admin_router(state.clone()))
        .merge(console::router(state.clone()))
        .fallback(hooks::not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observe::count_rejections,
        ))
        .with_state(state)
}

/// Serves [`routes`] on `listener` and runs the [`Dispatcher`] beside it until `stop`
/// resolves, then shuts down as the crate docs describe. Returns once both have stopped.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (stopping, stopped) = watch::channel(false);
    let stop_now = Arc::new(stopping);
    let stopper = stop_now.clone();
    tokio::spawn(async move {
        stop.await;
        let _ = stopper.send(true);
    });
    let grace = state.policy().shutdown_grace;
    metrics::config_loaded(true, reload::unix_seconds(state.clock().now()));
    state.register_metrics();
    let dispatcher = tokio::spawn(supervise(state.clone(), stopped.clone()));
    if let Some(signals) = state.store().work_signals() {
        tokio::spawn(wake_on(signals, state.wake(), stopped.clone()));
    }
    let pruner = state.clone();
    tokio::spawn(retention::run(
        state.store().clone(),
        move || pruner.config().storage.retention_days,
        state.clock(),
        retention::EVERY,
        stopped.clone(),
    ));
    // Stopped only once the HTTP server is, so its last line counts every refusal.
    let (served_all, teller_stop) = watch::channel(false);
    let teller = tokio::spawn(tell_refusals(state.refusals().clone(), teller_stop));
    let app = routes(state.clone());
    let limits = frontdoor::Limits::from_config(&state.config().server).fitted_to_file_limit();
    tracing::debug!(?limits, "front door limits");
    let door = frontdoor::FrontDoor::new(limits);
    let mut http = tokio::spawn(frontdoor::serve(listener, app, door, stopped.clone()));

    let served = tokio::select! {
        () = signal(stopped) => {
            // Requests are short (they never wait on a sink), so the grace bounds them
            // generously; a client that keeps a connection open must not hold the exit up.
            match tokio::time::timeout(grace, &mut http).await {
                Ok(joined) => flatten(joined),
                Err(_) => {
                    tracing::warn!(
                        grace_seconds = grace.as_secs(),
                        "requests still open after the shutdown grace; closing them"
                    );
                    http.abort();
                    Ok(())
                }
            }
        }
        // The listener failed before any stop: stop the dispatcher too and report it.
        joined = &mut http => {
            let _ = stop_now.send(true);
            flatten(joined)
        }
    };
    let _ = served_all.send(true);
    let _ = teller.await;
    dispatcher.await.context("the dispatcher task failed")?;
    served
}

fn flatten(joined: Result<std::io::Result<()>, tokio::task::JoinError>) -> anyhow::Result<()> {
    joined
        .context("the HTTP server task failed")?
        .context("the HTTP server failed")
}

/// Runs the dispatcher until `stopped`, replacing it when a reload changes the set of sinks
/// (a dispatcher has one lane per sink). The old one stops leasing at once and finishes its
/// running attempts within the shutdown grace, beside the new one.
async fn supervise(state: AppState, stopped: watch::Receiver<bool>) {
    let mut reloads = state.inner.reloads.subscribe();
    let mut retiring = tokio::task::JoinSet::new();
    loop {
        let names = state.sink_names();
        let (retire, retired) = watch::channel(false);
        let current = tokio::spawn(state.dispatcher().run(signal(retired)));
        let stopping = loop {
            tokio::select! {
                () = signal(stopped.clone()) => break true,
                changed = reloads.changed() => {
                    if changed.is_err() {
                        break true;
                    }
                    if state.sink_names() != names {
                        tracing::info!("the sinks changed; starting a dispatcher for the new set");
                        break false;
                    }
                }
            }
        };
        let _ = retire.send(true);
        if stopping {
            if let Err(e) = current.await {
                tracing::error!(error = %e, "the dispatcher task failed");
            }
            while retiring.join_next().await.is_some() {}
            return;
        }
        retiring.spawn(async move {
            let _ = current.await;
        });
    }
}

/// Wakes the dispatcher each time another instance sharing the store says it stored work
/// (see [`Store::work_signals`]), until `stopped`.
async fn wake_on(
    mut signals: watch::Receiver<u64>,
    wake: Arc<Notify>,
    stopped: watch::Receiver<bool>,
) {
    let stop = signal(stopped);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            changed = signals.changed() => {
                if changed.is_err() {
                    return;
                }
                wake.notify_one();
            }
        }
    }
}

/// Logs the refusals of each interval that ended, every few seconds, and what is left at
/// shutdown (see [`refusals`]).
async fn tell_refusals(log: Arc<refusals::RefusalLog>, stopped: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(refusals::TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stop = signal(stopped);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = tick.tick() => {
                for line in log.due(tokio::time::Instant::now(), false) {
                    line.log();
                }
            }
        }
    }
    for line in log.due(tokio::time::Instant::now(), true) {
        line.log();
    }
}

/// Resolves once the stop flag is set (or its sender is gone).
async fn signal(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}
