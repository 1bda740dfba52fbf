//! The plain-text message both LINE sinks send: title, level, project, environment, culprit
//! and link for one alert; a summary and one entry per alert for a digest.
//!
//! LINE draws text as it is (no markup, no mentions), so the only cleaning needed is to drop
//! control characters, bidirectional controls and zero-width characters, which could garble
//! or disguise the text.
//! Limits are counted the way each service counts: the Messaging API in UTF-16 code units
//! (an emoji counts two), LINE Notify in characters. Cuts happen at a character boundary and
//! end in `…`.

use herald_core::template::fields;
use herald_core::{Alert, Notification};

/// Longest Messaging API text message, in UTF-16 code units.
pub const MAX_TEXT_UTF16: usize = 5000;
/// Longest LINE Notify `message`, in characters.
pub const MAX_NOTIFY_CHARS: usize = 1000;

/// Keeps one field from filling a whole message.
const MAX_VALUE_CHARS: usize = 300;

/// How a service measures text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// UTF-16 code units (Messaging API).
    Utf16,
    /// Unicode scalar values (LINE Notify).
    Chars,
}

impl Measure {
    pub fn len(self, s: &str) -> usize {
        match self {
            Measure::Utf16 => s.encode_utf16().count(),
            Measure::Chars => s.chars().count(),
        }
    }

    fn of(self, c: char) -> usize {
        match self {
            Measure::Utf16 => c.len_utf16(),
            Measure::Chars => 1,
        }
    }
}

/// The built-in message for `n`, at most `max` long as `measure` counts. A digest lists as
/// many alerts as fit and counts the rest in "and N more like this".
pub fn text(n: &Notification, max: usize, measure: Measure) -> String {
    let full = if n.is_digest() {
        digest(n, max, measure)
    } else {
        single(n.first(), n.folded)
    };
    truncate(&full, max, measure)
}

fn single(alert: &Alert, folded: u64) -> String {
    let mut lines = Vec::new();
    match alert.level {
        Some(level) => lines.push(format!(
            "[{}] {}",
            level.as_str().to_uppercase(),
            clean(&alert.title)
        )),
        None => lines.push(clean(&alert.title)),
    }
    for (label, v) in fields::details(alert) {
        lines.push(format!("{label}: {}", value(v)));
    }
    if let Some(tags) = fields::tag_list(alert, value) {
        lines.push(format!("Tags: {tags}"));
    }
    if let Some(url) = &alert.url {
        lines.push(clean(url));
    }
    if folded > 0 {
        lines.push(format!("and {folded} more like this"));
    }
    lines.join("\n")
}

fn digest(n: &Notification, max: usize, measure: Measure) -> String {
    let alerts = &n.alerts;
    let mut projects: Vec<&str> = Vec::new();
    for p in alerts.iter().filter_map(|a| a.project.as_deref()) {
        if !projects.contains(&p) {
            projects.push(p);
        }
    }
    let mut out = format!("{} alerts", alerts.len());
    if let [only] = projects.as_slice() {
        out.push_str(&format!(" in {}", value(only)));
    }
    // Room kept for the closing line, so it is never the part that gets cut.
    let reserve = 40;
    let mut shown = 0;
    for alert in alerts.iter() {
        let entry = entry(alert);
        if measure.len(&out) + 1 + measure.len(&entry) + reserve > max {
            break;
        }
        out.push('\n');
        out.push_str(&entry);
        shown += 1;
    }
    let more = n.folded + (alerts.len() - shown) as u64;
    if more > 0 {
        out.push_str(&format!("\nand {more} more like this"));
    }
    out
}

/// `- [error] title (project / environment)` and the link on the next line.
fn entry(alert: &Alert) -> String {
    let mut line = String::from("- ");
    if let Some(level) = alert.level {
        line.push_str(&format!("[{level}] "));
    }
    line.push_str(&value(&alert.title));
    let place: Vec<String> = [&alert.project, &alert.environment]
        .into_iter()
        .flatten()
        .map(|v| value(v))
        .collect();
    if !place.is_empty() {
        line.push_str(&format!(" ({})", place.join(" / ")));
    }
    if let Some(url) = &alert.url {
        line.push_str(&format!("\n  {}", clean(url)));
    }
    line
}

fn value(s: &str) -> String {
    truncate(&clean(s), MAX_VALUE_CHARS, Measure::Chars)
}

/// Drops control characters (except newline; a tab becomes a space) and the invisible
/// bidirectional controls and zero-width characters that can make text read differently from
/// what it says (the same list every sink uses, [`herald_core::text::strip_invisible`]).
pub fn clean(s: &str) -> String {
    herald_core::text::strip_invisible(s)
        .chars()
        .filter_map(|c| match c {
            '\n' => Some('\n'),
            '\t' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect()
}

/// At most `max` long as `measure` counts; a longer text is cut at a character boundary (never
/// between the halves of a surrogate pair, never after a dangling emoji joiner) and ends in `…`.
pub fn truncate(s: &str, max: usize, measure: Measure) -> String {
    if measure.len(s) <= max {
        return s.to_owned();
    }
    // `…` is one unit either way.
    let budget = max.saturating_sub(1);
    let mut used = 0;
    let mut out = String::new();
    for c in s.chars() {
        let n = measure.of(c);
        if used + n > budget {
            break;
        }
        used += n;
        out.push(c);
    }
    while out.ends_with(['\u{200D}', '\u{FE0F}']) {
        out.pop();
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests;
