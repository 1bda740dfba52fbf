//! The decision for one delivery: silenced, muted, a duplicate, part of a digest, over the
//! throttle, or sent, with the state to store; and `explain`, the same read aloud.

use std::time::Duration;

use jiff::Timestamp;

use super::policy::NoisePolicy;
use super::silence::Silence;
use crate::alert::{Alert, Level};

/// Why a delivery was held back rather than sent on its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Silenced {
        silence: String,
    },
    Muted {
        interval: String,
    },
    Duplicate,
    /// Waits in a digest, to be listed in the lead delivery's message.
    Digest,
    /// Over the throttle, to be counted in the carrier's message.
    Throttled,
    /// Over the sink's flood guard, to be named or counted in its summary.
    Flooded,
}

impl Outcome {
    /// The stored name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Silenced { .. } => "silenced",
            Outcome::Muted { .. } => "muted",
            Outcome::Duplicate => "duplicate",
            Outcome::Digest => "digest",
            Outcome::Throttled => "throttled",
            Outcome::Flooded => "flooded",
        }
    }
}

/// What to do with one delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send now; `folded` counts earlier duplicates the message should mention. Alerts that
    /// joined this delivery (digest members, throttled ones) are added by the caller.
    Send { folded: u64 },
    /// Wait until `until`, as the lead of a digest or the carrier of throttled alerts; others
    /// join it meanwhile.
    Hold { until: Timestamp, reason: String },
    /// Do not send on its own: it is listed or counted in `lead`'s message.
    Join {
        lead: String,
        outcome: Outcome,
        reason: String,
    },
    /// Not sent; recorded with the reason.
    Suppress { outcome: Outcome, reason: String },
}

/// The dedup entry of one (route, sink, issue and action).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DedupEntry {
    pub expires_at: Option<Timestamp>,
    /// Duplicates suppressed since the last send.
    pub suppressed: u64,
}

/// The throttle window of one (route, sink).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Window {
    pub start: Option<Timestamp>,
    pub sent: u32,
    /// The held delivery that throttled ones fold into.
    pub carrier: Option<String>,
}

/// The digest buffer of one (route, sink, group).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Group {
    /// The held delivery whose message lists the group.
    pub lead: Option<String>,
    pub release_at: Option<Timestamp>,
    pub last_sent_at: Option<Timestamp>,
}

/// The stored state a decision reads and writes back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GateState {
    pub dedup: DedupEntry,
    pub window: Window,
    pub group: Group,
    /// The sink's flood-guard window, shared by all its routes.
    pub flood: Window,
}

/// The action an alert's dedup entry is kept under: a later event of an issue (`event`, from
/// a source that groups events itself) shares the entry of the issue's first (`created`), so
/// a dedup window covers an issue's first event and its repeats alike. Every other action
/// (webhooks: `resolved` after `created`, say) is its own.
fn dedup_action(action: &str) -> &str {
    if action == "event" { "created" } else { action }
}

/// The state keys of an alert under a policy: which dedup entry and digest group it uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GateKeys {
    /// `issue_id:action`, when dedup is on and the alert has an issue (`event` counted as
    /// `created`: an issue's later events share the entry of its first).
    pub dedup: Option<String>,
    /// `project=api|tags.team=web`, when grouping is on.
    pub group: Option<String>,
}

