//! The routing tree: which sinks an alert goes to, and why.
//!
//! Routes are tried in order; the first that matches wins unless it says `continue: true`.
//! A child route is tried only when its parent matched. As in Alertmanager, when a child
//! matches its sinks are used (a child without `sinks` inherits its parent's), and the
//! parent's own sinks are used only when none of its children matched. An alert that no
//! top-level route matches goes nowhere; write a last route without `match` to catch it.

use std::fmt::Write as _;

use crate::alert::{Alert, Field};
use crate::config::{Diagnostics, Node, Value};
use crate::matcher::{ValueMatcher, glob_lookalike};
use crate::noise::{NoisePolicy, NoiseSpec, TimeIntervals};
use std::sync::Arc;

const ROUTE_KEYS: &[&str] = &[
    "name",
    "match",
    "sinks",
    "continue",
    "routes",
    // noise control (see `noise.rs`), inherited by nested routes
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
    fn label(&self) -> String {
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

    /// Compiles `routes:`, reporting every problem; `sink_names` are the defined sinks.
    pub fn from_node(node: Option<&Node>, sink_names: &[&str], diag: &mut Diagnostics) -> Self {
        Self::from_node_with(node, sink_names, &TimeIntervals::default(), diag)
    }

    /// [`RouteTree::from_node`] with the config's named `time_intervals`, which routes'
    /// `active_during` / `muted_during` refer to.
    pub fn from_node_with(
        node: Option<&Node>,
        sink_names: &[&str],
        intervals: &TimeIntervals,
        diag: &mut Diagnostics,
    ) -> Self {
        let mut names = Vec::new();
        let ctx = Ctx {
            sink_names,
            intervals,
        };
        let routes = match node {
            None => vec![],
            Some(n) if n.value == Value::Null => vec![],
            Some(n) => parse_routes(n, "", &[], &NoiseSpec::default(), &ctx, diag, &mut names),
        };
        RouteTree { routes }
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

/// What every route's parse needs from the rest of the config.
struct Ctx<'a> {
    sink_names: &'a [&'a str],
    intervals: &'a TimeIntervals,
}

fn parse_routes(
    node: &Node,
    prefix: &str,
    inherited: &[String],
    noise: &NoiseSpec,
    ctx: &Ctx<'_>,
    diag: &mut Diagnostics,
    names: &mut Vec<String>,
) -> Vec<Route> {
    let Some(items) = node.as_seq() else {
        diag.error(
            node,
            format!("routes must be a list, found {}", node.value.kind()),
            Some("write each route as a list item starting with `- name: ...`".into()),
        );
        return vec![];
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let default_name = format!("{prefix}#{}", i + 1);
        if let Some(r) = parse_route(item, default_name, inherited, noise, ctx, diag, names) {
            out.push(r);
        }
    }
    out
}

fn parse_route(
    node: &Node,
    default_name: String,
    inherited: &[String],
    inherited_noise: &NoiseSpec,
    ctx: &Ctx<'_>,
    diag: &mut Diagnostics,
    names: &mut Vec<String>,
) -> Option<Route> {
    if node.as_map().is_none() {
        diag.error(
            node,
            format!("a route must be a mapping, found {}", node.value.kind()),
            Some("a route has keys name, match, sinks, continue, routes".into()),
        );
        return None;
    }
    diag.unknown_keys(node, ROUTE_KEYS, "route key");
    let name = match node.get("name") {
        Some(n) => match n.scalar_text() {
            Some(s) if !s.trim().is_empty() => {
                if names.contains(&s) {
                    diag.error(
                        n,
                        format!("route name \"{s}\" is used twice"),
                        Some("give each route its own name".into()),
                    );
                }
                s
            }
            _ => {
                diag.error(n, "a route name must be non-empty text", None);
                default_name.clone()
            }
        },
        None => default_name.clone(),
    };
    names.push(name.clone());
    let conditions = node
        .get("match")
        .map(|m| parse_match(m, &name, diag))
        .unwrap_or_default();
    let sinks = match node.get("sinks") {
        None => inherited.to_vec(),
        Some(s) => parse_sinks(s, &name, ctx.sink_names, diag),
    };
    let noise = NoiseSpec::parse(node, &name, inherited_noise, ctx.intervals, diag);
    let continue_matching = match node.get("continue") {
        None => false,
        Some(c) => match c.value {
            Value::Bool(b) => b,
            _ => {
                diag.error(
                    c,
                    format!(
                        "\"continue\" must be true or false, found \"{}\"",
                        c.shown()
                    ),
                    None,
                );
                false
            }
        },
    };
    let routes = match node.get("routes") {
        None => vec![],
        Some(n) if n.value == Value::Null => vec![],
        Some(n) => parse_routes(
            n,
            &format!("{default_name}."),
            &sinks,
            &noise,
            ctx,
            diag,
            names,
        ),
    };
    Some(Route {
        name,
        conditions,
        sinks,
        continue_matching,
        routes,
        line: node.pos.line,
        noise: noise.policy(),
    })
}

fn parse_sinks(
    node: &Node,
    route: &str,
    sink_names: &[&str],
    diag: &mut Diagnostics,
) -> Vec<String> {
    let items: Vec<&Node> = match &node.value {
        Value::Seq(items) => items.iter().collect(),
        Value::Str(_) => vec![node],
        Value::Null => vec![],
        _ => {
            diag.error(
                node,
                format!("sinks of route \"{route}\" must be a list of sink names"),
                Some("for example `sinks: [slack-payments]`".into()),
            );
            return vec![];
        }
    };
    let mut out = Vec::new();
    for item in items {
        let Some(name) = item.scalar_text() else {
            diag.error(item, "a sink name must be text", None);
            continue;
        };
        if !sink_names.contains(&name.as_str()) {
            let defined = if sink_names.is_empty() {
                "no sinks are defined".to_owned()
            } else {
                format!("defined sinks: {}", sink_names.join(", "))
            };
            let hint = match crate::config::closest(&name, sink_names) {
                Some(c) => format!("did you mean \"{c}\"? ({defined})"),
                None => defined,
            };
            diag.error(
                item,
                format!("route \"{route}\": unknown sink \"{name}\""),
                Some(hint),
            );
            continue;
        }
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
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
