//! Tests for [`SdkSourceConfig::load`]: the documented example, defaults, located errors for
//! every bad value, ids unique within and across sources, keys kept out of Debug and
//! messages, public keys written in the file, and [`Project::dsn`].

use super::*;
use herald_core::config::{Config, Env};

/// What [`SdkSourceConfig::load`] says about every source in `text`: the configs loaded and
/// the messages (errors, then warnings) as `herald check` prints them.
fn load(text: &str, env: &[(&str, &str)]) -> (Vec<SdkSourceConfig>, Vec<String>) {
    let env = Env::from_pairs(env.iter().copied());
    let (config, _) = Config::parse(text, "h.yaml", &env)
        .unwrap_or_else(|e| panic!("core config: {:?}", e.errors));
    let mut diag = Diagnostics::new("h.yaml");
    let loaded: Vec<_> = config
        .sources
        .iter()
        .filter_map(|spec| SdkSourceConfig::load(&spec.name, &spec.node, &mut diag))
        .collect();
    let messages = match diag.into_result(()) {
        Ok(((), warnings)) => warnings,
        Err(e) => e.errors.into_iter().chain(e.warnings).collect(),
    };
    (loaded, messages.iter().map(ToString::to_string).collect())
}

const KEY: &str = "0123456789abcdef0123456789abcdef";

