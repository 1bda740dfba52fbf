//! The HTTP routes: each registered source kind's endpoints, the probes, `/metrics` and the
//! admin API, behind the body limit of `server.max_body_bytes`.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{MethodFilter, get};

use crate::{AppState, admin_router, console, hooks, observe};

/// The HTTP routes (see the crate docs). Every endpoint of every source kind the state knows
/// ([`AppState::with_source_kinds`]) is mounted, so a reload may add the first source of a
/// kind; the sources' own body limits are enforced by the ingest, which reads the body.
pub fn routes(state: AppState) -> Router {
    let mut router = Router::new();
    for kind in state.source_kinds().factories() {
        for endpoint in kind.endpoints() {
            let Ok(filter) = MethodFilter::try_from(endpoint.method.clone()) else {
                tracing::error!(
                    kind = kind.kind(),
                    method = %endpoint.method,
                    path = endpoint.path,
                    "a source kind declares a method no router serves; the endpoint is not mounted"
                );
                continue;
            };
            let path = endpoint.path;
            let mounted = Arc::new(hooks::Mounted {
                kind: kind.clone(),
                endpoint,
            });
            // The ingest reads the body itself, within the source's own limit.
            let handler = hooks::route(filter, mounted).layer(DefaultBodyLimit::disable());
            router = router.route(path, handler);
        }
    }
    router
        .route("/healthz", get(hooks::healthz))
        .route("/readyz", get(hooks::readyz))
        .route("/metrics", get(observe::scrape))
        .merge(admin_router(state.clone()))
        .merge(console::router(state.clone()))
        .fallback(hooks::not_found)
        // The ingest reads source bodies itself, within each source's limit; this bounds the
        // admin API's.
        .layer(DefaultBodyLimit::max(
            usize::try_from(state.config().server.max_body_bytes).unwrap_or(usize::MAX),
        ))
        .with_state(state)
}
