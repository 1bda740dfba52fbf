//! The settings of a `type: slack` sink, and the checks serde cannot express: exactly one of
//! `webhook_url` and `token`, a `channel` only (and always) with a token, URLs that parse, and
//! templates that compile (the sink checks a templated `channel`'s `allowed` and `fallback`). Every problem is reported at its line and column, and none of them
//! quotes a secret.

use herald_core::Secret;
use herald_core::config::{Diagnostics, Node};
use serde::{Deserialize, Deserializer};

/// The Web API base used when `api_base` is not set.
pub const DEFAULT_API_BASE: &str = "https://slack.com/api";

/// `sinks.<name>` with `type: slack`, for example
///
/// ```yaml
/// slack-alerts: { type: slack, token: "${SLACK_BOT_TOKEN}", channel: "#alerts-{{ tags.team }}", allowed: ["#alerts-payments"], fallback: "#alerts-triage" }
/// slack-hook: { type: slack, webhook_url: "${SLACK_WEBHOOK_URL}" }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// An incoming webhook URL (`https://hooks.slack.com/services/...`). The URL is itself the
    /// credential, so it is a secret. Its channel is fixed when the webhook is created.
    /// An empty value means unset.
    #[serde(default, deserialize_with = "opt_secret")]
    pub webhook_url: Option<Secret>,
    /// A bot token (`xoxb-...`, scope `chat:write`) for `chat.postMessage`. Needs `channel`.
    /// An empty value means unset.
    #[serde(default, deserialize_with = "opt_secret")]
    pub token: Option<Secret>,
    /// Where bot-token messages go: a channel id (`C123...`) or name (`#alerts`), or a
    /// template such as `"#alerts-{{ tags.team }}"`, which then needs `allowed`. Not allowed
    /// with `webhook_url`, whose channel cannot be changed at runtime.
    #[serde(default)]
    pub channel: Option<String>,
    /// With a templated `channel`, the channels it may render to: exact values
    /// (`#alerts-payments`) or `~regex` anchored at both ends (`~#alerts-mobile-.*`). Alert
    /// data fills the template, so without this list anyone who can send an event could post
    /// wherever the bot is invited.
    #[serde(default)]
    pub allowed: Option<Vec<String>>,
    /// With a templated `channel`, the fixed channel for anything not in `allowed`; without
    /// it, such a delivery is dead with the reason.
    #[serde(default)]
    pub fallback: Option<String>,
    /// The Web API base for bot-token mode; point it at a gateway or a test server.
    #[serde(default = "default_api_base")]
    pub api_base: String,
    /// How long one attempt may take, connection included.
    #[serde(
        default = "default_timeout",
        deserialize_with = "herald_core::config::number::u64"
    )]
    pub timeout_seconds: u64,
    /// Templates replacing parts of the built-in message.
    #[serde(default)]
    pub template: TemplateConfig,
    /// Bot-token mode: later events of a Sentry issue (resolved, assigned, a repeat) reply in
    /// the thread of its first message and update that message (`chat.update`) instead of
    /// posting a new one. Default true; ignored with `webhook_url`, which returns no `ts`.
    #[serde(default = "yes")]
    pub threads: bool,
    /// With `threads`, also show each reply in the channel (Slack's `reply_broadcast`).
    #[serde(default)]
    pub reply_broadcast: bool,
}

fn yes() -> bool {
    true
}

/// `template:` of a Slack sink. Printed values are escaped for Slack (mrkdwn entities, no
/// mentions); the literal text of a template is trusted and may use mrkdwn and `<!here>`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateConfig {
    /// The message text (mrkdwn): shown in the main section instead of the built-in fields,
    /// and used as the notification text. Digests keep their per-alert lines after it.
    #[serde(default)]
    pub text: Option<String>,
    /// The header (plain text, cut to 150 characters) instead of the alert's title.
    #[serde(default)]
    pub title: Option<String>,
}

