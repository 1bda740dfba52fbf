//! Signals that something is being lost, against the real binary: every documented metric
//! series exists at 0 right after start; an alert no route matches is a warning line naming
//! it, a counter and a count in `/readyz`; refused webhooks are logged once per reason per
//! minute with their count, not once per request.

use std::time::Duration;

use serde_json::{Value, json};

use crate::standin::{Herald, SECRET, event_alert, post_signed, wait_until};
use crate::support::repo;

/// Two sources, two sinks, and routes that leave `payments-api` unmatched.
fn config() -> String {
    format!(
        r#"storage:
  url: "sqlite://data/herald.db"
sources:
  sentry: {{ type: sentry, client_secret: "{SECRET}", max_skew_seconds: 300 }}
  staging: {{ type: sentry, legacy_token: "staging-token" }}
sinks:
  web-log: {{ type: log }}
  audit-log: {{ type: log }}
routes:
  - name: web-only
    match: {{ project: web }}
    sinks: [web-log, audit-log]
"#
    )
}

/// The value of the series `name` with exactly `labels` (in any order).
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, number) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            let rest = rest.trim_end_matches('}');
            let mut got: Vec<&str> = rest.split(',').filter(|s| !s.is_empty()).collect();
            let mut want: Vec<String> =
                labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            got.sort_unstable();
            want.sort_unstable();
            (metric == name && got == want).then(|| number.parse().ok())?
        })
}

