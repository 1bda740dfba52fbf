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
use crate::config::{Diagnostics, Node};

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
    /// The earlier message of the same issue on this sink, when the provider supports
    /// conversations (Slack bot mode): the sink may update it and reply under it instead of
    /// posting a new top-level message. Filled in by the dispatcher from the store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread: Option<ThreadRef>,
}

/// Where an earlier message of an issue lives at the provider (Slack: channel id and `ts`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ThreadRef {
    pub channel: String,
    pub ts: String,
    /// The destination that earlier message was sent to ([`Receipt::destination`]). A sink
    /// replies in the thread only when it would send this notification there too, so the
    /// first event of an issue cannot decide where the later ones go.
    pub destination: String,
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
    /// The provider's id for the message (Slack's `ts`, an SMTP queue id), for later updates.
    pub message_id: Option<String>,
    /// Where the message went when the provider says (a Slack channel id).
    pub channel: Option<String>,
    /// The destination herald asked for, when the sink chooses it per message (a Slack channel
    /// as configured or rendered, `#alerts-payments`, or its fallback): what a later message
    /// compares with before it replies in this one's thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// A short excerpt of the provider's answer, for `send-test` and the delivery history.
    pub detail: Option<String>,
}

/// Why one attempt failed, and whether another one could succeed.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Network trouble or a timeout: worth retrying.
    #[error("{detail}")]
    Unreachable {
        detail: String,
        #[source]
        source: Option<BoxError>,
    },
    /// The provider is there but cannot take it now (429, 5xx, Slack `ratelimited`): retry,
    /// not before `retry_after` when it says.
    #[error("unavailable ({status}): {detail}")]
    Unavailable {
        status: u16,
        retry_after: Option<Duration>,
        detail: String,
    },
    /// The provider refused for good (most 4xx, Slack `channel_not_found`): do not retry.
    #[error("rejected ({status}): {detail}")]
    Rejected { status: u16, detail: String },
}

impl SinkError {
    pub fn unreachable(detail: impl Into<String>, source: impl Into<BoxError>) -> Self {
        SinkError::Unreachable {
            detail: detail.into(),
            source: Some(source.into()),
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

    /// Sorts an HTTP status the common way: 429, 408 and 5xx are worth a retry, other 4xx
    /// are final.
    pub fn from_status(status: u16, retry_after: Option<Duration>, detail: String) -> Self {
        if status == 429 || status == 408 || status >= 500 {
            SinkError::Unavailable {
                status,
                retry_after,
                detail,
            }
        } else {
            SinkError::Rejected { status, detail }
        }
    }
}

/// A destination for alerts. Each sink crate provides one.
#[async_trait]
pub trait Sink: Send + Sync + std::fmt::Debug {
    /// Name of this sink type in config, e.g. "slack".
    fn kind(&self) -> &'static str;

    /// One attempt. Says *whether* a retry makes sense; the dispatcher alone decides *when*.
    async fn deliver(&self, notification: &Notification) -> Result<Receipt, SinkError>;

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
    /// The sink's whole mapping, `type` included.
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
            let ctx = SinkContext {
                name: &spec.name,
                node: &spec.node,
                diag,
            };
            if let Some(sink) = factory.build(ctx) {
                built.insert(spec.name.clone(), sink);
            }
        }
        built
    }
}
