//! herald's Sentry source: reads the webhooks Sentry sends (integration platform and the
//! legacy WebHooks plugin) into [`herald_core::Alert`]s, and checks that they come from Sentry.
//!
//! It plugs into herald's source contract ([`herald_core::source`]) as [`SentryFactory`]
//! (`type: sentry`, registered by the binary) and [`SentrySource`]: endpoints
//! `POST /hooks/{source}` (an integration-platform webhook when `Sentry-Hook-Resource` is set,
//! else the legacy plugin with its token in `?token=`) and `POST /hooks/{source}/legacy`
//! (always the legacy plugin). Before the body is read, [`SourceConfig::precheck`] decides
//! what needs none (a missing signature, a stale timestamp, a missing or wrong legacy token
//! are `401`; a `Request-ID` over 128 characters is `400`); with the body,
//! [`SourceConfig::authenticate`] checks the signature, then [`parse`] reads the payload with
//! the `Sentry-Hook-Resource` header. A [`ParseError`] is a `400`; [`Parsed::Ignored`] is a
//! `200 {"ignored": "<why>"}` that stores nothing, so Sentry does not count a payload herald
//! has no use for as a failed delivery. A stored alert is answered `202 {"id": "<alert id>",
//! "deliveries": n}` (with `"duplicate": true` for a repeated `Request-ID` and body), its
//! deduplication key the `Request-ID`, the endpoint used (`platform` or `legacy`) and the
//! body. Every refusal has a JSON body `{"error": "..."}` and a `Sentry-Hook-Error: <code>`
//! header ([`HOOK_ERROR_HEADER`]), which Sentry shows in the integration's request log.
//!
//! # Signatures
//!
//! | request | check | function |
//! |---|---|---|
//! | integration platform (has `Sentry-Hook-Resource`) | `Sentry-Hook-Signature` (or `Sentry-App-Signature` for UI-component requests; the caller passes whichever is present) = lowercase hex of HMAC-SHA256 over the **raw body bytes**, keyed with the integration's Client Secret; compared in constant time | [`verify_signature`] |
//! | integration platform, `max_skew_seconds` set | `Sentry-Hook-Timestamp` (Unix seconds) within that many seconds of now, either way; missing or unreadable is refused. Sentry does not sign it, so it is a sanity check, not replay protection | [`check_timestamp`] |
//! | legacy WebHooks plugin (no resource header) | the plugin cannot sign; a token the server takes from the callback URL is compared to `legacy_token` in constant time (digests of both are compared, so the length does not leak) | [`verify_token`] |
//!
//! [`SourceConfig::authenticate`] combines them, each endpoint with its own credential only:
//! without `client_secret` integration-platform requests are refused
//! ([`SignatureError::PlatformNotAllowed`]), without `legacy_token` legacy ones are
//! ([`SignatureError::LegacyNotAllowed`]). A source with neither is a config error
//! ([`SourceConfig::load`]) unless it says `insecure: true`, which accepts both unauthenticated
//! and is warned about at every start and reload.
//!
//! # From payload to alert
//!
//! Every alert gets `source` = the configured source name, `resource` = the header value (or
//! `legacy`), `action` = the payload's `action`, and `raw` = the whole body as JSON. Strings
//! are trimmed and empty ones count as absent; ids may be strings or numbers; a field of the
//! wrong type counts as absent. Only the container named below is required (`data.event is
//! missing` otherwise).
//!
//! **`event_alert`** (action `triggered`; requires `data.event`) and **`error`** (action
//! `created`; requires `data.error`), read from that event:
//!
//! | alert | from |
//! |---|---|
//! | project | the slug in `url` or `web_url`: `/projects/<org>/<slug>/events/` (the event's `project` is a numeric id) |
//! | level | `level`, else the `level` tag |
//! | environment | `environment`, else the `environment` tag |
//! | release | `release`, else the `release` or `sentry:release` tag |
//! | title | `title`, else `message`, else `metadata.value`, else `Sentry event` |
//! | culprit | `culprit`, else `message` |
//! | issue_id | `issue_id` |
//! | url | `web_url` |
//! | timestamp | `datetime` (ISO 8601), else `timestamp` (Unix seconds, fractional) |
//! | tags | `tags`: `[[k, v], ...]`, `{k: v}` or `[{key, value}, ...]` |
//! | event_id | `event_id`, else `id` |
//! | rule | event_alert: `data.triggered_rule`, else `data.issue_alert.title`; error: none |
//!
//! **`issue`** (actions `created`, `resolved`, `assigned`, `ignored`, `archived`,
//! `unresolved`; requires `data.issue`) and **`activity_alert`** (action `triggered`; requires
//! `data.issue`):
//!
//! | alert | from |
//! |---|---|
//! | project | `project.slug`, else `project.name` |
//! | level | `level` |
//! | title | `title`, else `metadata.title`, else `shortId` |
//! | culprit | `culprit` |
//! | issue_id / short_id | `id` / `shortId` |
//! | url | `web_url`, else `permalink` (both may be null: then none) |
//! | timestamp | `lastSeen`, else `firstSeen` |
//! | tags, environment, release, event_id | none (issue webhooks carry none) |
//! | rule | activity_alert: `data.alert.title`; issue: none |
//!
//! **`metric_alert`** (actions `critical`, `warning`, `resolved`; requires
//! `data.metric_alert`, the incident):
//!
//! | alert | from |
//! |---|---|
//! | level | from the action: `critical` → error, `warning` → warning, `resolved` → info (so a `>=error` route catches critical) |
//! | project | first of `metric_alert.projects`, else of `metric_alert.alert_rule.projects` |
//! | title | `data.description_title`, else `metric_alert.title`, else `alert_rule.name` |
//! | culprit | `data.description_text` |
//! | rule | `alert_rule.name` |
//! | environment | `alert_rule.environment` |
//! | url | `data.web_url` |
//! | issue_id | `metric-alert:<metric_alert.id>`: the incident id, prefixed so it never collides with an issue id; critical, warning and resolved of one incident share it |
//! | timestamp | when resolved `date_closed`; else `date_detected`, `date_started`, `date_created` |
//! | tags, release, event_id, short_id | none |
//!
//! **`comment`** (actions `created`, `updated`, `deleted`; fields in `data`):
//!
//! | alert | from |
//! |---|---|
//! | project | `project_slug` |
//! | issue_id | `issue_id` |
//! | title | `comment on issue <issue_id>` |
//! | culprit | `comment` (the comment's text) |
//! | timestamp | `timestamp` |
//! | level and the rest | none |
//!
//! **legacy WebHooks plugin** (no `Sentry-Hook-Resource` header; recognised by a flat object
//! with `project_slug`, `triggering_rules`, or an `event` object next to `url` or `project`;
//! anything else is a [`ParseError::NoResource`]): resource `legacy`, action `triggered`.
//!
//! | alert | from |
//! |---|---|
//! | project | `project_slug`, else `project` |
//! | level | `level`, else `event.level`, else the `level` tag |
//! | environment / release | `event.environment` / `event.release`, else the tag |
//! | title | `event.title`, else `message`, else `culprit` |
//! | culprit | `culprit`, else `message` |
//! | issue_id | `id` |
//! | url | `url` |
//! | timestamp | `event.datetime`, else `event.timestamp` |
//! | tags | `event.tags` (same shapes as above) |
//! | rule | first of `triggering_rules` |
//! | event_id | `event.event_id`, else `event.id` |
//!
//! **Limits**: every alert is held to [`herald_core::alert::limits`] (200 tags, the first ones
//! listed; each text field cut to a documented size on a character boundary), so a hostile
//! payload costs no more downstream than a normal one. `raw` is the payload as received, and
//! the tag fallbacks above (`level`, `environment`, `release`) look at every tag, also those
//! past the cap.
//! [`likely_resource`] reads a body's shape the other way round, for a body sent without
//! its header or with another one: `data.event` is an `event_alert`, `data.issue` an `issue`,
//! and so on; the legacy plugin's message and `herald route` use it to name the resource.
//!
//! **Ignored** (a [`Parsed::Ignored`] with a reason, never an error): `installation`, any other
//! resource (`seer`, `preprod_artifact`, ...), and any action not listed above (such as
//! metric_alert `open`). The ignored alert carries source, resource, action and raw.

mod config;
mod parse;
mod signature;
mod source;

pub use config::SourceConfig;
pub use parse::{ParseError, Parsed, likely_resource, parse};
pub use signature::{
    APP_SIGNATURE_HEADER, Credentials, REQUEST_ID_HEADER, RESOURCE_HEADER, SIGNATURE_HEADER,
    SignatureError, TIMESTAMP_HEADER, check_timestamp, sign, verify_signature, verify_token,
};
pub use source::{HOOK_ERROR_HEADER, REFUSAL_CODES, RESOURCES, SentryFactory, SentrySource};
