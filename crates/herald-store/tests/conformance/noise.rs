//! The noise gate with explicit times: a digest gathered and sent with
//! its members, throttle folding, a sink's flood guard shared by its routes, suppression recorded in `held_back`, a retry not decided
//! twice, and digests, silences and Slack threads surviving a reopen.

use std::sync::Arc;
use std::time::Duration;

use herald_core::flood::decide_guarded;
use herald_core::noise::{Gate, GateKeys, NoisePolicy, Silence, parse_matchers};
use herald_core::{Alert, Level};
use jiff::Timestamp;

use herald_store::noise::{GateRequest, HeldFilter, NewSilence, ThreadRecord};
use herald_store::{LeasedDelivery, NewAlert, PageRequest, Status, Store};

use crate::Backend;

const LEASE: Duration = Duration::from_secs(30);

fn t(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + seconds).unwrap()
}

fn alert(project: &str, issue: &str) -> Arc<Alert> {
    Arc::new(Alert {
        source: "sentry".into(),
        resource: "event_alert".into(),
        action: "triggered".into(),
        project: Some(project.into()),
        level: Some(Level::Error),
        title: format!("boom in {project} #{issue}"),
        issue_id: Some(issue.into()),
        ..Alert::default()
    })
}

async fn accept(store: &dyn Store, a: Arc<Alert>, at: Timestamp) -> String {
    accept_to(store, a, at, "r").await
}

async fn accept_to(store: &dyn Store, a: Arc<Alert>, at: Timestamp, route: &str) -> String {
    let accepted = store
        .accept(NewAlert {
            source: "sentry".into(),
            request_id: None,
            endpoint: herald_store::Endpoint::PLATFORM,
            received_at: at,
            alert: a,
            raw: "{}".into(),
            deliveries: vec![(route.into(), "s".into())],
        })
        .await
        .unwrap();
    accepted.delivery_ids[0].clone()
}

/// Leases everything due at `now` and runs each through the gate, as the dispatcher does.
async fn gate_due(
    store: &dyn Store,
    policy: &NoisePolicy,
    silences: &[Silence],
    now: Timestamp,
) -> Vec<(LeasedDelivery, herald_store::GateResult)> {
    gate_due_guarded(store, policy, silences, now, None).await
}

/// [`gate_due`] under a flood guard of `guard` messages a minute to the sink.
async fn gate_due_guarded(
    store: &dyn Store,
    policy: &NoisePolicy,
    silences: &[Silence],
    now: Timestamp,
    guard: Option<herald_core::flood::Guard>,
) -> Vec<(LeasedDelivery, herald_store::GateResult)> {
    let leased = store.lease_due(now, 1000, LEASE, None).await.unwrap();
    let mut out = Vec::new();
    for l in leased {
        let request = GateRequest {
            delivery_id: l.delivery.id.clone(),
            route: l.delivery.route.clone(),
            sink: l.delivery.sink.clone(),
            keys: GateKeys::of(Some(policy), &l.alert),
            now,
            flood: guard.is_some(),
        };
        let alert = l.alert.clone();
        let id = l.delivery.id.clone();
        let decide_one = move |state: &herald_core::noise::GateState| {
            decide_guarded(
                &Gate {
                    delivery: &id,
                    alert: &alert,
                    now,
                    policy: Some(policy),
                    silences,
                },
                state,
                guard,
            )
        };
        let result = store.noise_gate(&request, &decide_one).await.unwrap();
        out.push((l, result));
    }
    out
}

fn digest_policy() -> NoisePolicy {
    NoisePolicy {
        group: Some(herald_core::noise::Grouping {
            by: vec![herald_core::noise::GroupBy::Field(
                herald_core::alert::Field::Project,
            )],
            wait: Duration::from_secs(30),
            interval: Duration::from_secs(300),
        }),
        ..NoisePolicy::default()
    }
}

/// Stores `n` alerts of one project a second apart and gates each, as the dispatcher would:
/// the first becomes the digest's lead (returned), pending until the group's release at
/// t(30); the others are held back, folded into it.
async fn gather_digest(store: &dyn Store, policy: &NoisePolicy, n: i64) -> String {
    let mut lead = String::new();
    for i in 0..n {
        let id = accept(store, alert("api", &i.to_string()), t(i)).await;
        if i == 0 {
            lead = id;
        }
        gate_due(store, policy, &[], t(i)).await;
    }
    lead
}

