//! The HTTP side of the metrics: `GET /metrics`, the Prometheus exposition, with the store's
//! queue gauges read at scrape time. Refusals are counted where they are made
//! (`ingest.rs`).

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::errors::error_chain;
use crate::{AppState, metrics};

/// `GET /metrics`: `404` when the process has no recorder installed.
pub(crate) async fn scrape(State(state): State<AppState>) -> Response {
    if !metrics::enabled() {
        return crate::hooks::no_such_endpoint(&state);
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
