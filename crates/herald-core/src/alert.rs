//! The normalized alert: one shape that every source (Sentry's webhooks today) produces and every
//! sink consumes, so routing, templates and storage never look at a provider's payload.
//!
//! How each Sentry resource maps onto these fields is documented in `herald-sentry`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Severity, ordered so that a route can ask for a threshold (`>=error`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Debug,
    Info,
    Warning,
    Error,
    Fatal,
}

impl Level {
    pub const ALL: [Level; 5] = [
        Level::Debug,
        Level::Info,
        Level::Warning,
        Level::Error,
        Level::Fatal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not one of the five levels.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown level \"{0}\" (levels: debug, info, warning, error, fatal)")]
pub struct UnknownLevel(pub String);

impl FromStr for Level {
    type Err = UnknownLevel;

    /// Accepts the five names case-insensitively, plus the aliases SDKs and loggers use
    /// (`warn`, `critical`, `err`), so a payload from any Sentry SDK gets a level. This is for
    /// what sources receive; a config's level conditions are stricter (see `matcher`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "debug" | "trace" => Ok(Level::Debug),
            "info" | "log" | "sample" => Ok(Level::Info),
            "warning" | "warn" => Ok(Level::Warning),
            "error" | "err" => Ok(Level::Error),
            "fatal" | "critical" => Ok(Level::Fatal),
            _ => Err(UnknownLevel(s.to_owned())),
        }
    }
}

/// Tags in the order the source gave them. Serialized as a JSON object, which is the shape
/// templates and the webhook sink expose; a repeated key keeps its first value there.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tags(pub Vec<(String, String)>);

impl Tags {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let key = key.into();
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl Serialize for Tags {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut seen = std::collections::HashSet::with_capacity(self.0.len());
        let mut map = serializer.serialize_map(None)?;
        for (k, v) in &self.0 {
            if seen.insert(k.as_str()) {
                map.serialize_entry(k, v)?;
            }
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Tags {
    /// Takes both shapes Sentry uses: an object, or a list of `[key, value]` pairs.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Shape {
            Map(serde_json::Map<String, serde_json::Value>),
            Pairs(Vec<(String, serde_json::Value)>),
        }
        let pairs = match Shape::deserialize(deserializer)? {
            Shape::Map(m) => m.into_iter().collect::<Vec<_>>(),
            Shape::Pairs(p) => p,
        };
        Ok(Tags(
            pairs
                .into_iter()
                .filter_map(|(k, v)| scalar_text(&v).map(|v| (k, v)))
                .collect(),
        ))
    }
}

/// A JSON scalar as text (ids arrive as strings or numbers); `None` for null, arrays and objects.
pub fn scalar_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// One alert, whatever its source. Every field a route can match on is here; `raw` keeps the
/// source's payload for templates that need more than the normalized fields.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The configured source name the alert came in through (`sentry`).
    pub source: String,
    /// What kind of payload it was (`event_alert`, `issue`, `metric_alert`, `legacy`, ...).
    pub resource: String,
    /// What happened to it (`triggered`, `created`, `resolved`, `critical`, ...).
    pub action: String,
    pub project: Option<String>,
    pub level: Option<Level>,
    pub environment: Option<String>,
    pub release: Option<String>,
    pub title: String,
    /// Where it happened (Sentry's culprit) or, failing that, the message.
    pub culprit: Option<String>,
    pub issue_id: Option<String>,
    /// Sentry's human issue id, such as `FRONT-END-9`.
    pub short_id: Option<String>,
    /// A link a person can open (the issue or event page in Sentry).
    pub url: Option<String>,
    pub timestamp: Option<jiff::Timestamp>,
    pub tags: Tags,
    /// The name of the rule that triggered it at the source (Sentry's alert rule).
    pub rule: Option<String>,
    /// The source's id for this occurrence (Sentry's `event_id`), when it has one.
    pub event_id: Option<String>,
    /// The payload as received; not part of the normalized JSON shape.
    #[serde(skip)]
    pub raw: serde_json::Value,
}

