//! What operators ask of the store, beside the webhook path and the delivery queue: delivery
//! and alert history with filters and paging (the admin API), retrying dead deliveries, giving
//! up the deliveries of a sink a config reload removed, and the queue figures `/metrics`
//! exports. A separate trait (a supertrait of [`Store`](crate::Store)) so that these rarely
//! used operations live apart from the hot path's.
//!
//! Paging is by cursor: lists are newest first, ordered by id (UUID v7, so by creation time),
//! and a page's `next_cursor` is the last id it holds; passing it back as `cursor` gives the
//! rows after it. A cursor stays valid while rows are added, unlike an offset.
//!
//! `herald why` asks two more things: [`AdminStore::find_alert`] takes whatever id an operator
//! has at hand (herald's alert id, Sentry's `Request-ID`, event id or issue id) and
//! [`AdminStore::alert_history`] gives everything that happened to that alert. Each lookup is
//! served by an index (migration `0500`), so neither scans the history.

use async_trait::async_trait;
use jiff::Timestamp;

use crate::noise::HeldBack;
use crate::{Attempt, Delivery, Status, StoreError, StoredAlert, from_millis};

/// Largest page a list returns, whatever the caller asks for.
pub const MAX_PAGE: usize = 500;

/// Which deliveries a list or a bulk retry covers. Every set field must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub status: Option<Status>,
    pub sink: Option<String>,
    pub route: Option<String>,
    /// The alert's project.
    pub project: Option<String>,
    /// Created at or after.
    pub since: Option<Timestamp>,
    /// Created before.
    pub until: Option<Timestamp>,
}

/// Which alerts a list covers. Every set field must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlertFilter {
    pub source: Option<String>,
    pub project: Option<String>,
    /// The alert's level, as the normalized alert writes it (`error`, `warning`, ...).
    pub level: Option<String>,
    /// A route one of its deliveries went through.
    pub route: Option<String>,
    /// Received at or after.
    pub since: Option<Timestamp>,
    /// Received before.
    pub until: Option<Timestamp>,
}

/// Where a page starts and how long it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// At most this many rows (capped at [`MAX_PAGE`]; 0 means 50).
    pub limit: usize,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageRequest {
    /// The limit actually used.
    pub fn effective_limit(&self) -> usize {
        match self.limit {
            0 => 50,
            n => n.min(MAX_PAGE),
        }
    }
}

/// One page of a list, newest first.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as [`PageRequest::cursor`] for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// A delivery with the fields of its alert an operator looks for first.
#[derive(Clone, Debug, PartialEq)]
pub struct DeliveryView {
    pub delivery: Delivery,
    pub project: Option<String>,
    pub title: String,
}

/// What [`AdminStore::retry_delivery`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryOutcome {
    /// The delivery is pending again and due at once.
    Requeued,
    /// No delivery has that id.
    NotFound,
    /// Only dead deliveries are retried; this one is in that status.
    NotDead(Status),
}

/// Pending deliveries of one sink and status, for the queue gauges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueDepth {
    pub sink: String,
    pub status: Status,
    pub count: u64,
}

/// Which id [`AdminStore::find_alert`] recognised, tried in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FoundBy {
    /// herald's own alert id.
    AlertId,
    /// The source's `Request-ID` of the webhook.
    RequestId,
    /// Sentry's event id (`Alert::event_id`).
    EventId,
    /// Sentry's issue id (`Alert::issue_id`): many alerts may share it.
    IssueId,
}

impl FoundBy {
    /// The name the admin API shows.
    pub fn as_str(self) -> &'static str {
        match self {
            FoundBy::AlertId => "alert_id",
            FoundBy::RequestId => "request_id",
            FoundBy::EventId => "event_id",
            FoundBy::IssueId => "issue_id",
        }
    }
}

/// The alert an id names: for an id several alerts share (an issue id), the most recent.
#[derive(Clone, Debug)]
pub struct FoundAlert {
    pub alert: StoredAlert,
    pub found_by: FoundBy,
    /// How many other alerts carry the same id.
    pub others: u64,
}

/// Everything that became of one alert.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertHistory {
    /// Its deliveries still in the queue or finished (delivered, dead), oldest first.
    pub deliveries: Vec<Delivery>,
    /// Every recorded attempt of those deliveries, by delivery (as `deliveries`) then number.
    pub attempts: Vec<Attempt>,
    /// Its deliveries the noise stage did not send on their own, oldest first.
    pub held_back: Vec<HeldBack>,
    /// The deliveries those were folded into (a digest's lead, a throttle window's carrier),
    /// which may belong to other alerts; one that retention pruned is missing.
    pub folded_into: Vec<Delivery>,
}

/// What happened since a moment, for the console's overview.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Activity {
    /// Alerts received at or after it.
    pub alerts: u64,
    /// Deliveries created at or after it.
    pub deliveries: u64,
    /// Dead deliveries waiting for an operator, whenever they died.
    pub dead_waiting: u64,
}

/// One sink's attempts, for the console's sinks page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkActivity {
    pub sink: String,
    /// Attempts of its deliveries created since the moment asked for.
    pub attempts: u64,
    /// Of those, how many the sink accepted.
    pub delivered: u64,
    /// Their mean latency.
    pub mean_latency_ms: Option<u64>,
    /// Their slowest latency.
    pub max_latency_ms: Option<u64>,
}

/// One running instance of a shared store (PostgreSQL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceView {
    pub id: String,
    pub host: String,
    pub pid: u64,
    pub started_at: Timestamp,
    pub last_seen: Timestamp,
}

