//! Unit tests for the Slack message: the block layout (snapshots), escaping of hostile alert
//! text, and the cuts that keep a message within Slack's limits.

use std::sync::Arc;

use expect_test::{Expect, expect};
use herald_core::{Alert, Level, Notification, Tags};

use super::*;

fn alert(title: &str) -> Alert {
    Alert {
        source: "sentry".into(),
        resource: "event_alert".into(),
        action: "triggered".into(),
        project: Some("backend".into()),
        level: Some(Level::Error),
        environment: Some("production".into()),
        release: Some("1.4.2".into()),
        title: title.into(),
        culprit: Some("app.views.checkout".into()),
        short_id: Some("BACKEND-7".into()),
        url: Some("https://sentry.example/issues/7/?a=1&b=2".into()),
        tags: Tags(vec![
            ("level".into(), "error".into()),
            ("team".into(), "payments".into()),
            ("browser".into(), "Firefox 120".into()),
        ]),
        ..Alert::default()
    }
}

fn one(a: Alert) -> Notification {
    Notification::single(Arc::new(a), "prod", "slack-alerts", "key-1")
}

fn digest(n: usize, folded: u64) -> Notification {
    let mut note = one(alert("first"));
    note.alerts = (0..n)
        .map(|i| {
            let mut a = alert(&format!("TypeError number {i}"));
            if i % 2 == 1 {
                a.level = Some(Level::Fatal);
                a.environment = Some("staging".into());
            }
            Arc::new(a)
        })
        .collect();
    note.folded = folded;
    note
}

fn check(n: &Notification, channel: Option<&str>, expect: Expect) {
    let body = render(n, &Overrides::default(), channel);
    expect.assert_eq(&serde_json::to_string_pretty(&body).unwrap());
}

fn blocks(body: &Value) -> &Vec<Value> {
    body["blocks"].as_array().unwrap()
}