#[test]
fn the_documented_example_loads_with_its_defaults() {
    let text = "sources:\n  apps:\n    type: sentry_sdk\n    projects:\n      linebot: { id: 42, public_key: \"${LINEBOT_SENTRY_KEY}\" }\n      shop: { id: \"43\", public_key: \"${SHOP_KEY}\", rate_limit_per_minute: 120 }\n";
    let (loaded, messages) = load(text, &[("LINEBOT_SENTRY_KEY", KEY), ("SHOP_KEY", KEY)]);
    assert!(messages.is_empty(), "{messages:?}");
    let source = &loaded[0];
    assert_eq!(source.name, "apps");
    assert!(source.scrub, "scrubbing is on by default");
    let shown: Vec<_> = source
        .projects
        .iter()
        .map(|p| {
            format!(
                "{} {} {:?} {}",
                p.slug, p.id, p.rate_limit_per_minute, p.id_at
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            "linebot 42 None h.yaml:5:22",
            "shop 43 Some(120) h.yaml:6:19"
        ]
    );
    assert_eq!(source.projects[0].public_key.expose(), KEY);
    assert_eq!(source.project(43).map(|p| p.slug.as_str()), Some("shop"));
    assert!(source.project(44).is_none());
}

#[test]
fn the_source_rate_limit_applies_to_projects_without_their_own_and_scrub_can_be_off() {
    let text = format!(
        "sources:\n  apps:\n    type: sentry_sdk\n    scrub: false\n    rate_limit_per_minute: 600\n    projects:\n      a: {{ id: 1, public_key: {KEY} }}\n      b: {{ id: 2, public_key: {KEY}, rate_limit_per_minute: 5 }}\n"
    );
    let (loaded, messages) = load(&text, &[]);
    assert!(messages.is_empty(), "{messages:?}");
    assert!(!loaded[0].scrub);
    let limits: Vec<_> = loaded[0]
        .projects
        .iter()
        .map(|p| p.rate_limit_per_minute)
        .collect();
    assert_eq!(limits, [Some(600), Some(5)]);
}

#[test]
fn bad_values_are_reported_at_their_place() {
    let cases: &[(&str, &str)] = &[
        (
            "sources:\n  apps: {type: sentry_sdk}\n",
            "h.yaml:2:9: missing key \"projects\"",
        ),
        (
            "sources:\n  apps: {type: sentry_sdk, projects: {}}\n",
            "h.yaml:2:38: source \"apps\" has no projects, so every SDK request would be refused (hint: add one: `projects: { my-app: { id: 1, public_key: \"${MY_APP_SENTRY_KEY}\" } }`)",
        ),
        (
            "sources:\n  apps: {type: sentry_sdk, projects: {a: {id: 0, public_key: k0123456789abcdef}}}\n",
            "h.yaml:2:47: project \"a\" of source \"apps\" has id 0 (hint: use a positive number; it is the last part of the project's DSN)",
        ),
        (
            "sources:\n  apps: {type: sentry_sdk, projects: {a: {id: forty, public_key: k0123456789abcdef}}}\n",
            "h.yaml:2:47: bad value for \"id\": \"forty\" is not a whole number",
        ),
        (
            "sources:\n  apps: {type: sentry_sdk, projects: {a: {id: 1}}}\n",
            "h.yaml:2:42: missing key \"public_key\"",
        ),
        (
            "sources:\n  apps: {type: sentry_sdk, projects: {a: {id: 1, publickey: x}}}\n",
            "h.yaml:2:50: unknown key \"publickey\" (hint: did you mean \"public_key\"? (valid keys: id, public_key, rate_limit_per_minute))",
        ),
        (
            "sources:\n  apps: {type: sentry_sdk, scrub: maybe, projects: {a: {id: 1, public_key: k0123456789abcdef}}}\n",
            "h.yaml:2:35: bad value for \"scrub\": invalid type: string \"maybe\", expected a boolean",
        ),
        (
            "sources:\n  apps: {type: sentry_sdk, rate_limit_per_minute: 0, projects: {a: {id: 1, public_key: k0123456789abcdef}}}\n",
            "h.yaml:2:51: source \"apps\": rate_limit_per_minute is 0, which would refuse every event (hint: remove the key for no limit, or give the events per minute to accept)",
        ),
        (
            "sources:\n  apps: {type: sentry_sdk, projects: {a: {id: 1, public_key: \"${K}\", rate_limit_per_minute: 0}}}\n",
            "h.yaml:2:93: project \"a\" of source \"apps\": rate_limit_per_minute is 0, which would refuse every event (hint: remove the key for the source's setting (no limit by default), or give the events per minute to accept)",
        ),
    ];
    let mut got = vec![];
    for (text, _) in cases {
        let (loaded, messages) = load(text, &[("K", KEY)]);
        assert!(loaded.is_empty(), "{text}");
        got.push(messages.join(" | "));
    }
    let expected: Vec<_> = cases.iter().map(|(_, e)| e.to_string()).collect();
    assert_eq!(got, expected);
}

#[test]
fn a_key_a_dsn_cannot_carry_is_refused_without_showing_it() {
    let text =
        "sources:\n  apps: {type: sentry_sdk, projects: {a: {id: 1, public_key: \"${K}\"}}}\n";
    let (loaded, messages) = load(text, &[("K", "s3cret/with@odd:chars")]);
    assert!(loaded.is_empty());
    assert_eq!(
        messages,
        [
            "h.yaml:2:62: the public_key of project \"a\" of source \"apps\" (${K}) has characters a DSN cannot carry (hint: use letters, digits, - and _ only; `openssl rand -hex 16` makes one)"
        ]
    );
}

#[test]
fn an_empty_key_is_refused_and_a_short_one_warned_about() {
    let text =
        "sources:\n  apps: {type: sentry_sdk, projects: {a: {id: 1, public_key: \"${K:-}\"}}}\n";
    let (loaded, messages) = load(text, &[]);
    assert!(loaded.is_empty());
    assert_eq!(
        messages,
        [
            "h.yaml:2:62: project \"a\" of source \"apps\" has an empty public_key, so its SDKs could not authenticate (hint: set it, for example from the environment: public_key: \"${SHOP_SENTRY_KEY}\"; `openssl rand -hex 16` makes one)"
        ]
    );
    let text =
        "sources:\n  apps: {type: sentry_sdk, projects: {a: {id: 1, public_key: \"${K}\"}}}\n";
    let (loaded, messages) = load(text, &[("K", "short")]);
    assert_eq!(loaded.len(), 1);
    assert_eq!(
        messages,
        [
            "h.yaml:2:62: warning: the public_key of project \"a\" of source \"apps\" (${K}) is shorter than 16 characters, so it can be guessed (hint: `openssl rand -hex 16` makes one as long as Sentry's)"
        ]
    );
}

#[test]
fn ids_are_unique_within_a_source() {
    let text = format!(
        "sources:\n  apps:\n    type: sentry_sdk\n    projects:\n      a: {{ id: 7, public_key: {KEY} }}\n      b: {{ id: 7, public_key: {KEY} }}\n"
    );
    let (loaded, messages) = load(&text, &[]);
    assert!(loaded.is_empty());
    assert_eq!(
        messages,
        [
            "h.yaml:6:16: project \"b\" of source \"apps\" has id 7, which project \"a\" already has (h.yaml:5:16) (hint: each project needs its own id: the DSN names a project by its id alone)"
        ]
    );
}

#[test]
fn ids_are_unique_across_sources() {
    let text = format!(
        "sources:\n  apps: {{type: sentry_sdk, projects: {{a: {{id: 7, public_key: {KEY}}}}}}}\n  more: {{type: sentry_sdk, projects: {{b: {{id: 8, public_key: {KEY}}}, c: {{id: 7, public_key: {KEY}}}}}}}\n"
    );
    let (loaded, messages) = load(&text, &[]);
    assert!(messages.is_empty(), "{messages:?}");
    let errors: Vec<String> = unique_project_ids(&loaded)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errors,
        [
            "h.yaml:3:105: project \"c\" of source \"more\" has id 7, which project \"a\" of source \"apps\" already has (h.yaml:2:47) (hint: each project needs its own id across all sources: the DSN names a project by its id alone)"
        ]
    );
    assert!(unique_project_ids(&loaded[..1]).is_empty());
}

