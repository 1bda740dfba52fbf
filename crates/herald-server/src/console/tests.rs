//! The console's sign-in and CSRF tokens, and the form parsers, as pure functions.

use super::auth::{Keys, cookie, token_matches};
use super::ops::{alert_from_pairs, duration, matchers_json};

const NOW: i64 = 1_800_000_000;

#[test]
fn a_session_verifies_until_it_ends() {
    let keys = Keys::from_token("admin-token");
    let session = keys.issue(NOW, 7);
    assert!(keys.verify(&session, NOW));
    assert!(keys.verify(&session, NOW + super::auth::SESSION_SECONDS - 1));
    assert!(!keys.verify(&session, NOW + super::auth::SESSION_SECONDS));
}

#[test]
fn a_session_never_holds_the_token() {
    let session = Keys::from_token("admin-token").issue(NOW, 7);
    assert!(!session.contains("admin-token"), "{session}");
}

#[test]
fn another_token_or_a_changed_cookie_does_not_verify() {
    let keys = Keys::from_token("admin-token");
    let session = keys.issue(NOW, 7);
    assert!(!Keys::from_token("other-token").verify(&session, NOW));
    // A later expiry written by hand breaks the MAC.
    let (_, rest) = session.split_once('.').unwrap();
    assert!(!keys.verify(&format!("{}.{rest}", NOW + 999_999), NOW));
    assert!(!keys.verify("", NOW));
    assert!(!keys.verify("1.2.zz", NOW));
}

#[test]
fn a_csrf_token_belongs_to_one_session() {
    let keys = Keys::from_token("admin-token");
    let (a, b) = (keys.issue(NOW, 1), keys.issue(NOW, 2));
    assert!(keys.csrf_matches(&a, &keys.csrf(&a)));
    assert!(!keys.csrf_matches(&a, &keys.csrf(&b)));
    assert!(!keys.csrf_matches(&a, ""));
}

#[test]
fn the_token_is_compared_whole() {
    assert!(token_matches("s3cret", "s3cret"));
    assert!(!token_matches("s3cret", "s3cre"));
    assert!(!token_matches("s3cret", ""));
}

#[test]
fn the_session_cookie_is_found_among_others() {
    assert_eq!(
        cookie("a=1; herald_session=x.y.z; b=2", "herald_session"),
        Some("x.y.z")
    );
    assert_eq!(cookie("a=1", "herald_session"), None);
}

#[test]
fn matchers_are_written_like_a_routes_match() {
    let m = matchers_json("project=api\nlevel=>=error, tags.team=web").unwrap();
    assert_eq!(
        m,
        serde_json::json!({"project": "api", "level": ">=error", "tags": {"team": "web"}})
    );
    assert!(
        matchers_json("project")
            .unwrap_err()
            .contains("not key=value")
    );
}

#[test]
fn durations_take_minutes_hours_and_days() {
    assert_eq!(duration("90m").unwrap().as_secs(), 5400);
    assert_eq!(duration("1d").unwrap().as_secs(), 86400);
    assert!(duration("soon").unwrap_err().contains("\"soon\""));
    assert!(duration("0s").is_err());
}

#[test]
fn the_tester_builds_an_alert_from_pairs() {
    let a = alert_from_pairs("sentry", "project=api\nlevel=error\ntags.team=web").unwrap();
    assert_eq!(a.project.as_deref(), Some("api"));
    assert_eq!(a.level, Some(herald_core::Level::Error));
    assert_eq!(a.tags.get("team"), Some("web"));
    assert!(
        alert_from_pairs("sentry", "colour=red")
            .unwrap_err()
            .contains("unknown field \"colour\"")
    );
}
