//! [`SlackSink`]: one HTTP request per attempt (to the incoming webhook, or to
//! `chat.postMessage`), then a verdict on Slack's answer: a receipt, worth a retry, or refused
//! for good. Also [`SlackFactory`], which checks the settings when the config loads.
//!
//! A templated `channel` is rendered, then checked against `allowed` ([`AllowedDestinations`]):
//! a channel that is not allowed is swapped for `fallback` (logged at warn) or refuses the
//! delivery. An issue's stored thread is used only when it was started in the channel this
//! notification goes to, so the first event of an issue cannot pull the later ones into its
//! channel.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use herald_core::config::{Diagnostics, Node};
use herald_core::destination::{AllowedDestinations, Chosen, DestinationSettings, shown};
use herald_core::sink::SinkContext;
use herald_core::template::{Templates, escape_none};
use herald_core::{Notification, Pace, Receipt, Sink, SinkError, SinkFactory, Thread};
use reqwest::header::CONTENT_TYPE;
use serde::Deserialize;
use serde_json::Value;

use crate::config::{Mode, SlackConfig};
use crate::render::{Overrides, escape_mrkdwn, escape_plain, render};

/// Web API errors that say "not now" rather than "never" (Slack's docs list these as
/// transient); every other `ok: false` is final.
pub const RETRYABLE_ERRORS: &[&str] = &[
    "ratelimited",
    "rate_limited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
];

/// What Slack's error codes mean and what to do about them, for the ones an operator meets;
/// the code is kept as Slack wrote it so it can be looked up.
pub fn hint(code: &str) -> Option<&'static str> {
    Some(match code {
        "no_service" | "no_service_id" | "no_team" | "team_disabled" => {
            "the incoming webhook was revoked or its app removed; make a new webhook URL"
        }
        "invalid_token" => "the webhook URL's token is not valid; make a new webhook URL",
        "invalid_auth" | "not_authed" => "the token is wrong or missing; check token",
        "token_revoked" | "token_expired" | "account_inactive" => {
            "the token was revoked or its user deactivated; install the app again for a new token"
        }
        "missing_scope" | "no_permission" => {
            "the token lacks the chat:write scope; add it and install the app again"
        }
        "channel_not_found" => {
            "the channel does not exist or the app cannot see it; check channel (a private one needs the app invited)"
        }
        "not_in_channel" => "the app is not a member of the channel; invite it there",
        "is_archived" | "channel_is_archived" => {
            "the channel is archived; unarchive it or choose another"
        }
        "action_prohibited" | "posting_to_general_channel_denied" | "restricted_action" => {
            "the workspace's settings forbid this post; ask a Slack admin or choose another channel"
        }
        "ratelimited" | "rate_limited" => "Slack is limiting the rate; herald retries later",
        "invalid_payload"
        | "invalid_blocks"
        | "invalid_blocks_format"
        | "no_text"
        | "msg_too_long"
        | "msg_blocks_too_long"
        | "too_many_attachments" => "Slack refused the message's shape; check the sink's template",
        _ => return None,
    })
}

/// `code (hint)` when the code has a hint, else the code.
fn explained(code: &str) -> String {
    match hint(code) {
        Some(h) => format!("{code} ({h})"),
        None => code.to_owned(),
    }
}

/// The longest excerpt of an answer kept in a receipt or an error.
const MAX_DETAIL_CHARS: usize = 300;
/// `allowed` and `fallback` as the config hints show them.
const EXAMPLE: &str =
    r##"allowed: ["#alerts-payments", "~#alerts-mobile-.*"] and fallback: "#alerts-triage""##;

/// Builds `type: slack` sinks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SlackFactory;

impl SinkFactory for SlackFactory {
    fn kind(&self) -> &'static str {
        "slack"
    }

    fn build(&self, ctx: SinkContext<'_>) -> Option<Arc<dyn Sink>> {
        let config = ctx.diag.typed::<SlackConfig>(ctx.node)?;
        let sink = SlackSink::from_config(ctx.name, &config, ctx.node, ctx.diag)?;
        Some(Arc::new(sink))
    }
}

