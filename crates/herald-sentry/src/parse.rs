//! Turns a Sentry webhook body into an [`Alert`]. The body is read as a loose JSON tree rather
//! than strict serde types because Sentry's payloads vary by version and plan: ids come as
//! strings or numbers, fields are null or absent, tags come as pairs or as an object. Only the
//! container of each resource (`data.event`, `data.issue`, ...) is required; a field of the
//! wrong type inside it is treated as absent.

use std::borrow::Cow;

use herald_core::alert::{cut, limits, scalar_text};
use herald_core::{Alert, Level, Tags};
use serde_json::{Map, Value};

/// The outcome of reading a well-formed webhook.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// Something to route.
    Alert(Alert),
    /// A valid payload that is not an alert (an installation, an action herald does not handle);
    /// the server answers 2xx so Sentry does not count it as a failure, and routes nothing.
    Ignored { alert: Alert, reason: String },
}

impl Parsed {
    pub fn alert(&self) -> &Alert {
        match self {
            Parsed::Alert(alert) | Parsed::Ignored { alert, .. } => alert,
        }
    }

    pub fn into_alert(self) -> Alert {
        match self {
            Parsed::Alert(alert) | Parsed::Ignored { alert, .. } => alert,
        }
    }

    pub fn is_ignored(&self) -> bool {
        matches!(self, Parsed::Ignored { .. })
    }
}

/// A body that cannot be read as the Sentry payload it claims to be; the server answers 400
/// with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the body is not valid JSON: {message}")]
    Json {
        /// serde_json's description, which ends with the line and column.
        message: String,
        line: usize,
        column: usize,
    },
    #[error("the body is {found}, expected a JSON object")]
    NotAnObject { found: &'static str },
    #[error("{path} is missing (a Sentry \"{resource}\" webhook carries it)")]
    Missing { resource: String, path: String },
    #[error("{path} is {found}, expected {expected} (in a Sentry \"{resource}\" webhook)")]
    WrongType {
        resource: String,
        path: String,
        found: &'static str,
        expected: &'static str,
    },
    #[error(
        "no Sentry-Hook-Resource header and the body is not a legacy WebHooks plugin payload ({detail}); Sentry integrations send that header, so check that the request comes from Sentry"
    )]
    NoResource { detail: String },
}

const ISSUE_ACTIONS: &[&str] = &[
    "created",
    "resolved",
    "assigned",
    "ignored",
    "archived",
    "unresolved",
];
const COMMENT_ACTIONS: &[&str] = &["created", "updated", "deleted"];
const METRIC_ACTIONS: &[&str] = &["critical", "warning", "resolved"];

/// Reads one webhook body. `source` is the configured source name; `resource` is the
/// `Sentry-Hook-Resource` header, `None` for the legacy WebHooks plugin (which sends none).
pub fn parse(source: &str, resource: Option<&str>, body: &[u8]) -> Result<Parsed, ParseError> {
    let raw: Value = serde_json::from_slice(body).map_err(|e| ParseError::Json {
        message: e.to_string(),
        line: e.line(),
        column: e.column(),
    })?;
    let Some(root) = raw.as_object() else {
        return Err(ParseError::NotAnObject { found: kind(&raw) });
    };
    let resource = resource.map(str::trim);
    let parsed = match resource {
        None => legacy(source, root)?,
        Some(resource) => platform(source, resource, root)?,
    };
    Ok(with_raw(parsed, raw))
}

/// Attaches the payload as received and holds the normalized fields to
/// [`herald_core::alert::limits`].
fn with_raw(parsed: Parsed, raw: Value) -> Parsed {
    let finish = |mut alert: Alert| {
        alert.enforce_limits();
        Alert { raw, ..alert }
    };
    match parsed {
        Parsed::Alert(alert) => Parsed::Alert(finish(alert)),
        Parsed::Ignored { alert, reason } => Parsed::Ignored {
            alert: finish(alert),
            reason,
        },
    }
}

/// A value as it may appear inside a message (an ignore reason, an error): cut to a name's
/// size, since the header or payload it comes from may be huge.
fn shown(text: &str) -> Cow<'_, str> {
    if text.len() <= limits::MAX_NAME_BYTES {
        return Cow::Borrowed(text);
    }
    let mut text = text.to_owned();
    cut(&mut text, limits::MAX_NAME_BYTES);
    Cow::Owned(text)
}

