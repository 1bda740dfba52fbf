//! Tests for the webhook settings: each problem is a located error with a hint, and a good
//! section builds a sink.

use herald_core::Sink;
use herald_core::config::Env;
use std::sync::Arc;

use crate::WebhookFactory;

/// Builds the one sink of `yaml` (a `sinks:` document), or returns the error lines.
fn build(yaml: &str) -> Result<Arc<dyn Sink>, Vec<String>> {
    let env = Env::from_pairs([("TOKEN", "s3cr3t-token")]);
    herald_core::testing::build_sink(WebhookFactory, yaml, &env).into_result()
}

fn check_error(yaml: &str, expected: &str) {
    let errors = build(yaml).unwrap_err();
    assert!(
        errors.iter().any(|e| e.contains(expected)),
        "expected {expected:?} in {errors:#?}"
    );
}

#[test]
fn a_minimal_section_builds() {
    let sink =
        build("sinks:\n  hook:\n    type: webhook\n    url: https://example.com/h\n").unwrap();
    assert_eq!(sink.kind(), "webhook");
}

#[test]
fn unknown_key_is_located_with_the_closest_key() {
    check_error(
        "sinks:\n  hook:\n    type: webhook\n    url: https://example.com/h\n    timeout_second: 3\n",
        "herald.yaml:5:5: unknown key \"timeout_second\"",
    );
    check_error(
        "sinks:\n  hook:\n    type: webhook\n    url: https://example.com/h\n    timeout_second: 3\n",
        "did you mean \"timeout_seconds\"",
    );
}

#[test]
fn url_is_required() {
    check_error(
        "sinks:\n  hook:\n    type: webhook\n",
        "missing key \"url\"",
    );
}

#[test]
fn a_url_that_does_not_parse_is_located() {
    check_error(
        "sinks:\n  hook:\n    type: webhook\n    url: not a url\n",
        "herald.yaml:4:10: webhook url \"not a url\" is not a valid URL",
    );
}

#[test]
fn a_non_http_url_is_refused() {
    check_error(
        "sinks:\n  hook:\n    type: webhook\n    url: ftp://example.com/x\n",
        "herald.yaml:4:10: webhook url \"ftp://example.com/x\" has scheme \"ftp\"",
    );
}

#[test]
fn a_url_from_the_environment_is_shown_as_written() {
    let errors = build("sinks:\n  hook:\n    type: webhook\n    url: ${TOKEN}\n").unwrap_err();
    assert!(errors[0].contains("webhook url \"${TOKEN}\""), "{errors:?}");
    assert!(!errors[0].contains("s3cr3t-token"), "{errors:?}");
}

#[test]
fn bad_header_name_value_and_reserved_names_are_located() {
    let base = "sinks:\n  hook:\n    type: webhook\n    url: https://example.com/h\n    headers:\n";
    check_error(
        &format!("{base}      \"Bad Name\": x\n"),
        "herald.yaml:6:7: header name \"Bad Name\" is not a valid HTTP header name",
    );
    check_error(
        &format!("{base}      Idempotency-Key: x\n"),
        "header \"Idempotency-Key\" is set by herald and cannot be configured",
    );
    check_error(
        &format!("{base}      X-Token: \"a\\nb\"\n"),
        "the value of header \"X-Token\" is not a valid HTTP header value",
    );
}

#[test]
fn a_header_value_never_reaches_debug_output() {
    let sink = build(
        "sinks:\n  hook:\n    type: webhook\n    url: https://example.com/h?key=abc\n    \
         headers:\n      Authorization: ${TOKEN}\n    secret: ${TOKEN}\n",
    )
    .unwrap();
    let shown = format!("{sink:?}");
    assert!(!shown.contains("s3cr3t-token"), "{shown}");
    assert!(!shown.contains("key=abc"), "{shown}");
    assert!(shown.contains("authorization"), "{shown}");
}

#[test]
fn zero_timeout_is_refused_and_text_numbers_are_accepted() {
    check_error(
        "sinks:\n  hook:\n    type: webhook\n    url: https://example.com/h\n    timeout_seconds: 0\n",
        "timeout_seconds \"0\" would fail every delivery",
    );
    build("sinks:\n  hook:\n    type: webhook\n    url: https://example.com/h\n    timeout_seconds: \"3\"\n")
        .unwrap();
}

#[test]
fn a_body_template_that_is_not_json_is_located() {
    check_error(
        "sinks:\n  hook:\n    type: webhook\n    url: https://example.com/h\n    body: '{\"title\": {{ title }}}'\n",
        "herald.yaml:5:11: the body template did not produce valid JSON",
    );
}

#[test]
fn a_body_template_with_an_unknown_variable_is_located() {
    check_error(
        "sinks:\n  hook:\n    type: webhook\n    url: https://example.com/h\n    body: '{\"t\": \"{{ titel }}\"}'\n",
        "template \"body\" uses unknown variable \"titel\"",
    );
}
