//! The SDK source on herald's source contract ([`herald_core::source`]): the endpoints
//! Sentry SDKs post to (`/api/{project_id}/envelope/`, `/api/{project_id}/store/`, with or
//! without the trailing slash, and their `OPTIONS` preflight for browser SDKs), the checks
//! made from the headers before the body is read, the alert made of an event, and the
//! answers SDKs understand: `200 {"id": event_id}` after the commit, refusals as
//! `{"detail": "..."}` (what Sentry answers), `429` with `Retry-After` and
//! `X-Sentry-Rate-Limits`, and CORS headers on every answer so a browser SDK can read it.
//!
//! The endpoints do not name a source: the project id in the path picks the configured
//! `sentry_sdk` source that has that project ([`Source::claims`]; ids are unique across
//! sources). A request for a project no source has is `401`.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use herald_core::config::{Diagnostics, Node, PublicCredential};
use herald_core::source::{
    Answer, Endpoint, Head, Ignored, Incoming, Intake, Refusal, Source, SourceContext,
    SourceFactory, Stored,
};
use http::{HeaderValue, Method, StatusCode};
use serde_json::json;

use crate::{
    AuthError, Envelope, MAX_ENVELOPE_BYTES, MAX_EVENT_BYTES, Presented, RateLimited, RateLimiter,
    SdkSourceConfig, decompress, parse_envelope, parse_store, to_alert,
};

/// The `type` of these sources in config.
pub const KIND: &str = "sentry_sdk";

/// The refusal codes this source answers with itself (the server adds its own, such as
/// `body_too_large`, `unknown_source` and `store_unavailable`).
pub const REFUSAL_CODES: &[&str] = &[
    "unauthorized",
    "forbidden",
    "malformed",
    "too_large",
    "unsupported_encoding",
    "rate_limited",
];

/// The one resource its alerts have.
pub const RESOURCES: &[&str] = &[crate::RESOURCE];

/// The metric counting envelope items taken and dropped (not events), by source and type.
pub const ITEMS_DROPPED: &str = "herald_sdk_items_dropped_total";

/// The store's endpoint word for SDK requests: its own scope for deduplication.
const STORE_ENDPOINT: &str = "sdk";

const ENVELOPE: &str = "envelope";
const STORE: &str = "store";
const PREFLIGHT: &str = "preflight";

/// The headers browser SDKs send, which a preflight must allow.
const ALLOW_HEADERS: &str = "x-sentry-auth, content-type, content-encoding, sentry-trace, baggage";

/// The factory of `type: sentry_sdk` sources, registered by the binary.
#[derive(Debug, Clone, Copy, Default)]
pub struct SdkFactory;

impl SourceFactory for SdkFactory {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn endpoints(&self) -> Vec<Endpoint> {
        // SDKs put the trailing slash on; proxies and hand-written clients sometimes drop it.
        let mut endpoints = vec![];
        for (name, path) in [
            (ENVELOPE, "/api/{project_id}/envelope/"),
            (ENVELOPE, "/api/{project_id}/envelope"),
            (STORE, "/api/{project_id}/store/"),
            (STORE, "/api/{project_id}/store"),
        ] {
            endpoints.push(Endpoint::new(name, Method::POST, path));
            endpoints.push(Endpoint::new(PREFLIGHT, Method::OPTIONS, path));
        }
        endpoints
    }

    fn build(&self, ctx: SourceContext<'_>) -> Option<Arc<dyn Source>> {
        let config = SdkSourceConfig::load(ctx.name, ctx.node, ctx.diag)?;
        Some(Arc::new(SdkSource::new(config)))
    }

    fn public_credentials(
        &self,
        name: &str,
        node: &Node,
        diag: &Diagnostics,
    ) -> Vec<PublicCredential> {
        SdkSourceConfig::public_credentials(name, node, diag)
    }

    fn refuse(&self, refusal: &Refusal) -> Answer {
        // No source took the request: on these shared paths that means no source has the
        // project, which SDKs expect as 401 (Sentry's answer to an unknown project).
        let (status, message) = if refusal.code == "unknown_source" {
            (
                StatusCode::UNAUTHORIZED,
                "this project is not configured in herald (hint: the DSN's last part must be a project id from herald's config; `herald dsn` prints them)".to_owned(),
            )
        } else {
            (refusal.status, refusal.message.clone())
        };
        let mut answer = json_answer(status, &json!({ "detail": message }));
        if let Some(seconds) = refusal.retry_after {
            let headers = answer.headers_mut();
            headers.insert(http::header::RETRY_AFTER, HeaderValue::from(seconds));
            if refusal.code == "rate_limited" {
                let limited = RateLimited {
                    retry_after: std::time::Duration::from_secs(u64::from(seconds)),
                };
                if let Ok(value) = HeaderValue::from_str(&limited.sentry_header()) {
                    headers.insert("X-Sentry-Rate-Limits", value);
                }
            }
        }
        answer
    }
}

