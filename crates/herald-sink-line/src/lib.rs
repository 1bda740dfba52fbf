//! herald's LINE sinks: `type: line` pushes a text message through the LINE Messaging API;
//! `type: line_notify` posts to a LINE Notify-compatible service (the public LINE Notify ended
//! on 2025-03-31, so this type is for self-hosted look-alikes only, and `herald check` warns
//! when the public URL is configured).
//!
//! The binary registers them with `registry.register(herald_sink_line::LineFactory)` and
//! `registry.register(herald_sink_line::LineNotifyFactory)`.
//!
//! # What they send
//!
//! Plain text (LINE shows no markup and has no mentions to defuse; control characters,
//! bidirectional controls and zero-width characters are dropped, the same list as the other chat
//! sink's). One alert:
//!
//! ```text
//! [ERROR] TypeError: x is undefined
//! Project: backend
//! Environment: production
//! Culprit: app.views.checkout
//! Tags: team=payments
//! https://sentry.example/issues/7/
//! ```
//!
//! A digest: `3 alerts in backend`, then `- [error] title (project / environment)` with the
//! link on the next line, for as many alerts as fit; the rest, and any folded alerts, are
//! counted in `and N more like this`. `template.text` replaces the built-in text.
//!
//! - `line`: `POST {api_base}/v2/bot/message/push` with `Authorization: Bearer
//!   {channel_access_token}`, `X-Line-Retry-Key` and the JSON body
//!   `{"to": ..., "messages": [{"type": "text", "text": ...}]}` (plus
//!   `"notificationDisabled": true` when asked). The text is at most 5000 UTF-16 code units.
//!   The retry key is the notification's idempotency key when that is a UUID, else a UUID v5
//!   derived from it ([`retry_key`]): the same on every attempt, so LINE sends the message
//!   once however often herald retries.
//! - `line_notify`: `POST {api_base}/api/notify` with `Authorization: Bearer {token}` and the
//!   form field `message` (at most 1000 characters).
//!
//! # Config
//!
//! | key | type | meaning |
//! |---|---|---|
//! | `channel_access_token` | `line` | Messaging API channel access token (a secret) |
//! | `to` | `line` | user, group or room id; a template (`"{{ tags.line_group }}"`) needs `allowed` |
//! | `allowed` | `line` | with a templated `to`: the ids it may render to, exact or `~regex` (anchored) |
//! | `fallback` | `line` | with a templated `to`: the fixed id for anything not allowed; without it such a delivery is dead |
//! | `token` | `line_notify` | access token of the Notify-compatible service (a secret) |
//! | `api_base` | both | default `https://api.line.me` / `https://notify-api.line.me` |
//! | `timeout_seconds` | both | per attempt, default 10 |
//! | `notification_disabled` | both | deliver silently, default false |
//! | `template.text` | both | template for the whole message text |
//!
//! ```yaml
//! sinks:
//!   line-ops:
//!     type: line
//!     channel_access_token: ${LINE_CHANNEL_TOKEN}
//!     to: "{{ tags.line_group }}"
//!     allowed: ["C0123456789abcdef0123456789abcdef", "~R[0-9a-f]{32}"]
//!     fallback: C0123456789abcdef0123456789abcdef
//!   notify:
//!     type: line_notify
//!     token: ${NOTIFY_TOKEN}
//!     api_base: https://notify.internal.example
//! ```
//!
//! # Answers
//!
//! | answer | `line` | `line_notify` |
//! |---|---|---|
//! | 2xx | receipt; `message_id` = `sentMessages[0].id` | receipt |
//! | 409 on attempt 2 or later | receipt: an earlier attempt was accepted under the same retry key | `Rejected` |
//! | 409 on attempt 1 | `Rejected` (the key was used by another request) | `Rejected` |
//! | 429 | `Unavailable`, with `Retry-After` when sent | `Unavailable`, with `Retry-After` or the time left to `X-RateLimit-Reset` |
//! | 5xx, 408 | `Unavailable` | `Unavailable` |
//! | 400, 401, 403, other 4xx | `Rejected` with LINE's `message` and `details` | `Rejected` with the `message` |
//! | connection failure, timeout | `Unreachable` | `Unreachable` |
//! | a template that fails to render | `Rejected` with status 0 | same |
//!
//! No error or `Debug` output contains a token.

mod config;
mod render;
mod sink;

pub use config::{
    DEFAULT_API_BASE, DEFAULT_NOTIFY_API_BASE, LineConfig, LineNotifyConfig, TemplateConfig,
};
pub use render::{MAX_NOTIFY_CHARS, MAX_TEXT_UTF16, Measure, clean, text, truncate};
pub use sink::{
    LineFactory, LineNotifyFactory, LineNotifySink, LineSink, classify_notify, classify_push,
    retry_key,
};

#[cfg(test)]
mod tests;