/// Posts alerts to Slack. `Debug` shows no token and no webhook URL.
#[derive(Debug)]
pub struct SlackSink {
    name: String,
    mode: Mode,
    timeout: Duration,
    /// `text` (mrkdwn-escaped values).
    mrkdwn: Templates,
    /// `title` (plain_text: mentions neutralised, no entities).
    plain: Templates,
    /// `channel`: a JSON field, not markup, so values are printed as they are.
    raw: Templates,
    /// What the `channel` template may render to (bot mode).
    destinations: Option<AllowedDestinations>,
    /// Reply in an issue's thread and update its first message (bot mode).
    threads: bool,
    reply_broadcast: bool,
}

/// Slack's pace: about one message per second per channel (chat.postMessage and incoming
/// webhooks alike; Slack tolerates short bursts, then answers `429`). The dispatcher spaces
/// a sink's posts to one channel this far apart ([`Sink::pace`]).
pub const PACE: Duration = Duration::from_secs(1);

/// Where an issue's first message lives, as the sink keeps it in the dispatcher's thread
/// table ([`Thread::reference`]): Slack's channel id and the message's `ts`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct ThreadRef {
    pub channel: String,
    pub ts: String,
}

impl ThreadRef {
    /// The reference as the dispatcher keeps it.
    pub fn encode(&self) -> String {
        serde_json::json!({"channel": self.channel, "ts": self.ts}).to_string()
    }

    /// A kept reference; `None` when it is not one this sink wrote.
    pub fn decode(reference: &str) -> Option<ThreadRef> {
        serde_json::from_str(reference).ok()
    }
}

impl SlackSink {
    /// Checks `config` (from the sink's mapping `node`) and compiles its templates, reporting
    /// every problem to `diag` at its key. `None` when anything was wrong.
    pub fn from_config(
        name: &str,
        config: &SlackConfig,
        node: &Node,
        diag: &mut Diagnostics,
    ) -> Option<SlackSink> {
        let mode = config.mode(node, diag);
        let mut ok = true;
        let template_node = node.get("template");
        let at = |key: &str| {
            template_node
                .and_then(|t| t.get(key))
                .or(template_node)
                .unwrap_or(node)
                .clone()
        };
        let mut mrkdwn = Templates::new(escape_mrkdwn);
        if let Some(text) = &config.template.text {
            ok &= mrkdwn.add("text", text, &at("text"), diag);
        }
        let mut plain = Templates::new(escape_plain);
        if let Some(title) = &config.template.title {
            ok &= plain.add("title", title, &at("title"), diag);
        }
        let mut raw = Templates::new(escape_none);
        let mut destinations = None;
        if let (Some(channel), Some(Mode::Bot { .. })) = (&config.channel, &mode) {
            let at = node.get("channel").unwrap_or(node);
            ok &= raw.add("channel", channel, at, diag);
            let settings = DestinationSettings {
                key: "channel",
                noun: "channel",
                value: channel,
                allowed: config.allowed.as_deref(),
                fallback: config.fallback.as_deref(),
                example: EXAMPLE,
            };
            destinations = AllowedDestinations::check(settings, node, diag);
            ok &= destinations.is_some();
        }
        Some(SlackSink {
            name: name.to_owned(),
            mode: mode.filter(|_| ok)?,
            timeout: Duration::from_secs(config.timeout_seconds),
            threads: config.threads,
            reply_broadcast: config.reply_broadcast,
            mrkdwn,
            plain,
            raw,
            destinations,
        })
    }

    /// The configured name of this sink.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The channel a bot-mode message for `n` goes to: the rendered `channel` when it is
    /// allowed, else the fallback; `None` for an incoming webhook, whose channel is fixed.
    /// The error is the reason to refuse the delivery: a template that failed, or a channel
    /// not allowed with no fallback.
    pub fn channel(&self, n: &Notification) -> Result<Option<Chosen>, String> {
        let (Mode::Bot { .. }, Some(destinations)) = (&self.mode, &self.destinations) else {
            return Ok(None);
        };
        let rendered = self
            .raw
            .render("channel", n)
            .map_err(|e| format!("cannot render the message: {e}"))?;
        let chosen = destinations.choose(&rendered)?;
        if chosen.destination().is_empty() {
            return Err(
                "cannot render the message: the \"channel\" template rendered empty text".into(),
            );
        }
        Ok(Some(chosen))
    }

    /// The JSON body this sink posts for `n`.
    pub fn body(&self, n: &Notification) -> Result<Value, String> {
        let chosen = self.channel(n)?;
        self.body_to(n, chosen.as_ref().map(Chosen::destination))
    }

