//! The operator's queries: filters, cursor paging, retrying
//! dead deliveries, giving up a removed sink's queue, and the queue figures.

use std::sync::Arc;
use std::time::Duration;

use herald_core::{Alert, Level, Receipt};
use jiff::Timestamp;

use herald_store::admin::{AlertFilter, DeliveryFilter, PageRequest, RetryOutcome};
use herald_store::{AttemptRecord, NewAlert, Status, Store};

use crate::Backend;

fn t(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + seconds).unwrap()
}

/// Stores one alert of `project` at `at` with one delivery per sink on route "r-<project>".
async fn accept(store: &dyn Store, project: &str, at: Timestamp, sinks: &[&str]) -> Vec<String> {
    let alert = Alert {
        source: "sentry".into(),
        resource: "issue".into(),
        action: "created".into(),
        project: Some(project.into()),
        level: Some(Level::Error),
        title: format!("boom in {project}"),
        ..Alert::default()
    };
    let new = NewAlert {
        source: "sentry".into(),
        request_id: None,
        endpoint: herald_store::Endpoint::PLATFORM,
        received_at: at,
        alert: Arc::new(alert),
        raw: "{}".into(),
        deliveries: sinks
            .iter()
            .map(|s| (format!("r-{project}"), (*s).to_owned()))
            .collect(),
    };
    store.accept(new).await.unwrap().delivery_ids
}

fn page(limit: usize, cursor: Option<String>) -> PageRequest {
    PageRequest { limit, cursor }
}

async fn listed(store: &dyn Store, filter: DeliveryFilter) -> Vec<String> {
    let page = store
        .list_deliveries(&filter, &page(100, None))
        .await
        .unwrap();
    page.items.into_iter().map(|v| v.delivery.id).collect()
}

pub async fn delivery_filters_each_narrow_the_list(b: Backend) {
    let store = b.open().await;
    let a = accept(&*store, "api", t(0), &["slack", "mail"]).await;
    let b = accept(&*store, "web", t(10), &["slack"]).await;
    store
        .mark_dead(&a[1], "rejected", t(20), None)
        .await
        .unwrap();

    let all = listed(&*store, DeliveryFilter::default()).await;
    assert_eq!(
        all,
        vec![b[0].clone(), a[1].clone(), a[0].clone()],
        "newest first"
    );
    let by = |f: DeliveryFilter| listed(&*store, f);
    assert_eq!(
        by(DeliveryFilter {
            sink: Some("mail".into()),
            ..Default::default()
        })
        .await,
        vec![a[1].clone()]
    );
    assert_eq!(
        by(DeliveryFilter {
            status: Some(Status::Dead),
            ..Default::default()
        })
        .await,
        vec![a[1].clone()]
    );
    assert_eq!(
        by(DeliveryFilter {
            project: Some("web".into()),
            ..Default::default()
        })
        .await,
        vec![b[0].clone()]
    );
    assert_eq!(
        by(DeliveryFilter {
            route: Some("r-api".into()),
            ..Default::default()
        })
        .await
        .len(),
        2
    );
    assert_eq!(
        by(DeliveryFilter {
            since: Some(t(5)),
            ..Default::default()
        })
        .await,
        vec![b[0].clone()]
    );
    assert_eq!(
        by(DeliveryFilter {
            until: Some(t(5)),
            ..Default::default()
        })
        .await
        .len(),
        2
    );

    let view = store
        .list_deliveries(&DeliveryFilter::default(), &page(1, None))
        .await
        .unwrap();
    assert_eq!(view.items[0].project.as_deref(), Some("web"));
    assert_eq!(view.items[0].title, "boom in web");
}

pub async fn cursor_pages_cover_every_row_once(b: Backend) {
    let store = b.open().await;
    let mut expected = Vec::new();
    for i in 0..7 {
        expected.extend(accept(&*store, "api", t(i), &["slack"]).await);
    }
    expected.reverse();
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let p = store
            .list_deliveries(&DeliveryFilter::default(), &page(3, cursor))
            .await
            .unwrap();
        pages += 1;
        seen.extend(p.items.iter().map(|v| v.delivery.id.clone()));
        cursor = p.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, expected);

    let alerts = store
        .list_alerts(
            &AlertFilter {
                since: Some(t(5)),
                ..Default::default()
            },
            &page(10, None),
        )
        .await
        .unwrap();
    assert_eq!(alerts.items.len(), 2);
    assert!(alerts.next_cursor.is_none());
}

