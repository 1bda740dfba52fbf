//! Fuzzes every sink's render step with hostile alert data: arbitrary text in every field and
//! tag, single alerts and digests, through the same `Sink::preview` that `herald route
//! --render` uses (templates with each sink's escaper, then the sink's own render function).
//! The sinks are built once from a config with default and custom templates. Besides "never
//! panics", it checks what the escaping promises: no Slack broadcast or link markup from alert
//! text, Slack's block limits, one-line email subjects that add no header, LINE's length limits
//! and webhook bodies that are always JSON.

#![no_main]

use std::sync::{Arc, OnceLock};

use arbitrary::Arbitrary;
use herald_core::config::{Config, Diagnostics, Env};
use herald_core::{Alert, Level, Notification, Sink, SinkRegistry, Tags};
use libfuzzer_sys::fuzz_target;

const CONFIG: &str = r##"
sinks:
  slack-default: { type: slack, webhook_url: "https://hooks.slack.com/services/T0/B0/x" }
  slack-templated:
    type: slack
    token: xoxb-not-a-real-token
    channel: "#alerts-{{ tags.team | default('general') }}"
    template:
      title: "{{ level }} {{ project }}: {{ title }}"
      text: "*{{ title }}*\n{{ culprit }}\n{% for k, v in tags | items %}{{ k }}={{ v }} {% endfor %}{{ url }}"
  line-default: { type: line, channel_access_token: not-a-real-token, to: C0123 }
  line-templated:
    type: line
    channel_access_token: not-a-real-token
    to: C0123
    template: { text: "{{ title }} {{ culprit }} {{ tags }} {{ raw }}" }
  notify-default: { type: line_notify, token: not-a-real-token }
  mail-default: { type: email, host: smtp.example.com, from: herald@example.com, to: [oncall@example.com] }
  mail-templated:
    type: email
    host: smtp.example.com
    from: herald@example.com
    to: [oncall@example.com]
    subject: "{{ title }} {{ culprit }} {{ tags.team }}"
    html: "<p title=\"{{ title }}\">{{ culprit }}</p><a href=\"{{ url }}\">{{ project }}</a>"
  hook-default: { type: webhook, url: "https://hooks.example.com/herald" }
  hook-templated:
    type: webhook
    url: "https://hooks.example.com/herald"
    body: '{"title": "{{ title }}", "tags": "{{ tags }}", "culprit": "{{ culprit }}", "n": {{ count }}, "raw": "{{ raw }}"}'
  log: { type: log }
"##;

fn sinks() -> &'static [(String, Arc<dyn Sink>)] {
    static SINKS: OnceLock<Vec<(String, Arc<dyn Sink>)>> = OnceLock::new();
    SINKS.get_or_init(|| {
        let (config, _) = Config::parse(CONFIG, "fuzz.yaml", &Env::from_pairs::<_, &str, &str>([]))
            .unwrap_or_else(|e| panic!("the fuzz config is wrong: {e:?}"));
        let mut registry = SinkRegistry::new();
        registry
            .register(herald_sink_log::LogSinkFactory)
            .register(herald_sink_slack::SlackFactory)
            .register(herald_sink_line::LineFactory)
            .register(herald_sink_line::LineNotifyFactory)
            .register(herald_sink_email::EmailFactory)
            .register(herald_sink_webhook::WebhookFactory);
        let mut diag = Diagnostics::new("fuzz.yaml");
        let built = registry.build_all(&config.sinks, &mut diag);
        if let Err(e) = diag.into_result(()) {
            panic!("the fuzz sinks do not build: {e:?}");
        }
        assert_eq!(built.len(), config.sinks.len());
        built.into_iter().collect()
    })
}

#[derive(Arbitrary, Debug)]
struct HostileAlert {
    resource: String,
    action: String,
    project: Option<String>,
    level: Option<u8>,
    environment: Option<String>,
    release: Option<String>,
    title: String,
    culprit: Option<String>,
    issue_id: Option<String>,
    short_id: Option<String>,
    url: Option<String>,
    timestamp: Option<i32>,
    tags: Vec<(String, String)>,
    rule: Option<String>,
    event_id: Option<String>,
    raw: Option<String>,
}

#[derive(Arbitrary, Debug)]
struct Input {
    first: HostileAlert,
    more: Vec<HostileAlert>,
    folded: u16,
    route: String,
}

