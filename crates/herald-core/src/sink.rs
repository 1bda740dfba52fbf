//! The sink contract: what every destination crate implements, and the registry that maps a
//! config `type` to the factory that validates its settings and builds it.
//!
//! A sink makes one attempt per call and says whether a retry makes sense; only the
//! dispatcher decides when to retry. Adding a destination is one new crate implementing
//! [`SinkFactory`] and [`Sink`], plus one `registry.register(...)` line in the binary.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use crate::alert::Alert;
use crate::config::{Diagnostics, Node, Value};

/// Any error, for causes a sink passes along.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a sink is asked to send: one alert, or a digest of several, for one route.
#[derive(Clone, Debug, Serialize)]
pub struct Notification {
    /// The alerts, oldest first; one unless a later grouping stage made a digest.
    pub alerts: Vec<Arc<Alert>>,
    /// The name of the route whose sinks were used.
    pub route: String,
    /// The configured name of the sink this goes to.
    pub sink: String,
    /// Stable across every attempt of one delivery, so a provider that supports it (LINE's
    /// `X-Line-Retry-Key`, a webhook's `Idempotency-Key`) can drop a repeat.
    pub idempotency_key: String,
    /// 1 on the first attempt.
    pub attempt: u32,
    /// How many further alerts were held back and folded into this message ("and 37 more").
    pub folded: u64,
    /// The conversation this notification continues, for a sink that keeps conversations
    /// ([`Sink::threads`]): what the sink returned in [`Receipt::thread`] for an earlier
    /// notification of the same issue. Filled in by the dispatcher from the store; `None` for
    /// a sink that does not thread, an alert without an issue, or an issue's first message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread: Option<Thread>,
}

/// A conversation a sink started at its provider, kept by the dispatcher between the
/// notifications of one issue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Thread {
    /// What the sink needs to continue it, in the sink's own encoding (a chat sink: the channel id
    /// and `ts` of the first message); nothing but the sink reads it.
    pub reference: String,
    /// The destination the conversation was started in ([`Receipt::destination`]). A sink
    /// continues it only when it would send this notification there too, so the first event
    /// of an issue cannot decide where the later ones go.
    pub destination: String,
}

/// How often a sink may send to one key (a chat channel) of its provider: the dispatcher
/// starts attempts with the same key at least `every` apart, without holding an attempt slot
/// while one waits its turn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pace {
    /// What the provider's limit counts per (a channel id or name); distinct per sink.
    pub key: String,
    /// The least time between two attempts with this key.
    pub every: Duration,
}

impl Notification {
    /// A notification for one alert, first attempt.
    pub fn single(
        alert: Arc<Alert>,
        route: impl Into<String>,
        sink: impl Into<String>,
        idempotency_key: impl Into<String>,
    ) -> Self {
        Notification {
            alerts: vec![alert],
            route: route.into(),
            sink: sink.into(),
            idempotency_key: idempotency_key.into(),
            attempt: 1,
            folded: 0,
            thread: None,
        }
    }

    /// The alert that leads the message (the first one).
    pub fn first(&self) -> &Alert {
        &self.alerts[0]
    }

    pub fn is_digest(&self) -> bool {
        self.alerts.len() > 1
    }
}

/// What a provider said when it took a message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Receipt {
    /// HTTP status (or SMTP reply code) of the accepted request.
    pub status: Option<u16>,
    /// The provider's id for the message (a chat message's timestamp id, an SMTP queue id), for later updates.
    pub message_id: Option<String>,
    /// Where the message went when the provider says (a channel id).
    pub channel: Option<String>,
    /// The destination herald asked for, when the sink chooses it per message (a chat channel
    /// as configured or rendered, `#alerts-payments`, or its fallback): what a later message
    /// compares with before it replies in this one's thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// A short excerpt of the provider's answer, for `send-test` and the delivery history.
    pub detail: Option<String>,
    /// A conversation this message started, for a sink that keeps conversations: the
    /// reference the dispatcher keeps for the later notifications
    /// ([`Notification::thread`]). `None` when the message continued one or started none.
    /// Kept in the sink's thread table, not with the receipt.
    #[serde(skip)]
    pub thread: Option<String>,
}

