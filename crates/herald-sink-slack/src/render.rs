//! The Slack message for a notification, as the JSON body to post: Block Kit blocks plus the
//! `text` Slack shows in notifications and in clients that cannot draw blocks.
//!
//! Alert text is untrusted (anyone who can make an app log an error writes the title), so
//! every value goes through [`escape_mrkdwn`] or [`escape_plain`]: no `<!channel>`, no
//! `@everyone`, no injected links, no bidirectional or zero-width characters. Slack's limits (50 blocks, 150-character headers,
//! 3000-character sections) are met by cutting cleanly with an ellipsis, never inside a
//! character, an entity or a link.

use herald_core::template::fields;
use herald_core::{Alert, Notification};
use serde_json::{Value, json};

/// Most blocks one message may have.
pub const MAX_BLOCKS: usize = 50;
/// Longest header text (plain_text).
pub const MAX_HEADER_CHARS: usize = 150;
/// Longest section (and context) text.
pub const MAX_SECTION_CHARS: usize = 3000;
/// Block text budget for a whole digest. Slack has refused messages (`msg_blocks_too_long`)
/// at about 13,200 characters of block text, far below the documented limits, so digests stay
/// under this and count what did not fit.
pub const MAX_TOTAL_CHARS: usize = 12_000;

/// Keeps a digest line (and a tag) short enough that one alert cannot crowd out the others.
const MAX_LINE_TITLE_CHARS: usize = 200;
const MAX_VALUE_CHARS: usize = 300;
const ZERO_WIDTH_SPACE: char = '\u{200B}';

/// Text rendered from the sink's templates, already escaped; `None` keeps the built-in part.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub title: Option<String>,
    pub text: Option<String>,
}

/// The body to POST: `{"channel"?, "text", "blocks", ...}`. `channel` is set in bot-token
/// mode and left out for an incoming webhook, which would refuse it.
pub fn render(n: &Notification, overrides: &Overrides, channel: Option<&str>) -> Value {
    let (text, blocks) = if n.is_digest() {
        digest(n, overrides)
    } else {
        single(n.first(), n.folded, overrides)
    };
    let mut body = serde_json::Map::new();
    if let Some(channel) = channel {
        body.insert("channel".into(), json!(channel));
    }
    body.insert("text".into(), json!(text));
    body.insert("blocks".into(), Value::Array(blocks));
    // A link preview of the Sentry page adds nothing and may leak the page title.
    body.insert("unfurl_links".into(), json!(false));
    body.insert("unfurl_media".into(), json!(false));
    Value::Object(body)
}

fn single(alert: &Alert, folded: u64, overrides: &Overrides) -> (String, Vec<Value>) {
    let title = overrides
        .title
        .clone()
        .unwrap_or_else(|| escape_plain(&alert.title));
    let body = overrides.text.clone().unwrap_or_else(|| fields_text(alert));
    let mut blocks = vec![header(&title), section(&body)];
    if let Some(link) = issue_link(alert) {
        blocks.push(context(&link));
    }
    if folded > 0 {
        blocks.push(context(&more_like_this(folded)));
    }
    let text = match &overrides.text {
        Some(t) => t.clone(),
        None => {
            let mut t = String::new();
            if let Some(level) = alert.level {
                t.push_str(&format!("[{level}] "));
            }
            t.push_str(&escape_mrkdwn(&alert.title));
            if let Some(p) = &alert.project {
                t.push_str(&format!(" ({})", escape_mrkdwn(p)));
            }
            t
        }
    };
    (truncate_mrkdwn(&text, MAX_SECTION_CHARS), blocks)
}

