//! The flood guard driven with explicit times: a burst past the limit becomes one held summary
//! and members that join it, the summary goes out when its minute ends, a new minute starts
//! the count again, and the route's own decisions come first. Also the config keys and which
//! setting wins.

use std::time::Duration;

use jiff::Timestamp;

use super::*;
use crate::alert::{Alert, Level};
use crate::config::{Config, Env};
use crate::noise::{GroupBy, Grouping, NoisePolicy, Silence};

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn alert(issue: &str) -> Alert {
    Alert {
        project: Some("api".into()),
        issue_id: Some(issue.into()),
        level: Some(Level::Error),
        action: "triggered".into(),
        ..Alert::default()
    }
}

/// Runs one delivery through the guard, the way the store's gate does: the state it returns
/// is what the next delivery sees.
fn run(
    state: &mut GateState,
    delivery: &str,
    alert: &Alert,
    now: Timestamp,
    policy: Option<&NoisePolicy>,
    max: Option<u32>,
) -> Verdict {
    let guard = max.map(Guard::per_minute);
    let gate = Gate {
        delivery,
        alert,
        now,
        policy,
        silences: &[],
    };
    let (verdict, next) = decide_guarded(&gate, state, guard);
    *state = next;
    verdict
}

#[test]
fn a_burst_past_the_limit_becomes_one_held_summary_that_the_rest_join() {
    let start = ts("2026-12-01T10:00:00Z");
    let mut state = GateState::default();
    for i in 0..3 {
        let at = start + Duration::from_secs(i);
        let verdict = run(
            &mut state,
            &format!("d{i}"),
            &alert(&format!("i{i}")),
            at,
            None,
            Some(3),
        );
        assert_eq!(
            verdict,
            Verdict::Send { folded: 0 },
            "delivery {i} is within the limit"
        );
    }
    let fourth = run(
        &mut state,
        "d3",
        &alert("i3"),
        start + Duration::from_secs(3),
        None,
        Some(3),
    );
    match fourth {
        Verdict::Hold { until, reason } => {
            assert_eq!(
                until,
                start + PER,
                "the summary waits for the end of the minute"
            );
            assert!(reason.contains("flood guard of 3"), "{reason}");
        }
        other => panic!("the first delivery over the limit is held as the summary: {other:?}"),
    }
    assert_eq!(state.flood.carrier.as_deref(), Some("d3"));
    for i in 4..6 {
        let verdict = run(
            &mut state,
            &format!("d{i}"),
            &alert(&format!("i{i}")),
            start + Duration::from_secs(i),
            None,
            Some(3),
        );
        match verdict {
            Verdict::Join { lead, outcome, .. } => {
                assert_eq!(lead, "d3", "later ones fold into the summary");
                assert_eq!(outcome, Outcome::Flooded);
                assert_eq!(outcome.as_str(), "flooded");
            }
            other => panic!("delivery {i} joins the summary: {other:?}"),
        }
    }
    // The summary's hold ends: it is sent at once, even though the window is still full.
    let released = run(&mut state, "d3", &alert("i3"), start + PER, None, Some(3));
    assert_eq!(released, Verdict::Send { folded: 0 });
    assert_eq!(
        state.flood.carrier, None,
        "the next excess gets a summary of its own"
    );
}

#[test]
fn a_new_minute_starts_the_count_again_exactly_when_the_last_one_ends() {
    let start = ts("2026-12-01T10:00:00Z");
    let mut state = GateState::default();
    assert_eq!(
        run(&mut state, "a", &alert("a"), start, None, Some(1)),
        Verdict::Send { folded: 0 }
    );
    let just_before = start + PER - Duration::from_millis(1);
    assert!(
        matches!(
            run(&mut state, "b", &alert("b"), just_before, None, Some(1)),
            Verdict::Hold { .. }
        ),
        "the last millisecond of the minute still counts toward it"
    );
    // The held summary is still waiting, but a new minute has begun: a new delivery counts
    // toward the new minute and is sent.
    assert_eq!(
        run(&mut state, "c", &alert("c"), start + PER, None, Some(1)),
        Verdict::Send { folded: 0 }
    );
    assert_eq!(state.flood.start, Some(start + PER));
    assert_eq!(state.flood.sent, 1);
}

