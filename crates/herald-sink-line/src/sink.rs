//! [`LineSink`] (Messaging API push) and [`LineNotifySink`] (LINE Notify-compatible): one HTTP
//! request per attempt, then a verdict on the answer. Also their factories, which check the
//! settings when the config loads.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use herald_core::config::{Diagnostics, Node};
use herald_core::destination::{AllowedDestinations, Chosen, DestinationSettings, shown};
use herald_core::sink::SinkContext;
use herald_core::template::{Templates, escape_none};
use herald_core::{Notification, Receipt, Sink, SinkError, SinkFactory};
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::config::{LineConfig, LineNotifyConfig, TemplateConfig};
use crate::render::{MAX_NOTIFY_CHARS, MAX_TEXT_UTF16, Measure, clean, text, truncate};

/// The namespace of retry keys derived from idempotency keys that are not UUIDs themselves.
const RETRY_KEY_NAMESPACE: Uuid = Uuid::from_u128(0x9c1e_4a52_8f0b_5d3e_a6c4_2b7d_1e90_f3a8);
/// The longest excerpt of an answer kept in a receipt or an error.
const MAX_DETAIL_CHARS: usize = 300;
/// `allowed` and `fallback` as the config hints show them.
const EXAMPLE: &str = r#"allowed: ["C0123456789abcdef0123456789abcdef", "C89abcdef0123456789abcdef01234567"] and fallback: "Cfedcba9876543210fedcba9876543210""#;

/// Builds `type: line` sinks (Messaging API push).
#[derive(Debug, Clone, Copy, Default)]
pub struct LineFactory;

/// Builds `type: line_notify` sinks (self-hosted LINE Notify-compatible services).
#[derive(Debug, Clone, Copy, Default)]
pub struct LineNotifyFactory;

impl SinkFactory for LineFactory {
    fn kind(&self) -> &'static str {
        "line"
    }

    fn build(&self, ctx: SinkContext<'_>) -> Option<Arc<dyn Sink>> {
        let config = ctx.diag.typed::<LineConfig>(ctx.node)?;
        let sink = LineSink::from_config(ctx.name, &config, ctx.node, ctx.diag)?;
        Some(Arc::new(sink))
    }
}

impl SinkFactory for LineNotifyFactory {
    fn kind(&self) -> &'static str {
        "line_notify"
    }

    fn build(&self, ctx: SinkContext<'_>) -> Option<Arc<dyn Sink>> {
        let config = ctx.diag.typed::<LineNotifyConfig>(ctx.node)?;
        let sink = LineNotifySink::from_config(ctx.name, &config, ctx.node, ctx.diag)?;
        Some(Arc::new(sink))
    }
}

/// Pushes alerts to a LINE user, group or room. `Debug` shows no token.
#[derive(Debug)]
pub struct LineSink {
    name: String,
    token: herald_core::Secret,
    endpoint: String,
    timeout: Duration,
    notification_disabled: bool,
    /// `to` and the optional `text`; plain text, so values are printed as they are.
    templates: Templates,
    /// What the `to` template may render to.
    destinations: AllowedDestinations,
}

/// Sends alerts to a LINE Notify-compatible service. `Debug` shows no token.
#[derive(Debug)]
pub struct LineNotifySink {
    name: String,
    token: herald_core::Secret,
    endpoint: String,
    timeout: Duration,
    notification_disabled: bool,
    templates: Templates,
}

/// Compiles `template.text` (when set) into `templates`; returns whether it compiled.
fn add_text_template(
    templates: &mut Templates,
    template: &TemplateConfig,
    node: &Node,
    diag: &mut Diagnostics,
) -> bool {
    let Some(source) = &template.text else {
        return true;
    };
    let at = node
        .get("template")
        .map(|t| t.get("text").unwrap_or(t))
        .unwrap_or(node);
    templates.add("text", source, at, diag)
}