/// The `Sentry-Hook-Resource` a body's shape suggests, for a payload sent without that header
/// or with another one: an integration-platform envelope by what its `data` holds
/// (`data.event` is an `event_alert`, `data.error` an `error`, `data.metric_alert` a
/// `metric_alert`, `data.issue` an `issue`, or an `activity_alert` when it is `triggered` or
/// has `data.alert`, `data.comment` a `comment`, `data.installation` an `installation`), or
/// `legacy` for the WebHooks plugin's flat object. `None` when the body is not JSON or has
/// none of these shapes.
pub fn likely_resource(body: &[u8]) -> Option<&'static str> {
    let raw: Value = serde_json::from_slice(body).ok()?;
    shape(raw.as_object()?)
}

/// [`likely_resource`] of a parsed body.
fn shape(root: &Map<String, Value>) -> Option<&'static str> {
    let Some(data) = root.get("data").and_then(Value::as_object) else {
        return looks_legacy(root).then_some("legacy");
    };
    let has = |key: &str| data.get(key).is_some_and(Value::is_object);
    let action = root
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Some(if has("event") {
        "event_alert"
    } else if has("error") {
        "error"
    } else if has("metric_alert") {
        "metric_alert"
    } else if has("issue") && (action == "triggered" || has("alert")) {
        "activity_alert"
    } else if has("issue") {
        "issue"
    } else if data.contains_key("comment") && data.contains_key("issue_id") {
        "comment"
    } else if has("installation") {
        "installation"
    } else {
        return None;
    })
}

/// Whether a body without a resource header reads as the legacy WebHooks plugin's object.
fn looks_legacy(root: &Map<String, Value>) -> bool {
    let event = root.get("event").and_then(Value::as_object);
    root.contains_key("project_slug")
        || root.contains_key("triggering_rules")
        || (event.is_some() && (root.contains_key("url") || root.contains_key("project")))
}

/// An integration-platform envelope: `{action, data: {...}, installation, actor}`.
fn platform(source: &str, resource: &str, root: &Map<String, Value>) -> Result<Parsed, ParseError> {
    let mut action = text(root.get("action")).unwrap_or_default();
    // No handled action is this long, and a cut one can never equal one that is.
    cut(&mut action, limits::MAX_NAME_BYTES);
    let shown_resource = shown(resource);
    let bare = Alert {
        source: source.to_owned(),
        resource: resource.to_owned(),
        action: action.clone(),
        title: format!("{shown_resource} {action}").trim().to_owned(),
        ..Alert::default()
    };
    let ignore = |reason: String| {
        Ok(Parsed::Ignored {
            alert: bare.clone(),
            reason,
        })
    };
    let handled: &[&str] = match resource {
        "event_alert" | "activity_alert" => &["triggered"],
        "error" => &["created"],
        "issue" => ISSUE_ACTIONS,
        "metric_alert" => METRIC_ACTIONS,
        "comment" => COMMENT_ACTIONS,
        "installation" => return ignore("installation events are not alerts".to_owned()),
        "" => return ignore("the Sentry-Hook-Resource header is empty".to_owned()),
        _ => {
            return ignore(format!(
                "resource \"{shown_resource}\" is not handled (handled: event_alert, error, issue, metric_alert, comment, activity_alert)"
            ));
        }
    };
    let missing = |path: &str| ParseError::Missing {
        resource: shown_resource.to_string(),
        path: path.to_owned(),
    };
    let Some(action_value) = root.get("action").filter(|v| !v.is_null()) else {
        return Err(missing("action"));
    };
    if !handled.contains(&action.as_str()) {
        let mut shown = scalar_text(action_value).unwrap_or_else(|| kind(action_value).to_owned());
        cut(&mut shown, limits::MAX_NAME_BYTES);
        return ignore(format!(
            "{resource} action \"{shown}\" is not handled (handled: {})",
            handled.join(", ")
        ));
    }
    let data = object(resource, root, "data", "data")?.ok_or_else(|| missing("data"))?;
    let need = |key: &str| -> Result<&Map<String, Value>, ParseError> {
        let path = format!("data.{key}");
        object(resource, data, key, &path)?.ok_or_else(|| missing(&path))
    };
    let alert = match resource {
        "event_alert" => {
            let mut alert = event(bare, need("event")?);
            alert.rule = text(data.get("triggered_rule"))
                .or_else(|| text(data.get("issue_alert").and_then(|a| a.get("title"))));
            alert
        }
        "error" => event(bare, need("error")?),
        "issue" => issue(bare, need("issue")?),
        "activity_alert" => {
            let mut alert = issue(bare, need("issue")?);
            alert.rule = text(data.get("alert").and_then(|a| a.get("title")));
            alert
        }
        "metric_alert" => metric_alert(bare, data, need("metric_alert")?),
        _ => comment(bare, data),
    };
    Ok(Parsed::Alert(alert))
}

