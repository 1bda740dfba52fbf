//! `${VAR}`, `${VAR:-default}` and `${file:PATH}` in config strings, replaced before any
//! check runs. A variable that is not set (and has no default) is an error at its location,
//! and so is one that is set but empty: `${VAR}` asks for a value, and an empty one is almost
//! always a deployment mistake (write `${VAR:-}` when empty is meant). The node remembers the
//! text as written so that messages never show the value, and whether any of it came from
//! outside the file (see [`Node::from_outside`]).

use std::collections::HashMap;

use super::diag::Diagnostics;
use super::node::{Node, Value};

/// Where `${VAR}` values come from: the process environment, or a fixed map in tests.
#[derive(Clone, Default)]
pub struct Env {
    vars: Option<HashMap<String, String>>,
}

impl std::fmt::Debug for Env {
    // The values are secrets more often than not.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Env(..)")
    }
}

impl Env {
    pub fn process() -> Self {
        Env { vars: None }
    }

    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Env {
            vars: Some(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            ),
        }
    }

    fn get(&self, name: &str) -> Option<String> {
        match &self.vars {
            Some(map) => map.get(name).cloned(),
            None => std::env::var(name).ok(),
        }
    }

    /// Replaces every `${...}` in string values (not keys) of the tree.
    pub fn substitute(&self, node: &mut Node, diag: &mut Diagnostics) {
        match &mut node.value {
            Value::Str(s) if s.contains('$') => {
                let written = s.clone();
                match self.expand_traced(&written) {
                    Ok((expanded, from_outside)) => {
                        if expanded != written {
                            node.value = Value::Str(expanded);
                            node.written = Some(written);
                        }
                        node.from_outside = from_outside;
                    }
                    Err((message, hint)) => diag.error(node, message, hint),
                }
            }
            Value::Seq(items) => items.iter_mut().for_each(|n| self.substitute(n, diag)),
            Value::Map(entries) => entries
                .iter_mut()
                .for_each(|(_, v)| self.substitute(v, diag)),
            _ => {}
        }
    }

    /// Expands one string. `$${` stands for a literal `${`.
    pub fn expand(&self, text: &str) -> Result<String, (String, Option<String>)> {
        self.expand_traced(text).map(|(expanded, _)| expanded)
    }

    /// Expands one string and says whether any part of the result came from the environment
    /// or a file (rather than from the text itself or a `:-default` in it).
    fn expand_traced(&self, text: &str) -> Result<(String, bool), (String, Option<String>)> {
        let mut from_outside = false;
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            if let Some(tail) = after.strip_prefix("${") {
                out.push_str("${");
                rest = tail;
                continue;
            }
            let Some(body_start) = after.strip_prefix('{') else {
                out.push('$');
                rest = after;
                continue;
            };
            let Some(end) = body_start.find('}') else {
                return Err((
                    format!("unclosed \"${{\" in \"{text}\""),
                    Some(
                        "write ${VAR}, ${VAR:-default} or ${file:PATH}; $${ is a literal ${".into(),
                    ),
                ));
            };
            let body = &body_start[..end];
            let (value, outside) = self.resolve(body)?;
            out.push_str(&value);
            from_outside |= outside;
            rest = &body_start[end + 1..];
        }
        out.push_str(rest);
        Ok((out, from_outside))
    }

    /// One `${...}`: its value, and whether that came from outside the file.
    fn resolve(&self, body: &str) -> Result<(String, bool), (String, Option<String>)> {
        if let Some(path) = body.strip_prefix("file:") {
            let text = std::fs::read_to_string(path).map_err(|e| {
                (
                    format!("cannot read secret file \"{path}\": {e}"),
                    Some("the path is relative to herald's working directory".into()),
                )
            })?;
            let value = text.trim_end_matches(['\n', '\r']);
            if value.is_empty() {
                return Err((
                    format!("secret file \"{path}\" is empty"),
                    Some("write the secret into it, or remove the setting".into()),
                ));
            }
            return Ok((value.to_owned(), true));
        }
        let (name, default) = match body.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (body, None),
        };
        let valid = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            return Err((
                format!("\"${{{body}}}\" is not a valid variable reference"),
                Some("write ${VAR}, ${VAR:-default} or ${file:PATH}".into()),
            ));
        }
        match (self.get(name), default) {
            (Some(v), Some(d)) if v.is_empty() => Ok((d.to_owned(), false)),
            (Some(v), None) if v.is_empty() => Err((
                format!("environment variable \"{name}\" is set but empty"),
                Some(format!(
                    "give it a value, or write ${{{name}:-}} if an empty value is meant"
                )),
            )),
            (Some(v), _) => Ok((v, true)),
            (None, Some(d)) => Ok((d.to_owned(), false)),
            (None, None) => Err((
                format!("environment variable \"{name}\" is not set"),
                Some(format!(
                    "set it, or give a default with ${{{name}:-default}}"
                )),
            )),
        }
    }
}
