//! herald's own example payloads (`tests/fixtures/sentry/` at the repository root), one test
//! per file, each checking the fields routes and templates rely on.

use std::path::PathBuf;

use herald_core::{Alert, Level};
use herald_sentry::{Parsed, parse};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/sentry")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Parses a fixture with the resource its file name gives (`legacy` means no header).
fn alert(name: &str) -> Alert {
    let resource = name.split('.').next().filter(|r| *r != "legacy");
    match parse("sentry", resource, &fixture(name)) {
        Ok(Parsed::Alert(alert)) => alert,
        other => panic!("{name}: expected an alert, got {other:?}"),
    }
}

#[test]
fn event_alert_payments() {
    let a = alert("event_alert.payments.json");
    assert_eq!(
        (a.resource.as_str(), a.action.as_str()),
        ("event_alert", "triggered")
    );
    assert_eq!(a.project.as_deref(), Some("payments-api"));
    assert_eq!(a.level, Some(Level::Error));
    assert_eq!(a.environment.as_deref(), Some("production"));
    assert_eq!(a.release.as_deref(), Some("payments-api@2.14.0"));
    assert_eq!(a.title, "CardDeclinedError: issuer declined the charge");
    assert_eq!(
        a.culprit.as_deref(),
        Some("payments.charge in capture_payment")
    );
    assert_eq!(a.issue_id.as_deref(), Some("4410021"));
    assert_eq!(a.tags.get("team"), Some("payments"));
    assert_eq!(a.tags.len(), 5);
    assert_eq!(
        a.rule.as_deref(),
        Some("payments: new errors in production")
    );
    assert_eq!(
        a.event_id.as_deref(),
        Some("9c3f1e2a7b6d4c5e8f0a1b2c3d4e5f60")
    );
    assert_eq!(a.timestamp.unwrap().to_string(), "2025-03-04T09:15:22.481Z");
    assert!(a.url.unwrap().contains("/issues/4410021/events/"));
    assert_eq!(a.source, "sentry");
    assert!(a.raw.get("data").is_some());
}

#[test]
fn event_alert_tags_object() {
    let a = alert("event_alert.tags-object.json");
    assert_eq!(a.project.as_deref(), Some("payments-api"));
    assert_eq!(a.level, Some(Level::Warning));
    assert_eq!(a.environment.as_deref(), Some("production"));
    assert_eq!(a.tags.get("team"), Some("payments"));
    assert_eq!(a.issue_id.as_deref(), Some("4410300"));
    assert_eq!(a.rule.as_deref(), Some("payments: slow refunds"));
}

#[test]
fn error_checkout() {
    let a = alert("error.checkout.json");
    assert_eq!(
        (a.resource.as_str(), a.action.as_str()),
        ("error", "created")
    );
    assert_eq!(a.project.as_deref(), Some("checkout-web"));
    assert_eq!(a.level, Some(Level::Fatal));
    assert_eq!(a.environment.as_deref(), Some("staging"));
    assert_eq!(a.release, None);
    assert_eq!(
        a.culprit.as_deref(),
        Some("checkout worker killed: cart session store exhausted")
    );
    assert_eq!(a.issue_id.as_deref(), Some("4410187"));
    assert_eq!(a.timestamp.unwrap().as_second(), 1_741_080_000);
    assert_eq!(a.rule, None);
}

#[test]
fn issue_resolved() {
    let a = alert("issue.resolved.json");
    assert_eq!(
        (a.resource.as_str(), a.action.as_str()),
        ("issue", "resolved")
    );
    assert_eq!(a.project.as_deref(), Some("payments-api"));
    assert_eq!(a.short_id.as_deref(), Some("PAYMENTS-API-2K"));
    assert_eq!(a.issue_id.as_deref(), Some("4410021"));
    assert_eq!(
        a.url.as_deref(),
        Some("https://acme.sentry.io/issues/4410021/")
    );
    assert!(a.tags.is_empty());
}

#[test]
fn issue_assigned() {
    let a = alert("issue.assigned.json");
    assert_eq!(a.action, "assigned");
    assert_eq!(a.project.as_deref(), Some("checkout-web"));
    assert_eq!(a.level, Some(Level::Fatal));
    assert_eq!(a.issue_id.as_deref(), Some("4410187"));
    assert_eq!(
        a.url.as_deref(),
        Some("https://acme.sentry.io/issues/4410187/")
    );
}

#[test]
fn metric_alert_critical() {
    let a = alert("metric_alert.critical.json");
    assert_eq!(a.level, Some(Level::Error));
    assert_eq!(a.project.as_deref(), Some("payments-api"));
    assert_eq!(a.title, "Critical: payments error rate");
    assert_eq!(a.rule.as_deref(), Some("payments error rate"));
    assert_eq!(a.environment.as_deref(), Some("production"));
    assert_eq!(a.issue_id.as_deref(), Some("metric-alert:903"));
    assert!(a.culprit.unwrap().starts_with("412 events"));
}

#[test]
fn metric_alert_warning() {
    let a = alert("metric_alert.warning.json");
    assert_eq!(a.level, Some(Level::Warning));
    assert_eq!(a.project.as_deref(), Some("checkout-web"));
    assert_eq!(a.title, "Quiet Lynx");
    assert_eq!(a.environment, None);
    assert_eq!(a.issue_id.as_deref(), Some("metric-alert:904"));
}

#[test]
fn comment_created() {
    let a = alert("comment.created.json");
    assert_eq!(
        (a.resource.as_str(), a.action.as_str()),
        ("comment", "created")
    );
    assert_eq!(a.project.as_deref(), Some("payments-api"));
    assert_eq!(a.title, "comment on issue 4410021");
    assert_eq!(a.level, None);
    assert!(a.culprit.unwrap().starts_with("Rolled back"));
}

#[test]
fn legacy_payments() {
    let a = alert("legacy.payments.json");
    assert_eq!(
        (a.resource.as_str(), a.action.as_str()),
        ("legacy", "triggered")
    );
    assert_eq!(a.project.as_deref(), Some("payments-api"));
    assert_eq!(a.level, Some(Level::Error));
    assert_eq!(a.environment.as_deref(), Some("production"));
    assert_eq!(a.release.as_deref(), Some("payments-api@2.14.0"));
    assert_eq!(a.title, "CardDeclinedError: issuer declined the charge");
    assert_eq!(a.issue_id.as_deref(), Some("4410021"));
    assert_eq!(a.rule.as_deref(), Some("payments: page on-call"));
    assert_eq!(a.tags.get("team"), Some("payments"));
    assert_eq!(
        a.event_id.as_deref(),
        Some("7a6b5c4d3e2f40119a8b7c6d5e4f3a2b")
    );
}

#[test]
fn every_example_is_covered_here() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/sentry");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    let covered = [
        "comment.created.json",
        "error.checkout.json",
        "event_alert.payments.json",
        "event_alert.tags-object.json",
        "issue.assigned.json",
        "issue.resolved.json",
        "legacy.payments.json",
        "metric_alert.critical.json",
        "metric_alert.warning.json",
    ];
    assert_eq!(names, covered, "add a test for each new example file");
}
