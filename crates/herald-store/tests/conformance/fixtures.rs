//! What the queue and store cases share: a fixed clock, a sample alert and its accept, a lease
//! of everything due, and the status of one delivery.

use std::sync::Arc;
use std::time::Duration;

use herald_core::{Alert, Level};
use herald_store::*;
use jiff::Timestamp;

pub const LEASE: Duration = Duration::from_secs(30);

pub fn t(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + seconds).unwrap()
}

pub fn alert(title: &str) -> Arc<Alert> {
    let mut alert = Alert {
        source: "sentry".into(),
        resource: "issue".into(),
        action: "created".into(),
        project: Some("backend".into()),
        level: Some(Level::Error),
        title: title.into(),
        short_id: Some("BACKEND-7".into()),
        timestamp: Some(t(-5)),
        ..Alert::default()
    };
    alert.tags.insert("environment", "production");
    Arc::new(alert)
}

pub fn new_alert(title: &str, request_id: Option<&str>, at: Timestamp, sinks: &[&str]) -> NewAlert {
    NewAlert {
        source: "sentry".into(),
        request_id: request_id.map(str::to_string),
        endpoint: Endpoint::PLATFORM,
        received_at: at,
        alert: alert(title),
        raw: format!(r#"{{"action":"created","data":{{"title":"{title}"}}}}"#),
        deliveries: sinks
            .iter()
            .map(|sink| ("prod".to_string(), sink.to_string()))
            .collect(),
    }
}

pub async fn lease(store: &dyn Store, now: Timestamp) -> Vec<LeasedDelivery> {
    store.lease_due(now, 100, LEASE, None).await.unwrap()
}

pub fn ids(leased: &[LeasedDelivery]) -> Vec<String> {
    leased.iter().map(|l| l.delivery.id.clone()).collect()
}

pub async fn status_of(store: &dyn Store, id: &str) -> Status {
    store.delivery(id).await.unwrap().unwrap().status
}
