//! Tests for [`SourceConfig`]: the documented example, empty secrets, numbers as text,
//! refusal of unknown keys, and the load-time rules on credentials (none, `insecure: true`,
//! values written in the file).

use super::*;

fn parse(json: &str) -> Result<SourceConfig, String> {
    serde_json::from_str(json).map_err(|e| e.to_string())
}

#[test]
fn documented_example_is_accepted() {
    let config = parse(
        r#"{"type":"sentry","client_secret":"s3cret","legacy_token":"tok","max_skew_seconds":300}"#,
    )
    .unwrap();
    assert_eq!(config.kind.as_deref(), Some("sentry"));
    assert_eq!(config.client_secret, Some(Secret::new("s3cret")));
    assert_eq!(config.legacy_token, Some(Secret::new("tok")));
    assert_eq!(config.max_skew(), Some(Duration::from_secs(300)));
}

#[test]
fn empty_secrets_mean_unset() {
    let config = parse(r#"{"type":"sentry","client_secret":"","legacy_token":""}"#).unwrap();
    assert_eq!(config.client_secret, None);
    assert_eq!(config.legacy_token, None);
    assert_eq!(config.max_skew(), None);
}

#[test]
fn everything_is_optional() {
    assert_eq!(parse("{}").unwrap(), SourceConfig::default());
}

#[test]
fn skew_may_come_as_text_from_the_environment() {
    let config = parse(r#"{"max_skew_seconds":"120"}"#).unwrap();
    assert_eq!(config.max_skew_seconds, Some(120));
    let err = parse(r#"{"max_skew_seconds":"soon"}"#).unwrap_err();
    assert!(err.contains("\"soon\" is not a whole number"), "{err}");
}

#[test]
fn unknown_keys_are_refused() {
    let err = parse(r#"{"type":"sentry","client_secrett":"x"}"#).unwrap_err();
    assert!(err.contains("unknown field `client_secrett`"), "{err}");
}

#[test]
fn debug_output_hides_secrets() {
    let config = parse(r#"{"client_secret":"s3cret","legacy_token":"l3gacy"}"#).unwrap();
    let shown = format!("{config:?}");
    assert!(
        !shown.contains("s3cret") && !shown.contains("l3gacy"),
        "{shown}"
    );
}

/// What [`SourceConfig::load`] says about `sources.s` in `text`: the config or the errors, and
/// the warnings, as `herald check` prints them.
fn load(text: &str, env: &[(&str, &str)]) -> (Option<SourceConfig>, Vec<String>) {
    use herald_core::config::{Config, Env};
    let env = Env::from_pairs(env.iter().copied());
    let (config, _) = Config::parse(text, "h.yaml", &env)
        .unwrap_or_else(|e| panic!("core config: {:?}", e.errors));
    let spec = &config.sources[0];
    let mut diag = Diagnostics::new("h.yaml");
    let loaded = SourceConfig::load(&spec.name, &spec.node, &mut diag);
    let messages = match diag.into_result(()) {
        Ok(((), warnings)) => warnings,
        Err(e) => e.errors.into_iter().chain(e.warnings).collect(),
    };
    (loaded, messages.iter().map(ToString::to_string).collect())
}

#[test]
fn a_source_without_any_credential_is_an_error() {
    for text in [
        "sources:\n  s: {type: sentry}\n",
        "sources:\n  s: {type: sentry, client_secret: \"${CS:-}\", legacy_token: \"\"}\n",
    ] {
        let (loaded, got) = load(text, &[]);
        assert_eq!(loaded, None);
        assert_eq!(
            got,
            vec![
                "h.yaml:2:6: source \"s\" has no credential: client_secret and legacy_token are both unset or empty, so it would accept alerts from anyone (hint: set client_secret: ${SENTRY_CLIENT_SECRET} (integration platform) and/or legacy_token: ${SENTRY_LEGACY_TOKEN} (legacy plugin); for a local trial without them, add insecure: true)"
            ],
            "{text}"
        );
    }
}

#[test]
fn an_explicit_empty_default_switches_one_credential_off() {
    let text =
        "sources:\n  s: {type: sentry, client_secret: \"${CS}\", legacy_token: \"${LT:-}\"}\n";
    let (loaded, got) = load(text, &[("CS", "from-env")]);
    let loaded = loaded.unwrap();
    assert_eq!(loaded.client_secret, Some(Secret::new("from-env")));
    assert_eq!(loaded.legacy_token, None);
    assert!(got.is_empty(), "{got:?}");
}

#[test]
fn insecure_true_without_credentials_is_accepted_with_a_warning() {
    let (loaded, got) = load("sources:\n  s: {type: sentry, insecure: true}\n", &[]);
    assert!(loaded.unwrap().insecure);
    assert_eq!(
        got,
        vec![
            "h.yaml:2:31: warning: source \"s\" is insecure: both of its endpoints accept requests from anyone who can reach herald (hint: set client_secret and/or legacy_token and remove insecure: true)"
        ]
    );
}

#[test]
fn insecure_true_next_to_a_credential_is_a_contradiction() {
    let text = "sources:\n  s: {type: sentry, legacy_token: \"${LT}\", insecure: true}\n";
    let (loaded, got) = load(text, &[("LT", "t0ken")]);
    assert_eq!(loaded, None);
    assert_eq!(
        got,
        vec![
            "h.yaml:2:54: source \"s\" says insecure: true but sets legacy_token (hint: remove insecure: true to authenticate requests, or remove the credential to accept anyone's)"
        ]
    );
}

#[test]
fn credentials_written_in_the_file_are_listed_as_public() {
    use herald_core::config::{Config, Env};
    let text = "sources:\n  s: {type: sentry, client_secret: \"${CS:-change-me}\", legacy_token: \"${LT}\"}\n";
    let env = Env::from_pairs([("LT", "private")]);
    let (config, _) = Config::parse(text, "h.yaml", &env).unwrap();
    let spec = &config.sources[0];
    let diag = Diagnostics::new("h.yaml");
    let public = SourceConfig::public_credentials(&spec.name, &spec.node, &diag);
    let shown: Vec<String> = public
        .iter()
        .map(|c| format!("{} {} {}", c.location, c.key, c.written))
        .collect();
    assert_eq!(
        shown,
        vec!["h.yaml:2:36 sources.s.client_secret ${CS:-change-me}"]
    );
}
