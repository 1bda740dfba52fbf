//! Tests for the SDK source on the source contract: the endpoints and their preflight, which
//! source claims a request, authentication before and after the body, the answers to a
//! compressed, malformed, wrong-key and rate-limited request, and the `429`'s headers.

use std::io::Write;

use herald_core::config::{Config, Env};

use super::*;

const KEY: &str = "0123456789abcdef0123456789abcdef";

fn source(extra: &str) -> SdkSource {
    let text = format!(
        "sources:\n  apps:\n    type: sentry_sdk\n{extra}    projects:\n      linebot: {{ id: 42, public_key: \"{KEY}\" }}\n"
    );
    let (config, _) = Config::parse(
        &text,
        "h.yaml",
        &Env::from_pairs(Vec::<(String, String)>::new()),
    )
    .unwrap_or_else(|e| panic!("core config: {:?}", e.errors));
    let mut diag = Diagnostics::new("h.yaml");
    let spec = &config.sources[0];
    let loaded = SdkSourceConfig::load(&spec.name, &spec.node, &mut diag).expect("loads");
    SdkSource::new(loaded)
}

fn endpoint(name: &'static str) -> Endpoint {
    SdkFactory
        .endpoints()
        .into_iter()
        .find(|e| e.name == name)
        .expect("declared")
}

struct Request {
    endpoint: Endpoint,
    headers: http::HeaderMap,
    params: Vec<(String, String)>,
    query: Option<&'static str>,
}

impl Request {
    fn new(name: &'static str, project: &str) -> Request {
        Request {
            endpoint: endpoint(name),
            headers: http::HeaderMap::new(),
            params: vec![("project_id".into(), project.into())],
            query: None,
        }
    }

    fn header(mut self, name: &'static str, value: &str) -> Request {
        self.headers.insert(name, value.parse().unwrap());
        self
    }

    fn head(&self) -> Head<'_> {
        Head {
            endpoint: &self.endpoint,
            headers: &self.headers,
            query: self.query,
            params: &self.params,
            now: jiff::Timestamp::now(),
        }
    }
}

fn auth(key: &str) -> String {
    format!("Sentry sentry_key={key}, sentry_version=7, sentry_client=sentry.python/2.0.0")
}

fn envelope() -> Vec<u8> {
    let event = br#"{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","level":"error","exception":{"values":[{"type":"KeyError","value":"'user'"}]}}"#;
    let mut body = b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}\n".to_vec();
    body.extend_from_slice(
        format!("{{\"type\":\"event\",\"length\":{}}}\n", event.len()).as_bytes(),
    );
    body.extend_from_slice(event);
    body.extend_from_slice(b"\n{\"type\":\"client_report\"}\n{}\n");
    body
}

#[test]
fn every_path_has_a_post_and_a_preflight_with_and_without_the_slash() {
    let endpoints = SdkFactory.endpoints();
    for path in [
        "/api/{project_id}/envelope/",
        "/api/{project_id}/envelope",
        "/api/{project_id}/store/",
        "/api/{project_id}/store",
    ] {
        let methods: Vec<_> = endpoints
            .iter()
            .filter(|e| e.path == path)
            .map(|e| e.method.clone())
            .collect();
        assert_eq!(methods, [Method::POST, Method::OPTIONS], "{path}");
    }
    assert!(endpoints.iter().all(|e| !e.names_source()));
}

#[tokio::test]
async fn a_preflight_allows_what_browser_sdks_send() {
    let source = source("");
    let request = Request::new(PREFLIGHT, "42");
    source.precheck(&request.head()).expect("no key needed");
    let intake = source.take(&request.head(), b"").await.expect("taken");
    assert!(intake.alerts.is_empty());
    let answer = source.accepted(&request.head(), &[], &[]);
    assert_eq!(answer.status(), StatusCode::OK);
    let h = answer.headers();
    assert_eq!(h["access-control-allow-origin"], "*");
    assert_eq!(h["access-control-allow-headers"], ALLOW_HEADERS);
    assert!(ALLOW_HEADERS.contains("x-sentry-auth") && ALLOW_HEADERS.contains("baggage"));
}

#[test]
fn a_source_claims_only_its_own_projects() {
    let source = source("");
    assert!(source.claims(&Request::new(ENVELOPE, "42").head()));
    assert!(!source.claims(&Request::new(ENVELOPE, "43").head()));
    assert!(!source.claims(&Request::new(ENVELOPE, "forty-two").head()));
}

