//! herald's Slack sink (`type: slack`): posts each notification as a Block Kit message,
//! through an incoming webhook or through `chat.postMessage` with a bot token.
//!
//! The binary registers it with `registry.register(herald_sink_slack::SlackFactory)`.
//!
//! # What it sends
//!
//! One alert: a `header` block with the title (plain text, at most 150 characters), a
//! `section` with level, project, environment, release, culprit and up to five tags (mrkdwn,
//! at most 3000 characters), a `context` line linking to the issue, and "and N more like
//! this" when the notification folded others in. A digest (several alerts): a header
//! ("3 alerts in backend"), a summary section (counts by level, projects, environments), then
//! one section per alert (level, linked title, project, environment, culprit), within Slack's
//! 50-block limit and a 12,000-character budget for all block text (Slack has refused
//! messages well below its documented limits); alerts that do not fit are counted in the
//! closing "and N more like this".
//! The body also carries a plain `text` (Slack uses it for notifications) and turns link
//! unfurling off. Too-long text is cut at a character boundary and ends in `…`, never inside an
//! entity or a link.
//!
//! Alert text is untrusted: [`escape_mrkdwn`] turns `&`, `<`, `>` into entities (so
//! `<!channel>`, `<@U123>` and `<url|label>` are shown, not acted on) and puts a zero-width
//! space after `@` (so `@everyone`, `@here`, `@channel` ping no one), after dropping the
//! alert's own bidirectional controls and zero-width characters (the same list as the LINE
//! sink's, [`herald_core::text`]); links are only made for `http(s)` URLs, with invisible
//! characters percent-encoded. Template literal text is the operator's and is trusted.
//!
//! # Config
//!
//! | key | meaning |
//! |---|---|
//! | `webhook_url` | incoming webhook URL (a secret); its channel is fixed by Slack |
//! | `token` | bot token (a secret) for `chat.postMessage`; needs `channel` |
//! | `channel` | the channel (bot mode only): an id, a name, or a template such as `"#alerts-{{ tags.team }}"`, which needs `allowed` |
//! | `allowed` | with a templated `channel`: the channels it may render to, exact (`#alerts-payments`) or `~regex` anchored at both ends (`~#alerts-mobile-.*`) |
//! | `fallback` | with a templated `channel`: the fixed channel for anything not allowed (logged at warn); without it such a delivery is dead with the reason |
//! | `api_base` | Web API base, default `https://slack.com/api` (for gateways and tests) |
//! | `timeout_seconds` | per attempt, default 10 |
//! | `template.text` | mrkdwn template for the main text (replaces the built-in fields) |
//! | `template.title` | template for the header |
//! | `threads` | bot mode, default `true`: the sink keeps conversations ([`herald_core::Sink::threads`]); when the dispatcher hands over an issue's first message ([`herald_core::Notification::thread`], a [`ThreadRef`] encoded as JSON), reply in its thread (`thread_ts`) and update it (`chat.update`, best effort) instead of posting anew; a new top-level message returns its channel and `ts` in [`herald_core::Receipt::thread`] |
//! | `reply_broadcast` | with `threads`, also show replies in the channel (default `false`) |
//!
//! Tags and other alert data are written by whoever can make an SDK send an event, so a
//! templated `channel` only goes where `allowed` says; anything else goes to `fallback`. A
//! stored thread is used only when it was started in the channel this message goes to: the
//! first event of an issue cannot pull the later ones into its channel.
//!
//! Whatever the routes say, a sink posts to one channel at most about once a second (Slack's
//! documented pace): the sink states it ([`herald_core::Sink::pace`], keyed by the chosen
//! channel, or by the sink for an incoming webhook) and the dispatcher spaces the attempts;
//! `deliver` itself never waits. An incoming webhook cannot thread, so its deliveries never
//! read or write the dispatcher's thread table.
//!
//! Exactly one of `webhook_url` and `token` must be set. For example:
//!
//! ```yaml
//! sinks:
//!   slack-alerts:
//!     type: slack
//!     token: ${SLACK_BOT_TOKEN}
//!     channel: "#alerts-{{ tags.team }}"
//!     allowed: ["#alerts-payments", "~#alerts-mobile-.*"]
//!     fallback: "#alerts-triage"
//!     timeout_seconds: 5
//!     template:
//!       text: "*{{ level }}* in {{ project }}: {{ title }}"
//!   slack-hook:
//!     type: slack
//!     webhook_url: ${SLACK_WEBHOOK_URL}
//! ```
//!
//! # Answers
//!
//! | Slack answers | result |
//! |---|---|
//! | 2xx `ok` (incoming webhook) | [`Receipt`](herald_core::Receipt) without a message id (webhooks do not say) |
//! | 2xx `{"ok": true, "ts", "channel"}` (Web API) | receipt with `message_id` = `ts` and `channel` |
//! | `{"ok": false, "error": E}`, E in [`RETRYABLE_ERRORS`] (`ratelimited`, `internal_error`, `fatal_error`, `service_unavailable`, `request_timeout`) | `Unavailable` |
//! | `{"ok": false, "error": E}`, any other E (`channel_not_found`, `invalid_auth`, `not_in_channel`, `is_archived`, `token_revoked`, `invalid_blocks`, ...) | `Rejected` with E |
//! | 429 (any body) | `Unavailable` with `Retry-After` seconds |
//! | 5xx, 408 | `Unavailable` |
//! | other 4xx (webhook texts `invalid_payload`, `action_prohibited`, `channel_not_found`, `no_service`, `channel_is_archived`, ...) | `Rejected` with the text |
//! | 2xx with anything else (not Slack) | `Rejected` |
//! | connection failure, timeout | `Unreachable` |
//! | a template that fails to render, a channel not allowed | `Rejected` without a status |
//!
//! No error, log line or `Debug` output contains the token or the webhook URL.

mod config;
mod render;
mod sink;

pub use config::{DEFAULT_API_BASE, Mode, SlackConfig, TemplateConfig};
pub use render::{
    MAX_BLOCKS, MAX_HEADER_CHARS, MAX_SECTION_CHARS, MAX_TOTAL_CHARS, Overrides, escape_mrkdwn,
    escape_plain, render, truncate_chars, truncate_mrkdwn,
};
pub use sink::{Api, PACE, RETRYABLE_ERRORS, SlackFactory, SlackSink, ThreadRef, classify};

#[cfg(test)]
mod tests;