#[test]
fn only_what_the_route_lets_through_is_counted() {
    let start = ts("2026-12-01T10:00:00Z");
    let dedup = NoisePolicy {
        dedup: Some(Duration::from_secs(600)),
        ..NoisePolicy::default()
    };
    let mut state = GateState::default();
    assert_eq!(
        run(
            &mut state,
            "a",
            &alert("same"),
            start,
            Some(&dedup),
            Some(1)
        ),
        Verdict::Send { folded: 0 }
    );
    // A duplicate the route suppresses is not a message: it is neither counted nor folded.
    let dup = run(
        &mut state,
        "b",
        &alert("same"),
        start,
        Some(&dedup),
        Some(1),
    );
    assert!(
        matches!(
            dup,
            Verdict::Suppress {
                outcome: Outcome::Duplicate,
                ..
            }
        ),
        "{dup:?}"
    );
    assert_eq!(state.flood.sent, 1);
    assert_eq!(state.flood.carrier, None);
}

#[test]
fn a_silenced_alert_is_not_counted() {
    let start = ts("2026-12-01T10:00:00Z");
    let silence = Silence {
        id: "s1".into(),
        matchers: crate::noise::parse_matchers(&serde_json::json!({"project": "api"})).unwrap(),
        starts_at: start,
        ends_at: start + Duration::from_secs(3600),
    };
    let gate = Gate {
        delivery: "a",
        alert: &alert("x"),
        now: start,
        policy: None,
        silences: std::slice::from_ref(&silence),
    };
    let (verdict, next) = decide_guarded(&gate, &GateState::default(), Some(Guard::per_minute(1)));
    assert!(matches!(verdict, Verdict::Suppress { .. }), "{verdict:?}");
    assert_eq!(next.flood.sent, 0);
}

#[test]
fn a_digest_sent_over_the_limit_passes_since_it_is_a_summary_already() {
    let start = ts("2026-12-01T10:00:00Z");
    let digest = NoisePolicy {
        group: Some(Grouping {
            by: vec![GroupBy::Field(crate::alert::Field::Project)],
            wait: Duration::from_secs(30),
            interval: Duration::from_secs(300),
        }),
        ..NoisePolicy::default()
    };
    let mut state = GateState::default();
    // The first alert of a group becomes its lead and waits.
    assert!(matches!(
        run(
            &mut state,
            "lead",
            &alert("a"),
            start,
            Some(&digest),
            Some(1)
        ),
        Verdict::Hold { .. }
    ));
    // Meanwhile the sink's minute fills up through another route.
    state.flood = Window {
        start: Some(start + Duration::from_secs(29)),
        sent: 1,
        carrier: None,
    };
    let at = start + Duration::from_secs(30);
    assert!(
        matches!(
            run(&mut state, "lead", &alert("a"), at, Some(&digest), Some(1)),
            Verdict::Send { .. }
        ),
        "the digest goes out when it is due"
    );
    assert_eq!(state.flood.sent, 2, "and counts toward the minute");
}

#[test]
fn without_a_guard_the_route_alone_decides() {
    let start = ts("2026-12-01T10:00:00Z");
    let mut state = GateState::default();
    for i in 0..50 {
        assert_eq!(
            run(&mut state, &format!("d{i}"), &alert("x"), start, None, None),
            Verdict::Send { folded: 0 }
        );
    }
    assert_eq!(state.flood, Window::default(), "nothing is counted");
}

#[test]
fn a_summary_never_sent_is_forgotten_after_an_hour_so_the_next_excess_gets_its_own() {
    let start = ts("2026-12-01T10:00:00Z");
    let mut state = GateState {
        flood: Window {
            start: Some(start),
            sent: 5,
            carrier: Some("lost".into()),
        },
        ..GateState::default()
    };
    let later = start + PER + STALE_AFTER + Duration::from_secs(1);
    assert_eq!(
        run(&mut state, "a", &alert("a"), later, None, Some(1)),
        Verdict::Send { folded: 0 }
    );
    let over = run(&mut state, "b", &alert("b"), later, None, Some(1));
    assert!(
        matches!(over, Verdict::Hold { .. }),
        "a new summary, not a join of a lost one: {over:?}"
    );
    assert_eq!(state.flood.carrier.as_deref(), Some("b"));
}

#[test]
fn the_route_setting_wins_over_the_sink_and_the_kind_and_zero_turns_it_off() {
    let m = Guard::per_minute;
    assert_eq!(effective(None, None, Some(m(DEFAULT_MAX))), Some(m(20)));
    assert_eq!(effective(None, None, None), None);
    assert_eq!(effective(None, Some(m(5)), Some(m(20))), Some(m(5)));
    assert_eq!(effective(None, Some(m(0)), Some(m(20))), None);
    assert_eq!(effective(Some(m(50)), Some(m(5)), Some(m(20))), Some(m(50)));
    assert_eq!(effective(Some(m(0)), Some(m(5)), Some(m(20))), None);
    assert_eq!(
        effective(Some(m(7)), None, None),
        Some(m(7)),
        "a route can guard an unguarded kind"
    );
}

