//! Unit tests for the matcher syntax: equality, negation, regex, presence, lists, levels.

use super::*;

fn check(items: &[&str], is_level: bool, value: Option<&str>) -> bool {
    let items: Vec<String> = items.iter().map(|s| s.to_string()).collect();
    ValueMatcher::parse(&items, is_level)
        .unwrap()
        .matches(value)
}

#[test]
fn exact_value() {
    assert!(check(&["payments"], false, Some("payments")));
    assert!(!check(&["payments"], false, Some("billing")));
    assert!(!check(&["payments"], false, None));
}

#[test]
fn negation_matches_other_and_missing_values() {
    assert!(!check(&["!payments"], false, Some("payments")));
    assert!(check(&["!payments"], false, Some("billing")));
    assert!(check(&["!payments"], false, None));
}

#[test]
fn regex_is_anchored() {
    assert!(check(&["~pay.*"], false, Some("payments-api")));
    assert!(!check(&["~pay"], false, Some("payments-api")));
    assert!(!check(&["!~pay.*"], false, Some("payments-api")));
    assert!(check(&["!~pay.*"], false, None));
}

#[test]
fn presence_and_absence() {
    assert!(check(&["*"], false, Some("")));
    assert!(!check(&["*"], false, None));
    assert!(check(&["!*"], false, None));
    assert!(!check(&["!*"], false, Some("x")));
}

#[test]
fn equals_prefix_escapes_operators() {
    assert!(check(&["=!odd"], false, Some("!odd")));
    assert!(check(&["=*"], false, Some("*")));
    assert!(!check(&["=*"], false, Some("x")));
}

#[test]
fn list_is_any_positive_and_no_negated() {
    assert!(check(&["a", "b"], false, Some("b")));
    assert!(!check(&["a", "b"], false, Some("c")));
    assert!(check(&["!a", "!b"], false, Some("c")));
    assert!(!check(&["!a", "!b"], false, Some("a")));
    assert!(!check(&["~.*", "!secret"], false, Some("secret")));
}

#[test]
fn level_thresholds() {
    assert!(check(&[">=error"], true, Some("fatal")));
    assert!(check(&[">=error"], true, Some("error")));
    assert!(!check(&[">=error"], true, Some("warning")));
    assert!(check(&[">warning"], true, Some("error")));
    assert!(!check(&[">warning"], true, Some("warning")));
    assert!(check(&["<=info"], true, Some("debug")));
    assert!(!check(&["<info"], true, Some("info")));
    assert!(!check(&[">=error"], true, None));
}

#[test]
fn bare_level_means_exactly() {
    assert!(check(&["error"], true, Some("error")));
    assert!(!check(&["error"], true, Some("fatal")));
    assert!(check(&["!error"], true, Some("fatal")));
}

#[test]
fn bad_level_and_bad_regex_are_errors() {
    let err = ValueMatcher::parse(&[">=eror".into()], true).unwrap_err();
    assert_eq!(err.message, "bad level \">=eror\"");
    let err = ValueMatcher::parse(&["~(unclosed".into()], false).unwrap_err();
    assert!(
        err.message.starts_with("bad regex \"(unclosed\""),
        "{}",
        err.message
    );
}

#[test]
fn warn_is_the_one_alias_and_equals_names_a_level() {
    assert!(check(&["warn"], true, Some("warning")));
    assert!(check(&[">=warn"], true, Some("error")));
    assert!(check(&["=warn"], true, Some("warning")));
    assert!(check(&["=error"], true, Some("error")));
    assert!(!check(&["=error"], true, Some("fatal")));
}

#[test]
fn config_levels_are_strict_while_payload_levels_stay_lenient() {
    for refused in [
        "ERROR", "err", "critical", "trace", ">= error", "=>error", "==error", "=eror",
    ] {
        assert!(
            ValueMatcher::parse(&[refused.into()], true).is_err(),
            "{refused}"
        );
    }
    // What a payload says is still read generously (see `Level`'s `FromStr`).
    assert_eq!("CRITICAL".parse::<Level>(), Ok(Level::Fatal));
}

#[test]
fn a_glob_lookalike_suggests_its_regex() {
    assert_eq!(
        glob_lookalike("payments-*").as_deref(),
        Some("~^payments-.*")
    );
    assert_eq!(glob_lookalike("!web-?").as_deref(), Some("!~^web-."));
    assert_eq!(glob_lookalike("v1.*").as_deref(), Some("~^v1\\..*"));
    for not_a_glob in ["*", "!*", "~pay.*", "=pay*", "!=pay*", "payments"] {
        assert_eq!(glob_lookalike(not_a_glob), None, "{not_a_glob}");
    }
}
