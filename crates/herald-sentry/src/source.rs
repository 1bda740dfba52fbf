//! The Sentry webhook source on herald's source contract ([`herald_core::source`]): its two
//! endpoints, the checks it makes from the headers before the server reads a body, the alert
//! it makes of a payload, and its answers (`202 {"id", "deliveries"}`, `200 {"ignored"}`,
//! and refusals as `{"error": "..."}` with a `Sentry-Hook-Error: <code>` header, which
//! Sentry shows in the integration's request log).

use std::sync::Arc;

use async_trait::async_trait;
use herald_core::config::{Diagnostics, Node, PublicCredential};
use herald_core::source::{
    Answer, Caller, Endpoint, Head, Ignored, Incoming, Intake, Refusal, Source, SourceContext,
    SourceFactory, Stored,
};
use http::{HeaderValue, Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::{
    APP_SIGNATURE_HEADER, Credentials, Parsed, REQUEST_ID_HEADER, RESOURCE_HEADER,
    SIGNATURE_HEADER, SignatureError, SourceConfig, TIMESTAMP_HEADER,
};

/// The response header Sentry stores with its request log.
pub const HOOK_ERROR_HEADER: &str = "Sentry-Hook-Error";

/// The `Sentry-Hook-Error` codes this source refuses with itself (the server adds its own,
/// such as `body_too_large` and `store_unavailable`).
pub const REFUSAL_CODES: &[&str] = &["bad_request_id", "bad_query", "unauthorized", "malformed"];

/// The resources a stored alert can have (any other is ignored, never stored).
pub const RESOURCES: &[&str] = &[
    "event_alert",
    "error",
    "issue",
    "metric_alert",
    "comment",
    "activity_alert",
    "legacy",
];

/// Longest `Request-ID` kept; Sentry's are 32 hex characters.
const MAX_REQUEST_ID: usize = 128;

/// `/hooks/{source}`: the resource header, when present, names the payload.
const HOOK: &str = "hook";
/// `/hooks/{source}/legacy`: always the legacy plugin.
const LEGACY: &str = "legacy";

/// The factory of `type: sentry` sources, registered by the binary.
#[derive(Debug, Clone, Copy, Default)]
pub struct SentryFactory;

impl SourceFactory for SentryFactory {
    fn kind(&self) -> &'static str {
        "sentry"
    }

    fn endpoints(&self) -> Vec<Endpoint> {
        vec![
            Endpoint::new(HOOK, Method::POST, "/hooks/{source}"),
            Endpoint::new(LEGACY, Method::POST, "/hooks/{source}/legacy"),
        ]
    }

    fn build(&self, ctx: SourceContext<'_>) -> Option<Arc<dyn Source>> {
        let config = SourceConfig::load(ctx.name, ctx.node, ctx.diag)?;
        Some(Arc::new(SentrySource::new(ctx.name, config)))
    }

    fn public_credentials(
        &self,
        name: &str,
        node: &Node,
        diag: &Diagnostics,
    ) -> Vec<PublicCredential> {
        SourceConfig::public_credentials(name, node, diag)
    }

    fn caller(&self, head: &Head<'_>) -> Caller {
        let platform = head.endpoint.name != LEGACY && head.headers.contains_key(RESOURCE_HEADER);
        Caller {
            endpoint: endpoint_word(platform),
            request_id: head
                .headers
                .get(REQUEST_ID_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .map(str::to_owned),
        }
    }

    fn refuse(&self, refusal: &Refusal) -> Answer {
        let mut answer = json_answer(refusal.status, &json!({ "error": refusal.message }));
        answer
            .headers_mut()
            .insert(HOOK_ERROR_HEADER, HeaderValue::from_static(refusal.code));
        if let Some(seconds) = refusal.retry_after {
            answer
                .headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        answer
    }
}

/// One configured `type: sentry` source.
#[derive(Debug, Clone)]
pub struct SentrySource {
    name: String,
    config: SourceConfig,
}

impl SentrySource {
    pub fn new(name: impl Into<String>, config: SourceConfig) -> SentrySource {
        SentrySource {
            name: name.into(),
            config,
        }
    }

    pub fn config(&self) -> &SourceConfig {
        &self.config
    }
}

/// `?token=` of the legacy plugin's callback URL.
#[derive(Debug, Default, Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

#[async_trait]
impl Source for SentrySource {
    fn kind(&self) -> &'static str {
        "sentry"
    }

    fn precheck(&self, head: &Head<'_>) -> Result<(), Refusal> {
        let query = token_query(head)?;
        let credentials = credentials(head, &query)?;
        self.config
            .precheck(credentials, head.now)
            .map_err(|e| unauthorized(&e).unread())?;
        request_id(head).map_err(Refusal::unread)?;
        Ok(())
    }

    async fn take(&self, head: &Head<'_>, body: &[u8]) -> Result<Intake, Refusal> {
        let query = token_query(head)?;
        let credentials = credentials(head, &query)?;
        self.config
            .authenticate(credentials, body, head.now)
            .map_err(|e| unauthorized(&e))?;
        let request_id = request_id(head)?;
        let resource = credentials.resource;
        let parsed = crate::parse(&self.name, resource, body)
            .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, "malformed", e.to_string()))?;
        Ok(match parsed {
            Parsed::Alert(alert) => Intake {
                alerts: vec![Incoming {
                    alert: Arc::new(alert),
                    // The body parsed as JSON, so it is UTF-8; the lossy form only guards the
                    // impossible case.
                    raw: String::from_utf8_lossy(body).into_owned(),
                    request_id,
                    endpoint: endpoint_word(resource.is_some()),
                    issue: None,
                }],
                ignored: vec![],
            },
            // Not a refusal, but not an alert either: answered `200` so Sentry does not count
            // it as a failed delivery.
            Parsed::Ignored { alert, reason } => Intake {
                alerts: vec![],
                ignored: vec![Ignored { alert, reason }],
            },
        })
    }

    fn accepted(&self, _: &Head<'_>, stored: &[Stored], ignored: &[Ignored]) -> Answer {
        if let Some(one) = stored.first() {
            let mut answer = json!({ "id": one.alert_id, "deliveries": one.deliveries });
            if one.duplicate {
                answer["duplicate"] = json!(true);
            }
            return json_answer(StatusCode::ACCEPTED, &answer);
        }
        let reason = ignored.first().map_or("", |i| i.reason.as_str());
        json_answer(StatusCode::OK, &json!({ "ignored": reason }))
    }

    fn dry_run(&self, hint: Option<&str>, body: &[u8]) -> Result<Intake, String> {
        let parsed = crate::parse(&self.name, hint, body).map_err(|e| e.to_string())?;
        Ok(match parsed {
            Parsed::Alert(alert) => Intake {
                alerts: vec![Incoming {
                    alert: Arc::new(alert),
                    raw: String::from_utf8_lossy(body).into_owned(),
                    request_id: None,
                    endpoint: endpoint_word(hint.is_some()),
                    issue: None,
                }],
                ignored: vec![],
            },
            Parsed::Ignored { alert, reason } => Intake {
                alerts: vec![],
                ignored: vec![Ignored { alert, reason }],
            },
        })
    }

    fn refusal_codes(&self) -> &'static [&'static str] {
        REFUSAL_CODES
    }

    fn resources(&self) -> &'static [&'static str] {
        RESOURCES
    }
}

