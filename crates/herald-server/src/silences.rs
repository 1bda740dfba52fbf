//! The admin API for noise control: create, list and expire silences, and list what the noise
//! stage held back. [`router`] is merged under the admin API's bearer-token layer
//! (`admin.rs`), so nothing here checks credentials itself.
//!
//! | request | answer |
//! |---|---|
//! | `POST /api/v1/silences` `{"matchers": {...}, "ends_at" or "duration_seconds", "starts_at"?, "author", "comment"}` | `201` the silence |
//! | `GET /api/v1/silences[?all=true]` | `200 {"silences": [...]}`, those not yet ended unless `all` |
//! | `DELETE /api/v1/silences/{id}` | `200` the silence, ended now; `404` when unknown |
//! | `GET /api/v1/held-back[?outcome=&route=&sink=&folded_into=&limit=&cursor=]` | `200 {"items": [...], "next_cursor": ...}` |
//!
//! `matchers` is written like a route's `match` (`{"project": "api", "level": ">=error",
//! "tags": {"team": "web"}}`). The dispatcher's silence cache is refreshed after every change,
//! so a silence applies from its `starts_at` and stops at its `ends_at` without a restart.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use herald_store::{HeldFilter, NewSilence, PageRequest, SilenceRecord};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::errors::error_chain;

/// The silence and noise routes, to be merged under the admin layer.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/silences", get(list).post(create))
        .route("/api/v1/silences/{id}", delete(expire))
        .route("/api/v1/held-back", get(held_back))
}

fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

fn internal(e: &dyn std::error::Error) -> Response {
    tracing::error!(error = %error_chain(e), "silences API: store failure");
    refuse(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

fn shown(record: &SilenceRecord, now: Timestamp) -> serde_json::Value {
    let mut value = serde_json::to_value(record).unwrap_or_default();
    value["state"] = json!(record.state(now));
    value
}

/// The body of `POST /api/v1/silences`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSilence {
    pub matchers: serde_json::Value,
    pub starts_at: Option<Timestamp>,
    pub ends_at: Option<Timestamp>,
    pub duration_seconds: Option<u64>,
    pub author: String,
    #[serde(default)]
    pub comment: String,
}

async fn refresh(state: &AppState, now: Timestamp) {
    if let Err(e) = state.noise().reload_silences(now).await {
        tracing::error!(error = %error_chain(&e), "cannot refresh the silence cache; it is refreshed on the next change");
    }
}

async fn create(
    State(state): State<AppState>,
    body: Result<Json<CreateSilence>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(body) => body,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!("bad silence: {}", e.body_text()),
            );
        }
    };
    let now = state.clock().now();
    match create_checked(&state, body, now).await {
        Ok(record) => (StatusCode::CREATED, Json(shown(&record, now))).into_response(),
        Err(Refused::Bad(message)) => refuse(StatusCode::BAD_REQUEST, message),
        Err(Refused::Store(e)) => internal(&e),
    }
}

/// Why [`create_checked`] made no silence.
#[derive(Debug)]
pub(crate) enum Refused {
    /// The request is wrong; the message says how.
    Bad(String),
    Store(herald_store::StoreError),
}

/// Checks a silence, stores it and refreshes the dispatcher's cache: what the API and the
/// console's form both do.
pub(crate) async fn create_checked(
    state: &AppState,
    body: CreateSilence,
    now: Timestamp,
) -> Result<SilenceRecord, Refused> {
    if let Err(e) = herald_core::noise::parse_matchers(&body.matchers) {
        return Err(Refused::Bad(format!("bad matchers: {e}")));
    }
    if body.author.trim().is_empty() {
        return Err(Refused::Bad(
            "a silence needs an author; say who is muting what".into(),
        ));
    }
    let starts_at = body.starts_at.unwrap_or(now);
    let ends_at = match (body.ends_at, body.duration_seconds) {
        (Some(end), None) => end,
        (None, Some(secs)) => starts_at
            .checked_add(jiff::SignedDuration::from_secs(
                i64::try_from(secs).unwrap_or(i64::MAX),
            ))
            .unwrap_or(Timestamp::MAX),
        _ => {
            return Err(Refused::Bad(
                "give exactly one of ends_at (RFC 3339) or duration_seconds".into(),
            ));
        }
    };
    if ends_at <= starts_at || ends_at <= now {
        return Err(Refused::Bad(format!(
            "ends_at \"{ends_at}\" must be after starts_at and in the future"
        )));
    }
    let new = NewSilence {
        matchers: body.matchers,
        starts_at,
        ends_at,
        author: body.author,
        comment: body.comment,
    };
    let record = state
        .store()
        .create_silence(new, now)
        .await
        .map_err(Refused::Store)?;
    refresh(state, now).await;
    tracing::info!(silence = %record.id, author = %record.author, ends_at = %record.ends_at, "silence created");
    Ok(record)
}

/// Ends a silence now and refreshes the dispatcher's cache; `None` when none has that id.
pub(crate) async fn expire_checked(
    state: &AppState,
    id: &str,
    now: Timestamp,
) -> Result<Option<SilenceRecord>, herald_store::StoreError> {
    let record = state.store().expire_silence(id, now).await?;
    if let Some(record) = &record {
        refresh(state, now).await;
        tracing::info!(silence = %record.id, "silence expired");
    }
    Ok(record)
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    #[serde(default)]
    all: bool,
}

async fn list(State(state): State<AppState>, Query(query): Query<ListQuery>) -> Response {
    let now = state.clock().now();
    match state.store().silences(query.all, now).await {
        Ok(records) => {
            let items: Vec<_> = records.iter().map(|r| shown(r, now)).collect();
            Json(json!({ "silences": items })).into_response()
        }
        Err(e) => internal(&e),
    }
}

async fn expire(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let now = state.clock().now();
    match expire_checked(&state, &id, now).await {
        Ok(Some(record)) => Json(shown(&record, now)).into_response(),
        Ok(None) => refuse(StatusCode::NOT_FOUND, format!("no silence \"{id}\"")),
        Err(e) => internal(&e),
    }
}

#[derive(Debug, Deserialize)]
struct HeldQuery {
    outcome: Option<String>,
    route: Option<String>,
    sink: Option<String>,
    folded_into: Option<String>,
    #[serde(default)]
    limit: usize,
    cursor: Option<String>,
}

async fn held_back(State(state): State<AppState>, Query(q): Query<HeldQuery>) -> Response {
    let filter = HeldFilter {
        outcome: q.outcome,
        route: q.route,
        sink: q.sink,
        folded_into: q.folded_into,
    };
    let page = PageRequest {
        limit: q.limit,
        cursor: q.cursor,
    };
    match state.store().held_back(&filter, &page).await {
        Ok(page) => {
            Json(json!({ "items": page.items, "next_cursor": page.next_cursor })).into_response()
        }
        Err(e) => internal(&e),
    }
}

#[cfg(test)]
mod tests;
