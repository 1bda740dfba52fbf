//! The HTTP handlers: the webhook endpoints and the health probes. A webhook is checked,
//! parsed, routed and stored, and answered only after the store committed it; nothing here
//! calls a sink. Refusals are JSON with a `Sentry-Hook-Error` code (see the crate docs).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use herald_sentry::{
    APP_SIGNATURE_HEADER, Credentials, Parsed, REQUEST_ID_HEADER, RESOURCE_HEADER,
    SIGNATURE_HEADER, SignatureError, TIMESTAMP_HEADER,
};
use herald_store::{NewAlert, StoreError};
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::frontdoor::{BodyError, Ticket};
use crate::recent_refusals::Refused;

/// The response header Sentry stores with its request log.
pub(crate) const HOOK_ERROR_HEADER: &str = "Sentry-Hook-Error";

/// Every `Sentry-Hook-Error` code a refusal carries (the crate docs say what each means). The
/// metrics give each configured source a series per code from the start, and the refusal log
/// keys on them; a test checks that every code the handlers use is listed.
pub(crate) const REFUSAL_CODES: &[&str] = &[
    "unknown_source",
    "body_too_large",
    "unreadable_body",
    "bad_request_id",
    "bad_query",
    "unauthorized",
    "body_timeout",
    "overloaded",
    "malformed",
    "store_unavailable",
    "not_found",
];

/// Why a refusal was made, in a fixed word (never the caller's text), for the refusal log:
/// set on the response by the handler, read by the layer that counts and logs refusals.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RefusalDetail(pub &'static str);

/// Longest alert title a log line shows; the rest is cut, so an alert cannot flood the log.
const MAX_LOGGED_TITLE: usize = 200;

/// Longest `Request-ID` kept; Sentry's are 32 hex characters.
const MAX_REQUEST_ID: usize = 128;

/// `?token=` of the legacy plugin's callback URL.
#[derive(Debug, Deserialize)]
pub(crate) struct TokenQuery {
    token: Option<String>,
}

/// A refusal: status, a short code for `Sentry-Hook-Error`, and the message for the body.
#[derive(Debug)]
pub(crate) struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// The body was not read (or not all of it), so the connection cannot carry another
    /// request; saying so keeps a client from reusing it and failing there.
    close: bool,
    /// Seconds for `Retry-After`, on refusals that say "later" rather than "never".
    retry_after: Option<u32>,
    /// Why, for the refusal log (see [`RefusalDetail`]).
    detail: Option<&'static str>,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            status,
            code,
            message: message.into(),
            close: false,
            retry_after: None,
            detail: None,
        }
    }

    fn detail(mut self, detail: &'static str) -> Self {
        self.detail = Some(detail);
        self
    }

    /// Refused before (or while) reading the body.
    fn unread(mut self) -> Self {
        self.close = true;
        self
    }

    fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({ "error": self.message }))).into_response();
        response
            .headers_mut()
            .insert(HOOK_ERROR_HEADER, HeaderValue::from_static(self.code));
        if self.close {
            response.headers_mut().insert(
                axum::http::header::CONNECTION,
                HeaderValue::from_static("close"),
            );
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(detail) = self.detail {
            response.extensions_mut().insert(RefusalDetail(detail));
        }
        response
    }
}

/// Whether the endpoint decides the payload kind or the resource header does.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// `/hooks/{source}`: the resource header, when present, names the payload.
    Header,
    /// `/hooks/{source}/legacy`: always the legacy plugin.
    Legacy,
}

pub(crate) async fn hook(
    State(state): State<AppState>,
    Path(source): Path<String>,
    query: Result<Query<TokenQuery>, QueryRejection>,
    headers: HeaderMap,
    ticket: Option<Extension<Ticket>>,
    body: Body,
) -> Response {
    answer(state, source, Kind::Header, query, headers, ticket, body).await
}

