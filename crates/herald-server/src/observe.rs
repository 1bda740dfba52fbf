//! The HTTP side of the metrics: `GET /metrics` (the Prometheus exposition, with the store's
//! queue gauges read at scrape time) and the layer that counts and logs refused webhooks by
//! the `Sentry-Hook-Error` code the handler answered with, so the handler itself needs no
//! bookkeeping on its refusal paths.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::hooks::{HOOK_ERROR_HEADER, REFUSAL_CODES, RefusalDetail, error_chain};
use crate::{AppState, metrics};

/// `GET /metrics`: `404` when the process has no recorder installed.
pub(crate) async fn scrape(State(state): State<AppState>) -> Response {
    if !metrics::enabled() {
        return crate::hooks::not_found().await.into_response();
    }
    let store = state.store();
    match (store.queue_depth().await, store.oldest_pending().await) {
        (Ok(depth), Ok(oldest)) => {
            let now = state.clock().now();
            let age = oldest.map_or(0.0, |at| {
                crate::reload::unix_seconds(now) - crate::reload::unix_seconds(at)
            });
            metrics::set_queue(&state.sink_names(), &depth, age.max(0.0));
        }
        (Err(e), _) | (_, Err(e)) => {
            // The counters are still worth serving; the queue gauges keep their last values.
            tracing::warn!(error = %error_chain(&e), "cannot read the queue figures for /metrics");
        }
    }
    let body = metrics::render().unwrap_or_default();
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// Counts every webhook refusal as `herald_alerts_rejected_total{source, reason}` and logs
/// it through the rate-limited refusal log.
pub(crate) async fn count_rejections(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let uri = request.uri().clone();
    let response = next.run(request).await;
    if let Some(code) = response.headers().get(HOOK_ERROR_HEADER)
        && let Some(rest) = uri.path().strip_prefix("/hooks/")
    {
        let source = rest.split('/').next().unwrap_or_default();
        // The label set and the log's keys must not grow with what callers send: unknown
        // names are one label, and codes are the handler's own.
        let source = if state.live().sources.contains_key(source) {
            source
        } else {
            "unknown"
        };
        let code = code.as_bytes();
        let reason = REFUSAL_CODES
            .iter()
            .find(|c| c.as_bytes() == code)
            .copied()
            .unwrap_or("other");
        metrics::alert_rejected(source, reason);
        let detail = response.extensions().get::<RefusalDetail>().map(|d| d.0);
        if let Some(line) =
            state
                .refusals()
                .refused(source, reason, detail, tokio::time::Instant::now())
        {
            line.log();
        }
    }
    response
}