/// The smallest UUID v7 text made at or after `at`: ids are UUID v7 (their first 48 bits the
/// creation time in milliseconds), so `id >= bound(at)` turns a time into a range of the
/// primary key. A row is created after the time the caller stamped on it (an alert's
/// `received_at`, a delivery's `created_at`), so the range holds every row stamped at or
/// after `at`, and the time condition beside it makes the count exact.
pub(crate) fn id_bound(at: Timestamp) -> String {
    let ms = u64::try_from(at.as_millisecond()).unwrap_or(0);
    format!("{:08x}-{:04x}", ms >> 16, ms & 0xffff)
}

/// The operator's side of the store.
#[async_trait]
pub trait AdminStore: Send + Sync {
    /// Deliveries matching `filter`, newest first.
    async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Page<DeliveryView>, StoreError>;

    /// Alerts matching `filter`, newest first.
    async fn list_alerts(
        &self,
        filter: &AlertFilter,
        page: &PageRequest,
    ) -> Result<Page<StoredAlert>, StoreError>;

    /// The alert `key` names: herald's alert id, else a `Request-ID`, else a Sentry event id,
    /// else a Sentry issue id (the first kind that matches wins). `None` when none does.
    async fn find_alert(&self, key: &str) -> Result<Option<FoundAlert>, StoreError>;

    /// The deliveries and held-back records of one alert, with the deliveries its held-back
    /// records were folded into.
    async fn alert_history(&self, alert_id: &str) -> Result<AlertHistory, StoreError>;

    /// Every recorded attempt of one delivery, first to last; none for an unknown delivery.
    async fn attempts(&self, delivery_id: &str) -> Result<Vec<Attempt>, StoreError>;

    /// Makes one dead delivery pending and due at `now`, with a fresh attempt budget (same
    /// id, so the sink can still recognise a repeat).
    async fn retry_delivery(&self, id: &str, now: Timestamp) -> Result<RetryOutcome, StoreError>;

    /// [`AdminStore::retry_delivery`] for every dead delivery matching `filter` (its `status`
    /// is ignored: only dead ones are retried). Returns the ids requeued.
    async fn retry_dead(
        &self,
        filter: &DeliveryFilter,
        now: Timestamp,
    ) -> Result<Vec<String>, StoreError>;

    /// Makes every pending or in-flight delivery of `sink` dead with `reason` (the sink is
    /// gone from the config). Returns how many.
    async fn kill_sink(&self, sink: &str, reason: &str, now: Timestamp) -> Result<u64, StoreError>;

    /// Deliveries not yet finished (pending, in flight) per sink and status.
    async fn queue_depth(&self) -> Result<Vec<QueueDepth>, StoreError>;

    /// When the oldest pending delivery was created; `None` when none is pending.
    async fn oldest_pending(&self) -> Result<Option<Timestamp>, StoreError>;

    /// Alerts and deliveries since `since`, and the dead deliveries waiting: each counted
    /// through an index (ids are UUID v7, so a time is a range of the primary key; dead ones
    /// have a partial index of their own), never a scan of the history.
    async fn activity(&self, since: Timestamp) -> Result<Activity, StoreError>;

    /// Per sink, the attempts of its deliveries created since `since` (read through the
    /// attempts' primary key, whose first column is the delivery's UUID v7 id), by sink name.
    async fn sink_activity(&self, since: Timestamp) -> Result<Vec<SinkActivity>, StoreError>;

    /// The instances sharing this store that were heard from in the last minute before
    /// `now`; `None` for a store one process owns (SQLite).
    async fn live_instances(
        &self,
        _now: Timestamp,
    ) -> Result<Option<Vec<InstanceView>>, StoreError> {
        Ok(None)
    }

    /// Deletes up to `max` alerts received before `before`, oldest first, with their
    /// deliveries, their attempts and held-back records: only alerts that are finished, that is with no
    /// delivery pending or in flight and not listed by a digest still waiting to be sent.
    /// Returns how many alerts were deleted; fewer than `max` means none is left to delete.
    /// One short transaction, so callers prune a large backlog in several calls.
    async fn prune(&self, before: Timestamp, max: usize) -> Result<usize, StoreError>;
}

/// The columns of an `attempts` row as both backends select them ([`ATTEMPT_COLUMNS`]).
pub(crate) type AttemptColumns = (
    String,
    i64,
    i64,
    i64,
    String,
    Option<i64>,
    Option<String>,
    i64,
);

/// The columns [`attempt_from_columns`] reads, in its order.
pub(crate) const ATTEMPT_COLUMNS: &str =
    "delivery_id, number, started_at, finished_at, outcome, status, error, latency_ms";

pub(crate) fn attempt_from_columns(row: AttemptColumns) -> Result<Attempt, StoreError> {
    let (delivery_id, number, started_at, finished_at, outcome, status, error, latency_ms) = row;
    let corrupt = |detail: String| StoreError::Corrupt {
        what: "attempt of delivery",
        id: delivery_id.clone(),
        detail,
    };
    Ok(Attempt {
        number: u32::try_from(number)
            .map_err(|_| corrupt(format!("attempt number {number} is out of range")))?,
        started_at: from_millis(started_at, "attempt of delivery", &delivery_id)?,
        finished_at: from_millis(finished_at, "attempt of delivery", &delivery_id)?,
        outcome: outcome.parse().map_err(corrupt)?,
        status: status
            .map(|s| u16::try_from(s).map_err(|_| corrupt(format!("status {s} is out of range"))))
            .transpose()?,
        error,
        latency: std::time::Duration::from_millis(u64::try_from(latency_ms).unwrap_or(0)),
        delivery_id,
    })
}
