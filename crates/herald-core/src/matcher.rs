//! Matchers: the values a route's `match` block compares an alert's fields and tags against,
//! and the explanation of why one did not match (for `herald route`).
//!
//! Syntax of one value (documented in the README):
//!
//! | written       | matches when the alert's value...                      |
//! |---------------|--------------------------------------------------------|
//! | `payments`    | equals `payments`                                      |
//! | `!payments`   | is not `payments` (or is missing)                      |
//! | `~^pay-.*`    | matches the regex, anchored at both ends               |
//! | `!~^pay-.*`   | does not match the regex (or is missing)               |
//! | `*`           | is present, whatever it is                             |
//! | `!*`          | is missing                                             |
//! | `=!odd`       | equals `!odd` literally (`=` escapes the prefixes)     |
//! | `>=error`     | (level only) is at least `error`; also `>`, `<=`, `<` |
//!
//! A list means any of its positive items, and none of its negated ones: `[a, b]` is a or b,
//! `[!a, !b]` is neither a nor b.
//!
//! A level is written exactly: `debug`, `info`, `warning` (or `warn`), `error`, `fatal`, in
//! lowercase, with no space after a comparison. Anything else is refused with the spelling that
//! was probably meant (`=>error` is `>=error`), since a condition that can never match passes
//! silently otherwise; `critical` gets its own hint, as Sentry's critical metric alerts are
//! `error`. A literal value with `*` or `?` (`payments-*`) is allowed, but the config warns and
//! names the regex ([`glob_lookalike`]).

use std::cmp::Ordering;
use std::fmt;

use regex::Regex;

use crate::alert::{Alert, Field, Level};
use crate::config::diag::{Diagnostics, closest};
use crate::config::node::{Node, Value};

#[derive(Clone, Debug)]
enum Pattern {
    Exact(String),
    Regex(Regex),
    Present,
    /// Level comparison: the alert's level compared to this one must be one of `ok`.
    Level {
        op: &'static str,
        level: Level,
    },
}

#[derive(Clone, Debug)]
struct Term {
    negated: bool,
    pattern: Pattern,
}

/// What went wrong reading a matcher value; the caller adds the location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatcherError {
    pub message: String,
    pub hint: Option<String>,
}

/// One key's condition: any positive term, and no negated one.
#[derive(Clone, Debug)]
pub struct ValueMatcher {
    terms: Vec<Term>,
    written: Vec<String>,
}

impl ValueMatcher {
    /// Parses the written values; `is_level` allows comparisons and checks level names.
    pub fn parse(items: &[String], is_level: bool) -> Result<ValueMatcher, MatcherError> {
        let mut terms = Vec::with_capacity(items.len());
        for item in items {
            terms.push(parse_term(item, is_level)?);
        }
        Ok(ValueMatcher {
            terms,
            written: items.to_vec(),
        })
    }

    /// Whether the value (`None` when the alert lacks it) satisfies this matcher.
    pub fn matches(&self, value: Option<&str>) -> bool {
        let mut any_positive = false;
        let mut positive_hit = false;
        for term in &self.terms {
            let hit = term.pattern.hits(value);
            if term.negated {
                if hit {
                    return false;
                }
            } else {
                any_positive = true;
                positive_hit |= hit;
            }
        }
        !any_positive || positive_hit
    }

    /// The condition as written, for explanations: `payments-api or payments-worker`.
    pub fn describe(&self) -> String {
        self.written.join(" or ")
    }
}

impl fmt::Display for ValueMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.written.len() == 1 {
            write!(f, "{}", self.written[0])
        } else {
            write!(f, "[{}]", self.written.join(", "))
        }
    }
}