#[test]
fn a_guard_with_its_own_window_holds_its_summary_until_that_window_ends() {
    let start = ts("2026-12-01T10:00:00Z");
    let guard = Guard {
        max: 1,
        per: Duration::from_secs(5),
    };
    let gate = |delivery: &'static str, alert: &'static Alert| Gate {
        delivery,
        alert,
        now: start,
        policy: None,
        silences: &[],
    };
    static A: std::sync::LazyLock<Alert> = std::sync::LazyLock::new(|| alert("a"));
    let (first, state) = decide_guarded(&gate("a", &A), &GateState::default(), Some(guard));
    assert_eq!(first, Verdict::Send { folded: 0 });
    let (second, _) = decide_guarded(&gate("b", &A), &state, Some(guard));
    match second {
        Verdict::Hold { until, reason } => {
            assert_eq!(until, start + Duration::from_secs(5));
            assert!(reason.contains("1 messages per 5s"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

fn parse(yaml: &str) -> Result<Config, String> {
    Config::parse(
        yaml,
        "test.yaml",
        &Env::from_pairs(Vec::<(String, String)>::new()),
    )
    .map(|(c, _)| c)
    .map_err(|e| {
        e.errors
            .iter()
            .map(|e| {
                format!(
                    "{}:{} {} ({:?})",
                    e.location.line, e.location.column, e.message, e.hint
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}

#[test]
fn sinks_and_routes_read_flood_guard_and_sinks_do_not_see_it() {
    let config = parse(
        "sinks:\n  chat: { type: log, flood_guard: 5 }\n  quiet: { type: log, flood_guard: 0 }\n  plain: { type: log }\n  slow: { type: log, flood_guard: { max: 50, per_seconds: 300 } }\nroutes:\n  - name: pager\n    flood_guard: 100\n    sinks: [chat]\n  - name: rest\n    sinks: [plain, slow]\n",
    )
    .unwrap();
    let guard = |name: &str| {
        config
            .sinks
            .iter()
            .find(|s| s.name == name)
            .unwrap()
            .flood_guard
    };
    assert_eq!(guard("chat"), Some(Guard::per_minute(5)));
    assert_eq!(guard("quiet"), Some(Guard::per_minute(0)));
    assert_eq!(guard("plain"), None);
    assert_eq!(
        guard("slow"),
        Some(Guard {
            max: 50,
            per: Duration::from_secs(300)
        })
    );
    let chat = config.sinks.iter().find(|s| s.name == "chat").unwrap();
    assert!(
        chat.node.get("flood_guard").is_none(),
        "the sink's own settings never see the key"
    );
    let routes = config.routes.walk();
    let pager = routes.iter().find(|(_, r)| r.name == "pager").unwrap();
    let policy = pager
        .1
        .noise
        .clone()
        .expect("flood_guard alone makes a policy");
    assert_eq!(policy.flood_guard, Some(Guard::per_minute(100)));
    assert!(
        policy.summary().contains("flood guard 100 per 60s"),
        "{}",
        policy.summary()
    );
    let rest = routes.iter().find(|(_, r)| r.name == "rest").unwrap();
    assert!(rest.1.noise.is_none());
}

#[test]
fn a_flood_guard_that_is_not_a_count_is_refused_where_it_is_written() {
    let err =
        parse("sinks:\n  chat: { type: log, flood_guard: lots }\nroutes:\n  - sinks: [chat]\n")
            .unwrap_err();
    assert!(
        err.starts_with("2:35 sink \"chat\": flood_guard must be a whole number, found \"lots\""),
        "{err}"
    );
    assert!(
        err.contains("flood_guard: 0"),
        "the hint says how to turn it off: {err}"
    );
    let err = parse("sinks:\n  chat: { type: log }\nroutes:\n  - name: r\n    flood_guard: -1\n    sinks: [chat]\n")
        .unwrap_err();
    assert!(
        err.starts_with("5:18 route \"r\": flood_guard must be a whole number"),
        "{err}"
    );
    let err = parse("sinks:\n  chat: { type: log, flood_guard: { max: 5, per_seconds: 0 } }\nroutes:\n  - sinks: [chat]\n")
        .unwrap_err();
    assert!(
        err.contains("sink \"chat\": flood_guard.per_seconds must be above 0"),
        "{err}"
    );
    let err = parse("sinks:\n  chat: { type: log, flood_guard: { per_second: 5 } }\nroutes:\n  - sinks: [chat]\n")
        .unwrap_err();
    assert!(err.contains("flood_guard key \"per_second\""), "{err}");
}