async fn get(herald: &Herald, path: &str) -> String {
    reqwest::get(herald.url(path))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The metric names of the README's metrics table, with their type.
fn documented_metrics() -> Vec<(String, String)> {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let section = readme
        .split("\n## Metrics\n")
        .nth(1)
        .expect("a Metrics section");
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter_map(|l| {
            let mut cells = l.strip_prefix("| `")?.split('|');
            let name = cells.next()?.trim().trim_end_matches('`').to_owned();
            let kind = cells.next()?.trim().to_owned();
            name.starts_with("herald_").then_some((name, kind))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_series_exists_at_zero_right_after_start() {
    let dir = tempfile::tempdir().unwrap();
    // With an SDK source too, whose own metric (dropped envelope items) is documented.
    let with_sdk = config().replace(
        "sinks:\n",
        "  apps: { type: sentry_sdk, projects: { shop: { id: 42, public_key: \"0123456789abcdef0123456789abcdef\" } } }\nsinks:\n",
    );
    let herald = Herald::start(dir.path(), &with_sdk).await;
    let text = get(&herald, "/metrics").await;

    let documented = documented_metrics();
    assert!(documented.len() >= 14, "{documented:?}");
    for (name, kind) in &documented {
        let series = if kind == "histogram" {
            format!("{name}_count")
        } else {
            name.clone()
        };
        let present = text
            .lines()
            .any(|l| !l.starts_with('#') && l.starts_with(&series));
        assert!(
            present,
            "{name} ({kind}) is documented but not exported:\n{text}"
        );
    }

    let zero = |name: &str, labels: &[(&str, &str)]| {
        assert_eq!(
            value(&text, name, labels),
            Some(0.0),
            "{name}{labels:?} is not at 0:\n{text}"
        );
    };
    for kind in [
        "transaction",
        "session",
        "client_report",
        "attachment",
        "other",
    ] {
        zero(
            "herald_sdk_items_dropped_total",
            &[("source", "apps"), ("type", kind)],
        );
    }
    zero(
        "herald_alerts_rejected_total",
        &[("source", "apps"), ("reason", "rate_limited")],
    );
    for source in ["sentry", "staging"] {
        for reason in [
            "unauthorized",
            "malformed",
            "body_too_large",
            "unreadable_body",
            "bad_request_id",
            "bad_query",
            "body_timeout",
            "overloaded",
            "store_unavailable",
        ] {
            zero(
                "herald_alerts_rejected_total",
                &[("source", source), ("reason", reason)],
            );
        }
        for resource in [
            "event_alert",
            "error",
            "issue",
            "metric_alert",
            "comment",
            "activity_alert",
            "legacy",
        ] {
            zero(
                "herald_alerts_received_total",
                &[("source", source), ("resource", resource)],
            );
        }
        zero("herald_alerts_duplicate_total", &[("source", source)]);
        zero(
            "herald_alerts_request_id_reused_total",
            &[("source", source)],
        );
    }
    zero(
        "herald_alerts_rejected_total",
        &[("source", "unknown"), ("reason", "unknown_source")],
    );
    for sink in ["web-log", "audit-log"] {
        for outcome in ["delivered", "retried", "dead"] {
            zero(
                "herald_deliveries_total",
                &[("sink", sink), ("outcome", outcome)],
            );
        }
        for outcome in [
            "held",
            "digest",
            "throttled",
            "duplicate",
            "silenced",
            "muted",
            "flooded",
        ] {
            zero(
                "herald_deliveries_held_back_total",
                &[("sink", sink), ("outcome", outcome)],
            );
        }
        zero("herald_delivery_duration_seconds_count", &[("sink", sink)]);
    }
    for reason in ["timeout", "evicted", "busy", "body_budget"] {
        zero("herald_connections_shed_total", &[("reason", reason)]);
    }
    zero("herald_alerts_routed_total", &[]);
    zero("herald_alerts_unmatched_total", &[]);

    // A source added by a reload gets its series too, and the others keep their values.
    let r = post_signed(
        &reqwest::Client::new(),
        &herald,
        Some("event_alert"),
        &event_alert("x"),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 202);
    let more = config().replace(
        "sinks:\n",
        "  canary: { type: sentry, client_secret: \"${CANARY_SECRET:-c}\" }\nsinks:\n",
    );
    std::fs::write(dir.path().join("herald.yaml"), more).unwrap();
    herald.signal("HUP");
    // Polled (bounded) until the reload shows; a reload gives no other signal to wait on.
    let canary = [("source", "canary"), ("reason", "unauthorized")];
    let start = std::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let (reloaded, text) = loop {
        tick.tick().await;
        let text = get(&herald, "/metrics").await;
        if value(&text, "herald_alerts_rejected_total", &canary) == Some(0.0) {
            break (true, text);
        }
        if start.elapsed() > Duration::from_secs(10) {
            break (false, text);
        }
    };
    assert!(reloaded, "{text}\n{}", herald.log());
    assert_eq!(
        value(&text, "herald_alerts_unmatched_total", &[]),
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmatched_alert_is_a_warning_a_counter_and_a_count_in_readyz() {
    let dir = tempfile::tempdir().unwrap();
    let herald = Herald::start(dir.path(), &config()).await;
    let ready: Value = serde_json::from_str(&get(&herald, "/readyz").await).unwrap();
    assert_eq!(ready, json!({"status": "ready", "unmatched_alerts": 0}));

    // A title that tries to forge a log line of its own.
    let mut body: Value = serde_json::from_slice(&event_alert("unmatched-1")).unwrap();
    body["data"]["event"]["title"] = json!("CardDeclined\n2026-01-01T00:00:00Z ERROR forged");
    let body = serde_json::to_vec(&body).unwrap();
    let r = post_signed(&reqwest::Client::new(), &herald, Some("event_alert"), &body)
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["deliveries"], 0);
    let id = answer["id"].as_str().unwrap().to_owned();

    let warned = wait_until(Duration::from_secs(10), || {
        herald.log().contains("alert matched no route")
    })
    .await;
    assert!(warned, "{}", herald.log());
    let log = herald.log();
    let line = log
        .lines()
        .find(|l| l.contains("alert matched no route"))
        .unwrap();
    assert!(line.contains(" WARN "), "{line}");
    for field in [
        "source=sentry".to_owned(),
        "project=\"payments-api\"".to_owned(),
        "level=\"error\"".to_owned(),
        "title=\"CardDeclined\\n2026-01-01T00:00:00Z ERROR forged\"".to_owned(),
        format!("alert_id={id}"),
    ] {
        assert!(line.contains(&field), "{field} not in {line}");
    }
    assert!(
        !log.lines().any(|l| l.starts_with("2026-01-01T00:00:00Z")),
        "the title forged a line:\n{log}"
    );

    let ready: Value = serde_json::from_str(&get(&herald, "/readyz").await).unwrap();
    assert_eq!(ready, json!({"status": "ready", "unmatched_alerts": 1}));
    let text = get(&herald, "/metrics").await;
    assert_eq!(
        value(&text, "herald_alerts_unmatched_total", &[]),
        Some(1.0)
    );
    assert_eq!(value(&text, "herald_alerts_routed_total", &[]), Some(0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_webhooks_are_logged_once_per_reason_with_their_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut herald = Herald::start(dir.path(), &config()).await;
    let client = reqwest::Client::new();
    let body = event_alert("refused");
    for _ in 0..20 {
        let r = client
            .post(herald.url("/hooks/sentry"))
            .header("sentry-hook-resource", "event_alert")
            .header(
                "sentry-hook-timestamp",
                jiff::Timestamp::now().as_second().to_string(),
            )
            .header("sentry-hook-signature", "0".repeat(64))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    for _ in 0..3 {
        let r = client
            .post(herald.url("/hooks/nope"))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
    let refused = |log: &str| -> Vec<String> {
        log.lines()
            .filter(|l| l.contains("webhook refused"))
            .map(str::to_owned)
            .collect()
    };
    // The first of each reason is logged at once; the rest wait for the end of the minute.
    let logged = wait_until(Duration::from_secs(10), || {
        refused(&herald.log()).len() >= 2
    })
    .await;
    assert!(logged, "{}", herald.log());
    let lines = refused(&herald.log());
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[0].contains("webhook refused: unauthorized"),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains("detail=\"wrong signature\""),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("webhook refused: unknown_source"),
        "{}",
        lines[1]
    );
    assert!(lines[1].contains("source=unknown"), "{}", lines[1]);

    // A stop tells what was left, with the count.
    assert!(herald.terminate(Duration::from_secs(20)).success());
    let lines = refused(&herald.log());
    assert_eq!(lines.len(), 4, "{lines:#?}");
    let rest = lines[2..].join("\n");
    assert!(
        rest.contains("webhook refused 19 times in the last") && rest.contains("count=19"),
        "{rest}"
    );
    assert!(
        rest.contains("webhook refused 2 times in the last"),
        "{rest}"
    );
}