impl LineSink {
    /// Checks `config` (from the sink's mapping `node`) and compiles its templates, reporting
    /// every problem to `diag`. `None` when anything was wrong.
    pub fn from_config(
        name: &str,
        config: &LineConfig,
        node: &Node,
        diag: &mut Diagnostics,
    ) -> Option<LineSink> {
        let mut ok = config.check(node, diag);
        let mut templates = Templates::new(escape_none);
        ok &= templates.add("to", &config.to, node.get("to").unwrap_or(node), diag);
        ok &= add_text_template(&mut templates, &config.template, node, diag);
        let settings = DestinationSettings {
            key: "to",
            noun: "recipient",
            value: &config.to,
            allowed: config.allowed.as_deref(),
            fallback: config.fallback.as_deref(),
            example: EXAMPLE,
        };
        let destinations = AllowedDestinations::check(settings, node, diag)?;
        ok.then(|| LineSink {
            name: name.to_owned(),
            token: config.channel_access_token.clone(),
            endpoint: format!(
                "{}/v2/bot/message/push",
                config.api_base.trim_end_matches('/')
            ),
            timeout: Duration::from_secs(config.timeout_seconds),
            notification_disabled: config.notification_disabled,
            templates,
            destinations,
        })
    }

    /// The configured name of this sink.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The recipient of `n`: the rendered `to` when it is allowed, else the fallback. The
    /// error is the reason to refuse the delivery: a template that failed, or a recipient not
    /// allowed with no fallback.
    pub fn recipient(&self, n: &Notification) -> Result<Chosen, String> {
        let rendered = self.templates.render("to", n).map_err(cannot_render)?;
        let chosen = self.destinations.choose(&rendered)?;
        if chosen.destination().is_empty() {
            return Err(cannot_render(
                "the \"to\" template rendered empty text".into(),
            ));
        }
        Ok(chosen)
    }

    /// The JSON body this sink posts for `n`.
    pub fn body(&self, n: &Notification) -> Result<Value, String> {
        self.body_to(n, self.recipient(n)?.destination())
    }

    /// The JSON body for `n`, pushed to `to`.
    fn body_to(&self, n: &Notification, to: &str) -> Result<Value, String> {
        let message = message_text(&self.templates, n, MAX_TEXT_UTF16, Measure::Utf16)
            .map_err(cannot_render)?;
        let mut body = json!({
            "to": to,
            "messages": [{"type": "text", "text": message}],
        });
        if self.notification_disabled {
            body["notificationDisabled"] = json!(true);
        }
        Ok(body)
    }
}

impl LineNotifySink {
    /// Checks `config` and compiles its template, reporting every problem (and the warning
    /// about the discontinued public service) to `diag`. `None` when anything was wrong.
    pub fn from_config(
        name: &str,
        config: &LineNotifyConfig,
        node: &Node,
        diag: &mut Diagnostics,
    ) -> Option<LineNotifySink> {
        let mut ok = config.check(node, diag);
        let mut templates = Templates::new(escape_none);
        ok &= add_text_template(&mut templates, &config.template, node, diag);
        ok.then(|| LineNotifySink {
            name: name.to_owned(),
            token: config.token.clone(),
            endpoint: format!("{}/api/notify", config.api_base.trim_end_matches('/')),
            timeout: Duration::from_secs(config.timeout_seconds),
            notification_disabled: config.notification_disabled,
            templates,
        })
    }

    /// The configured name of this sink.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The form fields this sink posts for `n`.
    pub fn form(&self, n: &Notification) -> Result<Vec<(&'static str, String)>, String> {
        let message = message_text(&self.templates, n, MAX_NOTIFY_CHARS, Measure::Chars)?;
        let mut form = vec![("message", message)];
        if self.notification_disabled {
            form.push(("notificationDisabled", "true".into()));
        }
        Ok(form)
    }
}

