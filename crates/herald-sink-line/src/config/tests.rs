//! Unit tests for the LINE settings: located errors with hints, the LINE Notify warning, and
//! that no token reaches an error or `Debug` output.

use expect_test::{Expect, expect};

use crate::tests::build;

fn check(yaml: &str, expect: Expect) {
    let (sink, messages) = build(yaml);
    let mut out = messages.join("\n");
    if sink.is_some() {
        out.insert_str(0, "built\n");
    }
    expect.assert_eq(out.trim_end());
}

#[test]
fn misspelt_key_is_located_with_the_right_key_as_hint() {
    check(
        "sinks:\n  s:\n    type: line\n    channel_access_token: ${LINE_TOKEN}\n    too: U1\n",
        expect![[
            r#"herald.yaml:5:5: unknown key "too" (hint: did you mean "to"? (valid keys: channel_access_token, to, allowed, fallback, api_base, timeout_seconds, notification_disabled, template))"#
        ]],
    );
}

#[test]
fn missing_keys_and_bad_values_are_located() {
    check(
        "sinks:\n  s:\n    type: line\n    to: U1\n",
        expect![[r##"herald.yaml:3:5: missing key "channel_access_token""##]],
    );
    check(
        "sinks:\n  s:\n    type: line\n    channel_access_token: ${LINE_TOKEN}\n    to: \" \"\n    api_base: api.line.me\n    timeout_seconds: 0\n",
        expect![[r##"
            herald.yaml:5:9: "to" is empty (hint: give a user, group or room id such as C0123456789abcdef0123456789abcdef)
            herald.yaml:6:15: "api_base" is not an http(s) URL: "api.line.me" (hint: the default is https://api.line.me)
            herald.yaml:7:22: timeout_seconds must be at least 1, found "0" (hint: 10 is the default)"##]],
    );
}

#[test]
fn templates_are_compiled_at_load() {
    check(
        "sinks:\n  s:\n    type: line\n    channel_access_token: ${LINE_TOKEN}\n    to: \"{{ tags.grup }\"\n    template:\n      text: \"{{ titel }}\"\n",
        expect![[r#"
            herald.yaml:5:9: bad template "to": unexpected `}`, expected end of variable block (template line 1) (hint: templates use minijinja (Jinja2) syntax, e.g. "{{ title }}")
            herald.yaml:5:9: "to" is a template ("{{ tags.grup }"), so alert data chooses it, but the sink has no "allowed" list (hint: anyone who can send an event could pick any destination the sink reaches; list the values it may take and where the rest go: allowed: ["C0123456789abcdef0123456789abcdef", "C89abcdef0123456789abcdef01234567"] and fallback: "Cfedcba9876543210fedcba9876543210")
            herald.yaml:7:13: template "text" uses unknown variable "titel" (hint: did you mean "title"? (variables: alert, alerts, count, folded, route, sink, source, resource, action, project, level, environment, release, title, culprit, issue_id, short_id, url, timestamp, tags, rule, event_id, raw))"#]],
    );
}

#[test]
fn line_notify_at_the_public_url_builds_with_a_warning() {
    check(
        "sinks:\n  s:\n    type: line_notify\n    token: ${LINE_TOKEN}\n",
        expect![[r##"
            built
            herald.yaml:3:5: warning: the public LINE Notify service ended on 2025-03-31, so "https://notify-api.line.me" no longer accepts messages; type "line_notify" is only for self-hosted Notify-compatible services (hint: set "api_base" to your own service, or use type "line" (Messaging API))"##]],
    );
    check(
        "sinks:\n  s:\n    type: line_notify\n    token: ${LINE_TOKEN}\n    api_base: https://notify-api.line.me/\n",
        expect![[r##"
            built
            herald.yaml:5:15: warning: the public LINE Notify service ended on 2025-03-31, so "https://notify-api.line.me" no longer accepts messages; type "line_notify" is only for self-hosted Notify-compatible services (hint: set "api_base" to your own service, or use type "line" (Messaging API))"##]],
    );
}

#[test]
fn line_notify_at_a_self_hosted_url_builds_quietly() {
    check(
        "sinks:\n  s:\n    type: line_notify\n    token: ${LINE_TOKEN}\n    api_base: https://notify.internal.example\n",
        expect!["built"],
    );
}

#[test]
fn debug_output_shows_no_token() {
    for yaml in [
        "sinks:\n  s:\n    type: line\n    channel_access_token: ${LINE_TOKEN}\n    to: U1\n",
        "sinks:\n  s:\n    type: line_notify\n    token: ${LINE_TOKEN}\n    api_base: http://n.example\n",
    ] {
        let shown = format!("{:?}", build(yaml).0.unwrap());
        assert!(!shown.contains("sekrit"), "{shown}");
        assert!(shown.contains("***"), "{shown}");
    }
    let config: crate::LineConfig = serde_json::from_value(serde_json::json!({
        "channel_access_token": "line-sekrit", "to": "U1"
    }))
    .unwrap();
    let shown = format!("{config:?}");
    assert!(!shown.contains("sekrit"), "{shown}");
}

#[test]
fn a_templated_to_needs_allowed_and_a_fixed_one_does_not() {
    check(
        "sinks:\n  s:\n    type: line\n    channel_access_token: ${LINE_TOKEN}\n    to: \"{{ tags.line_group }}\"\n",
        expect![[
            r#"herald.yaml:5:9: "to" is a template ("{{ tags.line_group }}"), so alert data chooses it, but the sink has no "allowed" list (hint: anyone who can send an event could pick any destination the sink reaches; list the values it may take and where the rest go: allowed: ["C0123456789abcdef0123456789abcdef", "C89abcdef0123456789abcdef01234567"] and fallback: "Cfedcba9876543210fedcba9876543210")"#
        ]],
    );
    check(
        "sinks:\n  s:\n    type: line\n    channel_access_token: ${LINE_TOKEN}\n    to: \"{{ tags.line_group }}\"\n    allowed: [\"~C[0-9a-f]{32}\"]\n    fallback: \"{{ tags.other }}\"\n",
        expect![[
            r#"herald.yaml:7:15: "fallback" must be a fixed value, found "{{ tags.other }}" (hint: it is where alerts go when alert data chose a "to" that is not allowed, so alert data cannot choose it too)"#
        ]],
    );
    check(
        "sinks:\n  s:\n    type: line\n    channel_access_token: ${LINE_TOKEN}\n    to: C0123456789abcdef0123456789abcdef\n",
        expect!["built"],
    );
}
