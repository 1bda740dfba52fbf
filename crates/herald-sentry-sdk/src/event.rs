//! A Sentry event (an envelope's `event` item or a `/store/` body) turned into an [`Alert`]:
//! scrubbed unless the source says `scrub: false`, read as a loose JSON tree (SDKs of
//! different languages and ages disagree on shapes: `exception` as an object with `values`
//! or as a list, `message` as text or as an object, tags as an object or as pairs, a
//! timestamp as RFC 3339 text or Unix seconds), grouped into an issue, and held to
//! [`herald_core::alert::limits`]. The field mapping is in the crate docs.

use herald_core::{Alert, Level, Tags};
use serde_json::{Map, Value};

use crate::config::{Project, SdkSourceConfig};
use crate::grouping::{Grouping, group};
use crate::scrub::scrub_event;

/// The `resource` of every alert from this source (`herald route --resource sdk`).
pub const RESOURCE: &str = "sdk";
/// The `action` of an issue's first event. The store decides it: only it knows whether the
/// issue existed.
pub const ACTION_CREATED: &str = "created";
/// The `action` of every later event of an issue, and what [`to_alert`] sets until the store
/// says otherwise.
pub const ACTION_EVENT: &str = "event";

/// An event as herald keeps it: the alert to route and store, and its issue.
#[derive(Debug, Clone, PartialEq)]
pub struct SdkEvent {
    /// The alert; `action` is [`ACTION_EVENT`] until the store sets [`ACTION_CREATED`] for an
    /// issue's first event, and `issue_id` is `grouping.issue_id`.
    pub alert: Alert,
    pub grouping: Grouping,
}

