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

use std::cmp::Ordering;
use std::fmt;

use regex::Regex;

use crate::alert::Level;

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
    if let Some(lit) = rest.strip_prefix('=') {
        return Ok(Term {
            negated,
            pattern: Pattern::Exact(lit.to_owned()),
        });
    }
    if is_level {
        let (op, name) = [">=", "<=", ">", "<"]
            .iter()
            .find_map(|op| rest.strip_prefix(op).map(|n| (*op, n)))
            .unwrap_or(("==", rest));
        let level = name.trim().parse::<Level>().map_err(|_| MatcherError {
            message: format!("bad level \"{item}\""),
            hint: Some(
                "levels are debug, info, warning, error, fatal; a threshold is written \">=error\""
                    .into(),
            ),
        })?;
        return Ok(Term {
            negated,
            pattern: Pattern::Level { op, level },
        });
    }
    Ok(Term {
        negated,
        pattern: Pattern::Exact(rest.to_owned()),
    })
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

#[cfg(test)]
mod tests;