pub(crate) async fn legacy(
    State(state): State<AppState>,
    Path(source): Path<String>,
    query: Result<Query<TokenQuery>, QueryRejection>,
    headers: HeaderMap,
    ticket: Option<Extension<Ticket>>,
    body: Body,
) -> Response {
    answer(state, source, Kind::Legacy, query, headers, ticket, body).await
}

/// Both endpoints: handles the webhook, and records a refusal in the ring.
async fn answer(
    state: AppState,
    source: String,
    kind: Kind,
    query: Result<Query<TokenQuery>, QueryRejection>,
    headers: HeaderMap,
    ticket: Option<Extension<Ticket>>,
    body: Body,
) -> Response {
    let caller = Caller::of(kind, &headers);
    let answer = handle(
        &state,
        &source,
        kind,
        query,
        headers,
        ticket.map(|t| t.0),
        body,
    )
    .await;
    caller.answer(&state, &source, answer)
}

/// Who sent a webhook, as far as a refusal needs to remember it (`refusals.rs`): taken from
/// the request before it is handled, cheaply (the header value is shared, not copied).
struct Caller {
    endpoint: &'static str,
    request_id: Option<HeaderValue>,
}

impl Caller {
    fn of(kind: Kind, headers: &HeaderMap) -> Caller {
        let platform = match kind {
            Kind::Legacy => false,
            Kind::Header => headers.contains_key(RESOURCE_HEADER),
        };
        Caller {
            endpoint: herald_store::Endpoint::of(platform).as_str(),
            request_id: headers.get(REQUEST_ID_HEADER).cloned(),
        }
    }

    /// The response, after recording a refusal in the ring.
    fn answer(self, state: &AppState, source: &str, answer: Result<Response, Refusal>) -> Response {
        match answer {
            Ok(response) => response,
            Err(refusal) => {
                self.record(
                    state,
                    source,
                    refusal.status,
                    refusal.code,
                    &refusal.message,
                );
                refusal.into_response()
            }
        }
    }

    fn record(
        self,
        state: &AppState,
        source: &str,
        status: StatusCode,
        code: &'static str,
        message: &str,
    ) {
        // The label must not be the caller's text: an unknown name is recorded as `unknown`.
        let source = if state.live().sources.contains_key(source) {
            source.to_owned()
        } else {
            "unknown".to_owned()
        };
        let request_id = self
            .request_id
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_owned);
        state.recent_refusals().record(Refused {
            // Milliseconds, as every other time herald shows.
            at: state
                .clock()
                .now()
                .round(jiff::Unit::Millisecond)
                .unwrap_or_else(|_| state.clock().now()),
            source,
            endpoint: self.endpoint,
            request_id,
            status: status.as_u16(),
            code,
            message: message.to_owned(),
        });
    }
}

