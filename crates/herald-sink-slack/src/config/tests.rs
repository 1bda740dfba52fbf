//! Unit tests for the Slack settings: located errors with hints, the webhook/token rules, and
//! that no secret reaches an error or `Debug` output.

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
        "sinks:\n  s:\n    type: slack\n    webhok_url: https://hooks.slack.com/services/T/B/x\n",
        expect![[
            r#"herald.yaml:4:5: unknown key "webhok_url" (hint: did you mean "webhook_url"? (valid keys: webhook_url, token, channel, allowed, fallback, api_base, timeout_seconds, template, threads, reply_broadcast))"#
        ]],
    );
}

#[test]
fn misspelt_template_key_is_located_too() {
    check(
        "sinks:\n  s:\n    type: slack\n    webhook_url: https://h.example/x\n    template:\n      txt: hi\n",
        expect![[
            r##"herald.yaml:6:7: unknown key "txt" (hint: did you mean "text"? (valid keys: text, title))"##
        ]],
    );
}

#[test]
fn webhook_and_token_are_exclusive_and_one_is_needed() {
    check(
        "sinks:\n  s:\n    type: slack\n",
        expect![[
            r##"herald.yaml:3:5: a slack sink needs "webhook_url" (incoming webhook) or "token" (bot token with "channel") (hint: for example `webhook_url: ${SLACK_WEBHOOK_URL}`)"##
        ]],
    );
    check(
        "sinks:\n  s:\n    type: slack\n    webhook_url: https://h.example/x\n    token: ${SLACK_TOKEN}\n    channel: C1\n",
        expect![[
            r##"herald.yaml:5:12: a slack sink takes either "webhook_url" or "token", not both (hint: remove one of them)"##
        ]],
    );
}

#[test]
fn an_empty_variable_counts_as_unset() {
    check(
        "sinks:\n  s:\n    type: slack\n    webhook_url: ${UNSET_URL:-}\n    token: ${SLACK_TOKEN}\n    channel: C1\n",
        expect!["built"],
    );
}

#[test]
fn token_needs_a_channel_and_webhook_refuses_one() {
    check(
        "sinks:\n  s:\n    type: slack\n    token: ${SLACK_TOKEN}\n",
        expect![[
            r##"herald.yaml:4:12: a slack sink with "token" needs "channel" (hint: for example `channel: "#alerts"` or a channel id like C0123456789)"##
        ]],
    );
    check(
        "sinks:\n  s:\n    type: slack\n    webhook_url: https://h.example/x\n    channel: C1\n",
        expect![[
            r##"herald.yaml:5:14: "channel" cannot be used with "webhook_url" (hint: an incoming webhook always posts to the channel chosen when it was created; use "token" to pick channels)"##
        ]],
    );
}

#[test]
fn bad_webhook_url_is_reported_without_its_value() {
    check(
        "sinks:\n  s:\n    type: slack\n    webhook_url: not-a-url-sekrit\n",
        expect![[
            r##"herald.yaml:4:18: "webhook_url" is not an http(s) URL (hint: it looks like https://hooks.slack.com/services/T.../B.../...)"##
        ]],
    );
}

