//! Config reloads: an applied one changes routing for the next alert (and, under `serve`, the
//! dispatcher picks up a new sink); a refused one leaves the running config in place and says
//! where the errors are; a removed sink's queued deliveries become dead with the reason.

use std::time::Duration;

use axum::http::StatusCode;
use herald_server::ReloadError;

use crate::support::{alert, config_text, setup};

const TO_A: &str = "routes:\n  - name: all\n    sinks: [ok-a]\n";
const TO_C: &str = "routes:\n  - name: all\n    sinks: [ok-c]\n";

#[tokio::test]
async fn an_applied_reload_routes_the_next_alert_by_the_new_config() {
    let s = setup(&config_text(&["ok-a"], TO_A), &["ok-a", "ok-c"]).await;
    s.send(alert("sentry", "before", "error", "b")).await;
    *s.text.lock().unwrap() = config_text(&["ok-a", "ok-c"], TO_C);
    let report = s.state.reload("test").await.unwrap();
    assert_eq!(report.sinks_added, vec!["ok-c".to_owned()]);
    assert!(report.sinks_removed.is_empty());
    s.send(alert("sentry", "after", "error", "a")).await;
    s.deliver().await;
    assert_eq!((s.bank["ok-a"].calls(), s.bank["ok-c"].calls()), (1, 1));
}

#[tokio::test]
async fn a_refused_reload_keeps_the_running_config_and_says_where() {
    let s = setup(&config_text(&["ok-a"], TO_A), &["ok-a"]).await;
    *s.text.lock().unwrap() = config_text(&["ok-a"], "routes:\n  - name: all\n    sinks: [ok-z]\n");
    let Err(ReloadError::Invalid(errors)) = s.state.reload("test").await else {
        panic!("an unknown sink must refuse the reload");
    };
    assert!(
        errors
            .iter()
            .any(|e| e.contains("herald.yaml:7:13") && e.contains("ok-z")),
        "{errors:?}"
    );

    let (status, body) = s.admin("POST", "/-/reload", Vec::new()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("the running config stays"),
        "{body}"
    );
    assert!(
        body["errors"][0].as_str().unwrap().contains("ok-z"),
        "{body}"
    );

    s.send(alert("sentry", "still", "error", "s")).await;
    s.deliver().await;
    assert_eq!(s.bank["ok-a"].calls(), 1, "the old routes still deliver");

    *s.text.lock().unwrap() = config_text(&["ok-a"], TO_A);
    let (status, body) = s.admin("POST", "/-/reload", Vec::new()).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("reloaded"))
    );
}

#[tokio::test]
async fn a_removed_sink_leaves_its_queued_deliveries_dead_with_the_reason() {
    let both = "routes:\n  - name: all\n    sinks: [ok-a, ok-gone]\n";
    let s = setup(
        &config_text(&["ok-a", "ok-gone"], both),
        &["ok-a", "ok-gone"],
    )
    .await;
    for i in 0..2 {
        s.send(alert("sentry", "queued", "error", &format!("q{i}")))
            .await;
    }
    *s.text.lock().unwrap() = config_text(&["ok-a"], TO_A);
    let report = s.state.reload("test").await.unwrap();
    assert_eq!(report.sinks_removed, vec!["ok-gone".to_owned()]);
    assert_eq!(report.deliveries_dead, 2);

    let (_, dead) = s
        .admin("GET", "/api/v1/deliveries?status=dead", Vec::new())
        .await;
    let dead = dead["items"].as_array().unwrap();
    assert_eq!(dead.len(), 2);
    for d in dead {
        assert_eq!(d["sink"], "ok-gone");
        assert_eq!(
            d["last_error"],
            "sink \"ok-gone\" was removed from the config"
        );
    }
    assert_eq!(
        s.deliver().await,
        2,
        "only ok-a's deliveries are left to send"
    );
    assert_eq!(s.bank["ok-gone"].calls(), 0);
    let counts = s.store.count_by_status().await.unwrap();
    assert_eq!((counts.delivered, counts.dead), (2, 2));
}

#[tokio::test]
async fn under_serve_a_sink_added_by_a_reload_gets_its_deliveries() {
    let s = setup(&config_text(&["ok-a"], TO_A), &["ok-a", "ok-c"]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(herald_server::serve(listener, s.state.clone(), async {
        let _ = stopped.await;
    }));
    *s.text.lock().unwrap() = config_text(&["ok-a", "ok-c"], TO_C);
    s.state.reload("test").await.unwrap();

    let body = serde_json::json!({
        "action": "triggered",
        "data": { "event": { "title": "t", "level": "error" }, "triggered_rule": "r" }
    })
    .to_string();
    let signature = herald_sentry::sign(
        &herald_core::Secret::new(crate::support::SECRET),
        body.as_bytes(),
    );
    let answer = reqwest::Client::new()
        .post(format!("http://{address}/hooks/sentry"))
        .header("Sentry-Hook-Resource", "event_alert")
        .header("Sentry-Hook-Signature", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202);
    let mut delivered = false;
    for _ in 0..200 {
        if s.bank["ok-c"].calls() == 1 {
            delivered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(delivered, "the new sink's delivery was never attempted");
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
