//! The source contract: what every intake crate implements (a kind of sender herald takes
//! alerts from: Sentry's webhooks, later Sentry's SDKs), and the registry that maps a config
//! `type` to the factory that validates its settings and builds it.
//!
//! A source kind owns everything about its protocol and nothing about serving it: it declares
//! its HTTP endpoints ([`SourceFactory::endpoints`]), decides from the headers alone whether a
//! request may go on ([`Source::precheck`]), turns a request whose body the server read into
//! alerts ([`Source::take`]), and shapes its answers ([`Source::accepted`],
//! [`SourceFactory::refuse`]). The server owns the rest: it mounts the endpoints, finds the
//! configured source a request is for, reads the body under the front door's budgets and
//! deadlines (at most [`Source::body_limit`] bytes), routes and stores each alert, answers only
//! after the commit (a store that cannot commit is `503` with `Retry-After` whatever the
//! source), and counts and logs every refusal by its fixed [`Refusal::code`]. Adding a source
//! is one new crate implementing [`SourceFactory`] and [`Source`], plus one
//! `registry.register(...)` line in the binary; the server never names a source type.
//!
//! Core knows the `http` crate's plain types (method, status, headers, a response), never an
//! HTTP framework.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

use crate::alert::Alert;
use crate::config::{Diagnostics, Node, PublicCredential};

/// An answer a source shapes; the server sends it as it is (adding only `Connection: close`
/// when the body was not read in full).
pub type Answer = http::Response<Vec<u8>>;

/// One HTTP endpoint of a source kind, mounted by the server's router.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// A fixed word for the endpoint, which the source reads back in [`Head::endpoint`]
    /// (`hook`, `legacy`; the SDK's `envelope`, `store`, `preflight`).
    pub name: &'static str,
    pub method: http::Method,
    /// The path template in `{param}` syntax. A `{source}` segment names the configured
    /// source the request is for; an endpoint without one is shared by every source of its
    /// kind, and the server offers the request to each in name order ([`Source::claims`]).
    /// The other parameters are handed to the source in [`Head::params`].
    pub path: &'static str,
}

impl Endpoint {
    pub fn new(name: &'static str, method: http::Method, path: &'static str) -> Endpoint {
        Endpoint { name, method, path }
    }

    /// Whether the path names the source (`{source}`).
    pub fn names_source(&self) -> bool {
        self.path.contains("{source}")
    }
}

/// A request as far as its headers go: all a source may look at before the body is read.
#[derive(Clone, Copy, Debug)]
pub struct Head<'a> {
    /// The endpoint the request came in through.
    pub endpoint: &'a Endpoint,
    pub headers: &'a http::HeaderMap,
    /// The raw query string, without the `?`.
    pub query: Option<&'a str>,
    /// The path's parameters by name (`{source}` included when the template has it).
    pub params: &'a [(String, String)],
    /// When herald took the request.
    pub now: jiff::Timestamp,
}

impl<'a> Head<'a> {
    /// A path parameter.
    pub fn param(&self, name: &str) -> Option<&'a str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A header as text, trimmed; absent is `None`. A value that is not visible ASCII is a
    /// `400` with the code `malformed`.
    pub fn header(&self, name: &str) -> Result<Option<&'a str>, Refusal> {
        match self.headers.get(name) {
            None => Ok(None),
            Some(value) => value.to_str().map(|v| Some(v.trim())).map_err(|_| {
                Refusal::new(
                    http::StatusCode::BAD_REQUEST,
                    "malformed",
                    format!("the {name} header is not plain text"),
                )
            }),
        }
    }
}

/// Why a request is refused: the status, a fixed reason code (the metric label, the refusal
/// log's key and whatever the source's answer carries, never the caller's text), and a
/// message for the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: http::StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Why, in a fixed word, for the refusal log (`wrong signature`); never the caller's text.
    pub detail: Option<&'static str>,
    /// Seconds for `Retry-After`, on refusals that say "later" rather than "never".
    pub retry_after: Option<u32>,
    /// Refused before the body was read in full: the connection cannot carry another request.
    pub unread: bool,
}

impl Refusal {
    pub fn new(status: http::StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            status,
            code,
            message: message.into(),
            detail: None,
            retry_after: None,
            unread: false,
        }
    }

    pub fn detail(mut self, detail: &'static str) -> Self {
        self.detail = Some(detail);
        self
    }

    /// Refused before (or while) reading the body.
    pub fn unread(mut self) -> Self {
        self.unread = true;
        self
    }

    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

/// Who sent a request, as far as a refusal needs to remember it (`herald why`): read from the
/// head by the source kind, also when no configured source takes the request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Caller {
    /// A fixed word for the way the request came in (webhooks: `platform` or `legacy`).
    pub endpoint: &'static str,
    /// The sender's id for the request, when it gives one (Sentry's `Request-ID`).
    pub request_id: Option<String>,
}

