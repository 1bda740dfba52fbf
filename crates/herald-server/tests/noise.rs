//! Noise control through the real dispatcher and SQLite store, time driven by `run_once(now)`:
//! a burst of one issue becomes one message and a count, a flood of 50 issues one digest per
//! group, throttle overflow is folded into the next message, silences and quiet hours hold
//! alerts back, and everything held back is listed with its reason.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use herald_core::config::{Config, Env};
use herald_core::{Alert, Level, Notification, Receipt, Sink, SinkError};
use herald_server::AppState;
use herald_store::{HeldFilter, NewAlert, NewSilence, PageRequest, Store};
use jiff::{SignedDuration, Timestamp};
use tempfile::TempDir;

/// What one message carried.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Sent {
    route: String,
    issues: Vec<String>,
    folded: u64,
}

#[derive(Debug, Default)]
struct Recorder(Mutex<Vec<Sent>>);

#[async_trait]
impl Sink for Recorder {
    fn kind(&self) -> &'static str {
        "recorder"
    }

    async fn deliver(&self, n: &Notification) -> Result<Receipt, SinkError> {
        self.0.lock().unwrap().push(Sent {
            route: n.route.clone(),
            issues: n
                .alerts
                .iter()
                .map(|a| a.issue_id.clone().unwrap_or_default())
                .collect(),
            folded: n.folded,
        });
        Ok(Receipt::default())
    }
}

impl Recorder {
    fn take(&self) -> Vec<Sent> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

const CONFIG: &str = r#"
sinks: { rec: { type: recorder } }
time_intervals:
  always: { times: ["00:00-24:00"] }
routes:
  - name: burst
    match: { project: burst }
    sinks: [rec]
    group_by: [issue]
    group_wait_seconds: 30
  - name: teams
    match: { project: "~team-.*" }
    sinks: [rec]
    group_by: [project]
    group_wait_seconds: 60
  - name: throttled
    match: { project: throttled }
    sinks: [rec]
    throttle: { max: 5, per_seconds: 60 }
  - name: quiet
    match: { project: quiet }
    sinks: [rec]
    muted_during: [always]
    let_through_at: ">=fatal"
  - name: plain
    sinks: [rec]
"#;

struct Setup {
    state: AppState,
    store: Arc<dyn Store>,
    rec: Arc<Recorder>,
    _dir: TempDir,
}

async fn setup() -> Setup {
    let (config, _) = Config::parse(
        CONFIG,
        "noise.yaml",
        &Env::from_pairs(Vec::<(String, String)>::new()),
    )
    .unwrap_or_else(|e| panic!("{:?}", e.errors));
    let dir = TempDir::new().unwrap();
    let url = format!("sqlite://{}/h.db", dir.path().display());
    let store: Arc<dyn Store> = herald_store::open(&herald_core::config::StorageConfig {
        url,
        ..Default::default()
    })
    .await
    .unwrap();
    let rec = Arc::new(Recorder::default());
    let mut sinks: BTreeMap<String, Arc<dyn Sink>> = BTreeMap::new();
    sinks.insert("rec".into(), rec.clone());
    let state = AppState::new(Arc::new(config), BTreeMap::new(), sinks, store.clone());
    Setup {
        state,
        store,
        rec,
        _dir: dir,
    }
}

fn t(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000).unwrap() + SignedDuration::from_secs(seconds)
}

impl Setup {
    /// Routes and stores an alert as the webhook handler does.
    async fn accept(&self, project: &str, issue: &str, level: Level, at: Timestamp) {
        let alert = Alert {
            source: "sentry".into(),
            resource: "event_alert".into(),
            action: "triggered".into(),
            project: Some(project.into()),
            level: Some(level),
            issue_id: Some(issue.into()),
            title: format!("{project} issue {issue}"),
            ..Alert::default()
        };
        let routing = self.state.config().routes.route(&alert);
        let deliveries = routing
            .deliveries
            .iter()
            .flat_map(|(r, sinks)| sinks.iter().map(move |s| (r.clone(), s.clone())))
            .collect();
        self.store
            .accept(NewAlert {
                source: "sentry".into(),
                request_id: None,
                endpoint: herald_store::Endpoint::PLATFORM,
                received_at: at,
                alert: Arc::new(alert),
                raw: "{}".into(),
                deliveries,
            })
            .await
            .unwrap();
    }

    /// Runs the dispatcher at `now` until nothing more is due.
    async fn dispatch(&self, now: Timestamp) {
        let dispatcher = self.state.dispatcher();
        while dispatcher.run_once(now).await.unwrap() > 0 {}
    }

    async fn held(&self, outcome: &str) -> Vec<herald_store::HeldBack> {
        let filter = HeldFilter {
            outcome: Some(outcome.into()),
            ..HeldFilter::default()
        };
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .store
                .held_back(&filter, &PageRequest { limit: 500, cursor })
                .await
                .unwrap();
            out.extend(page.items);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return out,
            }
        }
    }
}

