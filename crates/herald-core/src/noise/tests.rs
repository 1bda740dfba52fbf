//! Noise decisions driven with explicit times: bursts, digests, throttle folding, silences,
//! quiet hours across time zones and daylight-saving changes, and the config checks.

use std::sync::Arc;

use jiff::Timestamp;
use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use std::time::Duration;

use super::*;
use crate::alert::{Alert, Level};
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

/// A one-window interval in UTC, for the boundary cases of `contains`.
fn utc_interval(weekdays: Vec<Weekday>, times: Vec<(u16, u16)>) -> TimeInterval {
    TimeInterval {
        name: "w".into(),
        weekdays,
        times,
        location: TimeZone::UTC,
    }
}

#[test]
fn every_weekday_name_and_abbreviation_names_its_day() {
    use Weekday::*;
    let cases = [
        ("monday", "mon", Monday),
        ("tuesday", "tue", Tuesday),
        ("wednesday", "wed", Wednesday),
        ("thursday", "thu", Thursday),
        ("friday", "fri", Friday),
        ("saturday", "sat", Saturday),
        ("sunday", "sun", Sunday),
    ];
    for (long, short, day) in cases {
        assert_eq!(parse_weekdays(long), Ok(vec![day]), "{long}");
        assert_eq!(parse_weekdays(short), Ok(vec![day]), "{short}");
        assert_eq!(
            parse_weekdays(&long.to_uppercase()),
            Ok(vec![day]),
            "{long}"
        );
    }
    assert_eq!(
        parse_weekdays("caturday"),
        Err("unknown weekday \"caturday\"".into())
    );
}

#[test]
fn a_weekday_range_runs_forward_and_may_wrap_past_sunday() {
    use Weekday::*;
    assert_eq!(
        parse_weekdays("monday:friday"),
        Ok(vec![Monday, Tuesday, Wednesday, Thursday, Friday])
    );
    assert_eq!(
        parse_weekdays("saturday:monday"),
        Ok(vec![Saturday, Sunday, Monday])
    );
    assert_eq!(parse_weekdays("wed:wed"), Ok(vec![Wednesday]));
    assert!(parse_weekdays("monday:someday").is_err());
}

#[test]
fn a_time_range_is_minutes_since_midnight_and_may_end_at_24_00() {
    assert_eq!(parse_times("09:05-17:30"), Ok((545, 1050)));
    assert_eq!(parse_times("00:00-24:00"), Ok((0, 1440)));
    assert_eq!(parse_times("23:59-24:00"), Ok((1439, 1440)));
    assert_eq!(parse_times(" 7:00 - 8:00 "), Ok((420, 480)));
    for bad in [
        "00:00-24:01",
        "00:00-24:30",
        "00:00-25:00",
        "10:60-11:00",
        "10:75-11:00",
        "10:00",
        "ten-eleven",
    ] {
        assert_eq!(
            parse_times(bad),
            Err(format!("\"{bad}\" is not a time range")),
            "{bad}"
        );
    }
    assert_eq!(
        parse_times("10:00-10:00"),
        Err("time range \"10:00-10:00\" ends before it starts".into())
    );
    assert!(parse_times("11:00-10:00").is_err());
}

#[test]
fn an_interval_contains_its_start_minute_but_not_its_end_minute() {
    let office = utc_interval(vec![], vec![(9 * 60, 18 * 60)]);
    // 2026-01-05 is a Monday.
    assert!(!office.contains(ts("2026-01-05T08:59:59Z")));
    assert!(office.contains(ts("2026-01-05T09:00:00Z")));
    assert!(office.contains(ts("2026-01-05T17:59:59Z")));
    assert!(!office.contains(ts("2026-01-05T18:00:00Z")));
    assert!(!office.contains(ts("2026-01-05T18:30:00Z")));
    assert!(!office.contains(ts("2026-01-05T03:00:00Z")));
    let late = utc_interval(vec![], vec![(60, 70)]);
    assert!(!late.contains(ts("2026-01-05T10:00:00Z")));
    assert!(late.contains(ts("2026-01-05T01:05:00Z")));
}

