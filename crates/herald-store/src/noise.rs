//! The store's side of noise control: applying a [`herald_core::noise`] decision to a leased
//! delivery together with the state it reads (dedup entries, throttle windows, digest
//! buffers) in one transaction; the record of everything held back; silences; and the
//! conversation each threading sink keeps per issue (an opaque reference). A separate trait (a
//! supertrait of [`Store`](crate::Store)) so these live apart from the hot path, which never
//! calls them for routes without noise settings or for sinks that do not thread.
//!
//! A delivery the noise stage does not send on its own leaves the `deliveries` queue and is
//! kept in `held_back` with its outcome and reason, so nothing is dropped silently: a digest
//! member or a throttled alert names the delivery whose message lists or counts it.

use std::sync::Arc;

use async_trait::async_trait;
use herald_core::Alert;
use herald_core::noise::{GateKeys, GateState, Verdict};
use jiff::Timestamp;

use crate::StoreError;
use crate::admin::{Page, PageRequest};

/// The pure decision the gate runs inside its transaction (`herald_core::noise::decide`
/// with the gate's inputs bound).
pub type Decide<'a> = &'a (dyn Fn(&GateState) -> (Verdict, GateState) + Send + Sync);

/// One leased delivery going through the noise stage.
#[derive(Clone, Debug)]
pub struct GateRequest {
    pub delivery_id: String,
    pub route: String,
    pub sink: String,
    pub keys: GateKeys,
    pub now: Timestamp,
    /// Whether the sink has a flood guard: the gate then reads and writes the sink's guard
    /// window (`GateState::flood`) too.
    pub flood: bool,
}

/// The `route` under which a sink's flood-guard window is kept beside the routes' throttle
/// windows; no route has an empty name.
pub(crate) const FLOOD_WINDOW: &str = "";

/// What the gate did.
#[derive(Clone, Debug)]
pub struct GateResult {
    /// The decision; for a delivery decided before (a retry), the earlier `Send`.
    pub verdict: Verdict,
    /// For `Send`: the deliveries that joined this one, oldest first.
    pub members: Vec<Member>,
}

/// A held-back delivery whose alert a message lists (digest) or counts (throttled).
#[derive(Clone, Debug)]
pub struct Member {
    pub delivery_id: String,
    /// `digest` or `throttled`.
    pub outcome: String,
    pub alert: Arc<Alert>,
}

/// One held-back delivery, as the admin API shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct HeldBack {
    pub delivery_id: String,
    pub alert_id: String,
    pub route: String,
    pub sink: String,
    /// `silenced`, `muted`, `duplicate`, `digest` or `throttled`.
    pub outcome: String,
    /// The silence id or the interval name.
    pub detail: Option<String>,
    pub reason: String,
    /// The delivery whose message lists or counts this one.
    pub folded_into: Option<String>,
    pub created_at: Timestamp,
    pub decided_at: Timestamp,
}

/// Which held-back deliveries a list covers. Every set field must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeldFilter {
    pub outcome: Option<String>,
    pub route: Option<String>,
    pub sink: Option<String>,
    pub folded_into: Option<String>,
}

/// A silence to create.
#[derive(Clone, Debug)]
pub struct NewSilence {
    /// A route's `match` as JSON; checked by the caller with
    /// [`herald_core::noise::parse_matchers`].
    pub matchers: serde_json::Value,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub author: String,
    pub comment: String,
}

/// A stored silence.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SilenceRecord {
    pub id: String,
    pub matchers: serde_json::Value,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub author: String,
    pub comment: String,
    pub created_at: Timestamp,
    pub expired_at: Option<Timestamp>,
}

impl SilenceRecord {
    /// `active`, `pending` (starts later) or `expired`, at `now`.
    pub fn state(&self, now: Timestamp) -> &'static str {
        if now >= self.ends_at {
            "expired"
        } else if now < self.starts_at {
            "pending"
        } else {
            "active"
        }
    }
}

/// A conversation a sink started for a key (an issue), as the sink encoded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadRecord {
    /// The sink's own reference to the conversation (opaque here).
    pub reference: String,
    /// The destination the conversation was started in; empty for threads kept before it was.
    pub destination: String,
}

/// One issue of a source that groups events itself, as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct IssueRecord {
    pub source: String,
    pub issue_id: String,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub events: u64,
    /// This event was the issue's first (`events` is 1): the alert is `action: created`.
    pub created: bool,
}

/// Noise-control state.
#[async_trait]
pub trait NoiseStore: Send + Sync {
    /// Records one event of `issue_id` from `source` seen at `at`, in one atomic statement
    /// (insert, or count one more and move `last_seen` forward): the answer says whether it
    /// was the issue's first, and two instances on one database never both get `created`.
    async fn record_issue(
        &self,
        source: &str,
        issue_id: &str,
        at: Timestamp,
    ) -> Result<IssueRecord, StoreError>;

    /// The issue as recorded, `None` when no event of it was.
    async fn issue(&self, source: &str, issue_id: &str) -> Result<Option<IssueRecord>, StoreError>;

    /// Runs `decide` on the stored state of the request's keys and applies the verdict in one
    /// transaction: `Send` is remembered (a retry is not decided again) and returns the
    /// deliveries folded into this one; `Hold` puts the delivery back to pending until its
    /// time; `Join` and `Suppress` move it to `held_back`.
    async fn noise_gate(
        &self,
        request: &GateRequest,
        decide: Decide<'_>,
    ) -> Result<GateResult, StoreError>;

    /// Held-back deliveries, newest first.
    async fn held_back(
        &self,
        filter: &HeldFilter,
        page: &PageRequest,
    ) -> Result<Page<HeldBack>, StoreError>;

    async fn create_silence(
        &self,
        new: NewSilence,
        now: Timestamp,
    ) -> Result<SilenceRecord, StoreError>;

    /// Every silence, newest first; without `include_expired`, those still to end at `now`.
    async fn silences(
        &self,
        include_expired: bool,
        now: Timestamp,
    ) -> Result<Vec<SilenceRecord>, StoreError>;

    /// Ends a silence at `now`. `None` when no silence has that id; an already ended one is
    /// returned unchanged.
    async fn expire_silence(
        &self,
        id: &str,
        now: Timestamp,
    ) -> Result<Option<SilenceRecord>, StoreError>;

    /// The conversation `sink` keeps for `key` (an issue id), which its later notifications
    /// continue.
    async fn thread(&self, sink: &str, key: &str) -> Result<Option<ThreadRecord>, StoreError>;

    /// Records the conversation a sink started for a key. An existing one is kept when it was
    /// started in the same destination, and replaced when not (the key's messages now go to
    /// another destination, and their conversation is there).
    async fn save_thread(
        &self,
        sink: &str,
        key: &str,
        thread: &ThreadRecord,
        now: Timestamp,
    ) -> Result<(), StoreError>;
}

/// An [`IssueRecord`] of the row both backends return: first seen, last seen, events (ms).
pub(crate) fn issue_record(
    source: &str,
    issue_id: &str,
    (first_seen, last_seen, events): (i64, i64, i64),
) -> Result<IssueRecord, StoreError> {
    let events = u64::try_from(events).unwrap_or(0);
    Ok(IssueRecord {
        source: source.to_owned(),
        issue_id: issue_id.to_owned(),
        first_seen: crate::from_millis(first_seen, "issue", issue_id)?,
        last_seen: crate::from_millis(last_seen, "issue", issue_id)?,
        events,
        created: events == 1,
    })
}