pub async fn only_dead_deliveries_are_retried_and_become_due_at_once(b: Backend) {
    let store = b.open().await;
    let ids = accept(&*store, "api", t(0), &["slack", "mail", "line"]).await;
    store
        .lease_due(t(1), 10, Duration::from_secs(30), None)
        .await
        .unwrap();
    store
        .mark_dead(&ids[0], "rejected", t(2), None)
        .await
        .unwrap();
    store
        .mark_dead(&ids[1], "rejected", t(2), None)
        .await
        .unwrap();

    assert_eq!(
        store.retry_delivery(&ids[0], t(3)).await.unwrap(),
        RetryOutcome::Requeued
    );
    assert_eq!(
        store.retry_delivery(&ids[2], t(3)).await.unwrap(),
        RetryOutcome::NotDead(Status::InFlight)
    );
    assert_eq!(
        store.retry_delivery("nope", t(3)).await.unwrap(),
        RetryOutcome::NotFound
    );
    let row = store.delivery(&ids[0]).await.unwrap().unwrap();
    assert_eq!(
        (row.status, row.attempts, row.next_attempt_at),
        (Status::Pending, 0, t(3))
    );

    let bulk = store
        .retry_dead(
            &DeliveryFilter {
                sink: Some("mail".into()),
                ..Default::default()
            },
            t(4),
        )
        .await
        .unwrap();
    assert_eq!(bulk, vec![ids[1].clone()]);
    let leased = store
        .lease_due(t(4), 10, Duration::from_secs(30), None)
        .await
        .unwrap();
    assert_eq!(leased.len(), 2, "both retried deliveries are due again");
}

pub async fn killing_a_sink_makes_its_unfinished_deliveries_dead_and_counts_the_queue(b: Backend) {
    let store = b.open().await;
    let a = accept(&*store, "api", t(0), &["slack", "gone"]).await;
    let b = accept(&*store, "api", t(5), &["gone"]).await;
    store
        .lease_due(t(1), 1, Duration::from_secs(30), Some(&["gone".to_owned()]))
        .await
        .unwrap();

    let depth = store.queue_depth().await.unwrap();
    let figures: Vec<_> = depth
        .iter()
        .map(|d| (d.sink.as_str(), d.status, d.count))
        .collect();
    assert_eq!(
        figures,
        vec![
            ("gone", Status::InFlight, 1),
            ("gone", Status::Pending, 1),
            ("slack", Status::Pending, 1)
        ]
    );
    assert_eq!(store.oldest_pending().await.unwrap(), Some(t(0)));

    let reason = "sink \"gone\" was removed from the config";
    assert_eq!(store.kill_sink("gone", reason, t(6)).await.unwrap(), 2);
    for id in [&a[1], &b[0]] {
        let row = store.delivery(id).await.unwrap().unwrap();
        assert_eq!(
            (row.status, row.last_error.as_deref()),
            (Status::Dead, Some(reason))
        );
    }
    assert_eq!(
        store.delivery(&a[0]).await.unwrap().unwrap().status,
        Status::Pending
    );
    assert_eq!(store.queue_depth().await.unwrap().len(), 1);
}

