//! A route's noise settings: the keys it writes (dedup, throttle, digest grouping, quiet
//! hours), inherited by nested routes key by key, and the policy they make.

use std::sync::Arc;
use std::time::Duration;

use super::interval::{TimeInterval, TimeIntervals, list};
use crate::alert::{Alert, Field};
use crate::config::diag::{Diagnostics, closest};
use crate::config::node::Node;
use crate::matcher::ValueMatcher;

/// What a digest is grouped by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupBy {
    Field(Field),
    Tag(String),
    /// The Sentry issue id.
    Issue,
}

impl GroupBy {
    fn parse(text: &str) -> Option<GroupBy> {
        Some(match text {
            "project" => GroupBy::Field(Field::Project),
            "level" => GroupBy::Field(Field::Level),
            "environment" => GroupBy::Field(Field::Environment),
            "release" => GroupBy::Field(Field::Release),
            "resource" => GroupBy::Field(Field::Resource),
            "action" => GroupBy::Field(Field::Action),
            "issue" => GroupBy::Issue,
            _ => GroupBy::Tag(text.strip_prefix("tags.")?.to_owned()),
        })
    }

    pub(super) fn label(&self) -> String {
        match self {
            GroupBy::Field(f) => f.name().to_owned(),
            GroupBy::Tag(t) => format!("tags.{t}"),
            GroupBy::Issue => "issue".to_owned(),
        }
    }

    pub(super) fn value<'a>(&self, alert: &'a Alert) -> Option<&'a str> {
        match self {
            GroupBy::Field(f) => alert.field(*f),
            GroupBy::Tag(t) => alert.tags.get(t),
            GroupBy::Issue => alert.issue_id.as_deref(),
        }
    }
}

/// The guard's window unless the config says `per_seconds`.
pub const PER: Duration = Duration::from_secs(60);

/// Messages per destination per minute when neither the sink nor the route says otherwise.
pub const DEFAULT_MAX: u32 = 20;

/// A flood guard (the decision is the `flood` module's): at most `max` messages per `per` to one sink. Written `flood_guard: 20`
/// (a minute) or `flood_guard: {max: 20, per_seconds: 60}`; `max` 0 turns it off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Guard {
    pub max: u32,
    pub per: Duration,
}

impl Guard {
    /// `max` messages a minute.
    pub fn per_minute(max: u32) -> Guard {
        Guard { max, per: PER }
    }
}

/// `throttle: {max, per_seconds}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Throttle {
    pub max: u32,
    pub per: Duration,
}

/// `group_by` with its timings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grouping {
    pub by: Vec<GroupBy>,
    /// How long the first alert of a group waits for others (default 30 s).
    pub wait: Duration,
    /// The least time between two digests of one group (default 5 min).
    pub interval: Duration,
}

/// A route's noise settings, after inheritance. A route without any has none (`None`), which
/// is what keeps the dispatcher's fast path free of noise work.
#[derive(Clone, Debug, Default)]
pub struct NoisePolicy {
    pub dedup: Option<Duration>,
    pub throttle: Option<Throttle>,
    pub group: Option<Grouping>,
    pub active_during: Vec<Arc<TimeInterval>>,
    pub muted_during: Vec<Arc<TimeInterval>>,
    /// Levels that pass quiet hours anyway (`let_through_at: ">=fatal"`).
    pub let_through: Option<ValueMatcher>,
    /// The route's `flood_guard:` for its sinks, over theirs (`max` 0: off; see [`Guard`]).
    pub flood_guard: Option<Guard>,
}

impl NoisePolicy {
    /// The settings in one line, for `herald check`: `dedup 600s, digest by project (wait
    /// 30s, interval 300s), muted during night, let through >=fatal`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(d) = self.dedup {
            parts.push(format!("dedup {}s", d.as_secs()));
        }
        if let Some(t) = self.throttle {
            parts.push(format!("throttle {} per {}s", t.max, t.per.as_secs()));
        }
        if let Some(g) = &self.group {
            let by: Vec<String> = g.by.iter().map(GroupBy::label).collect();
            parts.push(format!(
                "digest by {} (wait {}s, interval {}s)",
                by.join(", "),
                g.wait.as_secs(),
                g.interval.as_secs()
            ));
        }
        let names = |list: &[Arc<TimeInterval>]| {
            list.iter()
                .map(|i| i.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !self.active_during.is_empty() {
            parts.push(format!("active during {}", names(&self.active_during)));
        }
        if !self.muted_during.is_empty() {
            parts.push(format!("muted during {}", names(&self.muted_during)));
        }
        if let Some(m) = &self.let_through {
            parts.push(format!("let through {m}"));
        }
        match self.flood_guard {
            Some(g) if g.max == 0 => parts.push("no flood guard".to_owned()),
            Some(g) => parts.push(format!(
                "flood guard {} per {}s per sink",
                g.max,
                g.per.as_secs()
            )),
            None => {}
        }
        parts.join(", ")
    }
}