/// An event as found in `data.event` (event_alert) and `data.error` (error).
fn event(mut alert: Alert, event: &Map<String, Value>) -> Alert {
    let raw_tags = event.get("tags");
    alert.project = project_from_url(text(event.get("url")).as_deref())
        .or_else(|| project_from_url(text(event.get("web_url")).as_deref()));
    alert.level = level(event.get("level")).or_else(|| tag_level(raw_tags));
    alert.environment = text(event.get("environment")).or_else(|| tag(raw_tags, "environment"));
    alert.release = text(event.get("release"))
        .or_else(|| tag(raw_tags, "release"))
        .or_else(|| tag(raw_tags, "sentry:release"));
    let message = text(event.get("message"));
    alert.title = text(event.get("title"))
        .or_else(|| message.clone())
        .or_else(|| text(event.get("metadata").and_then(|m| m.get("value"))))
        .unwrap_or_else(|| "Sentry event".to_owned());
    alert.culprit = text(event.get("culprit")).or(message);
    alert.issue_id = text(event.get("issue_id"));
    alert.url = text(event.get("web_url"));
    alert.timestamp =
        timestamp(event.get("datetime")).or_else(|| timestamp(event.get("timestamp")));
    alert.event_id = text(event.get("event_id")).or_else(|| text(event.get("id")));
    alert.tags = tags(raw_tags);
    alert
}

/// An issue as found in `data.issue` (issue, activity_alert). Issues carry no tags.
fn issue(mut alert: Alert, issue: &Map<String, Value>) -> Alert {
    let project = issue.get("project");
    alert.project = text(project.and_then(|p| p.get("slug")))
        .or_else(|| text(project.and_then(|p| p.get("name"))))
        .or_else(|| text(project).filter(|_| project.is_some_and(Value::is_string)));
    alert.level = level(issue.get("level"));
    alert.short_id = text(issue.get("shortId"));
    alert.title = text(issue.get("title"))
        .or_else(|| text(issue.get("metadata").and_then(|m| m.get("title"))))
        .or_else(|| alert.short_id.clone())
        .unwrap_or_else(|| "Sentry issue".to_owned());
    alert.culprit = text(issue.get("culprit"));
    alert.issue_id = text(issue.get("id"));
    alert.url = text(issue.get("web_url")).or_else(|| text(issue.get("permalink")));
    alert.timestamp =
        timestamp(issue.get("lastSeen")).or_else(|| timestamp(issue.get("firstSeen")));
    alert
}

/// A metric alert: `data.metric_alert` (the incident) with its `alert_rule`, plus
/// `data.description_title`, `data.description_text` and `data.web_url`.
fn metric_alert(
    mut alert: Alert,
    data: &Map<String, Value>,
    incident: &Map<String, Value>,
) -> Alert {
    let rule = incident.get("alert_rule").and_then(Value::as_object);
    let rule_field = |key: &str| rule.and_then(|r| r.get(key));
    alert.level = match alert.action.as_str() {
        "critical" => Some(Level::Error),
        "warning" => Some(Level::Warning),
        _ => Some(Level::Info),
    };
    alert.project =
        first_text(incident.get("projects")).or_else(|| first_text(rule_field("projects")));
    alert.rule = text(rule_field("name"));
    alert.title = text(data.get("description_title"))
        .or_else(|| text(incident.get("title")))
        .or_else(|| alert.rule.clone())
        .unwrap_or_else(|| "Sentry metric alert".to_owned());
    alert.culprit = text(data.get("description_text"));
    alert.environment = text(rule_field("environment"));
    alert.url = text(data.get("web_url"));
    // The incident id ties critical, warning and resolved of one incident together.
    alert.issue_id = text(incident.get("id")).map(|id| format!("metric-alert:{id}"));
    let closed = if alert.action == "resolved" {
        timestamp(incident.get("date_closed"))
    } else {
        None
    };
    alert.timestamp = closed
        .or_else(|| timestamp(incident.get("date_detected")))
        .or_else(|| timestamp(incident.get("date_started")))
        .or_else(|| timestamp(incident.get("date_created")));
    alert
}

