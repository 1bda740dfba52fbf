//! Message templates (minijinja), shared by every sink: compiled when the config loads so a
//! syntax error or an unknown variable is a config error with its location, and rendered with
//! the sink's own escaping so untrusted alert text cannot inject markup, mentions or links.
//!
//! Every value a template prints goes through the sink's escaper unless marked `|safe`; the
//! template's own literal text is trusted, since it comes from the operator's config.

use std::collections::BTreeMap;

pub mod fields;

use minijinja::{Environment, UndefinedBehavior, Value as J};

use crate::config::{Diagnostics, Node};
use crate::sink::Notification;

/// Turns untrusted text into text safe for one destination (a chat markup, HTML, ...).
pub type Escaper = fn(&str) -> String;

/// The variables a template may use. The alert's fields stand at the top level for brevity
/// (`{{ title }}`, `{{ tags.team }}`); `alert` is the same object, `alerts` the digest's list.
pub const VARIABLES: &[&str] = &[
    "alert",
    "alerts",
    "count",
    "folded",
    "route",
    "sink",
    "source",
    "resource",
    "action",
    "project",
    "level",
    "environment",
    "release",
    "title",
    "culprit",
    "issue_id",
    "short_id",
    "url",
    "timestamp",
    "tags",
    "rule",
    "event_id",
    "raw",
];

/// A set of named templates for one sink, all escaped the same way.
pub struct Templates {
    env: Environment<'static>,
    names: BTreeMap<String, ()>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names.keys()).finish()
    }
}

impl Templates {
    /// An empty set whose printed values go through `escape`.
    pub fn new(escape: Escaper) -> Self {
        let mut env = Environment::new();
        // A missing tag renders as empty (or as `default(...)`), never fails a delivery.
        env.set_undefined_behavior(UndefinedBehavior::Lenient);
        env.set_formatter(move |out, _state, value| {
            if value.is_safe() {
                out.write_str(&value.to_string())?;
            } else if value.is_undefined() || value.is_none() {
                // nothing: a missing field prints as empty text
            } else {
                out.write_str(&escape(&value.to_string()))?;
            }
            Ok(())
        });
        Templates {
            env,
            names: BTreeMap::new(),
        }
    }

    /// Compiles `source` under `name`; reports a syntax error or an unknown variable at `at`
    /// (the config node the template came from). Returns whether it compiled.
    pub fn add(&mut self, name: &str, source: &str, at: &Node, diag: &mut Diagnostics) -> bool {
        if let Err(e) = self
            .env
            .add_template_owned(name.to_owned(), source.to_owned())
        {
            let line = e
                .line()
                .map(|l| format!(" (template line {l})"))
                .unwrap_or_default();
            diag.error(
                at,
                format!(
                    "bad template \"{name}\": {}{line}",
                    e.detail().unwrap_or("syntax error")
                ),
                Some("templates use minijinja (Jinja2) syntax, e.g. \"{{ title }}\"".into()),
            );
            return false;
        }
        let tmpl = match self.env.get_template(name) {
            Ok(t) => t,
            Err(_) => return false,
        };
        let mut unknown: Vec<String> = tmpl
            .undeclared_variables(false)
            .into_iter()
            .filter(|v| !VARIABLES.contains(&v.as_str()) && self.env.globals().all(|(g, _)| g != v))
            .collect();
        unknown.sort();
        if !unknown.is_empty() {
            let first = &unknown[0];
            let hint = match crate::config::closest(first, VARIABLES) {
                Some(c) => format!(
                    "did you mean \"{c}\"? (variables: {})",
                    VARIABLES.join(", ")
                ),
                None => format!("variables: {}", VARIABLES.join(", ")),
            };
            diag.error(
                at,
                format!(
                    "template \"{name}\" uses unknown variable \"{}\"",
                    unknown.join("\", \"")
                ),
                Some(hint),
            );
            return false;
        }
        self.names.insert(name.to_owned(), ());
        true
    }

    pub fn has(&self, name: &str) -> bool {
        self.names.contains_key(name)
    }

    /// Renders a template for a notification.
    pub fn render(&self, name: &str, notification: &Notification) -> Result<String, String> {
        self.render_with(name, context(notification))
    }

    /// Renders a template with a context built elsewhere (see [`context`]).
    pub fn render_with(&self, name: &str, ctx: J) -> Result<String, String> {
        let tmpl = self
            .env
            .get_template(name)
            .map_err(|e| format!("no template \"{name}\": {e}"))?;
        tmpl.render(ctx)
            .map_err(|e| format!("template \"{name}\" failed: {e}"))
    }
}

/// The values a template sees for a notification.
pub fn context(n: &Notification) -> J {
    let first = n.first();
    let alert = J::from_serialize(first.to_json());
    let alerts: Vec<J> = n
        .alerts
        .iter()
        .map(|a| J::from_serialize(a.to_json()))
        .collect();
    let mut map: BTreeMap<&str, J> = BTreeMap::new();
    if let serde_json::Value::Object(fields) = first.to_json() {
        for (k, v) in fields {
            if let Some(key) = VARIABLES.iter().find(|name| **name == k) {
                map.insert(key, J::from_serialize(v));
            }
        }
    }
    map.insert("count", J::from(n.alerts.len() as u64 + n.folded));
    map.insert("alert", alert);
    map.insert("alerts", J::from(alerts));
    map.insert("folded", J::from(n.folded));
    map.insert("route", J::from(n.route.as_str()));
    map.insert("sink", J::from(n.sink.as_str()));
    map.insert("raw", J::from_serialize(&first.raw));
    J::from_iter(map)
}

/// Escaping for HTML (message bodies in HTML).
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            _ => out.push(c),
        }
    }
    out
}

/// No escaping: for plain-text targets (a message's plain-text part).
pub fn escape_none(s: &str) -> String {
    s.to_owned()
}

#[cfg(test)]
mod tests;
