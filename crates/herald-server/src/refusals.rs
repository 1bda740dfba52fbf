//! The log of refused webhooks, rate limited: one line per (source, reason) per interval, with
//! the number of refusals folded into it. A wrong client secret, a scanner or a retry storm
//! refuses every request the same way; a line per request would bury the rest of the log (and
//! cost a write per request to whoever attacks), while no line at all would hide that alerts
//! are being lost. The first refusal of a quiet (source, reason) is logged at once, so a
//! misconfiguration shows as soon as it happens; the ones after it in the same interval are
//! counted and told in one line when the interval ends ([`RefusalLog::due`], which a task of
//! [`crate::serve`] calls every few seconds and once more at shutdown).
//!
//! Keys are bounded: the source is a configured name or `unknown`, the reason one of the
//! fixed refusal codes (the server's and those its source kind declares), and a detail (why
//! authentication failed) a fixed word, never the caller's text.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// How long refusals of one (source, reason) are gathered into one line.
pub const INTERVAL: Duration = Duration::from_secs(60);

/// How often the server asks for the lines of intervals that ended.
pub(crate) const TICK: Duration = Duration::from_secs(5);

/// Refusals per (source, reason), and when each one's interval began.
#[derive(Debug)]
pub struct RefusalLog {
    interval: Duration,
    /// By source, then reason.
    windows: Mutex<HashMap<String, HashMap<&'static str, Window>>>,
}

#[derive(Debug)]
struct Window {
    /// When the current interval began: the last line logged for this key.
    opened: Instant,
    /// Refusals since that line, not told yet.
    untold: u64,
    /// The last untold refusal's detail.
    detail: Option<&'static str>,
}

/// One line to log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub source: String,
    pub reason: &'static str,
    /// Refusals this line tells of.
    pub count: u64,
    /// The time they came in over; zero for a first refusal told at once.
    pub over: Duration,
    /// Why, in a fixed word, when the handler said (`wrong signature`, `stale timestamp`).
    pub detail: Option<&'static str>,
}

impl Line {
    /// Writes the line to the log, at `warn`: each refusal is a webhook that did not get in.
    pub fn log(&self) {
        // An absent detail records no field at all.
        let detail = self.detail;
        if self.count == 1 && self.over.is_zero() {
            tracing::warn!(source = %self.source, reason = self.reason, detail, count = 1, "webhook refused: {}", self.reason);
        } else {
            tracing::warn!(
                source = %self.source,
                reason = self.reason,
                detail,
                count = self.count,
                "webhook refused {} time{} in the last {} s: {}",
                self.count,
                if self.count == 1 { "" } else { "s" },
                self.over.as_secs().max(1),
                self.reason
            );
        }
    }
}

impl Default for RefusalLog {
    fn default() -> Self {
        RefusalLog::new(INTERVAL)
    }
}

impl RefusalLog {
    pub fn new(interval: Duration) -> RefusalLog {
        RefusalLog {
            interval,
            windows: Mutex::default(),
        }
    }

    /// One refusal of `source` for `reason` at `now`: the line to log at once when it is the
    /// first of an interval (with any untold ones of an interval that ended folded in), else
    /// `None` and it is counted for the interval's line.
    pub fn refused(
        &self,
        source: &str,
        reason: &'static str,
        detail: Option<&'static str>,
        now: Instant,
    ) -> Option<Line> {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let line = |count, over| Line {
            source: source.to_owned(),
            reason,
            count,
            over,
            detail,
        };
        // Looked up by reference first: the common case (a key seen before) allocates nothing.
        let Some(window) = windows.get_mut(source).and_then(|by| by.get_mut(reason)) else {
            windows.entry(source.to_owned()).or_default().insert(
                reason,
                Window {
                    opened: now,
                    untold: 0,
                    detail: None,
                },
            );
            return Some(line(1, Duration::ZERO));
        };
        if now < window.opened + self.interval {
            window.untold += 1;
            window.detail = detail.or(window.detail);
            return None;
        }
        let (count, over) = match window.untold {
            0 => (1, Duration::ZERO),
            untold => (untold + 1, now - window.opened),
        };
        *window = Window {
            opened: now,
            untold: 0,
            detail: None,
        };
        Some(line(count, over))
    }

    /// The lines of intervals that have ended with refusals not told yet (with `all`, of every
    /// interval, for a shutdown). Keys quiet for a whole interval are forgotten, so their next
    /// refusal is logged at once again.
    pub fn due(&self, now: Instant, all: bool) -> Vec<Line> {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let mut lines = Vec::new();
        let interval = self.interval;
        for (source, by_reason) in windows.iter_mut() {
            by_reason.retain(|reason, w| {
                let ended = now >= w.opened + interval;
                if w.untold > 0 && (ended || all) {
                    lines.push(Line {
                        source: source.clone(),
                        reason,
                        count: w.untold,
                        over: now - w.opened,
                        detail: w.detail,
                    });
                    *w = Window {
                        opened: now,
                        untold: 0,
                        detail: None,
                    };
                    return true;
                }
                !ended
            });
        }
        windows.retain(|_, by_reason| !by_reason.is_empty());
        lines.sort_by(|a, b| (&a.source, a.reason).cmp(&(&b.source, b.reason)));
        lines
    }
}

#[cfg(test)]
mod tests;
