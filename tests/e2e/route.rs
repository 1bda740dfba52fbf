//! `herald route`: the dry run. Every Sentry payload (herald's own and Sentry's published ones)
//! gets the right project, level, tags and sinks on the example config; a payload that cannot
//! be parsed exits 2 with a message; an ignored resource says why.

use serde_json::Value;

use crate::support::{herald, repo, shared_fixtures, stderr, stdout};

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

/// A config of its own, so the `route test` cases do not follow the example config's edits.
const ROUTE_TEST_CONFIG: &str = r#"
sources:
  sentry: { type: sentry, client_secret: "route-test-secret" }
sinks:
  payments-log: { type: log }
  console: { type: log }
routes:
  - name: payments-prod
    match: { project: payments-api, level: ">=error", environment: production }
    sinks: [payments-log]
    continue: true
  - name: team-tagged
    match: { tags: { team: "*" } }
    sinks: [console]
  - name: everything-else
    sinks: [console]
"#;

/// `herald route test` in a folder holding [`ROUTE_TEST_CONFIG`].
fn route_test(args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("herald.yaml");
    std::fs::write(&config, ROUTE_TEST_CONFIG).unwrap();
    let mut all = vec!["route", "test", "--config", config.to_str().unwrap()];
    all.extend(args);
    herald(&all)
}

const PAYMENTS: &[&str] = &[
    "project=payments-api",
    "level=error",
    "tags.team=payments",
    "environment=production",
];

#[test]
fn route_test_routes_an_alert_written_as_pairs() {
    let out = route_test(PAYMENTS);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("alert: sentry event_alert/triggered project=payments-api level=error environment=production"),
        "{text}"
    );
    assert!(text.contains("tags: team=payments"), "{text}");
    assert!(
        text.contains("+ payments-prod: matched, sends to payments-log"),
        "{text}"
    );
    assert!(
        text.contains("+ team-tagged: matched, sends to console"),
        "{text}"
    );

    let mut json_args = vec!["--format", "json"];
    json_args.extend(PAYMENTS);
    let out = route_test(&json_args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let got: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(
        got["routes"],
        serde_json::json!(["payments-prod", "team-tagged"])
    );
    assert_eq!(got["sinks"], serde_json::json!(["payments-log", "console"]));
    assert_eq!(got["alert"]["tags"]["team"], "payments");
}

#[test]
fn route_test_expect_exits_0_only_for_exactly_the_routes_used() {
    let mut args = vec!["--expect", "team-tagged", "--expect", "payments-prod"];
    args.extend(PAYMENTS);
    let out = route_test(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // One route short.
    let mut args = vec!["--expect", "payments-prod"];
    args.extend(PAYMENTS);
    let out = route_test(&args);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("expected: payments-prod\n"), "{err}");
    assert!(
        err.contains("used:     payments-prod, team-tagged\n"),
        "{err}"
    );
    assert!(err.contains("+ team-tagged (used, not expected)"), "{err}");

    // A route that did not match, misspelled.
    let out = route_test(&["--expect", "payments-prd", "project=web", "level=info"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(
            "- payments-prd (expected, not used; no route is named so, did you mean payments-prod?)"
        ),
        "{err}"
    );
    assert!(
        err.contains("+ everything-else (used, not expected)"),
        "{err}"
    );
}

#[test]
fn route_test_refuses_an_unknown_key_and_a_bad_level_with_the_valid_ones() {
    let out = route_test(&["projct=payments-api"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("error: unknown key \"projct\" (did you mean project? keys: project, level, environment, release, resource, action, title, culprit, issue_id, tags.NAME)"),
        "{}",
        stderr(&out)
    );
    let out = route_test(&["level=critical"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(
            "level \"critical\" is not a level (levels: debug, info, warning, error, fatal)"
        ),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty(), "nothing routed: {}", stdout(&out));
}

/// Every integration-platform payload routed without `--resource` is read as the legacy
/// plugin's and fails, and the message names the flag and value that would work.
#[test]
fn route_without_resource_suggests_the_likely_one() {
    let mut dirs = vec![repo().join("tests/fixtures/sentry")];
    if let Some(shared) = shared_fixtures() {
        dirs.push(shared.join("integration-platform"));
    }
    let mut seen = 0;
    for dir in dirs {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let resource = name.split('.').next().unwrap();
            if !name.ends_with(".json") || resource == "legacy" || resource == "installation" {
                continue;
            }
            let out = herald(&[
                "route",
                "--config",
                "config/herald.yaml",
                path.to_str().unwrap(),
            ]);
            assert_eq!(out.status.code(), Some(2), "{name}");
            let want = format!(
                "hint: this looks like a Sentry-Hook-Resource: {resource} payload; run with --resource {resource}"
            );
            assert!(stderr(&out).contains(&want), "{name}: {}", stderr(&out));
            seen += 1;
        }
    }
    assert!(seen >= 8, "{seen}");

    // The wrong resource is pointed out too, even where it makes the payload ignored.
    let out = herald(&[
        "route",
        "--config",
        "config/herald.yaml",
        "--resource",
        "issue",
        "tests/fixtures/sentry/event_alert.payments.json",
    ]);
    assert!(
        stderr(&out).contains("this looks like a Sentry-Hook-Resource: event_alert payload, not issue; run with --resource event_alert"),
        "{}",
        stderr(&out)
    );
}