/// What a source made of a request: the alerts to store, and what it took but keeps no alert
/// of (answered as accepted, remembered like a refusal so `herald why` can tell).
#[derive(Debug, Default)]
pub struct Intake {
    pub alerts: Vec<Incoming>,
    pub ignored: Vec<Ignored>,
}

/// One alert to store, with its deduplication key.
#[derive(Debug)]
pub struct Incoming {
    pub alert: Arc<Alert>,
    /// What the store keeps as the payload (templates and replays read it); its SHA-256 is
    /// part of the deduplication key.
    pub raw: String,
    /// The sender's id for the request: a second one with the same id, source, endpoint and
    /// `raw` is a redelivery and stored once.
    pub request_id: Option<String>,
    /// The store's endpoint word (`platform`, `legacy`, `sdk`), part of the deduplication key.
    pub endpoint: &'static str,
    /// The issue the alert belongs to, for a source that groups events into issues itself
    /// (the SDK source): the server records it in the store before routing (first seen, last
    /// seen, event count) and, for the issue's first event, sets the alert's `action` to
    /// [`ISSUE_CREATED`]. `None` for a source whose sender says that itself (webhooks).
    pub issue: Option<String>,
}

/// The `action` of an issue's first event, for sources that group events themselves
/// ([`Incoming::issue`]); a later event keeps the action its source gave it (`event`).
pub const ISSUE_CREATED: &str = "created";

/// A payload taken but not turned into an alert (an installation webhook), with why.
#[derive(Debug)]
pub struct Ignored {
    /// As much of an alert as the payload gave (resource, action, raw), for the log.
    pub alert: Alert,
    pub reason: String,
}

/// What the store made of one [`Incoming`], in the same order.
#[derive(Clone, Debug)]
pub struct Stored {
    pub alert: Arc<Alert>,
    pub alert_id: String,
    pub deliveries: usize,
    /// A redelivery: nothing new was stored, `alert_id` is the first one's.
    pub duplicate: bool,
}

/// One configured source: the settings of one `sources.<name>` section, built by its kind's
/// [`SourceFactory`]. The server calls, per request, in this order, the first refusal
/// answering:
///
/// 1. [`Source::claims`], only for an endpoint shared by the kind's sources (no `{source}`);
/// 2. an announced `Content-Length` against [`Source::body_limit`] (the server's `413`);
/// 3. [`Source::precheck`], before any body byte is read;
/// 4. the server reads the body (at most [`Source::body_limit`], within
///    `server.body_timeout_seconds`, held against the front door's budget);
/// 5. [`Source::take`], which authenticates over the body and parses it;
/// 6. for each [`Incoming`]: the server records its [`Incoming::issue`] in the store when it
///    has one (setting `action` to [`ISSUE_CREATED`] for the issue's first event), then
///    routes and stores it;
/// 7. [`Source::accepted`] shapes the answer, sent only after the commit.
#[async_trait]
pub trait Source: Send + Sync + std::fmt::Debug {
    /// Name of this source type in config, e.g. "sentry".
    fn kind(&self) -> &'static str;

    /// The largest body this source takes, given the server's `server.max_body_bytes`.
    fn body_limit(&self, server_limit: u64) -> u64 {
        server_limit
    }

    /// Whether this source takes a request to an endpoint shared by its kind (the SDK source:
    /// the project id in the path is one of its projects). Not asked for `{source}` paths.
    fn claims(&self, head: &Head<'_>) -> bool {
        let _ = head;
        true
    }

    /// Decides what can be decided from the headers and the query alone (credentials present,
    /// a timestamp, a token in the URL), so a request that cannot be authentic costs no body.
    /// Refusals here should be [`Refusal::unread`].
    fn precheck(&self, head: &Head<'_>) -> Result<(), Refusal>;

    /// Authenticates the request over its body and turns it into alerts (zero or more).
    async fn take(&self, head: &Head<'_>, body: &[u8]) -> Result<Intake, Refusal>;

    /// The answer once every alert of the request is committed.
    fn accepted(&self, head: &Head<'_>, stored: &[Stored], ignored: &[Ignored]) -> Answer;

    /// The alerts a payload would give, without authenticating it: the routing dry run
    /// (`herald route`, `POST /api/v1/route-test`). `hint` is what the caller says the payload
    /// is (webhooks: the resource), when the body alone cannot tell.
    fn dry_run(&self, hint: Option<&str>, body: &[u8]) -> Result<Intake, String> {
        let _ = (hint, body);
        Err(format!("a {} source has no dry run", self.kind()))
    }

    /// Every [`Refusal::code`] this source answers with itself; the server gives each
    /// configured source a metric series per code from the start.
    fn refusal_codes(&self) -> &'static [&'static str] {
        &[]
    }

    /// Makes the series of the metrics this source records itself (through the `metrics`
    /// facade, such as the SDK source's dropped items) exist at 0, with their help text. The
    /// server calls it when a metrics recorder is installed, at start and after each reload,
    /// so an `increase(...) > 0` alert fires on the first occurrence.
    fn register_metrics(&self) {}

    /// Every `resource` its alerts can have, for the same reason.
    fn resources(&self) -> &'static [&'static str] {
        &[]
    }
}

/// What a factory gets besides the settings: the source's name and where to report problems.
#[derive(Debug)]
pub struct SourceContext<'a> {
    pub name: &'a str,
    /// The source's whole mapping, `type` included.
    pub node: &'a Node,
    pub diag: &'a mut Diagnostics,
}