/// The store's word for the endpoint a request used, part of its `Request-ID` key: the
/// integration platform (a resource header) or the legacy plugin.
fn endpoint_word(platform: bool) -> &'static str {
    if platform { "platform" } else { "legacy" }
}

fn token_query(head: &Head<'_>) -> Result<TokenQuery, Refusal> {
    serde_urlencoded::from_str(head.query.unwrap_or_default()).map_err(|e| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "bad_query",
            format!("cannot read the query string: {e}"),
        )
        .unread()
    })
}

/// The credentials a request carries; on the legacy endpoint any resource header is ignored.
fn credentials<'h>(head: &Head<'h>, query: &'h TokenQuery) -> Result<Credentials<'h>, Refusal> {
    let resource = match head.endpoint.name {
        LEGACY => None,
        _ => head.header(RESOURCE_HEADER)?.filter(|r| !r.is_empty()),
    };
    let signature = match head.header(SIGNATURE_HEADER)? {
        Some(s) => Some(s),
        None => head.header(APP_SIGNATURE_HEADER)?,
    };
    Ok(Credentials {
        resource,
        signature,
        timestamp: head.header(TIMESTAMP_HEADER)?,
        token: query.token.as_deref(),
    })
}

fn request_id(head: &Head<'_>) -> Result<Option<String>, Refusal> {
    let Some(id) = head.header(REQUEST_ID_HEADER)?.filter(|id| !id.is_empty()) else {
        return Ok(None);
    };
    if id.len() > MAX_REQUEST_ID {
        let shown: String = match id.char_indices().nth(80) {
            Some((at, _)) => format!("{}...", &id[..at]),
            None => id.to_owned(),
        };
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "bad_request_id",
            format!(
                "the Request-ID \"{shown}\" is longer than {MAX_REQUEST_ID} characters (Sentry sends 32 hex characters)"
            ),
        ));
    }
    Ok(Some(id.to_string()))
}

fn unauthorized(error: &SignatureError) -> Refusal {
    Refusal::new(StatusCode::UNAUTHORIZED, "unauthorized", error.to_string())
        .detail(auth_reason(error))
}

/// Which check failed, as a word for the log (the message itself may quote header values).
fn auth_reason(error: &SignatureError) -> &'static str {
    match error {
        SignatureError::MissingSignature => "missing signature",
        SignatureError::WrongSignature { .. } => "wrong signature",
        SignatureError::MissingTimestamp => "missing timestamp",
        SignatureError::BadTimestamp { .. } => "bad timestamp",
        SignatureError::StaleTimestamp { .. } => "stale timestamp",
        SignatureError::MissingToken => "missing token",
        SignatureError::WrongToken => "wrong token",
        SignatureError::LegacyNotAllowed => "legacy not allowed",
        SignatureError::PlatformNotAllowed => "platform not allowed",
    }
}

fn json_answer(status: StatusCode, value: &serde_json::Value) -> Answer {
    let mut answer = http::Response::new(serde_json::to_vec(value).unwrap_or_default());
    *answer.status_mut() = status;
    answer.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    answer
}

#[cfg(test)]
mod tests;
