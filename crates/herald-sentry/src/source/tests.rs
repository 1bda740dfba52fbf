//! The Sentry source on the source contract: what it refuses from the headers alone, what it
//! makes of a body, and how its answers look to Sentry.

use http::{HeaderMap, HeaderValue, StatusCode};

use super::*;
use crate::sign;
use herald_core::Secret;

const SECRET: &str = "s3cret";
const TOKEN: &str = "t0ken";

fn source() -> SentrySource {
    SentrySource::new(
        "sentry",
        SourceConfig {
            client_secret: Some(Secret::new(SECRET)),
            legacy_token: Some(Secret::new(TOKEN)),
            ..SourceConfig::default()
        },
    )
}

fn endpoint(name: &str) -> Endpoint {
    SentryFactory
        .endpoints()
        .into_iter()
        .find(|e| e.name == name)
        .unwrap()
}

/// Calls `f` with the head of a request to `endpoint` with `headers` and `query`.
fn with_head<T>(
    endpoint_name: &str,
    headers: &[(&str, &str)],
    query: Option<&str>,
    f: impl FnOnce(&Head<'_>) -> T,
) -> T {
    let endpoint = endpoint(endpoint_name);
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    let params = [("source".to_owned(), "sentry".to_owned())];
    let head = Head {
        endpoint: &endpoint,
        headers: &map,
        query,
        params: &params,
        now: jiff::Timestamp::now(),
    };
    f(&head)
}

const ISSUE: &str = r#"{"action":"created","data":{"issue":{"id":"1","title":"boom","level":"error","project":{"slug":"web"}}}}"#;

#[test]
fn the_endpoints_are_the_two_webhook_paths() {
    let got: Vec<(String, &str)> = SentryFactory
        .endpoints()
        .into_iter()
        .map(|e| (e.method.to_string(), e.path))
        .collect();
    assert_eq!(
        got,
        [
            ("POST".to_owned(), "/hooks/{source}"),
            ("POST".to_owned(), "/hooks/{source}/legacy")
        ]
    );
}

#[test]
fn a_platform_request_without_a_signature_is_refused_before_its_body() {
    let refusal = with_head("hook", &[("Sentry-Hook-Resource", "issue")], None, |h| {
        source().precheck(h).unwrap_err()
    });
    assert_eq!(refusal.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refusal.code, "unauthorized");
    assert_eq!(refusal.detail, Some("missing signature"));
    assert!(refusal.unread);
}

#[test]
fn a_legacy_request_needs_its_token_in_the_query() {
    let check = |query| with_head("legacy", &[], query, |h| source().precheck(h));
    assert_eq!(check(None).unwrap_err().detail, Some("missing token"));
    assert_eq!(
        check(Some("token=nope")).unwrap_err().detail,
        Some("wrong token")
    );
    assert!(check(Some("token=t0ken")).is_ok());
    let bad = check(Some("token=a&token=b")).unwrap_err();
    assert_eq!((bad.code, bad.unread), ("bad_query", true));
}

#[test]
fn a_long_request_id_is_a_400_before_the_body() {
    let long = "a".repeat(129);
    let refusal = with_head(
        "legacy",
        &[("Request-ID", &long)],
        Some("token=t0ken"),
        |h| source().precheck(h).unwrap_err(),
    );
    assert_eq!(
        (refusal.status, refusal.code, refusal.unread),
        (StatusCode::BAD_REQUEST, "bad_request_id", true)
    );
    assert!(
        refusal.message.contains("longer than 128"),
        "{}",
        refusal.message
    );
}

#[tokio::test]
async fn a_signed_payload_becomes_one_alert_keyed_by_its_request_id() {
    let signature = sign(&Secret::new(SECRET), ISSUE.as_bytes());
    let endpoint = endpoint("hook");
    let mut headers = HeaderMap::new();
    headers.insert("Sentry-Hook-Resource", HeaderValue::from_static("issue"));
    headers.insert("Sentry-Hook-Signature", signature.parse().unwrap());
    headers.insert("Request-ID", HeaderValue::from_static("r1"));
    let head = Head {
        endpoint: &endpoint,
        headers: &headers,
        query: None,
        params: &[],
        now: jiff::Timestamp::now(),
    };
    let intake = source().take(&head, ISSUE.as_bytes()).await.unwrap();
    assert_eq!(intake.alerts.len(), 1);
    let one = &intake.alerts[0];
    assert_eq!(one.alert.title, "boom");
    assert_eq!(one.alert.source, "sentry");
    assert_eq!(one.request_id.as_deref(), Some("r1"));
    assert_eq!(one.endpoint, "platform");
    assert_eq!(one.raw, ISSUE);

    let mut forged = headers.clone();
    forged.insert("Sentry-Hook-Signature", HeaderValue::from_static("00"));
    let head = Head {
        headers: &forged,
        ..head
    };
    let refusal = source().take(&head, ISSUE.as_bytes()).await.unwrap_err();
    assert_eq!(refusal.detail, Some("wrong signature"));
    assert!(!refusal.unread, "the body was read");
}

#[tokio::test]
async fn an_installation_is_ignored_and_a_malformed_body_is_a_400() {
    let body = br#"{"action":"created","data":{"installation":{}}}"#;
    let endpoint = endpoint("legacy");
    let headers = HeaderMap::new();
    let head = Head {
        endpoint: &endpoint,
        headers: &headers,
        query: Some("token=t0ken"),
        params: &[],
        now: jiff::Timestamp::now(),
    };
    let refusal = source().take(&head, b"{").await.unwrap_err();
    assert_eq!(
        (refusal.status, refusal.code),
        (StatusCode::BAD_REQUEST, "malformed")
    );
    let insecure = SentrySource::new(
        "sentry",
        SourceConfig {
            insecure: true,
            ..SourceConfig::default()
        },
    );
    let mut headers = HeaderMap::new();
    headers.insert(
        "Sentry-Hook-Resource",
        HeaderValue::from_static("installation"),
    );
    let hook = self::endpoint("hook");
    let head = Head {
        endpoint: &hook,
        headers: &headers,
        ..head
    };
    let intake = insecure.take(&head, body).await.unwrap();
    assert!(intake.alerts.is_empty());
    assert_eq!(intake.ignored.len(), 1);
    let answer = insecure.accepted(&head, &[], &intake.ignored);
    assert_eq!(answer.status(), StatusCode::OK);
    let json: serde_json::Value = serde_json::from_slice(answer.body()).unwrap();
    assert!(
        json["ignored"].as_str().unwrap().contains("installation"),
        "{json}"
    );
}

#[test]
fn a_stored_alert_is_answered_202_with_its_id() {
    let alert = Arc::new(herald_core::Alert::default());
    let stored = |duplicate| Stored {
        alert: alert.clone(),
        alert_id: "a1".into(),
        deliveries: 2,
        duplicate,
    };
    with_head("hook", &[], None, |h| {
        let answer = source().accepted(h, &[stored(false)], &[]);
        assert_eq!(answer.status(), StatusCode::ACCEPTED);
        assert_eq!(answer.headers()["content-type"], "application/json");
        assert_eq!(answer.body(), br#"{"id":"a1","deliveries":2}"#);
        let again = source().accepted(h, &[stored(true)], &[]);
        assert_eq!(
            again.body(),
            br#"{"id":"a1","deliveries":2,"duplicate":true}"#
        );
    });
}

#[test]
fn a_refusal_carries_its_code_for_sentrys_request_log() {
    let refusal = Refusal::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
        "later",
    )
    .retry_after(5);
    let answer = SentryFactory.refuse(&refusal);
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.headers()[HOOK_ERROR_HEADER], "store_unavailable");
    assert_eq!(answer.headers()[http::header::RETRY_AFTER], "5");
    assert_eq!(answer.body(), br#"{"error":"later"}"#);
}

#[test]
fn the_caller_is_the_endpoint_used_and_the_request_id() {
    let caller = |name, headers: &[(&str, &str)]| {
        with_head(name, headers, None, |h| SentryFactory.caller(h))
    };
    let platform = caller(
        "hook",
        &[("Sentry-Hook-Resource", "issue"), ("Request-ID", " r9 ")],
    );
    assert_eq!(platform.endpoint, "platform");
    assert_eq!(platform.request_id.as_deref(), Some("r9"));
    // The legacy endpoint ignores a resource header, as its checks do.
    assert_eq!(
        caller("legacy", &[("Sentry-Hook-Resource", "issue")]).endpoint,
        "legacy"
    );
    assert_eq!(caller("hook", &[]).endpoint, "legacy");
    assert_eq!(caller("hook", &[]).request_id, None);
}

/// Every code this source refuses with is declared, so each configured source has its
/// series from the start.
#[test]
fn every_refusal_code_the_source_uses_is_declared() {
    let text = include_str!("../source.rs");
    let mut rest = text;
    let mut used = vec![];
    while let Some(at) = rest.find("Refusal::new(") {
        rest = &rest[at + "Refusal::new(".len()..];
        let Some(open) = rest.find('"') else { break };
        let after = &rest[open + 1..];
        used.push(&after[..after.find('"').unwrap()]);
    }
    assert!(used.len() >= 4, "found only {used:?}");
    for code in used {
        assert!(
            REFUSAL_CODES.contains(&code),
            "{code} is not in REFUSAL_CODES"
        );
    }
}
