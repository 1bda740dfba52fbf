//! `herald route`: the dry run. Every Sentry payload (herald's own and Sentry's published ones)
//! gets the right project, level, tags and sinks on the example config; a payload that cannot
//! be parsed exits 2 with a message; an ignored resource says why.

use serde_json::Value;

use crate::support::{herald, shared_fixtures, stderr, stdout};

fn route_json(resource: Option<&str>, payload: &str) -> Value {
    let mut args = vec![
        "route",
        "--config",
        "config/herald.yaml",
        "--format",
        "json",
    ];
    if let Some(r) = resource {
        args.extend(["--resource", r]);
    }
    args.push(payload);
    let out = herald(&args);
    assert!(out.status.success(), "{payload}: {}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(
        text.trim().lines().count(),
        1,
        "exactly one JSON object: {text}"
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{payload}: {e}: {text}"))
}

/// (file, resource header, project, level, a tag that must be there, routes, sinks, ignored)
type Case = (
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
    Option<(&'static str, &'static str)>,
    &'static [&'static str],
    &'static [&'static str],
);

fn check(path: &str, case: &Case) {
    let (_, resource, project, level, tag, routes, sinks) = case;
    let got = route_json(*resource, path);
    let alert = &got["alert"];
    for key in [
        "source",
        "resource",
        "action",
        "project",
        "level",
        "environment",
        "release",
        "title",
        "culprit",
        "issue_id",
        "url",
        "tags",
    ] {
        assert!(
            alert.get(key).is_some(),
            "{path}: alert lacks {key}: {alert}"
        );
    }
    assert!(alert["tags"].is_object(), "{path}: tags must be an object");
    assert_eq!(alert["project"].as_str(), *project, "{path}: project");
    assert_eq!(alert["level"].as_str(), *level, "{path}: level");
    if let Some((k, v)) = tag {
        assert_eq!(alert["tags"][k].as_str(), Some(*v), "{path}: tag {k}");
    }
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&got["routes"]), routes.to_vec(), "{path}: routes");
    assert_eq!(names(&got["sinks"]), sinks.to_vec(), "{path}: sinks");
}

#[test]
fn sentry_published_payloads_route_on_the_example_config() {
    let Some(dir) = shared_fixtures() else { return };
    let cases: &[Case] = &[
        (
            "integration-platform/event_alert.triggered.json",
            Some("event_alert"),
            Some("front-end"),
            Some("error"),
            Some(("browser.name", "Chrome")),
            &["frontend-errors"],
            &["frontend-log"],
        ),
        (
            "integration-platform/error.created.json",
            Some("error"),
            Some("front-end"),
            Some("error"),
            Some(("handled", "no")),
            &["frontend-errors"],
            &["frontend-log"],
        ),
        (
            "integration-platform/issue.created.json",
            Some("issue"),
            Some("python"),
            Some("fatal"),
            None,
            &["everything-else"],
            &["console"],
        ),
        (
            "integration-platform/issue.created.2019-docs.json",
            Some("issue"),
            Some("front-end"),
            Some("error"),
            None,
            &["frontend-errors"],
            &["frontend-log"],
        ),
        (
            "integration-platform/metric_alert.resolved.json",
            Some("metric_alert"),
            Some("bar"),
            Some("info"),
            None,
            &["metric-alerts"],
            &["console"],
        ),
        (
            "integration-platform/comment.created.json",
            Some("comment"),
            Some("sentry"),
            None,
            None,
            &["everything-else"],
            &["console"],
        ),
        (
            "integration-platform/activity_alert.triggered.json",
            Some("activity_alert"),
            Some("error-gen"),
            Some("warning"),
            None,
            &["everything-else"],
            &["console"],
        ),
        (
            "legacy-webhooks-plugin/legacy_webhook.docs-example.json",
            None,
            Some("meow"),
            Some("error"),
            Some(("os.name", "Mac OS X")),
            &["everything-else"],
            &["console"],
        ),
    ];
    let mut seen = 0;
    for case in cases {
        check(dir.join(case.0).to_str().unwrap(), case);
        seen += 1;
    }
    // The one payload herald does not route: it says why and sends nowhere.
    let got = route_json(
        Some("installation"),
        dir.join("integration-platform/installation.created.json")
            .to_str()
            .unwrap(),
    );
    assert_eq!(got["ignored"], "installation events are not alerts");
    assert_eq!(got["sinks"], serde_json::json!([]));
    seen += 1;
    // Every published webhook payload is covered by a case above.
    let mut files = 0;
    for sub in ["integration-platform", "legacy-webhooks-plugin"] {
        files += std::fs::read_dir(dir.join(sub)).unwrap().count();
    }
    assert_eq!(seen, files, "a shared fixture has no case here");
}