/// One configured `type: sentry_sdk` source.
#[derive(Debug)]
pub struct SdkSource {
    config: SdkSourceConfig,
    limiter: RateLimiter,
}

impl SdkSource {
    pub fn new(config: SdkSourceConfig) -> SdkSource {
        SdkSource {
            config,
            limiter: RateLimiter::default(),
        }
    }

    pub fn config(&self) -> &SdkSourceConfig {
        &self.config
    }

    /// The project id of the path; `claims` made sure it is a number of ours.
    fn project_id(head: &Head<'_>) -> Result<u64, Refusal> {
        head.param("project_id")
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| {
                Refusal::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "the path's project id is not a number (hint: use the DSN `herald dsn` prints)",
                )
                .unread()
            })
    }

    fn presented<'h>(head: &Head<'h>) -> Result<Presented<'h>, Refusal> {
        Ok(Presented {
            sentry_auth: head.header("x-sentry-auth")?,
            authorization: head.header("authorization")?,
            query: head.query,
            envelope_dsn: None,
        })
    }
}

#[async_trait]
impl Source for SdkSource {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn body_limit(&self, _server_limit: u64) -> u64 {
        // The SDK protocol's own limit (20 MiB), compressed or not; the decompressed body is
        // held to the same.
        MAX_ENVELOPE_BYTES as u64
    }

    fn claims(&self, head: &Head<'_>) -> bool {
        head.param("project_id")
            .and_then(|id| id.parse::<u64>().ok())
            .is_some_and(|id| self.config.project(id).is_some())
    }

    fn precheck(&self, head: &Head<'_>) -> Result<(), Refusal> {
        if head.endpoint.name == PREFLIGHT {
            return Ok(());
        }
        let project_id = Self::project_id(head)?;
        let presented = Self::presented(head)?;
        // Without a key in the headers or query, the envelope's `dsn` may carry it: only the
        // body can tell.
        if presented.has_request_key() {
            self.config
                .authenticate(project_id, &presented)
                .map_err(|e| auth_refusal(&e).unread())?;
        }
        Ok(())
    }

