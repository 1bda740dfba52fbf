//! Silences: an operator's matchers and a time span during which matching alerts are recorded
//! as silenced instead of sent.

use jiff::Timestamp;

use crate::alert::Alert;
use crate::config::diag::Diagnostics;
use crate::matcher::{MatchKey, ValueMatcher, parse_match};

/// A silence: alerts matching every matcher between `starts_at` and `ends_at` are recorded as
/// silenced instead of sent.
#[derive(Clone, Debug)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<(MatchKey, ValueMatcher)>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
}

impl Silence {
    /// Whether it applies to this alert at `now`; it stops applying at `ends_at` exactly.
    pub fn silences(&self, alert: &Alert, now: Timestamp) -> bool {
        self.starts_at <= now
            && now < self.ends_at
            && self.matchers.iter().all(|(k, m)| m.matches(k.value(alert)))
    }
}

/// Reads silence matchers written as a route's `match:` (a JSON object such as
/// `{"project": "api", "level": ">=error", "tags": {"team": "web"}}`). The error lists every
/// problem.
pub fn parse_matchers(json: &serde_json::Value) -> Result<Vec<(MatchKey, ValueMatcher)>, String> {
    if json.as_object().is_none_or(|o| o.is_empty()) {
        return Err(format!(
            "matchers must be a non-empty object like a route's match, found {json}; for example {{\"project\": \"api\"}}"
        ));
    }
    let node = crate::config::node::parse(&json.to_string()).map_err(|e| e.to_string())?;
    let mut diag = Diagnostics::new("matchers");
    let matchers = parse_match(&node, "silence", &mut diag);
    let errors = diag.into_result(()).map_err(|e| {
        e.errors
            .iter()
            .map(|e| match &e.hint {
                Some(h) => format!("{} ({h})", e.message),
                None => e.message.clone(),
            })
            .collect::<Vec<_>>()
            .join("; ")
    });
    errors.map(|_| matchers)
}