async fn handle(
    state: &AppState,
    source: &str,
    kind: Kind,
    query: Result<Query<TokenQuery>, QueryRejection>,
    headers: HeaderMap,
    ticket: Option<Ticket>,
    body: Body,
) -> Result<Response, Refusal> {
    // One snapshot of the running config for the whole request, even if a reload lands.
    let live = state.live();
    // Everything that can be decided from the request line and headers is decided before a
    // byte of the body is read: a request that cannot be authentic costs no memory.
    let Some(settings) = live.sources.get(source) else {
        return Err(Refusal::new(
            StatusCode::NOT_FOUND,
            "unknown_source",
            format!(
                "unknown source \"{}\"; check the webhook URL (it ends in /hooks/<a source name from the config>)",
                shorten(source)
            ),
        )
        .unread());
    };
    let limit = live.config.server.max_body_bytes;
    if content_length(&headers).is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    let Query(query) = query.map_err(|e| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "bad_query",
            format!("cannot read the query string: {}", e.body_text()),
        )
        .unread()
    })?;

    let resource = match kind {
        Kind::Legacy => None,
        Kind::Header => header(&headers, RESOURCE_HEADER)?.filter(|r| !r.is_empty()),
    };
    let signature = match header(&headers, SIGNATURE_HEADER)? {
        Some(s) => Some(s),
        None => header(&headers, APP_SIGNATURE_HEADER)?,
    };
    let credentials = Credentials {
        resource,
        signature,
        timestamp: header(&headers, TIMESTAMP_HEADER)?,
        token: query.token.as_deref(),
    };
    let now = state.clock().now();
    // Logged (rate limited) with the other refusals by the layer around the handlers.
    let refuse = |e: SignatureError| {
        Refusal::new(StatusCode::UNAUTHORIZED, "unauthorized", e.to_string())
            .detail(auth_reason(&e))
    };
    settings
        .precheck(credentials, now)
        .map_err(|e| refuse(e).unread())?;
    let request_id = request_id(&headers).map_err(Refusal::unread)?;
    let body_timeout = Duration::from_secs(live.config.server.body_timeout_seconds.max(1));
    let expected = content_length(&headers);
    let body = read_body(body, limit, expected, ticket.as_ref(), body_timeout).await?;
    settings
        .authenticate(credentials, &body, now)
        .map_err(refuse)?;

    let parsed = herald_sentry::parse(source, resource, &body)
        .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, "malformed", e.to_string()))?;
    let alert = match parsed {
        Parsed::Alert(alert) => Arc::new(alert),
        Parsed::Ignored { alert, reason } => {
            // Not a refusal, but not an alert either: remembered the same way, so that
            // `herald why <Request-ID>` can say what became of it.
            state.recent_refusals().record(Refused {
                at: now.round(jiff::Unit::Millisecond).unwrap_or(now),
                source: source.to_owned(),
                endpoint: herald_store::Endpoint::of(resource.is_some()).as_str(),
                request_id: request_id.clone(),
                status: StatusCode::OK.as_u16(),
                code: "ignored",
                message: reason.clone(),
            });
            tracing::info!(
                source = %source,
                resource = %herald_core::untrusted::escaped(&alert.resource),
                action = %herald_core::untrusted::escaped(&alert.action),
                reason = %herald_core::untrusted::escaped(&reason).max_chars(1024),
                "webhook ignored"
            );
            return Ok((StatusCode::OK, Json(json!({ "ignored": reason }))).into_response());
        }
    };

    let routing = live.config.routes.route(&alert);
    let deliveries: Vec<(String, String)> = routing
        .deliveries
        .iter()
        .flat_map(|(route, sinks)| sinks.iter().map(move |s| (route.clone(), s.clone())))
        .collect();
    // The body parsed as JSON, so it is UTF-8; the lossy form only guards the impossible case.
    let raw = String::from_utf8_lossy(&body).into_owned();
    let new = NewAlert {
        source: source.to_owned(),
        request_id: request_id.clone(),
        endpoint: herald_store::Endpoint::of(resource.is_some()),
        received_at: now,
        alert: alert.clone(),
        raw,
        deliveries,
    };
    let accepted = store(state, new)
        .await
        .map_err(|e| store_refusal(source, &e))?;
    let matched = !routing.routes.is_empty();
    crate::metrics::alert_stored(source, &alert.resource, matched, accepted.duplicate);
    if !matched && !accepted.duplicate {
        state.count_unmatched();
        // Stored all the same, so nothing is lost; but nobody hears of it until the routes
        // change, so it is a warning that names the alert.
        tracing::warn!(
            source = %source,
            project = alert.project.as_deref().unwrap_or(""),
            level = alert.level.map(|l| l.as_str()).unwrap_or(""),
            title = cut(&alert.title, MAX_LOGGED_TITLE).as_str(),
            alert_id = %accepted.alert_id,
            "alert matched no route: stored, sent nowhere (`herald route test` shows which route would take it)"
        );
    }
    if accepted.request_id_reused {
        crate::metrics::request_id_reused(source);
    }
    tracing::info!(
        source = %source,
        project = alert.project.as_deref().unwrap_or(""),
        level = alert.level.map(|l| l.as_str()).unwrap_or(""),
        resource = %herald_core::untrusted::escaped(&alert.resource),
        action = %herald_core::untrusted::escaped(&alert.action),
        routes = %routing.routes.join(","),
        alert_id = %accepted.alert_id,
        request_id = request_id.as_deref().unwrap_or(""),
        deliveries = accepted.delivery_ids.len(),
        duplicate = accepted.duplicate,
        "alert accepted"
    );
    let mut answer = json!({ "id": accepted.alert_id, "deliveries": accepted.delivery_ids.len() });
    if accepted.duplicate {
        answer["duplicate"] = json!(true);
    }
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}