#[test]
fn heralds_own_payloads_route_by_project_level_and_tag() {
    let cases: &[Case] = &[
        // payments-api errors in production: the payments route (it continues) and team-tagged.
        (
            "tests/fixtures/sentry/event_alert.payments.json",
            Some("event_alert"),
            Some("payments-api"),
            Some("error"),
            Some(("team", "payments")),
            &["payments-prod", "team-tagged"],
            &["payments-log", "console"],
        ),
        // Tags as an object route like pairs; a warning is below the payments threshold.
        (
            "tests/fixtures/sentry/event_alert.tags-object.json",
            Some("event_alert"),
            Some("payments-api"),
            Some("warning"),
            Some(("team", "payments")),
            &["team-tagged"],
            &["console"],
        ),
        // Staging is excluded from team-tagged, so the catch-all takes it.
        (
            "tests/fixtures/sentry/error.checkout.json",
            Some("error"),
            Some("checkout-web"),
            Some("fatal"),
            Some(("team", "checkout")),
            &["everything-else"],
            &["console"],
        ),
        (
            "tests/fixtures/sentry/legacy.payments.json",
            None,
            Some("payments-api"),
            Some("error"),
            Some(("team", "payments")),
            &["payments-prod", "team-tagged"],
            &["payments-log", "console"],
        ),
        // A critical metric alert is level error, so ">=error" catches it.
        (
            "tests/fixtures/sentry/metric_alert.critical.json",
            Some("metric_alert"),
            Some("payments-api"),
            Some("error"),
            None,
            &["payments-prod", "metric-alerts"],
            &["payments-log", "console"],
        ),
        (
            "tests/fixtures/sentry/metric_alert.warning.json",
            Some("metric_alert"),
            Some("checkout-web"),
            Some("warning"),
            None,
            &["metric-alerts"],
            &["console"],
        ),
        // Issue payloads carry no tags and no environment.
        (
            "tests/fixtures/sentry/issue.resolved.json",
            Some("issue"),
            Some("payments-api"),
            Some("error"),
            None,
            &["everything-else"],
            &["console"],
        ),
        (
            "tests/fixtures/sentry/issue.assigned.json",
            Some("issue"),
            Some("checkout-web"),
            Some("fatal"),
            None,
            &["everything-else"],
            &["console"],
        ),
        (
            "tests/fixtures/sentry/comment.created.json",
            Some("comment"),
            Some("payments-api"),
            None,
            None,
            &["everything-else"],
            &["console"],
        ),
    ];
    for case in cases {
        check(case.0, case);
    }
}

#[test]
fn text_output_explains_why_routes_did_not_match() {
    let out = herald(&[
        "route",
        "--config",
        "config/herald.yaml",
        "--resource",
        "event_alert",
        "tests/fixtures/sentry/event_alert.payments.json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("+ payments-prod: matched"), "{text}");
    assert!(
        text.contains("- frontend-errors: no match: project is \"payments-api\""),
        "{text}"
    );
}

#[test]
fn an_unparseable_payload_exits_2_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"action\": \"triggered\", \"data\": ").unwrap();
    let out = herald(&[
        "route",
        "--config",
        "config/herald.yaml",
        "--resource",
        "event_alert",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot parse"), "{}", stderr(&out));
}

#[test]
fn render_shows_each_sinks_message_with_alert_text_escaped() {
    let out = herald(&[
        "route",
        "--config",
        "tests/fixtures/render/render.yaml",
        "--resource",
        "event_alert",
        "--format",
        "json",
        "--render",
        "tests/fixtures/render/hostile.json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let got: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let rendered = got["rendered"].as_array().unwrap();
    let message = |sink: &str| -> String {
        let r = rendered
            .iter()
            .find(|r| r["sink"] == sink)
            .unwrap_or_else(|| panic!("no {sink}: {got}"));
        r["message"]
            .as_str()
            .unwrap_or_else(|| panic!("{sink}: {r}"))
            .to_owned()
    };
    let slack: Value = serde_json::from_str(&message("slack-team")).unwrap();
    // The channel comes from the team tag.
    assert_eq!(slack["channel"], "#alerts-payments");
    // Every mrkdwn text shows the hostile text instead of acting on it: no mention, no link.
    let mut mrkdwn = vec![slack["text"].as_str().unwrap().to_owned()];
    for block in slack["blocks"].as_array().unwrap() {
        if block["text"]["type"] == "mrkdwn" {
            mrkdwn.push(block["text"]["text"].as_str().unwrap().to_owned());
        }
        for field in block["fields"].as_array().into_iter().flatten() {
            mrkdwn.push(field["text"].as_str().unwrap_or_default().to_owned());
        }
    }
    let all = mrkdwn.join("\n");
    assert!(all.contains("&lt;!channel&gt;"), "{all}");
    assert!(!all.contains("<!channel>"), "{all}");
    assert!(!all.contains("<https://evil.example|click me>"), "{all}");
    // A zero-width space after @ breaks the mention everywhere, the plain-text header included.
    assert!(!message("slack-team").contains("@everyone"), "{slack}");
    // The HTML part escapes the title; the plain-text part and the subject are text anyway.
    let mail = message("mail");
    let html = mail
        .split("Content-Type: text/html")
        .nth(1)
        .expect("an HTML part");
    assert!(html.contains("&lt;script&gt;"), "{html}");
    assert!(!html.contains("<script>"), "{html}");
    let hook: Value = serde_json::from_str(&message("hook")).unwrap();
    assert_eq!(
        hook["alert"]["title"],
        "<!channel> <script>alert(1)</script> @everyone"
    );
    // LINE shows text as text: the title arrives as written.
    assert!(
        message("line-group").contains("<script>alert(1)</script>"),
        "{}",
        message("line-group")
    );
}
