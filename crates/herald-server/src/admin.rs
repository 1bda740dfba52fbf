//! The admin API: delivery and alert history, retries, the route tree, the routing dry run
//! and config reload, for operators and the `herald deliveries` commands. Every route here
//! sits behind [`require_admin`]: a bearer token equal to `server.admin_token`. Without a
//! token in the config the admin API does not exist (every path answers `404`, as an unknown
//! one would); a missing or wrong token gets `401` with a body that tells nothing else. The
//! token is compared in constant time, over SHA-256 digests so that its length leaks neither.
//!
//! | request | answer |
//! |---|---|
//! | `GET /api/v1/deliveries?status=&sink=&route=&project=&since=&until=&limit=&cursor=` | `{"items": [delivery...], "next_cursor": id or null}`, newest first |
//! | `GET /api/v1/alerts?source=&project=&level=&route=&since=&until=&limit=&cursor=` | `{"items": [alert...], "next_cursor": ...}` |
//! | `GET /api/v1/alerts/{id}/explain` | where that alert went (`explain.rs`); `{id}` is herald's alert id, a Sentry `Request-ID`, event id or issue id; `404` when none matches |
//! | `GET /api/v1/deliveries/{id}/attempts` | `{"delivery_id", "attempts": [attempt...]}`, first to last: `number`, `started_at`, `finished_at`, `outcome` (`delivered`, `retried`, `dead`), `status` (the provider's, `null` for a network cause), `error`, `latency_ms`; `404` when no delivery or attempt has that id |
//! | `POST /api/v1/deliveries/{id}/retry` | `200 {"id", "status": "pending"}`; `404` unknown; `409` when not dead |
//! | `POST /api/v1/deliveries/retry?<the delivery filters>` | retries every dead delivery matching: `{"retried": n, "ids": [...]}` |
//! | `GET /api/v1/routes` | the route tree as JSON |
//! | `POST /api/v1/route-test?resource=&source=` (body: a payload) | the JSON of `herald route --format json` |
//! | `POST /-/reload` | `200` with what changed, or `400` with the config's errors (the running config stays) |
//!
//! `since` and `until` take an RFC 3339 time (`2025-06-01T00:00:00Z`) or a duration before
//! now (`90m`, `2h`, `1d`). `limit` is 1 to 500 (default 50). Paging is by cursor: pass the
//! page's `next_cursor` back as `cursor` for the next one.

use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use herald_core::route::{MatchKey, Route};
use herald_store::{
    AlertFilter, Attempt, DeliveryFilter, DeliveryView, PageRequest, RetryOutcome, Status,
    StoredAlert,
};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::errors::error_chain;
use crate::reload::ReloadError;

/// The admin routes, each behind [`require_admin`].
pub fn admin_router(state: AppState) -> Router<AppState> {
    let router = Router::new()
        .route("/api/v1/deliveries", get(list_deliveries))
        .route("/api/v1/deliveries/retry", post(retry_dead))
        .route("/api/v1/deliveries/{id}/retry", post(retry_one))
        .route("/api/v1/deliveries/{id}/attempts", get(attempts))
        .route("/api/v1/alerts", get(list_alerts))
        .route("/api/v1/alerts/{id}/explain", get(explain))
        .route("/api/v1/issues/{source}/{issue_id}", get(issue))
        .route("/api/v1/routes", get(routes))
        .route("/api/v1/route-test", post(route_test))
        .route("/-/reload", post(reload));
    // Silences and the held-back record (issue 6) sit behind the same layer.
    let router = router.merge(crate::silences::router());
    router.route_layer(axum::middleware::from_fn_with_state(state, require_admin))
}

/// An admin API answer other than success: `{"error": "..."}` with its status.
#[derive(Debug)]
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError(status, message.into())
}

