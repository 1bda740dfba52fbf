//! The ingest use case, free of HTTP framework types: a request to one of a source kind's
//! endpoints is given to the configured source it is for, checked from its headers, its body
//! read under the front door's budgets, turned into alerts by the source, each routed and
//! stored (deliveries handed to the dispatcher), and answered by the source only after the
//! commit. Every refusal, whoever makes it, is counted, logged and remembered here, with the
//! fixed code it carries.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::StatusCode;
use herald_core::Source;
use herald_core::source::{Answer, Caller, Head, Ignored, Refusal, SourceFactory, Stored};
use herald_store::{NewAlert, StoreError};

use crate::errors::error_chain;
use crate::frontdoor::{BodyError, Ticket};
use crate::recent_refusals::Refused;
use crate::{AppState, Live};

/// The refusal codes the server itself answers with, whatever the source (a source kind
/// declares its own, [`Source::refusal_codes`]).
pub(crate) const SERVER_REFUSAL_CODES: &[&str] = &[
    "unknown_source",
    "body_too_large",
    "unreadable_body",
    "body_timeout",
    "overloaded",
    "store_unavailable",
    "not_found",
];

/// Longest alert title a log line shows; the rest is cut, so an alert cannot flood the log.
const MAX_LOGGED_TITLE: usize = 200;

/// Takes one request to an endpoint of `kind`'s. The refusal, if any, is already counted,
/// logged and remembered; the caller only shapes it (`kind.refuse`).
pub(crate) async fn ingest(
    state: &AppState,
    kind: &dyn SourceFactory,
    head: &Head<'_>,
    body: Body,
    ticket: Option<&Ticket>,
) -> Result<Answer, Refusal> {
    // One snapshot of the running config for the whole request, even if a reload lands.
    let live = state.live();
    let (name, source) = match find(&live, kind.kind(), head) {
        Ok(found) => found,
        Err(refusal) => {
            refused(state, None, Some(kind.caller(head)), &refusal);
            return Err(refusal);
        }
    };
    match take(state, &live, name, source.as_ref(), head, body, ticket).await {
        Ok((answer, ignored)) => {
            if !ignored.is_empty() {
                remember_ignored(state, name, kind.caller(head), &ignored);
            }
            Ok(answer)
        }
        Err(refusal) => {
            refused(state, Some(name), Some(kind.caller(head)), &refusal);
            Err(refusal)
        }
    }
}

/// The configured source of this kind a request is for: named by the path's `{source}`, or,
/// on an endpoint the kind's sources share, the first that claims it.
fn find<'l>(
    live: &'l Live,
    kind: &str,
    head: &Head<'_>,
) -> Result<(&'l str, &'l Arc<dyn Source>), Refusal> {
    let template = head
        .endpoint
        .path
        .replace("{source}", "<a source name from the config>");
    if let Some(name) = head.param("source") {
        return live
            .sources
            .get_key_value(name)
            .filter(|(_, source)| source.kind() == kind)
            .map(|(name, source)| (name.as_str(), source))
            .ok_or_else(|| {
                Refusal::new(
                    StatusCode::NOT_FOUND,
                    "unknown_source",
                    format!(
                        "unknown source \"{}\"; check the URL (it is {template})",
                        shorten(name)
                    ),
                )
                .unread()
            });
    }
    live.sources
        .iter()
        .find(|(_, source)| source.kind() == kind && source.claims(head))
        .map(|(name, source)| (name.as_str(), source))
        .ok_or_else(|| {
            Refusal::new(
                StatusCode::NOT_FOUND,
                "unknown_source",
                format!("no source of type \"{kind}\" in the config takes requests to {template}"),
            )
            .unread()
        })
}

