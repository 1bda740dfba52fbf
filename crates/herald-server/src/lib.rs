//! herald's HTTP server: it takes alerts from its sources (Sentry's webhooks), stores each one
//! durably, answers, and leaves the sending to delivery workers that read the store. The one
//! invariant everything here serves: **the ingest never waits on a sink.** Sentry gives a
//! webhook about one second and, for internal integrations, does not retry; a slow chat provider must
//! not turn into a lost alert.
//!
//! # Homes
//!
//! `state.rs` holds what everything shares ([`AppState`], [`Live`], [`Clock`],
//! [`DeliveryPolicy`]); `router.rs` the routes ([`routes`]); `lifecycle.rs` the start and the
//! shutdown ([`serve`]); `hooks.rs` turns a request to a source endpoint into a
//! [`herald_core::source::Head`] and an answer back into a response; `ingest.rs` is the use
//! case (find the source, check, read, take, route, store, hand off, answer) and counts every
//! refusal where it is made; `errors.rs` writes an error chain for the log.
//!
//! # Endpoints ([`routes`])
//!
//! | request | answer |
//! |---|---|
//! | each endpoint of each registered source kind ([`AppState::with_source_kinds`]; Sentry's: `POST /hooks/{source}` and `POST /hooks/{source}/legacy`) | the source's answer (see `herald_sentry`) |
//! | `GET /healthz` | `200 {"status":"ok"}` while the process runs |
//! | `GET /ui/` | the operator's console ([`console`]), only while the admin API is on |
//! | `GET /readyz` | `200 {"status":"ready","unmatched_alerts":n}` when the store answers and can write, else `503 {"status":"unavailable","reason":"...","unmatched_alerts":n}`; `n` counts the alerts no route matched since start |
//!
//! The server names no source type: it mounts the endpoints the registry's kinds declare and
//! hands each request to an `Arc<dyn Source>` of the running config.
//!
//! # Taking a request ([`herald_core::Source`])
//!
//! Connections come through the [`frontdoor`], which bounds how long a client may take and how
//! much it may make herald hold. Then, in this order, the first refusal answering:
//!
//! 1. the source must be configured: the one the path's `{source}` names, of the endpoint's
//!    kind, or on an endpoint its kind's sources share, the first that claims the request;
//!    else `404 unknown_source`;
//! 2. an announced `Content-Length` must fit the source's body limit (by default
//!    `server.max_body_bytes`), else `413 body_too_large`;
//! 3. the source's `precheck` decides what needs no body (Sentry: a missing signature, a stale
//!    timestamp, a missing or wrong legacy token are `401`). Up to here nothing of the body
//!    has been read, and the answer says `Connection: close`;
//! 4. the body is read within `server.body_timeout_seconds` (`408 body_timeout`), at most the
//!    limit (`413`), its bytes held against the front door's shared budget (`503 overloaded`
//!    with `Retry-After` when requests being answered hold all of it);
//! 5. the source's `take` authenticates it over the raw bytes and turns it into zero or more
//!    alerts, each with its deduplication key, or payloads it ignores (Sentry: an
//!    installation, answered `200 {"ignored": "<why>"}` and not stored);
//! 6. for each alert (this is where a source that groups events will ask the store about the
//!    issue before routing), the routing tree picks `(route, sink)` pairs, and the alert is
//!    stored with one delivery per pair by [`herald_store::Store::accept`], or, when the
//!    running dispatcher has room, by [`herald_store::Store::accept_leased`], which takes each
//!    delivery's first lease in the same commit (`handoff.rs`);
//! 7. only once that is committed: the source's answer (Sentry: `202 {"id": "<alert id>",
//!    "deliveries": n}`); the leased deliveries go to the dispatcher in memory, or the
//!    dispatcher is woken to lease the pending ones.
//!
//! An alert that no route matches is still stored (with no delivery) and answered as stored,
//! so it can be looked up later and a routing mistake loses nothing; it is logged as a warning
//! (source, project, level, title, alert id), counted by `herald_alerts_unmatched_total` and
//! in `/readyz`'s `unmatched_alerts`. A repeated deduplication key (Sentry: the `Request-ID`
//! with the same body through the same source and endpoint) is stored once; the repeat is
//! answered with the first request's id (Sentry: `"duplicate": true`). The same id with
//! another body is a new alert, counted by `herald_alerts_request_id_reused_total`. Every
//! refusal carries a fixed code (the server's: `unknown_source`, `body_too_large`,
//! `unreadable_body`, `body_timeout`, `overloaded`, `store_unavailable`, `not_found`; the
//! source's own, such as Sentry's `unauthorized`, `malformed`, `bad_request_id`,
//! `bad_query`), shaped by the source kind (Sentry: `{"error": "..."}` and a
//! `Sentry-Hook-Error: <code>` header, which Sentry shows in the integration's request log),
//! and is counted (`herald_alerts_rejected_total`) and logged one line per source and reason
//! per minute ([`refusals`]) where it is made. Bad input never gets a `5xx`; a store that
//! cannot take the alert (closed, disk full, read-only) gets `503` with `Retry-After` and no
//! details, which go to the log. Every refusal, and every payload ignored, is also remembered
//! with its time, source, endpoint, request id, code and message in a ring of the last 1,000
//! held in memory (`recent_refusals.rs`), never in the store, so `herald why <Request-ID>` can
//! tell what became of a request that never became an alert; a restart forgets them.
//!
//! # Delivering ([`dispatcher`])
//!
//! A delivery moves `pending → in_flight → delivered | pending (retry) | dead`. The
//! dispatcher leases due deliveries in batches, only as many per sink as that sink has free
//! slots ([`DeliveryPolicy::per_sink_concurrency`]), and runs each attempt as its own task;
//! the store's group commit batches the status writes of attempts that finish together. A
//! success is `delivered` with the sink's receipt; a [`herald_core::SinkError::Rejected`] is
//! `dead` at once; any other failure is retried after an exponential, fully jittered delay
//! (never before the sink's `retry_after`) until `max_attempts` or `max_age`, then `dead`,
//! the reason kept ([`backoff`]). Each attempt carries the delivery id as idempotency key, so
//! a redelivery after a crash (the store hands out leases whose holder vanished) can be
//! recognised by the provider. Deliveries handed over at accept start without a store call;
//! the store is asked for due work only at start, when woken (work stored pending, an
//! operator's retry, a retry or hold scheduled by an attempt), while its leases keep finding
//! work, and at its next due time. So a healthy delivery costs two commits (the accept with
//! its lease, the outcome) instead of three plus a read. The hand-off is bounded
//! (`handoff::CAPACITY`); beyond it, deliveries are stored pending and leased as before.
//!
//! # Shutdown ([`serve`])
//!
//! When `stop` resolves: the listener stops accepting and in-flight requests finish; the
//! dispatcher stops leasing; attempts already running get `server.shutdown_grace_seconds` to
//! finish; the rest are cancelled and released back to `pending` (their attempt given back),
//! to be sent after the next start with the same delivery id.

pub mod admin;
pub mod backoff;
pub mod console;
pub mod dispatcher;
pub mod dry_run;
mod errors;
pub mod explain;
pub mod frontdoor;
mod handoff;
mod hooks;
mod ingest;
mod lifecycle;
pub mod metrics;
pub mod noise;
mod observe;
pub mod recent_refusals;
pub mod refusals;
pub mod reload;
mod retention;
mod router;
pub mod silences;
mod state;

pub use admin::admin_router;
pub use backoff::RetryPolicy;
pub use dispatcher::Dispatcher;
pub use lifecycle::serve;
pub use reload::{Loaded, Loader, ReloadError, ReloadReport};
pub use router::routes;
pub use state::{AppState, Clock, DeliveryPolicy, Live};
