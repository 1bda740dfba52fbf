//! `herald route test`'s pieces: the alert its `key=value` pairs make, and the difference
//! `--expect` prints.

use herald_core::Level;

use super::{alert_from_pairs, expectation};

fn pairs(items: &[&str]) -> Result<herald_core::Alert, String> {
    let items: Vec<String> = items.iter().map(|s| s.to_string()).collect();
    alert_from_pairs("sentry", &items)
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn pairs_fill_the_alert_fields_and_tags() {
    let a = pairs(&[
        "project=payments-api",
        "level=error",
        "environment=production",
        "release=2.15",
        "title=CardDeclined: no",
        "culprit=charge",
        "issue_id=42",
        "tags.team=payments",
        "tags.url=https://x/?a=b",
    ])
    .unwrap();
    assert_eq!(a.source, "sentry");
    assert_eq!(a.project.as_deref(), Some("payments-api"));
    assert_eq!(a.level, Some(Level::Error));
    assert_eq!(a.environment.as_deref(), Some("production"));
    assert_eq!(a.release.as_deref(), Some("2.15"));
    assert_eq!(a.title, "CardDeclined: no");
    assert_eq!(a.culprit.as_deref(), Some("charge"));
    assert_eq!(a.issue_id.as_deref(), Some("42"));
    assert_eq!(a.tags.get("team"), Some("payments"));
    // Only the first `=` separates: values may hold more.
    assert_eq!(a.tags.get("url"), Some("https://x/?a=b"));
}

#[test]
fn without_resource_and_action_it_is_a_triggered_event_alert() {
    let a = pairs(&["project=api"]).unwrap();
    assert_eq!(
        (a.resource.as_str(), a.action.as_str()),
        ("event_alert", "triggered")
    );
    let a = pairs(&["resource=metric_alert", "action=critical"]).unwrap();
    assert_eq!(
        (a.resource.as_str(), a.action.as_str()),
        ("metric_alert", "critical")
    );
}

#[test]
fn an_empty_value_leaves_the_field_unset() {
    let a = pairs(&["environment=", "level=", "tags.team="]).unwrap();
    assert_eq!(a.environment, None);
    assert_eq!(a.level, None);
    assert!(a.tags.is_empty());
}

#[test]
fn an_unknown_key_lists_the_valid_ones_and_the_closest() {
    let e = pairs(&["projct=api"]).unwrap_err();
    assert_eq!(
        e,
        "unknown key \"projct\" (did you mean project? keys: project, level, environment, release, resource, action, title, culprit, issue_id, tags.NAME)"
    );
    assert!(
        pairs(&["team=web"])
            .unwrap_err()
            .starts_with("unknown key \"team\" (keys: ")
    );
    assert!(
        pairs(&["tags.=web"])
            .unwrap_err()
            .starts_with("unknown key \"tags.\"")
    );
}

#[test]
fn a_bad_level_names_the_levels() {
    assert_eq!(
        pairs(&["level=critical"]).unwrap_err(),
        "level \"critical\" is not a level (levels: debug, info, warning, error, fatal)"
    );
}

#[test]
fn a_pair_without_equals_or_given_twice_is_refused() {
    let e = pairs(&["payments-api"]).unwrap_err();
    assert!(
        e.starts_with("\"payments-api\" is not key=value (keys: project,"),
        "{e}"
    );
    assert!(pairs(&["=api"]).unwrap_err().contains("is not key=value"));
    assert_eq!(
        pairs(&["project=a", "project=b"]).unwrap_err(),
        "\"project\" is given twice; an alert has one value per key"
    );
}

#[test]
fn expect_passes_on_the_same_routes_in_any_order() {
    let names = ["a", "b", "c"];
    assert_eq!(
        expectation(&strings(&["b", "a"]), &strings(&["a", "b"]), &names),
        None
    );
}

#[test]
fn expect_shows_what_is_missing_and_what_is_extra() {
    let names = ["payments-prod", "audit", "everything-else"];
    let diff = expectation(
        &strings(&["payments-prod", "audit"]),
        &strings(&["audit", "everything-else"]),
        &names,
    )
    .unwrap();
    assert_eq!(
        diff,
        "error: the routes used are not the expected ones\n  expected: payments-prod, audit\n  used:     audit, everything-else\n  - payments-prod (expected, not used)\n  + everything-else (used, not expected)\n"
    );
}

#[test]
fn expect_points_out_a_misspelled_route() {
    let diff = expectation(&strings(&["paymnets-prod"]), &[], &["payments-prod"]).unwrap();
    assert!(diff.contains("used:     (none)"), "{diff}");
    assert!(
        diff.contains("- paymnets-prod (expected, not used; no route is named so, did you mean payments-prod?)"),
        "{diff}"
    );
}