/// The inheritable form: each key set or not, so a child overrides only what it writes.
#[derive(Clone, Debug, Default)]
pub struct NoiseSpec {
    dedup: Option<Duration>,
    throttle: Option<Throttle>,
    group_by: Option<Vec<GroupBy>>,
    group_wait: Option<Duration>,
    group_interval: Option<Duration>,
    active_during: Option<Vec<Arc<TimeInterval>>>,
    muted_during: Option<Vec<Arc<TimeInterval>>>,
    let_through: Option<ValueMatcher>,
    flood_guard: Option<Guard>,
}

impl NoiseSpec {
    /// The parent's spec overlaid with the route's own keys, reporting bad values.
    pub fn parse(
        node: &Node,
        route: &str,
        parent: &NoiseSpec,
        intervals: &TimeIntervals,
        diag: &mut Diagnostics,
    ) -> NoiseSpec {
        let mut spec = parent.clone();
        if let Some(n) = node.get("dedup_seconds") {
            spec.dedup = seconds(n, route, "dedup_seconds", diag).map(Duration::from_secs);
        }
        if let Some(n) = node.get("throttle") {
            spec.throttle = parse_throttle(n, route, diag);
        }
        if let Some(n) = node.get("group_by") {
            let mut by = Vec::new();
            for item in list(Some(n)) {
                let text = item.scalar_text().unwrap_or_default();
                match GroupBy::parse(&text) {
                    Some(g) => by.push(g),
                    None => diag.error(
                        item,
                        format!("route \"{route}\": cannot group by \"{text}\""),
                        Some("group by project, level, environment, release, resource, action, issue or tags.NAME".into()),
                    ),
                }
            }
            spec.group_by = Some(by);
        }
        if let Some(n) = node.get("group_wait_seconds") {
            spec.group_wait =
                seconds(n, route, "group_wait_seconds", diag).map(Duration::from_secs);
        }
        if let Some(n) = node.get("group_interval_seconds") {
            spec.group_interval =
                seconds(n, route, "group_interval_seconds", diag).map(Duration::from_secs);
        }
        if let Some(n) = node.get("active_during") {
            spec.active_during = Some(interval_refs(n, route, intervals, diag));
        }
        if let Some(n) = node.get("muted_during") {
            spec.muted_during = Some(interval_refs(n, route, intervals, diag));
        }
        if let Some(n) = node.get("flood_guard") {
            spec.flood_guard = flood_guard_setting(&format!("route \"{route}\""), n, diag);
        }
        if let Some(n) = node.get("let_through_at") {
            let text = n.scalar_text().unwrap_or_default();
            match ValueMatcher::parse(std::slice::from_ref(&text), true) {
                Ok(m) => spec.let_through = Some(m),
                Err(e) => diag.error(n, format!("route \"{route}\": {}", e.message), e.hint),
            }
        }
        spec
    }

    /// The policy, or `None` when no noise key is set.
    pub fn policy(&self) -> Option<Arc<NoisePolicy>> {
        let policy = NoisePolicy {
            dedup: self.dedup.filter(|d| !d.is_zero()),
            throttle: self.throttle,
            group: self
                .group_by
                .clone()
                .filter(|by| !by.is_empty())
                .map(|by| Grouping {
                    by,
                    wait: self.group_wait.unwrap_or(Duration::from_secs(30)),
                    interval: self.group_interval.unwrap_or(Duration::from_secs(300)),
                }),
            active_during: self.active_during.clone().unwrap_or_default(),
            muted_during: self.muted_during.clone().unwrap_or_default(),
            let_through: self.let_through.clone(),
            flood_guard: self.flood_guard,
        };
        let empty = policy.flood_guard.is_none()
            && policy.dedup.is_none()
            && policy.throttle.is_none()
            && policy.group.is_none()
            && policy.active_during.is_empty()
            && policy.muted_during.is_empty();
        (!empty).then(|| Arc::new(policy))
    }
}

