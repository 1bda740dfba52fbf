//! Tests for [`parse`]: one `check` per resource on small inline payloads, the tolerated shape
//! variations, the errors with their wording, and garbage that must never panic.

use expect_test::{Expect, expect};
use serde_json::json;

use super::*;

/// Parses and shows the alert's documented JSON (or the ignore reason, or the error).
fn check(resource: Option<&str>, body: Value, expected: Expect) {
    let shown = match parse("sentry", resource, body.to_string().as_bytes()) {
        Ok(Parsed::Alert(alert)) => {
            assert_eq!(alert.raw, body, "raw keeps the payload");
            serde_json::to_string_pretty(&alert.to_json()).unwrap()
        }
        Ok(Parsed::Ignored { alert, reason }) => {
            format!("ignored {}.{}: {reason}", alert.resource, alert.action)
        }
        Err(err) => format!("error: {err}"),
    };
    expected.assert_eq(&shown);
}

fn alert(resource: Option<&str>, body: Value) -> Alert {
    match parse("sentry", resource, body.to_string().as_bytes()) {
        Ok(Parsed::Alert(alert)) => alert,
        other => panic!("expected an alert, got {other:?}"),
    }
}

#[test]
fn event_alert() {
    check(
        Some("event_alert"),
        json!({
            "action": "triggered",
            "data": {
                "event": {
                    "event_id": "0a1b", "issue_id": 42, "level": "error", "project": 7,
                    "title": "TimeoutError: upstream", "culprit": "charge in billing.py",
                    "datetime": "2024-05-01T10:00:00.5Z", "release": null,
                    "url": "https://sentry.io/api/0/projects/acme/payments-api/events/0a1b/",
                    "web_url": "https://sentry.io/organizations/acme/issues/42/events/0a1b/",
                    "tags": [["environment", "production"], ["team", "payments"], ["sentry:release", "pay@1.2"]]
                },
                "triggered_rule": "payments errors"
            }
        }),
        expect![[r#"
            {
              "source": "sentry",
              "resource": "event_alert",
              "action": "triggered",
              "project": "payments-api",
              "level": "error",
              "environment": "production",
              "release": "pay@1.2",
              "title": "TimeoutError: upstream",
              "culprit": "charge in billing.py",
              "issue_id": "42",
              "short_id": null,
              "url": "https://sentry.io/organizations/acme/issues/42/events/0a1b/",
              "timestamp": "2024-05-01T10:00:00.5Z",
              "tags": {
                "environment": "production",
                "team": "payments",
                "sentry:release": "pay@1.2"
              },
              "rule": "payments errors",
              "event_id": "0a1b"
            }"#]],
    );
}

#[test]
fn event_fields_fall_back() {
    // No level field: the tag; no culprit: the message; no datetime: the float epoch;
    // tags as an object; environment as a field wins over the tag.
    let a = alert(
        Some("error"),
        json!({"action": "created", "data": {"error": {
            "message": "disk full", "timestamp": 1714557600.25, "environment": "staging",
            "tags": {"level": "warning", "environment": "production", "n": 3, "skip": null}
        }}}),
    );
    assert_eq!(a.level, Some(Level::Warning));
    assert_eq!(a.title, "disk full");
    assert_eq!(a.culprit.as_deref(), Some("disk full"));
    assert_eq!(a.environment.as_deref(), Some("staging"));
    assert_eq!(a.timestamp.unwrap().to_string(), "2024-05-01T10:00:00.25Z");
    assert_eq!(a.tags.get("n"), Some("3"));
    assert_eq!(a.tags.get("skip"), None);
    assert_eq!(a.project, None);
    assert_eq!(a.rule, None);
}

#[test]
fn project_comes_from_the_event_url() {
    let slug = |url: &str| project_from_url(Some(url));
    assert_eq!(
        slug("https://sentry.io/api/0/projects/acme/front-end/events/e1/").as_deref(),
        Some("front-end")
    );
    assert_eq!(
        slug("/projects/o/p/events/?x=/projects/a/b/events/").as_deref(),
        Some("p")
    );
    assert_eq!(
        slug("https://sentry.io/organizations/acme/issues/1/events/e1/"),
        None
    );
    assert_eq!(slug("https://sentry.io/projects//events/"), None);
    assert_eq!(slug(""), None);
}

#[test]
fn issue_resolved() {
    check(
        Some("issue"),
        json!({"action": "resolved", "data": {"issue": {
            "id": 99, "shortId": "PAYMENTS-API-3", "title": "KeyError: 'amount'", "culprit": "refund",
            "level": "error", "project": {"id": "7", "slug": "payments-api"}, "permalink": null,
            "web_url": "https://acme.sentry.io/issues/99/", "lastSeen": "2024-05-01T10:00:00+00:00"
        }}}),
        expect![[r#"
            {
              "source": "sentry",
              "resource": "issue",
              "action": "resolved",
              "project": "payments-api",
              "level": "error",
              "environment": null,
              "release": null,
              "title": "KeyError: 'amount'",
              "culprit": "refund",
              "issue_id": "99",
              "short_id": "PAYMENTS-API-3",
              "url": "https://acme.sentry.io/issues/99/",
              "timestamp": "2024-05-01T10:00:00Z",
              "tags": {},
              "rule": null,
              "event_id": null
            }"#]],
    );
}

#[test]
fn issue_links_fall_back_to_the_permalink_or_nothing() {
    let url = |issue: Value| {
        alert(
            Some("issue"),
            json!({"action": "created", "data": {"issue": issue}}),
        )
        .url
    };
    assert_eq!(
        url(json!({"permalink": "https://p/1/", "web_url": null})).as_deref(),
        Some("https://p/1/")
    );
    assert_eq!(url(json!({"permalink": null})), None);
}

#[test]
fn every_issue_action_is_an_alert_and_others_are_ignored() {
    for action in ISSUE_ACTIONS {
        let a = alert(
            Some("issue"),
            json!({"action": action, "data": {"issue": {"id": "1"}}}),
        );
        assert_eq!(a.action, *action);
        assert_eq!(a.title, "Sentry issue");
    }
    check(
        Some("issue"),
        json!({"action": "merged", "data": {"issue": {"id": "1"}}}),
        expect![[
            r#"ignored issue.merged: issue action "merged" is not handled (handled: created, resolved, assigned, ignored, archived, unresolved)"#
        ]],
    );
}

#[test]
fn metric_alert_levels_follow_the_action() {
    let level = |action: &str| {
        alert(
            Some("metric_alert"),
            json!({"action": action, "data": {"metric_alert": {}}}),
        )
        .level
    };
    assert_eq!(level("critical"), Some(Level::Error));
    assert_eq!(level("warning"), Some(Level::Warning));
    assert_eq!(level("resolved"), Some(Level::Info));
    check(
        Some("metric_alert"),
        json!({"action": "open", "data": {"metric_alert": {}}}),
        expect![[
            r#"ignored metric_alert.open: metric_alert action "open" is not handled (handled: critical, warning, resolved)"#
        ]],
    );
}

#[test]
fn metric_alert_critical() {
    check(
        Some("metric_alert"),
        json!({"action": "critical", "data": {
            "description_title": "Critical: checkout latency",
            "description_text": "p95 over 2s in the last 5 minutes",
            "web_url": "https://acme.sentry.io/alerts/rules/details/12/",
            "metric_alert": {
                "id": 31, "title": "Agile Otter", "projects": [], "date_detected": "2024-05-01T10:00:00Z",
                "alert_rule": {"name": "checkout latency", "projects": ["payments-api"], "environment": "production"}
            }
        }}),
        expect![[r#"
            {
              "source": "sentry",
              "resource": "metric_alert",
              "action": "critical",
              "project": "payments-api",
              "level": "error",
              "environment": "production",
              "release": null,
              "title": "Critical: checkout latency",
              "culprit": "p95 over 2s in the last 5 minutes",
              "issue_id": "metric-alert:31",
              "short_id": null,
              "url": "https://acme.sentry.io/alerts/rules/details/12/",
              "timestamp": "2024-05-01T10:00:00Z",
              "tags": {},
              "rule": "checkout latency",
              "event_id": null
            }"#]],
    );
}

#[test]
fn metric_alert_title_falls_back_to_incident_then_rule() {
    let title = |data: Value| {
        alert(
            Some("metric_alert"),
            json!({"action": "warning", "data": data}),
        )
        .title
    };
    assert_eq!(
        title(json!({"metric_alert": {"title": "Agile Otter", "alert_rule": {"name": "r"}}})),
        "Agile Otter"
    );
    assert_eq!(
        title(json!({"metric_alert": {"alert_rule": {"name": "r"}}})),
        "r"
    );
}

#[test]
fn comment_created() {
    check(
        Some("comment"),
        json!({"action": "created", "data": {
            "comment": "rolled back pay@1.2", "project_slug": "payments-api", "comment_id": 5,
            "issue_id": 99, "timestamp": "2024-05-01T10:05:00Z"
        }}),
        expect![[r#"
            {
              "source": "sentry",
              "resource": "comment",
              "action": "created",
              "project": "payments-api",
              "level": null,
              "environment": null,
              "release": null,
              "title": "comment on issue 99",
              "culprit": "rolled back pay@1.2",
              "issue_id": "99",
              "short_id": null,
              "url": null,
              "timestamp": "2024-05-01T10:05:00Z",
              "tags": {},
              "rule": null,
              "event_id": null
            }"#]],
    );
}

#[test]
fn activity_alert_takes_the_rule_from_the_alert() {
    let a = alert(
        Some("activity_alert"),
        json!({"action": "triggered", "data": {
            "issue": {"id": "43", "project": {"slug": "payments-api"}, "level": "warning", "title": "t"},
            "alert": {"id": 10, "title": "seer watch"}
        }}),
    );
    assert_eq!(a.rule.as_deref(), Some("seer watch"));
    assert_eq!(a.project.as_deref(), Some("payments-api"));
    assert_eq!(a.issue_id.as_deref(), Some("43"));
    assert_eq!(a.level, Some(Level::Warning));
}

#[test]
fn non_alert_resources_are_ignored() {
    check(
        Some("installation"),
        json!({"action": "created", "data": {"installation": {}}}),
        expect![[r#"ignored installation.created: installation events are not alerts"#]],
    );
    check(
        Some("seer"),
        json!({"action": "root_cause_completed", "data": {}}),
        expect![[
            r#"ignored seer.root_cause_completed: resource "seer" is not handled (handled: event_alert, error, issue, metric_alert, comment, activity_alert)"#
        ]],
    );
    check(
        Some(""),
        json!({"action": "created"}),
        expect![[r#"ignored .created: the Sentry-Hook-Resource header is empty"#]],
    );
}

#[test]
fn legacy_plugin() {
    check(
        None,
        json!({
            "id": "77", "project": "payments-api", "project_name": "Payments API", "project_slug": "payments-api",
            "logger": null, "level": "error", "culprit": "charge", "message": "card declined",
            "url": "https://sentry.io/organizations/acme/issues/77/?referrer=webhooks_plugin",
            "triggering_rules": ["payments errors", "second"],
            "event": {
                "event_id": "ev1", "title": "CardError: card declined", "timestamp": 1714557600,
                "environment": "production",
                "tags": [["team", "payments"], ["release", "pay@1.3"], ["bad"], [1, 2]]
            }
        }),
        expect![[r#"
            {
              "source": "sentry",
              "resource": "legacy",
              "action": "triggered",
              "project": "payments-api",
              "level": "error",
              "environment": "production",
              "release": "pay@1.3",
              "title": "CardError: card declined",
              "culprit": "charge",
              "issue_id": "77",
              "short_id": null,
              "url": "https://sentry.io/organizations/acme/issues/77/?referrer=webhooks_plugin",
              "timestamp": "2024-05-01T10:00:00Z",
              "tags": {
                "team": "payments",
                "release": "pay@1.3",
                "1": "2"
              },
              "rule": "payments errors",
              "event_id": "ev1"
            }"#]],
    );
}

#[test]
fn legacy_falls_back_to_project_and_message() {
    let a = alert(
        None,
        json!({"project": "web", "url": "u", "event": {}, "message": "boom"}),
    );
    assert_eq!(a.project.as_deref(), Some("web"));
    assert_eq!(a.title, "boom");
    assert_eq!(a.culprit.as_deref(), Some("boom"));
}

#[test]
fn errors_say_what_is_wrong_where() {
    check(
        Some("issue"),
        json!({"action": "created"}),
        expect![[r#"error: data is missing (a Sentry "issue" webhook carries it)"#]],
    );
    check(
        Some("event_alert"),
        json!({"action": "triggered", "data": {"event": null}}),
        expect![[r#"error: data.event is missing (a Sentry "event_alert" webhook carries it)"#]],
    );
    check(
        Some("error"),
        json!({"action": "created", "data": {"error": "boom"}}),
        expect![[
            r#"error: data.error is a string, expected an object (in a Sentry "error" webhook)"#
        ]],
    );
    check(
        Some("issue"),
        json!({"data": {"issue": {}}}),
        expect![[r#"error: action is missing (a Sentry "issue" webhook carries it)"#]],
    );
    check(
        None,
        json!({"action": "created", "data": {}}),
        expect![[
            r#"error: no Sentry-Hook-Resource header and the body is not a legacy WebHooks plugin payload (it looks like an integration-platform payload, which needs the header); Sentry integrations send that header, so check that the request comes from Sentry"#
        ]],
    );
    check(
        None,
        json!({"action": "triggered", "data": {"event": {"level": "error"}}}),
        expect![[
            r#"error: no Sentry-Hook-Resource header and the body is not a legacy WebHooks plugin payload (it looks like a Sentry-Hook-Resource: event_alert payload, which needs that header); Sentry integrations send that header, so check that the request comes from Sentry"#
        ]],
    );
    check(
        None,
        json!({"hello": 1}),
        expect![[
            r#"error: no Sentry-Hook-Resource header and the body is not a legacy WebHooks plugin payload (it has no project_slug, triggering_rules or event; top-level keys: hello); Sentry integrations send that header, so check that the request comes from Sentry"#
        ]],
    );
    check(
        Some("issue"),
        json!([1]),
        expect![[r#"error: the body is a list, expected a JSON object"#]],
    );
}

#[test]
fn bad_json_reports_line_and_column() {
    let err = parse(
        "sentry",
        Some("issue"),
        b"{\n  \"action\": \"created\",\n  oops\n}",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the body is not valid JSON: key must be a string at line 3 column 3"
    );
    assert!(matches!(
        err,
        ParseError::Json {
            line: 3,
            column: 3,
            ..
        }
    ));
    assert!(matches!(
        parse("sentry", None, b""),
        Err(ParseError::Json { .. })
    ));
}

#[test]
fn garbage_never_panics() {
    let resources = [
        None,
        Some("event_alert"),
        Some("error"),
        Some("issue"),
        Some("metric_alert"),
        Some("comment"),
        Some("activity_alert"),
        Some("installation"),
        Some("seer"),
    ];
    let odd = [
        json!(null),
        json!(1),
        json!("x"),
        json!([]),
        json!({}),
        json!([[]]),
        json!({"a": {}}),
    ];
    let mut bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"\xff\xfe".to_vec(),
        b"{".to_vec(),
        b"[[[[[[[[[[".to_vec(),
        b"1e999".to_vec(),
        "{\"action\":\"\u{0}\"}".into(),
    ];
    for action in ["triggered", "created", "resolved", "critical"] {
        for value in &odd {
            for body in [
                json!({"action": action, "data": value}),
                json!({"action": action, "data": {"event": value, "error": value, "issue": value, "metric_alert": value}}),
                json!({"action": action, "data": {
                    "event": {"tags": value, "url": value, "timestamp": 1e300, "datetime": value, "level": value},
                    "error": {"tags": [[value, value]], "issue_id": value, "timestamp": -1e300},
                    "issue": {"project": value, "id": value, "lastSeen": "not a time", "level": "loud"},
                    "metric_alert": {"projects": value, "alert_rule": value, "id": value, "date_closed": value},
                    "comment": value, "issue_id": value, "triggered_rule": value, "alert": value
                }}),
                json!({"project_slug": value, "triggering_rules": value, "event": {"tags": value, "timestamp": "1e400"}, "level": value}),
                json!({"action": value, "data": {}}),
            ] {
                bodies.push(body.to_string().into_bytes());
            }
        }
    }
    for resource in resources {
        for body in &bodies {
            // Any outcome is fine; reaching the end of the loop is the assertion.
            let _ = parse("sentry", resource, body);
        }
    }
    // Odd values yield absent fields rather than errors.
    let a = alert(
        Some("event_alert"),
        json!({"action": "triggered", "data": {"event": {"level": "loud", "timestamp": 1e300, "tags": "x"}}}),
    );
    assert_eq!((a.level, a.timestamp, a.tags.len()), (None, None, 0));
}

/// An event_alert whose event carries `tags` and `title`.
fn hostile_event(tags: Value, title: &str) -> Vec<u8> {
    json!({"action": "triggered", "data": {"event": {
        "title": title, "level": "error", "tags": tags,
        "url": "https://sentry.io/api/0/projects/acme/payments-api/events/1/"
    }}})
    .to_string()
    .into_bytes()
}

#[test]
fn sixty_thousand_tags_keep_the_cap_and_the_raw_body() {
    use herald_core::alert::limits::MAX_TAGS;
    let pairs: Vec<Value> = (0..60_000).map(|i| json!([format!("k{i}"), "v"])).collect();
    let object: Map<String, Value> = (0..60_000).map(|i| (format!("k{i}"), json!(i))).collect();
    for tags in [Value::Array(pairs), Value::Object(object)] {
        let body = hostile_event(tags, "many tags");
        let alert = parse("sentry", Some("event_alert"), &body)
            .unwrap()
            .into_alert();
        assert_eq!(alert.tags.len(), MAX_TAGS);
        assert_eq!(alert.tags.0[0].0, "k0");
        assert_eq!(alert.tags.0[MAX_TAGS - 1].0, format!("k{}", MAX_TAGS - 1));
        assert_eq!(serde_json::to_vec(&alert.raw).unwrap(), body);
    }
}

#[test]
fn fields_from_tags_past_the_cap_still_count() {
    // Stored events sort tags by key, so `sentry:release` may come after the ones kept.
    let mut pairs: Vec<Value> = (0..1_000).map(|i| json!([format!("a{i}"), "v"])).collect();
    pairs.push(json!(["environment", "production"]));
    pairs.push(json!(["sentry:release", "pay@1.2"]));
    let body = hostile_event(Value::Array(pairs), "t");
    let alert = parse("sentry", Some("event_alert"), &body)
        .unwrap()
        .into_alert();
    assert_eq!(alert.environment.as_deref(), Some("production"));
    assert_eq!(alert.release.as_deref(), Some("pay@1.2"));
    assert_eq!(
        alert.tags.get("environment"),
        None,
        "the tag itself is past the cap"
    );
}

#[test]
fn a_one_mebibyte_title_is_cut_on_a_character_boundary() {
    use herald_core::alert::limits::{MAX_TAG_KEY_BYTES, MAX_TAG_VALUE_BYTES, MAX_TEXT_BYTES};
    let title = "é".repeat(1 << 19);
    let long = "x".repeat(1 << 20);
    let body = hostile_event(json!({ long.clone(): long }), &title);
    let alert = parse("sentry", Some("event_alert"), &body)
        .unwrap()
        .into_alert();
    assert!(alert.title.len() <= MAX_TEXT_BYTES);
    assert!(alert.title.len() > MAX_TEXT_BYTES - 8);
    assert!(alert.title.starts_with("éé") && alert.title.ends_with('…'));
    let (key, value) = alert.tags.iter().next().unwrap();
    assert!(key.len() <= MAX_TAG_KEY_BYTES && value.len() <= MAX_TAG_VALUE_BYTES);
    assert_eq!(
        alert.raw["data"]["event"]["title"].as_str(),
        Some(title.as_str())
    );
    assert_eq!(serde_json::to_vec(&alert.raw).unwrap(), body);
}

#[test]
fn ignored_payloads_do_not_echo_huge_values() {
    let long = "a".repeat(1 << 20);
    let body = json!({"action": long, "data": {}}).to_string();
    let parsed = parse("sentry", Some("issue"), body.as_bytes()).unwrap();
    let Parsed::Ignored { alert, reason } = parsed else {
        panic!("expected ignored, got {parsed:?}")
    };
    assert!(reason.len() < 1024, "reason is {} bytes", reason.len());
    assert!(alert.action.len() <= herald_core::alert::limits::MAX_NAME_BYTES);
    let parsed = parse("sentry", Some(&long), b"{}").unwrap();
    let Parsed::Ignored { alert, reason } = parsed else {
        panic!("expected ignored, got {parsed:?}")
    };
    assert!(reason.len() < 1024, "reason is {} bytes", reason.len());
    assert!(alert.resource.len() <= herald_core::alert::limits::MAX_NAME_BYTES);
}

fn likely(body: Value) -> Option<&'static str> {
    likely_resource(body.to_string().as_bytes())
}

#[test]
fn likely_resource_reads_the_shape_of_data() {
    assert_eq!(
        likely(json!({"action": "triggered", "data": {"event": {}}})),
        Some("event_alert")
    );
    assert_eq!(
        likely(json!({"action": "created", "data": {"error": {}}})),
        Some("error")
    );
    assert_eq!(
        likely(json!({"action": "critical", "data": {"metric_alert": {}}})),
        Some("metric_alert")
    );
    assert_eq!(
        likely(json!({"action": "resolved", "data": {"issue": {}}})),
        Some("issue")
    );
    assert_eq!(
        likely(json!({"action": "triggered", "data": {"issue": {}}})),
        Some("activity_alert")
    );
    assert_eq!(
        likely(json!({"action": "created", "data": {"issue": {}, "alert": {}}})),
        Some("activity_alert")
    );
    assert_eq!(
        likely(json!({"action": "created", "data": {"comment": "hi", "issue_id": 1}})),
        Some("comment")
    );
    assert_eq!(
        likely(json!({"action": "created", "data": {"installation": {}}})),
        Some("installation")
    );
    assert_eq!(
        likely(json!({"project_slug": "api", "event": {}})),
        Some("legacy")
    );
    assert_eq!(likely(json!({"action": "created", "data": {}})), None);
    assert_eq!(likely(json!({"hello": 1})), None);
    assert_eq!(likely_resource(b"not json"), None);
}

/// Every payload herald and Sentry publish is recognised as the resource its file is named
/// after (`issue.created.json` is an `issue`; legacy files have no resource header).
#[test]
fn likely_resource_names_every_published_payload() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dirs = [
        root.join("tests/fixtures/sentry"),
        root.join("../shared/fixtures/sentry/integration-platform"),
        root.join("../shared/fixtures/sentry/legacy-webhooks-plugin"),
    ];
    let mut seen = 0;
    for dir in dirs.iter().filter(|d| d.is_dir()) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let prefix = name.split('.').next().unwrap();
            let expected = if prefix.starts_with("legacy") {
                "legacy"
            } else {
                prefix
            };
            let body = std::fs::read(&path).unwrap();
            assert_eq!(likely_resource(&body), Some(expected), "{name}");
            seen += 1;
        }
    }
    assert!(seen >= 9, "only {seen} payloads found");
}

#[test]
fn a_comment_needs_both_its_text_and_its_issue_to_be_recognised() {
    assert_eq!(
        likely(json!({"action": "created", "data": {"comment": "hi"}})),
        None
    );
    assert_eq!(
        likely(json!({"action": "created", "data": {"issue_id": 1}})),
        None
    );
}

#[test]
fn a_legacy_body_is_told_by_its_keys_or_by_an_event_with_a_url_or_project() {
    let is_legacy = |body: Value| parse("sentry", None, body.to_string().as_bytes()).is_ok();
    assert!(is_legacy(json!({"project_slug": "api"})));
    assert!(is_legacy(json!({"triggering_rules": ["r"]})));
    assert!(is_legacy(json!({"event": {}, "url": "https://x/"})));
    assert!(is_legacy(json!({"event": {}, "project": "api"})));
    assert!(!is_legacy(json!({"url": "https://x/", "project": "api"})));
    assert!(!is_legacy(json!({"event": {}, "message": "m"})));
    assert!(!is_legacy(json!({"event": "text", "url": "https://x/"})));
}

#[test]
fn an_action_without_data_is_not_taken_for_an_integration_payload() {
    check(
        None,
        json!({"action": "created", "level": "error"}),
        expect![[
            r#"error: no Sentry-Hook-Resource header and the body is not a legacy WebHooks plugin payload (it has no project_slug, triggering_rules or event; top-level keys: action, level); Sentry integrations send that header, so check that the request comes from Sentry"#
        ]],
    );
    check(
        None,
        json!({}),
        expect![[
            r#"error: no Sentry-Hook-Resource header and the body is not a legacy WebHooks plugin payload (it is an empty object); Sentry integrations send that header, so check that the request comes from Sentry"#
        ]],
    );
}

#[test]
fn an_ignored_payload_keeps_a_bare_alert_named_after_resource_and_action() {
    let body = json!({"action": "created", "data": {"installation": {}}});
    let parsed = parse("sentry", Some("installation"), body.to_string().as_bytes()).unwrap();
    assert!(parsed.is_ignored());
    let alert = parsed.alert().clone();
    assert_eq!(
        (
            alert.source.as_str(),
            alert.resource.as_str(),
            alert.action.as_str()
        ),
        ("sentry", "installation", "created")
    );
    assert_eq!(alert.title, "installation created");
    assert_eq!(alert.raw, body, "the payload is kept");
    assert_eq!(parsed.into_alert(), alert);
    let parsed = parse(
        "sentry",
        Some("issue"),
        json!({"action": "created", "data": {"issue": {"id": 1, "title": "t"}}})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    assert!(!parsed.is_ignored());
    assert_eq!(parsed.alert().title, "t");
    assert_eq!(parsed.into_alert().issue_id.as_deref(), Some("1"));
}

#[test]
fn a_metric_alert_is_dated_by_its_close_only_when_resolved() {
    let incident = json!({
        "date_started": "2024-05-01T09:00:00Z",
        "date_detected": "2024-05-01T09:05:00Z",
        "date_closed": "2024-05-01T11:00:00Z"
    });
    let at = |action: &str, incident: &Value| {
        alert(
            Some("metric_alert"),
            json!({"action": action, "data": {"metric_alert": incident}}),
        )
        .timestamp
        .map(|t| t.to_string())
    };
    assert_eq!(
        at("resolved", &incident).as_deref(),
        Some("2024-05-01T11:00:00Z")
    );
    assert_eq!(
        at("critical", &incident).as_deref(),
        Some("2024-05-01T09:05:00Z")
    );
    assert_eq!(
        at(
            "warning",
            &json!({"date_started": "2024-05-01T09:00:00Z", "date_created": "2024-05-01T08:00:00Z"})
        )
        .as_deref(),
        Some("2024-05-01T09:00:00Z")
    );
    assert_eq!(
        at("resolved", &json!({"date_created": "2024-05-01T08:00:00Z"})).as_deref(),
        Some("2024-05-01T08:00:00Z")
    );
}

#[test]
fn tags_of_every_shape_are_read_and_malformed_entries_skipped() {
    let tags = |raw: Value| {
        let a = alert(
            Some("error"),
            json!({"action": "created", "data": {"error": {"tags": raw}}}),
        );
        a.tags
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        tags(json!([{"key": "team", "value": "web"}, {"key": "n", "value": 3}, {"key": "x"}])),
        vec!["team=web", "n=3"]
    );
    assert_eq!(
        tags(
            json!([["a", "b", "c"], ["k"], ["x", "y"], [1, "one"], "loose", [null, "v"], ["o", {"a": 1}]])
        ),
        vec!["x=y", "1=one"]
    );
    assert_eq!(tags(json!({"team": "web", "null": null})), vec!["team=web"]);
    assert!(tags(json!("team:web")).is_empty());
}

#[test]
fn the_level_tag_is_the_first_tag_named_level() {
    let level = |raw: Value| {
        alert(
            Some("error"),
            json!({"action": "created", "data": {"error": {"tags": raw}}}),
        )
        .level
    };
    assert_eq!(
        level(json!([
            ["team", "fatal"],
            ["level", "warning"],
            ["level", "error"]
        ])),
        Some(Level::Warning)
    );
    assert_eq!(
        level(json!([["level", null], ["level", "info"]])),
        Some(Level::Info)
    );
    assert_eq!(level(json!([["level", "loud"]])), None);
}