fn default_api_base() -> String {
    DEFAULT_API_BASE.to_owned()
}

fn default_timeout() -> u64 {
    10
}

/// A secret where an empty text means "not configured" (a `${VAR:-}` that is unset).
fn opt_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    let secret = Option::<Secret>::deserialize(d)?;
    Ok(secret.filter(|s| !s.is_empty()))
}

/// How a sink reaches Slack, once the settings are checked.
#[derive(Debug, Clone)]
pub enum Mode {
    /// An incoming webhook: the URL is the credential; the answer is the text `ok`.
    Webhook { url: Secret },
    /// `chat.postMessage` with a bot token; the answer carries the message `ts`.
    Bot { token: Secret, endpoint: String },
}

impl SlackConfig {
    /// Checks what serde cannot and picks the mode; reports problems at their keys in `node`
    /// (the sink's mapping). `None` when anything was wrong.
    pub fn mode(&self, node: &Node, diag: &mut Diagnostics) -> Option<Mode> {
        let at = |key: &str| node.get(key).unwrap_or(node).clone();
        // Other sinks' errors may already sit in `diag`, so this sink keeps its own verdict.
        let mut ok = true;
        if self.timeout_seconds == 0 {
            ok = false;
            diag.error(
                &at("timeout_seconds"),
                "timeout_seconds must be at least 1, found \"0\"",
                Some("10 is the default".into()),
            );
        }
        match (&self.webhook_url, &self.token) {
            (Some(_), Some(_)) => {
                diag.error(
                    &at("token"),
                    "a slack sink takes either \"webhook_url\" or \"token\", not both",
                    Some("remove one of them".into()),
                );
                None
            }
            (None, None) => {
                diag.error(
                    node,
                    "a slack sink needs \"webhook_url\" (incoming webhook) or \"token\" (bot token with \"channel\")",
                    Some("for example `webhook_url: ${SLACK_WEBHOOK_URL}`".into()),
                );
                None
            }
            (Some(url), None) => {
                for (key, given) in [
                    ("channel", self.channel.is_some()),
                    ("allowed", self.allowed.is_some()),
                    ("fallback", self.fallback.is_some()),
                ] {
                    if given {
                        ok = false;
                        diag.error(
                            &at(key),
                            format!("\"{key}\" cannot be used with \"webhook_url\""),
                            Some("an incoming webhook always posts to the channel chosen when it was created; use \"token\" to pick channels".into()),
                        );
                    }
                }
                // The URL is a credential: the message names the key, never the value.
                if !is_http_url(url.expose()) {
                    ok = false;
                    diag.error(
                        &at("webhook_url"),
                        "\"webhook_url\" is not an http(s) URL",
                        Some("it looks like https://hooks.slack.com/services/T.../B.../...".into()),
                    );
                }
                ok.then(|| Mode::Webhook { url: url.clone() })
            }
            (None, Some(token)) => {
                if self.channel.as_deref().is_none_or(|c| c.trim().is_empty()) {
                    ok = false;
                    diag.error(
                        &at("token"),
                        "a slack sink with \"token\" needs \"channel\"",
                        Some(
                            "for example `channel: \"#alerts\"` or a channel id like C0123456789"
                                .into(),
                        ),
                    );
                }
                if !is_http_url(&self.api_base) {
                    ok = false;
                    diag.error(
                        &at("api_base"),
                        format!("\"api_base\" is not an http(s) URL: \"{}\"", self.api_base),
                        Some(format!("the default is {DEFAULT_API_BASE}")),
                    );
                }
                let endpoint = format!("{}/chat.postMessage", self.api_base.trim_end_matches('/'));
                ok.then(|| Mode::Bot {
                    token: token.clone(),
                    endpoint,
                })
            }
        }
    }
}

fn is_http_url(s: &str) -> bool {
    reqwest::Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
}

#[cfg(test)]
mod tests;
