//! herald's Sentry SDK source (`type: sentry_sdk`): Sentry SDKs send their events straight to
//! herald through a DSN (`http(s)://PUBLIC_KEY@HERALD_HOST[:PORT]/PROJECT_ID`), and this crate
//! reads what they send and turns each event into an [`Alert`](herald_core::Alert) grouped
//! into an issue. [`SdkFactory`] and [`SdkSource`] put it on herald's source contract (see
//! [`source`]); they know no HTTP framework, and call, per request,
//!
//! 1. [`SdkSourceConfig::authenticate`] with the project id of the path
//!    (`/api/{id}/envelope/` or `/api/{id}/store/`) and the key the request [`Presented`]:
//!    `X-Sentry-Auth: Sentry sentry_key=...`, `Authorization: Sentry ...`, the `sentry_key`
//!    query parameter, or (only after reading the body, when none of those is there) the
//!    envelope header's `dsn`. An [`AuthError`] is `401` (no key, unknown project) or `403`
//!    (wrong key); keys are compared in constant time;
//! 2. [`decompress`] with `Content-Encoding` (gzip, deflate as zlib or raw, br), which stops
//!    at [`MAX_ENVELOPE_BYTES`] of output (`413`) and never holds more;
//! 3. [`parse_envelope`] (or [`parse_store`]), which keeps the one `event` item, at most
//!    [`MAX_EVENT_BYTES`] (`413`), and counts every other item by type in [`Dropped`] under a
//!    fixed label ([`item_label`]) for a metric; a malformed body is an [`EnvelopeError`]
//!    (`400`) with one sentence saying what is wrong;
//! 4. [`to_alert`] for the event: scrubbing ([`scrub`]) unless the source says
//!    `scrub: false`, the mapping below, and the [`Grouping`]. The store then sets `action`
//!    to [`ACTION_CREATED`] for an issue's first event; it stays [`ACTION_EVENT`] otherwise.
//!
//! Before storing, [`RateLimiter::check`] holds a project with `rate_limit_per_minute` to
//! that many events a minute; a [`RateLimited`] is `429` with `Retry-After` and
//! `X-Sentry-Rate-Limits` ([`RateLimited::sentry_header`]).
//!
//! [`SdkSourceConfig::load`] reads the config (with [`unique_project_ids`] across sources and
//! [`SdkSourceConfig::public_credentials`] for keys written in the file), and
//! [`Project::dsn`] makes the DSN `herald dsn` prints.
//!
//! # From event to alert
//!
//! Strings are trimmed and empty ones count as absent; a field of the wrong type counts as
//! absent.
//!
//! | alert | from |
//! |---|---|
//! | source | the source's name |
//! | resource | `sdk` |
//! | action | `event`; the store sets `created` for an issue's first event |
//! | project | the project's slug (the key under `projects:`) |
//! | level | `level` (`warn`, `critical` and the other aliases read as in webhooks), else `error` as Sentry assumes |
//! | environment / release | `environment` / `release`, else the tag of that name |
//! | title | for an exception, `Type: value` of the one raised last (the last of `exception.values`; the first line of the value; the type or value alone when the other is missing); else `logentry.formatted`, `logentry.message`, `message` (text, or the older object form), first line; else `<unlabeled event>` |
//! | culprit | `transaction`, else `culprit`, else the frame that raised last among the in-app frames (any frame when none is in-app) as `module in function` (file name for a frame without module) |
//! | issue_id | [`Grouping::issue_id`] |
//! | timestamp | `timestamp`, RFC 3339 text or Unix seconds |
//! | tags | `tags` (`{k: v}` or `[[k, v], ...]`), plus `logger` when the event has one and no such tag |
//! | event_id | `event_id`, else the envelope header's, as 32 lowercase hex digits; else a new one |
//! | url, short_id, rule | none |
//! | raw | the event as stored: scrubbed, with the `event_id` above |
//!
//! # Grouping
//!
//! See [`grouping`]: the SDK's `fingerprint` wins (`{{ default }}` expands to the default
//! key); the default key is the exception chain's types and in-app frames (module and
//! function, no line numbers), or for a message its logger and template. The issue id is 16
//! hex digits of SHA-256 over the project id and the key.
//!
//! # Kept and dropped
//!
//! `event` items become alerts: errors, messages, and the log records the logging
//! integrations send as events. Transactions, sessions, client reports, attachments,
//! profiles, check-ins, logs, spans, replays and every other item type are accepted and
//! dropped, counted in [`Envelope::dropped`].

mod auth;
mod config;
mod decompress;
mod envelope;
mod event;
pub mod grouping;
mod ratelimit;
pub mod scrub;
pub mod source;

pub use auth::{AuthError, Presented, key_from_header, key_from_query, parse_dsn};
pub use config::{DsnError, Project, SdkSourceConfig, unique_project_ids};
pub use decompress::{DecompressError, MAX_ENVELOPE_BYTES, decompress};
pub use envelope::{
    Dropped, Envelope, EnvelopeError, ITEM_LABELS, MAX_EVENT_BYTES, item_label, parse_envelope,
    parse_store,
};
pub use event::{ACTION_CREATED, ACTION_EVENT, RESOURCE, SdkEvent, to_alert};
pub use grouping::Grouping;
pub use ratelimit::{RateLimited, RateLimiter};
pub use source::{SdkFactory, SdkSource};
