//! Conformance with Sentry's own published payloads, read in place from the shared fixtures
//! (`../shared/fixtures/sentry` beside the repository; never copied in). Every file there must
//! have a row in the table, so a new fixture cannot go unchecked. The resource header is the
//! file name up to its first `.`; legacy plugin files are sent without one.

use std::path::{Path, PathBuf};

use expect_test::{Expect, expect};
use herald_sentry::{Parsed, parse};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/sentry")
}

/// The alert's documented JSON, or the ignore reason.
fn shown(folder: &str, name: &str) -> String {
    let resource =
        (folder != "legacy-webhooks-plugin").then(|| name.split('.').next().unwrap_or(name));
    let body = std::fs::read(root().join(folder).join(name)).unwrap();
    match parse("sentry", resource, &body) {
        Ok(Parsed::Alert(alert)) => serde_json::to_string_pretty(&alert.to_json()).unwrap(),
        Ok(Parsed::Ignored { reason, .. }) => format!("ignored: {reason}"),
        Err(err) => format!("error: {err}"),
    }
}

fn table() -> Vec<(&'static str, &'static str, Expect)> {
    vec![
        (
            "integration-platform",
            "activity_alert.triggered.json",
            expect![[r#"
            {
              "source": "sentry",
              "resource": "activity_alert",
              "action": "triggered",
              "project": "error-gen",
              "level": "warning",
              "environment": null,
              "release": null,
              "title": "TypeError: you aren't my type",
              "culprit": "test-transaction-0-6232b23e-e457-4436-aebc-333c53a831c8",
              "issue_id": "43",
              "short_id": "ERROR-GEN-R",
              "url": "https://sentry.io/organizations/acme/issues/43/",
              "timestamp": "2026-06-29T19:51:40.373Z",
              "tags": {},
              "rule": "I'm keeping an eye on Seer 👀",
              "event_id": null
            }"#]],
        ),
        (
            "integration-platform",
            "comment.created.json",
            expect![[r#"
            {
              "source": "sentry",
              "resource": "comment",
              "action": "created",
              "project": "sentry",
              "level": null,
              "environment": null,
              "release": null,
              "title": "comment on issue 100",
              "culprit": "adding a comment",
              "issue_id": "100",
              "short_id": null,
              "url": null,
              "timestamp": "2022-03-02T21:51:44.11816Z",
              "tags": {},
              "rule": null,
              "event_id": null
            }"#]],
        ),
        (
            "integration-platform",
            "error.created.json",
            expect![[r#"
            {
              "source": "sentry",
              "resource": "error",
              "action": "created",
              "project": "front-end",
              "level": "error",
              "environment": null,
              "release": null,
              "title": "ReferenceError: blooopy is not defined",
              "culprit": "?(runner)",
              "issue_id": "1170820242",
              "short_id": null,
              "url": "https://sentry.io/organizations/test-org/issues/1170820242/events/bb78c1407cea4519aa397afc059c793d/",
              "timestamp": "2019-08-19T20:58:37.391Z",
              "tags": {
                "browser": "Chrome 75.0.3770",
                "browser.name": "Chrome",
                "handled": "no",
                "level": "error",
                "mechanism": "onerror",
                "os": "Mac OS X 10.14.0",
                "os.name": "Mac OS X",
                "user": "ip:162.217.75.90",
                "url": "https://null.jsbin.com/runner"
              },
              "rule": null,
              "event_id": "bb78c1407cea4519aa397afc059c793d"
            }"#]],
        ),
        (
            "integration-platform",
            "event_alert.triggered.json",
            expect![[r#"
            {
              "source": "sentry",
              "resource": "event_alert",
              "action": "triggered",
              "project": "front-end",
              "level": "error",
              "environment": null,
              "release": null,
              "title": "ReferenceError: heck is not defined",
              "culprit": "?(<anonymous>)",
              "issue_id": "1117540176",
              "short_id": null,
              "url": "https://sentry.io/organizations/test-org/issues/1117540176/events/e4874d664c3540c1a32eab185f12c5ab/",
              "timestamp": "2019-08-19T21:06:17.677Z",
              "tags": {
                "browser": "Chrome 75.0.3770",
                "browser.name": "Chrome",
                "handled": "no",
                "level": "error",
                "mechanism": "onerror",
                "os": "Mac OS X 10.14.0",
                "os.name": "Mac OS X",
                "user": "ip:162.217.75.90",
                "url": "https://null.jsbin.com/runner"
              },
              "rule": "Very Important Alert Rule!",
              "event_id": "e4874d664c3540c1a32eab185f12c5ab"
            }"#]],
        ),
        (
            "integration-platform",
            "installation.created.json",
            expect!["ignored: installation events are not alerts"],
        ),
        (
            "integration-platform",
            "issue.created.2019-docs.json",
            expect![[r#"
            {
              "source": "sentry",
              "resource": "issue",
              "action": "created",
              "project": "front-end",
              "level": "error",
              "environment": null,
              "release": null,
              "title": "ReferenceError: blooopy is not defined",
              "culprit": "?(runner)",
              "issue_id": "1170820242",
              "short_id": "FRONT-END-9",
              "url": null,
              "timestamp": "2019-08-19T20:58:37.391Z",
              "tags": {},
              "rule": null,
              "event_id": null
            }"#]],
        ),
        (
            "integration-platform",
            "issue.created.json",
            expect![[r#"
            {
              "source": "sentry",
              "resource": "issue",
              "action": "created",
              "project": "python",
              "level": "fatal",
              "environment": null,
              "release": null,
              "title": "Error generated with event_id: 495d375a-1df6-45c0-9890-34dae8e1b6a4(Priority: HIGH)",
              "culprit": "test-transaction-0-41e49cd3-7252-441f-8d27-63a9ad697b0a",
              "issue_id": "1234567890",
              "short_id": "PYTHON-Y",
              "url": "https://example-org.sentry.io/issues/1234567890/",
              "timestamp": "2025-11-10T20:56:00.738Z",
              "tags": {},
              "rule": null,
              "event_id": null
            }"#]],
        ),
        (
            "integration-platform",
            "metric_alert.resolved.json",
            expect![[r#"
            {
              "source": "sentry",
              "resource": "metric_alert",
              "action": "resolved",
              "project": "bar",
              "level": "info",
              "environment": null,
              "release": null,
              "title": "Resolved: Too many errors",
              "culprit": "1000 events in the last 10 minutes\\nFilter: level:error",
              "issue_id": "metric-alert:4",
              "short_id": null,
              "url": "https://sentry.io/organizations/baz/alerts/1/",
              "timestamp": "2020-09-13T12:26:40Z",
              "tags": {},
              "rule": "Too many errors",
              "event_id": null
            }"#]],
        ),
        (
            "legacy-webhooks-plugin",
            "legacy_webhook.docs-example.json",
            expect![[r#"
            {
              "source": "sentry",
              "resource": "legacy",
              "action": "triggered",
              "project": "meow",
              "level": "error",
              "environment": null,
              "release": null,
              "title": "ReferenceError: hello is not defined",
              "culprit": "?(runner)",
              "issue_id": "1385042923",
              "short_id": null,
              "url": "https://sentry.io/organizations/meredith/issues/1385042923/?referrer=webhooks_plugin",
              "timestamp": "2019-12-19T17:58:19.836607Z",
              "tags": {
                "browser": "Chrome 76.0.3809",
                "browser.name": "Chrome",
                "handled": "no",
                "level": "error",
                "mechanism": "onerror",
                "os": "Mac OS X 10.14.6",
                "os.name": "Mac OS X",
                "sentry:user": "ip:38.140.60.234",
                "url": "https://null.jsbin.com/runner"
              },
              "rule": "Webhook Test",
              "event_id": "af17d39f6a5d4c19ae5a735043a3bd97"
            }"#]],
        ),
    ]
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn sentry_published_payloads() {
    if !root().is_dir() {
        eprintln!(
            "NOTICE: {} is absent; skipping the conformance check against Sentry's published payloads",
            root().display()
        );
        return;
    }
    let table = table();
    for folder in ["integration-platform", "legacy-webhooks-plugin"] {
        for name in files(&root().join(folder)) {
            assert!(
                table.iter().any(|(f, n, _)| *f == folder && *n == name),
                "{folder}/{name} has no row in the conformance table"
            );
        }
    }
    for (folder, name, expected) in table {
        expected.assert_eq(&shown(folder, name));
    }
}
