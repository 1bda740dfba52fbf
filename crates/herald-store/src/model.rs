//! The values that cross the [`Store`](crate::Store) boundary: what the webhook handler hands in,
//! what it gets back, and the delivery rows the workers lease. They carry no SQL, so a
//! PostgreSQL store can return the very same types.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use herald_core::{Alert, Notification, Receipt};
use jiff::Timestamp;

/// One accepted webhook and the deliveries routing picked for it, to be stored together.
#[derive(Clone, Debug)]
pub struct NewAlert {
    /// The configured source name the webhook came in through.
    pub source: String,
    /// The source's id for this request (Sentry's `Request-ID`). A second webhook with the same
    /// id, source, endpoint and body is a redelivery and is stored only once; with another
    /// body it is a new alert ([`Accepted::request_id_reused`]), so that one credential's
    /// requests can never suppress another's by guessing or replaying their ids.
    pub request_id: Option<String>,
    /// Which endpoint (and so which credential) the request came through.
    pub endpoint: Endpoint,
    /// When herald took the request; also when its deliveries first become due.
    pub received_at: Timestamp,
    /// The normalized alert; stored as [`Alert::to_json`].
    pub alert: Arc<Alert>,
    /// The request body exactly as received, kept for templates and for replaying.
    pub raw: String,
    /// `(route, sink)` pairs: one delivery row is created for each.
    pub deliveries: Vec<(String, String)>,
}

impl NewAlert {
    /// The body's part of the Request-ID key: lowercase hex SHA-256 of [`NewAlert::raw`]. Both
    /// backends compute it on the caller's task, so their writers only compare text.
    pub fn body_sha256(&self) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(self.raw.as_bytes()))
    }
}

/// The answer to [`Store::accept`](crate::Store::accept), given only once the data is committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub alert_id: String,
    /// One id per delivery, in the order of [`NewAlert::deliveries`]; each is the idempotency key
    /// sent to its sink. For a duplicate these are the first request's deliveries.
    pub delivery_ids: Vec<String>,
    /// The request id was seen before with the same body: nothing new was stored.
    pub duplicate: bool,
    /// The request id was seen before from this source and endpoint, but with another body:
    /// this one was stored as a new alert all the same.
    pub request_id_reused: bool,
}

/// The endpoint of a source a request came through, as a fixed word its source kind picks
/// (webhooks: `platform` or `legacy`, each authenticated by its own credential; the SDK
/// source: `sdk`); part of the `Request-ID` deduplication key, so each endpoint deduplicates
/// in its own scope. Stored as that word in `alerts.endpoint`, as it always was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint(&'static str);

impl Endpoint {
    /// Sentry's integration platform (signed with the client secret).
    pub const PLATFORM: Endpoint = Endpoint("platform");
    /// The legacy WebHooks plugin (a token in the URL).
    pub const LEGACY: Endpoint = Endpoint("legacy");

    /// The endpoint a source names with `word`.
    pub const fn new(word: &'static str) -> Endpoint {
        Endpoint(word)
    }

    /// The endpoint of a request that carried a `Sentry-Hook-Resource` header (the integration
    /// platform) or not (the legacy plugin): the header picks the credential checked.
    pub fn of(has_resource: bool) -> Endpoint {
        if has_resource {
            Endpoint::PLATFORM
        } else {
            Endpoint::LEGACY
        }
    }

    /// The word stored in `alerts.endpoint`.
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

/// Where a delivery is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// Waiting for `next_attempt_at`.
    Pending,
    /// Leased by a worker until `lease_until`; taken again after that if the worker vanished.
    InFlight,
    /// A sink took it; `receipt` says what it answered.
    Delivered,
    /// Given up; `last_error` says why.
    Dead,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Pending,
        Status::InFlight,
        Status::Delivered,
        Status::Dead,
    ];

    /// The name stored in the `status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::InFlight => "in_flight",
            Status::Delivered => "delivered",
            Status::Dead => "dead",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| {
                format!("unknown delivery status \"{s}\" (expected pending, in_flight, delivered or dead)")
            })
    }
}

