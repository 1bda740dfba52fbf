//! The flood guard: at most so many messages per destination per minute, whatever the route,
//! the source or the noise settings, with the excess folded into one summary per window.
//!
//! Routes' own noise settings (dedup, throttles, digests) are opt-in, and a crash loop behind
//! a route without them posts one message per event: the complaint users have made of
//! Sentry's chat alerts for years. The guard is the safety net under them. It counts the
//! messages a sink sent in a fixed window of [`PER`]; past `max`, the first delivery over the
//! limit is held until the window ends (the summary's carrier) and every later one joins it
//! (recorded in `held_back` with the carrier's id), so the summary names each folded issue
//! and counts the rest. Nothing is dropped silently.
//!
//! [`admit`] is a pure decision over the stored window, like [`crate::noise::decide`], which
//! it follows: only a delivery that the route's own settings let through is counted.

use std::time::Duration;

use jiff::Timestamp;

use crate::noise::{Gate, GateState, Outcome, STALE_AFTER, Verdict, Window, decide};

pub use crate::noise::policy::{DEFAULT_MAX, Guard, PER};

/// The guard of one delivery: the route's `flood_guard`, else the sink's, else the sink
/// kind's default ([`DEFAULT_MAX`] a minute for sinks that reach people). `None`: off.
pub fn effective(
    route: Option<Guard>,
    sink: Option<Guard>,
    kind_default: Option<Guard>,
) -> Option<Guard> {
    route.or(sink).or(kind_default).filter(|g| g.max > 0)
}

/// [`decide`] under the delivery's sink's guard (`None`: no guard), returning the state to store, the guard's window (`GateState::flood`) included.
///
/// The summary's carrier, when its hold ends, is sent at once with what joined it: the
/// route's settings let it through when it was held, and it was counted then. Only a `Send`
/// is guarded; a digest's lead or a throttle's carrier is a summary already, so it passes,
/// though it counts.
pub fn decide_guarded(
    gate: &Gate<'_>,
    state: &GateState,
    guard: Option<Guard>,
) -> (Verdict, GateState) {
    let Some(guard) = guard else {
        return decide(gate, state);
    };
    if state.flood.carrier.as_deref() == Some(gate.delivery) {
        let mut next = state.clone();
        next.flood.carrier = None;
        return (Verdict::Send { folded: 0 }, next);
    }
    let summary = state.group.lead.as_deref() == Some(gate.delivery)
        || state.window.carrier.as_deref() == Some(gate.delivery);
    let (verdict, mut next) = decide(gate, state);
    let (verdict, flood) = admit(
        verdict,
        gate.delivery,
        &state.flood,
        guard,
        summary,
        gate.now,
    );
    next.flood = flood;
    (verdict, next)
}

/// The guard alone: whether a delivery the route's settings let through (`verdict`) may be
/// sent, and the window to store.
fn admit(
    verdict: Verdict,
    delivery: &str,
    window: &Window,
    guard: Guard,
    summary: bool,
    now: Timestamp,
) -> (Verdict, Window) {
    let mut next = window.clone();
    if next.carrier.is_some()
        && next
            .start
            .is_some_and(|start| plus(plus(start, guard.per), STALE_AFTER) < now)
    {
        // A carrier the dispatcher never came back for (its delivery deleted): forget it, so
        // the excess of a later window gets a summary of its own.
        next.carrier = None;
    }
    let Verdict::Send { folded } = verdict else {
        return (verdict, next);
    };
    let Guard { max, per } = guard;
    let start = match next.start.filter(|start| now < plus(*start, per)) {
        Some(start) => start,
        None => {
            next.start = Some(now);
            next.sent = 0;
            now
        }
    };
    if next.sent < max || summary {
        next.sent = next.sent.saturating_add(1);
        return (Verdict::Send { folded }, next);
    }
    let verdict = match &next.carrier {
        Some(carrier) => Verdict::Join {
            lead: carrier.clone(),
            outcome: Outcome::Flooded,
            reason: format!(
                "over the flood guard of {max} messages per {}s to this sink; folded into the summary {carrier}",
                per.as_secs()
            ),
        },
        None => {
            next.carrier = Some(delivery.to_owned());
            Verdict::Hold {
                until: plus(start, per),
                reason: format!(
                    "over the flood guard of {max} messages per {}s to this sink; sent when the window ends, as the summary of what it folded",
                    per.as_secs()
                ),
            }
        }
    };
    (verdict, next)
}

fn plus(at: Timestamp, d: Duration) -> Timestamp {
    at.checked_add(d).unwrap_or(Timestamp::MAX)
}

#[cfg(test)]
mod tests;