fn internal(e: &dyn std::error::Error) -> ApiError {
    tracing::error!(error = %error_chain(e), "admin API: store failure");
    error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

/// Lets a request through only with `Authorization: Bearer <server.admin_token>`.
pub async fn require_admin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let config = state.config();
    let Some(token) = config.server.admin_token.as_ref() else {
        return crate::hooks::no_such_endpoint(&state);
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let ok = given.is_some_and(|given| {
        let want = Sha256::digest(token.expose().as_bytes());
        let got = Sha256::digest(given.as_bytes());
        bool::from(want.ct_eq(&got))
    });
    if !ok {
        let mut response = error(StatusCode::UNAUTHORIZED, "unauthorized").into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        return response;
    }
    drop(config);
    next.run(request).await
}

/// The query string of the delivery list and the bulk retry.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    pub status: Option<String>,
    pub sink: Option<String>,
    pub route: Option<String>,
    pub project: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// The query string of the alert list.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertQuery {
    pub source: Option<String>,
    pub project: Option<String>,
    pub level: Option<String>,
    pub route: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// An RFC 3339 time, or a duration before `now` (`90m`, `2h`, `1d`).
pub fn parse_time(name: &str, text: &str, now: Timestamp) -> Result<Timestamp, String> {
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Ok(ts);
    }
    let span = text.parse::<jiff::SignedDuration>().ok().or_else(|| {
        // Days are not a fixed length in a Span; an operator's "1d" means 24 hours.
        let days = text.strip_suffix('d')?.parse::<i64>().ok()?;
        Some(jiff::SignedDuration::from_hours(days.checked_mul(24)?))
    });
    match span {
        Some(ago) => now
            .checked_sub(ago)
            .map_err(|e| format!("{name} \"{text}\" is out of range: {e}")),
        None => Err(format!(
            "{name} \"{text}\" is neither an RFC 3339 time (2025-06-01T00:00:00Z) nor a duration (90m, 2h, 1d)"
        )),
    }
}

fn time(name: &str, text: Option<&str>, now: Timestamp) -> Result<Option<Timestamp>, ApiError> {
    text.filter(|t| !t.is_empty())
        .map(|t| parse_time(name, t, now))
        .transpose()
        .map_err(|e| error(StatusCode::BAD_REQUEST, e))
}

fn limit(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(0),
        Some(n @ 1..=herald_store::admin::MAX_PAGE) => Ok(n),
        Some(n) => Err(error(
            StatusCode::BAD_REQUEST,
            format!(
                "limit \"{n}\" is out of range (1 to {})",
                herald_store::admin::MAX_PAGE
            ),
        )),
    }
}

fn empty_none(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

impl DeliveryQuery {
    fn filter(&self, now: Timestamp) -> Result<DeliveryFilter, ApiError> {
        let status = match self.status.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(
                s.parse::<Status>()
                    .map_err(|e| error(StatusCode::BAD_REQUEST, e))?,
            ),
        };
        Ok(DeliveryFilter {
            status,
            sink: empty_none(self.sink.clone()),
            route: empty_none(self.route.clone()),
            project: empty_none(self.project.clone()),
            since: time("since", self.since.as_deref(), now)?,
            until: time("until", self.until.as_deref(), now)?,
        })
    }
}

fn query<T: Default>(
    query: Result<Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, ApiError> {
    query.map(|Query(q)| q).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            format!("bad query string: {}", e.body_text()),
        )
    })
}

/// A delivery as the admin API shows it.
pub fn delivery_json(view: &DeliveryView) -> Value {
    let d = &view.delivery;
    json!({
        "id": d.id,
        "alert_id": d.alert_id,
        "project": view.project,
        "title": view.title,
        "route": d.route,
        "sink": d.sink,
        "status": d.status.as_str(),
        "attempts": d.attempts,
        "next_attempt_at": d.next_attempt_at.to_string(),
        "lease_until": d.lease_until.map(|t| t.to_string()),
        "last_error": d.last_error,
        "receipt": d.receipt,
        "created_at": d.created_at.to_string(),
        "updated_at": d.updated_at.to_string(),
    })
}

/// One attempt of a delivery as the admin API shows it.
pub fn attempt_json(a: &Attempt) -> Value {
    json!({
        "number": a.number,
        "started_at": a.started_at.to_string(),
        "finished_at": a.finished_at.to_string(),
        "outcome": a.outcome.as_str(),
        "status": a.status,
        "error": a.error,
        "latency_ms": u64::try_from(a.latency.as_millis()).unwrap_or(u64::MAX),
    })
}