impl HostileAlert {
    fn into_alert(self) -> Alert {
        Alert {
            source: "sentry".into(),
            resource: self.resource,
            action: self.action,
            project: self.project,
            level: self
                .level
                .map(|l| Level::ALL[usize::from(l) % Level::ALL.len()]),
            environment: self.environment,
            release: self.release,
            title: self.title,
            culprit: self.culprit,
            issue_id: self.issue_id,
            short_id: self.short_id,
            url: self.url,
            timestamp: self
                .timestamp
                .and_then(|t| jiff::Timestamp::from_second(i64::from(t)).ok()),
            tags: Tags(self.tags),
            rule: self.rule,
            event_id: self.event_id,
            raw: self.raw.map_or(
                serde_json::Value::Null,
                |r| serde_json::json!({ "extra": r }),
            ),
        }
    }
}

fuzz_target!(|input: Input| {
    let mut alerts = vec![Arc::new(input.first.into_alert())];
    alerts.extend(
        input
            .more
            .into_iter()
            .take(4)
            .map(|a| Arc::new(a.into_alert())),
    );
    for (name, sink) in sinks() {
        let notification = Notification {
            alerts: alerts.clone(),
            route: input.route.clone(),
            sink: name.clone(),
            idempotency_key: "0192f0c4-7d3a-7c3e-9f1a-3b5c7d9e1f20".into(),
            attempt: 1,
            folded: u64::from(input.folded),
            thread: None,
        };
        let preview = sink.preview(&notification);
        match sink.kind() {
            "slack" => {
                // The bot's channel template may render empty text, which is a refusal.
                let Ok(body) = preview else { continue };
                check_slack(&body);
            }
            "line" | "line_notify" => {
                let text = preview.unwrap_or_else(|e| panic!("{name}: {e}"));
                if sink.kind() == "line" {
                    let body: serde_json::Value = serde_json::from_str(&text).expect("LINE JSON");
                    for message in body["messages"].as_array().expect("messages") {
                        let t = message["text"].as_str().expect("text");
                        let units = t.encode_utf16().count();
                        assert!(
                            units <= herald_sink_line::MAX_TEXT_UTF16,
                            "{units} UTF-16 units"
                        );
                    }
                }
            }
            "email" => check_email(&preview.unwrap_or_else(|e| panic!("{name}: {e}"))),
            "webhook" => {
                let body = preview.unwrap_or_else(|e| panic!("{name}: {e}"));
                serde_json::from_str::<serde_json::Value>(&body).expect("a webhook body is JSON");
            }
            _ => {
                let _ = preview;
            }
        }
    }
});

/// No `<!channel>`, `<!here>` or `<@U123>` where Slack reads markup (everything but
/// `plain_text` objects, which it shows as written), no bare `@everyone` anywhere, and Slack's
/// limits.
fn check_slack(text: &str) {
    for word in ["@everyone", "@here", "@channel"] {
        assert!(!text.contains(word), "a bare {word}: {text}");
    }
    let body: serde_json::Value = serde_json::from_str(text).expect("Slack JSON");
    no_markup_mentions(&body, text);
    let blocks = body["blocks"].as_array().expect("blocks");
    assert!(
        blocks.len() <= herald_sink_slack::MAX_BLOCKS,
        "{} blocks",
        blocks.len()
    );
    for block in blocks {
        if block["type"] == "header" {
            let text = block["text"]["text"].as_str().expect("header text");
            assert!(text.chars().count() <= herald_sink_slack::MAX_HEADER_CHARS);
        }
        if let Some(text) = block["text"]["text"].as_str() {
            assert!(text.chars().count() <= herald_sink_slack::MAX_SECTION_CHARS);
        }
    }
}

/// The header block holds only herald's own headers: alert text cannot add one.
fn check_email(message: &str) {
    let head = message.split("\r\n\r\n").next().expect("a header block");
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            continue; // a folded header's continuation
        }
        let name = line.split(':').next().unwrap_or_default();
        assert!(
            [
                "From",
                "To",
                "Subject",
                "Date",
                "MIME-Version",
                "Content-Type",
                "Message-ID"
            ]
            .contains(&name),
            "unexpected header {name:?} in {head}"
        );
        assert!(!line.contains('\r') && !line.contains('\n'));
    }
}

fn no_markup_mentions(value: &serde_json::Value, whole: &str) {
    match value {
        serde_json::Value::String(s) => {
            assert!(
                !s.contains("<!") && !s.contains("<@"),
                "a mention in {s:?}: {whole}"
            );
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| no_markup_mentions(v, whole)),
        serde_json::Value::Object(map) if map.get("type").is_some_and(|t| t == "plain_text") => {}
        serde_json::Value::Object(map) => map.values().for_each(|v| no_markup_mentions(v, whole)),
        _ => {}
    }
}
