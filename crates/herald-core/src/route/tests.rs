//! Routing tests: first match, `continue`, nesting and inheritance, each match key, level
//! thresholds, tags in both payload shapes, and the explanation of a miss.

use super::*;
use crate::alert::{Level, Tags};
use crate::config::{Config, Env};

const SINKS: &str = "sinks:\n  a: {type: log}\n  b: {type: log}\n  c: {type: log}\n";

fn tree(routes: &str) -> RouteTree {
    let text = format!("{SINKS}routes:\n{routes}");
    match Config::parse(
        &text,
        "t.yaml",
        &Env::from_pairs::<[(&str, &str); 0], _, _>([]),
    ) {
        Ok((c, _)) => c.routes,
        Err(e) => panic!("{e}"),
    }
}

fn alert() -> Alert {
    Alert {
        source: "sentry".into(),
        resource: "event_alert".into(),
        action: "triggered".into(),
        project: Some("payments-api".into()),
        level: Some(Level::Error),
        environment: Some("production".into()),
        release: Some("1.2.3".into()),
        tags: Tags(vec![("team".into(), "payments".into())]),
        ..Alert::default()
    }
}

/// Routes an alert and returns "route1,route2 -> sink1,sink2".
fn check(routes: &str, alert: &Alert) -> String {
    let r = tree(routes).route(alert);
    format!("{} -> {}", r.routes.join(","), r.sinks.join(","))
}

#[test]
fn first_match_wins() {
    let routes = "  - {name: one, sinks: [a]}\n  - {name: two, sinks: [b]}\n";
    assert_eq!(check(routes, &alert()), "one -> a");
}

#[test]
fn continue_keeps_matching_and_sinks_are_deduplicated() {
    let routes = "  - {name: one, sinks: [a, b], continue: true}\n  - {name: two, sinks: [b, c]}\n  - {name: three, sinks: [a]}\n";
    assert_eq!(check(routes, &alert()), "one,two -> a,b,c");
}

#[test]
fn nothing_matches_means_nowhere() {
    let routes = "  - {name: one, match: {project: web}, sinks: [a]}\n";
    assert_eq!(check(routes, &alert()), " -> ");
}

#[test]
fn child_sinks_replace_the_parent_and_inherit_when_absent() {
    let routes = "  - name: parent\n    sinks: [a]\n    routes:\n      - {name: kid, match: {level: fatal}, sinks: [b]}\n      - {name: heir, match: {tags: {team: payments}}}\n";
    assert_eq!(check(routes, &alert()), "heir -> a");
    let mut fatal = alert();
    fatal.level = Some(Level::Fatal);
    assert_eq!(check(routes, &fatal), "kid -> b");
    let mut other = alert();
    other.tags = Tags::default();
    assert_eq!(check(routes, &other), "parent -> a");
}

#[test]
fn children_are_tried_only_when_the_parent_matched() {
    let routes = "  - name: parent\n    match: {project: web}\n    sinks: [a]\n    routes:\n      - {name: kid, sinks: [b]}\n  - {name: rest, sinks: [c]}\n";
    assert_eq!(check(routes, &alert()), "rest -> c");
}

#[test]
fn continue_in_children() {
    let routes = "  - name: parent\n    sinks: [a]\n    routes:\n      - {name: k1, sinks: [b], continue: true}\n      - {name: k2, sinks: [c]}\n";
    assert_eq!(check(routes, &alert()), "k1,k2 -> b,c");
}

#[test]
fn each_match_key() {
    let a = alert();
    for (cond, want) in [
        ("{project: payments-api}", true),
        ("{project: web}", false),
        ("{level: error}", true),
        ("{level: warning}", false),
        ("{environment: production}", true),
        ("{environment: staging}", false),
        ("{release: \"~1\\\\..*\"}", true),
        ("{release: \"2.0\"}", false),
        ("{resource: event_alert}", true),
        ("{resource: issue}", false),
        ("{action: triggered}", true),
        ("{action: resolved}", false),
        ("{tags: {team: payments}}", true),
        ("{tags: {team: web}}", false),
        ("{tags: {team: \"*\", squad: \"!*\"}}", true),
        ("{tags: {team: payments, squad: red}}", false),
    ] {
        let routes = format!("  - {{name: r, match: {cond}, sinks: [a]}}\n");
        let got = !tree(&routes).route(&a).sinks.is_empty();
        assert_eq!(got, want, "match {cond}");
    }
}

#[test]
fn level_threshold_catches_higher_levels_only() {
    let routes = "  - {name: loud, match: {level: \">=error\"}, sinks: [a]}\n";
    for (level, want) in [
        (Level::Debug, false),
        (Level::Info, false),
        (Level::Warning, false),
        (Level::Error, true),
        (Level::Fatal, true),
    ] {
        let mut a = alert();
        a.level = Some(level);
        assert_eq!(!tree(routes).route(&a).sinks.is_empty(), want, "{level}");
    }
}

#[test]
fn tags_from_both_payload_shapes_route_the_same() {
    let pairs: Tags = serde_json::from_str(r#"[["team","payments"],["region","eu"]]"#).unwrap();
    let object: Tags = serde_json::from_str(r#"{"team":"payments","region":"eu"}"#).unwrap();
    let routes = "  - {name: eu, match: {tags: {team: payments, region: eu}}, sinks: [a]}\n";
    for tags in [pairs, object] {
        let mut a = alert();
        a.tags = tags;
        assert_eq!(check(routes, &a), "eu -> a");
    }
}

#[test]
fn explanation_says_why_each_route_did_not_match() {
    let routes = "  - {name: web, match: {project: web, level: \">=fatal\"}, sinks: [a]}\n  - {name: team, match: {tags: {squad: red}}, sinks: [b]}\n  - {name: all, sinks: [c]}\n  - {name: never, sinks: [a]}\n";
    let (routing, steps) = tree(routes).explain(&alert());
    assert_eq!(routing.routes, vec!["all"]);
    assert_eq!(
        steps,
        vec![
            Step {
                route: "web".into(),
                depth: 0,
                outcome: Outcome::Mismatched(vec![
                    "project is \"payments-api\", wanted web".into(),
                    "level is \"error\", wanted >=fatal".into(),
                ]),
            },
            Step {
                route: "team".into(),
                depth: 0,
                outcome: Outcome::Mismatched(vec!["tag squad is missing, wanted red".into()]),
            },
            Step {
                route: "all".into(),
                depth: 0,
                outcome: Outcome::Matched { used: true },
            },
            Step {
                route: "never".into(),
                depth: 0,
                outcome: Outcome::Skipped("\"all\" matched first and does not continue".into()),
            },
        ]
    );
}

#[test]
fn unnamed_routes_get_their_position_as_name() {
    let routes = "  - match: {project: web}\n    sinks: [a]\n  - routes:\n      - {sinks: [b]}\n";
    assert_eq!(check(routes, &alert()), "#2.#1 -> b");
}

#[test]
fn a_route_without_sinks_drops_what_it_matches() {
    let routes =
        "  - {name: mute, match: {environment: production}}\n  - {name: all, sinks: [a]}\n";
    assert_eq!(check(routes, &alert()), "mute -> ");
}