fn alert_json(alert: &StoredAlert) -> Value {
    json!({
        "id": alert.id,
        "source": alert.source,
        "request_id": alert.request_id,
        "received_at": alert.received_at.to_string(),
        "alert": alert.alert.to_json(),
    })
}

async fn list_deliveries(
    State(state): State<AppState>,
    q: Result<Query<DeliveryQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let result = async {
        let q = query(q)?;
        let filter = q.filter(state.clock().now())?;
        let page = PageRequest {
            limit: limit(q.limit)?,
            cursor: empty_none(q.cursor),
        };
        let page = state
            .store()
            .list_deliveries(&filter, &page)
            .await
            .map_err(|e| internal(&e))?;
        let items: Vec<Value> = page.items.iter().map(delivery_json).collect();
        Ok::<_, ApiError>(Json(
            json!({ "items": items, "next_cursor": page.next_cursor }),
        ))
    };
    result.await.into_response()
}

async fn list_alerts(
    State(state): State<AppState>,
    q: Result<Query<AlertQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let result = async {
        let q = query(q)?;
        let now = state.clock().now();
        let filter = AlertFilter {
            source: empty_none(q.source),
            project: empty_none(q.project),
            level: empty_none(q.level).map(|l| l.to_ascii_lowercase()),
            route: empty_none(q.route),
            since: time("since", q.since.as_deref(), now)?,
            until: time("until", q.until.as_deref(), now)?,
        };
        let page = PageRequest {
            limit: limit(q.limit)?,
            cursor: empty_none(q.cursor),
        };
        let page = state
            .store()
            .list_alerts(&filter, &page)
            .await
            .map_err(|e| internal(&e))?;
        let items: Vec<Value> = page.items.iter().map(alert_json).collect();
        Ok::<_, ApiError>(Json(
            json!({ "items": items, "next_cursor": page.next_cursor }),
        ))
    };
    result.await.into_response()
}

async fn explain(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match crate::explain::explain(&state, &id).await {
        Ok(Some(answer)) => Json(answer).into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!(
                "no alert, Sentry event, issue or Request-ID \"{}\" (herald keeps refused webhooks in memory only, the last {}, since it started; `herald alerts list` shows the stored alerts)",
                id.chars().take(128).collect::<String>(),
                crate::recent_refusals::CAPACITY
            ),
        )
        .into_response(),
        Err(e) => internal(&e).into_response(),
    }
}

async fn attempts(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let store = state.store();
    let attempts = match store.attempts(&id).await {
        Ok(attempts) => attempts,
        Err(e) => return internal(&e).into_response(),
    };
    // A delivery not attempted yet has none; a delivery the noise stage held back after an
    // attempt is no longer in `deliveries` but keeps its attempts.
    if attempts.is_empty() {
        match store.delivery(&id).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                return error(
                    StatusCode::NOT_FOUND,
                    format!("no delivery \"{id}\"; `herald deliveries list` shows the ids"),
                )
                .into_response();
            }
            Err(e) => return internal(&e).into_response(),
        }
    }
    let attempts: Vec<Value> = attempts.iter().map(attempt_json).collect();
    Json(json!({ "delivery_id": id, "attempts": attempts })).into_response()
}

/// An issue of a source that groups events itself: first and last seen, and its event count.
async fn issue(
    State(state): State<AppState>,
    Path((source, issue_id)): Path<(String, String)>,
) -> Response {
    match state.store().issue(&source, &issue_id).await {
        Ok(Some(issue)) => Json(json!({
            "source": issue.source,
            "issue_id": issue.issue_id,
            "first_seen": issue.first_seen,
            "last_seen": issue.last_seen,
            "events": issue.events,
        }))
        .into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!(
                "no issue \"{}\" of source \"{}\"; an alert's issue_id names it (`herald alerts list`)",
                crate::ingest::shorten(&issue_id),
                crate::ingest::shorten(&source)
            ),
        )
        .into_response(),
        Err(e) => internal(&e).into_response(),
    }
}