fn digest(n: &Notification, overrides: &Overrides) -> (String, Vec<Value>) {
    let alerts = &n.alerts;
    let projects = distinct(alerts.iter().filter_map(|a| a.project.as_deref()));
    let title = overrides.title.clone().unwrap_or_else(|| {
        let mut t = format!("{} alerts", alerts.len());
        if let [only] = projects.as_slice() {
            t.push_str(&format!(" in {}", escape_plain(only)));
        }
        t
    });
    let summary = overrides.text.clone().unwrap_or_else(|| summary(alerts));
    let mut blocks = vec![header(&title), section(&summary)];
    // One block stays free for the "and N more" line, whether it turns out needed or not.
    let room = MAX_BLOCKS - blocks.len() - 1;
    let mut used = title.chars().count() + summary.chars().count();
    let mut shown = 0;
    for alert in alerts.iter().take(room) {
        let line = digest_line(alert);
        let len = line.chars().count();
        if used + len > MAX_TOTAL_CHARS {
            break;
        }
        used += len;
        blocks.push(section(&line));
        shown += 1;
    }
    let more = n.folded + (alerts.len() - shown) as u64;
    if more > 0 {
        blocks.push(context(&more_like_this(more)));
    }
    let text = match &overrides.text {
        Some(t) => t.clone(),
        None => {
            let titles: Vec<String> = alerts.iter().map(|a| escape_mrkdwn(&a.title)).collect();
            format!("{} alerts: {}", alerts.len(), titles.join("; "))
        }
    };
    (truncate_mrkdwn(&text, MAX_SECTION_CHARS), blocks)
}

/// Level, project, environment, release, culprit and a few tags, one field per line.
fn fields_text(alert: &Alert) -> String {
    // Level, project and environment share the first line; the rest get one each.
    let mut first = Vec::new();
    if let Some(level) = alert.level {
        first.push(format!("*Level:* {level}"));
    }
    let mut lines = Vec::new();
    for (label, v) in fields::details(alert) {
        let field = format!("*{label}:* {}", value(v));
        match label {
            "Project" | "Environment" => first.push(field),
            _ => lines.push(field),
        }
    }
    if !first.is_empty() {
        lines.insert(0, first.join("   "));
    }
    if let Some(tags) = fields::tag_list(alert, value) {
        lines.push(format!("*Tags:* {tags}"));
    }
    if lines.is_empty() {
        // Slack refuses an empty section.
        lines.push(escape_mrkdwn(&alert.title));
    }
    lines.join("\n")
}

fn summary(alerts: &[std::sync::Arc<Alert>]) -> String {
    let mut parts = vec![format!("*{} alerts*", alerts.len())];
    let mut levels: Vec<(herald_core::Level, usize)> = Vec::new();
    for level in alerts.iter().filter_map(|a| a.level) {
        match levels.iter_mut().find(|(l, _)| *l == level) {
            Some(slot) => slot.1 += 1,
            None => levels.push((level, 1)),
        }
    }
    levels.sort_by_key(|(level, _)| std::cmp::Reverse(*level));
    if !levels.is_empty() {
        let shown: Vec<String> = levels.iter().map(|(l, c)| format!("{c} {l}")).collect();
        parts.push(format!("*Levels:* {}", shown.join(", ")));
    }
    for (label, names) in [
        (
            "Projects",
            distinct(alerts.iter().filter_map(|a| a.project.as_deref())),
        ),
        (
            "Environments",
            distinct(alerts.iter().filter_map(|a| a.environment.as_deref())),
        ),
    ] {
        if !names.is_empty() {
            let shown: Vec<String> = names.iter().take(10).map(|s| value(s)).collect();
            parts.push(format!("*{label}:* {}", shown.join(", ")));
        }
    }
    parts.join("   ")
}

/// `*[error]* <url|title> · project · environment · culprit`
fn digest_line(alert: &Alert) -> String {
    let title = escape_mrkdwn(&truncate_chars(&alert.title, MAX_LINE_TITLE_CHARS));
    let title = match alert.url.as_deref().and_then(link_target) {
        Some(url) => format!("<{url}|{title}>"),
        None => title,
    };
    let mut parts = vec![match alert.level {
        Some(level) => format!("*[{level}]* {title}"),
        None => title,
    }];
    for v in [&alert.project, &alert.environment, &alert.culprit]
        .into_iter()
        .flatten()
    {
        parts.push(value(v));
    }
    parts.join(" · ")
}

fn issue_link(alert: &Alert) -> Option<String> {
    let url = link_target(alert.url.as_deref()?)?;
    let label = match &alert.short_id {
        Some(id) => format!("Open {} in Sentry", escape_mrkdwn(id)),
        None => "Open in Sentry".to_owned(),
    };
    Some(format!("<{url}|{label}>"))
}