#[test]
fn one_alert_is_a_header_fields_and_a_link() {
    check(
        &one(alert("TypeError: x is undefined")),
        Some("#alerts"),
        expect![[r##"
            {
              "channel": "#alerts",
              "text": "[error] TypeError: x is undefined (backend)",
              "blocks": [
                {
                  "type": "header",
                  "text": {
                    "type": "plain_text",
                    "text": "TypeError: x is undefined",
                    "emoji": true
                  }
                },
                {
                  "type": "section",
                  "text": {
                    "type": "mrkdwn",
                    "text": "*Level:* error   *Project:* backend   *Environment:* production\n*Release:* 1.4.2\n*Culprit:* app.views.checkout\n*Tags:* team=payments, browser=Firefox 120"
                  }
                },
                {
                  "type": "context",
                  "elements": [
                    {
                      "type": "mrkdwn",
                      "text": "<https://sentry.example/issues/7/?a=1&amp;b=2|Open BACKEND-7 in Sentry>"
                    }
                  ]
                }
              ],
              "unfurl_links": false,
              "unfurl_media": false
            }"##]],
    );
}

#[test]
fn webhook_body_has_no_channel_and_folded_alerts_are_counted() {
    let mut n = one(alert("boom"));
    n.folded = 4;
    let body = render(&n, &Overrides::default(), None);
    assert!(body.get("channel").is_none());
    let last = blocks(&body).last().unwrap();
    assert_eq!(last["elements"][0]["text"], "and 4 more like this");
}

#[test]
fn hostile_title_pings_no_one_and_injects_nothing() {
    let title = "<!channel> <script>alert(1)</script> @everyone";
    let body = render(&one(alert(title)), &Overrides::default(), None);
    let shown = |v: &Value| v.as_str().unwrap().replace('\u{200B}', "<ZWSP>");
    expect![
        "[error] &lt;!channel&gt; &lt;script&gt;alert(1)&lt;/script&gt; @<ZWSP>everyone (backend)"
    ]
    .assert_eq(&shown(&body["text"]));
    // plain_text draws no markup, so only the mention needs defusing there.
    expect!["<!channel> <script>alert(1)</script> @<ZWSP>everyone"]
        .assert_eq(&shown(&body["blocks"][0]["text"]["text"]));
    for text in mrkdwn_texts(&body) {
        assert!(!text.contains("<!"), "{text}");
        assert!(!text.contains("<script"), "{text}");
        assert!(!text.contains("@everyone"), "{text}");
    }
}

fn mrkdwn_texts(body: &Value) -> Vec<String> {
    let mut out = vec![body["text"].as_str().unwrap().to_owned()];
    for b in blocks(body) {
        if b["text"]["type"] == "mrkdwn" {
            out.push(b["text"]["text"].as_str().unwrap().to_owned());
        }
        for e in b["elements"].as_array().into_iter().flatten() {
            out.push(e["text"].as_str().unwrap().to_owned());
        }
    }
    out
}

#[test]
fn escaper_covers_entities_mentions_and_control_characters() {
    let check = |input: &str, expect: Expect| {
        expect.assert_eq(&escape_mrkdwn(input).replace('\u{200B}', "<ZWSP>"))
    };
    check("a & b < c > d", expect!["a &amp; b &lt; c &gt; d"]);
    check(
        "<@U123> <#C1|x>",
        expect!["&lt;@<ZWSP>U123&gt; &lt;#C1|x&gt;"],
    );
    check(
        "@here @channel @everyone",
        expect!["@<ZWSP>here @<ZWSP>channel @<ZWSP>everyone"],
    );
    check("mail me @ noon", expect!["mail me @ noon"]);
    check("bell\u{7}\ttab\nline", expect!["bell tab\nline"]);
    check("&amp;", expect!["&amp;amp;"]);
}

#[test]
fn a_value_after_a_templates_own_angle_bracket_cannot_become_a_command() {
    // An operator's template such as `<{{ url }}|open>` writes the `<` itself; a value that
    // starts with `!` or `#` must not turn it into `<!channel|open>` or a channel link.
    let linked = |value: &str| format!("<{}|open>", escape_mrkdwn(value));
    for value in ["!channel", "!here", "!subteam^S123", "#C0123"] {
        let text = linked(value);
        assert!(
            !text.starts_with("<!") && !text.starts_with("<#"),
            "{value:?} became {text:?}"
        );
        assert_eq!(text.replace('\u{200B}', ""), format!("<{value}|open>"));
    }
    // Elsewhere in a value `!` and `#` are plain text and stay as they are.
    assert_eq!(escape_mrkdwn("deploy #42 failed!"), "deploy #42 failed!");
}

#[test]
fn escaper_drops_bidi_and_zero_width_characters_before_defusing_mentions() {
    let shown = |s: String| s.replace('\u{200B}', "<ZWSP>");
    // An override that makes a name read backwards, isolates and marks: all gone.
    assert_eq!(
        escape_mrkdwn("invoice\u{202E}fdp.exe \u{2066}x\u{2069} a\u{200E}b\u{200F}c\u{061C}"),
        "invoicefdp.exe x abc"
    );
    // Zero-width characters hidden in a word are gone, and the only zero-width space left is
    // the escaper's own, right after the `@`.
    expect!["@<ZWSP>everyone pay ments @<ZWSP>here"].assert_eq(&shown(escape_mrkdwn(
        "@\u{200B}every\u{200C}one pay\u{2060} ments @\u{FEFF}h\u{200D}ere",
    )));
    expect!["<!channel> @<ZWSP>channel"].assert_eq(&shown(escape_plain(
        "<!chan\u{200B}nel\u{202E}> @\u{2060}channel",
    )));
    // An emoji sequence keeps its joiner.
    assert_eq!(escape_plain("👩\u{200D}💻 on call"), "👩\u{200D}💻 on call");
}

#[test]
fn a_link_is_made_only_for_http_urls() {
    let mut a = alert("x");
    a.url = Some("javascript:alert(1)".into());
    let body = render(&one(a.clone()), &Overrides::default(), None);
    assert_eq!(blocks(&body).len(), 2, "no link block for a non-http url");
    a.url = Some("https://s.example/a|<!channel>".into());
    let body = render(&one(a), &Overrides::default(), None);
    expect!["<https://s.example/a%7C%3C!channel%3E|Open BACKEND-7 in Sentry>"]
        .assert_eq(body["blocks"][2]["elements"][0]["text"].as_str().unwrap());
    a = alert("x");
    a.url = Some("https://s.example/\u{202E}gpj.exe\u{200B}".into());
    let body = render(&one(a), &Overrides::default(), None);
    expect!["<https://s.example/%E2%80%AEgpj.exe%E2%80%8B|Open BACKEND-7 in Sentry>"]
        .assert_eq(body["blocks"][2]["elements"][0]["text"].as_str().unwrap());
}

#[test]
fn header_is_cut_to_150_characters_with_an_ellipsis() {
    let title = "é".repeat(400);
    let body = render(&one(alert(&title)), &Overrides::default(), None);
    let header = body["blocks"][0]["text"]["text"].as_str().unwrap();
    assert_eq!(header.chars().count(), MAX_HEADER_CHARS);
    assert!(header.ends_with("é…"), "{header}");
}

#[test]
fn header_flattens_newlines_and_is_never_empty() {
    let body = render(&one(alert("one\ntwo")), &Overrides::default(), None);
    assert_eq!(body["blocks"][0]["text"]["text"], "one two");
    let body = render(&one(alert("  ")), &Overrides::default(), None);
    assert_eq!(body["blocks"][0]["text"]["text"], "Alert");
}

#[test]
fn section_is_cut_to_3000_characters_without_splitting_an_entity() {
    let overrides = Overrides {
        title: None,
        text: Some(format!("{}{}", "x".repeat(2990), "&amp;&amp;&amp;")),
    };
    let body = render(&one(alert("t")), &overrides, None);
    let text = body["blocks"][1]["text"]["text"].as_str().unwrap();
    assert!(text.chars().count() <= MAX_SECTION_CHARS);
    assert_eq!(&text[2985..], "xxxxx&amp;…");
}

#[test]
fn cuts_respect_character_boundaries_and_links() {
    assert_eq!(truncate_chars("🙂🙂🙂🙂", 3), "🙂🙂…");
    assert_eq!(truncate_chars("short", 5), "short");
    assert_eq!(
        truncate_mrkdwn("ab <https://x.example|label> cd", 10),
        "ab …"
    );
    assert_eq!(truncate_mrkdwn("ab &lt; cd", 6), "ab …");
}

#[test]
fn long_culprit_and_many_tags_are_bounded() {
    let mut a = alert("t");
    a.culprit = Some("c".repeat(5000));
    a.tags = Tags(
        (0..20)
            .map(|i| (format!("k{i}"), format!("v{i}")))
            .collect(),
    );
    let body = render(&one(a), &Overrides::default(), None);
    let text = body["blocks"][1]["text"]["text"].as_str().unwrap();
    assert!(text.chars().count() <= MAX_SECTION_CHARS);
    expect!["*Tags:* k0=v0, k1=v1, k2=v2, k3=v3, k4=v4"].assert_eq(text.lines().last().unwrap());
}

#[test]
fn digest_has_a_summary_and_one_line_per_alert() {
    check(
        &digest(3, 2),
        None,
        expect![[r##"
            {
              "text": "3 alerts: TypeError number 0; TypeError number 1; TypeError number 2",
              "blocks": [
                {
                  "type": "header",
                  "text": {
                    "type": "plain_text",
                    "text": "3 alerts in backend",
                    "emoji": true
                  }
                },
                {
                  "type": "section",
                  "text": {
                    "type": "mrkdwn",
                    "text": "*3 alerts*   *Levels:* 1 fatal, 2 error   *Projects:* backend   *Environments:* production, staging"
                  }
                },
                {
                  "type": "section",
                  "text": {
                    "type": "mrkdwn",
                    "text": "*[error]* <https://sentry.example/issues/7/?a=1&amp;b=2|TypeError number 0> · backend · production · app.views.checkout"
                  }
                },
                {
                  "type": "section",
                  "text": {
                    "type": "mrkdwn",
                    "text": "*[fatal]* <https://sentry.example/issues/7/?a=1&amp;b=2|TypeError number 1> · backend · staging · app.views.checkout"
                  }
                },
                {
                  "type": "section",
                  "text": {
                    "type": "mrkdwn",
                    "text": "*[error]* <https://sentry.example/issues/7/?a=1&amp;b=2|TypeError number 2> · backend · production · app.views.checkout"
                  }
                },
                {
                  "type": "context",
                  "elements": [
                    {
                      "type": "mrkdwn",
                      "text": "and 2 more like this"
                    }
                  ]
                }
              ],
              "unfurl_links": false,
              "unfurl_media": false
            }"##]],
    );
}

#[test]
fn digest_stays_within_50_blocks_and_counts_the_rest() {
    let body = render(&digest(120, 5), &Overrides::default(), None);
    let blocks = blocks(&body);
    assert_eq!(blocks.len(), MAX_BLOCKS);
    // header + summary + 47 alert lines + the closing line: 73 listed nowhere, plus 5 folded.
    assert_eq!(
        blocks.last().unwrap()["elements"][0]["text"],
        "and 78 more like this"
    );
    assert!(body["text"].as_str().unwrap().chars().count() <= MAX_SECTION_CHARS);
}

#[test]
fn digest_that_fits_exactly_has_no_closing_line() {
    let body = render(&digest(47, 0), &Overrides::default(), None);
    let blocks = blocks(&body);
    assert_eq!(blocks.len(), 49);
    assert_eq!(blocks.last().unwrap()["type"], "section");
}

#[test]
fn digest_of_long_alerts_stays_under_the_total_text_budget() {
    let mut n = digest(47, 0);
    for a in &mut n.alerts {
        let mut long = (**a).clone();
        long.title = "t".repeat(1000);
        long.culprit = Some("c".repeat(1000));
        *a = Arc::new(long);
    }
    let body = render(&n, &Overrides::default(), None);
    let total: usize = blocks(&body)
        .iter()
        .map(|b| b["text"]["text"].as_str().unwrap_or("").chars().count())
        .sum();
    assert!(total <= MAX_TOTAL_CHARS, "{total}");
    let lines = blocks(&body).len() - 3;
    assert!(lines > 10, "{lines}");
    assert_eq!(
        blocks(&body).last().unwrap()["elements"][0]["text"],
        format!("and {} more like this", 47 - lines)
    );
}
