//! The settings of `type: line` (Messaging API push) and `type: line_notify` sinks, and the
//! checks serde cannot express (URLs, a non-empty `to`, positive timeouts), plus the warning
//! that the public LINE Notify service is gone. Problems are reported at their line and
//! column and never quote a token.

use herald_core::Secret;
use herald_core::config::{Diagnostics, Node};
use serde::Deserialize;

/// The Messaging API base used when `api_base` is not set.
pub const DEFAULT_API_BASE: &str = "https://api.line.me";
/// The public LINE Notify API, which stopped answering after 2025-03-31.
pub const DEFAULT_NOTIFY_API_BASE: &str = "https://notify-api.line.me";

/// `sinks.<name>` with `type: line`: push messages through the LINE Messaging API, e.g.
///
/// ```yaml
/// line-ops: { type: line, channel_access_token: "${LINE_CHANNEL_TOKEN}", to: "C0123456789abcdef0123456789abcdef" }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineConfig {
    /// The channel access token of the Messaging API channel (long-lived or issued), a secret.
    pub channel_access_token: Secret,
    /// The recipient: a user, group or room id (`U...`, `C...`, `R...`), or a template such as
    /// `"{{ tags.line_group }}"`, which then needs `allowed`.
    pub to: String,
    /// With a templated `to`, the recipients it may render to: exact ids or `~regex` anchored
    /// at both ends. Alert data fills the template, so without this list anyone who can send
    /// an event could push to any user who added the bot.
    #[serde(default)]
    pub allowed: Option<Vec<String>>,
    /// With a templated `to`, the fixed recipient for anything not in `allowed`; without it,
    /// such a delivery is dead with the reason.
    #[serde(default)]
    pub fallback: Option<String>,
    /// The API base; point it at a gateway or a test server.
    #[serde(default = "default_api_base")]
    pub api_base: String,
    /// How long one attempt may take, connection included.
    #[serde(
        default = "default_timeout",
        deserialize_with = "herald_core::config::number::u64"
    )]
    pub timeout_seconds: u64,
    /// Deliver without a sound or a banner on the recipients' phones.
    #[serde(default)]
    pub notification_disabled: bool,
    /// Templates replacing the built-in message.
    #[serde(default)]
    pub template: TemplateConfig,
}

/// `sinks.<name>` with `type: line_notify`: a LINE Notify-compatible service. The public LINE
/// Notify ended on 2025-03-31, so `api_base` should name a self-hosted one, e.g.
///
/// ```yaml
/// notify: { type: line_notify, token: "${NOTIFY_TOKEN}", api_base: "https://notify.internal.example" }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineNotifyConfig {
    /// The personal or group access token, a secret.
    pub token: Secret,
    /// The service's base URL; the request goes to `{api_base}/api/notify`.
    #[serde(default = "default_notify_api_base")]
    pub api_base: String,
    /// How long one attempt may take, connection included.
    #[serde(
        default = "default_timeout",
        deserialize_with = "herald_core::config::number::u64"
    )]
    pub timeout_seconds: u64,
    /// Deliver without a sound on the recipients' phones.
    #[serde(default)]
    pub notification_disabled: bool,
    /// Templates replacing the built-in message.
    #[serde(default)]
    pub template: TemplateConfig,
}

/// `template:` of a LINE sink. The message is plain text, so values are printed as they are
/// (minus control characters); the result is cut to the service's limit.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateConfig {
    /// The whole message text instead of the built-in one.
    #[serde(default)]
    pub text: Option<String>,
}

fn default_api_base() -> String {
    DEFAULT_API_BASE.to_owned()
}

fn default_notify_api_base() -> String {
    DEFAULT_NOTIFY_API_BASE.to_owned()
}

fn default_timeout() -> u64 {
    10
}

/// The checks both sink types share; returns whether all passed.
pub(crate) fn check_common(
    node: &Node,
    api_base: &str,
    default_base: &str,
    timeout_seconds: u64,
    diag: &mut Diagnostics,
) -> bool {
    let at = |key: &str| node.get(key).unwrap_or(node).clone();
    let mut ok = true;
    if timeout_seconds == 0 {
        ok = false;
        diag.error(
            &at("timeout_seconds"),
            "timeout_seconds must be at least 1, found \"0\"",
            Some("10 is the default".into()),
        );
    }
    let parsed = reqwest::Url::parse(api_base);
    if !parsed.is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host()) {
        ok = false;
        diag.error(
            &at("api_base"),
            format!("\"api_base\" is not an http(s) URL: \"{api_base}\""),
            Some(format!("the default is {default_base}")),
        );
    }
    ok
}

impl LineConfig {
    /// Checks what serde cannot; reports at the keys of `node`. Returns whether all passed.
    pub fn check(&self, node: &Node, diag: &mut Diagnostics) -> bool {
        let mut ok = check_common(
            node,
            &self.api_base,
            DEFAULT_API_BASE,
            self.timeout_seconds,
            diag,
        );
        if self.to.trim().is_empty() {
            ok = false;
            diag.error(
                node.get("to").unwrap_or(node),
                "\"to\" is empty",
                Some(
                    "give a user, group or room id such as C0123456789abcdef0123456789abcdef"
                        .into(),
                ),
            );
        }
        if self.channel_access_token.is_empty() {
            ok = false;
            diag.error(
                node.get("channel_access_token").unwrap_or(node),
                "\"channel_access_token\" is empty",
                Some("issue one in the LINE Developers console, Messaging API tab".into()),
            );
        }
        ok
    }
}

impl LineNotifyConfig {
    /// Checks what serde cannot, and warns when the public (discontinued) service is named.
    /// Returns whether all passed; the warning does not fail the check.
    pub fn check(&self, node: &Node, diag: &mut Diagnostics) -> bool {
        let mut ok = check_common(
            node,
            &self.api_base,
            DEFAULT_NOTIFY_API_BASE,
            self.timeout_seconds,
            diag,
        );
        if self.token.is_empty() {
            ok = false;
            diag.error(
                node.get("token").unwrap_or(node),
                "\"token\" is empty",
                Some("use the access token your Notify-compatible service issued".into()),
            );
        }
        if self.api_base.trim_end_matches('/') == DEFAULT_NOTIFY_API_BASE {
            diag.warning(
                node.get("api_base").unwrap_or(node),
                format!(
                    "the public LINE Notify service ended on 2025-03-31, so \"{DEFAULT_NOTIFY_API_BASE}\" no longer accepts messages; type \"line_notify\" is only for self-hosted Notify-compatible services"
                ),
                Some("set \"api_base\" to your own service, or use type \"line\" (Messaging API)".into()),
            );
        }
        ok
    }
}

#[cfg(test)]
mod tests;
