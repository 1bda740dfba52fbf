//! Reads `routes:` into a [`RouteTree`]: names, sinks (one, a list or none), `continue`,
//! nested routes inheriting sinks and noise settings, every problem reported with its place.

use super::tree::{Route, RouteTree};
use crate::config::diag::{Diagnostics, closest};
use crate::config::node::{Node, Value};
use crate::matcher::parse_match;
use crate::noise::NOISE_KEYS;
use crate::noise::interval::TimeIntervals;
use crate::noise::policy::NoiseSpec;

/// A route's own keys; the noise keys (`crate::noise::NOISE_KEYS`) are accepted beside them.
const ROUTE_KEYS: &[&str] = &["name", "match", "sinks", "continue", "routes"];

impl RouteTree {
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
            keys: ROUTE_KEYS.iter().chain(NOISE_KEYS).copied().collect(),
        };
        let routes = match node {
            None => vec![],
            Some(n) if n.value == Value::Null => vec![],
            Some(n) => parse_routes(n, "", &[], &NoiseSpec::default(), &ctx, diag, &mut names),
        };
        RouteTree { routes }
    }
}

/// What every route's parse needs from the rest of the config.
struct Ctx<'a> {
    sink_names: &'a [&'a str],
    intervals: &'a TimeIntervals,
    /// The keys a route may have: its own and the noise keys.
    keys: Vec<&'static str>,
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
    diag.unknown_keys(node, &ctx.keys, "route key");
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
                Some("for example `sinks: [payments-oncall]`".into()),
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
            let hint = match closest(&name, sink_names) {
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