/// The request given to `source`: headers, body, alerts, commit, answer.
async fn take(
    state: &AppState,
    live: &Live,
    name: &str,
    source: &dyn Source,
    head: &Head<'_>,
    body: Body,
    ticket: Option<&Ticket>,
) -> Result<(Answer, Vec<Ignored>), Refusal> {
    // Everything that can be decided from the request line and headers is decided before a
    // byte of the body is read: a request that cannot be authentic costs no memory.
    let limit = source.body_limit(live.config.server.max_body_bytes);
    let expected = content_length(head);
    let own_limit = limit != live.config.server.max_body_bytes;
    if expected.is_some_and(|n| n > limit) {
        return Err(too_large(limit, own_limit));
    }
    source.precheck(head)?;
    let body_timeout = Duration::from_secs(live.config.server.body_timeout_seconds.max(1));
    let body = read_body(body, (limit, own_limit), expected, ticket, body_timeout).await?;
    let intake = source.take(head, &body).await?;
    drop(body);
    for ignored in &intake.ignored {
        tracing::info!(
            source = %name,
            resource = %herald_core::untrusted::escaped(&ignored.alert.resource),
            action = %herald_core::untrusted::escaped(&ignored.alert.action),
            reason = %herald_core::untrusted::escaped(&ignored.reason).max_chars(1024),
            "webhook ignored"
        );
    }
    let mut stored = Vec::with_capacity(intake.alerts.len());
    for incoming in intake.alerts {
        let mut alert = incoming.alert;
        // A source that groups events into issues has the store record the issue here,
        // before routing, since routes may match on `action: created`. One atomic statement
        // per event, so two instances on one database agree on which event was the first.
        if let Some(issue) = &incoming.issue {
            let seen = state
                .store()
                .record_issue(name, issue, head.now)
                .await
                .map_err(|e| store_refusal(name, &e))?;
            if seen.created {
                Arc::make_mut(&mut alert).action = herald_core::source::ISSUE_CREATED.to_owned();
            }
        }
        let routing = live.config.routes.route(&alert);
        let deliveries: Vec<(String, String)> = routing
            .deliveries
            .iter()
            .flat_map(|(route, sinks)| sinks.iter().map(move |s| (route.clone(), s.clone())))
            .collect();
        let new = NewAlert {
            source: name.to_owned(),
            request_id: incoming.request_id.clone(),
            endpoint: herald_store::Endpoint::new(incoming.endpoint),
            received_at: head.now,
            alert: alert.clone(),
            raw: incoming.raw,
            deliveries,
        };
        let accepted = store(state, new)
            .await
            .map_err(|e| store_refusal(name, &e))?;
        let matched = !routing.routes.is_empty();
        crate::metrics::alert_stored(name, &alert.resource, matched, accepted.duplicate);
        if !matched && !accepted.duplicate {
            state.count_unmatched();
            // Stored all the same, so nothing is lost; but nobody hears of it until the
            // routes change, so it is a warning that names the alert.
            tracing::warn!(
                source = %name,
                project = alert.project.as_deref().unwrap_or(""),
                level = alert.level.map(|l| l.as_str()).unwrap_or(""),
                title = cut(&alert.title, MAX_LOGGED_TITLE).as_str(),
                alert_id = %accepted.alert_id,
                "alert matched no route: stored, sent nowhere (`herald route test` shows which route would take it)"
            );
        }
        if accepted.request_id_reused {
            crate::metrics::request_id_reused(name);
        }
        tracing::info!(
            source = %name,
            project = alert.project.as_deref().unwrap_or(""),
            level = alert.level.map(|l| l.as_str()).unwrap_or(""),
            resource = %herald_core::untrusted::escaped(&alert.resource),
            action = %herald_core::untrusted::escaped(&alert.action),
            routes = %routing.routes.join(","),
            alert_id = %accepted.alert_id,
            request_id = incoming.request_id.as_deref().unwrap_or(""),
            deliveries = accepted.delivery_ids.len(),
            duplicate = accepted.duplicate,
            "alert accepted"
        );
        stored.push(Stored {
            alert,
            alert_id: accepted.alert_id,
            deliveries: accepted.delivery_ids.len(),
            duplicate: accepted.duplicate,
        });
    }
    Ok((
        source.accepted(head, &stored, &intake.ignored),
        intake.ignored,
    ))
}

/// Counts a refusal (`herald_alerts_rejected_total`), logs it through the rate-limited
/// refusal log, and remembers it for `herald why` when it has a `caller` (a request to a
/// source endpoint, not a path herald does not serve).
pub(crate) fn refused(
    state: &AppState,
    source: Option<&str>,
    caller: Option<Caller>,
    refusal: &Refusal,
) {
    // The label set and the log's keys must not grow with what callers send: only a
    // configured source is named, and codes are fixed words.
    let source = source.unwrap_or("unknown");
    crate::metrics::alert_rejected(source, refusal.code);
    if let Some(line) = state.refusals().refused(
        source,
        refusal.code,
        refusal.detail,
        tokio::time::Instant::now(),
    ) {
        line.log();
    }
    let Some(caller) = caller else { return };
    let now = state.clock().now();
    state.recent_refusals().record(Refused {
        // Milliseconds, as every other time herald shows.
        at: now.round(jiff::Unit::Millisecond).unwrap_or(now),
        source: source.to_owned(),
        endpoint: caller.endpoint,
        request_id: caller.request_id,
        status: refusal.status.as_u16(),
        code: refusal.code,
        message: refusal.message.clone(),
    });
}

/// Payloads taken but not stored are remembered like refusals, so that `herald why
/// <Request-ID>` can say what became of them.
fn remember_ignored(state: &AppState, source: &str, caller: Caller, ignored: &[Ignored]) {
    let now = state.clock().now();
    for one in ignored {
        state.recent_refusals().record(Refused {
            at: now.round(jiff::Unit::Millisecond).unwrap_or(now),
            source: source.to_owned(),
            endpoint: caller.endpoint,
            request_id: caller.request_id.clone(),
            status: StatusCode::OK.as_u16(),
            code: "ignored",
            message: one.reason.clone(),
        });
    }
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
    // even if the sender hangs up and this request's future is dropped.
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

/// `Content-Length`, when the client sent a readable one.
fn content_length(head: &Head<'_>) -> Option<u64> {
    head.headers
        .get(axum::http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// `own`: the limit is the source's own rather than `server.max_body_bytes`.
fn too_large(limit: u64, own: bool) -> Refusal {
    let message = if own {
        format!("the body is larger than {limit} bytes, the most this source takes")
    } else {
        format!(
            "the body is larger than {limit} bytes (server.max_body_bytes); raise it if Sentry's payloads are this big"
        )
    };
    Refusal::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", message).unread()
}

/// Reads the whole body, at most `limit` bytes, within `timeout` of the headers. Its bytes
/// count against the front door's shared budget while the request lasts.
async fn read_body(
    body: Body,
    (limit, own_limit): (u64, bool),
    expected: Option<u64>,
    ticket: Option<&Ticket>,
    timeout: Duration,
) -> Result<Vec<u8>, Refusal> {
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
                return Err(too_large(limit as u64, own_limit));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf)
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

/// Path segments and headers are the caller's text; keep messages short.
pub(crate) fn shorten(value: &str) -> String {
    cut(value, 80)
}

/// `value` cut to `max` characters, `...` marking a cut.
fn cut(value: &str, max: usize) -> String {
    match value.char_indices().nth(max) {
        Some((at, _)) => format!("{}...", &value[..at]),
        None => value.to_owned(),
    }
}
