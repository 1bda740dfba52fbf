//! Noise decisions driven with explicit times: bursts, digests, throttle folding, silences,
//! quiet hours across time zones and daylight-saving changes, and the config checks.

use std::sync::Arc;

use jiff::Timestamp;

use super::*;
use crate::config::{Config, Env};

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn alert(project: &str, issue: &str, level: Level) -> Alert {
    let mut a = Alert {
        project: Some(project.into()),
        issue_id: Some(issue.into()),
        level: Some(level),
        action: "triggered".into(),
        ..Alert::default()
    };
    a.tags.insert("team", format!("team-{project}"));
    a
}

/// Parses a config and returns the noise policy of the route named `route`.
fn policy_of(yaml: &str, route: &str) -> Arc<NoisePolicy> {
    let config = Config::parse(
        yaml,
        "test.yaml",
        &Env::from_pairs(Vec::<(String, String)>::new()),
    )
    .map(|(c, _)| c)
    .unwrap_or_else(|e| panic!("config refused: {e}"));
    config
        .routes
        .walk()
        .into_iter()
        .find(|(_, r)| r.name == route)
        .and_then(|(_, r)| r.noise.clone())
        .expect("route with a policy")
}

fn errors(yaml: &str) -> String {
    match Config::parse(
        yaml,
        "test.yaml",
        &Env::from_pairs(Vec::<(String, String)>::new()),
    ) {
        Ok(_) => "ok".to_owned(),
        Err(e) => e
            .errors
            .iter()
            .map(|e| format!("{}:{} {}", e.location.line, e.location.column, e.message))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// Runs `alerts` through one (route, sink) gate at the given times, keeping the state as a
/// store would, and returns the verdicts.
fn run(
    policy: Option<&NoisePolicy>,
    silences: &[Silence],
    alerts: &[(Alert, Timestamp)],
    state: &mut std::collections::HashMap<(Option<String>, Option<String>), GateState>,
) -> Vec<Verdict> {
    let mut out = Vec::new();
    for (i, (a, now)) in alerts.iter().enumerate() {
        let keys = GateKeys::of(policy, a);
        // The store keys dedup and group separately; the window is per (route, sink).
        let mut s = GateState {
            dedup: state
                .get(&(keys.dedup.clone(), None))
                .map(|s| s.dedup.clone())
                .unwrap_or_default(),
            window: state
                .get(&(None, None))
                .map(|s| s.window.clone())
                .unwrap_or_default(),
            group: state
                .get(&(None, keys.group.clone()))
                .map(|s| s.group.clone())
                .unwrap_or_default(),
            flood: Window::default(),
        };
        let id = format!("d{i}");
        let gate = Gate {
            delivery: &id,
            alert: a,
            now: *now,
            policy,
            silences,
        };
        let (verdict, next) = decide(&gate, &s);
        s = next;
        state.entry((keys.dedup.clone(), None)).or_default().dedup = s.dedup.clone();
        state.entry((None, None)).or_default().window = s.window.clone();
        state.entry((None, keys.group.clone())).or_default().group = s.group.clone();
        out.push(verdict);
    }
    out
}

const BASE: &str = "sinks: {s: {type: log}}\n";

#[test]
fn a_burst_of_one_issue_is_sent_once_and_counted_in_the_next_message() {
    let p = policy_of(
        &format!("{BASE}routes:\n  - name: r\n    sinks: [s]\n    dedup_seconds: 600\n"),
        "r",
    );
    let t0 = ts("2026-01-05T10:00:00Z");
    let burst: Vec<_> = (0..500)
        .map(|i| {
            (
                alert("api", "42", Level::Error),
                t0.checked_add(jiff::SignedDuration::from_millis(i))
                    .unwrap(),
            )
        })
        .collect();
    let mut state = Default::default();
    let verdicts = run(Some(&p), &[], &burst, &mut state);
    let sent = verdicts
        .iter()
        .filter(|v| matches!(v, Verdict::Send { .. }))
        .count();
    let dup = verdicts
        .iter()
        .filter(|v| {
            matches!(
                v,
                Verdict::Suppress {
                    outcome: Outcome::Duplicate,
                    ..
                }
            )
        })
        .count();
    assert_eq!((sent, dup), (1, 499));
    // After the window, the next one goes out and mentions the 499 held back.
    let later = run(
        Some(&p),
        &[],
        &[(alert("api", "42", Level::Error), ts("2026-01-05T10:10:01Z"))],
        &mut state,
    );
    assert_eq!(later, vec![Verdict::Send { folded: 499 }]);
}

#[test]
fn alerts_of_one_group_join_the_lead_until_its_release() {
    let p = policy_of(
        &format!(
            "{BASE}routes:\n  - name: r\n    sinks: [s]\n    group_by: [project]\n    group_wait_seconds: 30\n    group_interval_seconds: 300\n"
        ),
        "r",
    );
    let t0 = ts("2026-01-05T10:00:00Z");
    let mut input = Vec::new();
    for i in 0..500 {
        let project = format!("p{}", i % 5);
        let issue = format!("{}", i % 50);
        input.push((
            alert(&project, &issue, Level::Error),
            t0.checked_add(jiff::SignedDuration::from_millis(i * 10))
                .unwrap(),
        ));
    }
    let mut state = Default::default();
    let verdicts = run(Some(&p), &[], &input, &mut state);
    let holds: Vec<_> = verdicts
        .iter()
        .filter_map(|v| match v {
            Verdict::Hold { until, .. } => Some(*until),
            _ => None,
        })
        .collect();
    assert_eq!(holds.len(), 5, "one lead per project");
    assert!(
        holds
            .iter()
            .all(|u| *u == ts("2026-01-05T10:00:30Z") || *u < ts("2026-01-05T10:00:31Z"))
    );
    let joined = verdicts
        .iter()
        .filter(|v| {
            matches!(
                v,
                Verdict::Join {
                    outcome: Outcome::Digest,
                    ..
                }
            )
        })
        .count();
    assert_eq!(joined, 495);
    // The lead comes back at its release and is sent; the next alert of the group waits
    // for group_interval after that.
    let lead_alert = alert("p0", "0", Level::Error);
    let mut s = GateState {
        group: state[&(None, Some("project=p0".into()))].group.clone(),
        ..GateState::default()
    };
    let gate = Gate {
        delivery: "d0",
        alert: &lead_alert,
        now: ts("2026-01-05T10:00:30Z"),
        policy: Some(&p),
        silences: &[],
    };
    let (v, next) = decide(&gate, &s);
    assert_eq!(v, Verdict::Send { folded: 0 });
    s = next;
    let gate = Gate {
        delivery: "d999",
        now: ts("2026-01-05T10:01:00Z"),
        ..gate
    };
    let (v, _) = decide(&gate, &s);
    assert!(
        matches!(v, Verdict::Hold { until, .. } if until == ts("2026-01-05T10:05:30Z")),
        "{v:?}"
    );
}

#[test]
fn throttle_overflow_folds_into_a_carrier_sent_when_the_window_ends() {
    let p = policy_of(
        &format!(
            "{BASE}routes:\n  - name: r\n    sinks: [s]\n    throttle: {{max: 3, per_seconds: 60}}\n"
        ),
        "r",
    );
    let t0 = ts("2026-01-05T10:00:00Z");
    let input: Vec<_> = (0..10)
        .map(|i| {
            (
                alert("api", &i.to_string(), Level::Error),
                t0.checked_add(jiff::SignedDuration::from_secs(i)).unwrap(),
            )
        })
        .collect();
    let mut state = Default::default();
    let v = run(Some(&p), &[], &input, &mut state);
    assert!(v[..3].iter().all(|v| *v == Verdict::Send { folded: 0 }));
    assert!(
        matches!(&v[3], Verdict::Hold { until, .. } if *until == ts("2026-01-05T10:01:00Z")),
        "{:?}",
        v[3]
    );
    for later in &v[4..] {
        assert!(
            matches!(later, Verdict::Join { lead, outcome: Outcome::Throttled, .. } if lead == "d3"),
            "{later:?}"
        );
    }
    // The carrier, back at the window's end, is sent and opens the new window.
    let s = state[&(None, None)].clone();
    let carrier = alert("api", "3", Level::Error);
    let gate = Gate {
        delivery: "d3",
        alert: &carrier,
        now: ts("2026-01-05T10:01:00Z"),
        policy: Some(&p),
        silences: &[],
    };
    let (v, next) = decide(&gate, &s);
    assert_eq!(v, Verdict::Send { folded: 0 });
    assert_eq!((next.window.sent, next.window.carrier), (1, None));
}

fn silence(id: &str, matchers: serde_json::Value, from: &str, to: &str) -> Silence {
    Silence {
        id: id.into(),
        matchers: parse_matchers(&matchers).unwrap(),
        starts_at: ts(from),
        ends_at: ts(to),
    }
}

#[test]
fn a_silence_applies_between_its_start_and_end_only() {
    let s = silence(
        "s1",
        serde_json::json!({"project": "api", "level": ">=error"}),
        "2026-01-05T10:00:00Z",
        "2026-01-05T11:00:00Z",
    );
    let a = alert("api", "1", Level::Error);
    let at = |t: &str| {
        let gate = Gate {
            delivery: "d",
            alert: &a,
            now: ts(t),
            policy: None,
            silences: std::slice::from_ref(&s),
        };
        decide(&gate, &GateState::default()).0
    };
    assert_eq!(at("2026-01-05T09:59:59Z"), Verdict::Send { folded: 0 });
    assert!(matches!(
        at("2026-01-05T10:30:00Z"),
        Verdict::Suppress { outcome: Outcome::Silenced { silence }, .. } if silence == "s1"
    ));
    // Expiry is exact: at ends_at the silence no longer applies.
    assert_eq!(at("2026-01-05T11:00:00Z"), Verdict::Send { folded: 0 });
    // Matchers are the route syntax: another project is not silenced.
    let other = alert("web", "1", Level::Error);
    assert!(!s.silences(&other, ts("2026-01-05T10:30:00Z")));
    let info = alert("api", "1", Level::Info);
    assert!(!s.silences(&info, ts("2026-01-05T10:30:00Z")));
}

#[test]
fn bad_silence_matchers_are_refused_with_the_reason() {
    assert!(
        parse_matchers(&serde_json::json!({}))
            .unwrap_err()
            .contains("non-empty")
    );
    let e = parse_matchers(&serde_json::json!({"projekt": "api"})).unwrap_err();
    assert!(e.contains("projekt"), "{e}");
    let e = parse_matchers(&serde_json::json!({"level": ">=loud"})).unwrap_err();
    assert!(e.contains("loud"), "{e}");
}

const QUIET: &str = "sinks: {s: {type: log}}
time_intervals:
  night-tokyo: {times: [\"22:00-24:00\", \"00:00-07:00\"], location: Asia/Tokyo}
  office-berlin: {weekdays: [\"monday:friday\"], times: [\"09:00-18:00\"], location: Europe/Berlin}
routes:
  - name: quiet
    sinks: [s]
    muted_during: [night-tokyo]
    let_through_at: \">=fatal\"
  - name: office
    sinks: [s]
    active_during: [office-berlin]
";

fn muted(route: &str, level: Level, at: &str) -> bool {
    let p = policy_of(QUIET, route);
    let a = alert("api", "1", level);
    let gate = Gate {
        delivery: "d",
        alert: &a,
        now: ts(at),
        policy: Some(&p),
        silences: &[],
    };
    matches!(
        decide(&gate, &GateState::default()).0,
        Verdict::Suppress {
            outcome: Outcome::Muted { .. },
            ..
        }
    )
}

#[test]
fn quiet_hours_follow_the_interval_time_zone() {
    // 13:30 UTC is 22:30 in Tokyo: muted, though it is afternoon in UTC.
    assert!(muted("quiet", Level::Error, "2026-01-05T13:30:00Z"));
    // 22:30 UTC is 07:30 the next morning in Tokyo: not muted.
    assert!(!muted("quiet", Level::Error, "2026-01-05T22:30:00Z"));
    // Fatal is let through.
    assert!(!muted("quiet", Level::Fatal, "2026-01-05T13:30:00Z"));
    // Monday 08:30 UTC is 09:30 in Berlin (winter, UTC+1): active.
    assert!(!muted("office", Level::Error, "2026-01-05T08:30:00Z"));
    // Friday 17:30 UTC is Saturday? No: 18:30 Friday in Berlin, after hours: muted.
    assert!(muted("office", Level::Error, "2026-01-09T17:30:00Z"));
    // Sunday 23:30 UTC is Monday 00:30 in Berlin, before hours: muted; the weekday is read
    // on the local clock.
    assert!(muted("office", Level::Error, "2026-01-04T23:30:00Z"));
}

#[test]
fn quiet_hours_move_with_daylight_saving() {
    // Berlin switched to summer time (UTC+2) on 2026-03-29. On Friday 27 March, 08:30 UTC is
    // 09:30 local: active. On Monday 30 March, 07:30 UTC is 09:30 local: active, while the
    // same UTC time a week earlier (08:30 local) was not.
    assert!(!muted("office", Level::Error, "2026-03-27T08:30:00Z"));
    assert!(!muted("office", Level::Error, "2026-03-30T07:30:00Z"));
    assert!(muted("office", Level::Error, "2026-03-23T07:30:00Z"));
    // End of the day moves too: 16:30 UTC is 18:30 in summer (muted) but 17:30 in winter.
    assert!(muted("office", Level::Error, "2026-03-30T16:30:00Z"));
    assert!(!muted("office", Level::Error, "2026-03-23T16:30:00Z"));
}

#[test]
fn nested_routes_inherit_and_override_noise_keys() {
    let yaml = format!(
        "{BASE}routes:\n  - name: parent\n    sinks: [s]\n    dedup_seconds: 60\n    throttle: {{max: 5, per_seconds: 10}}\n    routes:\n      - name: child\n        dedup_seconds: 120\n"
    );
    let child = policy_of(&yaml, "child");
    assert_eq!(child.dedup, Some(Duration::from_secs(120)));
    assert_eq!(
        child.throttle,
        Some(Throttle {
            max: 5,
            per: Duration::from_secs(10)
        })
    );
    let config = Config::parse(
        &format!("{BASE}routes:\n  - name: plain\n    sinks: [s]\n"),
        "t.yaml",
        &Env::from_pairs(Vec::<(String, String)>::new()),
    )
    .unwrap()
    .0;
    assert!(
        config.routes.routes[0].noise.is_none(),
        "no keys, no policy"
    );
}

#[test]
fn bad_noise_settings_are_located_errors() {
    let out = errors(&format!(
        "{BASE}time_intervals:\n  night: {{times: [\"23:00-06:00\"], location: Mars/Olympus}}\nroutes:\n  - name: r\n    sinks: [s]\n    muted_during: [nigth]\n    throttle: {{max: 0, per_seconds: 60}}\n    group_by: [colour]\n    dedup_seconds: soon\n"
    ));
    expect_test::expect![[r#"
        3:19 time interval "night": time range "23:00-06:00" ends before it starts
        3:45 time interval "night": unknown time zone "Mars/Olympus"
        7:20 route "r": unknown time interval "nigth"
        8:15 route "r": throttle max and per_seconds must be above 0
        9:16 route "r": cannot group by "colour"
        10:20 route "r": dedup_seconds must be a whole number of seconds, found "soon""#]]
    .assert_eq(&out);
}

#[test]
fn a_lead_or_carrier_long_overdue_is_presumed_gone() {
    let p = policy_of(
        &format!(
            "{BASE}routes:\n  - name: r\n    sinks: [s]\n    group_by: [project]\n    throttle: {{max: 1, per_seconds: 60}}\n"
        ),
        "r",
    );
    let a = alert("api", "1", Level::Error);
    let state = GateState {
        group: Group {
            lead: Some("dead-lead".into()),
            release_at: Some(ts("2026-01-05T10:00:30Z")),
            last_sent_at: None,
        },
        ..GateState::default()
    };
    let at = |t: &str| {
        let gate = Gate {
            delivery: "d",
            alert: &a,
            now: ts(t),
            policy: Some(&p),
            silences: &[],
        };
        decide(&gate, &state).0
    };
    // Shortly after its release the lead may just be late: join it.
    assert!(matches!(at("2026-01-05T10:05:00Z"), Verdict::Join { .. }));
    // An hour later it is not coming: start a new digest.
    assert!(matches!(at("2026-01-05T11:01:00Z"), Verdict::Hold { .. }));
}

#[test]
fn check_prints_each_route_noise_settings() {
    let yaml = format!(
        "{BASE}time_intervals:\n  night: {{times: [\"00:00-06:00\"]}}\nroutes:\n  - name: r\n    sinks: [s]\n    dedup_seconds: 600\n    group_by: [project, tags.team]\n    muted_during: [night]\n    let_through_at: \">=fatal\"\n  - name: plain\n    sinks: [s]\n"
    );
    let config = Config::parse(
        &yaml,
        "t.yaml",
        &Env::from_pairs(Vec::<(String, String)>::new()),
    )
    .unwrap()
    .0;
    expect_test::expect![[r#"
        - r [every alert] -> s {dedup 600s, digest by project, tags.team (wait 30s, interval 300s), muted during night, let through >=fatal}
        - plain [every alert] -> s
    "#]]
    .assert_eq(&config.routes.render());
}

#[test]
fn an_issues_later_events_share_the_dedup_entry_of_its_first_but_other_actions_do_not() {
    let p = policy_of(
        &format!("{BASE}routes:\n  - name: r\n    sinks: [s]\n    dedup_seconds: 600\n"),
        "r",
    );
    let with = |action: &str| {
        let mut a = alert("api", "42", Level::Error);
        a.action = action.into();
        GateKeys::of(Some(&p), &a).dedup
    };
    assert_eq!(with("created"), Some("42:created".into()));
    assert_eq!(with("event"), with("created"));
    assert_eq!(with("resolved"), Some("42:resolved".into()));
}
