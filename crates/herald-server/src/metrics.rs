//! herald's Prometheus metrics: the names, their help text, and cheap recording functions for
//! the webhook handler and the dispatcher. The `herald` binary installs the recorder
//! ([`install`]); until then every recording function returns at once, so tests and embedders
//! that want no metrics pay nothing.
//!
//! The request path only bumps counters. Labelled handles are looked up in a small cache
//! (read lock, no allocation once a label set has been seen), because building a labelled key
//! for every request would allocate. Gauges that describe the store (queue depth, oldest
//! pending delivery) are computed when `/metrics` is scraped, never on the request path.
//!
//! Every counter series whose labels are known from the config exists from the start, at 0
//! ([`register`], at start and after each reload): each source's refusal codes (the server's
//! and those its kind declares), received resources (as its kind declares them), duplicates and reused ids; each sink's delivery outcomes, attempt times and
//! held-back outcomes; the front door's shed reasons; routed and unmatched. So an
//! `increase(...) > 0` alert fires on the first occurrence instead of waiting for a second
//! one (Prometheus sees no increase in a series that appears with its first event). No label
//! comes from a request: sources and sinks are the config's names, the rest fixed words.
//!
//! The recorder keeps every attempt duration it is given (16 bytes: the value and when it was
//! recorded) until they are folded into the histogram's buckets. A scrape does that; so does
//! [`upkeep`], which [`delivery`] runs itself after every [`UPKEEP_AFTER`] attempts. Without
//! it, a herald that nobody scrapes grew by every attempt it ever made: the exporter runs its
//! own upkeep task only when it serves the HTTP endpoint too, and herald serves `/metrics`
//! itself.
//!
//! | metric | type | labels | meaning |
//! |---|---|---|---|
//! | `herald_alerts_received_total` | counter | `source`, `resource` | webhooks stored as alerts (`202`), repeats of a `Request-ID` excluded |
//! | `herald_alerts_duplicate_total` | counter | `source` | repeats of a `Request-ID` with the same body through the same endpoint, answered `202` but not stored again |
//! | `herald_alerts_request_id_reused_total` | counter | `source` | alerts whose `Request-ID` the source's endpoint had already seen with another body; stored as new alerts (also counted in `herald_alerts_received_total`) |
//! | `herald_alerts_rejected_total` | counter | `source`, `reason` | webhooks refused; `reason` is the refusal's fixed code (webhooks: the `Sentry-Hook-Error` code); `source` is `unknown` for an unconfigured source |
//! | `herald_alerts_routed_total` | counter | | stored alerts that matched at least one route (one with `sinks: []` drops them on purpose) |
//! | `herald_alerts_unmatched_total` | counter | | stored alerts that matched no route, each also a `warn` log line |
//! | `herald_deliveries_total` | counter | `sink`, `outcome` | attempt outcomes: `delivered`, `retried`, `dead` |
//! | `herald_deliveries_held_back_total` | counter | `sink`, `outcome` | deliveries the noise stage did not send on their own: `held`, `digest`, `throttled`, `duplicate`, `silenced`, `muted` |
//! | `herald_delivery_duration_seconds` | histogram | `sink` | time of one attempt, whatever its outcome |
//! | `herald_queue_depth` | gauge | `sink`, `status` | deliveries `pending` or `in_flight`, read from the store at scrape time |
//! | `herald_oldest_pending_delivery_age_seconds` | gauge | | age of the oldest pending delivery (0 when none) |
//! | `herald_config_last_reload_successful` | gauge | | 1 when the last (re)load of the config succeeded, else 0 |
//! | `herald_config_last_reload_success_timestamp_seconds` | gauge | | Unix time of the last successful (re)load |
//! | `herald_connections_shed_total` | counter | `reason` | connections the front door closed or refused: `timeout` (headers, body or idle too slow), `evicted` (closed to make room for a newcomer), `busy` (a newcomer refused with `503`, every connection working), `body_budget` (a body refused with `503`) |

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{LazyLock, OnceLock, RwLock};
use std::time::Duration;