/// Why one attempt failed, and whether another one could succeed. Each variant reads as one
/// sentence: `unavailable (503): try later`, `rejected (404): channel_not_found`, or the
/// detail alone when no provider answered (a template that cannot render).
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Network trouble or a timeout: worth retrying.
    #[error("{detail}")]
    Unreachable {
        detail: String,
        #[source]
        source: Option<BoxError>,
    },
    /// The provider is there but cannot take it now (429, 5xx, a `ratelimited` error in a 200): retry,
    /// not before `retry_after` when it says.
    #[error("unavailable{}: {detail}", shown_status(*status))]
    Unavailable {
        /// The provider's status, when it answered with one.
        status: Option<u16>,
        retry_after: Option<Duration>,
        detail: String,
    },
    /// The notification cannot be sent as it is (most 4xx, a `channel_not_found` error, a
    /// template that fails to render): do not retry.
    #[error("{}{detail}", rejected_prefix(*status))]
    Rejected {
        /// The provider's status; `None` when herald refused before sending.
        status: Option<u16>,
        detail: String,
    },
}

fn shown_status(status: Option<u16>) -> String {
    status.map(|s| format!(" ({s})")).unwrap_or_default()
}

/// A refusal the provider answered names its status; one herald decided before sending
/// (`cannot render the message: ...`) says why on its own.
fn rejected_prefix(status: Option<u16>) -> String {
    status
        .map(|s| format!("rejected ({s}): "))
        .unwrap_or_default()
}

impl SinkError {
    pub fn unreachable(detail: impl Into<String>, source: impl Into<BoxError>) -> Self {
        SinkError::Unreachable {
            detail: detail.into(),
            source: Some(source.into()),
        }
    }

    /// A refusal herald makes before anything is sent (a template that cannot render, a
    /// destination not allowed): final, with no provider status.
    pub fn refused(detail: impl Into<String>) -> Self {
        SinkError::Rejected {
            status: None,
            detail: detail.into(),
        }
    }

    /// Whether the dispatcher should try again.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, SinkError::Rejected { .. })
    }

    /// The earliest time a retry makes sense, when the provider said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SinkError::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The provider's status, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            SinkError::Unavailable { status, .. } | SinkError::Rejected { status, .. } => *status,
            SinkError::Unreachable { .. } => None,
        }
    }

    /// Sorts an HTTP status the common way: 429, 408 and 5xx are worth a retry, other 4xx
    /// are final.
    pub fn from_status(status: u16, retry_after: Option<Duration>, detail: String) -> Self {
        if status == 429 || status == 408 || status >= 500 {
            SinkError::Unavailable {
                status: Some(status),
                retry_after,
                detail,
            }
        } else {
            SinkError::Rejected {
                status: Some(status),
                detail,
            }
        }
    }
}

/// A destination for alerts. Each sink crate provides one.
#[async_trait]
pub trait Sink: Send + Sync + std::fmt::Debug {
    /// Name of this sink type in config, e.g. "webhook".
    fn kind(&self) -> &'static str;

    /// One attempt. Says *whether* a retry makes sense; the dispatcher alone decides *when*.
    /// Never sleeps for a provider's pace: [`Sink::pace`] tells the dispatcher instead.
    async fn deliver(&self, notification: &Notification) -> Result<Receipt, SinkError>;

    /// Whether this sink keeps conversations: when `true`, the dispatcher hands each
    /// notification of an issue the [`Thread`] an earlier one started on this sink, and keeps
    /// the reference a [`Receipt::thread`] returns. A sink that cannot thread (a chat sink through an
    /// incoming webhook) says `false`, and its deliveries never touch the thread table.
    fn threads(&self) -> bool {
        false
    }

    /// The provider's pace for this notification, when it limits how often one key may be
    /// sent to (a chat API: about one message per second per channel); the dispatcher spaces the
    /// attempts, so `deliver` never waits for it.
    fn pace(&self, notification: &Notification) -> Option<Pace> {
        let _ = notification;
        None
    }