#[tokio::test]
async fn a_gzip_envelope_becomes_one_event_alert_of_an_issue() {
    let source = source("");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&envelope()).unwrap();
    let request = Request::new(ENVELOPE, "42")
        .header("x-sentry-auth", &auth(KEY))
        .header("content-encoding", "gzip");
    source.precheck(&request.head()).expect("the key is right");
    let intake = source
        .take(&request.head(), &gz.finish().unwrap())
        .await
        .expect("taken");
    let [one] = intake.alerts.as_slice() else {
        panic!("one alert, got {}", intake.alerts.len())
    };
    assert_eq!(one.alert.title, "KeyError: 'user'");
    assert_eq!(one.alert.action, "event");
    assert_eq!(one.endpoint, "sdk");
    assert_eq!(one.issue.as_deref(), one.alert.issue_id.as_deref());
    assert!(one.issue.is_some());
}

#[tokio::test]
async fn a_wrong_key_is_403_before_the_body_and_a_missing_one_401_after() {
    let source = source("");
    let wrong = Request::new(ENVELOPE, "42").header("x-sentry-auth", &auth("nope"));
    let refusal = source.precheck(&wrong.head()).unwrap_err();
    assert_eq!(
        (refusal.status, refusal.code, refusal.unread),
        (StatusCode::FORBIDDEN, "forbidden", true)
    );
    assert!(!refusal.message.contains("nope"));
    let none = Request::new(ENVELOPE, "42");
    source
        .precheck(&none.head())
        .expect("the envelope may carry the dsn");
    let refusal = source.take(&none.head(), &envelope()).await.unwrap_err();
    assert_eq!(
        (refusal.status, refusal.code),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
}

#[tokio::test]
async fn malformed_and_undecodable_bodies_are_400_and_unknown_encodings_415() {
    let source = source("");
    let ok = |r: Request| r.header("x-sentry-auth", &auth(KEY));
    let refusal = source
        .take(&ok(Request::new(ENVELOPE, "42")).head(), b"not json\n")
        .await
        .unwrap_err();
    assert_eq!(
        (refusal.status, refusal.code),
        (StatusCode::BAD_REQUEST, "malformed")
    );
    assert!(
        refusal.message.contains("envelope header"),
        "{}",
        refusal.message
    );
    let gz = ok(Request::new(ENVELOPE, "42")).header("content-encoding", "gzip");
    let refusal = source.take(&gz.head(), b"plain").await.unwrap_err();
    assert_eq!(
        (refusal.status, refusal.code),
        (StatusCode::BAD_REQUEST, "malformed")
    );
    let zstd = ok(Request::new(ENVELOPE, "42")).header("content-encoding", "zstd");
    let refusal = source.take(&zstd.head(), b"x").await.unwrap_err();
    assert_eq!(refusal.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_the_headers_sdks_back_off_on() {
    let source = source("    rate_limit_per_minute: 2\n");
    let request = Request::new(ENVELOPE, "42").header("x-sentry-auth", &auth(KEY));
    for _ in 0..2 {
        source
            .take(&request.head(), &envelope())
            .await
            .expect("within the limit");
    }
    let refusal = source.take(&request.head(), &envelope()).await.unwrap_err();
    assert_eq!(
        (refusal.status, refusal.code),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    let seconds = refusal.retry_after.expect("retry after");
    assert!((1..=30).contains(&seconds), "{seconds}");
    let answer = SdkFactory.refuse(&refusal);
    assert_eq!(answer.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        answer.headers()["retry-after"],
        seconds.to_string().as_str()
    );
    assert_eq!(
        answer.headers()["x-sentry-rate-limits"],
        format!("{seconds}:error;default:project:project_quota").as_str()
    );
}

#[test]
fn no_source_for_the_project_is_401_as_sentry_answers() {
    let refusal = Refusal::new(StatusCode::NOT_FOUND, "unknown_source", "no source");
    let answer = SdkFactory.refuse(&refusal);
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(answer.headers()["access-control-allow-origin"], "*");
}

#[test]
fn the_dry_run_reads_an_event_file_and_an_envelope() {
    let source = source("");
    let event = br#"{"message":"disk full","level":"warning"}"#;
    let intake = source.dry_run(None, event).expect("event");
    assert_eq!(intake.alerts[0].alert.title, "disk full");
    let intake = source.dry_run(Some("sdk"), &envelope()).expect("envelope");
    assert_eq!(intake.alerts[0].alert.title, "KeyError: 'user'");
    assert!(source.dry_run(None, b"{\"a\"").is_err());
}