#[test]
fn keys_stay_out_of_debug_output() {
    let text =
        "sources:\n  apps: {type: sentry_sdk, projects: {a: {id: 1, public_key: \"${K}\"}}}\n";
    let (loaded, _) = load(text, &[("K", KEY)]);
    let shown = format!("{loaded:?}");
    assert!(!shown.contains(KEY), "{shown}");
    assert!(shown.contains("***"), "{shown}");
}

#[test]
fn keys_written_in_the_file_are_listed_as_public() {
    let text = format!(
        "sources:\n  apps: {{type: sentry_sdk, projects: {{a: {{id: 1, public_key: {KEY}}}, b: {{id: 2, public_key: \"${{K}}\"}}, c: {{id: 3, public_key: \"${{C:-{KEY}}}\"}}}}}}\n"
    );
    let env = Env::from_pairs([("K", KEY)]);
    let (config, _) = Config::parse(&text, "h.yaml", &env).unwrap();
    let spec = &config.sources[0];
    let diag = Diagnostics::new("h.yaml");
    let shown: Vec<String> = SdkSourceConfig::public_credentials(&spec.name, &spec.node, &diag)
        .iter()
        .map(|c| format!("{} {} {}", c.location, c.key, c.written))
        .collect();
    assert_eq!(
        shown,
        [
            format!("h.yaml:2:62 sources.apps.projects.a.public_key {KEY}"),
            format!("h.yaml:2:152 sources.apps.projects.c.public_key ${{C:-{KEY}}}"),
        ]
    );
}

fn project(id: u64, key: &str) -> Project {
    Project {
        slug: "shop".into(),
        id,
        public_key: Secret::new(key),
        rate_limit_per_minute: None,
        id_at: Location::file("h.yaml"),
    }
}

#[test]
fn the_dsn_puts_the_key_and_id_into_the_base_url() {
    let p = project(42, KEY);
    let cases = [
        (
            "https://herald.example.com",
            format!("https://{KEY}@herald.example.com/42"),
        ),
        (
            "http://127.0.0.1:8080/",
            format!("http://{KEY}@127.0.0.1:8080/42"),
        ),
        (
            "https://example.com/herald/",
            format!("https://{KEY}@example.com/herald/42"),
        ),
    ];
    for (base, expected) in cases {
        assert_eq!(p.dsn(base).as_deref(), Ok(expected.as_str()), "{base}");
    }
}

#[test]
fn the_dsn_refuses_a_base_it_cannot_use() {
    let p = project(42, KEY);
    assert_eq!(
        p.dsn("herald:8080").unwrap_err(),
        DsnError::Scheme("herald:8080".into())
    );
    assert_eq!(
        p.dsn("not a url").unwrap_err(),
        DsnError::NotAUrl("not a url".into())
    );
    assert_eq!(
        p.dsn("ftp://h/").unwrap_err(),
        DsnError::Scheme("ftp://h/".into())
    );
    assert_eq!(
        p.dsn("https://u:p@h/").unwrap_err(),
        DsnError::Extra("https://u:p@h/".into())
    );
    assert_eq!(
        p.dsn("https://h/?x=1").unwrap_err(),
        DsnError::Extra("https://h/?x=1".into())
    );
}
