//! The generic diagnostics every config reader shares: errors and warnings collected with
//! their file, line and column, unknown keys with the closest valid one, and typed sections
//! whose serde errors are located at the offending value.

use serde::de::DeserializeOwned;

use super::error::{ConfigError, ConfigErrors, Location, Severity};
use super::node::{Node, Value};

/// Collects errors and warnings while a config is checked, each with its location.
#[derive(Debug)]
pub struct Diagnostics {
    file: String,
    errors: Vec<ConfigError>,
    warnings: Vec<ConfigError>,
}

impl Diagnostics {
    pub fn new(file: &str) -> Self {
        Diagnostics {
            file: file.to_owned(),
            errors: vec![],
            warnings: vec![],
        }
    }

    pub fn file(&self) -> &str {
        &self.file
    }

    pub fn location(&self, node: &Node) -> Location {
        Location {
            file: self.file.clone(),
            line: node.pos.line,
            column: node.pos.column,
        }
    }

    pub fn error(&mut self, at: &Node, message: impl Into<String>, hint: Option<String>) {
        let loc = self.location(at);
        self.errors
            .push(ConfigError::new(loc, message).with_hint_opt(hint));
    }

    pub fn warning(&mut self, at: &Node, message: impl Into<String>, hint: Option<String>) {
        let loc = self.location(at);
        self.warnings.push(
            ConfigError::new(loc, message)
                .with_hint_opt(hint)
                .severity(Severity::Warning),
        );
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// Adds errors found elsewhere (for example by a sink factory).
    pub fn extend(&mut self, errors: impl IntoIterator<Item = ConfigError>) {
        for e in errors {
            match e.severity {
                Severity::Error => self.errors.push(e),
                Severity::Warning => self.warnings.push(e),
            }
        }
    }

    /// Reports keys of a mapping that are not in `allowed`, with the closest allowed one.
    pub fn unknown_keys(&mut self, node: &Node, allowed: &[&str], what: &str) {
        let Some(entries) = node.as_map() else { return };
        for (key, _) in entries {
            let name = key.scalar_text().unwrap_or_default();
            if !allowed.contains(&name.as_str()) {
                let hint = match closest(&name, allowed) {
                    Some(c) => {
                        format!("did you mean \"{c}\"? (valid keys: {})", allowed.join(", "))
                    }
                    None => format!("valid keys: {}", allowed.join(", ")),
                };
                self.error(key, format!("unknown {what} \"{name}\""), Some(hint));
            }
        }
    }

    /// Deserializes a section into `T`, reporting a refusal at the offending value's location
    /// (an unknown key with the closest valid one). Values substituted from the environment
    /// are shown as written, so a secret never reaches the message.
    pub fn typed<T: DeserializeOwned>(&mut self, node: &Node) -> Option<T> {
        let json = node.to_json();
        match serde_path_to_error::deserialize::<_, T>(json) {
            Ok(v) => Some(v),
            Err(err) => {
                let segments: Vec<String> = err
                    .path()
                    .iter()
                    .map(|s| match s {
                        serde_path_to_error::Segment::Seq { index } => index.to_string(),
                        serde_path_to_error::Segment::Map { key } => key.clone(),
                        serde_path_to_error::Segment::Enum { variant } => variant.clone(),
                        serde_path_to_error::Segment::Unknown => String::new(),
                    })
                    .collect();
                let inner = err.into_inner().to_string();
                self.report_serde(node, &segments, &inner);
                None
            }
        }
    }

    fn report_serde(&mut self, section: &Node, segments: &[String], message: &str) {
        if let Some(rest) = message.strip_prefix("unknown field `") {
            let field = rest.split('`').next().unwrap_or_default();
            let expected: Vec<&str> = rest
                .split("expected ")
                .nth(1)
                .map(|list| {
                    list.split('`')
                        .enumerate()
                        .filter(|(i, _)| i % 2 == 1)
                        .map(|(_, s)| s)
                        .collect()
                })
                .unwrap_or_default();
            // The path ends with the unknown key itself; its parent holds the key node.
            let parent_path = &segments[..segments.len().saturating_sub(1)];
            let parent = section.find_path(parent_path);
            let at = parent.key_node(field).unwrap_or(parent).clone();
            let hint = match closest(field, &expected) {
                Some(c) => format!(
                    "did you mean \"{c}\"? (valid keys: {})",
                    expected.join(", ")
                ),
                None if expected.is_empty() => "this section takes no keys".to_owned(),
                None => format!("valid keys: {}", expected.join(", ")),
            };
            self.error(&at, format!("unknown key \"{field}\""), Some(hint));
            return;
        }
        if let Some(rest) = message.strip_prefix("missing field `") {
            let field = rest.split('`').next().unwrap_or_default();
            let at = section.find_path(segments).clone();
            self.error(&at, format!("missing key \"{field}\""), None);
            return;
        }
        let at = section.find_path(segments).clone();
        let mut text = message.to_owned();
        if let (Some(written), Value::Str(resolved)) = (&at.written, &at.value)
            && !resolved.is_empty()
        {
            text = text.replace(resolved.as_str(), written);
        }
        let key = segments.last().filter(|s| !s.is_empty());
        // A single value where a list is wanted (`to: a@b.com`) is the usual cause.
        let hint = match (&at.value, key) {
            (Value::Str(_) | Value::Int(_) | Value::Float(_) | Value::Bool(_), Some(k))
                if text.contains("expected a sequence") =>
            {
                Some(format!(
                    "write a list, even of one: `{k}: [\"{}\"]`",
                    at.shown()
                ))
            }
            _ if text.contains("expected a sequence") => {
                Some("write a list: `[a, b]`, or one item per line starting with `- `".into())
            }
            _ => None,
        };
        let text = match key {
            Some(k) => format!("bad value for \"{k}\": {text}"),
            None => text,
        };
        self.error(&at, text, hint);
    }

    fn finish<T>(mut self, value: T) -> Result<(T, Vec<ConfigError>), ConfigErrors> {
        if self.errors.is_empty() {
            Ok((value, self.warnings))
        } else {
            self.errors.sort_by(|a, b| a.location.cmp(&b.location));
            Err(ConfigErrors {
                errors: self.errors,
                warnings: self.warnings,
            })
        }
    }

    /// Ends a check: the value if nothing was wrong, else every error found.
    pub fn into_result<T>(self, value: T) -> Result<(T, Vec<ConfigError>), ConfigErrors> {
        self.finish(value)
    }
}

/// The allowed name closest to `name`, when one is close enough to be a likely typo.
pub fn closest<'a>(name: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|a| (*a, strsim::jaro_winkler(name, a)))
        .filter(|(_, score)| *score >= 0.8)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(a, _)| a)
}