    async fn take(&self, head: &Head<'_>, body: &[u8]) -> Result<Intake, Refusal> {
        if head.endpoint.name == PREFLIGHT {
            return Ok(Intake::default());
        }
        let project_id = Self::project_id(head)?;
        let body = decompress(body, head.header("content-encoding")?, MAX_ENVELOPE_BYTES).map_err(
            |e| {
                let (status, code) = match e.status() {
                    413 => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
                    415 => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_encoding"),
                    _ => (StatusCode::BAD_REQUEST, "malformed"),
                };
                Refusal::new(status, code, e.to_string())
            },
        )?;
        let envelope = match head.endpoint.name {
            STORE => parse_store(&body, MAX_EVENT_BYTES),
            _ => parse_envelope(&body, MAX_EVENT_BYTES),
        }
        .map_err(|e| {
            let (status, code) = match e.status() {
                413 => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
                _ => (StatusCode::BAD_REQUEST, "malformed"),
            };
            Refusal::new(status, code, e.to_string())
        })?;
        drop(body);
        let mut presented = Self::presented(head)?;
        presented.envelope_dsn = envelope.dsn.as_deref();
        let project = self
            .config
            .authenticate(project_id, &presented)
            .map_err(|e| auth_refusal(&e))?;
        for (label, n) in envelope.dropped.iter() {
            metrics::counter!(ITEMS_DROPPED, "source" => self.config.name.clone(), "type" => label)
                .increment(u64::from(n));
        }
        let Envelope {
            event, event_id, ..
        } = envelope;
        let Some(event) = event else {
            return Ok(Intake::default());
        };
        self.limiter.check(project, Instant::now()).map_err(|limited| {
            Refusal::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "project {} takes at most {} events a minute (rate_limit_per_minute); send again in {} seconds",
                    project.id,
                    project.rate_limit_per_minute.unwrap_or_default(),
                    limited.retry_after_seconds()
                ),
            )
            .retry_after(u32::try_from(limited.retry_after_seconds()).unwrap_or(u32::MAX))
        })?;
        let sdk = to_alert(&self.config, project, event, event_id.as_deref());
        Ok(Intake {
            alerts: vec![incoming(sdk)],
            ignored: vec![],
        })
    }

    fn accepted(&self, head: &Head<'_>, stored: &[Stored], _: &[Ignored]) -> Answer {
        if head.endpoint.name == PREFLIGHT {
            let mut answer = json_answer(StatusCode::OK, &json!({}));
            let headers = answer.headers_mut();
            headers.insert(
                "Access-Control-Allow-Methods",
                HeaderValue::from_static("POST, OPTIONS"),
            );
            headers.insert(
                "Access-Control-Allow-Headers",
                HeaderValue::from_static(ALLOW_HEADERS),
            );
            headers.insert("Access-Control-Max-Age", HeaderValue::from_static("3600"));
            return answer;
        }
        let body = match stored.first().and_then(|s| s.alert.event_id.as_deref()) {
            Some(id) => json!({ "id": id }),
            None => json!({}),
        };
        json_answer(StatusCode::OK, &body)
    }

    fn dry_run(&self, _hint: Option<&str>, body: &[u8]) -> Result<Intake, String> {
        // An event file (what `/store/` takes) is one JSON object; anything else is read as an
        // envelope. The project is the envelope's `dsn`'s when it names one of ours, else the
        // source's first.
        let envelope = match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(serde_json::Value::Object(_)) => parse_store(body, MAX_EVENT_BYTES),
            _ => parse_envelope(body, MAX_EVENT_BYTES),
        }
        .map_err(|e| e.to_string())?;
        let project = envelope
            .dsn
            .as_deref()
            .and_then(crate::parse_dsn)
            .and_then(|(_, id)| self.config.project(id))
            .or_else(|| self.config.projects.first())
            .ok_or_else(|| format!("source \"{}\" has no projects", self.config.name))?;
        let Some(event) = envelope.event else {
            return Ok(Intake::default());
        };
        let sdk = to_alert(&self.config, project, event, envelope.event_id.as_deref());
        Ok(Intake {
            alerts: vec![incoming(sdk)],
            ignored: vec![],
        })
    }

    fn refusal_codes(&self) -> &'static [&'static str] {
        REFUSAL_CODES
    }

    fn register_metrics(&self) {
        metrics::describe_counter!(
            ITEMS_DROPPED,
            "Envelope items of a sentry_sdk source taken but not kept (not events), by type."
        );
        for label in crate::ITEM_LABELS.iter().filter(|l| **l != "event") {
            metrics::counter!(ITEMS_DROPPED, "source" => self.config.name.clone(), "type" => *label)
                .increment(0);
        }
    }

    fn resources(&self) -> &'static [&'static str] {
        RESOURCES
    }
}

fn incoming(sdk: crate::SdkEvent) -> Incoming {
    let raw = sdk.alert.raw.to_string();
    Incoming {
        issue: Some(sdk.grouping.issue_id.clone()),
        alert: Arc::new(sdk.alert),
        raw,
        request_id: None,
        endpoint: STORE_ENDPOINT,
    }
}

fn auth_refusal(error: &AuthError) -> Refusal {
    let (status, code, detail) = match error {
        AuthError::MissingKey => (StatusCode::UNAUTHORIZED, "unauthorized", "missing key"),
        AuthError::UnknownProject(_) => {
            (StatusCode::UNAUTHORIZED, "unauthorized", "unknown project")
        }
        AuthError::WrongKey(_) => (StatusCode::FORBIDDEN, "forbidden", "wrong key"),
        AuthError::ProjectMismatch { .. } => (
            StatusCode::FORBIDDEN,
            "forbidden",
            "dsn names another project",
        ),
    };
    Refusal::new(status, code, error.to_string()).detail(detail)
}

/// A JSON answer with the CORS header every answer carries: browser SDKs read the status and
/// the rate-limit headers, which a browser hides from a script without it.
fn json_answer(status: StatusCode, value: &serde_json::Value) -> Answer {
    let mut answer = http::Response::new(serde_json::to_vec(value).unwrap_or_default());
    *answer.status_mut() = status;
    let headers = answer.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert("Access-Control-Allow-Origin", HeaderValue::from_static("*"));
    headers.insert(
        "Access-Control-Expose-Headers",
        HeaderValue::from_static("x-sentry-error, x-sentry-rate-limits, retry-after"),
    );
    answer
}

#[cfg(test)]
mod tests;
