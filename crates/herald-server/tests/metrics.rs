//! `/metrics` after a scripted run: every counter matches what was sent and what the sinks
//! answered, and the queue gauges follow the store. A test binary of its own, because the
//! metrics recorder is global to the process.

#[allow(dead_code)] // shared with the `operate` test binary, which uses the rest
#[path = "operate/support.rs"]
mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};

use support::{alert, config_text, setup};

/// The value of the series `name` whose labels include all of `labels`.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, number) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            let all = labels
                .iter()
                .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
            (metric == name && all).then(|| number.parse().ok())?
        })
}

async fn scrape(s: &support::Setup) -> String {
    let (status, text) = s
        .send(Request::get("/metrics").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
    text
}

#[tokio::test]
async fn metrics_count_what_was_sent_and_delivered() {
    herald_server::metrics::install().unwrap();
    let routes =
        "routes:\n  - name: errors\n    match: { level: \">=error\" }\n    sinks: [ok-a, bad-b]\n";
    let s = setup(&config_text(&["ok-a", "bad-b"], routes), &["ok-a", "bad-b"]).await;

    for i in 0..3 {
        let (status, _) = s
            .send(alert("metered", "boom", "error", &format!("r{i}")))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    s.send(alert("metered", "boom", "error", "r0")).await; // a repeat
    s.send(alert("metered", "fyi", "info", "r9")).await; // routed nowhere
    let mut forged = alert("metered", "boom", "error", "r10");
    forged
        .headers_mut()
        .insert("Sentry-Hook-Signature", "00".parse().unwrap());
    assert_eq!(s.send(forged).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        s.send(alert("nosuch", "boom", "error", "r11")).await.0,
        StatusCode::NOT_FOUND
    );

    let before = scrape(&s).await;
    let depth = |text: &str, sink: &str| {
        value(
            text,
            "herald_queue_depth",
            &[("sink", sink), ("status", "pending")],
        )
    };
    assert_eq!(depth(&before, "ok-a"), Some(3.0));
    assert_eq!(depth(&before, "bad-b"), Some(3.0));
    let age = value(&before, "herald_oldest_pending_delivery_age_seconds", &[]).unwrap();
    assert!((0.0..60.0).contains(&age), "{age}");

    assert_eq!(s.deliver().await, 6);
    assert_eq!((s.bank["ok-a"].calls(), s.bank["bad-b"].calls()), (3, 3));
    let text = scrape(&s).await;
    let at = |name: &str, labels: &[(&str, &str)]| value(&text, name, labels);
    let received = [("source", "metered"), ("resource", "event_alert")];
    assert_eq!(at("herald_alerts_received_total", &received), Some(4.0));
    assert_eq!(
        at("herald_alerts_duplicate_total", &[("source", "metered")]),
        Some(1.0)
    );
    assert_eq!(at("herald_alerts_routed_total", &[]), Some(3.0));
    assert_eq!(at("herald_alerts_unmatched_total", &[]), Some(1.0));
    let forged = [("source", "metered"), ("reason", "unauthorized")];
    assert_eq!(at("herald_alerts_rejected_total", &forged), Some(1.0));
    let unknown = [("source", "unknown"), ("reason", "unknown_source")];
    assert_eq!(at("herald_alerts_rejected_total", &unknown), Some(1.0));
    let delivered = [("sink", "ok-a"), ("outcome", "delivered")];
    assert_eq!(at("herald_deliveries_total", &delivered), Some(3.0));
    let dead = [("sink", "bad-b"), ("outcome", "dead")];
    assert_eq!(at("herald_deliveries_total", &dead), Some(3.0));
    // A sink's three outcome series exist from its first attempt on, so rates start at 0.
    assert_eq!(
        at(
            "herald_deliveries_total",
            &[("sink", "ok-a"), ("outcome", "dead")]
        ),
        Some(0.0)
    );
    let timed = [("sink", "ok-a")];
    assert_eq!(
        at("herald_delivery_duration_seconds_count", &timed),
        Some(3.0)
    );
    assert!(
        text.contains("# TYPE herald_delivery_duration_seconds histogram"),
        "{text}"
    );
    assert_eq!(depth(&text, "ok-a"), Some(0.0));
    assert_eq!(
        at("herald_oldest_pending_delivery_age_seconds", &[]),
        Some(0.0)
    );

    // A refused reload shows in the reload gauge; a good one restores it.
    *s.text.lock().unwrap() = "routes: [".into();
    assert!(s.state.reload("test").await.is_err());
    let text = scrape(&s).await;
    assert_eq!(
        value(&text, "herald_config_last_reload_successful", &[]),
        Some(0.0)
    );
    *s.text.lock().unwrap() = config_text(&["ok-a", "bad-b"], routes);
    s.state.reload("test").await.unwrap();
    let text = scrape(&s).await;
    assert_eq!(
        value(&text, "herald_config_last_reload_successful", &[]),
        Some(1.0)
    );
    let when = value(
        &text,
        "herald_config_last_reload_success_timestamp_seconds",
        &[],
    )
    .unwrap();
    assert!(when > 1.7e9, "{when}");
    let (status, _) = s.admin("GET", "/api/v1/routes", Vec::new()).await;
    assert_eq!(status, StatusCode::OK);
}
