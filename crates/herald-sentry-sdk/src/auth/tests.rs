//! Tests for authentication: the key from each place an SDK puts it (the header as
//! sentry-python really sends it), the order among them, and the typed refusals.

use super::*;
use crate::config::Project;
use herald_core::config::Location;

const KEY: &str = "0123456789abcdef0123456789abcdef";

fn source() -> SdkSourceConfig {
    SdkSourceConfig {
        name: "apps".into(),
        scrub: true,
        projects: vec![Project {
            slug: "shop".into(),
            id: 42,
            public_key: Secret::new(KEY),
            rate_limit_per_minute: None,
            id_at: Location::file("h.yaml"),
        }],
    }
}

/// The `X-Sentry-Auth` line the capture script recorded from sentry-python.
fn python_header() -> String {
    include_str!("../../tests/fixtures/python/key-error.headers")
        .lines()
        .find_map(|l| l.strip_prefix("X-Sentry-Auth: "))
        .expect("the capture recorded X-Sentry-Auth")
        .to_owned()
}

fn check(presented: Presented<'_>) -> Result<String, AuthError> {
    source()
        .authenticate(42, &presented)
        .map(|p| p.slug.clone())
}

#[test]
fn the_header_sentry_python_sends_authenticates() {
    let header = python_header();
    assert_eq!(key_from_header(&header), Some(KEY));
    let presented = Presented {
        sentry_auth: Some(&header),
        ..Presented::default()
    };
    assert!(presented.has_request_key());
    assert_eq!(check(presented), Ok("shop".into()));
}

#[test]
fn the_key_is_read_from_each_place() {
    let authorization = format!("Sentry sentry_version=7,sentry_key={KEY}");
    let query = format!("sentry_version=7&sentry_key={KEY}");
    let dsn = format!("https://{KEY}@herald.example.com/42");
    for presented in [
        Presented {
            authorization: Some(&authorization),
            ..Presented::default()
        },
        Presented {
            query: Some(&query),
            ..Presented::default()
        },
        Presented {
            envelope_dsn: Some(&dsn),
            ..Presented::default()
        },
    ] {
        assert_eq!(check(presented), Ok("shop".into()), "{presented:?}");
    }
}

#[test]
fn the_headers_come_before_the_query_and_the_dsn() {
    let good = format!("Sentry sentry_key={KEY}");
    let bad_query = "sentry_key=wrong";
    let presented = Presented {
        sentry_auth: Some(&good),
        query: Some(bad_query),
        envelope_dsn: Some("https://wrong@h/42"),
        ..Presented::default()
    };
    assert_eq!(check(presented), Ok("shop".into()));
    let presented = Presented {
        sentry_auth: Some("Sentry sentry_key=wrong"),
        query: Some(&format!("sentry_key={KEY}")),
        ..Presented::default()
    };
    assert_eq!(check(presented), Err(AuthError::WrongKey(42)));
}

#[test]
fn refusals_are_typed_with_their_status() {
    let wrong = Presented {
        sentry_auth: Some("Sentry sentry_key=0123456789abcdef0123456789abcdee"),
        ..Presented::default()
    };
    assert_eq!(check(wrong), Err(AuthError::WrongKey(42)));
    assert_eq!(AuthError::WrongKey(42).status(), 403);
    assert_eq!(check(Presented::default()), Err(AuthError::MissingKey));
    assert_eq!(AuthError::MissingKey.status(), 401);
    let other_scheme = Presented {
        authorization: Some(&format!("Bearer {KEY}")),
        ..Presented::default()
    };
    assert!(!other_scheme.has_request_key());
    assert_eq!(check(other_scheme), Err(AuthError::MissingKey));
    let source = source();
    let unknown = source.authenticate(7, &Presented::default());
    assert_eq!(unknown.unwrap_err(), AuthError::UnknownProject(7));
    assert_eq!(AuthError::UnknownProject(7).status(), 401);
    let dsn = format!("https://{KEY}@h/43");
    let mismatch = Presented {
        envelope_dsn: Some(&dsn),
        ..Presented::default()
    };
    assert_eq!(
        check(mismatch),
        Err(AuthError::ProjectMismatch { path: 42, dsn: 43 })
    );
}

#[test]
fn messages_never_repeat_the_key_given() {
    let given = "someone-elses-key-0123456789";
    let presented = Presented {
        sentry_auth: Some(&format!("Sentry sentry_key={given}")),
        ..Presented::default()
    };
    let err = check(presented).unwrap_err();
    assert!(!err.to_string().contains(given), "{err}");
    assert!(!format!("{err:?}").contains(given), "{err:?}");
}

#[test]
fn header_and_dsn_readers_take_real_shapes_and_refuse_others() {
    assert_eq!(
        key_from_header("sentry  sentry_key = abc , sentry_version=7"),
        Some("abc")
    );
    assert_eq!(key_from_header("Sentry sentry_version=7"), None);
    assert_eq!(key_from_header("Sentry sentry_key="), None);
    assert_eq!(key_from_header("Basic abc"), None);
    assert_eq!(key_from_query("a=1&sentry_key=k%2Dx"), Some("k-x".into()));
    assert_eq!(key_from_query("sentry_key="), None);
    assert_eq!(
        parse_dsn("https://k@h:9000/prefix/42"),
        Some(("k".into(), 42))
    );
    assert_eq!(parse_dsn("https://k@h/42/"), Some(("k".into(), 42)));
    assert_eq!(parse_dsn("https://h/42"), None);
    assert_eq!(parse_dsn("https://k@h/shop"), None);
    assert_eq!(parse_dsn("not a dsn"), None);
}
