//! The CLI's matcher and duration parsing.

use serde_json::json;

use super::{default_author, parse_duration, parse_matchers};

fn matchers(items: &[&str]) -> Result<serde_json::Value, String> {
    let items: Vec<String> = items.iter().map(|s| s.to_string()).collect();
    parse_matchers(&items).map_err(|e| e.to_string())
}

#[test]
fn matchers_become_a_route_match_object() {
    assert_eq!(
        matchers(&[
            "project=api",
            "level=>=error",
            "tags.team=web",
            "project=web"
        ])
        .unwrap(),
        json!({"project": ["api", "web"], "level": ">=error", "tags": {"team": "web"}})
    );
    assert!(
        matchers(&["project"])
            .unwrap_err()
            .contains("\"project\" is not key=value")
    );
    assert!(matchers(&["=api"]).is_err());
}

#[test]
fn durations_take_a_unit() {
    assert_eq!(parse_duration("90m").unwrap().as_secs(), 5400);
    assert_eq!(parse_duration("2h").unwrap().as_secs(), 7200);
    assert_eq!(parse_duration("1d").unwrap().as_secs(), 86_400);
    assert!(
        parse_duration("soon")
            .unwrap_err()
            .to_string()
            .contains("\"soon\"")
    );
    assert!(parse_duration("10").is_err());
    assert!(parse_duration("0m").is_err());
}

#[test]
fn the_author_defaults_to_user_then_hostname_then_herald_cli() {
    let some = |s: &str| Some(s.to_owned());
    assert_eq!(default_author(some("ana"), some("box")), "ana");
    assert_eq!(default_author(None, some("ci-runner-7")), "ci-runner-7");
    assert_eq!(default_author(some(" "), some("box")), "box");
    assert_eq!(default_author(None, None), "herald-cli");
    assert_eq!(default_author(some(""), some("")), "herald-cli");
}