impl Pattern {
    fn hits(&self, value: Option<&str>) -> bool {
        match (self, value) {
            (Pattern::Present, v) => v.is_some(),
            (_, None) => false,
            (Pattern::Exact(want), Some(v)) => want == v,
            (Pattern::Regex(re), Some(v)) => re.is_match(v),
            (Pattern::Level { op, level }, Some(v)) => match v.parse::<Level>() {
                Ok(have) => {
                    let ord = have.cmp(level);
                    match *op {
                        ">=" => ord != Ordering::Less,
                        ">" => ord == Ordering::Greater,
                        "<=" => ord != Ordering::Greater,
                        "<" => ord == Ordering::Less,
                        _ => ord == Ordering::Equal,
                    }
                }
                Err(_) => false,
            },
        }
    }
}

fn parse_term(item: &str, is_level: bool) -> Result<Term, MatcherError> {
    let (negated, rest) = match item.strip_prefix('!') {
        Some(r) => (true, r),
        None => (false, item),
    };
    if rest == "*" {
        return Ok(Term {
            negated,
            pattern: Pattern::Present,
        });
    }
    if let Some(re) = rest.strip_prefix('~') {
        let anchored = format!("^(?:{re})$");
        return match Regex::new(&anchored) {
            Ok(r) => Ok(Term {
                negated,
                pattern: Pattern::Regex(r),
            }),
            Err(e) => Err(MatcherError {
                message: format!("bad regex \"{re}\": {}", first_line(&e.to_string())),
                hint: Some("regexes use Rust's regex syntax and must match the whole value".into()),
            }),
        };
    }
    if is_level {
        return level_term(item, negated, rest);
    }
    if let Some(lit) = rest.strip_prefix('=') {
        return Ok(Term {
            negated,
            pattern: Pattern::Exact(lit.to_owned()),
        });
    }
    Ok(Term {
        negated,
        pattern: Pattern::Exact(rest.to_owned()),
    })
}

/// The level names a config may write: the five levels, lowercase, and `warn`, the name
/// Sentry's SDKs and Python's logging use for `warning`. Payloads are read more leniently
/// (`Level`'s `FromStr`); a config is not, so that one spelling means one thing.
pub const LEVEL_NAMES: &str = "debug, info, warning (or warn), error, fatal";

/// The comparisons a level condition may start with, longest first.
const LEVEL_OPS: [&str; 4] = [">=", "<=", ">", "<"];

fn config_level(name: &str) -> Option<Level> {
    match name {
        "debug" => Some(Level::Debug),
        "info" => Some(Level::Info),
        "warning" | "warn" => Some(Level::Warning),
        "error" => Some(Level::Error),
        "fatal" => Some(Level::Fatal),
        _ => None,
    }
}

/// A `level:` item after its `!`: `*` and `~regex` are handled before; what is left is a level
/// name, `=name`, or a comparison and a name, all written exactly.
fn level_term(item: &str, negated: bool, rest: &str) -> Result<Term, MatcherError> {
    let (op, name) = match rest.strip_prefix('=') {
        Some(lit) => ("==", lit),
        None => LEVEL_OPS
            .iter()
            .find_map(|op| rest.strip_prefix(op).map(|n| (*op, n)))
            .unwrap_or(("==", rest)),
    };
    match config_level(name) {
        Some(level) => Ok(Term {
            negated,
            pattern: Pattern::Level { op, level },
        }),
        None => Err(bad_level(item, negated, rest)),
    }
}