/// A comment on an issue: flat fields in `data`.
fn comment(mut alert: Alert, data: &Map<String, Value>) -> Alert {
    alert.project = text(data.get("project_slug"));
    alert.issue_id = text(data.get("issue_id"));
    alert.title = match &alert.issue_id {
        Some(id) => format!("comment on issue {id}"),
        None => "comment on an issue".to_owned(),
    };
    alert.culprit = text(data.get("comment"));
    alert.timestamp = timestamp(data.get("timestamp"));
    alert
}

/// The legacy WebHooks plugin's flat object; it has no resource header and no action.
fn legacy(source: &str, root: &Map<String, Value>) -> Result<Parsed, ParseError> {
    let event = root.get("event").and_then(Value::as_object);
    if !looks_legacy(root) {
        let detail = if root.contains_key("action") && root.contains_key("data") {
            match shape(root) {
                Some(resource) => format!(
                    "it looks like a Sentry-Hook-Resource: {resource} payload, which needs that header"
                ),
                _ => "it looks like an integration-platform payload, which needs the header"
                    .to_owned(),
            }
        } else {
            let keys: Vec<Cow<'_, str>> = root.keys().map(|k| shown(k)).take(10).collect();
            if keys.is_empty() {
                "it is an empty object".to_owned()
            } else {
                format!(
                    "it has no project_slug, triggering_rules or event; top-level keys: {}",
                    keys.join(", ")
                )
            }
        };
        return Err(ParseError::NoResource { detail });
    }
    let field = |key: &str| event.and_then(|e| e.get(key));
    let raw_tags = field("tags");
    let message = text(root.get("message")).or_else(|| text(field("message")));
    let culprit = text(root.get("culprit")).or_else(|| text(field("culprit")));
    let alert = Alert {
        source: source.to_owned(),
        resource: "legacy".to_owned(),
        action: "triggered".to_owned(),
        project: text(root.get("project_slug")).or_else(|| text(root.get("project"))),
        level: level(root.get("level"))
            .or_else(|| level(field("level")))
            .or_else(|| tag_level(raw_tags)),
        environment: text(field("environment")).or_else(|| tag(raw_tags, "environment")),
        release: text(field("release"))
            .or_else(|| tag(raw_tags, "release"))
            .or_else(|| tag(raw_tags, "sentry:release")),
        title: text(field("title"))
            .or_else(|| message.clone())
            .or_else(|| culprit.clone())
            .unwrap_or_else(|| "Sentry event".to_owned()),
        culprit: culprit.or(message),
        issue_id: text(root.get("id")),
        short_id: None,
        url: text(root.get("url")),
        timestamp: timestamp(field("datetime")).or_else(|| timestamp(field("timestamp"))),
        tags: tags(raw_tags),
        rule: first_text(root.get("triggering_rules")),
        event_id: text(field("event_id")).or_else(|| text(field("id"))),
        raw: Value::Null,
    };
    Ok(Parsed::Alert(alert))
}

/// `parent[key]` as an object: `None` when absent or null, an error when of another type.
fn object<'a>(
    resource: &str,
    parent: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a Map<String, Value>>, ParseError> {
    match parent.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(other) => Err(ParseError::WrongType {
            resource: shown(resource).into_owned(),
            path: path.to_owned(),
            found: kind(other),
            expected: "an object",
        }),
    }
}