    /// The message this sink would send, for `herald route --render`, without sending it.
    fn preview(&self, notification: &Notification) -> Result<String, String> {
        let _ = notification;
        Err("this sink cannot show a preview".into())
    }

    /// The flood guard this kind of sink has when its config does not set `flood_guard`,
    /// `None` for none. A sink that reaches people keeps the default
    /// ([`crate::flood::DEFAULT_MAX`]); one that feeds a program, which wants every alert
    /// and groups them itself, says `None`.
    fn flood_guard_default(&self) -> Option<crate::flood::Guard> {
        Some(crate::flood::Guard::per_minute(crate::flood::DEFAULT_MAX))
    }
}

/// What a factory gets besides the settings: the sink's name and where to report problems.
#[derive(Debug)]
pub struct SinkContext<'a> {
    pub name: &'a str,
    /// The sink's own settings: its mapping without `type` (which chose the factory) and
    /// without `retry` (which the dispatcher reads).
    pub node: &'a Node,
    pub diag: &'a mut Diagnostics,
}

/// Builds one kind of sink from its config, validating the settings at load time so that
/// `herald check` reports a bad one with its line and column.
pub trait SinkFactory: Send + Sync {
    /// The `type` this factory handles.
    fn kind(&self) -> &'static str;

    /// Validates the settings and builds the sink. Problems go to `ctx.diag` (use
    /// `ctx.diag.typed::<YourConfig>(ctx.node)` for serde settings); return `None` when any
    /// was found.
    fn build(&self, ctx: SinkContext<'_>) -> Option<Arc<dyn Sink>>;
}

/// Maps sink `type` names to their factories.
#[derive(Default)]
pub struct SinkRegistry {
    factories: BTreeMap<&'static str, Box<dyn SinkFactory>>,
}

impl std::fmt::Debug for SinkRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.factories.keys()).finish()
    }
}

impl SinkRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a factory; a later one for the same `type` replaces the earlier.
    pub fn register(&mut self, factory: impl SinkFactory + 'static) -> &mut Self {
        self.factories.insert(factory.kind(), Box::new(factory));
        self
    }

    pub fn kinds(&self) -> Vec<&'static str> {
        self.factories.keys().copied().collect()
    }

    pub fn get(&self, kind: &str) -> Option<&dyn SinkFactory> {
        self.factories.get(kind).map(|f| f.as_ref())
    }

    /// Builds every configured sink, reporting an unknown `type` (with the closest known one)
    /// and each factory's own problems.
    pub fn build_all(
        &self,
        sinks: &[crate::config::SectionSpec],
        diag: &mut Diagnostics,
    ) -> BTreeMap<String, Arc<dyn Sink>> {
        let mut built = BTreeMap::new();
        let kinds = self.kinds();
        for spec in sinks {
            let Some(factory) = self.get(&spec.kind) else {
                let at = spec.node.get("type").unwrap_or(&spec.node).clone();
                let hint = match crate::config::closest(&spec.kind, &kinds) {
                    Some(c) => format!("did you mean \"{c}\"? (sink types: {})", kinds.join(", ")),
                    None => format!("sink types: {}", kinds.join(", ")),
                };
                diag.error(
                    &at,
                    format!("sink \"{}\" has unknown type \"{}\"", spec.name, spec.kind),
                    Some(hint),
                );
                continue;
            };
            let node = without_type(&spec.node);
            let ctx = SinkContext {
                name: &spec.name,
                node: &node,
                diag,
            };
            if let Some(sink) = factory.build(ctx) {
                built.insert(spec.name.clone(), sink);
            }
        }
        built
    }
}

/// The sink's mapping without its `type` key: settings a factory reads as its own.
fn without_type(node: &Node) -> Node {
    let mut node = node.clone();
    if let Value::Map(entries) = &mut node.value {
        entries.retain(|(k, _)| k.as_str() != Some("type"));
    }
    node
}
