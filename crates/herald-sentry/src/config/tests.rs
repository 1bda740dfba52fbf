//! Tests for [`SourceConfig`]: the documented example, empty secrets, numbers as text, and
//! refusal of unknown keys.

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
