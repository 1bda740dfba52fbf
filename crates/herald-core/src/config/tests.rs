//! Config loading tests: every error reported at once with line and column, hints for
//! typos, `${VAR}` substitution, and secrets kept out of messages.

use super::*;

fn env() -> Env {
    Env::from_pairs([
        ("TOKEN", "xoxb-secret-value"),
        ("PORT", "9000"),
        ("EMPTY", ""),
    ])
}

fn errors(text: &str) -> Vec<String> {
    match Config::parse(text, "h.yaml", &env()) {
        Ok(_) => vec![],
        Err(e) => e.errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn a_valid_config_parses() {
    let text = "server: {listen: \"0.0.0.0:${PORT}\", max_body_bytes: \"${PORT}\"}\nsinks:\n  a: {type: log}\nroutes:\n  - {name: r, sinks: [a]}\n";
    let (config, warnings) = Config::parse(text, "h.yaml", &env()).unwrap();
    assert!(warnings.is_empty());
    assert_eq!(config.server.listen, "0.0.0.0:9000");
    assert_eq!(config.server.max_body_bytes, 9000);
    assert_eq!(config.routes.routes.len(), 1);
}

#[test]
fn every_error_is_reported_at_once_with_line_and_column() {
    let text = "\
servr: {}
sinks:
  slack-a: {type: log}
routes:
  - name: one
    match: {levl: error, level: \">=eror\", project: \"~(\"}
    sinks: [slak-a, nowhere]
  - name: two
    sinks: [slack-a]
    contnue: true
";
    let got = errors(text);
    assert_eq!(
        got,
        vec![
            "h.yaml:1:1: unknown top-level key \"servr\" (hint: did you mean \"server\"? (valid keys: server, storage, sources, sinks, routes, time_intervals))",
            "h.yaml:6:13: unknown match key \"levl\" (hint: did you mean \"level\"? (valid keys: project, level, environment, release, resource, action, tags))",
            "h.yaml:6:33: route \"one\": bad level \">=eror\" (hint: levels are debug, info, warning, error, fatal; a threshold is written \">=error\")",
            "h.yaml:6:52: route \"one\": bad regex \"(\": unclosed group (hint: regexes use Rust's regex syntax and must match the whole value)",
            "h.yaml:7:13: route \"one\": unknown sink \"slak-a\" (hint: did you mean \"slack-a\"? (defined sinks: slack-a))",
            "h.yaml:7:21: route \"one\": unknown sink \"nowhere\" (hint: defined sinks: slack-a)",
            "h.yaml:10:5: unknown route key \"contnue\" (hint: did you mean \"continue\"? (valid keys: name, match, sinks, continue, routes, dedup_seconds, throttle, group_by, group_wait_seconds, group_interval_seconds, active_during, muted_during, let_through_at))",
        ]
    );
}

#[test]
fn unset_variable_is_an_error_at_its_value() {
    let got = errors("sources:\n  s: {type: sentry, client_secret: \"${NOPE}\"}\n");
    assert_eq!(
        got,
        vec![
            "h.yaml:2:36: environment variable \"NOPE\" is not set (hint: set it, or give a default with ${NOPE:-default})"
        ]
    );
}

#[test]
fn defaults_apply_when_unset_or_empty() {
    let env = env();
    assert_eq!(env.expand("${NOPE:-x}").unwrap(), "x");
    assert_eq!(env.expand("${EMPTY:-x}").unwrap(), "x");
    assert_eq!(env.expand("${EMPTY:-}").unwrap(), "");
    assert_eq!(env.expand("a$${b}c").unwrap(), "a${b}c");
    assert_eq!(env.expand("$5 and ${PORT}").unwrap(), "$5 and 9000");
}

#[test]
fn a_secret_can_come_from_a_file() {
    let dir = std::env::temp_dir().join(format!("herald-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("token");
    std::fs::write(&path, "from-file\n").unwrap();
    let got = env()
        .expand(&format!("${{file:{}}}", path.display()))
        .unwrap();
    assert_eq!(got, "from-file");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_substituted_secret_never_appears_in_an_error() {
    // max_body_bytes wants a number; the value came from ${TOKEN}, so the message must show
    // the reference as written, not the token.
    let got = errors("server: {max_body_bytes: \"${TOKEN}\"}\n");
    assert_eq!(got.len(), 1);
    assert!(!got[0].contains("xoxb-secret-value"), "{}", got[0]);
    assert!(got[0].contains("${TOKEN}"), "{}", got[0]);
    assert!(
        got[0].starts_with("h.yaml:1:26: bad value for \"max_body_bytes\""),
        "{}",
        got[0]
    );
}

#[test]
fn secret_debug_is_masked() {
    let s = Secret::new("hunter2");
    assert_eq!(format!("{s:?} {s}"), "*** ***");
}

#[test]
fn broken_yaml_reports_its_location() {
    let got = errors("routes:\n  - name: [unclosed\n");
    assert_eq!(got.len(), 1);
    assert!(got[0].starts_with("h.yaml:"), "{}", got[0]);
    assert!(got[0].contains("invalid YAML"), "{}", got[0]);
}

#[test]
fn sections_without_type_are_reported() {
    let got = errors("sinks:\n  a: {url: x}\n");
    assert_eq!(
        got,
        vec!["h.yaml:2:6: sink \"a\" has no `type` (hint: add `type:` naming the kind of sink)"]
    );
}

#[test]
fn duplicate_route_names_are_reported() {
    let got = errors(
        "sinks: {a: {type: log}}\nroutes:\n  - {name: x, sinks: [a]}\n  - {name: x, sinks: [a]}\n",
    );
    assert_eq!(
        got,
        vec!["h.yaml:4:12: route name \"x\" is used twice (hint: give each route its own name)"]
    );
}

#[test]
fn an_empty_admin_token_turns_the_admin_api_off() {
    let text = "server: {admin_token: \"${EMPTY:-}\"}\n";
    let (config, _) = Config::parse(text, "h.yaml", &env()).unwrap();
    assert!(config.server.admin_token.is_none());
    assert!(config.public_credentials.is_empty());
    let text = "server: {admin_token: \"${PORT}\"}\n";
    let (config, _) = Config::parse(text, "h.yaml", &env()).unwrap();
    assert_eq!(config.server.admin_token.unwrap().expose(), "9000");
}

#[test]
fn retention_defaults_to_thirty_days_and_takes_a_number_of_days() {
    let (config, _) = Config::parse("routes: []\n", "h.yaml", &env()).unwrap();
    assert_eq!(config.storage.retention_days, 30);
    let (config, _) = Config::parse("storage: {retention_days: 0}\n", "h.yaml", &env()).unwrap();
    assert_eq!(config.storage.retention_days, 0);
    let got = errors("storage: {retention_days: a month}\n");
    assert_eq!(got.len(), 1);
    assert!(
        got[0].starts_with("h.yaml:1:27: bad value for \"retention_days\""),
        "{}",
        got[0]
    );
}

#[test]
fn the_front_door_limits_have_defaults_and_refuse_what_could_never_work() {
    let (config, _) = Config::parse("", "h.yaml", &env()).unwrap();
    let s = &config.server;
    assert_eq!(
        (
            s.header_timeout_seconds,
            s.body_timeout_seconds,
            s.idle_timeout_seconds,
            s.max_connections,
            s.max_buffered_bytes
        ),
        (10, 30, 60, 1024, 16 * 1024 * 1024)
    );
    expect_test::expect![[r#"
        [
            "h.yaml:1:54: server.header_timeout_seconds is 0, which would refuse every request (hint: give a positive number, or remove the key for its default)",
        ]
    "#]]
    .assert_debug_eq(&errors("server: {max_connections: 5, header_timeout_seconds: 0}\n"));
    expect_test::expect![[r#"
        [
            "h.yaml:1:52: server.max_buffered_bytes (1000) is smaller than server.max_body_bytes (2000), so the largest body could never be taken (hint: raise max_buffered_bytes to at least max_body_bytes (default 16 MiB))",
        ]
    "#]]
    .assert_debug_eq(&errors("server: {max_body_bytes: 2000, max_buffered_bytes: 1000}\n"));
}

#[test]
fn a_variable_set_but_empty_is_an_error_unless_the_default_is_empty() {
    let got = errors("sources:\n  s: {type: sentry, client_secret: \"${EMPTY}\"}\n");
    assert_eq!(
        got,
        vec![
            "h.yaml:2:36: environment variable \"EMPTY\" is set but empty (hint: give it a value, or write ${EMPTY:-} if an empty value is meant)"
        ]
    );
    // An explicit empty default keeps meaning "this credential is off".
    assert!(errors("sources:\n  s: {type: sentry, client_secret: \"${EMPTY:-}\"}\n").is_empty());
    assert!(errors("sources:\n  s: {type: sentry, client_secret: \"${NOPE:-}\"}\n").is_empty());
}

#[test]
fn an_empty_secret_file_is_an_error() {
    let dir = std::env::temp_dir().join(format!("herald-empty-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("token");
    std::fs::write(&path, "\n").unwrap();
    let (message, _) = env()
        .expand(&format!("${{file:{}}}", path.display()))
        .unwrap_err();
    assert_eq!(
        message,
        format!("secret file \"{}\" is empty", path.display())
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The admin token's value as [`PublicCredential`] sees it: `Some(written)` when public.
fn public_admin_token(value: &str) -> Option<String> {
    let text = format!("server: {{admin_token: \"{value}\"}}\n");
    let (config, _) = Config::parse(&text, "h.yaml", &env()).unwrap();
    config.public_credentials.first().map(|c| {
        assert_eq!(c.key, "server.admin_token");
        assert_eq!(c.location.to_string(), "h.yaml:1:23");
        c.written.clone()
    })
}

#[test]
fn a_credential_written_in_the_file_is_public() {
    assert_eq!(public_admin_token("literal"), Some("literal".into()));
    assert_eq!(
        public_admin_token("${NOPE:-dflt}"),
        Some("${NOPE:-dflt}".into())
    );
    assert_eq!(
        public_admin_token("${EMPTY:-dflt}"),
        Some("${EMPTY:-dflt}".into())
    );
    // From the environment: private, even with a default that was not used, or around text.
    assert_eq!(public_admin_token("${TOKEN}"), None);
    assert_eq!(public_admin_token("${TOKEN:-dflt}"), None);
    assert_eq!(public_admin_token("prefix-${TOKEN}"), None);
    // Off is not public.
    assert_eq!(public_admin_token("${NOPE:-}"), None);
}

#[test]
fn loopback_addresses_are_told_apart() {
    for local in [
        "127.0.0.1:8080",
        "127.1.2.3:1",
        "[::1]:8080",
        "localhost:8080",
        "LOCALHOST:1",
    ] {
        assert!(is_loopback(local), "{local}");
    }
    for open in [
        "0.0.0.0:8080",
        "[::]:8080",
        "10.0.0.1:80",
        "herald.example.com:8080",
        "8080",
        "",
    ] {
        assert!(!is_loopback(open), "{open}");
    }
}

#[test]
fn public_credentials_are_errors_only_beyond_loopback() {
    let (config, _) = Config::parse(
        "server: {admin_token: \"${NOPE:-open}\"}\n",
        "h.yaml",
        &env(),
    )
    .unwrap();
    let creds = &config.public_credentials;
    assert!(exposure_errors(creds, "127.0.0.1:8080", "server.listen").is_empty());
    let got: Vec<String> = exposure_errors(creds, "0.0.0.0:8080", "--listen")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        got,
        vec![
            "h.yaml:1:23: server.admin_token \"${NOPE:-open}\" is written in the config file, so anyone who reads the file knows it, and herald listens on \"0.0.0.0:8080\" (--listen), which is not a loopback address (hint: take the value from the environment with ${VAR} or from a file with ${file:PATH} (a value written in the file is accepted only while herald listens on 127.0.0.1, ::1 or localhost))"
        ]
    );
}

#[test]
fn a_storage_password_from_a_variable_never_appears_in_debug() {
    let (config, _) = Config::parse(
        "storage: {url: \"postgres://herald:${TOKEN}@db:5432/herald\"}\n",
        "h.yaml",
        &env(),
    )
    .unwrap();
    assert_eq!(
        config.storage.url,
        "postgres://herald:xoxb-secret-value@db:5432/herald"
    );
    let shown = format!("{:?} {:?}", config.storage, config);
    assert!(!shown.contains("xoxb-secret-value"), "{shown}");
    assert!(
        shown.contains("postgres://herald:***@db:5432/herald"),
        "{shown}"
    );
}
