//! `serve` on a real listener: a signed webhook gets 202 over HTTP, reaches the sink through
//! the dispatcher running beside the server, and `stop` ends both cleanly.

use std::time::Duration;

use herald_core::Secret;
use jiff::Timestamp;

use crate::support::{SECRET, event_alert, eventually, setup};

#[tokio::test]
async fn serve_accepts_delivers_and_stops() {
    let s = setup().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(herald_server::serve(listener, s.state.clone(), async {
        let _ = stopped.await;
    }));

    let body = event_alert("over the wire", "warning");
    let response = reqwest::Client::new()
        .post(format!("http://{address}/hooks/sentry"))
        .header("Content-Type", "application/json")
        .header("Sentry-Hook-Resource", "event_alert")
        .header(
            "Sentry-Hook-Timestamp",
            Timestamp::now().as_second().to_string(),
        )
        .header(
            "Sentry-Hook-Signature",
            herald_sentry::sign(&Secret::new(SECRET), &body),
        )
        .header("Request-ID", "a1")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["deliveries"], serde_json::json!(1));

    let arrived = eventually(500, Duration::from_millis(10), || async {
        s.fake.calls().iter().any(|c| c.title == "over the wire")
    })
    .await;
    assert!(arrived, "the alert did not reach the sink within 5s");

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("serve did not stop")
        .unwrap()
        .unwrap();
    assert!(
        reqwest::get(format!("http://{address}/healthz"))
            .await
            .is_err(),
        "still listening after stop"
    );
}