fn seconds(node: &Node, route: &str, key: &str, diag: &mut Diagnostics) -> Option<u64> {
    let text = node.scalar_text().unwrap_or_default();
    match text.trim().parse::<u64>() {
        Ok(n) => Some(n),
        Err(_) => {
            diag.error(
                node,
                format!(
                    "route \"{route}\": {key} must be a whole number of seconds, found \"{}\"",
                    node.shown()
                ),
                Some(format!("for example `{key}: 300`")),
            );
            None
        }
    }
}

fn parse_throttle(node: &Node, route: &str, diag: &mut Diagnostics) -> Option<Throttle> {
    let hint = Some("for example `throttle: {max: 10, per_seconds: 60}`".to_owned());
    if node.as_map().is_none() {
        diag.error(
            node,
            format!("route \"{route}\": throttle must be a mapping"),
            hint,
        );
        return None;
    }
    diag.unknown_keys(node, &["max", "per_seconds"], "throttle key");
    let (Some(max), Some(per)) = (node.get("max"), node.get("per_seconds")) else {
        diag.error(
            node,
            format!("route \"{route}\": throttle needs both max and per_seconds"),
            hint,
        );
        return None;
    };
    let max = seconds(max, route, "throttle.max", diag)?;
    let per = seconds(per, route, "throttle.per_seconds", diag)?;
    if max == 0 || per == 0 {
        diag.error(
            node,
            format!("route \"{route}\": throttle max and per_seconds must be above 0"),
            hint,
        );
        return None;
    }
    Some(Throttle {
        max: u32::try_from(max).unwrap_or(u32::MAX),
        per: Duration::from_secs(per),
    })
}

fn interval_refs(
    node: &Node,
    route: &str,
    intervals: &TimeIntervals,
    diag: &mut Diagnostics,
) -> Vec<Arc<TimeInterval>> {
    let mut out = Vec::new();
    for item in list(Some(node)) {
        let name = item.scalar_text().unwrap_or_default();
        match intervals.get(&name) {
            Some(i) => out.push(i.clone()),
            None => {
                let names: Vec<&str> = intervals.0.iter().map(|i| i.name.as_str()).collect();
                let defined = if names.is_empty() {
                    "no time_intervals are defined".to_owned()
                } else {
                    format!("defined intervals: {}", names.join(", "))
                };
                let hint = match closest(&name, &names) {
                    Some(c) => format!("did you mean \"{c}\"? ({defined})"),
                    None => defined,
                };
                diag.error(
                    item,
                    format!("route \"{route}\": unknown time interval \"{name}\""),
                    Some(hint),
                );
            }
        }
    }
    out
}

/// A `flood_guard:` value (of a sink or a route): a whole number of messages a minute, or
/// `{max: N, per_seconds: S}`; a `max` of 0 turns it off.
pub(crate) fn flood_guard_setting(
    owner: &str,
    node: &Node,
    diag: &mut Diagnostics,
) -> Option<Guard> {
    let hint = || {
        Some(format!(
            "for example `flood_guard: {}` (a minute), `flood_guard: {{max: 50, per_seconds: 300}}`, or `flood_guard: 0` to turn it off",
            DEFAULT_MAX
        ))
    };
    let number = |node: &Node, key: &str, diag: &mut Diagnostics| -> Option<u32> {
        let text = node.scalar_text().unwrap_or_default();
        match text.trim().parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                diag.error(
                    node,
                    format!(
                        "{owner}: {key} must be a whole number, found \"{}\"",
                        node.shown()
                    ),
                    hint(),
                );
                None
            }
        }
    };
    if node.as_map().is_none() {
        return number(node, "flood_guard", diag).map(Guard::per_minute);
    }
    diag.unknown_keys(node, &["max", "per_seconds"], "flood_guard key");
    let max = match node.get("max") {
        Some(n) => number(n, "flood_guard.max", diag)?,
        None => {
            diag.error(node, format!("{owner}: flood_guard needs max"), hint());
            return None;
        }
    };
    let per = match node.get("per_seconds") {
        Some(n) => number(n, "flood_guard.per_seconds", diag)?,
        None => 60,
    };
    if per == 0 {
        diag.error(
            node.get("per_seconds").unwrap_or(node),
            format!("{owner}: flood_guard.per_seconds must be above 0"),
            hint(),
        );
        return None;
    }
    Some(Guard {
        max,
        per: std::time::Duration::from_secs(u64::from(per)),
    })
}