#[test]
fn an_interval_without_times_is_the_whole_of_its_days() {
    let weekend = utc_interval(vec![Weekday::Saturday, Weekday::Sunday], vec![]);
    assert!(weekend.contains(ts("2026-01-10T00:00:00Z")));
    assert!(weekend.contains(ts("2026-01-11T23:59:59Z")));
    assert!(!weekend.contains(ts("2026-01-12T00:00:00Z")));
    let always = utc_interval(vec![], vec![]);
    assert!(always.contains(ts("2026-01-07T12:00:00Z")));
    let monday_morning = utc_interval(vec![Weekday::Monday], vec![(0, 12 * 60)]);
    assert!(monday_morning.contains(ts("2026-01-05T06:00:00Z")));
    assert!(!monday_morning.contains(ts("2026-01-06T06:00:00Z")));
}

/// The names of the intervals a route's policy is muted during.
fn muted_names(yaml: &str) -> Vec<String> {
    policy_of(yaml, "r")
        .muted_during
        .iter()
        .map(|i| i.name.clone())
        .collect()
}

#[test]
fn routes_refer_to_intervals_by_name_and_lists_may_be_single_values() {
    let yaml = format!(
        "{BASE}time_intervals:\n  a: {{times: [\"00:00-01:00\"]}}\n  b: {{weekdays: null, times: [\"02:00-03:00\"]}}\nroutes:\n  - name: r\n    sinks: [s]\n    muted_during: b\n"
    );
    assert_eq!(muted_names(&yaml), vec!["b"]);
    let p = policy_of(&yaml, "r");
    let b = &p.muted_during[0];
    assert_eq!((b.weekdays.len(), b.times.clone()), (0, vec![(120, 180)]));
    let yaml = format!(
        "{BASE}time_intervals:\n  a: {{weekdays: [mon, tue], times: [\"00:00-01:00\", \"05:00-06:00\"]}}\n  b: {{times: null}}\nroutes:\n  - name: r\n    sinks: [s]\n    muted_during: [b, a]\n"
    );
    assert_eq!(muted_names(&yaml), vec!["b", "a"]);
    let p = policy_of(&yaml, "r");
    assert!(p.muted_during[0].times.is_empty());
    assert_eq!(
        p.muted_during[1].weekdays,
        vec![Weekday::Monday, Weekday::Tuesday]
    );
    assert_eq!(p.muted_during[1].times, vec![(0, 60), (300, 360)]);
    // No location means UTC.
    assert_eq!(p.muted_during[1].location, TimeZone::UTC);
}

