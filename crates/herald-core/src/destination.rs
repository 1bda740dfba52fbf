//! Destinations that alert data may choose, and the operator's list of the values it may take.
//!
//! A sink's destination key (a chat channel, a recipient id) may be a template such as
//! `"#alerts-{{ tags.team }}"`. Tags are written by whoever can make an SDK send an event (a
//! public browser DSN is enough), so a templated destination would let them post wherever the
//! sink's credentials reach. [`AllowedDestinations`] is the rule beside such a key: `allowed`
//! lists the values it may render to (exact values, or `~regex` anchored at both ends as in
//! route matchers), and `fallback` names the fixed destination for anything else. Without
//! `fallback` a value that is not allowed is refused, and the delivery is dead with the reason.
//! A templated key without `allowed` is a config error; a fixed one needs neither.

use crate::config::{Diagnostics, Node};
use crate::matcher::ValueMatcher;

/// How much of a rendered value messages and logs quote.
const SHOWN_CHARS: usize = 60;

/// Whether a config value is a template (`{{ ... }}` or `{% ... %}`), that is, whether alert
/// data can change what it renders to.
pub fn is_template(value: &str) -> bool {
    value.contains("{{") || value.contains("{%")
}

/// An untrusted value for a message or a log line: cut to a few dozen characters and quoted
/// with every control, bidirectional and invisible character escaped (`"a\u{202e}b"`), so it
/// can neither forge a line nor read differently from what it is.
pub fn shown(value: &str) -> String {
    let mut short: String = value.chars().take(SHOWN_CHARS).collect();
    if value.chars().nth(SHOWN_CHARS).is_some() {
        short.push('…');
    }
    format!("{short:?}")
}

/// Where a delivery goes once the rendered destination has been checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Chosen {
    /// The rendered value (trimmed): allowed, or the key is not a template.
    Rendered(String),
    /// The rendered value is not allowed; the delivery goes to the configured fallback.
    Fallback {
        /// The fallback destination.
        to: String,
        /// What the template rendered, untrusted: show it with [`shown`].
        refused: String,
    },
}

impl Chosen {
    /// The destination to send to.
    pub fn destination(&self) -> &str {
        match self {
            Chosen::Rendered(to) | Chosen::Fallback { to, .. } => to,
        }
    }
}

/// The rule for one destination key of one sink, checked when the config loads.
#[derive(Clone, Debug)]
pub struct AllowedDestinations {
    /// What the key names (`channel`, `recipient`), for messages.
    noun: &'static str,
    /// `None` when the key is a fixed value: whatever it renders to is the operator's own.
    allowed: Option<ValueMatcher>,
    fallback: Option<String>,
}

/// What a sink passes to [`AllowedDestinations::check`]: the key and the settings beside it.
#[derive(Clone, Copy, Debug)]
pub struct DestinationSettings<'a> {
    /// The destination key's name, e.g. `channel`.
    pub key: &'static str,
    /// What it names, for the reason a delivery is refused: `channel`, `recipient`.
    pub noun: &'static str,
    /// The key's value as configured (a template or a fixed value).
    pub value: &'a str,
    /// `allowed:` as configured.
    pub allowed: Option<&'a [String]>,
    /// `fallback:` as configured.
    pub fallback: Option<&'a str>,
    /// A fitting example of both settings for the hints, e.g.
    /// `allowed: ["#alerts-payments", "~#alerts-mobile-.*"], fallback: "#alerts-triage"`.
    pub example: &'a str,
}