use metrics::{Counter, Histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::ingest::SERVER_REFUSAL_CODES;

pub const RECEIVED: &str = "herald_alerts_received_total";
pub const DUPLICATE: &str = "herald_alerts_duplicate_total";
pub const REQUEST_ID_REUSED: &str = "herald_alerts_request_id_reused_total";
pub const REJECTED: &str = "herald_alerts_rejected_total";
pub const ROUTED: &str = "herald_alerts_routed_total";
pub const UNMATCHED: &str = "herald_alerts_unmatched_total";
pub const DELIVERIES: &str = "herald_deliveries_total";
pub const DURATION: &str = "herald_delivery_duration_seconds";
pub const QUEUE_DEPTH: &str = "herald_queue_depth";
pub const OLDEST_PENDING: &str = "herald_oldest_pending_delivery_age_seconds";
pub const RELOAD_OK: &str = "herald_config_last_reload_successful";
pub const RELOAD_TIME: &str = "herald_config_last_reload_success_timestamp_seconds";
pub const HELD_BACK: &str = "herald_deliveries_held_back_total";
pub const SHED: &str = "herald_connections_shed_total";

/// The `outcome` labels of [`HELD_BACK`]: `held`, then `herald_core::noise::Outcome`'s names.
pub const HELD_BACK_OUTCOMES: &[&str] = &[
    "held",
    "digest",
    "throttled",
    "duplicate",
    "silenced",
    "muted",
    "flooded",
];

/// The `reason` labels of [`SHED`].
pub const SHED_REASONS: &[&str] = &["timeout", "evicted", "busy", "body_budget"];

/// The refusal codes a request to a name that is not a configured source can get.
const UNKNOWN_SOURCE_CODES: &[&str] = &["unknown_source", "not_found"];

/// Latency buckets (seconds) for one delivery attempt: webhooks answer in milliseconds, SMTP
/// and slow providers in seconds, and the attempt timeout caps the rest.
const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Attempt durations recorded between two upkeeps at most: 64 KiB of samples, and one upkeep
/// (a pass over a handful of histograms) every few seconds at 1,000 attempts a second. Counted
/// rather than timed, so the bound holds whatever the rate and needs no task of its own.
pub const UPKEEP_AFTER: u64 = 4096;

static ON: AtomicBool = AtomicBool::new(false);
static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
/// Attempt durations recorded so far, to run [`upkeep`] every [`UPKEEP_AFTER`] of them.
static RECORDED: AtomicU64 = AtomicU64::new(0);

/// Installs the Prometheus recorder for this process (once; later calls return the same
/// handle) and describes every metric. Recording starts from here.
pub fn install() -> Result<PrometheusHandle, String> {
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(DURATION.to_owned()), BUCKETS)
        .map_err(|e| format!("cannot set the latency buckets: {e}"))?;
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
    describe();
    let _ = HANDLE.set(handle.clone());
    ON.store(true, Ordering::Release);
    Ok(HANDLE.get().cloned().unwrap_or(handle))
}

fn on() -> bool {
    ON.load(Ordering::Acquire)
}

/// Whether [`install`] ran in this process.
pub fn enabled() -> bool {
    on()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        RECEIVED,
        "Webhooks stored as alerts, by source and Sentry resource."
    );
    describe_counter!(
        DUPLICATE,
        "Repeated Request-IDs with the same body, answered but not stored again."
    );
    describe_counter!(
        REQUEST_ID_REUSED,
        "Request-IDs seen again with another body, stored as new alerts."
    );
    describe_counter!(
        REJECTED,
        "Webhooks refused, by source and Sentry-Hook-Error code."
    );
    describe_counter!(
        ROUTED,
        "Stored alerts that matched a route with at least one sink."
    );
    describe_counter!(UNMATCHED, "Stored alerts that no route sent anywhere.");
    describe_counter!(
        DELIVERIES,
        "Delivery attempt outcomes, by sink: delivered, retried, dead."
    );
    describe_histogram!(
        DURATION,
        Unit::Seconds,
        "Time of one delivery attempt, by sink."
    );
    describe_gauge!(
        QUEUE_DEPTH,
        "Deliveries pending or in flight, by sink and status."
    );
    describe_gauge!(
        OLDEST_PENDING,
        Unit::Seconds,
        "Age of the oldest pending delivery."
    );
    describe_counter!(
        HELD_BACK,
        "Deliveries the noise stage did not send on their own, by sink and outcome: held, digest, throttled, duplicate, silenced, muted."
    );
    describe_counter!(
        SHED,
        "Connections the front door closed or refused, by reason: timeout, evicted, busy, body_budget."
    );
    describe_gauge!(
        RELOAD_OK,
        "Whether the last config (re)load succeeded (1) or not (0)."
    );
    describe_gauge!(
        RELOAD_TIME,
        Unit::Seconds,
        "Unix time of the last successful config load."
    );
}

/// Counter handles by one label, built once per label value.
type Cache1 = RwLock<HashMap<String, Counter>>;

fn counter1(cache: &Cache1, name: &'static str, key: &'static str, value: &str) {
    if let Ok(map) = cache.read()
        && let Some(counter) = map.get(value)
    {
        counter.increment(1);
        return;
    }
    handle1(cache, name, key, value).increment(1);
}

/// The cached handle, built (and so exported, at 0) if it was not yet.
fn handle1(cache: &Cache1, name: &'static str, key: &'static str, value: &str) -> Counter {
    if let Ok(map) = cache.read()
        && let Some(counter) = map.get(value)
    {
        return counter.clone();
    }
    let counter = metrics::counter!(name, key => value.to_owned());
    if let Ok(mut map) = cache.write() {
        map.insert(value.to_owned(), counter.clone());
    }
    counter
}