#[test]
fn bad_time_intervals_are_located_errors() {
    let out = errors(&format!(
        "{BASE}time_intervals: [night]\nroutes:\n  - name: r\n    sinks: [s]\n    muted_during: [night]\n"
    ));
    expect_test::expect![[r#"
        2:17 time_intervals must be a mapping of names to windows, found a list
        6:20 route "r": unknown time interval "night""#]]
    .assert_eq(&out);
    let out = errors(&format!(
        "{BASE}time_intervals:\n  \"\": {{times: [\"00:00-01:00\"]}}\n  night: [\"00:00-01:00\"]\n  day: {{weekdays: [someday], colour: red}}\nroutes: []\n"
    ));
    expect_test::expect![[r#"
        3:3 a time interval name must be non-empty text
        4:10 time interval "night" must be a mapping
        5:20 time interval "day": unknown weekday "someday"
        5:30 unknown time interval key "colour""#]]
    .assert_eq(&out);
    assert_eq!(
        errors(&format!(
            "{BASE}time_intervals:\nroutes:\n  - name: r\n    sinks: [s]\n"
        )),
        "ok"
    );
}

/// An alert with every field a digest can be grouped by.
fn full_alert() -> Alert {
    let mut a = alert("api", "42", Level::Error);
    a.environment = Some("prod".into());
    a.release = Some("1.0".into());
    a.resource = "event_alert".into();
    a
}

#[test]
fn every_group_by_key_reads_its_own_field() {
    let p = policy_of(
        &format!(
            "{BASE}routes:\n  - name: r\n    sinks: [s]\n    group_by: [project, level, environment, release, resource, action, issue, tags.team, tags.absent]\n"
        ),
        "r",
    );
    let keys = GateKeys::of(Some(&p), &full_alert());
    assert_eq!(
        keys.group.as_deref(),
        Some(
            "project=api|level=error|environment=prod|release=1.0|resource=event_alert|action=triggered|issue=42|tags.team=team-api|tags.absent="
        )
    );
    assert_eq!(keys.dedup, None, "no dedup_seconds, no dedup key");
    let p = policy_of(
        &format!("{BASE}routes:\n  - name: r\n    sinks: [s]\n    group_by: project\n"),
        "r",
    );
    assert_eq!(
        GateKeys::of(Some(&p), &full_alert()).group.as_deref(),
        Some("project=api")
    );
}

#[test]
fn the_dedup_key_is_issue_and_action_and_needs_an_issue() {
    let p = policy_of(
        &format!("{BASE}routes:\n  - name: r\n    sinks: [s]\n    dedup_seconds: 60\n"),
        "r",
    );
    let keys = GateKeys::of(Some(&p), &full_alert());
    assert_eq!(keys.dedup.as_deref(), Some("42:triggered"));
    assert_eq!(keys.group, None);
    let mut no_issue = full_alert();
    no_issue.issue_id = None;
    assert_eq!(GateKeys::of(Some(&p), &no_issue), GateKeys::default());
    assert_eq!(GateKeys::of(None, &full_alert()), GateKeys::default());
}

#[test]
fn each_noise_key_alone_makes_a_policy_and_zero_or_empty_makes_none() {
    let route = |keys: &str| {
        let yaml = format!(
            "{BASE}time_intervals:\n  night: {{times: [\"00:00-06:00\"]}}\nroutes:\n  - name: r\n    sinks: [s]\n{keys}"
        );
        let config = Config::parse(
            &yaml,
            "t.yaml",
            &Env::from_pairs(Vec::<(String, String)>::new()),
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .0;
        config.routes.routes[0].noise.as_ref().map(|p| p.summary())
    };
    assert_eq!(
        route("    dedup_seconds: 60\n").as_deref(),
        Some("dedup 60s")
    );
    assert_eq!(
        route("    throttle: {max: 2, per_seconds: 30}\n").as_deref(),
        Some("throttle 2 per 30s")
    );
    assert_eq!(
        route("    group_by: [level]\n").as_deref(),
        Some("digest by level (wait 30s, interval 300s)")
    );
    assert_eq!(
        route("    active_during: [night]\n").as_deref(),
        Some("active during night")
    );
    assert_eq!(
        route("    muted_during: [night]\n").as_deref(),
        Some("muted during night")
    );
    assert_eq!(route("    dedup_seconds: 0\n"), None);
    assert_eq!(route("    group_by: []\n"), None);
    assert_eq!(route("    let_through_at: \">=fatal\"\n"), None);
    assert_eq!(
        route("    group_by: [issue]\n    group_wait_seconds: 5\n    group_interval_seconds: 50\n    throttle: {max: 1, per_seconds: 9}\n    active_during: night\n    muted_during: night\n    let_through_at: error\n").as_deref(),
        Some("throttle 1 per 9s, digest by issue (wait 5s, interval 50s), active during night, muted during night, let through error")
    );
}

#[test]
fn bad_throttles_say_what_is_missing() {
    let route = |throttle: &str| {
        errors(&format!(
            "{BASE}routes:\n  - name: r\n    sinks: [s]\n    throttle: {throttle}\n"
        ))
    };
    assert_eq!(
        route("{max: 1, per_seconds: 0}"),
        "5:15 route \"r\": throttle max and per_seconds must be above 0"
    );
    assert_eq!(
        route("{max: 0, per_seconds: 5}"),
        "5:15 route \"r\": throttle max and per_seconds must be above 0"
    );
    assert_eq!(
        route("{max: 3}"),
        "5:15 route \"r\": throttle needs both max and per_seconds"
    );
    assert_eq!(route("10"), "5:15 route \"r\": throttle must be a mapping");
    assert_eq!(
        route("{max: many, per_seconds: 5}"),
        "5:21 route \"r\": throttle.max must be a whole number of seconds, found \"many\""
    );
    assert_eq!(
        route("{max: 1, per_seconds: 5, burst: 2}"),
        "5:40 unknown throttle key \"burst\""
    );
    assert_eq!(
        route("{max: 1, per_seconds: 5}\n    let_through_at: \">=loud\""),
        "6:21 route \"r\": bad level \">=loud\""
    );
}

#[test]
fn unknown_interval_names_get_the_closest_defined_one() {
    let out = errors(&format!(
        "{BASE}time_intervals:\n  night: {{times: [\"00:00-06:00\"]}}\n  office: {{times: [\"09:00-17:00\"]}}\nroutes:\n  - name: r\n    sinks: [s]\n    active_during: [ofice, lunch]\n"
    ));
    expect_test::expect![[r#"
        8:21 route "r": unknown time interval "ofice"
        8:28 route "r": unknown time interval "lunch""#]]
    .assert_eq(&out);
    let hints = match Config::parse(
        &format!(
            "{BASE}time_intervals:\n  night: {{times: [\"00:00-06:00\"]}}\n  office: {{times: [\"09:00-17:00\"]}}\nroutes:\n  - name: r\n    sinks: [s]\n    active_during: [ofice, lunch]\n"
        ),
        "t.yaml",
        &Env::from_pairs(Vec::<(String, String)>::new()),
    ) {
        Ok(_) => panic!("accepted"),
        Err(e) => e
            .errors
            .iter()
            .map(|e| e.hint.clone().unwrap_or_default())
            .collect::<Vec<_>>(),
    };
    assert_eq!(
        hints,
        vec![
            "did you mean \"office\"? (defined intervals: night, office)",
            "defined intervals: night, office"
        ]
    );
}

#[test]
fn outcomes_have_stored_names() {
    let names: Vec<&str> = [
        Outcome::Silenced {
            silence: "s".into(),
        },
        Outcome::Muted {
            interval: "i".into(),
        },
        Outcome::Duplicate,
        Outcome::Digest,
        Outcome::Throttled,
    ]
    .iter()
    .map(Outcome::as_str)
    .collect();
    assert_eq!(
        names,
        ["silenced", "muted", "duplicate", "digest", "throttled"]
    );
}

#[test]
fn a_silence_applies_from_its_start_instant() {
    let s = silence(
        "s1",
        serde_json::json!({"project": "api"}),
        "2026-01-05T10:00:00Z",
        "2026-01-05T11:00:00Z",
    );
    let a = alert("api", "1", Level::Error);
    assert!(s.silences(&a, ts("2026-01-05T10:00:00Z")));
    assert!(s.silences(&a, ts("2026-01-05T10:59:59Z")));
    assert!(!s.silences(&a, ts("2026-01-05T09:59:59Z")));
}

/// One decision for `delivery` at `at` with `state`.
fn decide_at(
    policy: &NoisePolicy,
    delivery: &str,
    a: &Alert,
    at: &str,
    state: &GateState,
) -> (Verdict, GateState) {
    let gate = Gate {
        delivery,
        alert: a,
        now: ts(at),
        policy: Some(policy),
        silences: &[],
    };
    decide(&gate, state)
}

#[test]
fn a_dedup_window_ends_exactly_at_its_expiry() {
    let p = policy_of(
        &format!("{BASE}routes:\n  - name: r\n    sinks: [s]\n    dedup_seconds: 600\n"),
        "r",
    );
    let a = alert("api", "42", Level::Error);
    let (v, s) = decide_at(&p, "d1", &a, "2026-01-05T10:00:00Z", &GateState::default());
    assert_eq!(v, Verdict::Send { folded: 0 });
    assert_eq!(s.dedup.expires_at, Some(ts("2026-01-05T10:10:00Z")));
    let (v, s) = decide_at(&p, "d2", &a, "2026-01-05T10:09:59Z", &s);
    assert!(
        matches!(v, Verdict::Suppress { outcome: Outcome::Duplicate, ref reason } if reason == "same issue and action already sent within dedup_seconds 600"),
        "{v:?}"
    );
    assert_eq!(s.dedup.suppressed, 1);
    let (v, s) = decide_at(&p, "d3", &a, "2026-01-05T10:10:00Z", &s);
    assert_eq!(v, Verdict::Send { folded: 1 });
    assert_eq!(s.dedup.suppressed, 0);
}

#[test]
fn a_throttle_window_ends_exactly_after_per_seconds() {
    let p = policy_of(
        &format!(
            "{BASE}routes:\n  - name: r\n    sinks: [s]\n    throttle: {{max: 2, per_seconds: 60}}\n"
        ),
        "r",
    );
    let a = alert("api", "1", Level::Error);
    let (v, s) = decide_at(&p, "d1", &a, "2026-01-05T10:00:00Z", &GateState::default());
    assert_eq!(v, Verdict::Send { folded: 0 });
    assert_eq!(
        (s.window.start, s.window.sent),
        (Some(ts("2026-01-05T10:00:00Z")), 1)
    );
    let (v, s) = decide_at(&p, "d2", &a, "2026-01-05T10:00:59Z", &s);
    assert_eq!(v, Verdict::Send { folded: 0 });
    assert_eq!(s.window.sent, 2);
    let (v, held) = decide_at(&p, "d3", &a, "2026-01-05T10:00:59Z", &s);
    assert!(
        matches!(&v, Verdict::Hold { until, reason } if *until == ts("2026-01-05T10:01:00Z") && reason == "over the throttle of 2 per 60s; sent when the window ends, with the count of what it held back"),
        "{v:?}"
    );
    assert_eq!(held.window.carrier.as_deref(), Some("d3"));
    let (v, _) = decide_at(&p, "d4", &a, "2026-01-05T10:00:59Z", &held);
    assert!(
        matches!(&v, Verdict::Join { lead, outcome: Outcome::Throttled, reason } if lead == "d3" && reason == "over the throttle of 2 per 60s; counted in the next message"),
        "{v:?}"
    );
    // At 10:01:00 exactly a new window opens: the next alert goes out at once.
    let (v, s) = decide_at(&p, "d5", &a, "2026-01-05T10:01:00Z", &s);
    assert_eq!(v, Verdict::Send { folded: 0 });
    assert_eq!(
        (s.window.start, s.window.sent),
        (Some(ts("2026-01-05T10:01:00Z")), 1)
    );
}

#[test]
fn a_digest_with_no_wait_and_no_earlier_digest_goes_out_at_once() {
    let p = policy_of(
        &format!(
            "{BASE}routes:\n  - name: r\n    sinks: [s]\n    group_by: [project]\n    group_wait_seconds: 0\n    group_interval_seconds: 60\n"
        ),
        "r",
    );
    let a = alert("api", "1", Level::Error);
    let (v, s) = decide_at(&p, "d1", &a, "2026-01-05T10:00:00Z", &GateState::default());
    assert_eq!(v, Verdict::Send { folded: 0 });
    assert_eq!(s.group.last_sent_at, Some(ts("2026-01-05T10:00:00Z")));
    assert_eq!(s.group.lead, None);
    // Within the interval the next one waits for its end, as a lead.
    let (v, s) = decide_at(&p, "d2", &a, "2026-01-05T10:00:10Z", &s);
    assert!(
        matches!(&v, Verdict::Hold { until, reason } if *until == ts("2026-01-05T10:01:00Z") && reason == "gathering a digest (group_wait_seconds 0, group_interval_seconds 60)"),
        "{v:?}"
    );
    assert_eq!(s.group.lead.as_deref(), Some("d2"));
    let (v, _) = decide_at(&p, "d3", &a, "2026-01-05T10:00:20Z", &s);
    assert!(
        matches!(&v, Verdict::Join { lead, outcome: Outcome::Digest, reason } if lead == "d2" && reason == "gathered into the digest of group d2"),
        "{v:?}"
    );
    // Exactly at the end of the interval, with no lead waiting, it goes out at once too.
    let after = GateState {
        group: Group {
            last_sent_at: Some(ts("2026-01-05T10:00:00Z")),
            ..Group::default()
        },
        ..GateState::default()
    };
    let (v, _) = decide_at(&p, "d4", &a, "2026-01-05T10:01:00Z", &after);
    assert_eq!(v, Verdict::Send { folded: 0 });
}

#[test]
fn a_held_lead_or_carrier_is_not_its_own_duplicate() {
    let p = policy_of(
        &format!(
            "{BASE}routes:\n  - name: r\n    sinks: [s]\n    dedup_seconds: 600\n    group_by: [project]\n"
        ),
        "r",
    );
    let a = alert("api", "42", Level::Error);
    let (v, s) = decide_at(
        &p,
        "lead",
        &a,
        "2026-01-05T10:00:00Z",
        &GateState::default(),
    );
    assert!(matches!(v, Verdict::Hold { .. }), "{v:?}");
    // Back at its release, within its own dedup window, the lead is sent.
    let (v, _) = decide_at(&p, "lead", &a, "2026-01-05T10:00:30Z", &s);
    assert_eq!(v, Verdict::Send { folded: 0 });
    let p = policy_of(
        &format!(
            "{BASE}routes:\n  - name: r\n    sinks: [s]\n    dedup_seconds: 600\n    throttle: {{max: 1, per_seconds: 60}}\n"
        ),
        "r",
    );
    let (_, s) = decide_at(
        &p,
        "first",
        &a,
        "2026-01-05T10:00:00Z",
        &GateState::default(),
    );
    let other = alert("api", "43", Level::Error);
    let fresh = GateState {
        window: s.window.clone(),
        ..GateState::default()
    };
    let (v, s) = decide_at(&p, "carrier", &other, "2026-01-05T10:00:01Z", &fresh);
    assert!(matches!(v, Verdict::Hold { .. }), "{v:?}");
    let (v, s) = decide_at(&p, "carrier", &other, "2026-01-05T10:01:00Z", &s);
    assert_eq!(v, Verdict::Send { folded: 0 });
    assert_eq!(s.window.carrier, None);
}

#[test]
fn a_lead_is_presumed_gone_only_after_stale_after_has_passed() {
    let p = policy_of(
        &format!("{BASE}routes:\n  - name: r\n    sinks: [s]\n    group_by: [project]\n"),
        "r",
    );
    let a = alert("api", "1", Level::Error);
    let state = GateState {
        group: Group {
            lead: Some("old".into()),
            release_at: Some(ts("2026-01-05T10:00:00Z")),
            last_sent_at: None,
        },
        ..GateState::default()
    };
    let (v, _) = decide_at(&p, "d", &a, "2026-01-05T11:00:00Z", &state);
    assert!(
        matches!(&v, Verdict::Join { lead, .. } if lead == "old"),
        "{v:?}"
    );
    let (v, _) = decide_at(&p, "d", &a, "2026-01-05T11:00:01Z", &state);
    assert!(matches!(v, Verdict::Hold { .. }), "{v:?}");
}

#[test]
fn a_throttle_carrier_is_presumed_gone_only_after_stale_after_has_passed() {
    let p = policy_of(
        &format!(
            "{BASE}routes:\n  - name: r\n    sinks: [s]\n    throttle: {{max: 1, per_seconds: 60}}\n"
        ),
        "r",
    );
    let a = alert("api", "1", Level::Error);
    let state = GateState {
        window: Window {
            start: Some(ts("2026-01-05T10:00:00Z")),
            sent: 1,
            carrier: Some("old".into()),
        },
        ..GateState::default()
    };
    // The window ended at 10:01; an hour after that the carrier may still be on its way.
    let (v, s) = decide_at(&p, "d1", &a, "2026-01-05T11:01:00Z", &state);
    assert_eq!(v, Verdict::Send { folded: 0 });
    assert_eq!(s.window.carrier.as_deref(), Some("old"));
    let (v, _) = decide_at(&p, "d2", &a, "2026-01-05T11:01:00Z", &s);
    assert!(
        matches!(&v, Verdict::Join { lead, .. } if lead == "old"),
        "{v:?}"
    );
    // A second later it is not coming: the next overflow holds a carrier of its own.
    let (v, s) = decide_at(&p, "d1", &a, "2026-01-05T11:01:01Z", &state);
    assert_eq!(v, Verdict::Send { folded: 0 });
    assert_eq!(s.window.carrier, None);
    let (v, _) = decide_at(&p, "d2", &a, "2026-01-05T11:01:01Z", &s);
    assert!(matches!(v, Verdict::Hold { .. }), "{v:?}");
}

#[test]
fn quiet_hours_give_their_reason() {
    let p = policy_of(QUIET, "quiet");
    let a = alert("api", "1", Level::Error);
    let (v, _) = decide_at(&p, "d", &a, "2026-01-05T13:30:00Z", &GateState::default());
    assert_eq!(
        v,
        Verdict::Suppress {
            outcome: Outcome::Muted {
                interval: "night-tokyo".into()
            },
            reason: "muted during \"night-tokyo\"".into()
        }
    );
    let p = policy_of(QUIET, "office");
    let (v, _) = decide_at(&p, "d", &a, "2026-01-10T10:00:00Z", &GateState::default());
    assert_eq!(
        v,
        Verdict::Suppress {
            outcome: Outcome::Muted {
                interval: "office-berlin".into()
            },
            reason: "outside active_during office-berlin".into()
        }
    );
}

#[test]
fn explain_tells_what_the_policy_would_do() {
    let yaml = format!(
        "{BASE}time_intervals:\n  night: {{times: [\"00:00-06:00\"]}}\nroutes:\n  - name: quiet\n    sinks: [s]\n    muted_during: [night]\n    dedup_seconds: 600\n    throttle: {{max: 5, per_seconds: 60}}\n  - name: digest\n    sinks: [s]\n    active_during: [night]\n    group_by: [project, tags.team]\n    throttle: {{max: 5, per_seconds: 60}}\n  - name: plain\n    sinks: [s]\n    dedup_seconds: 60\n"
    );
    let a = alert("api", "42", Level::Error);
    let mut no_issue = a.clone();
    no_issue.issue_id = None;
    let show =
        |route: &str, a: &Alert, at: &str| explain(&policy_of(&yaml, route), a, ts(at)).join("\n");
    expect_test::expect![[r#"
        held back now: muted during "night"
        dedup: issue 42 with action triggered is sent once per 600s per sink
        throttle: at most 5 messages per 60s per sink; the rest are counted in the next message"#]]
    .assert_eq(&show("quiet", &a, "2026-01-05T01:00:00Z"));
    expect_test::expect![[r#"
        quiet hours: not muted at this time
        dedup: the alert has no issue id, so it is never a duplicate
        throttle: at most 5 messages per 60s per sink; the rest are counted in the next message"#]]
    .assert_eq(&show("quiet", &no_issue, "2026-01-05T12:00:00Z"));
    expect_test::expect![[r#"
        quiet hours: not muted at this time
        digest: grouped as "project=api|tags.team=team-api"; the first alert of a group waits 30s for others, then at most one digest per 300s"#]]
    .assert_eq(&show("digest", &a, "2026-01-05T01:00:00Z"));
    expect_test::expect![[r#"
        held back now: outside active_during night
        digest: grouped as "project=api|tags.team=team-api"; the first alert of a group waits 30s for others, then at most one digest per 300s"#]]
    .assert_eq(&show("digest", &a, "2026-01-05T12:00:00Z"));
    expect_test::expect!["dedup: issue 42 with action triggered is sent once per 60s per sink"]
        .assert_eq(&show("plain", &a, "2026-01-05T12:00:00Z"));
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
