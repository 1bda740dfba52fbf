//! Unit tests for allowed destinations: the config checks with their located messages, and
//! where a rendered value goes (allowed exactly or by regex, the fallback, or refused).

use expect_test::{Expect, expect};

use super::*;
use crate::config::{Config, Diagnostics, Env};

const EXAMPLE: &str =
    r##"allowed: ["#alerts-payments", "~#alerts-mobile-.*"], fallback: "#alerts-triage""##;

/// Checks the `channel` settings of the first sink in `yaml`; returns the rule (when it
/// passed) and every message as `herald check` prints it.
fn load(yaml: &str) -> (Option<AllowedDestinations>, String) {
    let (config, _) = Config::parse(yaml, "herald.yaml", &Env::from_pairs([("X", "x")])).unwrap();
    let node = &config.sinks[0].node;
    let strings = |key: &str| -> Option<Vec<String>> {
        node.get(key)?
            .as_seq()
            .map(|s| s.iter().filter_map(Node::scalar_text).collect())
    };
    let allowed = strings("allowed");
    let mut diag = Diagnostics::new("herald.yaml");
    let rule = AllowedDestinations::check(
        DestinationSettings {
            key: "channel",
            noun: "channel",
            value: node.get("channel").and_then(Node::as_str).unwrap_or(""),
            allowed: allowed.as_deref(),
            fallback: node.get("fallback").and_then(Node::as_str),
            example: EXAMPLE,
        },
        node,
        &mut diag,
    );
    let messages: Vec<String> = match diag.into_result(()) {
        Ok((_, warnings)) => warnings.iter().map(ToString::to_string).collect(),
        Err(e) => e
            .errors
            .iter()
            .chain(&e.warnings)
            .map(ToString::to_string)
            .collect(),
    };
    (rule, messages.join("\n"))
}

fn check(yaml: &str, expect: Expect) {
    let (rule, messages) = load(yaml);
    let verdict = if rule.is_some() { "ok" } else { "refused" };
    expect.assert_eq(format!("{verdict}\n{messages}").trim_end());
}

fn sink(lines: &str) -> String {
    format!("sinks:\n  s:\n    type: slack\n{lines}")
}