#[tokio::test]
async fn a_burst_of_500_alerts_of_one_issue_becomes_one_message_and_a_count() {
    let s = setup().await;
    for i in 0..500 {
        s.accept(
            "burst",
            "42",
            Level::Error,
            t(0) + SignedDuration::from_millis(i * 20),
        )
        .await;
        s.dispatch(t(0) + SignedDuration::from_millis(i * 20)).await;
    }
    assert!(
        s.rec.take().is_empty(),
        "nothing before the group wait ends"
    );
    s.dispatch(t(30)).await;
    assert_eq!(
        s.rec.take(),
        vec![Sent {
            route: "burst".into(),
            issues: vec!["42".into()],
            folded: 499
        }]
    );
    let held = s.held("digest").await;
    assert_eq!(held.len(), 499, "every held-back alert is recorded");
    assert!(held.iter().all(|h| h.folded_into == held[0].folded_into));
}

#[tokio::test]
async fn five_hundred_alerts_of_50_issues_become_one_digest_per_group() {
    let s = setup().await;
    for i in 0..500i64 {
        let project = format!("team-{}", i % 5);
        let issue = format!("{}", i % 50);
        let at = t(0) + SignedDuration::from_millis(i * 50);
        s.accept(&project, &issue, Level::Error, at).await;
        s.dispatch(at).await;
    }
    assert!(s.rec.take().is_empty());
    // Each group's first alert arrived within the first quarter second: all are due by 61 s.
    s.dispatch(t(61)).await;
    let mut sent = s.rec.take();
    sent.sort_by(|a, b| a.issues[0].cmp(&b.issues[0]));
    assert_eq!(sent.len(), 5, "{sent:?}");
    for digest in &sent {
        assert_eq!(digest.issues.len(), 10, "each project has 10 issues");
        assert_eq!(
            digest.folded, 90,
            "the other 90 alerts are repeats of those"
        );
    }
    assert_eq!(s.held("digest").await.len(), 495);
}

#[tokio::test]
async fn throttle_overflow_is_folded_into_the_next_message() {
    let s = setup().await;
    for i in 0..20 {
        s.accept("throttled", &i.to_string(), Level::Error, t(i))
            .await;
        s.dispatch(t(i)).await;
    }
    let first = s.rec.take();
    assert_eq!(first.len(), 5);
    assert!(first.iter().all(|m| m.folded == 0));
    s.dispatch(t(60)).await;
    assert_eq!(
        s.rec.take(),
        vec![Sent {
            route: "throttled".into(),
            issues: vec!["5".into()],
            folded: 14
        }]
    );
    assert_eq!(s.held("throttled").await.len(), 14);
}

#[tokio::test]
async fn a_silence_holds_alerts_back_until_it_ends() {
    let s = setup().await;
    s.store
        .create_silence(
            NewSilence {
                matchers: serde_json::json!({"project": "plain-api"}),
                starts_at: t(0),
                ends_at: t(100),
                author: "ana".into(),
                comment: "maintenance".into(),
            },
            t(0),
        )
        .await
        .unwrap();
    s.state.noise().reload_silences(t(0)).await.unwrap();
    s.accept("plain-api", "1", Level::Error, t(10)).await;
    s.accept("plain-web", "2", Level::Error, t(10)).await;
    s.dispatch(t(10)).await;
    let sent = s.rec.take();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].issues, vec!["2".to_string()]);
    let held = s.held("silenced").await;
    assert_eq!(held.len(), 1);
    assert!(held[0].reason.contains("silenced by"), "{}", held[0].reason);
    // At its end time the silence stops applying, with no reload needed.
    s.accept("plain-api", "3", Level::Error, t(100)).await;
    s.dispatch(t(100)).await;
    assert_eq!(s.rec.take().len(), 1);
}

#[tokio::test]
async fn quiet_hours_record_muted_alerts_and_let_fatal_through() {
    herald_server::metrics::install().unwrap();
    let s = setup().await;
    s.accept("quiet", "1", Level::Error, t(0)).await;
    s.accept("quiet", "2", Level::Fatal, t(0)).await;
    s.dispatch(t(0)).await;
    let sent = s.rec.take();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].issues, vec!["2".to_string()]);
    let muted = s.held("muted").await;
    assert_eq!(muted.len(), 1);
    assert_eq!(muted[0].detail.as_deref(), Some("always"));
    // Only this test mutes, so the count is its own.
    let text = herald_server::metrics::render().unwrap();
    assert!(
        text.contains(r#"herald_deliveries_held_back_total{sink="rec",outcome="muted"} 1"#),
        "{text}"
    );
}
