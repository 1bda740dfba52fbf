//! The routing tree: which sinks an alert goes to, and why.
//!
//! Routes are tried in order; the first that matches wins unless it says `continue: true`.
//! A child route is tried only when its parent matched. As in Alertmanager, when a child
//! matches its sinks are used (a child without `sinks` inherits its parent's), and the
//! parent's own sinks are used only when none of its children matched. An alert that no
//! top-level route matches goes nowhere; write a last route without `match` to catch it.
//!
//! Its homes: [`tree`] holds the compiled routes and walks them for an alert; [`parse`] reads
//! `routes:` from the config with located errors. A route's `match:` block is read by
//! [`crate::matcher`], its noise keys by [`crate::noise`].

pub mod parse;
pub mod tree;

pub use crate::matcher::MatchKey;
pub use tree::{Outcome, Route, RouteTree, Routing, Step};

#[cfg(test)]
mod tests;