fn message_text(
    templates: &Templates,
    n: &Notification,
    max: usize,
    measure: Measure,
) -> Result<String, String> {
    if templates.has("text") {
        let rendered = clean(&templates.render("text", n)?);
        if rendered.trim().is_empty() {
            return Err("the \"text\" template rendered empty text".into());
        }
        Ok(truncate(&rendered, max, measure))
    } else {
        Ok(text(n, max, measure))
    }
}

/// The `X-Line-Retry-Key` for a delivery: the idempotency key itself when it is a UUID, else
/// a UUID v5 derived from it, so every attempt of one delivery carries the same key.
pub fn retry_key(idempotency_key: &str) -> Uuid {
    Uuid::parse_str(idempotency_key.trim())
        .ok()
        .filter(|u| !u.is_nil())
        .unwrap_or_else(|| Uuid::new_v5(&RETRY_KEY_NAMESPACE, idempotency_key.as_bytes()))
}

fn render_error(detail: String) -> SinkError {
    SinkError::refused(cannot_render(detail))
}

fn cannot_render(detail: String) -> String {
    format!("cannot render the message: {detail}")
}

#[async_trait]
impl Sink for LineSink {
    fn kind(&self) -> &'static str {
        "line"
    }

    async fn deliver(&self, n: &Notification) -> Result<Receipt, SinkError> {
        let refuse = SinkError::refused;
        let chosen = self.recipient(n).map_err(refuse)?;
        let body = self.body_to(n, chosen.destination()).map_err(refuse)?;
        if let Chosen::Fallback { to, refused } = &chosen {
            tracing::warn!(
                sink = %self.name,
                to = %shown(refused),
                fallback = %to,
                "alert data chose a recipient that is not in \"allowed\"; sending to the fallback"
            );
        }
        let request = herald_http::client()?
            .post(&self.endpoint)
            .bearer_auth(self.token.expose())
            .header(
                "X-Line-Retry-Key",
                retry_key(&n.idempotency_key).to_string(),
            )
            .json(&body);
        let answer = herald_http::send("line", request, self.timeout).await?;
        let mut receipt = classify_push(answer.status, n.attempt, &answer.headers, &answer.text)?;
        receipt.destination = Some(chosen.destination().to_owned());
        if let Chosen::Fallback { refused, .. } = &chosen {
            receipt.detail = Some(format!(
                "{}; alert data chose the recipient {}, which is not allowed, so it went to the fallback",
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
}

#[async_trait]
impl Sink for LineNotifySink {
    fn kind(&self) -> &'static str {
        "line_notify"
    }

    async fn deliver(&self, n: &Notification) -> Result<Receipt, SinkError> {
        let form = self.form(n).map_err(render_error)?;
        let request = herald_http::client()?
            .post(&self.endpoint)
            .bearer_auth(self.token.expose())
            .form(&form);
        let answer = herald_http::send("line", request, self.timeout).await?;
        classify_notify(answer.status, &answer.headers, &answer.text)
    }

    fn preview(&self, n: &Notification) -> Result<String, String> {
        Ok(self
            .form(n)?
            .into_iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join("\n"))
    }
}

#[derive(Deserialize)]
struct PushAnswer {
    #[serde(default, rename = "sentMessages")]
    sent_messages: Vec<SentMessage>,
}

#[derive(Deserialize)]
struct SentMessage {
    id: Option<String>,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    message: Option<String>,
    #[serde(default)]
    details: Vec<ErrorDetail>,
}

#[derive(Deserialize)]
struct ErrorDetail {
    message: Option<String>,
    property: Option<String>,
}

/// Turns a Messaging API push answer into a receipt or a [`SinkError`]. A 409 on a retry
/// means LINE already accepted this retry key, so the message went out on an earlier attempt;
/// on a first attempt it means the key was used by something else, which no retry can fix.
pub fn classify_push(
    status: u16,
    attempt: u32,
    headers: &HeaderMap,
    body: &str,
) -> Result<Receipt, SinkError> {
    let request_id = header_text(headers, "x-line-request-id");
    if (200..300).contains(&status) {
        let message_id = serde_json::from_str::<PushAnswer>(body)
            .ok()
            .and_then(|a| a.sent_messages.into_iter().next())
            .and_then(|m| m.id);
        return Ok(Receipt {
            status: Some(status),
            message_id,
            channel: None,
            destination: None,
            detail: Some(match request_id {
                Some(id) => format!("ok (request id {id})"),
                None => "ok".into(),
            }),
            thread: None,
        });
    }
    let detail = error_detail(status, body);
    if status == 409 && attempt > 1 {
        let accepted = header_text(headers, "x-line-accepted-request-id");
        return Ok(Receipt {
            status: Some(status),
            message_id: None,
            channel: None,
            destination: None,
            detail: Some(match accepted {
                Some(id) => format!("delivered by an earlier attempt (request id {id})"),
                None => format!("delivered by an earlier attempt: {detail}"),
            }),
            thread: None,
        });
    }
    if status == 409 {
        return Err(SinkError::Rejected {
            status: Some(status),
            detail: format!("retry key already used on a first attempt: {detail}"),
        });
    }
    Err(SinkError::from_status(
        status,
        herald_http::retry_after(headers),
        detail,
    ))
}

/// Turns a LINE Notify answer (`{"status": 200, "message": "ok"}` or an error of the same
/// shape) into a receipt or a [`SinkError`].
pub fn classify_notify(status: u16, headers: &HeaderMap, body: &str) -> Result<Receipt, SinkError> {
    if (200..300).contains(&status) {
        return Ok(Receipt {
            status: Some(status),
            message_id: None,
            channel: None,
            destination: None,
            detail: Some("ok".into()),
            thread: None,
        });
    }
    let retry_after = herald_http::retry_after(headers).or_else(|| {
        // Notify tells when its hourly window resets rather than how long to wait.
        let reset: u64 = header_text(headers, "x-ratelimit-reset")?.parse().ok()?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
        (status == 429 && reset > now).then(|| Duration::from_secs(reset - now))
    });
    Err(SinkError::from_status(
        status,
        retry_after,
        error_detail(status, body),
    ))
}

/// `message (property: message; ...)` from LINE's error shape, else an excerpt of the body.
fn error_detail(status: u16, body: &str) -> String {
    let detail = match serde_json::from_str::<ErrorAnswer>(body) {
        Ok(ErrorAnswer {
            message: Some(message),
            details,
        }) => {
            let parts: Vec<String> = details
                .into_iter()
                .filter_map(|d| match (d.property, d.message) {
                    (Some(p), Some(m)) => Some(format!("{p}: {m}")),
                    (None, Some(m)) => Some(m),
                    _ => None,
                })
                .collect();
            if parts.is_empty() {
                message
            } else {
                format!("{message} ({})", parts.join("; "))
            }
        }
        _ if body.trim().is_empty() => format!("empty answer with status {status}"),
        _ => body.trim().to_owned(),
    };
    let detail = truncate(&clean(&detail), MAX_DETAIL_CHARS, Measure::Chars);
    // The hint comes after the cut, so that a long message from LINE cannot hide it.
    match status_hint(status) {
        Some(hint) => format!("{}; {hint}", detail.trim_end_matches('.')),
        None => detail,
    }
}

/// What LINE's error statuses mean for an operator (the Messaging API's and LINE Notify's
/// documented codes).
fn status_hint(status: u16) -> Option<&'static str> {
    Some(match status {
        400 => {
            "LINE refused the request as written: check to (an id the bot can reach) and the sink's template"
        }
        401 => {
            "the token is invalid, expired or revoked: issue a new channel access token (LINE Notify: a new token)"
        }
        403 => "this channel's plan or permissions do not allow this API",
        404 => "the recipient does not exist or has not added the bot as a friend: check to",
        429 => "LINE's rate limit or this month's message quota was reached; herald retries later",
        _ => return None,
    })
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    let v = headers.get(name)?.to_str().ok()?.trim();
    (!v.is_empty()).then(|| v.to_owned())
}

#[cfg(test)]
mod tests;