/// One kind of source: its endpoints, its config, and its answers when no configured source
/// is there to give them.
pub trait SourceFactory: Send + Sync {
    /// The `type` this factory handles.
    fn kind(&self) -> &'static str;

    /// The HTTP endpoints every source of this kind is reached through.
    fn endpoints(&self) -> Vec<Endpoint>;

    /// Validates the settings and builds the source. Problems go to `ctx.diag`, located (use
    /// `ctx.diag.typed::<YourConfig>(ctx.node)` for serde settings); return `None` when any
    /// was found.
    fn build(&self, ctx: SourceContext<'_>) -> Option<Arc<dyn Source>>;

    /// The credentials of the section whose value is written in the config file rather than
    /// taken from the environment (see [`PublicCredential`]); herald refuses them beyond a
    /// loopback listen.
    fn public_credentials(
        &self,
        name: &str,
        node: &Node,
        diag: &Diagnostics,
    ) -> Vec<PublicCredential>;

    /// Who sent a request, for the record of a refusal.
    fn caller(&self, head: &Head<'_>) -> Caller {
        Caller {
            endpoint: head.endpoint.name,
            request_id: None,
        }
    }

    /// The answer to a refusal, in this kind's protocol; also used when no configured source
    /// took the request (an unknown name, a body the server could not read).
    fn refuse(&self, refusal: &Refusal) -> Answer;
}

/// Maps source `type` names to their factories.
#[derive(Default, Clone)]
pub struct SourceRegistry {
    factories: BTreeMap<&'static str, Arc<dyn SourceFactory>>,
}

impl std::fmt::Debug for SourceRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.factories.keys()).finish()
    }
}

impl SourceRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a factory; a later one for the same `type` replaces the earlier.
    pub fn register(&mut self, factory: impl SourceFactory + 'static) -> &mut Self {
        self.factories.insert(factory.kind(), Arc::new(factory));
        self
    }

    pub fn kinds(&self) -> Vec<&'static str> {
        self.factories.keys().copied().collect()
    }

    pub fn get(&self, kind: &str) -> Option<&Arc<dyn SourceFactory>> {
        self.factories.get(kind)
    }

    /// Every factory, in `type` order.
    pub fn factories(&self) -> impl Iterator<Item = &Arc<dyn SourceFactory>> {
        self.factories.values()
    }

    /// Builds every configured source, reporting an unknown `type` (with the closest known
    /// one and the list of registered kinds), each factory's own problems, and collecting the
    /// credentials written in the file into `public`.
    pub fn build_all(
        &self,
        sources: &[crate::config::SectionSpec],
        diag: &mut Diagnostics,
        public: &mut Vec<PublicCredential>,
    ) -> BTreeMap<String, Arc<dyn Source>> {
        let mut built = BTreeMap::new();
        let kinds = self.kinds();
        for spec in sources {
            let Some(factory) = self.get(&spec.kind) else {
                let at = spec.node.get("type").unwrap_or(&spec.node).clone();
                let hint = match crate::config::closest(&spec.kind, &kinds) {
                    Some(c) => {
                        format!("did you mean \"{c}\"? (source types: {})", kinds.join(", "))
                    }
                    None => format!("source types: {}", kinds.join(", ")),
                };
                diag.error(
                    &at,
                    format!(
                        "source \"{}\" has unknown type \"{}\"",
                        spec.name, spec.kind
                    ),
                    Some(hint),
                );
                continue;
            };
            public.extend(factory.public_credentials(&spec.name, &spec.node, diag));
            let ctx = SourceContext {
                name: &spec.name,
                node: &spec.node,
                diag,
            };
            if let Some(source) = factory.build(ctx) {
                built.insert(spec.name.clone(), source);
            }
        }
        built
    }
}

#[cfg(test)]
mod tests;
