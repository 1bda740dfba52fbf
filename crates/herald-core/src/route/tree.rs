//! The compiled routing tree: which routes an alert matches, the sinks they use, the
//! explanation of every route tried, and the tree as `herald check` prints it.

use std::fmt::Write as _;
use std::sync::Arc;

use crate::alert::Alert;
use crate::matcher::{MatchKey, ValueMatcher};
use crate::noise::policy::NoisePolicy;

/// One route of the tree, compiled.
#[derive(Clone, Debug)]
pub struct Route {
    pub name: String,
    pub conditions: Vec<(MatchKey, ValueMatcher)>,
    /// The sinks this route sends to: its own list, or its parent's when it has none.
    pub sinks: Vec<String>,
    pub continue_matching: bool,
    pub routes: Vec<Route>,
    pub line: u64,
    /// Dedup, throttle, digest and quiet-hours settings (its own or inherited); `None` when
    /// the route has none, so its deliveries skip the noise stage.
    pub noise: Option<Arc<NoisePolicy>>,
}

impl Route {
    /// The reasons this route does not match the alert; empty when it matches.
    pub fn mismatches(&self, alert: &Alert) -> Vec<String> {
        let mut out = Vec::new();
        for (key, matcher) in &self.conditions {
            let value = key.value(alert);
            if !matcher.matches(value) {
                out.push(match value {
                    Some(v) => format!("{} is \"{v}\", wanted {}", key.label(), matcher.describe()),
                    None => format!("{} is missing, wanted {}", key.label(), matcher.describe()),
                });
            }
        }
        out
    }

    fn matches(&self, alert: &Alert) -> bool {
        self.conditions
            .iter()
            .all(|(key, matcher)| matcher.matches(key.value(alert)))
    }
}

/// The top-level routes.
#[derive(Clone, Debug, Default)]
pub struct RouteTree {
    pub routes: Vec<Route>,
}

/// Where an alert goes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Routing {
    /// The routes whose sinks were used, in order.
    pub routes: Vec<String>,
    /// The sinks, without repeats, in order.
    pub sinks: Vec<String>,
    /// Each used route with its sinks, for the delivery records.
    pub deliveries: Vec<(String, Vec<String>)>,
}

/// One line of the explanation `herald route` prints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub route: String,
    pub depth: usize,
    pub outcome: Outcome,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Matched; `used` when its own sinks were used (no child matched).
    Matched { used: bool },
    /// Did not match, with each failed condition.
    Mismatched(Vec<String>),
    /// Not tried, and why.
    Skipped(String),
}

impl RouteTree {
    /// Where the alert goes.
    pub fn route(&self, alert: &Alert) -> Routing {
        let mut used = Vec::new();
        collect(&self.routes, alert, &mut used, &mut None);
        finish(used)
    }

    /// Where the alert goes, with the explanation of every route tried.
    pub fn explain(&self, alert: &Alert) -> (Routing, Vec<Step>) {
        let mut used = Vec::new();
        let mut steps = Vec::new();
        collect(&self.routes, alert, &mut used, &mut Some((&mut steps, 0)));
        (finish(used), steps)
    }

    /// Every route, depth first, with its depth.
    pub fn walk(&self) -> Vec<(usize, &Route)> {
        fn go<'a>(routes: &'a [Route], depth: usize, out: &mut Vec<(usize, &'a Route)>) {
            for r in routes {
                out.push((depth, r));
                go(&r.routes, depth + 1, out);
            }
        }
        let mut out = Vec::new();
        go(&self.routes, 0, &mut out);
        out
    }

    /// The tree as `herald check` prints it: one line per route with its conditions and sinks.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if self.routes.is_empty() {
            out.push_str("(no routes: every alert is dropped)\n");
        }
        for (depth, r) in self.walk() {
            let conds = if r.conditions.is_empty() {
                "every alert".to_owned()
            } else {
                r.conditions
                    .iter()
                    .map(|(k, m)| match k {
                        MatchKey::Field(f) => format!("{}={m}", f.name()),
                        MatchKey::Tag(t) => format!("tags.{t}={m}"),
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let sinks = if r.sinks.is_empty() {
                "(no sinks: dropped)".to_owned()
            } else {
                r.sinks.join(", ")
            };
            let noise = r
                .noise
                .as_ref()
                .map(|p| format!(" {{{}}}", p.summary()))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "{}- {} [{}] -> {}{}{}",
                "  ".repeat(depth),
                r.name,
                conds,
                sinks,
                if r.continue_matching {
                    " (continue)"
                } else {
                    ""
                },
                noise
            );
        }
        out
    }
}

type Trace<'s> = Option<(&'s mut Vec<Step>, usize)>;

fn collect<'a>(
    routes: &'a [Route],
    alert: &Alert,
    used: &mut Vec<&'a Route>,
    trace: &mut Trace<'_>,
) {
    let mut stopped_by: Option<&str> = None;
    for r in routes {
        if let Some(by) = stopped_by {
            if let Some((steps, depth)) = trace.as_mut() {
                steps.push(Step {
                    route: r.name.clone(),
                    depth: *depth,
                    outcome: Outcome::Skipped(format!(
                        "\"{by}\" matched first and does not continue"
                    )),
                });
                continue;
            }
            break;
        }
        // Without a trace, skip building the reasons: this is the hot path of every webhook.
        let why = match trace {
            Some(_) => r.mismatches(alert),
            None if r.matches(alert) => vec![],
            None => vec![String::new()],
        };
        if !why.is_empty() {
            if let Some((steps, depth)) = trace.as_mut() {
                steps.push(Step {
                    route: r.name.clone(),
                    depth: *depth,
                    outcome: Outcome::Mismatched(why),
                });
            }
            continue;
        }
        let index = trace.as_ref().map_or(0, |(steps, _)| steps.len());
        if let Some((steps, depth)) = trace.as_mut() {
            steps.push(Step {
                route: r.name.clone(),
                depth: *depth,
                outcome: Outcome::Matched { used: false },
            });
            *depth += 1;
        }
        let before = used.len();
        collect(&r.routes, alert, used, trace);
        if let Some((steps, depth)) = trace.as_mut() {
            *depth -= 1;
            if used.len() == before {
                steps[index].outcome = Outcome::Matched { used: true };
            }
        }
        if used.len() == before {
            used.push(r);
        }
        if !r.continue_matching {
            stopped_by = Some(&r.name);
        }
    }
}

fn finish(used: Vec<&Route>) -> Routing {
    let mut routing = Routing::default();
    for r in used {
        routing.routes.push(r.name.clone());
        for s in &r.sinks {
            if !routing.sinks.contains(s) {
                routing.sinks.push(s.clone());
            }
        }
        routing.deliveries.push((r.name.clone(), r.sinks.clone()));
    }
    routing
}