pub async fn pruning_deletes_old_finished_alerts_and_keeps_unfinished_and_young_ones(b: Backend) {
    let store = b.open().await;
    let delivered = accept(&*store, "api", t(0), &["slack"]).await;
    let dead = accept(&*store, "api", t(10), &["slack"]).await;
    let waiting = accept(&*store, "api", t(20), &["slack"]).await;
    let young = accept(&*store, "api", t(1000), &["slack"]).await;
    store
        .mark_delivered(&delivered[0], &Receipt::default(), t(1), None)
        .await
        .unwrap();
    store.mark_dead(&dead[0], "400", t(11), None).await.unwrap();
    store
        .mark_delivered(&young[0], &Receipt::default(), t(1001), None)
        .await
        .unwrap();
    let alert_of = |id: &str| {
        let store = &store;
        let id = id.to_owned();
        async move { store.delivery(&id).await.unwrap().map(|d| d.alert_id) }
    };
    let alerts = [
        alert_of(&delivered[0]).await.unwrap(),
        alert_of(&dead[0]).await.unwrap(),
        alert_of(&waiting[0]).await.unwrap(),
        alert_of(&young[0]).await.unwrap(),
    ];

    // One at a time, oldest first: the caller loops while it gets `max` back.
    assert_eq!(store.prune(t(500), 1).await.unwrap(), 1);
    assert!(store.alert(&alerts[0]).await.unwrap().is_none());
    assert!(store.alert(&alerts[1]).await.unwrap().is_some());
    assert_eq!(store.prune(t(500), 10).await.unwrap(), 1);
    assert_eq!(store.prune(t(500), 10).await.unwrap(), 0);

    for id in [&delivered[0], &dead[0]] {
        assert!(store.delivery(id).await.unwrap().is_none(), "{id} is left");
    }
    assert!(store.alert(&alerts[1]).await.unwrap().is_none());
    // Still pending: kept, however old; received after the cutoff: kept.
    assert!(store.alert(&alerts[2]).await.unwrap().is_some());
    assert!(store.delivery(&waiting[0]).await.unwrap().is_some());
    assert!(store.alert(&alerts[3]).await.unwrap().is_some());
    assert!(store.delivery(&young[0]).await.unwrap().is_some());
}

/// Stores an alert carrying these ids, with one delivery to `slack`; returns its alert id.
async fn accept_ids(
    store: &dyn Store,
    request_id: Option<&str>,
    event_id: Option<&str>,
    issue_id: Option<&str>,
    at: Timestamp,
) -> String {
    let alert = Alert {
        source: "sentry".into(),
        resource: "event_alert".into(),
        action: "triggered".into(),
        title: "boom".into(),
        event_id: event_id.map(str::to_owned),
        issue_id: issue_id.map(str::to_owned),
        ..Alert::default()
    };
    let new = NewAlert {
        source: "sentry".into(),
        request_id: request_id.map(str::to_owned),
        endpoint: herald_store::Endpoint::PLATFORM,
        received_at: at,
        alert: Arc::new(alert),
        raw: "{}".into(),
        deliveries: vec![("r".into(), "slack".into())],
    };
    store.accept(new).await.unwrap().alert_id
}

pub async fn an_alert_is_found_by_any_of_its_ids_and_its_history_read(b: Backend) {
    use herald_store::admin::FoundBy;
    let store = b.open().await;
    let first = accept_ids(&*store, Some("req-1"), Some("ev-1"), Some("77"), t(0)).await;
    let second = accept_ids(&*store, Some("req-2"), Some("ev-2"), Some("77"), t(1)).await;
    let third = accept_ids(&*store, None, None, Some("77"), t(2)).await;
    let found = async |key: &str| {
        store
            .find_alert(key)
            .await
            .unwrap()
            .map(|f| (f.alert.id, f.found_by, f.others))
    };
    assert_eq!(
        found("req-1").await,
        Some((first.clone(), FoundBy::RequestId, 0))
    );
    assert_eq!(found("ev-2").await, Some((second, FoundBy::EventId, 0)));
    assert_eq!(
        found("77").await,
        Some((third, FoundBy::IssueId, 2)),
        "an issue id gives its most recent alert and counts the others"
    );
    assert_eq!(found("nothing").await, None);
    assert_eq!(
        found(&first).await,
        Some((first.clone(), FoundBy::AlertId, 0))
    );
    let history = store.alert_history(&first).await.unwrap();
    assert_eq!(history.deliveries.len(), 1);
    assert_eq!(history.deliveries[0].sink, "slack");
    assert!(history.held_back.is_empty() && history.folded_into.is_empty());
}

fn attempt_record(started: Timestamp, latency_ms: u64, status: Option<u16>) -> AttemptRecord {
    AttemptRecord {
        started_at: started,
        latency: Duration::from_millis(latency_ms),
        status,
    }
}

