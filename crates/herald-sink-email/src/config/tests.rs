//! Tests for the email settings: each problem is a located error with a hint, and the port
//! follows the TLS mode.

use std::sync::Arc;

use herald_core::Sink;
use herald_core::config::Env;

use crate::EmailFactory;

const BASE: &str = "sinks:\n  mail:\n    type: email\n    host: smtp.example.com\n    \
                    from: alerts@example.com\n";

/// Builds the one sink of `BASE` plus `extra`, or returns the error lines.
fn build(extra: &str) -> Result<Arc<dyn Sink>, Vec<String>> {
    let yaml = format!("{BASE}{extra}");
    let env = Env::from_pairs([("SMTP_PASSWORD", "hunter2-secret")]);
    herald_core::testing::build_sink(EmailFactory, &yaml, &env).into_result()
}

fn check_error(extra: &str, expected: &str) {
    let errors = build(extra).unwrap_err();
    assert!(
        errors.iter().any(|e| e.contains(expected)),
        "expected {expected:?} in {errors:#?}"
    );
}

#[test]
fn a_minimal_section_builds_with_the_starttls_port() {
    let sink = build("    to: [oncall@example.com]\n").unwrap();
    assert_eq!(sink.kind(), "email");
    assert!(
        format!("{sink:?}").contains("smtp.example.com:587"),
        "{sink:?}"
    );
}

#[test]
fn the_default_port_follows_the_tls_mode() {
    let implicit = build("    to: [a@example.com]\n    tls: implicit\n").unwrap();
    assert!(format!("{implicit:?}").contains(":465"), "{implicit:?}");
    let plain = build("    to: [a@example.com]\n    tls: none\n").unwrap();
    assert!(format!("{plain:?}").contains(":25"), "{plain:?}");
    let given = build("    to: [a@example.com]\n    port: \"2525\"\n").unwrap();
    assert!(format!("{given:?}").contains(":2525"), "{given:?}");
}

#[test]
fn unknown_key_is_located_with_the_closest_key() {
    check_error(
        "    to: [a@example.com]\n    subjct: x\n",
        "herald.yaml:7:5: unknown key \"subjct\"",
    );
    check_error(
        "    to: [a@example.com]\n    subjct: x\n",
        "did you mean \"subject\"",
    );
}

#[test]
fn a_bad_recipient_is_located_at_its_entry() {
    check_error(
        "    to:\n      - oncall@example.com\n      - not an address\n",
        "herald.yaml:8:9: \"to\" address \"not an address\" is not valid",
    );
}

#[test]
fn a_bad_sender_is_located() {
    let errors = build_with_from("alerts at example").unwrap_err();
    assert!(
        errors[0]
            .starts_with("herald.yaml:5:11: \"from\" address \"alerts at example\" is not valid"),
        "{errors:?}"
    );
}

fn build_with_from(from: &str) -> Result<Arc<dyn Sink>, Vec<String>> {
    let yaml = format!(
        "sinks:\n  mail:\n    type: email\n    host: smtp.example.com\n    from: {from}\n    to: [a@example.com]\n"
    );
    let env = Env::from_pairs::<_, String, String>([]);
    herald_core::testing::build_sink(EmailFactory, &yaml, &env).into_result()
}

#[test]
fn no_recipient_is_an_error() {
    check_error("    to: []\n", "\"to\" lists no recipient");
    check_error("", "missing key \"to\"");
}

#[test]
fn login_needs_both_halves_and_the_password_stays_hidden() {
    check_error(
        "    to: [a@example.com]\n    username: herald\n",
        "\"username\" is set but \"password\" is not",
    );
    let sink =
        build("    to: [a@example.com]\n    username: herald\n    password: ${SMTP_PASSWORD}\n")
            .unwrap();
    assert!(!format!("{sink:?}").contains("hunter2"), "{sink:?}");
}

#[test]
fn port_and_timeout_ranges_are_checked() {
    check_error(
        "    to: [a@example.com]\n    port: 70000\n",
        "port \"70000\" is out of range",
    );
    check_error(
        "    to: [a@example.com]\n    timeout_seconds: 0\n",
        "timeout_seconds \"0\" would fail every delivery",
    );
}

#[test]
fn a_bad_tls_mode_is_refused() {
    check_error(
        "    to: [a@example.com]\n    tls: ssl\n",
        "bad value for \"tls\"",
    );
}

#[test]
fn a_template_with_an_unknown_variable_is_located() {
    check_error(
        "    to: [a@example.com]\n    subject: \"{{ titel }}\"\n",
        "herald.yaml:7:14: template \"subject\" uses unknown variable \"titel\"",
    );
}