/// One delivery row.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    /// Stable across attempts: the idempotency key sent to the sink.
    pub id: String,
    pub alert_id: String,
    pub route: String,
    pub sink: String,
    pub status: Status,
    /// Attempts started so far, counted when a lease is taken (so the leased attempt is
    /// included); [`Store::release_in_flight`](crate::Store::release_in_flight) gives an
    /// unstarted one back.
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    pub lease_until: Option<Timestamp>,
    pub last_error: Option<String>,
    pub receipt: Option<Receipt>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What the dispatcher knows of the attempt whose outcome it records: handed to
/// [`Store::mark_delivered`](crate::Store::mark_delivered), `mark_retry` and `mark_dead`,
/// which store it as an [`Attempt`] in the same transaction as the outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttemptRecord {
    /// When the sink was called.
    pub started_at: Timestamp,
    /// How long the sink took to answer or fail (the deadline, when it timed out).
    pub latency: Duration,
    /// The provider's answer: an HTTP status (or SMTP reply code). `None` when there was no
    /// answer (a network cause or a timeout, named by the error) or the sink reports none.
    pub status: Option<u16>,
}

/// How one attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttemptOutcome {
    /// The sink took the message.
    Delivered,
    /// It failed and another attempt was planned.
    Retried,
    /// It failed and the delivery was given up.
    Dead,
}

impl AttemptOutcome {
    pub const ALL: [AttemptOutcome; 3] = [
        AttemptOutcome::Delivered,
        AttemptOutcome::Retried,
        AttemptOutcome::Dead,
    ];

    /// The name stored in `attempts.outcome`.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::Retried => "retried",
            AttemptOutcome::Dead => "dead",
        }
    }
}

impl fmt::Display for AttemptOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AttemptOutcome {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AttemptOutcome::ALL
            .into_iter()
            .find(|outcome| outcome.as_str() == s)
            .ok_or_else(|| {
                format!("unknown attempt outcome \"{s}\" (expected delivered, retried or dead)")
            })
    }
}

/// One attempt of a delivery as recorded: the delivery's history, which `last_error` alone
/// cannot keep (it is cleared once the delivery succeeds). Kept as long as its delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub delivery_id: String,
    /// 1 for the delivery's first recorded attempt, counting on across an operator's retry
    /// (which starts a fresh attempt budget but not a fresh history).
    pub number: u32,
    pub started_at: Timestamp,
    /// When its outcome was recorded.
    pub finished_at: Timestamp,
    pub outcome: AttemptOutcome,
    /// The provider's status; `None` for a network cause or a timeout.
    pub status: Option<u16>,
    /// The error as the delivery kept it then (`last_error`); `None` when delivered.
    pub error: Option<String>,
    pub latency: Duration,
}

/// A delivery a worker has leased, with its alert.
#[derive(Clone, Debug)]
pub struct LeasedDelivery {
    pub delivery: Delivery,
    /// Shared between deliveries of the same alert leased together; `raw` is filled in.
    pub alert: Arc<Alert>,
}

impl LeasedDelivery {
    /// The notification for this attempt: the delivery id as idempotency key, the attempt number
    /// from the lease.
    pub fn notification(&self) -> Notification {
        let mut n = Notification::single(
            self.alert.clone(),
            self.delivery.route.clone(),
            self.delivery.sink.clone(),
            self.delivery.id.clone(),
        );
        n.attempt = self.delivery.attempts.max(1);
        n
    }
}

/// An accepted alert as stored.
#[derive(Clone, Debug)]
pub struct StoredAlert {
    pub id: String,
    pub source: String,
    pub request_id: Option<String>,
    pub received_at: Timestamp,
    /// With `raw` parsed back in when the body was JSON.
    pub alert: Arc<Alert>,
    /// The body text exactly as received.
    pub raw: String,
}

/// How many deliveries are in each status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatusCounts {
    pub pending: u64,
    pub in_flight: u64,
    pub delivered: u64,
    pub dead: u64,
}

impl StatusCounts {
    pub fn total(&self) -> u64 {
        self.pending + self.in_flight + self.delivered + self.dead
    }
}

/// Writer counters since the store was opened, for metrics and for checking group commit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Write operations answered (accepts, leases, marks, releases), failed ones included.
    pub operations: u64,
    /// Transactions committed. Under concurrency this stays well below `operations`.
    pub commits: u64,
}