/// The console's figures: alerts and deliveries since a moment (times before it do not
/// count), dead ones waiting (whenever they died), and each sink's attempts with their
/// success and latency; a dead-letter list holds only dead ones, newest first, across pages.
pub async fn the_consoles_figures_count_by_time_status_and_sink(b: Backend) {
    let store = b.open().await;
    let old = accept(&*store, "api", t(0), &["slack"]).await;
    let new = accept(&*store, "api", t(100), &["slack", "mail"]).await;
    let newer = accept(&*store, "web", t(200), &["mail"]).await;
    store
        .lease_due(t(201), 10, Duration::from_secs(30), None)
        .await
        .unwrap();
    store
        .mark_dead(
            &old[0],
            "rejected",
            t(202),
            Some(&attempt_record(t(201), 40, Some(400))),
        )
        .await
        .unwrap();
    store
        .mark_delivered(
            &new[0],
            &Receipt::default(),
            t(202),
            Some(&attempt_record(t(201), 10, Some(200))),
        )
        .await
        .unwrap();
    store
        .mark_retry(
            &new[1],
            t(300),
            "unavailable",
            t(202),
            Some(&attempt_record(t(201), 30, Some(503))),
        )
        .await
        .unwrap();
    store
        .mark_dead(
            &newer[0],
            "rejected",
            t(202),
            Some(&attempt_record(t(201), 50, Some(404))),
        )
        .await
        .unwrap();

    let activity = store.activity(t(50)).await.unwrap();
    assert_eq!(
        activity,
        herald_store::Activity {
            alerts: 2,
            deliveries: 3,
            dead_waiting: 2,
        }
    );
    assert_eq!(store.activity(t(500)).await.unwrap().alerts, 0);

    let sinks = store.sink_activity(t(50)).await.unwrap();
    let figures: Vec<_> = sinks
        .iter()
        .map(|s| {
            (
                s.sink.as_str(),
                s.attempts,
                s.delivered,
                s.mean_latency_ms,
                s.max_latency_ms,
            )
        })
        .collect();
    assert_eq!(
        figures,
        vec![
            ("mail", 2, 0, Some(40), Some(50)),
            ("slack", 1, 1, Some(10), Some(10))
        ],
        "the slack attempt of the old alert is before the moment asked for"
    );

    let dead = DeliveryFilter {
        status: Some(Status::Dead),
        ..Default::default()
    };
    let first = store.list_deliveries(&dead, &page(1, None)).await.unwrap();
    assert_eq!(first.items[0].delivery.id, newer[0]);
    let second = store
        .list_deliveries(&dead, &page(1, first.next_cursor))
        .await
        .unwrap();
    assert_eq!(second.items[0].delivery.id, old[0]);
    assert!(second.next_cursor.is_none());

    // Alerts by level and by a route their deliveries went through.
    let alerts = |filter: AlertFilter| {
        let store = store.clone();
        async move {
            let page = store.list_alerts(&filter, &page(10, None)).await.unwrap();
            page.items.into_iter().map(|a| a.id).collect::<Vec<_>>()
        }
    };
    let newer_alert = store.delivery(&newer[0]).await.unwrap().unwrap().alert_id;
    let by_route = alerts(AlertFilter {
        route: Some("r-web".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(by_route, vec![newer_alert]);
    let errors = alerts(AlertFilter {
        level: Some("error".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(errors.len(), 3);
    let warnings = alerts(AlertFilter {
        level: Some("warning".into()),
        ..Default::default()
    })
    .await;
    assert!(warnings.is_empty());

    // A shared store lists the instances heard from; this one is among them. A store one
    // process owns has no such list.
    let instances = store.live_instances(Timestamp::now()).await.unwrap();
    if b.url().starts_with("postgres") {
        let instances = instances.expect("PostgreSQL lists its instances");
        assert!(
            instances
                .iter()
                .any(|i| i.pid == u64::from(std::process::id())),
            "{instances:?}"
        );
    } else {
        assert_eq!(instances, None);
    }
}

crate::for_each_backend!(
    the_consoles_figures_count_by_time_status_and_sink,
    an_alert_is_found_by_any_of_its_ids_and_its_history_read,
    delivery_filters_each_narrow_the_list,
    cursor_pages_cover_every_row_once,
    only_dead_deliveries_are_retried_and_become_due_at_once,
    killing_a_sink_makes_its_unfinished_deliveries_dead_and_counts_the_queue,
    pruning_deletes_old_finished_alerts_and_keeps_unfinished_and_young_ones,
);