#[test]
fn a_template_without_allowed_is_a_located_error_with_the_fix() {
    check(
        &sink("    channel: \"#alerts-{{ tags.team }}\"\n"),
        expect![[r##"
            refused
            herald.yaml:4:14: "channel" is a template ("#alerts-{{ tags.team }}"), so alert data chooses it, but the sink has no "allowed" list (hint: anyone who can send an event could pick any destination the sink reaches; list the values it may take and where the rest go: allowed: ["#alerts-payments", "~#alerts-mobile-.*"], fallback: "#alerts-triage")"##]],
    );
    check(
        &sink("    channel: \"{% if level == 'fatal' %}#page{% else %}#alerts{% endif %}\"\n"),
        expect![[r##"
            refused
            herald.yaml:4:14: "channel" is a template ("{% if level == 'fatal' %}#page{% else %}#alerts{% endif %}"), so alert data chooses it, but the sink has no "allowed" list (hint: anyone who can send an event could pick any destination the sink reaches; list the values it may take and where the rest go: allowed: ["#alerts-payments", "~#alerts-mobile-.*"], fallback: "#alerts-triage")"##]],
    );
}

#[test]
fn a_fixed_value_needs_nothing_and_warns_about_useless_settings() {
    check(&sink("    channel: \"#alerts\"\n"), expect!["ok"]);
    check(
        &sink("    channel: \"#alerts\"\n    allowed: [\"#alerts\"]\n    fallback: \"#triage\"\n"),
        expect![[r##"
            ok
            herald.yaml:5:14: warning: "allowed" has no effect: "channel" is the fixed value "#alerts" (hint: "allowed" and "fallback" only apply when "channel" is a template that alert data fills in; remove "allowed")
            herald.yaml:6:15: warning: "fallback" has no effect: "channel" is the fixed value "#alerts" (hint: "allowed" and "fallback" only apply when "channel" is a template that alert data fills in; remove "fallback")"##]],
    );
}

#[test]
fn items_that_allow_anything_and_bad_regexes_are_located() {
    check(
        &sink(
            "    channel: \"#a-{{ tags.team }}\"\n    allowed:\n      - \"#a-ok\"\n      - \"*\"\n      - \"!#a-ceo\"\n      - \"~#a-(\"\n",
        ),
        expect![[r##"
            refused
            herald.yaml:7:9: "allowed" takes exact values and ~regexes, found "*" (hint: "*" and "!..." would let alert data pick almost any destination; write the values, e.g. allowed: ["#alerts-payments", "~#alerts-mobile-.*"], fallback: "#alerts-triage")
            herald.yaml:8:9: "allowed" takes exact values and ~regexes, found "!#a-ceo" (hint: "*" and "!..." would let alert data pick almost any destination; write the values, e.g. allowed: ["#alerts-payments", "~#alerts-mobile-.*"], fallback: "#alerts-triage")
            herald.yaml:9:9: bad regex "#a-(": unclosed group (hint: regexes use Rust's regex syntax and must match the whole value)"##]],
    );
}

#[test]
fn an_empty_list_and_a_bad_fallback_are_errors() {
    check(
        &sink("    channel: \"#a-{{ tags.team }}\"\n    allowed: []\n"),
        expect![[r##"
            refused
            herald.yaml:5:14: "allowed" is empty, so no value of "channel" is ever allowed (hint: list the values "channel" may take, e.g. allowed: ["#alerts-payments", "~#alerts-mobile-.*"], fallback: "#alerts-triage", or make "channel" a fixed value)"##]],
    );
    check(
        &sink(
            "    channel: \"#a-{{ tags.team }}\"\n    allowed: [\"#a-ok\"]\n    fallback: \"#a-{{ project }}\"\n",
        ),
        expect![[r##"
            refused
            herald.yaml:6:15: "fallback" must be a fixed value, found "#a-{{ project }}" (hint: it is where alerts go when alert data chose a "channel" that is not allowed, so alert data cannot choose it too)"##]],
    );
    check(
        &sink(
            "    channel: \"#a-{{ tags.team }}\"\n    allowed: [\"#a-ok\"]\n    fallback: \" \"\n",
        ),
        expect![[r##"
            refused
            herald.yaml:6:15: "fallback" is empty (hint: for example allowed: ["#alerts-payments", "~#alerts-mobile-.*"], fallback: "#alerts-triage")"##]],
    );
}

fn rule(extra: &str) -> AllowedDestinations {
    let yaml = sink(&format!(
        "    channel: \"#alerts-{{{{ tags.team }}}}\"\n    allowed: [\"#alerts-payments\", \"~#alerts-mobile-.*\"]\n{extra}"
    ));
    let (rule, messages) = load(&yaml);
    rule.unwrap_or_else(|| panic!("{messages}"))
}

#[test]
fn allowed_values_are_exact_or_anchored_regexes_compared_after_trimming() {
    let r = rule("    fallback: \"#alerts-triage\"\n");
    assert!(r.is_templated());
    let chosen = |v: &str| r.choose(v).unwrap();
    assert_eq!(
        chosen("#alerts-payments"),
        Chosen::Rendered("#alerts-payments".into())
    );
    assert_eq!(
        chosen("  #alerts-payments\n"),
        Chosen::Rendered("#alerts-payments".into())
    );
    assert_eq!(
        chosen("#alerts-mobile-ios"),
        Chosen::Rendered("#alerts-mobile-ios".into())
    );
    // Exact means exact, and the regex must match the whole value.
    for hostile in [
        "#alerts-payments-x",
        "#alerts-PAYMENTS",
        "#general #alerts-mobile-ios",
        "#alerts-mobile-ios\n#general",
        "#alerts-pay\u{200B}ments",
        "",
    ] {
        assert_eq!(
            r.choose(hostile).unwrap(),
            Chosen::Fallback {
                to: "#alerts-triage".into(),
                refused: hostile.trim().into()
            },
            "{hostile:?}"
        );
    }
    assert_eq!(r.choose("#ceo").unwrap().destination(), "#alerts-triage");
}

#[test]
fn without_a_fallback_the_reason_quotes_the_shortened_value_and_says_how_to_allow_it() {
    let r = rule("");
    expect![[r##"alert data chose the channel "#ceo\u{202e}\n#general", which is not in "allowed" and the sink has no "fallback"; add it to "allowed" if it is a real destination, or set "fallback""##]]
        .assert_eq(&r.choose("#ceo\u{202E}\n#general ").unwrap_err());
    let long = format!("#{}", "x".repeat(500));
    let reason = r.choose(&long).unwrap_err();
    assert!(
        reason.contains(&format!("\"#{}…\"", "x".repeat(59))),
        "{reason}"
    );
    assert!(reason.len() < 300, "{reason}");
}

#[test]
fn a_fixed_value_is_sent_as_it_renders() {
    let (r, _) = load(&sink("    channel: C0123\n"));
    let r = r.unwrap();
    assert!(!r.is_templated());
    assert_eq!(
        r.choose(" C0123 ").unwrap(),
        Chosen::Rendered("C0123".into())
    );
}

#[test]
fn shown_escapes_and_shortens() {
    assert_eq!(shown("a\u{202E}b\nc"), r#""a\u{202e}b\nc""#);
    assert_eq!(shown(&"y".repeat(61)), format!("\"{}…\"", "y".repeat(60)));
}
