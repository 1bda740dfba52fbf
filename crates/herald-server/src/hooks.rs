//! The HTTP handlers: the webhook endpoints and the health probes. A webhook is checked,
//! parsed, routed and stored, and answered only after the store committed it; nothing here
//! calls a sink. Refusals are JSON with a `Sentry-Hook-Error` code (see the crate docs).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
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

/// The response header Sentry stores with its request log.
pub(crate) const HOOK_ERROR_HEADER: &str = "Sentry-Hook-Error";

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
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({ "error": self.message }))).into_response();
        response
            .headers_mut()
            .insert(HOOK_ERROR_HEADER, HeaderValue::from_static(self.code));
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the oversized body was never read, so this connection cannot carry
            // another request; saying so keeps a client from reusing it and failing there.
            response.headers_mut().insert(
                axum::http::header::CONNECTION,
                HeaderValue::from_static("close"),
            );
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
    body: Result<Bytes, BytesRejection>,
) -> Response {
    handle(state, source, Kind::Header, query, headers, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

pub(crate) async fn legacy(
    State(state): State<AppState>,
    Path(source): Path<String>,
    query: Result<Query<TokenQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    handle(state, source, Kind::Legacy, query, headers, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn handle(
    state: AppState,
    source: String,
    kind: Kind,
    query: Result<Query<TokenQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Refusal> {
    // One snapshot of the running config for the whole request, even if a reload lands.
    let live = state.live();
    let Some(settings) = live.sources.get(&source) else {
        return Err(Refusal::new(
            StatusCode::NOT_FOUND,
            "unknown_source",
            format!(
                "unknown source \"{}\"; check the webhook URL (it ends in /hooks/<a source name from the config>)",
                shorten(&source)
            ),
        ));
    };
    let body = body.map_err(|rejection| body_refusal(&state, rejection))?;
    let Query(query) = query.map_err(|e| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "bad_query",
            format!("cannot read the query string: {}", e.body_text()),
        )
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
    if let Err(e) = settings.authenticate(credentials, &body, now) {
        tracing::info!(source = %source, reason = auth_reason(&e), "webhook refused: not authenticated");
        return Err(Refusal::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            e.to_string(),
        ));
    }
    let request_id = request_id(&headers)?;

    let parsed = herald_sentry::parse(&source, resource, &body)
        .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, "malformed", e.to_string()))?;
    let alert = match parsed {
        Parsed::Alert(alert) => Arc::new(alert),
        Parsed::Ignored { alert, reason } => {
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
        source: source.clone(),
        request_id: request_id.clone(),
        received_at: now,
        alert: alert.clone(),
        raw,
        deliveries,
    };
    let accepted = store(&state, new)
        .await
        .map_err(|e| store_refusal(&source, &e))?;
    crate::metrics::alert_stored(
        &source,
        &alert.resource,
        accepted.delivery_ids.len(),
        accepted.duplicate,
    );
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

fn body_refusal(state: &AppState, rejection: BytesRejection) -> Refusal {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        let limit = state.config().server.max_body_bytes;
        Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!(
                "the body is larger than {limit} bytes (server.max_body_bytes); raise it if Sentry's payloads are this big"
            ),
        )
    } else {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "unreadable_body",
            format!("cannot read the body: {}", rejection.body_text()),
        )
    }
}

fn store_refusal(source: &str, error: &StoreError) -> Refusal {
    let chain = error_chain(error);
    tracing::error!(source = %source, error = %chain, "cannot store an alert; answering 5xx so Sentry may retry");
    match error {
        StoreError::Closed => Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "herald is shutting down; send again later",
        ),
        _ => Refusal::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        ),
    }
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
    }
}

/// Path segments and headers are the caller's text; keep messages short.
fn shorten(value: &str) -> String {
    const MAX: usize = 80;
    match value.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &value[..cut]),
        None => value.to_owned(),
    }
}

pub(crate) async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    match state.store().ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ready" }))).into_response(),
        Err(e) => {
            tracing::warn!(error = %error_chain(&e), "not ready: the store does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable" })),
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