/// Counter handles by two labels, built once per label pair.
type Cache2 = RwLock<HashMap<String, HashMap<String, Counter>>>;

static RECEIVED_BY: LazyLock<Cache2> = LazyLock::new(Cache2::default);
static REJECTED_BY: LazyLock<Cache2> = LazyLock::new(Cache2::default);
static HELD_BACK_BY: LazyLock<Cache2> = LazyLock::new(Cache2::default);
static DUPLICATE_BY: LazyLock<Cache1> = LazyLock::new(Cache1::default);
static REUSED_BY: LazyLock<Cache1> = LazyLock::new(Cache1::default);
static SINKS: LazyLock<RwLock<HashMap<String, SinkHandles>>> = LazyLock::new(Default::default);

#[derive(Clone)]
struct SinkHandles {
    delivered: Counter,
    retried: Counter,
    dead: Counter,
    duration: Histogram,
}

fn counter2(cache: &Cache2, name: &'static str, keys: [&'static str; 2], a: &str, b: &str) {
    if let Ok(map) = cache.read()
        && let Some(counter) = map.get(a).and_then(|m| m.get(b))
    {
        counter.increment(1);
        return;
    }
    handle2(cache, name, keys, a, b).increment(1);
}

/// The cached handle, built (and so exported, at 0) if it was not yet.
fn handle2(
    cache: &Cache2,
    name: &'static str,
    keys: [&'static str; 2],
    a: &str,
    b: &str,
) -> Counter {
    if let Ok(map) = cache.read()
        && let Some(counter) = map.get(a).and_then(|m| m.get(b))
    {
        return counter.clone();
    }
    let counter = metrics::counter!(name, keys[0] => a.to_owned(), keys[1] => b.to_owned());
    if let Ok(mut map) = cache.write() {
        map.entry(a.to_owned())
            .or_default()
            .insert(b.to_owned(), counter.clone());
    }
    counter
}

/// Makes every series whose labels the config fixes exist at 0 (see the module docs): for
/// each of `sources` and `sinks`, and the unlabelled and fixed-label ones. Called at start and
/// after each reload (a new source or sink gets its series then); a series already there
/// keeps its value.
pub fn register<'a>(
    sources: impl IntoIterator<Item = (&'a str, &'static [&'static str], &'static [&'static str])>,
    sinks: impl IntoIterator<Item = &'a str>,
) {
    if !on() {
        return;
    }
    for (source, codes, resources) in sources {
        // The server's own refusals (a body it could not read, a store that cannot commit)
        // and the ones the source makes.
        for code in SERVER_REFUSAL_CODES
            .iter()
            .chain(codes)
            .filter(|c| !UNKNOWN_SOURCE_CODES.contains(c))
        {
            handle2(&REJECTED_BY, REJECTED, ["source", "reason"], source, code).increment(0);
        }
        for resource in resources {
            handle2(
                &RECEIVED_BY,
                RECEIVED,
                ["source", "resource"],
                source,
                resource,
            )
            .increment(0);
        }
        handle1(&DUPLICATE_BY, DUPLICATE, "source", source).increment(0);
        handle1(&REUSED_BY, REQUEST_ID_REUSED, "source", source).increment(0);
    }
    for code in UNKNOWN_SOURCE_CODES {
        handle2(
            &REJECTED_BY,
            REJECTED,
            ["source", "reason"],
            "unknown",
            code,
        )
        .increment(0);
    }
    for sink in sinks {
        let _ = sink_handles(sink);
        for outcome in HELD_BACK_OUTCOMES {
            handle2(&HELD_BACK_BY, HELD_BACK, ["sink", "outcome"], sink, outcome).increment(0);
        }
    }
    for reason in SHED_REASONS {
        metrics::counter!(SHED, "reason" => *reason).increment(0);
    }
    metrics::counter!(ROUTED).increment(0);
    metrics::counter!(UNMATCHED).increment(0);
}

/// A webhook was stored as a new alert although its `Request-ID` had been seen with another
/// body (see `herald_store::Accepted::request_id_reused`).
pub fn request_id_reused(source: &str) {
    if on() {
        counter1(&REUSED_BY, REQUEST_ID_REUSED, "source", source);
    }
}

/// A webhook was stored as an alert (or recognised as a repeat); `matched` says whether any
/// route matched it.
pub fn alert_stored(source: &str, resource: &str, matched: bool, duplicate: bool) {
    if !on() {
        return;
    }
    if duplicate {
        counter1(&DUPLICATE_BY, DUPLICATE, "source", source);
        return;
    }
    counter2(
        &RECEIVED_BY,
        RECEIVED,
        ["source", "resource"],
        source,
        resource,
    );
    if matched {
        metrics::counter!(ROUTED).increment(1);
    } else {
        metrics::counter!(UNMATCHED).increment(1);
    }
}

/// A request was refused with the fixed code `reason`. `source` must be a
/// configured source name (or `unknown`), so that callers cannot grow the label set.
pub fn alert_rejected(source: &str, reason: &str) {
    if on() {
        counter2(&REJECTED_BY, REJECTED, ["source", "reason"], source, reason);
    }
}

/// The front door closed or refused a connection for `reason` (a fixed word, never input).
pub fn connection_shed(reason: &'static str) {
    if on() {
        metrics::counter!(SHED, "reason" => reason).increment(1);
    }
}

/// The noise stage held a delivery to `sink` back: `outcome` is `held` (waiting as a digest
/// lead or throttle carrier) or the recorded outcome (`digest`, `throttled`, `duplicate`,
/// `silenced`, `muted`).
pub fn held_back(sink: &str, outcome: &'static str) {
    if on() {
        counter2(&HELD_BACK_BY, HELD_BACK, ["sink", "outcome"], sink, outcome);
    }
}

/// How an attempt ended, as the `outcome` label says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    Retried,
    Dead,
}

fn sink_handles(sink: &str) -> SinkHandles {
    if let Ok(map) = SINKS.read()
        && let Some(handles) = map.get(sink)
    {
        return handles.clone();
    }
    let name = sink.to_owned();
    let handles = SinkHandles {
        delivered: metrics::counter!(DELIVERIES, "sink" => name.clone(), "outcome" => "delivered"),
        retried: metrics::counter!(DELIVERIES, "sink" => name.clone(), "outcome" => "retried"),
        dead: metrics::counter!(DELIVERIES, "sink" => name.clone(), "outcome" => "dead"),
        duration: metrics::histogram!(DURATION, "sink" => name.clone()),
    };
    if let Ok(mut map) = SINKS.write() {
        map.insert(name, handles.clone());
    }
    handles
}

/// One attempt of a delivery to `sink` ended with `outcome` after `took`.
pub fn delivery(sink: &str, outcome: Outcome, took: Duration) {
    if !on() {
        return;
    }
    let handles = sink_handles(sink);
    handles.duration.record(took.as_secs_f64());
    delivery_outcome_with(&handles, outcome, 1);
    if (RECORDED.fetch_add(1, Ordering::Relaxed) + 1).is_multiple_of(UPKEEP_AFTER) {
        upkeep();
    }
}

/// `count` deliveries of `sink` were made dead without an attempt (the sink was removed).
pub fn dead_without_attempt(sink: &str, count: u64) {
    if on() && count > 0 {
        delivery_outcome_with(&sink_handles(sink), Outcome::Dead, count);
    }
}

fn delivery_outcome_with(handles: &SinkHandles, outcome: Outcome, count: u64) {
    match outcome {
        Outcome::Delivered => handles.delivered.increment(count),
        Outcome::Retried => handles.retried.increment(count),
        Outcome::Dead => handles.dead.increment(count),
    }
}

/// The outcome of loading the config, at start or on a reload; `now` is Unix seconds.
pub fn config_loaded(ok: bool, now: f64) {
    if !on() {
        return;
    }
    metrics::gauge!(RELOAD_OK).set(if ok { 1.0 } else { 0.0 });
    if ok {
        metrics::gauge!(RELOAD_TIME).set(now);
    }
}

/// Sets the store gauges from figures read at scrape time: the depth of every configured sink
/// (0 when it has nothing queued) and of any other sink still in the store.
pub fn set_queue(configured: &[String], depth: &[herald_store::QueueDepth], oldest_age: f64) {
    if !on() {
        return;
    }
    use herald_store::Status;
    for sink in configured {
        for status in [Status::Pending, Status::InFlight] {
            let count = depth
                .iter()
                .find(|d| &d.sink == sink && d.status == status)
                .map_or(0, |d| d.count);
            #[allow(clippy::cast_precision_loss)]
            metrics::gauge!(QUEUE_DEPTH, "sink" => sink.clone(), "status" => status.as_str())
                .set(count as f64);
        }
    }
    for d in depth.iter().filter(|d| !configured.contains(&d.sink)) {
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!(QUEUE_DEPTH, "sink" => d.sink.clone(), "status" => d.status.as_str())
            .set(d.count as f64);
    }
    metrics::gauge!(OLDEST_PENDING).set(oldest_age);
}

/// Folds the attempt durations recorded since the last upkeep (or scrape) into the histogram's
/// buckets and frees them; does nothing before [`install`].
pub fn upkeep() {
    if let Some(handle) = HANDLE.get() {
        handle.run_upkeep();
    }
}

/// The rendered exposition, when the recorder is installed.
pub fn render() -> Option<String> {
    HANDLE.get().map(PrometheusHandle::render)
}
