//! The HTTP side of the sources: each registered source kind's endpoints are translated here
//! into a request head for [`ingest`](crate::ingest::ingest) and its answer back into a
//! response; the health probes and the fallback live here too. Nothing here knows a source
//! type, and nothing here calls a sink.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use herald_core::source::{Answer, Endpoint, Head, Refusal, SourceFactory};
use serde_json::json;

use crate::AppState;
use crate::errors::error_chain;
use crate::frontdoor::Ticket;

/// One endpoint of a source kind, as the router mounted it.
pub(crate) struct Mounted {
    pub(crate) kind: Arc<dyn SourceFactory>,
    pub(crate) endpoint: Endpoint,
}

/// A request to a source endpoint: translated into a [`Head`], taken by
/// [`ingest`](crate::ingest::ingest), and its answer or refusal sent back as the source kind
/// shaped it.
pub(crate) async fn take(
    mounted: Arc<Mounted>,
    state: AppState,
    params: Vec<(String, String)>,
    query: Option<String>,
    headers: HeaderMap,
    ticket: Option<Ticket>,
    body: Body,
) -> Response {
    let head = Head {
        endpoint: &mounted.endpoint,
        headers: &headers,
        query: query.as_deref(),
        params: &params,
        now: state.clock().now(),
    };
    match crate::ingest::ingest(&state, mounted.kind.as_ref(), &head, body, ticket.as_ref()).await {
        Ok(answer) => respond(answer),
        Err(refusal) => refuse(mounted.kind.as_ref(), &refusal),
    }
}

/// The axum route of one mounted endpoint, for requests with `filter`'s method.
pub(crate) fn route(filter: MethodFilter, mounted: Arc<Mounted>) -> MethodRouter<AppState> {
    on(
        filter,
        move |State(state): State<AppState>,
              params: Option<Path<Vec<(String, String)>>>,
              RawQuery(query): RawQuery,
              headers: HeaderMap,
              ticket: Option<Extension<Ticket>>,
              body: Body| {
            let mounted = mounted.clone();
            async move {
                let params = params.map(|Path(p)| p).unwrap_or_default();
                let ticket = ticket.map(|t| t.0);
                take(mounted, state, params, query, headers, ticket, body).await
            }
        },
    )
}

fn respond(answer: Answer) -> Response {
    let (parts, body) = answer.into_parts();
    Response::from_parts(parts, Body::from(body))
}

/// A refusal as the source kind shapes it. The body was not read (or not all of it), so the
/// connection cannot carry another request: saying so keeps a client from reusing it and
/// failing there.
fn refuse(kind: &dyn SourceFactory, refusal: &Refusal) -> Response {
    let mut response = respond(kind.refuse(refusal));
    if refusal.unread {
        response.headers_mut().insert(
            axum::http::header::CONNECTION,
            HeaderValue::from_static("close"),
        );
    }
    response
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

/// Any other request: `404`. One under a source endpoint's fixed prefix (`/hooks/`) is a
/// refusal of that kind, shaped, counted and remembered as such; any other path is answered in
/// the first registered kind's shape without being counted, so scanners grow no series.
pub(crate) async fn not_found(State(state): State<AppState>, uri: Uri) -> Response {
    let kinds = state.source_kinds();
    let under = kinds.factories().find_map(|kind| {
        kind.endpoints().into_iter().find_map(|endpoint| {
            let prefix = endpoint.path.split('{').next().unwrap_or_default();
            let rest = uri
                .path()
                .strip_prefix(prefix)
                .filter(|_| prefix.len() > 1)?;
            // The segment where the template names the source, when it does.
            let name = endpoint
                .path
                .strip_prefix(prefix)
                .filter(|t| t.starts_with("{source}"))
                .map(|_| rest.split('/').next().unwrap_or_default());
            Some((kind.clone(), name))
        })
    });
    let refusal = no_such_endpoint_refusal(&state);
    let Some((kind, name)) = under else {
        return match kinds.factories().next() {
            Some(kind) => refuse(kind.as_ref(), &refusal),
            None => (
                StatusCode::NOT_FOUND,
                Json(json!({ "error": refusal.message })),
            )
                .into_response(),
        };
    };
    let live = state.live();
    let source = name.filter(|n| {
        live.sources
            .get(*n)
            .is_some_and(|s| s.kind() == kind.kind())
    });
    crate::ingest::refused(&state, source, None, &refusal);
    refuse(kind.as_ref(), &refusal)
}

/// The `404` for a path herald does not serve, naming the source endpoints it does.
fn no_such_endpoint_refusal(state: &AppState) -> Refusal {
    let endpoints: Vec<String> = state
        .source_kinds()
        .factories()
        .flat_map(|kind| kind.endpoints())
        .map(|e| format!("{} {}", e.method, e.path.replace("{source}", "<source>")))
        .collect();
    Refusal::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "no such endpoint; sources take requests at {}",
            endpoints.join(", ")
        ),
    )
}

/// The `404` for a path herald does not serve (`/metrics` without a recorder, the admin API
/// without a token), not counted as a refusal.
pub(crate) fn no_such_endpoint(state: &AppState) -> Response {
    let refusal = no_such_endpoint_refusal(state);
    match state.source_kinds().factories().next() {
        Some(kind) => refuse(kind.as_ref(), &refusal),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": refusal.message })),
        )
            .into_response(),
    }
}