/// A URL fit to stand inside `<...|...>`: only http(s), so an alert cannot smuggle in
/// `<!channel>` or another special link, and with the characters that would end the link
/// escaped or percent-encoded.
fn link_target(url: &str) -> Option<String> {
    let lower = url.trim_start().to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return None;
    }
    let mut out = String::with_capacity(url.len());
    for c in url.trim().chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("%3C"),
            '>' => out.push_str("%3E"),
            '|' => out.push_str("%7C"),
            c if c.is_whitespace()
                || c.is_control()
                || herald_core::text::is_bidi_control(c)
                || herald_core::text::is_zero_width(c) =>
            {
                let mut buf = [0; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
            c => out.push(c),
        }
    }
    Some(out)
}

fn header(text: &str) -> Value {
    let flat: String = text
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect();
    let flat = flat.trim();
    let flat = if flat.is_empty() { "Alert" } else { flat };
    json!({
        "type": "header",
        "text": {"type": "plain_text", "text": truncate_chars(flat, MAX_HEADER_CHARS), "emoji": true},
    })
}

fn section(text: &str) -> Value {
    let text = if text.trim().is_empty() { " " } else { text };
    json!({
        "type": "section",
        "text": {"type": "mrkdwn", "text": truncate_mrkdwn(text, MAX_SECTION_CHARS)},
    })
}

fn context(text: &str) -> Value {
    json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": truncate_mrkdwn(text, MAX_SECTION_CHARS)}],
    })
}

fn more_like_this(n: u64) -> String {
    format!("and {n} more like this")
}

/// An untrusted value for a field line, escaped and cut short.
fn value(s: &str) -> String {
    escape_mrkdwn(&truncate_chars(s, MAX_VALUE_CHARS))
}

fn distinct<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// Escapes untrusted text for Slack mrkdwn: `&`, `<` and `>` become entities (the three
/// characters Slack's formatting docs say to escape, which also disarms `<!channel>`,
/// `<@U123>` and `<url|label>`), word mentions such as `@everyone` get a zero-width space
/// after the `@`, a value that starts with `!` or `#` gets one in front (so that a template's
/// own `<` before it cannot make a command or channel link of it), and control characters other
/// than newline are dropped, as are bidirectional controls and zero-width characters
/// ([`herald_core::text::strip_invisible`]).
pub fn escape_mrkdwn(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let neutral = neutralize_mentions(s);
    // An operator's template may put a value right after its own `<`, as in
    // `<{{ url }}|open>`: a value starting with `!` or `#` would then read as `<!channel|...>`
    // or `<#C123|...>`, a command or a channel link. A leading zero-width space keeps it text.
    if neutral.starts_with(['!', '#']) {
        out.push(ZERO_WIDTH_SPACE);
    }
    for c in neutral.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Untrusted text for a plain_text object (the header): Slack draws no markup there, but
/// mentions are still neutralised and control, bidirectional and zero-width characters dropped.
pub fn escape_plain(s: &str) -> String {
    neutralize_mentions(s)
}

fn neutralize_mentions(s: &str) -> String {
    // Invisible characters go first, so that the zero-width spaces below are the only ones
    // left and none of the alert's own can sit between `@` and a word.
    let s = herald_core::text::strip_invisible(s);
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => out.push('\n'),
            '\t' => out.push(' '),
            c if c.is_control() => {}
            '@' => {
                out.push('@');
                if chars.peek().is_some_and(|n| !n.is_whitespace()) {
                    out.push(ZERO_WIDTH_SPACE);
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// At most `max` characters; a longer text is cut at a character boundary and ends in `…`.
pub fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Like [`truncate_chars`] for mrkdwn: the cut never leaves half an entity (`&am`) or half
/// a link (`<https://...`), which Slack would show as garbage or refuse.
pub fn truncate_mrkdwn(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut cut: String = s.chars().take(max.saturating_sub(1)).collect();
    if let Some(open) = cut.rfind('<')
        && !cut[open..].contains('>')
    {
        cut.truncate(open);
    }
    if let Some(amp) = cut.rfind('&')
        && !cut[amp..].contains(';')
    {
        cut.truncate(amp);
    }
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests;