    /// The JSON body for `n`, posted to `channel` (bot mode).
    fn body_to(&self, n: &Notification, channel: Option<&str>) -> Result<Value, String> {
        let overrides = Overrides {
            title: self
                .plain
                .has("title")
                .then(|| self.plain.render("title", n))
                .transpose()
                .map_err(|e| format!("cannot render the message: {e}"))?,
            text: self
                .mrkdwn
                .has("text")
                .then(|| self.mrkdwn.render("text", n))
                .transpose()
                .map_err(|e| format!("cannot render the message: {e}"))?,
        };
        Ok(render(n, &overrides, channel))
    }
}

#[async_trait]
impl Sink for SlackSink {
    fn kind(&self) -> &'static str {
        "slack"
    }

    async fn deliver(&self, n: &Notification) -> Result<Receipt, SinkError> {
        let refuse = SinkError::refused;
        let chosen = self.channel(n).map_err(refuse)?;
        let channel = chosen.as_ref().map(Chosen::destination);
        let body = self.body_to(n, channel).map_err(refuse)?;
        if let Some(Chosen::Fallback { to, refused }) = &chosen {
            tracing::warn!(
                sink = %self.name,
                channel = %shown(refused),
                fallback = %to,
                "alert data chose a channel that is not in \"allowed\"; sending to the fallback"
            );
        }
        // A thread started in another channel (a first event whose tags chose the fallback,
        // say) is not this message's: it would reply and rewrite over there.
        let thread = n
            .thread
            .as_ref()
            .filter(|t| self.threads() && Some(t.destination.as_str()) == channel)
            .and_then(|t| conversation(t, &self.name));
        let mut receipt = match (&self.mode, thread) {
            (Mode::Bot { endpoint, .. }, Some(thread)) => {
                self.converse(endpoint, body, &thread).await?
            }
            (Mode::Bot { endpoint, .. }, None) => {
                let mut receipt = self.post(endpoint, &body).await?;
                if self.threads() {
                    receipt.thread = started(&receipt);
                }
                receipt
            }
            (Mode::Webhook { url }, _) => self.post(url.expose(), &body).await?,
        };
        receipt.destination = channel.map(str::to_owned);
        if let Some(Chosen::Fallback { refused, .. }) = &chosen {
            receipt.detail = Some(format!(
                "{}; alert data chose the channel {}, which is not allowed, so it went to the fallback",
                receipt.detail.as_deref().unwrap_or("ok"),
                shown(refused)
            ));
        }
        Ok(receipt)
    }

    fn preview(&self, n: &Notification) -> Result<String, String> {
        let body = self.body(n)?;
        serde_json::to_string_pretty(&body).map_err(|e| e.to_string())
    }

    /// Only a bot can reply in a thread and update a message; an incoming webhook cannot.
    fn threads(&self) -> bool {
        self.threads && matches!(self.mode, Mode::Bot { .. })
    }

    /// Per channel: the one chosen for `n` (a channel this sink cannot render is refused by
    /// `deliver` without a post, so it needs no pace); a webhook's channel is fixed, so the
    /// sink itself stands for it.
    fn pace(&self, n: &Notification) -> Option<Pace> {
        let key = match self.channel(n) {
            Ok(Some(chosen)) => chosen.destination().to_owned(),
            Ok(None) => String::new(),
            Err(_) => return None,
        };
        Some(Pace { key, every: PACE })
    }
}

/// The kept thread of `t`, when this sink can read it.
fn conversation(t: &Thread, sink: &str) -> Option<ThreadRef> {
    let decoded = ThreadRef::decode(&t.reference);
    if decoded.is_none() {
        tracing::warn!(sink = %sink, "the issue's kept thread is not one this sink wrote; posting a new message");
    }
    decoded
}

/// The thread a new top-level message started: its channel id and `ts`, as Slack answered.
fn started(receipt: &Receipt) -> Option<String> {
    let (channel, ts) = (receipt.channel.clone()?, receipt.message_id.clone()?);
    Some(ThreadRef { channel, ts }.encode())
}