/// A scalar as non-empty, trimmed text; anything else (null, "", a list) is absent.
fn text(value: Option<&Value>) -> Option<String> {
    value
        .and_then(scalar_text)
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn first_text(value: Option<&Value>) -> Option<String> {
    value
        .and_then(Value::as_array)
        .and_then(|items| items.iter().find_map(|v| text(Some(v))))
}

/// The value of the first tag named `key` in the payload's `tags`, trimmed, `None` when empty.
/// It looks at every tag, not only those kept: stored events sort their tags by key, so
/// `sentry:release` may come after the cap.
fn tag(tags: Option<&Value>, key: &str) -> Option<String> {
    tag_entries(tags)
        .find(|(k, v)| k == key && scalar_text(v).is_some())
        .and_then(|(_, v)| text(Some(v)))
}

/// A level name; an unknown name leaves the level unset rather than refusing the alert.
fn level(value: Option<&Value>) -> Option<Level> {
    text(value).as_deref().and_then(parse_level)
}

fn parse_level(text: &str) -> Option<Level> {
    text.parse().ok()
}

/// The level tag's level. Like the old lookup on kept tags, the first `level` tag decides.
fn tag_level(tags: Option<&Value>) -> Option<Level> {
    tag_entries(tags)
        .find(|(k, v)| k == "level" && scalar_text(v).is_some())
        .and_then(|(_, v)| scalar_text(v))
        .as_deref()
        .and_then(parse_level)
}

/// Tags in any of the shapes seen: `[[k, v], ...]` (stored events), `{k: v}` (what SDKs send)
/// or `[{key, value}, ...]` (Sentry's API). Entries of another shape, or whose value is not a
/// scalar, are skipped; only the first [`limits::MAX_TAGS`] are kept, each cut to size, so a
/// payload with 60,000 tags costs what one with 200 does from here on.
fn tags(value: Option<&Value>) -> Tags {
    let out = tag_entries(value)
        .filter_map(|(k, v)| {
            let mut v = scalar_text(v)?;
            let mut k = k.into_owned();
            cut(&mut k, limits::MAX_TAG_KEY_BYTES);
            cut(&mut v, limits::MAX_TAG_VALUE_BYTES);
            Some((k, v))
        })
        .take(limits::MAX_TAGS)
        .collect();
    Tags(out)
}

/// The (key, value) entries of `tags` in any of its shapes, values not yet read as text.
fn tag_entries(value: Option<&Value>) -> Box<dyn Iterator<Item = (Cow<'_, str>, &Value)> + '_> {
    match value {
        Some(Value::Object(map)) => {
            Box::new(map.iter().map(|(k, v)| (Cow::Borrowed(k.as_str()), v)))
        }
        Some(Value::Array(items)) => Box::new(items.iter().filter_map(|item| {
            let (k, v) = match item {
                Value::Array(pair) if pair.len() == 2 => (&pair[0], &pair[1]),
                Value::Object(entry) => (entry.get("key")?, entry.get("value")?),
                _ => return None,
            };
            let k = match k {
                Value::String(s) => Cow::Borrowed(s.as_str()),
                other => Cow::Owned(scalar_text(other)?),
            };
            Some((k, v))
        })),
        _ => Box::new(std::iter::empty()),
    }
}

/// An ISO 8601 time (`2019-08-19T21:06:17.677000Z`), or Unix seconds as a number or as text.
fn timestamp(value: Option<&Value>) -> Option<jiff::Timestamp> {
    match value? {
        Value::Number(n) => n.as_f64().and_then(epoch),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<jiff::Timestamp>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().and_then(epoch))
        }
        _ => None,
    }
}

fn epoch(seconds: f64) -> Option<jiff::Timestamp> {
    if !seconds.is_finite() {
        return None;
    }
    // `as` saturates, and jiff refuses values outside its range, so no input can panic here.
    jiff::Timestamp::from_microsecond((seconds * 1e6).round() as i64).ok()
}

/// The project slug in an event URL: `.../projects/<org>/<slug>/events/...`.
fn project_from_url(url: Option<&str>) -> Option<String> {
    let url = url?;
    let path = url.split(['?', '#']).next()?;
    let segments: Vec<&str> = path.split('/').collect();
    segments
        .windows(4)
        .find(|w| w[0] == "projects" && w[3] == "events" && !w[1].is_empty())
        .map(|w| w[2])
        .filter(|slug| !slug.is_empty())
        .map(str::to_owned)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests;
