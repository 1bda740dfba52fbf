//! `herald check`: every example config in `config/` is valid, and a broken config gets every
//! error reported at once with file, line, column and a hint, and exit code 1.

use crate::support::{check_example, herald, repo, stderr, stdout};

#[test]
fn every_example_config_is_valid() {
    let mut checked = 0;
    for entry in std::fs::read_dir(repo().join("config")).unwrap() {
        let path = entry.unwrap().path();
        if !matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            continue;
        }
        let out = check_example(&path);
        assert!(out.status.success(), "{}: {}", path.display(), stderr(&out));
        assert!(stdout(&out).contains("is valid"), "{}", stdout(&out));
        checked += 1;
    }
    assert!(checked > 0, "config/ has no example configs");
}

#[test]
fn check_prints_the_route_tree_with_sinks() {
    let out = herald(&["check", "--config", "config/herald.yaml"]);
    let text = stdout(&out);
    assert!(
        text.contains("- payments-prod [project=[payments-api, payments-worker] level=>=error environment=production] -> payments-log (continue)"),
        "{text}"
    );
    assert!(
        text.contains("    - payments-fatal [level=fatal tags.team=payments] -> payments-log"),
        "{text}"
    );
    assert!(
        text.contains("- everything-else [every alert] -> console"),
        "{text}"
    );
}

#[test]
fn a_broken_config_gets_every_error_with_its_location() {
    let out = herald(&["check", "--config", "tests/fixtures/configs/broken.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let f = "tests/fixtures/configs/broken.yaml";
    for want in [
        format!("{f}:2:1: unknown top-level key \"servr\" (hint: did you mean \"server\"?"),
        format!("{f}:5:42: environment variable \"HERALD_E2E_UNSET_VARIABLE\" is not set"),
        format!("{f}:7:25: unknown key \"levl\" (hint: did you mean \"level\"?"),
        format!("{f}:8:18: sink \"pager\" has unknown type \"pagerduty\""),
        format!("{f}:11:21: route \"prod\": bad level \">=eror\""),
        format!("{f}:11:40: route \"prod\": bad regex \"(\""),
        format!(
            "{f}:12:13: route \"prod\": unknown sink \"consol\" (hint: did you mean \"console\"?"
        ),
    ] {
        assert!(err.contains(&want), "missing {want:?} in:\n{err}");
    }
    assert!(err.contains("is invalid: 7 errors"), "{err}");
}

#[test]
fn a_missing_config_file_is_one_clear_error() {
    let out = herald(&["check", "--config", "no/such/herald.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot read config file \"no/such/herald.yaml\""),
        "{}",
        stderr(&out)
    );
}