/// How much of each normalized field an alert keeps, so that a hostile or broken payload (a
/// 60,000-tag event, a 1 MiB title) costs routing, storage, templates and sinks no more than a
/// normal alert. Sizes are in bytes of UTF-8; a longer value is cut on a character boundary and
/// ends with `…`. The payload itself (`raw`) is kept as received.
pub mod limits {
    /// Tags kept, in the order the source gave them; the rest are dropped (and not counted:
    /// the raw payload still has them all).
    pub const MAX_TAGS: usize = 200;
    /// Longest tag key (Sentry's own limit is 32 characters).
    pub const MAX_TAG_KEY_BYTES: usize = 128;
    /// Longest tag value (Sentry's own limit is 200 characters).
    pub const MAX_TAG_VALUE_BYTES: usize = 512;
    /// Longest title and culprit: a few lines of an error message.
    pub const MAX_TEXT_BYTES: usize = 2048;
    /// Longest URL.
    pub const MAX_URL_BYTES: usize = 2048;
    /// Longest name or id: source, resource, action, project, environment, release, issue_id,
    /// short_id, rule, event_id.
    pub const MAX_NAME_BYTES: usize = 256;
}

/// Cuts `s` to at most `max` bytes on a character boundary, ending a cut value with `…`, so a
/// reader sees that something is missing. `max` below 3 (the ellipsis) keeps no text.
pub fn cut(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    const ELLIPSIS: char = '…';
    let Some(mut end) = max.checked_sub(ELLIPSIS.len_utf8()) else {
        s.clear();
        return;
    };
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push(ELLIPSIS);
}

fn cut_opt(s: &mut Option<String>, max: usize) {
    if let Some(s) = s {
        cut(s, max);
    }
}

/// A field of [`Alert`] that routes can match on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Project,
    Level,
    Environment,
    Release,
    Resource,
    Action,
}

impl Field {
    pub fn name(self) -> &'static str {
        match self {
            Field::Project => "project",
            Field::Level => "level",
            Field::Environment => "environment",
            Field::Release => "release",
            Field::Resource => "resource",
            Field::Action => "action",
        }
    }
}

impl Alert {
    /// The value of a matchable field, as text; `None` when the alert does not have it.
    pub fn field(&self, field: Field) -> Option<&str> {
        match field {
            Field::Project => self.project.as_deref(),
            Field::Level => self.level.map(Level::as_str),
            Field::Environment => self.environment.as_deref(),
            Field::Release => self.release.as_deref(),
            Field::Resource => Some(self.resource.as_str()),
            Field::Action => Some(self.action.as_str()),
        }
    }

    /// Holds every normalized field to [`limits`]: at most [`limits::MAX_TAGS`] tags, each key,
    /// value and text field cut to its size. `raw` is left alone. Sources call this once per
    /// payload, before anything routes, stores or renders the alert.
    pub fn enforce_limits(&mut self) {
        use limits::*;
        for name in [&mut self.source, &mut self.resource, &mut self.action] {
            cut(name, MAX_NAME_BYTES);
        }
        for name in [
            &mut self.project,
            &mut self.environment,
            &mut self.release,
            &mut self.issue_id,
            &mut self.short_id,
            &mut self.rule,
            &mut self.event_id,
        ] {
            cut_opt(name, MAX_NAME_BYTES);
        }
        cut(&mut self.title, MAX_TEXT_BYTES);
        cut_opt(&mut self.culprit, MAX_TEXT_BYTES);
        cut_opt(&mut self.url, MAX_URL_BYTES);
        self.tags.0.truncate(MAX_TAGS);
        for (key, value) in &mut self.tags.0 {
            cut(key, MAX_TAG_KEY_BYTES);
            cut(value, MAX_TAG_VALUE_BYTES);
        }
    }

    /// The alert in its documented JSON shape (what `herald route --format json` prints and the
    /// webhook sink sends): tags as an object, no raw payload.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests;