#[test]
fn bad_numbers_and_api_base_are_located() {
    check(
        "sinks:\n  s:\n    type: slack\n    token: ${SLACK_TOKEN}\n    channel: C1\n    api_base: slack.com\n    timeout_seconds: 0\n",
        expect![[r##"
            herald.yaml:6:15: "api_base" is not an http(s) URL: "slack.com" (hint: the default is https://slack.com/api)
            herald.yaml:7:22: timeout_seconds must be at least 1, found "0" (hint: 10 is the default)"##]],
    );
}

#[test]
fn templates_are_compiled_at_load_and_errors_located() {
    check(
        "sinks:\n  s:\n    type: slack\n    token: ${SLACK_TOKEN}\n    channel: \"#a-{{ tags.team }\"\n    template:\n      text: \"{{ titel }}\"\n",
        expect![[r##"
            herald.yaml:5:14: bad template "channel": unexpected `}`, expected end of variable block (template line 1) (hint: templates use minijinja (Jinja2) syntax, e.g. "{{ title }}")
            herald.yaml:5:14: "channel" is a template ("#a-{{ tags.team }"), so alert data chooses it, but the sink has no "allowed" list (hint: anyone who can send an event could pick any destination the sink reaches; list the values it may take and where the rest go: allowed: ["#alerts-payments", "~#alerts-mobile-.*"] and fallback: "#alerts-triage")
            herald.yaml:7:13: template "text" uses unknown variable "titel" (hint: did you mean "title"? (variables: alert, alerts, count, folded, route, sink, source, resource, action, project, level, environment, release, title, culprit, issue_id, short_id, url, timestamp, tags, rule, event_id, raw))"##]],
    );
}

#[test]
fn debug_output_shows_no_secret() {
    let (sink, _) =
        build("sinks:\n  s:\n    type: slack\n    token: ${SLACK_TOKEN}\n    channel: C1\n");
    let shown = format!("{:?}", sink.unwrap());
    assert!(!shown.contains("sekrit"), "{shown}");
    assert!(shown.contains("***"), "{shown}");
    let (sink, _) = build(
        "sinks:\n  s:\n    type: slack\n    webhook_url: https://hooks.example/services/T/B/sekrit\n",
    );
    let shown = format!("{:?}", sink.unwrap());
    assert!(!shown.contains("sekrit"), "{shown}");
    let config: crate::SlackConfig = serde_json::from_value(serde_json::json!({
        "token": "xoxb-sekrit", "channel": "C1"
    }))
    .unwrap();
    let shown = format!("{config:?}");
    assert!(!shown.contains("sekrit"), "{shown}");
}

#[test]
fn a_templated_channel_needs_allowed_and_a_fixed_one_does_not() {
    check(
        "sinks:\n  s:\n    type: slack\n    token: ${SLACK_TOKEN}\n    channel: \"#alerts-{{ tags.team }}\"\n",
        expect![[
            r##"herald.yaml:5:14: "channel" is a template ("#alerts-{{ tags.team }}"), so alert data chooses it, but the sink has no "allowed" list (hint: anyone who can send an event could pick any destination the sink reaches; list the values it may take and where the rest go: allowed: ["#alerts-payments", "~#alerts-mobile-.*"] and fallback: "#alerts-triage")"##
        ]],
    );
    check(
        "sinks:\n  s:\n    type: slack\n    token: ${SLACK_TOKEN}\n    channel: \"#alerts-{{ tags.team }}\"\n    allowed: [\"#alerts-payments\", \"~#alerts-mobile-.*\"]\n    fallback: \"#alerts-triage\"\n",
        expect!["built"],
    );
    check(
        "sinks:\n  s:\n    type: slack\n    token: ${SLACK_TOKEN}\n    channel: \"#alerts\"\n",
        expect!["built"],
    );
}

#[test]
fn allowed_items_and_fallback_are_checked_at_their_lines() {
    check(
        "sinks:\n  s:\n    type: slack\n    token: ${SLACK_TOKEN}\n    channel: \"#alerts-{{ tags.team }}\"\n    allowed:\n      - \"!#alerts-ceo\"\n      - \"~#alerts-(\"\n    fallback: \"#alerts-{{ project }}\"\n",
        expect![[r##"
            herald.yaml:7:9: "allowed" takes exact values and ~regexes, found "!#alerts-ceo" (hint: "*" and "!..." would let alert data pick almost any destination; write the values, e.g. allowed: ["#alerts-payments", "~#alerts-mobile-.*"] and fallback: "#alerts-triage")
            herald.yaml:8:9: bad regex "#alerts-(": unclosed group (hint: regexes use Rust's regex syntax and must match the whole value)
            herald.yaml:9:15: "fallback" must be a fixed value, found "#alerts-{{ project }}" (hint: it is where alerts go when alert data chose a "channel" that is not allowed, so alert data cannot choose it too)"##]],
    );
}

#[test]
fn webhook_refuses_allowed_and_fallback_too() {
    check(
        "sinks:\n  s:\n    type: slack\n    webhook_url: https://h.example/x\n    allowed: [\"#a\"]\n    fallback: \"#b\"\n",
        expect![[r#"
            herald.yaml:5:14: "allowed" cannot be used with "webhook_url" (hint: an incoming webhook always posts to the channel chosen when it was created; use "token" to pick channels)
            herald.yaml:6:15: "fallback" cannot be used with "webhook_url" (hint: an incoming webhook always posts to the channel chosen when it was created; use "token" to pick channels)"#]],
    );
}
