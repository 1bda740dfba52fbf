//! The Sentry switch: nothing without a DSN, a client with one, a clear refusal of a bad one.

use super::sentry_options;

#[test]
fn without_a_dsn_nothing_is_initialised() {
    assert!(sentry_options(None).unwrap().is_none());
    assert!(sentry_options(Some("")).unwrap().is_none());
    assert!(sentry_options(Some("  ")).unwrap().is_none());
}

#[test]
fn a_dsn_configures_the_client() {
    let options = sentry_options(Some("http://key@127.0.0.1:9/42"))
        .unwrap()
        .unwrap();
    assert_eq!(options.dsn.unwrap().project_id().value(), "42");
}

#[test]
fn a_bad_dsn_is_refused_without_echoing_it() {
    let e = sentry_options(Some("not a dsn with secret-key")).unwrap_err();
    assert!(e.contains("SENTRY_DSN is not a valid Sentry DSN"), "{e}");
    assert!(!e.contains("secret-key"), "{e}");
}