/// The text at `key` of an object, trimmed; `None` when absent, not text, or empty.
pub(crate) fn text<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    object
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The exceptions of an event's chain, oldest (the cause) first and the one raised last at
/// the end: `exception.values`, or `exception` itself when an older SDK sent a list.
pub(crate) fn exceptions(event: &Map<String, Value>) -> Vec<&Map<String, Value>> {
    let list = match event.get("exception") {
        Some(Value::Object(e)) => e.get("values").and_then(Value::as_array),
        Some(Value::Array(list)) => Some(list),
        _ => None,
    };
    list.map(|l| l.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default()
}

/// An exception's frames, oldest call first (the frame that raised last).
pub(crate) fn frames(exception: &Map<String, Value>) -> Vec<&Map<String, Value>> {
    exception
        .get("stacktrace")
        .and_then(Value::as_object)
        .and_then(|s| s.get("frames"))
        .and_then(Value::as_array)
        .map(|f| f.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default()
}

/// The first non-empty line of `text`, trimmed.
fn first_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

/// The title Sentry shows: `Type: value` of the exception raised last (its first line; the
/// type or the value alone when the other is missing), else the log record's formatted
/// message, else the message, else `<unlabeled event>`.
fn title(event: &Map<String, Value>) -> String {
    if let Some(last) = exceptions(event).last() {
        let kind = text(last, "type");
        let value = text(last, "value").map(first_line);
        match (kind, value) {
            (Some(k), Some(v)) => return format!("{k}: {v}"),
            (Some(k), None) => return k.to_owned(),
            (None, Some(v)) => return v.to_owned(),
            (None, None) => {}
        }
    }
    let entry = event
        .get("logentry")
        .or_else(|| event.get("message").filter(|m| m.is_object()))
        .and_then(Value::as_object);
    let message = entry
        .and_then(|e| text(e, "formatted").or_else(|| text(e, "message")))
        .or_else(|| text(event, "message"));
    match message.map(first_line) {
        Some(m) if !m.is_empty() => m.to_owned(),
        _ => "<unlabeled event>".to_owned(),
    }
}

/// The culprit: the transaction, else the event's own `culprit` (older SDKs), else the
/// frame that raised last among the in-app ones (any frame when none is in-app), as
/// `module in function`.
fn culprit(event: &Map<String, Value>) -> Option<String> {
    if let Some(t) = text(event, "transaction").or_else(|| text(event, "culprit")) {
        return Some(t.to_owned());
    }
    let exceptions = exceptions(event);
    let frames = exceptions.last().map(|e| frames(e)).unwrap_or_default();
    let with_function = || frames.iter().filter(|f| text(f, "function").is_some());
    let frame = with_function()
        .rfind(|f| f.get("in_app").and_then(Value::as_bool) == Some(true))
        .or_else(|| with_function().next_back())?;
    let function = text(frame, "function")?;
    Some(
        match text(frame, "module").or_else(|| text(frame, "filename")) {
            Some(place) => format!("{place} in {function}"),
            None => function.to_owned(),
        },
    )
}

/// `event_id` as Sentry writes it: 32 lowercase hex digits, from the event, else from the
/// envelope header, else a new one.
fn event_id(event: &Map<String, Value>, fallback: Option<&str>) -> String {
    let normalized = |id: &str| {
        let id: String = id
            .chars()
            .filter(|c| *c != '-')
            .collect::<String>()
            .to_ascii_lowercase();
        (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
    };
    text(event, "event_id")
        .and_then(normalized)
        .or_else(|| fallback.and_then(normalized))
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string())
}

fn timestamp(event: &Map<String, Value>) -> Option<jiff::Timestamp> {
    match event.get("timestamp")? {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => {
            let seconds = n.as_f64()?;
            let nanos = (seconds * 1e9).round();
            if !nanos.is_finite() || nanos.abs() > i128::MAX as f64 {
                return None;
            }
            jiff::Timestamp::from_nanosecond(nanos as i128).ok()
        }
        _ => None,
    }
}

fn tags(event: &Map<String, Value>) -> Tags {
    let mut tags = event
        .get("tags")
        .cloned()
        .and_then(|t| serde_json::from_value::<Tags>(t).ok())
        .unwrap_or_default();
    // Sentry shows the logger among the tags, and routes can only match tags.
    if let Some(logger) = text(event, "logger")
        && tags.get("logger").is_none()
    {
        tags.insert("logger", logger);
    }
    tags
}

/// Turns one event of `project` into an alert and its issue. `envelope_event_id` is the
/// envelope header's, used when the event has none. Scrubs the event first when the source
/// says so; `raw` is the event as stored (scrubbed).
pub fn to_alert(
    source: &SdkSourceConfig,
    project: &Project,
    mut event: Map<String, Value>,
    envelope_event_id: Option<&str>,
) -> SdkEvent {
    if source.scrub {
        scrub_event(&mut event);
    }
    let grouping = group(project.id, &event);
    let level = text(&event, "level")
        .and_then(|l| l.parse::<Level>().ok())
        .unwrap_or(Level::Error);
    let tags = tags(&event);
    let tag_or = |key: &str| {
        text(&event, key)
            .map(str::to_owned)
            .or_else(|| tags.get(key).map(str::to_owned))
    };
    let mut alert = Alert {
        source: source.name.clone(),
        resource: RESOURCE.to_owned(),
        action: ACTION_EVENT.to_owned(),
        project: Some(project.slug.clone()),
        level: Some(level),
        environment: tag_or("environment"),
        release: tag_or("release"),
        title: title(&event),
        culprit: culprit(&event),
        issue_id: Some(grouping.issue_id.clone()),
        short_id: None,
        url: None,
        timestamp: timestamp(&event),
        rule: None,
        event_id: Some(event_id(&event, envelope_event_id)),
        tags,
        raw: Value::Null,
    };
    // The stored payload carries the id herald answered with, also when herald made it up.
    if let Some(id) = &alert.event_id {
        event.insert("event_id".into(), Value::String(id.clone()));
    }
    alert.raw = Value::Object(event);
    alert.enforce_limits();
    SdkEvent { alert, grouping }
}

#[cfg(test)]
mod tests;
