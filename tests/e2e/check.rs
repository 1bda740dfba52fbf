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

/// `herald ARGS --config FILE` with `text` written to FILE in a temporary folder, run there;
/// the file is named `h.yaml`, so messages start with it.
fn with_config(args: &[&str], text: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("h.yaml"), text).unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(args)
        .args(["--config", "h.yaml"])
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .output()
        .expect("the herald binary runs")
}

const SOURCE: &str = "sources:\n  sentry: { type: sentry, insecure: true }\n";

#[test]
fn a_config_that_serve_would_refuse_or_that_never_matches_is_invalid() {
    let text = format!(
        "{SOURCE}server:\n  listen: \"8080\"\nstorage:\n  url: /tmp/x.db\nsinks:\n  log: {{ type: log }}\n  mail: {{ type: email, host: smtp.example.com, from: herald@example.com, to: a@b.com }}\nroutes:\n  - name: arrow\n    match: {{ level: \"=>error\", environment: !staging }}\n    sinks: [log]\n  - name: trap\n    match: {{ level: critical }}\n    sinks: [mail]\n"
    );
    let out = with_config(&["check"], &text);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    for want in [
        "h.yaml:4:11: server.listen \"8080\" is a port alone, not host:port (hint: write \"127.0.0.1:8080\" (this machine only) or \"0.0.0.0:8080\" (every interface))",
        "h.yaml:6:8: storage.url \"/tmp/x.db\" has no scheme (hint: write \"sqlite:///tmp/x.db\"",
        "h.yaml:9:78: bad value for \"to\": invalid type: string \"a@b.com\", expected a sequence (hint: write a list, even of one: `to: [\"a@b.com\"]`)",
        "h.yaml:12:21: route \"arrow\": bad level \"=>error\": \"=>\" is not a comparison (hint: write \">=error\")",
        "h.yaml:12:45: unquoted !staging is read as a YAML tag, and the value as empty (hint: quote values that start with ! or *: write \"!staging\")",
        "h.yaml:15:21: route \"trap\": bad level \"critical\" (hint: Sentry's fatal is written \"fatal\"; critical metric alerts are mapped to error, so write \">=error\" to catch them)",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    assert!(err.contains("is invalid: 6 errors"), "{err}");
    // `serve` refuses it the same way before it binds anything, instead of blaming another
    // process for the port.
    let out = with_config(&["serve"], &text);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("h.yaml:4:11: server.listen \"8080\""), "{err}");
    assert!(!err.contains("another process"), "{err}");
}

#[test]
fn an_empty_config_has_no_sources() {
    let out = with_config(&["check"], "");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("h.yaml:1:1: no sources: herald could not receive anything (hint: add one, for example `sources: {sentry: {type: sentry, client_secret: \"${SENTRY_CLIENT_SECRET}\"}}`, served at POST /hooks/sentry)"),
        "{err}"
    );
    // A tool that uses only a sink does not need a source.
    let out = with_config(&["send-test", "log"], "sinks: { log: { type: log } }\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn a_glob_in_a_match_value_is_a_warning_and_the_config_stays_valid() {
    let text = format!(
        "{SOURCE}sinks:\n  log: {{ type: log }}\nroutes:\n  - name: pay\n    match: {{ project: \"payments-*\" }}\n    sinks: [log]\n"
    );
    let out = with_config(&["check"], &text);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("h.yaml is valid"), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("h.yaml:7:23: warning: route \"pay\": \"payments-*\" is matched literally: * and ? are not wildcards here (hint: for a pattern write \"~^payments-.*\"; write \"=payments-*\" to mean it literally)"),
        "{err}"
    );
}

#[test]
fn an_unquoted_star_says_to_quote_it() {
    let text = format!(
        "{SOURCE}sinks:\n  log: {{ type: log }}\nroutes:\n  - name: any\n    match:\n      project: *\n    sinks: [log]\n"
    );
    let out = with_config(&["check"], &text);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("h.yaml:8:16: invalid YAML: unquoted * is read as an alias (a reference to an &anchor) (hint: quote values that start with ! or *: write \"*\")"),
        "{err}"
    );
}
