//! Which issue an event belongs to. Events with the same grouping key are one issue, whose id
//! is a short hash of the project id and the key, so it is the same on every instance and
//! after every restart without asking the store.
//!
//! The key is the SDK's `fingerprint` when it sends one (`{{ default }}` in it stands for the
//! default key; `{{ transaction }}`, `{{ type }}`, `{{ level }}` and `{{ logger }}` for those
//! values of the event). The default key is, for an exception, each exception of the chain's
//! type followed by its in-app frames as `module.function` (all frames when none is in-app;
//! the file name where a frame has no module), or its type and normalized value when it has no
//! frames at all; for a message, the logger and the message template: `logentry.message` with
//! its parameters not filled in, else the message with numbers, hex and UUIDs replaced by
//! placeholders. Line numbers and exception values are left out, so an edit elsewhere in the
//! file or another order id does not open a new issue.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::event::{exceptions, frames, text};

/// An event's issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    /// The parts of the grouping key, in order.
    pub key: Vec<String>,
    /// Whether the SDK's `fingerprint` chose the key.
    pub from_fingerprint: bool,
    /// 16 hex digits of SHA-256 over the project id and the key.
    pub issue_id: String,
}

/// The grouping of `event` in project `project_id`.
pub fn group(project_id: u64, event: &Map<String, Value>) -> Grouping {
    let fingerprint = event
        .get("fingerprint")
        .and_then(Value::as_array)
        .map(|parts| {
            parts
                .iter()
                .filter_map(herald_core::alert::scalar_text)
                .collect::<Vec<_>>()
        })
        .filter(|parts| !parts.is_empty());
    let (key, from_fingerprint) = match fingerprint {
        Some(parts) => {
            let mut key = Vec::new();
            let mut only_default = true;
            for part in parts {
                match variable(&part) {
                    Some("default") => key.extend(default_key(event)),
                    Some(name) => {
                        only_default = false;
                        key.push(variable_value(event, name).unwrap_or(part));
                    }
                    None => {
                        only_default = false;
                        key.push(part);
                    }
                }
            }
            (key, !only_default)
        }
        None => (default_key(event), false),
    };
    let issue_id = issue_id(project_id, &key);
    Grouping {
        key,
        from_fingerprint,
        issue_id,
    }
}

/// `name` when `part` is `{{ name }}` (spaces optional).
fn variable(part: &str) -> Option<&str> {
    let inner = part.trim().strip_prefix("{{")?.strip_suffix("}}")?.trim();
    (!inner.is_empty()).then_some(inner)
}

fn variable_value(event: &Map<String, Value>, name: &str) -> Option<String> {
    match name {
        "transaction" | "level" | "logger" => text(event, name).map(str::to_owned),
        "type" => exceptions(event)
            .last()
            .and_then(|e| text(e, "type"))
            .map(str::to_owned),
        _ => None,
    }
}

/// The key herald derives itself (see the module docs).
pub fn default_key(event: &Map<String, Value>) -> Vec<String> {
    let chain = exceptions(event);
    if !chain.is_empty() {
        let mut key = Vec::new();
        for exception in chain {
            let kind = text(exception, "type").unwrap_or("Error");
            key.push(format!("type:{kind}"));
            let all = frames(exception);
            let in_app: Vec<_> = all
                .iter()
                .filter(|f| f.get("in_app").and_then(Value::as_bool) == Some(true))
                .collect();
            let chosen: Vec<_> = if in_app.is_empty() {
                all.iter().collect()
            } else {
                in_app
            };
            let named: Vec<String> = chosen.iter().filter_map(|f| frame_name(f)).collect();
            if named.is_empty() {
                if let Some(value) = text(exception, "value") {
                    key.push(format!("value:{}", normalize(value)));
                }
            } else {
                key.extend(named.into_iter().map(|n| format!("frame:{n}")));
            }
        }
        return key;
    }
    let mut key = Vec::new();
    if let Some(logger) = text(event, "logger") {
        key.push(format!("logger:{logger}"));
    }
    let template = event
        .get("logentry")
        .or_else(|| event.get("message").filter(|m| m.is_object()))
        .and_then(Value::as_object)
        .and_then(|entry| {
            text(entry, "message")
                .map(str::to_owned)
                .or_else(|| text(entry, "formatted").map(normalize))
        })
        .or_else(|| text(event, "message").map(normalize));
    key.push(format!("message:{}", template.unwrap_or_default()));
    key
}

/// A frame as `module.function`, or `file.function` without a module; `None` when it has no
/// function.
fn frame_name(frame: &Map<String, Value>) -> Option<String> {
    let function = text(frame, "function")?;
    match text(frame, "module").or_else(|| text(frame, "filename")) {
        Some(place) => Some(format!("{place}.{function}")),
        None => Some(function.to_owned()),
    }
}

static VARIABLE_PARTS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)
        (?P<uuid>\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b)
        | (?P<hex>\b0x[0-9a-f]+\b)
        | (?P<word>\b[0-9a-f]{8,}\b)
        | (?P<int>\d+(?:\.\d+)?)
        ",
    )
    .expect("the normalizing pattern compiles")
});

/// `text` with the parts that vary between occurrences replaced: UUIDs by `<uuid>`, hex
/// numbers (`0x1f`, or words of at least 8 hex digits with a digit among them, such as a
/// commit or a dashless UUID) by `<hex>`, other numbers by `<int>`.
pub fn normalize(text: &str) -> String {
    VARIABLE_PARTS
        .replace_all(text, |c: &regex::Captures<'_>| {
            if c.name("uuid").is_some() {
                "<uuid>".to_owned()
            } else if c.name("hex").is_some() {
                "<hex>".to_owned()
            } else if let Some(word) = c.name("word") {
                let word = word.as_str();
                if word.bytes().all(|b| b.is_ascii_digit()) {
                    "<int>".to_owned()
                } else if word.bytes().any(|b| b.is_ascii_digit()) {
                    "<hex>".to_owned()
                } else {
                    word.to_owned()
                }
            } else {
                "<int>".to_owned()
            }
        })
        .into_owned()
}

/// 16 hex digits of SHA-256 over the project id and each part, each part preceded by its
/// length so that no two keys share a hash input.
pub fn issue_id(project_id: u64, key: &[String]) -> String {
    let mut hash = Sha256::new();
    hash.update(project_id.to_be_bytes());
    for part in key {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    hex::encode(&hash.finalize()[..8])
}

#[cfg(test)]
mod tests;
