//! Noise control, as pure decisions: which deliveries of a route go out now, wait for a digest,
//! fold into a later message, or are held back (duplicate, silenced, muted), and why.
//!
//! Nothing here knows HTTP, SQL or the clock: the caller hands in the route's [`NoisePolicy`],
//! the alert, `now`, the active [`Silence`]s and the [`GateState`] it stored for this
//! (route, sink), and gets back a [`Verdict`] plus the state to store. Keeping the decision
//! pure is what lets tests drive windows, digests and quiet hours with plain timestamps, and
//! lets the store apply a decision and its state change in one transaction.
//!
//! The order of the checks is the order a person would ask them in: is it silenced? is it
//! quiet time for this route (unless the level is let through)? was this issue and action
//! already sent within `dedup_seconds`? does it belong to a digest being gathered? would it
//! exceed the throttle? Each "no" leads to the next; the first "yes" decides.
//!
//! Its homes: [`interval`] reads and checks `time_intervals`, [`policy`] a route's noise keys,
//! [`silence`] silences and their matchers, and [`mod@decide`] the decision itself.

pub mod decide;
pub mod interval;
pub mod policy;
pub mod silence;

pub use decide::{
    DedupEntry, Gate, GateKeys, GateState, Group, Outcome, STALE_AFTER, Verdict, Window, decide,
    explain,
};
pub use interval::{TimeInterval, TimeIntervals, parse_times, parse_weekdays};
pub use policy::{GroupBy, Grouping, NoisePolicy, NoiseSpec, Throttle};
pub use silence::{Silence, parse_matchers};

/// The route keys this module reads; the route parser accepts them beside its own.
pub const NOISE_KEYS: &[&str] = &[
    "dedup_seconds",
    "throttle",
    "group_by",
    "group_wait_seconds",
    "group_interval_seconds",
    "active_during",
    "muted_during",
    "let_through_at",
    "flood_guard",
];

#[cfg(test)]
mod tests;