/// Stores the alert. When the dispatcher has room, its deliveries are leased in the same
/// commit and handed to it in memory; otherwise they are stored pending and the dispatcher is
/// woken to lease them.
async fn store(state: &AppState, new: NewAlert) -> Result<herald_store::Accepted, StoreError> {
    let wanted = new.deliveries.len();
    let Some(reservation) = state.inner.handoff.reserve(wanted) else {
        let accepted = state.store().accept(new).await?;
        if !accepted.duplicate && wanted > 0 {
            state.inner.wake.notify_one();
        }
        return Ok(accepted);
    };
    // On a task of its own: once committed, the leased deliveries must reach the dispatcher
    // even if Sentry hangs up and this request's future is dropped.
    let store = state.store().clone();
    let wake = state.inner.wake.clone();
    let lease = state.policy().lease;
    let clock = state.clock();
    let task = tokio::spawn(async move {
        let (accepted, leased) = store.accept_leased(new, lease).await?;
        if let Err(back) = reservation.push(leased) {
            // No dispatcher any more (shutdown): the leases go back for the next one.
            let ids: Vec<String> = back.into_iter().map(|l| l.delivery.id).collect();
            if let Err(e) = store.release_in_flight(&ids, clock.now()).await {
                tracing::warn!(error = %error_chain(&e), "cannot give back deliveries leased during shutdown; the next start takes them");
            }
            wake.notify_one();
        }
        Ok(accepted)
    });
    match task.await {
        Ok(result) => result,
        // Only a panic in the store gets here; the writer's answer is lost, not the data.
        Err(e) => {
            tracing::error!(error = %e, "storing an alert failed unexpectedly");
            Err(StoreError::Closed)
        }
    }
}

/// A header as text; absent is `None`, trimmed. A value that is not visible ASCII is a `400`.
fn header<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, Refusal> {
    match headers.get(name) {
        None => Ok(None),
        Some(value) => value.to_str().map(|v| Some(v.trim())).map_err(|_| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                "malformed",
                format!("the {name} header is not plain text"),
            )
        }),
    }
}

fn request_id(headers: &HeaderMap) -> Result<Option<String>, Refusal> {
    let Some(id) = header(headers, REQUEST_ID_HEADER)?.filter(|id| !id.is_empty()) else {
        return Ok(None);
    };
    if id.len() > MAX_REQUEST_ID {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "bad_request_id",
            format!(
                "the Request-ID \"{}\" is longer than {MAX_REQUEST_ID} characters (Sentry sends 32 hex characters)",
                shorten(id)
            ),
        ));
    }
    Ok(Some(id.to_string()))
}

/// `Content-Length`, when the client sent a readable one.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(axum::http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn too_large(limit: u64) -> Refusal {
    Refusal::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!(
            "the body is larger than {limit} bytes (server.max_body_bytes); raise it if Sentry's payloads are this big"
        ),
    )
    .unread()
}

