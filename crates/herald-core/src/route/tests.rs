//! Routing tests: first match, `continue`, nesting and inheritance, each match key, level
//! thresholds, tags in both payload shapes, and the explanation of a miss.

use super::*;
use crate::alert::{Alert, Level, Tags};
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

/// Every problem a `routes:` text gets, as `line:column message (hint)`.
fn problems(routes: &str) -> String {
    let text = format!("{SINKS}routes:\n{routes}");
    match Config::parse(
        &text,
        "t.yaml",
        &Env::from_pairs::<[(&str, &str); 0], _, _>([]),
    ) {
        Ok((_, warnings)) if warnings.is_empty() => "ok".to_owned(),
        Ok((_, warnings)) => shown(&warnings),
        Err(e) => shown(&e.errors),
    }
}

fn shown(errors: &[crate::ConfigError]) -> String {
    errors
        .iter()
        .map(|e| {
            let hint = e
                .hint
                .as_deref()
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            format!(
                "{}:{} {}{hint}",
                e.location.line, e.location.column, e.message
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn sinks_may_be_one_name_a_list_or_null() {
    assert_eq!(check("  - {name: one, sinks: b}\n", &alert()), "one -> b");
    assert_eq!(
        check("  - {name: one, sinks: [c, a, c]}\n", &alert()),
        "one -> c,a"
    );
    // `sinks:` written but empty drops what the route matches, even under a parent with sinks.
    let routes =
        "  - name: parent\n    sinks: [a]\n    routes:\n      - name: kid\n        sinks:\n";
    assert_eq!(check(routes, &alert()), "kid -> ");
}

#[test]
fn bad_sinks_are_located_with_the_defined_ones() {
    expect_test::expect![[r#"
        6:24 sinks of route "one" must be a list of sink names (for example `sinks: [payments-oncall]`)"#]]
    .assert_eq(&problems("  - {name: one, sinks: {a: 1}}\n"));
    expect_test::expect![[r#"
        6:25 a sink name must be text
        6:30 route "one": unknown sink "bb" (did you mean "b"? (defined sinks: a, b, c))
        6:34 route "one": unknown sink "zzzzzz" (defined sinks: a, b, c)"#]]
    .assert_eq(&problems("  - {name: one, sinks: [[a], bb, zzzzzz]}\n"));
}

#[test]
fn an_empty_list_in_a_match_is_refused() {
    expect_test::expect![[r#"
        6:34 route "one": an empty list matches nothing (remove the key to match everything)"#]]
    .assert_eq(&problems(
        "  - {name: one, match: {project: []}, sinks: [a]}\n",
    ));
}

#[test]
fn a_match_value_must_be_text_or_a_list_of_text() {
    expect_test::expect![[r#"
        6:34 route "one": a match value must be text or a list, found a mapping (for example `project: api`, `level: ">=error"` or `project: [api, web]`)
        6:55 route "one": a match value must be text or a list, found null (for example `project: api`, `level: ">=error"` or `project: [api, web]`)
        6:71 route "one": a match value must be text, found a list"#]]
    .assert_eq(&problems(
        "  - {name: one, match: {project: {a: 1}, environment: null, release: [[x]]}, sinks: [a]}\n",
    ));
    expect_test::expect![[r#"
        6:32 route "one": bad level ">=loud""#]]
    .assert_eq(
        problems("  - {name: one, match: {level: \">=loud\"}, sinks: [a]}\n")
            .lines()
            .next()
            .unwrap()
            .split(" (")
            .next()
            .unwrap(),
    );
}

#[test]
fn match_and_tags_must_be_mappings() {
    expect_test::expect![[r#"
        6:24 match of route "one" must be a mapping (match keys: project, level, environment, release, resource, action, tags)"#]]
    .assert_eq(&problems("  - {name: one, match: [project], sinks: [a]}\n"));
    expect_test::expect![[r#"
        6:31 tags of route "one" must be a mapping of tag to value (for example `tags: { team: payments }`)"#]]
    .assert_eq(&problems("  - {name: one, match: {tags: [team]}, sinks: [a]}\n"));
    expect_test::expect![[r#"
        6:25 unknown match key "projet" (did you mean "project"? (valid keys: project, level, environment, release, resource, action, tags))"#]]
    .assert_eq(&problems(
        "  - {name: one, match: {projet: api}, sinks: [a]}\n",
    ));
    // A null match matches everything.
    assert_eq!(
        check("  - {name: one, match: null, sinks: [a]}\n", &alert()),
        "one -> a"
    );
}

#[test]
fn a_match_on_tags_reads_each_tag() {
    let tree =
        tree("  - {name: one, match: {tags: {team: payments, region: [eu, us]}}, sinks: [a]}\n");
    let conditions: Vec<String> = tree.routes[0]
        .conditions
        .iter()
        .map(|(k, m)| format!("{k:?}={m}"))
        .collect();
    assert_eq!(
        conditions,
        vec![
            "Tag(\"team\")=payments".to_owned(),
            "Tag(\"region\")=[eu, us]".to_owned()
        ]
    );
}

#[test]
fn continue_must_be_a_boolean() {
    expect_test::expect![[r#"
        6:27 "continue" must be true or false, found "yes please""#]]
    .assert_eq(&problems(
        "  - {name: one, continue: yes please, sinks: [a]}\n",
    ));
    assert_eq!(
        check(
            "  - {name: one, continue: false, sinks: [a]}\n  - {name: two, sinks: [b]}\n",
            &alert()
        ),
        "one -> a"
    );
}

#[test]
fn routes_and_route_names_have_a_shape() {
    expect_test::expect![[r#"
        6:3 routes must be a list, found a mapping (write each route as a list item starting with `- name: ...`)"#]]
    .assert_eq(&problems("  one: {sinks: [a]}\n"));
    expect_test::expect![[r#"
        6:5 a route must be a mapping, found a string (a route has keys name, match, sinks, continue, routes)"#]]
    .assert_eq(&problems("  - one\n"));
    expect_test::expect![[r#"
        6:11 a route name must be non-empty text
        7:5 unknown route key "sink" (did you mean "sinks"? (valid keys: name, match, sinks, continue, routes, dedup_seconds, throttle, group_by, group_wait_seconds, group_interval_seconds, active_during, muted_during, let_through_at, flood_guard))"#]]
    .assert_eq(&problems("  - name: \" \"\n    sink: [a]\n"));
    // A route with a bad name still routes, under its position.
    let tree = tree("  - {name: one, sinks: [a], routes: null}\n  - {sinks: [b]}\n");
    assert_eq!(
        tree.walk()
            .iter()
            .map(|(d, r)| format!("{d}:{}:{}", r.name, r.line))
            .collect::<Vec<_>>(),
        vec!["0:one:6", "0:#2:7"]
    );
    assert_eq!(problems(""), "ok");
}

#[test]
fn a_glob_lookalike_in_a_negation_names_both_spellings() {
    expect_test::expect![[r#"
        6:34 route "one": "!pay-*" is matched literally: * and ? are not wildcards here (for a pattern write "!~^pay-.*"; write "!=pay-*" to mean it literally)"#]]
    .assert_eq(&problems("  - {name: one, match: {project: \"!pay-*\"}, sinks: [a]}\n"));
}

#[test]
fn render_shows_each_route_with_its_conditions_sinks_and_continue() {
    let tree = tree(
        "  - name: parent\n    match: {project: payments-api, tags: {team: \"!web\"}}\n    sinks: [a, b]\n    continue: true\n    routes:\n      - {name: kid, match: {level: \">=fatal\"}}\n  - {name: mute, match: {environment: staging}, sinks: []}\n",
    );
    expect_test::expect![[r#"
        - parent [project=payments-api tags.team=!web] -> a, b (continue)
          - kid [level=>=fatal] -> a, b
        - mute [environment=staging] -> (no sinks: dropped)
    "#]]
    .assert_eq(&tree.render());
    assert_eq!(
        RouteTree::default().render(),
        "(no routes: every alert is dropped)\n"
    );
}

#[test]
fn a_route_lists_only_the_conditions_it_fails() {
    let tree =
        tree("  - {name: one, match: {project: payments-api, release: \"2.0\"}, sinks: [a]}\n");
    let mut a = alert();
    assert_eq!(
        tree.routes[0].mismatches(&a),
        vec!["release is \"1.2.3\", wanted 2.0"]
    );
    a.release = None;
    assert_eq!(
        tree.routes[0].mismatches(&a),
        vec!["release is missing, wanted 2.0"]
    );
    a.release = Some("2.0".into());
    assert!(tree.routes[0].mismatches(&a).is_empty());
}

#[test]
fn the_explanation_descends_into_children_and_marks_the_used_routes() {
    let routes = "  - name: parent\n    sinks: [a]\n    continue: true\n    routes:\n      - {name: kid, match: {level: fatal}, sinks: [b]}\n      - {name: heir, sinks: [c]}\n      - {name: late, sinks: [a]}\n  - {name: next, sinks: [b]}\n";
    let (routing, steps) = tree(routes).explain(&alert());
    assert_eq!(
        routing,
        Routing {
            routes: vec!["heir".into(), "next".into()],
            sinks: vec!["c".into(), "b".into()],
            deliveries: vec![
                ("heir".into(), vec!["c".into()]),
                ("next".into(), vec!["b".into()])
            ],
        }
    );
    assert_eq!(routing, tree(routes).route(&alert()));
    let shown: Vec<String> = steps
        .iter()
        .map(|s| format!("{}{} {:?}", "  ".repeat(s.depth), s.route, s.outcome))
        .collect();
    expect_test::expect![[r#"
        parent Matched { used: false }
          kid Mismatched(["level is \"error\", wanted fatal"])
          heir Matched { used: true }
          late Skipped("\"heir\" matched first and does not continue")
        next Matched { used: true }"#]]
    .assert_eq(&shown.join("\n"));
}

#[test]
fn a_tree_can_be_read_without_time_intervals() {
    let root = crate::config::node::parse("- {name: one, sinks: [a]}\n").unwrap();
    let mut diag = crate::config::Diagnostics::new("t.yaml");
    let tree = RouteTree::from_node(Some(&root), &["a"], &mut diag);
    assert!(!diag.has_errors());
    assert_eq!(tree.route(&alert()).sinks, vec!["a"]);
}
