//! The fields-and-tags part of a built-in message, which chat sinks show the same way: the
//! alert's detail fields in one order with their labels, and the first few tags not already
//! shown as a field, each value written with the sink's own escaping.

use crate::alert::Alert;

/// At most this many tags are shown; the first ones the source gave are the ones that matter.
pub const MAX_TAGS: usize = 5;

/// Tags a message already shows as fields of their own.
pub const SHOWN_ELSEWHERE: &[&str] = &["level", "environment", "release", "project"];

/// The detail fields an alert has, in the order messages show them, with their labels:
/// project, environment, release, culprit.
pub fn details(alert: &Alert) -> Vec<(&'static str, &str)> {
    [
        ("Project", &alert.project),
        ("Environment", &alert.environment),
        ("Release", &alert.release),
        ("Culprit", &alert.culprit),
    ]
    .into_iter()
    .filter_map(|(label, v)| Some((label, v.as_deref()?)))
    .collect()
}

/// `key=value, key=value` for the first [`MAX_TAGS`] tags not in [`SHOWN_ELSEWHERE`], each
/// key and value through `value`; `None` when there are none.
pub fn tag_list(alert: &Alert, value: impl Fn(&str) -> String) -> Option<String> {
    let tags: Vec<String> = alert
        .tags
        .iter()
        .filter(|(k, _)| !SHOWN_ELSEWHERE.contains(k))
        .take(MAX_TAGS)
        .map(|(k, v)| format!("{}={}", value(k), value(v)))
        .collect();
    (!tags.is_empty()).then(|| tags.join(", "))
}

#[cfg(test)]
mod tests;
