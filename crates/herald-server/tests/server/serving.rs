//! `serve` on a real listener: a signed webhook gets 202 over HTTP, reaches the sink through
//! the dispatcher running beside the server, and `stop` ends both cleanly.

use std::net::SocketAddr;
use std::time::Duration;

use herald_core::Secret;
use herald_server::DeliveryPolicy;
use herald_store::Status;
use jiff::Timestamp;

use crate::support::{Answer, Options, SECRET, Setup, event_alert, eventually, setup, setup_with};

type Server = tokio::task::JoinHandle<anyhow::Result<()>>;

/// `serve` on a free local port, stopped by sending on the returned channel.
async fn serve(s: &Setup) -> (SocketAddr, tokio::sync::oneshot::Sender<()>, Server) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(herald_server::serve(listener, s.state.clone(), async {
        let _ = stopped.await;
    }));
    (address, stop, server)
}

/// Stops a server from [`serve`] and waits for it to end, within 10 s.
async fn shut_down(stop: tokio::sync::oneshot::Sender<()>, server: Server) {
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("serve did not stop")
        .unwrap()
        .unwrap();
}

/// Posts one signed `event_alert` over HTTP and returns the answer's JSON.
async fn post(address: SocketAddr, title: &str, request_id: &str) -> serde_json::Value {
    let body = event_alert(title, "warning");
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
        .header("Request-ID", request_id)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_webhook_reaches_the_running_dispatcher_with_two_commits_and_is_given_back_at_stop() {
    let s = setup_with(Options {
        policy: DeliveryPolicy {
            shutdown_grace: Duration::from_millis(100),
            ..DeliveryPolicy::default()
        },
        ..Options::default()
    })
    .await;
    s.fake.script([Answer::Hang]);
    let (address, stop, server) = serve(&s).await;

    // The first attempt hangs, so the dispatcher is surely running before the second alert.
    let first = post(address, "hangs", "r1").await;
    assert!(
        eventually(500, Duration::from_millis(10), || async {
            s.fake.calls().len() == 1
        })
        .await
    );
    let commits = s.store.stats().commits;
    let second = post(address, "goes through", "r2").await;
    let arrived = eventually(500, Duration::from_millis(10), || async {
        s.fake.calls().iter().any(|c| c.title == "goes through")
    })
    .await;
    assert!(arrived, "the second alert did not reach the sink within 5s");
    let delivered = eventually(500, Duration::from_millis(10), || async {
        s.store.count_by_status().await.unwrap().delivered == 1
    })
    .await;
    assert!(delivered);
    // Its accept took the lease and the dispatcher got it in memory: no lease read back, no
    // look for the next due time; one commit more records the outcome.
    assert_eq!(s.store.stats().commits - commits, 2);
    let call = s
        .fake
        .calls()
        .into_iter()
        .find(|c| c.title == "goes through")
        .unwrap();
    assert_eq!(call.attempt, 1);
    assert_ne!(first["id"], second["id"]);

    shut_down(stop, server).await;
    // The hanging attempt was cancelled at the end of the grace and given back, attempt and all.
    let hung = s.fake.calls()[0].key.clone();
    let row = s.store.delivery(&hung).await.unwrap().unwrap();
    assert_eq!(row.status, Status::Pending);
    assert_eq!(row.attempts, 0);
    assert_eq!(row.lease_until, None);
}

#[tokio::test]
async fn serve_accepts_delivers_and_stops() {
    let s = setup().await;
    let (address, stop, server) = serve(&s).await;

    let answer = post(address, "over the wire", "a1").await;
    assert_eq!(answer["deliveries"], serde_json::json!(1));

    let arrived = eventually(500, Duration::from_millis(10), || async {
        s.fake.calls().iter().any(|c| c.title == "over the wire")
    })
    .await;
    assert!(arrived, "the alert did not reach the sink within 5s");

    shut_down(stop, server).await;
    assert!(
        reqwest::get(format!("http://{address}/healthz"))
            .await
            .is_err(),
        "still listening after stop"
    );
}