/// Reads the whole body, at most `limit` bytes, within `timeout` of the headers. Its bytes
/// count against the front door's shared budget while the request lasts.
async fn read_body(
    body: Body,
    limit: u64,
    expected: Option<u64>,
    ticket: Option<&Ticket>,
    timeout: Duration,
) -> Result<Bytes, Refusal> {
    use http_body_util::BodyExt;

    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let deadline = tokio::time::Instant::now() + timeout;
    let mut body = body;
    // With the front door (always, when serving), the announced size is reserved against the
    // shared budget first and held in one allocation: growing by doubling would hold up to
    // twice the body while it arrives, beyond what the budget counts.
    let expected = expected.map_or(0, |n| usize::try_from(n).unwrap_or(0).min(limit));
    let mut buf = match ticket {
        Some(ticket) => {
            ticket
                .reserve(expected)
                .map_err(|e| body_error(axum::Error::new(e)))?;
            Vec::with_capacity(expected)
        }
        None => Vec::new(),
    };
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(frame) => frame,
            Err(_) => {
                crate::metrics::connection_shed("timeout");
                return Err(Refusal::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "body_timeout",
                    format!(
                        "the body did not arrive within {} seconds (server.body_timeout_seconds)",
                        timeout.as_secs()
                    ),
                )
                .unread());
            }
        };
        let Some(frame) = frame else { break };
        let frame = frame.map_err(body_error)?;
        if let Ok(data) = frame.into_data() {
            if buf.len().saturating_add(data.len()) > limit {
                return Err(too_large(limit as u64));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(buf))
}

fn body_error(error: axum::Error) -> Refusal {
    let inner = error.into_inner();
    match inner.downcast_ref::<BodyError>() {
        Some(BodyError::Shed(shed)) => Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            shed.to_string(),
        )
        .retry_after(1)
        .unread(),
        Some(BodyError::Evicted(evicted)) => Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            evicted.to_string(),
        )
        .retry_after(1)
        .unread(),
        _ => Refusal::new(
            StatusCode::BAD_REQUEST,
            "unreadable_body",
            format!("cannot read the body: {inner}"),
        )
        .unread(),
    }
}

/// A store that cannot commit (closed, disk full, read-only, gone) is herald's trouble, never
/// the sender's: `503` with `Retry-After`, so Sentry and the SDKs send again. The details go to
/// the log, not to the caller.
fn store_refusal(source: &str, error: &StoreError) -> Refusal {
    let chain = error_chain(error);
    tracing::error!(source = %source, error = %chain, "cannot store an alert; answering 503 so the sender retries");
    let message = match error {
        StoreError::Closed => "herald is shutting down; send again later",
        _ => "herald cannot store alerts right now (see its log and /readyz); send again later",
    };
    Refusal::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
        message,
    )
    .retry_after(5)
}

/// An error with its causes, for the log.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// Which check failed, as a word for the log (the message itself may quote header values).
fn auth_reason(error: &SignatureError) -> &'static str {
    match error {
        SignatureError::MissingSignature => "missing signature",
        SignatureError::WrongSignature { .. } => "wrong signature",
        SignatureError::MissingTimestamp => "missing timestamp",
        SignatureError::BadTimestamp { .. } => "bad timestamp",
        SignatureError::StaleTimestamp { .. } => "stale timestamp",
        SignatureError::MissingToken => "missing token",
        SignatureError::WrongToken => "wrong token",
        SignatureError::LegacyNotAllowed => "legacy not allowed",
        SignatureError::PlatformNotAllowed => "platform not allowed",
    }
}

/// Path segments and headers are the caller's text; keep messages short.
fn shorten(value: &str) -> String {
    cut(value, 80)
}

/// `value` cut to `max` characters, `...` marking a cut.
fn cut(value: &str, max: usize) -> String {
    match value.char_indices().nth(max) {
        Some((at, _)) => format!("{}...", &value[..at]),
        None => value.to_owned(),
    }
}

pub(crate) async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready when the store can write. Either way the answer carries `unmatched_alerts`: the
/// alerts no route matched since this process started, which a probe or a person can watch.
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let unmatched = state.unmatched_alerts();
    match state.store().ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({ "status": "ready", "unmatched_alerts": unmatched })),
        )
            .into_response(),
        Err(e) => {
            // The reason names the store's trouble (disk full, closed), never a secret: the
            // storage URL is not part of any store error.
            let reason = error_chain(&e);
            tracing::warn!(error = %reason, "not ready: the store cannot take alerts");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "reason": reason, "unmatched_alerts": unmatched })),
            )
                .into_response()
        }
    }
}

pub(crate) async fn not_found() -> Refusal {
    Refusal::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint; webhooks go to POST /hooks/<source>",
    )
}