async fn retry_one(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match state.store().retry_delivery(&id, state.clock().now()).await {
        Ok(RetryOutcome::Requeued) => {
            state.wake().notify_one();
            tracing::info!(delivery_id = %id, "dead delivery requeued by an operator");
            Json(json!({ "id": id, "status": "pending" })).into_response()
        }
        Ok(RetryOutcome::NotFound) => error(
            StatusCode::NOT_FOUND,
            format!("no delivery \"{id}\"; `herald deliveries list` shows the ids"),
        )
        .into_response(),
        Ok(RetryOutcome::NotDead(status)) => error(
            StatusCode::CONFLICT,
            format!("delivery \"{id}\" is {status}; only dead deliveries are retried"),
        )
        .into_response(),
        Err(e) => internal(&e).into_response(),
    }
}

async fn retry_dead(
    State(state): State<AppState>,
    q: Result<Query<DeliveryQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let result = async {
        let q = query(q)?;
        let filter = q.filter(state.clock().now())?;
        let ids = state
            .store()
            .retry_dead(&filter, state.clock().now())
            .await
            .map_err(|e| internal(&e))?;
        if !ids.is_empty() {
            state.wake().notify_one();
        }
        tracing::info!(
            retried = ids.len(),
            "dead deliveries requeued by an operator"
        );
        Ok::<_, ApiError>(Json(json!({ "retried": ids.len(), "ids": ids })))
    };
    result.await.into_response()
}

/// One route and its children as JSON: name, conditions as written, sinks, `continue`, and
/// the line it was written on.
pub fn route_json(route: &Route) -> Value {
    let conditions: serde_json::Map<String, Value> = route
        .conditions
        .iter()
        .map(|(key, matcher)| {
            let key = match key {
                MatchKey::Field(field) => field.name().to_owned(),
                MatchKey::Tag(tag) => format!("tags.{tag}"),
            };
            (key, Value::from(matcher.describe()))
        })
        .collect();
    json!({
        "name": route.name,
        "match": conditions,
        "sinks": route.sinks,
        "continue": route.continue_matching,
        "line": route.line,
        "routes": route.routes.iter().map(route_json).collect::<Vec<_>>(),
    })
}

async fn routes(State(state): State<AppState>) -> Json<Value> {
    let config = state.config();
    let routes: Vec<Value> = config.routes.routes.iter().map(route_json).collect();
    Json(json!({ "routes": routes }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteTestQuery {
    resource: Option<String>,
    source: Option<String>,
}

async fn route_test(
    State(state): State<AppState>,
    q: Result<Query<RouteTestQuery>, axum::extract::rejection::QueryRejection>,
    body: axum::body::Bytes,
) -> Response {
    let q = match query(q) {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    let live = state.live();
    let source = match q.source.filter(|s| !s.is_empty()) {
        Some(s) => match live.sources.get(&s) {
            Some(source) => source.clone(),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "unknown source \"{s}\" (sources: {})",
                        live.sources.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                )
                .into_response();
            }
        },
        None => match live.sources.values().next() {
            Some(source) => source.clone(),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "the config has no source to read the payload with",
                )
                .into_response();
            }
        },
    };
    let resource = q.resource.filter(|r| !r.is_empty());
    match source.dry_run(resource.as_deref(), &body) {
        Ok(intake) => Json(crate::dry_run::to_json(intake, &live.config.routes)).into_response(),
        Err(e) => error(
            StatusCode::BAD_REQUEST,
            format!("cannot parse the payload: {e}"),
        )
        .into_response(),
    }
}

async fn reload(State(state): State<AppState>) -> Response {
    match state.reload("api").await {
        Ok(report) => Json(json!({ "status": "reloaded", "changes": report })).into_response(),
        Err(ReloadError::Invalid(errors)) => (
            StatusCode::BAD_REQUEST,
            Json(json!({
                "error": ReloadError::Invalid(errors.clone()).to_string(),
                "errors": errors,
            })),
        )
            .into_response(),
        Err(e @ ReloadError::Unavailable) => {
            error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response()
        }
    }
}

#[cfg(test)]
mod tests;
