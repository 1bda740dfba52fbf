//! `${VAR}`, `${VAR:-default}` and `${file:PATH}` in config strings, replaced before any
//! check runs. A variable that is not set (and has no default) is an error at its location;
//! the node remembers the text as written so that messages never show the value.

use std::collections::HashMap;

use super::Diagnostics;
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
                match self.expand(&written) {
                    Ok(expanded) => {
                        if expanded != written {
                            node.value = Value::Str(expanded);
                            node.written = Some(written);
                        }
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
            out.push_str(&self.resolve(body)?);
            rest = &body_start[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn resolve(&self, body: &str) -> Result<String, (String, Option<String>)> {
        if let Some(path) = body.strip_prefix("file:") {
            return std::fs::read_to_string(path)
                .map(|s| s.trim_end_matches(['\n', '\r']).to_owned())
                .map_err(|e| {
                    (
                        format!("cannot read secret file \"{path}\": {e}"),
                        Some("the path is relative to herald's working directory".into()),
                    )
                });
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
            (Some(v), Some(d)) if v.is_empty() => Ok(d.to_owned()),
            (Some(v), _) => Ok(v),
            (None, Some(d)) => Ok(d.to_owned()),
            (None, None) => Err((
                format!("environment variable \"{name}\" is not set"),
                Some(format!(
                    "set it, or give a default with ${{{name}:-default}}"
                )),
            )),
        }
    }
}