fn is_send(v: &herald_core::noise::Verdict) -> bool {
    matches!(v, herald_core::noise::Verdict::Send { .. })
}

pub async fn a_digest_is_gathered_survives_a_restart_and_is_sent_with_its_members(b: Backend) {
    let policy = digest_policy();
    let store = b.open().await;
    let lead = gather_digest(&*store, &policy, 20).await;
    // The lead waits, pending until the group's release; the others are held back.
    let row = store.delivery(&lead).await.unwrap().unwrap();
    assert_eq!((row.status, row.next_attempt_at), (Status::Pending, t(30)));
    let held = store
        .held_back(&HeldFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(held.items.len(), 19);
    assert!(
        held.items
            .iter()
            .all(|h| h.outcome == "digest" && h.folded_into.as_deref() == Some(lead.as_str()))
    );
    store.close().await;

    // After a restart the buffered digest is still there and goes out at its time.
    let store = b.open().await;
    assert!(gate_due(&*store, &policy, &[], t(29)).await.is_empty());
    let sent = gate_due(&*store, &policy, &[], t(30)).await;
    assert_eq!(sent.len(), 1);
    let (l, result) = &sent[0];
    assert_eq!(l.delivery.id, lead);
    assert!(is_send(&result.verdict));
    assert_eq!(result.members.len(), 19);
    assert_eq!(result.members[0].alert.issue_id.as_deref(), Some("1"));

    // A retry of the sent digest is not decided again: same members, still a send.
    store
        .mark_retry(&lead, t(31), "unavailable", t(30), None)
        .await
        .unwrap();
    let again = gate_due(&*store, &policy, &[], t(31)).await;
    assert!(is_send(&again[0].1.verdict));
    assert_eq!(again[0].1.members.len(), 19);
}

pub async fn throttled_deliveries_fold_into_the_carrier(b: Backend) {
    let store = b.open().await;
    let policy = NoisePolicy {
        throttle: Some(herald_core::noise::Throttle {
            max: 2,
            per: Duration::from_secs(60),
        }),
        ..NoisePolicy::default()
    };
    let mut sent = 0;
    for i in 0..10 {
        accept(&*store, alert("api", &i.to_string()), t(i)).await;
        for (l, r) in gate_due(&*store, &policy, &[], t(i)).await {
            if is_send(&r.verdict) {
                sent += 1;
                let receipt = herald_core::Receipt::default();
                store
                    .mark_delivered(&l.delivery.id, &receipt, t(i), None)
                    .await
                    .unwrap();
            }
        }
    }
    assert_eq!(sent, 2);
    let carrier = gate_due(&*store, &policy, &[], t(60)).await;
    assert_eq!(carrier.len(), 1);
    assert!(is_send(&carrier[0].1.verdict));
    assert_eq!(carrier[0].1.members.len(), 7, "10 - 2 sent - the carrier");
    assert!(
        carrier[0]
            .1
            .members
            .iter()
            .all(|m| m.outcome == "throttled")
    );
}

pub async fn a_sinks_flood_guard_is_one_window_for_all_its_routes_and_folds_the_rest(b: Backend) {
    let store = b.open().await;
    let policy = NoisePolicy::default();
    let mut sent = Vec::new();
    // Ten alerts a second apart, alternating between two routes to the one sink "s".
    for i in 0..10 {
        let route = if i % 2 == 0 { "r" } else { "other" };
        accept_to(&*store, alert("api", &i.to_string()), t(i), route).await;
        for (l, r) in gate_due_guarded(
            &*store,
            &policy,
            &[],
            t(i),
            Some(herald_core::flood::Guard::per_minute(3)),
        )
        .await
        {
            if is_send(&r.verdict) {
                sent.push(l.delivery.route.clone());
                store
                    .mark_delivered(&l.delivery.id, &herald_core::Receipt::default(), t(i), None)
                    .await
                    .unwrap();
            }
        }
    }
    assert_eq!(
        sent,
        ["r", "other", "r"],
        "three messages a minute to the sink, whatever the route"
    );
    let held = store
        .held_back(&HeldFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(held.items.len(), 6, "10 - 3 sent - the summary");
    assert!(held.items.iter().all(|h| h.outcome == "flooded"));
    let routes: std::collections::BTreeSet<_> =
        held.items.iter().map(|h| h.route.as_str()).collect();
    assert_eq!(
        routes.len(),
        2,
        "both routes' excess folds into one summary"
    );
    // The summary is held until the minute ends, then sent with everything it folded.
    assert!(
        gate_due_guarded(
            &*store,
            &policy,
            &[],
            t(59),
            Some(herald_core::flood::Guard::per_minute(3))
        )
        .await
        .is_empty()
    );
    let summary = gate_due_guarded(
        &*store,
        &policy,
        &[],
        t(60),
        Some(herald_core::flood::Guard::per_minute(3)),
    )
    .await;
    assert_eq!(summary.len(), 1);
    assert!(is_send(&summary[0].1.verdict));
    assert_eq!(summary[0].1.members.len(), 6);
    assert!(summary[0].1.members.iter().all(|m| m.outcome == "flooded"));
    assert!(
        held.items
            .iter()
            .all(|h| h.folded_into.as_deref() == Some(summary[0].0.delivery.id.as_str()))
    );
    // A sink without a guard is not counted: a gate without `flood` leaves its window alone.
    accept(&*store, alert("api", "late"), t(61)).await;
    let unguarded = gate_due(&*store, &policy, &[], t(61)).await;
    assert!(is_send(&unguarded[0].1.verdict));
}

pub async fn silences_are_stored_listed_expired_and_survive_a_restart(b: Backend) {
    let store = b.open().await;
    let created = store
        .create_silence(
            NewSilence {
                matchers: serde_json::json!({"project": "api"}),
                starts_at: t(0),
                ends_at: t(3600),
                author: "ana".into(),
                comment: "deploy".into(),
            },
            t(0),
        )
        .await
        .unwrap();
    store.close().await;
    let store = b.open().await;
    let listed = store.silences(false, t(10)).await.unwrap();
    assert_eq!(listed, vec![created.clone()]);
    assert_eq!(listed[0].state(t(10)), "active");

    // While it applies, a matching delivery is recorded as silenced and leaves the queue.
    let silence = Silence {
        id: created.id.clone(),
        matchers: parse_matchers(&created.matchers).unwrap(),
        starts_at: created.starts_at,
        ends_at: created.ends_at,
    };
    let id = accept(&*store, alert("api", "1"), t(10)).await;
    let policy = NoisePolicy::default();
    let out = gate_due(&*store, &policy, std::slice::from_ref(&silence), t(10)).await;
    assert!(!is_send(&out[0].1.verdict));
    assert!(store.delivery(&id).await.unwrap().is_none());
    let held = store
        .held_back(
            &HeldFilter {
                outcome: Some("silenced".into()),
                ..HeldFilter::default()
            },
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(held.items[0].delivery_id, id);
    assert_eq!(held.items[0].detail.as_deref(), Some(created.id.as_str()));

    // Expired by hand, it ends now and is no longer listed as live.
    let expired = store
        .expire_silence(&created.id, t(20))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((expired.ends_at, expired.expired_at), (t(20), Some(t(20))));
    assert!(store.silences(false, t(21)).await.unwrap().is_empty());
    assert_eq!(store.silences(true, t(21)).await.unwrap().len(), 1);
    assert!(store.expire_silence("nope", t(21)).await.unwrap().is_none());
}

fn thread(reference: &str, destination: &str) -> ThreadRecord {
    ThreadRecord {
        reference: reference.into(),
        destination: destination.into(),
    }
}

pub async fn threads_keep_the_first_conversation_across_a_restart(b: Backend) {
    let store = b.open().await;
    let first = thread(r#"{"channel":"C1","ts":"1.0001"}"#, "#alerts");
    store
        .save_thread("slack", "42", &first, t(0))
        .await
        .unwrap();
    let later = thread(r#"{"channel":"C1","ts":"2.0002"}"#, "#alerts");
    store
        .save_thread("slack", "42", &later, t(1))
        .await
        .unwrap();
    store.close().await;
    let store = b.open().await;
    assert_eq!(store.thread("slack", "42").await.unwrap(), Some(first));
    assert_eq!(store.thread("slack", "43").await.unwrap(), None);
}

pub async fn threads_are_kept_per_sink(b: Backend) {
    let store = b.open().await;
    let slack = thread("ts-1", "#alerts");
    let teams = thread("conversation-9", "ops");
    store
        .save_thread("slack", "42", &slack, t(0))
        .await
        .unwrap();
    store
        .save_thread("teams", "42", &teams, t(0))
        .await
        .unwrap();
    assert_eq!(store.thread("slack", "42").await.unwrap(), Some(slack));
    assert_eq!(store.thread("teams", "42").await.unwrap(), Some(teams));
    assert_eq!(store.thread("email", "42").await.unwrap(), None);
}

pub async fn a_thread_started_in_another_destination_replaces_the_kept_one(b: Backend) {
    let store = b.open().await;
    let triage = thread("C9/1.0001", "#alerts-triage");
    store
        .save_thread("slack", "42", &triage, t(0))
        .await
        .unwrap();
    assert_eq!(store.thread("slack", "42").await.unwrap(), Some(triage));
    let payments = thread("C1/2.0002", "#alerts-payments");
    store
        .save_thread("slack", "42", &payments, t(1))
        .await
        .unwrap();
    // A second first message in the same destination (two deliveries racing) keeps the first.
    store
        .save_thread(
            "slack",
            "42",
            &thread("C1/3.0003", "#alerts-payments"),
            t(2),
        )
        .await
        .unwrap();
    assert_eq!(store.thread("slack", "42").await.unwrap(), Some(payments));
}

pub async fn silences_can_be_read_without_opening_the_store(b: Backend) {
    let url = b.url();
    assert_eq!(herald_store::read_silences(url, t(0)).await.unwrap(), None);
    let store = b.open().await;
    let made = store
        .create_silence(
            NewSilence {
                matchers: serde_json::json!({"project": "api"}),
                starts_at: t(0),
                ends_at: t(60),
                author: "ana".into(),
                comment: String::new(),
            },
            t(0),
        )
        .await
        .unwrap();
    store.close().await;
    let read = herald_store::read_silences(url, t(10)).await.unwrap();
    assert_eq!(read, Some(vec![made]));
    let ended = herald_store::read_silences(url, t(60)).await.unwrap();
    assert_eq!(ended, Some(vec![]));
}

pub async fn pruning_keeps_a_waiting_digest_and_its_members_until_it_is_sent(b: Backend) {
    let policy = digest_policy();
    let store = b.open().await;
    let lead = gather_digest(&*store, &policy, 5).await;
    // The members left `deliveries` for `held_back`; only the waiting lead keeps them.
    assert_eq!(store.prune(t(1000), 100).await.unwrap(), 0);
    let sent = gate_due(&*store, &policy, &[], t(30)).await;
    assert_eq!(sent[0].1.members.len(), 4);

    store
        .mark_delivered(&lead, &herald_core::Receipt::default(), t(31), None)
        .await
        .unwrap();
    assert_eq!(store.prune(t(1000), 100).await.unwrap(), 5);
    let held = store
        .held_back(&HeldFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert!(
        held.items.is_empty(),
        "{} held-back rows left",
        held.items.len()
    );
    assert!(store.delivery(&lead).await.unwrap().is_none());
}

crate::for_each_backend!(
    a_digest_is_gathered_survives_a_restart_and_is_sent_with_its_members,
    throttled_deliveries_fold_into_the_carrier,
    a_sinks_flood_guard_is_one_window_for_all_its_routes_and_folds_the_rest,
    silences_are_stored_listed_expired_and_survive_a_restart,
    threads_keep_the_first_conversation_across_a_restart,
    threads_are_kept_per_sink,
    a_thread_started_in_another_destination_replaces_the_kept_one,
    silences_can_be_read_without_opening_the_store,
    pruning_keeps_a_waiting_digest_and_its_members_until_it_is_sent,
);