impl SlackSink {
    /// A later event of an issue: reply in the thread of its first message, then update that
    /// message to the latest state. The reply is what must arrive, so its answer decides
    /// retries; the update is best effort (a retry would post the reply twice), and its
    /// failure is noted in the receipt.
    async fn converse(
        &self,
        endpoint: &str,
        body: Value,
        thread: &ThreadRef,
    ) -> Result<Receipt, SinkError> {
        let mut reply = body.clone();
        reply["channel"] = Value::from(thread.channel.clone());
        reply["thread_ts"] = Value::from(thread.ts.clone());
        if self.reply_broadcast {
            reply["reply_broadcast"] = Value::Bool(true);
        }
        let mut receipt = self.post(endpoint, &reply).await?;
        let mut update = body;
        update["channel"] = Value::from(thread.channel.clone());
        update["ts"] = Value::from(thread.ts.clone());
        let update_url = endpoint.replace("/chat.postMessage", "/chat.update");
        if let Err(e) = self.post(&update_url, &update).await {
            receipt.detail = Some(format!("ok; first message not updated: {e}"));
        }
        Ok(receipt)
    }

    /// One POST of a JSON body and the verdict on Slack's answer.
    async fn post(&self, url: &str, body: &Value) -> Result<Receipt, SinkError> {
        let client = herald_http::client()?;
        let request = match &self.mode {
            Mode::Webhook { .. } => client.post(url),
            Mode::Bot { token, .. } => client.post(url).bearer_auth(token.expose()),
        };
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        let request = request
            // Without the charset, chat.postMessage answers with a `missing_charset` warning.
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .body(bytes);
        let answer = herald_http::send("slack", request, self.timeout).await?;
        let api = match self.mode {
            Mode::Webhook { .. } => Api::Webhook,
            Mode::Bot { .. } => Api::Bot,
        };
        classify(api, answer.status, answer.retry_after(), &answer.text)
    }
}

/// Which answer format to expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// Incoming webhook: the text `ok`, or an error code as text with a 4xx.
    Webhook,
    /// Web API: `{"ok": true, "ts": ..., "channel": ...}` or `{"ok": false, "error": ...}`.
    Bot,
}

#[derive(Deserialize)]
struct Answer {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    ts: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    response_metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    messages: Vec<String>,
}

/// Turns Slack's answer into a receipt or a [`SinkError`] saying whether to retry.
pub fn classify(
    api: Api,
    status: u16,
    retry_after: Option<Duration>,
    body: &str,
) -> Result<Receipt, SinkError> {
    let success = (200..300).contains(&status);
    let answer: Option<Answer> = serde_json::from_str(body).ok();
    if let Some(answer) = answer {
        if answer.ok && success {
            return Ok(Receipt {
                status: Some(status),
                message_id: answer.ts,
                channel: answer.channel,
                destination: None,
                detail: Some("ok".into()),
                thread: None,
            });
        }
        if !answer.ok {
            let code = answer.error.unwrap_or_else(|| "unknown_error".into());
            let mut detail = code.clone();
            if let Some(meta) = answer.response_metadata.filter(|m| !m.messages.is_empty()) {
                detail = format!("{code}: {}", meta.messages.join("; "));
            }
            // The hint is added after the excerpt so that a long message cannot cut it off.
            let detail = match hint(&code) {
                Some(h) => format!("{} ({h})", excerpt(&detail)),
                None => excerpt(&detail),
            };
            let status = Some(status);
            return if status >= Some(500)
                || status == Some(429)
                || RETRYABLE_ERRORS.contains(&code.as_str())
            {
                Err(SinkError::Unavailable {
                    status,
                    retry_after,
                    detail,
                })
            } else {
                Err(SinkError::Rejected { status, detail })
            };
        }
    }
    if success && api == Api::Webhook && body.trim() == "ok" {
        return Ok(Receipt {
            status: Some(status),
            message_id: None,
            channel: None,
            destination: None,
            detail: Some("ok".into()),
            thread: None,
        });
    }
    let body = body.trim();
    let detail = if body.is_empty() {
        format!("empty answer with status {status}")
    } else if hint(body).is_some() {
        // An incoming webhook answers its errors as a bare code (`no_service`).
        explained(body)
    } else {
        excerpt(body)
    };
    if success {
        // A 2xx that is neither `ok` nor Slack's JSON is not Slack (a proxy's login page, a
        // wrong `api_base`): retrying will not change it.
        return Err(SinkError::Rejected {
            status: Some(status),
            detail: format!("unexpected answer: {detail}"),
        });
    }
    Err(SinkError::from_status(status, retry_after, detail))
}

fn excerpt(s: &str) -> String {
    crate::render::truncate_chars(s, MAX_DETAIL_CHARS)
}

#[cfg(test)]
mod tests;