impl GateKeys {
    pub fn of(policy: Option<&NoisePolicy>, alert: &Alert) -> GateKeys {
        let Some(policy) = policy else {
            return GateKeys::default();
        };
        GateKeys {
            dedup: policy
                .dedup
                .and(alert.issue_id.as_deref())
                .map(|issue| format!("{issue}:{}", dedup_action(&alert.action))),
            group: policy.group.as_ref().map(|g| {
                g.by.iter()
                    .map(|by| format!("{}={}", by.label(), by.value(alert).unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join("|")
            }),
        }
    }
}

/// One decision's inputs.
#[derive(Clone, Copy, Debug)]
pub struct Gate<'a> {
    pub delivery: &'a str,
    pub alert: &'a Alert,
    pub now: Timestamp,
    pub policy: Option<&'a NoisePolicy>,
    pub silences: &'a [Silence],
}

/// How long past its due time a held lead or carrier may still be waiting for the dispatcher
/// before it counts as gone (made dead by a reload that removed its sink, say): later alerts
/// then start afresh instead of joining a message that will never be sent.
pub const STALE_AFTER: Duration = Duration::from_secs(3600);

fn plus(at: Timestamp, d: Duration) -> Timestamp {
    at.checked_add(d).unwrap_or(Timestamp::MAX)
}

/// Decides one delivery and returns the state to store with it.
pub fn decide(gate: &Gate<'_>, state: &GateState) -> (Verdict, GateState) {
    let now = gate.now;
    let mut state = state.clone();
    if state
        .group
        .release_at
        .is_some_and(|at| plus(at, STALE_AFTER) < now)
    {
        state.group.lead = None;
        state.group.release_at = None;
    }
    if let (Some(start), Some(t)) = (state.window.start, gate.policy.and_then(|p| p.throttle))
        && plus(plus(start, t.per), STALE_AFTER) < now
    {
        state.window.carrier = None;
    }
    let state = &state;
    let mut next = state.clone();
    if let Some(s) = gate.silences.iter().find(|s| s.silences(gate.alert, now)) {
        let verdict = Verdict::Suppress {
            outcome: Outcome::Silenced {
                silence: s.id.clone(),
            },
            reason: format!("silenced by {} until {}", s.id, s.ends_at),
        };
        return (verdict, next);
    }
    let Some(policy) = gate.policy else {
        return (Verdict::Send { folded: 0 }, next);
    };
    if let Some(muted) = quiet(policy, gate.alert, now) {
        return (muted, next);
    }
    let is_lead = state.group.lead.as_deref() == Some(gate.delivery);
    let is_carrier = state.window.carrier.as_deref() == Some(gate.delivery);
    let mut folded = 0;
    if let Some(window) = policy.dedup.filter(|_| !is_lead && !is_carrier) {
        if state.dedup.expires_at.is_some_and(|at| now < at) {
            next.dedup.suppressed += 1;
            let verdict = Verdict::Suppress {
                outcome: Outcome::Duplicate,
                reason: format!(
                    "same issue and action already sent within dedup_seconds {}",
                    window.as_secs()
                ),
            };
            return (verdict, next);
        }
        // Duplicates suppressed in the last window are mentioned by this next message.
        folded = state.dedup.suppressed;
        next.dedup = DedupEntry {
            expires_at: Some(plus(now, window)),
            suppressed: 0,
        };
    }
    if let Some(group) = &policy.group {
        if is_lead {
            next.group = Group {
                lead: None,
                release_at: None,
                last_sent_at: Some(now),
            };
            // A digest is already one message per group_interval: the throttle does not
            // hold it again.
            return (Verdict::Send { folded }, next);
        }
        if let Some(lead) = &state.group.lead {
            let verdict = Verdict::Join {
                lead: lead.clone(),
                outcome: Outcome::Digest,
                reason: format!("gathered into the digest of group {lead}"),
            };
            return (verdict, next);
        }
        let mut release = plus(now, group.wait);
        if let Some(last) = state.group.last_sent_at {
            release = release.max(plus(last, group.interval));
        }
        if release > now {
            next.group = Group {
                lead: Some(gate.delivery.to_owned()),
                release_at: Some(release),
                last_sent_at: state.group.last_sent_at,
            };
            let verdict = Verdict::Hold {
                until: release,
                reason: format!(
                    "gathering a digest (group_wait_seconds {}, group_interval_seconds {})",
                    group.wait.as_secs(),
                    group.interval.as_secs()
                ),
            };
            return (verdict, next);
        }
        next.group.last_sent_at = Some(now);
        return (Verdict::Send { folded }, next);
    }
    if let Some(throttle) = policy.throttle {
        let start = state
            .window
            .start
            .filter(|start| now < plus(*start, throttle.per));
        if start.is_none() {
            next.window.start = Some(now);
            next.window.sent = 0;
        }
        let start = start.unwrap_or(now);
        if is_carrier {
            next.window.carrier = None;
        } else if next.window.sent >= throttle.max {
            let verdict = match &state.window.carrier {
                Some(carrier) => Verdict::Join {
                    lead: carrier.clone(),
                    outcome: Outcome::Throttled,
                    reason: format!(
                        "over the throttle of {} per {}s; counted in the next message",
                        throttle.max,
                        throttle.per.as_secs()
                    ),
                },
                None => {
                    next.window.carrier = Some(gate.delivery.to_owned());
                    Verdict::Hold {
                        until: plus(start, throttle.per),
                        reason: format!(
                            "over the throttle of {} per {}s; sent when the window ends, with the count of what it held back",
                            throttle.max,
                            throttle.per.as_secs()
                        ),
                    }
                }
            };
            return (verdict, next);
        }
        next.window.sent += 1;
    }
    (Verdict::Send { folded }, next)
}

/// `Some(suppress)` when quiet hours hold the alert back.
fn quiet(policy: &NoisePolicy, alert: &Alert, now: Timestamp) -> Option<Verdict> {
    let level = alert.level.map(Level::as_str);
    if policy
        .let_through
        .as_ref()
        .is_some_and(|m| m.matches(level))
    {
        return None;
    }
    if let Some(i) = policy.muted_during.iter().find(|i| i.contains(now)) {
        return Some(Verdict::Suppress {
            outcome: Outcome::Muted {
                interval: i.name.clone(),
            },
            reason: format!("muted during \"{}\"", i.name),
        });
    }
    if !policy.active_during.is_empty() && !policy.active_during.iter().any(|i| i.contains(now)) {
        let names: Vec<&str> = policy
            .active_during
            .iter()
            .map(|i| i.name.as_str())
            .collect();
        return Some(Verdict::Suppress {
            outcome: Outcome::Muted {
                interval: names.join(","),
            },
            reason: format!("outside active_during {}", names.join(", ")),
        });
    }
    None
}

/// A plain-text account of what the policy would do with an alert at `now`, for
/// `herald route`; the stored state (dedup, throttle, digests) is described, not read.
pub fn explain(policy: &NoisePolicy, alert: &Alert, now: Timestamp) -> Vec<String> {
    let mut out = Vec::new();
    match quiet(policy, alert, now) {
        Some(Verdict::Suppress { reason, .. }) => out.push(format!("held back now: {reason}")),
        _ if !policy.muted_during.is_empty() || !policy.active_during.is_empty() => {
            out.push("quiet hours: not muted at this time".to_owned());
        }
        _ => {}
    }
    if let Some(d) = policy.dedup {
        match alert.issue_id.as_deref() {
            Some(issue) => out.push(format!(
                "dedup: issue {issue} with action {} is sent once per {}s per sink",
                alert.action,
                d.as_secs()
            )),
            None => {
                out.push("dedup: the alert has no issue id, so it is never a duplicate".to_owned())
            }
        }
    }
    if let Some(g) = &policy.group {
        let keys = GateKeys::of(Some(policy), alert);
        out.push(format!(
            "digest: grouped as \"{}\"; the first alert of a group waits {}s for others, then at most one digest per {}s",
            keys.group.unwrap_or_default(),
            g.wait.as_secs(),
            g.interval.as_secs()
        ));
    } else if let Some(t) = policy.throttle {
        out.push(format!(
            "throttle: at most {} messages per {}s per sink; the rest are counted in the next message",
            t.max,
            t.per.as_secs()
        ));
    }
    out
}