/// Why a level item was refused, and the spelling that was probably meant.
fn bad_level(item: &str, negated: bool, rest: &str) -> MatcherError {
    let not = if negated { "!" } else { "" };
    let tail = format!("levels are {LEVEL_NAMES}; a threshold is written \">=error\"");
    // Spaces go first, so `=> error` is told about both of its mistakes at once.
    let squeezed: String = rest.chars().filter(|c| !c.is_whitespace()).collect();
    let mut reasons = Vec::new();
    if squeezed != rest {
        reasons.push("a level has no spaces".to_owned());
    }
    let (op, name) = if let Some(n) = squeezed.strip_prefix("=>") {
        reasons.push("\"=>\" is not a comparison".to_owned());
        (">=", n)
    } else if let Some(n) = squeezed.strip_prefix("=<") {
        reasons.push("\"=<\" is not a comparison".to_owned());
        ("<=", n)
    } else if let Some(n) = squeezed.strip_prefix("==") {
        reasons
            .push("\"==\" is not a comparison: a bare level means exactly that level".to_owned());
        ("", n)
    } else if let Some(n) = squeezed.strip_prefix('=') {
        ("=", n)
    } else {
        LEVEL_OPS
            .iter()
            .find_map(|op| squeezed.strip_prefix(op).map(|n| (*op, n)))
            .unwrap_or(("", squeezed.as_str()))
    };
    let message = match reasons.is_empty() {
        true => format!("bad level \"{item}\""),
        false => format!("bad level \"{item}\": {}", reasons.join(", and ")),
    };
    let lower = name.to_ascii_lowercase();
    let hint = if lower == "critical" {
        // Sentry's `critical` is a metric alert's action, which herald maps to `error`;
        // a config that took it for `fatal` would miss exactly the alerts it was written for.
        "Sentry's fatal is written \"fatal\"; critical metric alerts are mapped to error, so write \">=error\" to catch them".to_owned()
    } else if config_level(&lower).is_some() {
        let meant = format!("{not}{op}{lower}");
        if reasons.is_empty() {
            format!("write it in lowercase: \"{meant}\"")
        } else {
            format!("write \"{meant}\"")
        }
    } else {
        let names = ["debug", "info", "warning", "warn", "error", "fatal"];
        match closest(&lower, &names) {
            Some(c) => format!("did you mean \"{not}{op}{c}\"? ({tail})"),
            None => tail,
        }
    };
    MatcherError {
        message,
        hint: Some(hint),
    }
}

/// For a literal value with a glob's `*` or `?` (`payments-*`), the regex item that was
/// probably meant (`~^payments-.*`); `None` for anything else. Such a value is matched
/// literally, which is allowed (`=` makes it explicit), so this is a warning, not an error.
pub fn glob_lookalike(item: &str) -> Option<String> {
    let (not, rest) = match item.strip_prefix('!') {
        Some(r) => ("!", r),
        None => ("", item),
    };
    if rest == "*" || rest.starts_with('~') || rest.starts_with('=') {
        return None;
    }
    if !rest.contains(['*', '?']) {
        return None;
    }
    let mut regex = format!("{not}~^");
    for c in rest.chars() {
        match c {
            '*' => regex.push_str(".*"),
            '?' => regex.push('.'),
            '\\' | '.' | '+' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$' => {
                regex.push('\\');
                regex.push(c);
            }
            _ => regex.push(c),
        }
    }
    Some(regex)
}

fn first_line(s: &str) -> String {
    // The regex crate puts the useful sentence on the last non-empty line.
    s.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or(s)
        .trim_start_matches("error: ")
        .to_owned()
}

const MATCH_KEYS: &[&str] = &[
    "project",
    "level",
    "environment",
    "release",
    "resource",
    "action",
    "tags",
];

/// What a condition looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MatchKey {
    Field(Field),
    Tag(String),
}

impl MatchKey {
    pub(crate) fn label(&self) -> String {
        match self {
            MatchKey::Field(f) => f.name().to_owned(),
            MatchKey::Tag(t) => format!("tag {t}"),
        }
    }

    pub(crate) fn value<'a>(&self, alert: &'a Alert) -> Option<&'a str> {
        match self {
            MatchKey::Field(f) => alert.field(*f),
            MatchKey::Tag(t) => alert.tags.get(t),
        }
    }
}