impl AllowedDestinations {
    /// Checks the settings of one destination key, reporting every problem to `diag` at its
    /// key in `node` (the sink's mapping): a template without `allowed`, an empty list, an
    /// item that would allow anything (`*`, `!...`), a bad regex, a templated or empty
    /// `fallback`. `allowed` or `fallback` beside a fixed value only earn a warning. `None`
    /// when anything was wrong.
    pub fn check(
        settings: DestinationSettings<'_>,
        node: &Node,
        diag: &mut Diagnostics,
    ) -> Option<AllowedDestinations> {
        let DestinationSettings {
            key,
            noun,
            value,
            allowed,
            fallback,
            example,
        } = settings;
        let at = |name: &str| node.get(name).unwrap_or(node);
        if !is_template(value) {
            for (name, given) in [
                ("allowed", allowed.is_some()),
                ("fallback", fallback.is_some()),
            ] {
                if given {
                    diag.warning(
                        at(name),
                        format!("\"{name}\" has no effect: \"{key}\" is the fixed value \"{value}\""),
                        Some(format!(
                            "\"allowed\" and \"fallback\" only apply when \"{key}\" is a template that alert data fills in; remove \"{name}\""
                        )),
                    );
                }
            }
            return Some(AllowedDestinations {
                noun,
                allowed: None,
                fallback: None,
            });
        }
        let mut ok = true;
        if let Some(fallback) = fallback {
            if is_template(fallback) {
                ok = false;
                diag.error(
                    at("fallback"),
                    format!("\"fallback\" must be a fixed value, found \"{fallback}\""),
                    Some(format!(
                        "it is where alerts go when alert data chose a \"{key}\" that is not allowed, so alert data cannot choose it too"
                    )),
                );
            } else if fallback.trim().is_empty() {
                ok = false;
                diag.error(
                    at("fallback"),
                    "\"fallback\" is empty",
                    Some(format!("for example {example}")),
                );
            }
        }
        let Some(items) = allowed else {
            diag.error(
                at(key),
                format!(
                    "\"{key}\" is a template (\"{value}\"), so alert data chooses it, but the sink has no \"allowed\" list"
                ),
                Some(format!(
                    "anyone who can send an event could pick any destination the sink reaches; list the values it may take and where the rest go: {example}"
                )),
            );
            return None;
        };
        if items.is_empty() {
            diag.error(
                at("allowed"),
                format!("\"allowed\" is empty, so no value of \"{key}\" is ever allowed"),
                Some(format!(
                    "list the values \"{key}\" may take, e.g. {example}, or make \"{key}\" a fixed value"
                )),
            );
            return None;
        }
        let item_nodes = node.get("allowed").and_then(Node::as_seq).unwrap_or(&[]);
        for (i, item) in items.iter().enumerate() {
            let at = item_nodes.get(i).unwrap_or_else(|| at("allowed"));
            if item.trim() == "*" || item.starts_with('!') {
                ok = false;
                diag.error(
                    at,
                    format!("\"allowed\" takes exact values and ~regexes, found \"{item}\""),
                    Some(format!(
                        "\"*\" and \"!...\" would let alert data pick almost any destination; write the values, e.g. {example}"
                    )),
                );
                continue;
            }
            if let Err(e) = ValueMatcher::parse(std::slice::from_ref(item), false) {
                ok = false;
                diag.error(at, e.message, e.hint);
            }
        }
        if !ok {
            return None;
        }
        // Each item parsed alone above, so the list parses too; a list means "any of them".
        let matcher = ValueMatcher::parse(items, false).ok()?;
        Some(AllowedDestinations {
            noun,
            allowed: Some(matcher),
            fallback: fallback.map(|f| f.trim().to_owned()),
        })
    }

    /// Whether the key is a template that alert data fills in.
    pub fn is_templated(&self) -> bool {
        self.allowed.is_some()
    }

    /// Where a delivery goes for a rendered value (compared after trimming): the value when
    /// it is allowed (or the key is fixed), else the fallback. Without a fallback, the reason
    /// to refuse the delivery, quoting the value as [`shown`] does.
    pub fn choose(&self, rendered: &str) -> Result<Chosen, String> {
        let rendered = rendered.trim();
        let Some(allowed) = &self.allowed else {
            return Ok(Chosen::Rendered(rendered.to_owned()));
        };
        if allowed.matches(Some(rendered)) {
            return Ok(Chosen::Rendered(rendered.to_owned()));
        }
        match &self.fallback {
            Some(to) => Ok(Chosen::Fallback {
                to: to.clone(),
                refused: rendered.to_owned(),
            }),
            None => Err(format!(
                "alert data chose the {noun} {shown}, which is not in \"allowed\" and the sink has no \"fallback\"; add it to \"allowed\" if it is a real destination, or set \"fallback\"",
                noun = self.noun,
                shown = shown(rendered),
            )),
        }
    }
}

#[cfg(test)]
mod tests;
