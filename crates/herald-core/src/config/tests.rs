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
            "h.yaml:6:33: route \"one\": bad level \">=eror\" (hint: did you mean \">=error\"? (levels are debug, info, warning (or warn), error, fatal; a threshold is written \">=error\"))",
            "h.yaml:6:52: route \"one\": bad regex \"(\": unclosed group (hint: regexes use Rust's regex syntax and must match the whole value)",
            "h.yaml:7:13: route \"one\": unknown sink \"slak-a\" (hint: did you mean \"slack-a\"? (defined sinks: slack-a))",
            "h.yaml:7:21: route \"one\": unknown sink \"nowhere\" (hint: defined sinks: slack-a)",
            "h.yaml:10:5: unknown route key \"contnue\" (hint: did you mean \"continue\"? (valid keys: name, match, sinks, continue, routes, dedup_seconds, throttle, group_by, group_wait_seconds, group_interval_seconds, active_during, muted_during, let_through_at, flood_guard))",
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
fn lease_seconds_defaults_to_thirty_and_refuses_zero_and_more_than_an_hour() {
    let (config, _) = Config::parse("routes: []\n", "h.yaml", &env()).unwrap();
    assert_eq!(config.storage.lease_seconds, 30);
    let (config, _) = Config::parse("storage: {lease_seconds: 2}\n", "h.yaml", &env()).unwrap();
    assert_eq!(config.storage.lease_seconds, 2);
    for (text, value) in [("0", 0), ("3601", 3601)] {
        let got = errors(&format!("storage: {{lease_seconds: {text}}}\n"));
        assert_eq!(
            got,
            [format!(
                "h.yaml:1:26: storage.lease_seconds {value} is out of range (hint: use 1 to 3600: how long the work of an instance that died waits before another takes it (default 30))"
            )]
        );
    }
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

/// Every error and warning of `text` as `herald check` prints them, warnings after errors.
fn messages(text: &str) -> Vec<String> {
    let (errors, warnings) = match Config::parse(text, "h.yaml", &env()) {
        Ok((_, warnings)) => (vec![], warnings),
        Err(e) => (e.errors, e.warnings),
    };
    errors
        .iter()
        .chain(&warnings)
        .map(ToString::to_string)
        .collect()
}

#[test]
fn level_spellings_outside_the_documented_set_are_refused_with_the_one_meant() {
    let text = "\
sinks: {a: {type: log}}
routes:
  - {name: arrow, match: {level: \"=>error\"}, sinks: [a]}
  - {name: below, match: {level: \"=<warning\"}, sinks: [a]}
  - {name: twice, match: {level: \"==error\"}, sinks: [a]}
  - {name: spaced, match: {level: \">= error\"}, sinks: [a]}
  - {name: loud, match: {level: ERROR}, sinks: [a]}
  - {name: short, match: {level: err}, sinks: [a]}
  - {name: trap, match: {level: critical}, sinks: [a]}
  - {name: list, match: {level: [\"!=>fatal\", Warn]}, sinks: [a]}
  - {name: quiet, let_through_at: \">=critical\", sinks: [a]}
";
    expect_test::expect![[r#"
        [
            "h.yaml:3:34: route \"arrow\": bad level \"=>error\": \"=>\" is not a comparison (hint: write \">=error\")",
            "h.yaml:4:34: route \"below\": bad level \"=<warning\": \"=<\" is not a comparison (hint: write \"<=warning\")",
            "h.yaml:5:34: route \"twice\": bad level \"==error\": \"==\" is not a comparison: a bare level means exactly that level (hint: write \"error\")",
            "h.yaml:6:35: route \"spaced\": bad level \">= error\": a level has no spaces (hint: write \">=error\")",
            "h.yaml:7:33: route \"loud\": bad level \"ERROR\" (hint: write it in lowercase: \"error\")",
            "h.yaml:8:34: route \"short\": bad level \"err\" (hint: did you mean \"error\"? (levels are debug, info, warning (or warn), error, fatal; a threshold is written \">=error\"))",
            "h.yaml:9:33: route \"trap\": bad level \"critical\" (hint: Sentry's fatal is written \"fatal\"; critical metric alerts are mapped to error, so write \">=error\" to catch them)",
            "h.yaml:10:34: route \"list\": bad level \"!=>fatal\": \"=>\" is not a comparison (hint: write \"!>=fatal\")",
            "h.yaml:10:46: route \"list\": bad level \"Warn\" (hint: write it in lowercase: \"warn\")",
            "h.yaml:11:35: route \"quiet\": bad level \">=critical\" (hint: Sentry's fatal is written \"fatal\"; critical metric alerts are mapped to error, so write \">=error\" to catch them)",
        ]
    "#]]
    .assert_debug_eq(&messages(text));
}

#[test]
fn the_documented_level_names_and_warn_are_accepted() {
    let text = "\
sinks: {a: {type: log}}
routes:
  - name: r
    match: {level: [debug, info, warning, warn, error, fatal, \">=warn\", \"<info\", \"=fatal\", \"!>error\", \"~e.*\"]}
    sinks: [a]
";
    assert_eq!(messages(text), Vec::<String>::new());
}

#[test]
fn a_glob_in_a_literal_value_is_a_warning_with_the_regex_meant() {
    let text = "\
sinks: {a: {type: log}}
routes:
  - name: pay
    match: {project: \"payments-*\", release: [\"!1.?.0\", \"=v*\"], tags: {team: \"pay(ments)*\"}}
    sinks: [a]
";
    expect_test::expect![[r#"
        [
            "h.yaml:4:22: warning: route \"pay\": \"payments-*\" is matched literally: * and ? are not wildcards here (hint: for a pattern write \"~^payments-.*\"; write \"=payments-*\" to mean it literally)",
            "h.yaml:4:46: warning: route \"pay\": \"!1.?.0\" is matched literally: * and ? are not wildcards here (hint: for a pattern write '!~^1\\..\\.0'; write \"!=1.?.0\" to mean it literally)",
            "h.yaml:4:77: warning: route \"pay\": \"pay(ments)*\" is matched literally: * and ? are not wildcards here (hint: for a pattern write '~^pay\\(ments\\).*'; write \"=pay(ments)*\" to mean it literally)",
        ]
    "#]]
    .assert_debug_eq(&messages(text));
    // A warning: the config is still valid, and the value is still matched literally.
    assert!(Config::parse(text, "h.yaml", &env()).is_ok());
}

#[test]
fn the_storage_url_needs_a_scheme() {
    expect_test::expect![[r#"
        [
            "h.yaml:1:16: storage.url \"/tmp/x.db\" has no scheme (hint: write \"sqlite:///tmp/x.db\" (sqlite://PATH, relative to the working directory, or sqlite:///ABSOLUTE/PATH))",
        ]
    "#]]
    .assert_debug_eq(&messages("storage: {url: /tmp/x.db}\n"));
    expect_test::expect![[r#"
        [
            "h.yaml:1:16: storage.url \"sqlite:data/x.db\" has no scheme (hint: write \"sqlite://data/x.db\" (sqlite://PATH, relative to the working directory, or sqlite:///ABSOLUTE/PATH))",
        ]
    "#]]
    .assert_debug_eq(&messages("storage: {url: \"sqlite:data/x.db\"}\n"));
    expect_test::expect![[r#"
        [
            "h.yaml:1:16: storage.url \"mysql://db/herald\" has unknown scheme \"mysql\" (hint: storage urls are sqlite://PATH, relative to the working directory, or sqlite:///ABSOLUTE/PATH)",
        ]
    "#]]
    .assert_debug_eq(&messages("storage: {url: \"mysql://db/herald\"}\n"));
    expect_test::expect![[r#"
        [
            "h.yaml:1:16: storage.url \"sqlite://\" names no file (hint: write sqlite://PATH, for example \"sqlite://data/herald.db\")",
        ]
    "#]]
    .assert_debug_eq(&messages("storage: {url: \"sqlite://\"}\n"));
    for good in [
        "sqlite://data/herald.db",
        "sqlite:///var/lib/herald/herald.db",
    ] {
        assert_eq!(
            messages(&format!("storage: {{url: \"{good}\"}}\n")),
            Vec::<String>::new()
        );
    }
}

#[test]
fn server_listen_must_be_host_and_port() {
    let got: Vec<String> = [
        "8080",
        ":8080",
        "localhost",
        "127.0.0.1:80800",
        "::1:8080",
        "http://0.0.0.0:8080/",
        "my host:8080",
    ]
    .iter()
    .flat_map(|l| messages(&format!("server: {{listen: \"{l}\"}}\n")))
    .collect();
    expect_test::expect![[r#"
        [
            "h.yaml:1:18: server.listen \"8080\" is a port alone, not host:port (hint: write \"127.0.0.1:8080\" (this machine only) or \"0.0.0.0:8080\" (every interface))",
            "h.yaml:1:18: server.listen \":8080\" has a port but no host (hint: write \"127.0.0.1:8080\" (this machine only) or \"0.0.0.0:8080\" (every interface))",
            "h.yaml:1:18: server.listen \"localhost\" has no port (hint: write host:port, for example \"localhost:8080\")",
            "h.yaml:1:18: server.listen \"127.0.0.1:80800\" has port \"80800\", which is not a number from 0 to 65535 (hint: write host:port, for example \"127.0.0.1:8080\")",
            "h.yaml:1:18: server.listen \"::1:8080\" is an IPv6 address without brackets (hint: write \"[::1]:8080\")",
            "h.yaml:1:18: server.listen \"http://0.0.0.0:8080/\" is a URL, not host:port (the http:// is not needed) (hint: write \"0.0.0.0:8080\")",
            "h.yaml:1:18: server.listen \"my host:8080\" has host \"my host\", which is neither an IP address nor a host name (hint: write \"127.0.0.1:8080\" (this machine only) or \"0.0.0.0:8080\" (every interface))",
        ]
    "#]]
    .assert_debug_eq(&got);
    for good in [
        "127.0.0.1:8080",
        "0.0.0.0:0",
        "[::1]:8080",
        "[::]:80",
        "localhost:8080",
        "herald.internal:8080",
    ] {
        assert_eq!(
            messages(&format!("server: {{listen: \"{good}\"}}\n")),
            Vec::<String>::new(),
            "{good}"
        );
    }
    // A value from the environment is checked after substitution and shown as written.
    expect_test::expect![[r#"
        [
            "h.yaml:1:18: server.listen \"${PORT}\" is a port alone, not host:port (hint: write \"127.0.0.1:9000\" (this machine only) or \"0.0.0.0:9000\" (every interface))",
        ]
    "#]]
    .assert_debug_eq(&messages("server: {listen: \"${PORT}\"}\n"));
}

/// The errors `herald check` and `serve` add for a config that parsed.
fn serve_errors(text: &str) -> Vec<String> {
    let (config, _) = Config::parse(text, "h.yaml", &env()).unwrap();
    config
        .serve_errors()
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn a_config_without_sources_cannot_be_served() {
    expect_test::expect![[r#"
        [
            "h.yaml:1:1: no sources: herald could not receive anything (hint: add one, for example `sources: {sentry: {type: sentry, client_secret: \"${SENTRY_CLIENT_SECRET}\"}}`, served at POST /hooks/sentry)",
        ]
    "#]]
    .assert_debug_eq(&serve_errors(""));
    assert_eq!(
        serve_errors("# just a comment\nsinks: {a: {type: log}}\n"),
        serve_errors("")
    );
    expect_test::expect![[r#"
        [
            "h.yaml:2:1: no sources: herald could not receive anything (hint: add one, for example `sources: {sentry: {type: sentry, client_secret: \"${SENTRY_CLIENT_SECRET}\"}}`, served at POST /hooks/sentry)",
        ]
    "#]]
    .assert_debug_eq(&serve_errors("sinks: {a: {type: log}}\nsources: {}\n"));
    assert!(serve_errors("sources:\n  s: {type: sentry, insecure: true}\n").is_empty());
}

#[test]
fn unquoted_values_starting_with_bang_or_star_say_to_quote_them() {
    let tagged = "\
sinks: {a: {type: log}}
routes:
  - name: r
    match:
      environment: !staging
      release: [!1.0, \"2.0\"]
    sinks: [a]
";
    expect_test::expect![[r#"
        [
            "h.yaml:5:20: unquoted !staging is read as a YAML tag, and the value as empty (hint: quote values that start with ! or *: write \"!staging\")",
            "h.yaml:6:17: unquoted !1.0 is read as a YAML tag, and the value as empty (hint: quote values that start with ! or *: write \"!1.0\")",
        ]
    "#]]
    .assert_debug_eq(&messages(tagged));
    // An empty value followed by a comment that mentions a `!` is only empty (YAML places
    // an empty list item after its comment).
    for text in ["- # !todo\n- b\n", "a: # !x\nb: 1\n"] {
        let mut root = node::parse(text).unwrap();
        assert_eq!(node::untag(&mut root, text), vec![], "{text}");
    }
    expect_test::expect![[r#"
        [
            "h.yaml:4:16: invalid YAML: unquoted * is read as an alias (a reference to an &anchor) (hint: quote values that start with ! or *: write \"*\")",
        ]
    "#]]
    .assert_debug_eq(&messages("routes:\n  - name: r\n    match:\n      project: *\n"));
    expect_test::expect![[r#"
        [
            "h.yaml:2:33: invalid YAML: unquoted *-api is read as an alias (a reference to an &anchor) (hint: quote values that start with ! or *: write \"*-api\")",
        ]
    "#]]
    .assert_debug_eq(&messages("routes:\n  - {name: r, match: {project: [*-api, a]}}\n"));
}

#[test]
fn a_single_value_where_a_list_is_wanted_shows_the_list() {
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Mail {
        to: Vec<String>,
    }
    let root = node::parse("to: a@b.com\n").unwrap();
    let mut diag = Diagnostics::new("h.yaml");
    assert!(diag.typed::<Mail>(&root).is_none());
    let got: Vec<String> = diag
        .into_result(())
        .unwrap_err()
        .errors
        .iter()
        .map(ToString::to_string)
        .collect();
    expect_test::expect![[r#"
        [
            "h.yaml:1:5: bad value for \"to\": invalid type: string \"a@b.com\", expected a sequence (hint: write a list, even of one: `to: [\"a@b.com\"]`)",
        ]
    "#]]
    .assert_debug_eq(&got);
}

#[test]
fn a_sinks_retry_is_read_here_and_kept_from_the_sinks_own_settings() {
    let text = "sinks:\n  a: {type: log, retry: {max_attempts: 3, max_age_seconds: 600}}\n  b: {type: log}\nroutes:\n  - {name: r, sinks: [a, b]}\n";
    let (config, _) = Config::parse(text, "h.yaml", &env()).unwrap();
    let a = &config.sinks[0];
    assert_eq!(
        a.retry,
        Some(SinkRetry {
            max_attempts: Some(3),
            max_age_seconds: Some(600),
            ..SinkRetry::default()
        })
    );
    // The sink's own typed parse (deny_unknown_fields) never sees the key.
    assert!(a.node.get("retry").is_none());
    assert_eq!(a.node.get("type").and_then(Node::as_str), Some("log"));
    assert_eq!(config.sinks[1].retry, None);
}

#[test]
fn a_sinks_retry_that_cannot_work_is_an_error_at_its_key() {
    let sink = |retry: &str| {
        errors(&format!(
            "sinks:\n  a: {{type: log, retry: {retry}}}\nroutes:\n  - {{name: r, sinks: [a]}}\n"
        ))
    };
    expect_test::expect![[r#"
        [
            "h.yaml:2:40: sink \"a\": retry.max_attempts is 0, so nothing would ever be sent (hint: use 1 for a single attempt without retries)",
        ]
    "#]]
    .assert_debug_eq(&sink("{max_attempts: 0}"));
    expect_test::expect![[r#"
        [
            "h.yaml:2:47: sink \"a\": retry.min_backoff_seconds (60) is above max_backoff_seconds (5) (hint: the first wait cannot be longer than the largest one)",
        ]
    "#]]
    .assert_debug_eq(&sink("{min_backoff_seconds: 60, max_backoff_seconds: 5}"));
    let unknown = sink("{attempts: 3}");
    assert_eq!(unknown.len(), 1, "{unknown:?}");
    assert!(unknown[0].contains("attempts"), "{unknown:?}");
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

#[test]
fn a_retry_backoff_may_start_at_its_ceiling_but_not_at_zero() {
    let sink = |retry: &str| {
        errors(&format!(
            "sinks:\n  a: {{type: log, retry: {retry}}}\nroutes:\n  - {{name: r, sinks: [a]}}\n"
        ))
    };
    assert!(sink("{min_backoff_seconds: 5, max_backoff_seconds: 5}").is_empty());
    assert_eq!(
        sink("{max_backoff_seconds: 0}"),
        vec![
            "h.yaml:2:47: sink \"a\": retry.max_backoff_seconds is 0 (hint: the largest wait between attempts must be at least 1 second)"
        ]
    );
}

#[test]
fn a_password_in_the_url_query_is_redacted_too() {
    assert_eq!(
        redact_url("postgres://db/herald?sslmode=require&password=hunter2&PASSWORD=x"),
        "postgres://db/herald?sslmode=require&password=***&PASSWORD=***"
    );
    assert_eq!(
        redact_url("postgres://herald:p@ss@db:5432/herald?passwords=kept"),
        "postgres://herald:***@db:5432/herald?passwords=kept"
    );
    assert_eq!(
        redact_url("postgres://herald@db/x"),
        "postgres://herald@db/x"
    );
    assert_eq!(redact_url("not a url"), "not a url");
}

#[test]
fn a_lenient_parse_keeps_what_it_could_read_and_gives_up_only_on_broken_yaml() {
    let text = "sinks:\n  a: {type: log}\nroutes:\n  - {name: r, sinks: [a, nowhere]}\n";
    assert!(Config::parse(text, "h.yaml", &env()).is_err());
    let config = Config::parse_lenient(text, "h.yaml", &env()).expect("readable");
    assert_eq!(config.sinks.len(), 1);
    assert_eq!(config.routes.routes[0].sinks, vec!["a"]);
    assert!(Config::parse_lenient("routes: [unclosed\n", "h.yaml", &env()).is_none());
}

#[test]
fn the_config_must_be_a_mapping_and_may_be_empty() {
    assert_eq!(
        errors("- a\n"),
        vec![
            "h.yaml:1:1: the config must be a mapping, found a list (hint: top-level keys: server, storage, sources, sinks, routes, time_intervals)"
        ]
    );
    assert!(errors("").is_empty());
    assert!(errors("# nothing yet\n").is_empty());
}

#[test]
fn the_buffer_may_equal_the_largest_body() {
    assert!(errors("server: {max_body_bytes: 1000, max_buffered_bytes: 1000}\n").is_empty());
    assert_eq!(
        errors("server: {max_body_bytes: 1000, max_buffered_bytes: 999}\n").len(),
        1
    );
}

#[test]
fn a_null_credential_is_off_not_public() {
    let (config, _) = Config::parse("server: {admin_token: null}\n", "h.yaml", &env()).unwrap();
    assert!(config.public_credentials.is_empty());
    let (config, _) = Config::parse("server: {admin_token: \"\"}\n", "h.yaml", &env()).unwrap();
    assert!(config.public_credentials.is_empty());
}

#[test]
fn broken_yaml_is_one_sentence_without_the_repeated_location() {
    let got = errors("routes:\n  - name: [unclosed\n");
    assert_eq!(got.len(), 1);
    let message = got[0].split_once(": ").map_or("", |(_, m)| m);
    assert!(message.starts_with("invalid YAML: "), "{message}");
    assert!(!message.contains("line "), "{message}");
    assert!(!message.contains("error: "), "{message}");
    assert!(!message.ends_with('.'), "{message}");
}

#[test]
fn diagnostics_collect_errors_and_warnings_from_elsewhere() {
    let mut diag = Diagnostics::new("d.yaml");
    assert_eq!(diag.file(), "d.yaml");
    assert!(!diag.has_errors());
    diag.extend([
        ConfigError::new(Location::file("d.yaml"), "a warning").severity(Severity::Warning)
    ]);
    assert!(!diag.has_errors());
    diag.extend([ConfigError::new(Location::file("d.yaml"), "an error")]);
    assert!(diag.has_errors());
    let e = diag.into_result(()).unwrap_err();
    assert_eq!(
        (e.errors.len(), e.warnings.len()),
        (1, 1),
        "{:?}",
        (e.errors, e.warnings)
    );
    let diag = Diagnostics::new("d.yaml");
    let (value, warnings) = diag.into_result(7).unwrap();
    assert_eq!((value, warnings.len()), (7, 0));
}

/// The errors `Diagnostics::typed` reports for `yaml` read as `T`.
fn typed_errors<T: serde::de::DeserializeOwned + std::fmt::Debug>(yaml: &str) -> Vec<String> {
    let root = node::parse(yaml).unwrap();
    let mut diag = Diagnostics::new("h.yaml");
    let value = diag.typed::<T>(&root);
    match diag.into_result(value) {
        Ok((value, _)) => vec![format!("ok {value:?}")],
        Err(e) => e.errors.iter().map(ToString::to_string).collect(),
    }
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Numbers {
    #[serde(default, deserialize_with = "number::opt_u64")]
    limit: Option<u64>,
    #[serde(default, deserialize_with = "number::u16")]
    port: u16,
    #[serde(default, deserialize_with = "number::u32")]
    count: u32,
    #[serde(default)]
    names: Vec<String>,
}

#[test]
fn numbers_may_be_written_as_text_and_are_range_checked() {
    expect_test::expect![[r#"
        [
            "ok Some(Numbers { limit: Some(5), port: 8080, count: 70000, names: [] })",
        ]
    "#]]
    .assert_debug_eq(&typed_errors::<Numbers>(
        "{limit: 5, port: \"8080\", count: \" 70000 \"}",
    ));
    expect_test::expect![[r#"
        [
            "ok Some(Numbers { limit: Some(12), port: 0, count: 0, names: [] })",
        ]
    "#]]
    .assert_debug_eq(&typed_errors::<Numbers>("{limit: \"12\"}"));
    expect_test::expect![[r#"
        [
            "ok Some(Numbers { limit: None, port: 0, count: 0, names: [] })",
        ]
    "#]]
    .assert_debug_eq(&typed_errors::<Numbers>("{limit: \" \"}"));
    expect_test::expect![[r#"
        [
            "ok Some(Numbers { limit: None, port: 0, count: 0, names: [] })",
        ]
    "#]]
    .assert_debug_eq(&typed_errors::<Numbers>("{limit: null}"));
    expect_test::expect![[r#"
        [
            "h.yaml:1:9: bad value for \"limit\": \"lots\" is not a whole number",
        ]
    "#]]
    .assert_debug_eq(&typed_errors::<Numbers>("{limit: lots}"));
    expect_test::expect![[r#"
        [
            "h.yaml:1:8: bad value for \"port\": 70000 is out of range (0 to 65535)",
        ]
    "#]]
    .assert_debug_eq(&typed_errors::<Numbers>("{port: 70000}"));
    expect_test::expect![[r#"
        [
            "h.yaml:1:9: bad value for \"count\": 5000000000 is too large",
        ]
    "#]]
    .assert_debug_eq(&typed_errors::<Numbers>("{count: 5000000000}"));
}

#[test]
fn typed_errors_name_the_key_and_hint_at_the_fix() {
    expect_test::expect![[r#"
        [
            "h.yaml:1:2: unknown key \"limt\" (hint: did you mean \"limit\"? (valid keys: limit, port, count, names))",
        ]
    "#]]
    .assert_debug_eq(&typed_errors::<Numbers>("{limt: 5}"));
    expect_test::expect![[r#"
        [
            "h.yaml:1:2: unknown key \"zzz\" (hint: valid keys: limit, port, count, names)",
        ]
    "#]]
    .assert_debug_eq(&typed_errors::<Numbers>("{zzz: 5}"));
    expect_test::expect![[r#"
        [
            "h.yaml:1:9: bad value for \"names\": invalid type: map, expected a sequence (hint: write a list: `[a, b]`, or one item per line starting with `- `)",
        ]
    "#]]
    .assert_debug_eq(&typed_errors::<Numbers>("{names: {a: 1}}"));
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Empty {}
    expect_test::expect![[r#"
        [
            "h.yaml:1:2: unknown key \"a\" (hint: this section takes no keys)",
        ]
    "#]]
    .assert_debug_eq(&typed_errors::<Empty>("{a: 1}"));
}

#[test]
fn sections_are_found_by_name() {
    let (config, _) = Config::parse(
        "sinks:\n  a: {type: log}\n  b: {type: log}\n",
        "h.yaml",
        &env(),
    )
    .unwrap();
    let named = by_name(&config.sinks);
    assert_eq!(named.keys().copied().collect::<Vec<_>>(), vec!["a", "b"]);
    assert_eq!(named["b"].name, "b");
}

#[test]
fn variables_are_substituted_inside_lists_too() {
    let text = "sinks:\n  a: {type: log, to: [\"${TOKEN}\", plain]}\n";
    let (config, _) = Config::parse(text, "h.yaml", &env()).unwrap();
    let to = config.sinks[0].node.get("to").unwrap().as_seq().unwrap();
    assert_eq!(to[0].as_str(), Some("xoxb-secret-value"));
    assert_eq!(to[1].as_str(), Some("plain"));
}

#[test]
fn a_variable_name_is_letters_digits_and_underscores_not_starting_with_a_digit() {
    let env = Env::from_pairs([("_A1", "ok")]);
    assert_eq!(env.expand("${_A1}"), Ok("ok".into()));
    for bad in ["${}", "${A-B}", "${1A}", "${A B}"] {
        let (message, _) = env.expand(bad).unwrap_err();
        let body = &bad[2..bad.len() - 1];
        assert_eq!(
            message,
            format!("\"${{{body}}}\" is not a valid variable reference"),
            "{bad}"
        );
    }
}

#[test]
fn the_process_environment_is_read_and_never_shown() {
    let path = std::env::var("PATH").expect("PATH is set for tests");
    assert_eq!(Env::process().expand("${PATH}"), Ok(path));
    assert_eq!(format!("{:?}", env()), "Env(..)");
}

#[test]
fn config_errors_read_as_a_count_then_one_line_each() {
    let e = Config::parse(
        "servr: {}\nsinks: {a: {type: log}}\nroutes:\n  - {name: r, sinks: [b]}\n",
        "h.yaml",
        &env(),
    )
    .unwrap_err();
    expect_test::expect![[r#"
        h.yaml has 2 errors
          h.yaml:1:1: unknown top-level key "servr" (hint: did you mean "server"? (valid keys: server, storage, sources, sinks, routes, time_intervals))
          h.yaml:4:23: route "r": unknown sink "b" (hint: defined sinks: a)"#]]
    .assert_eq(&e.to_string());
    let one = Config::parse("- a\n", "h.yaml", &env()).unwrap_err();
    assert!(one.to_string().starts_with("h.yaml has 1 error\n"), "{one}");
}

#[test]
fn nodes_describe_their_kind_and_show_their_value() {
    let root = node::parse(
        "{str: text, int: 3, float: 1.5, bool: true, nothing: null, list: [1], map: {a: 1}}\n",
    )
    .unwrap();
    let got: Vec<String> = ["str", "int", "float", "bool", "nothing", "list", "map"]
        .iter()
        .map(|k| {
            let n = root.get(k).unwrap();
            format!(
                "{k}: {} {:?} {}",
                n.value.kind(),
                n.scalar_text(),
                n.shown()
            )
        })
        .collect();
    expect_test::expect![[r#"
        [
            "str: a string Some(\"text\") text",
            "int: a number Some(\"3\") 3",
            "float: a number Some(\"1.5\") 1.5",
            "bool: a boolean Some(\"true\") true",
            "nothing: null None null",
            "list: a list None [...]",
            "map: a mapping None {...}",
        ]
    "#]]
    .assert_debug_eq(&got);
}

#[test]
fn a_refused_value_in_a_list_is_located_at_its_item() {
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Ports {
        ports: Vec<u16>,
    }
    let root = node::parse("ports:\n  - 80\n  - many\n").unwrap();
    let mut diag = Diagnostics::new("h.yaml");
    assert!(diag.typed::<Ports>(&root).is_none());
    let e = diag.into_result(()).unwrap_err();
    assert_eq!(e.errors[0].location.to_string(), "h.yaml:3:5");
}

#[test]
fn a_hash_inside_a_value_starts_no_comment_before_a_tag() {
    for (text, found) in [
        ("a: [x#y, !1.0]\n", vec!["!1.0"]),
        ("- #c !todo\n- b\n", vec![]),
    ] {
        let mut root = node::parse(text).unwrap();
        let tags: Vec<String> = node::untag(&mut root, text)
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        assert_eq!(tags, found, "{text}");
    }
}