pub(crate) fn parse_match(
    node: &Node,
    route: &str,
    diag: &mut Diagnostics,
) -> Vec<(MatchKey, ValueMatcher)> {
    let Some(entries) = node.as_map() else {
        if node.value != Value::Null {
            diag.error(
                node,
                format!("match of route \"{route}\" must be a mapping"),
                Some(format!("match keys: {}", MATCH_KEYS.join(", "))),
            );
        }
        return vec![];
    };
    diag.unknown_keys(node, MATCH_KEYS, "match key");
    let mut out = Vec::new();
    for (key, value) in entries {
        let key_name = key.scalar_text().unwrap_or_default();
        let field = match key_name.as_str() {
            "project" => Field::Project,
            "level" => Field::Level,
            "environment" => Field::Environment,
            "release" => Field::Release,
            "resource" => Field::Resource,
            "action" => Field::Action,
            "tags" => {
                let Some(tags) = value.as_map() else {
                    diag.error(
                        value,
                        format!("tags of route \"{route}\" must be a mapping of tag to value"),
                        Some("for example `tags: { team: payments }`".into()),
                    );
                    continue;
                };
                for (tk, tv) in tags {
                    let Some(tag) = tk.scalar_text() else {
                        diag.error(tk, "a tag name must be text", None);
                        continue;
                    };
                    if let Some(m) = parse_values(tv, false, route, diag) {
                        out.push((MatchKey::Tag(tag), m));
                    }
                }
                continue;
            }
            _ => continue, // already reported as unknown
        };
        if let Some(m) = parse_values(value, field == Field::Level, route, diag) {
            out.push((MatchKey::Field(field), m));
        }
    }
    out
}

fn parse_values(
    node: &Node,
    is_level: bool,
    route: &str,
    diag: &mut Diagnostics,
) -> Option<ValueMatcher> {
    let items: Vec<&Node> = match &node.value {
        Value::Seq(items) if !items.is_empty() => items.iter().collect(),
        Value::Seq(_) => {
            diag.error(
                node,
                format!("route \"{route}\": an empty list matches nothing"),
                Some("remove the key to match everything".into()),
            );
            return None;
        }
        Value::Map(_) | Value::Null => {
            diag.error(
                node,
                format!(
                    "route \"{route}\": a match value must be text or a list, found {}",
                    node.value.kind()
                ),
                Some(
                    "for example `project: api`, `level: \">=error\"` or `project: [api, web]`"
                        .into(),
                ),
            );
            return None;
        }
        _ => vec![node],
    };
    let mut texts = Vec::with_capacity(items.len());
    let mut ok = true;
    for item in &items {
        match item.scalar_text() {
            Some(t) => {
                if let Err(e) = ValueMatcher::parse(std::slice::from_ref(&t), is_level) {
                    diag.error(item, format!("route \"{route}\": {}", e.message), e.hint);
                    ok = false;
                } else if let Some(regex) = glob_lookalike(&t) {
                    // Meant literally, it works; meant as a glob, it never matches. Only
                    // the author knows, so warn and name both spellings.
                    diag.warning(
                        item,
                        format!(
                            "route \"{route}\": \"{t}\" is matched literally: * and ? are not wildcards here"
                        ),
                        Some(format!(
                            "for a pattern write {}; write \"{}\" to mean it literally",
                            yaml_quoted(&regex),
                            match t.strip_prefix('!') {
                                Some(rest) => format!("!={rest}"),
                                None => format!("={t}"),
                            }
                        )),
                    );
                }
                texts.push(t);
            }
            None => {
                diag.error(
                    item,
                    format!(
                        "route \"{route}\": a match value must be text, found {}",
                        item.value.kind()
                    ),
                    None,
                );
                ok = false;
            }
        }
    }
    if !ok {
        return None;
    }
    ValueMatcher::parse(&texts, is_level).ok()
}

/// A value as it must be written in YAML: in double quotes, or in single quotes when it has
/// a backslash, which double quotes would take for an escape.
fn yaml_quoted(value: &str) -> String {
    if value.contains('\\') {
        format!("'{value}'")
    } else {
        format!("\"{value}\"")
    }
}

#[cfg(test)]
mod tests;
