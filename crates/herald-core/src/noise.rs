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

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::Weekday;
use jiff::tz::TimeZone;

use crate::alert::{Alert, Field, Level};
use crate::config::{Diagnostics, Node, Value};
use crate::matcher::ValueMatcher;
use crate::route::MatchKey;

/// The route keys this module reads; `route.rs` accepts them beside its own.
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

/// A named time window from the top-level `time_intervals:`: some weekdays, some times of day,
/// in one IANA time zone (so daylight-saving changes move the window with the local clock).
#[derive(Clone, Debug)]
pub struct TimeInterval {
    pub name: String,
    /// Empty means every day.
    pub weekdays: Vec<Weekday>,
    /// Minutes since local midnight, `[start, end)`; empty means the whole day.
    pub times: Vec<(u16, u16)>,
    pub location: TimeZone,
}

impl TimeInterval {
    /// Whether `at` falls inside the window, read on the local clock of `location`.
    pub fn contains(&self, at: Timestamp) -> bool {
        let local = at.to_zoned(self.location.clone());
        if !self.weekdays.is_empty() && !self.weekdays.contains(&local.weekday()) {
            return false;
        }
        if self.times.is_empty() {
            return true;
        }
        let minute = u16::try_from(i32::from(local.hour()) * 60 + i32::from(local.minute()))
            .unwrap_or(u16::MAX);
        self.times
            .iter()
            .any(|&(start, end)| minute >= start && minute < end)
    }
}

/// The named intervals of a config.
#[derive(Clone, Debug, Default)]
pub struct TimeIntervals(pub Vec<Arc<TimeInterval>>);

impl TimeIntervals {
    pub fn get(&self, name: &str) -> Option<&Arc<TimeInterval>> {
        self.0.iter().find(|i| i.name == name)
    }

    /// Reads `time_intervals:`, a mapping of name to `{weekdays, times, location}`.
    pub fn from_node(node: Option<&Node>, diag: &mut Diagnostics) -> TimeIntervals {
        let mut out = Vec::new();
        let Some(node) = node.filter(|n| n.value != Value::Null) else {
            return TimeIntervals(out);
        };
        let Some(entries) = node.as_map() else {
            diag.error(
                node,
                format!(
                    "time_intervals must be a mapping of names to windows, found {}",
                    node.value.kind()
                ),
                Some("for example `office: {weekdays: [monday:friday], times: [\"09:00-18:00\"], location: Europe/Berlin}`".into()),
            );
            return TimeIntervals(out);
        };
        for (key, value) in entries {
            let Some(name) = key.scalar_text().filter(|s| !s.trim().is_empty()) else {
                diag.error(key, "a time interval name must be non-empty text", None);
                continue;
            };
            if let Some(interval) = parse_interval(&name, value, diag) {
                out.push(Arc::new(interval));
            }
        }
        TimeIntervals(out)
    }
}

fn parse_interval(name: &str, node: &Node, diag: &mut Diagnostics) -> Option<TimeInterval> {
    if node.as_map().is_none() {
        diag.error(
            node,
            format!("time interval \"{name}\" must be a mapping"),
            Some("keys: weekdays, times, location".into()),
        );
        return None;
    }
    diag.unknown_keys(
        node,
        &["weekdays", "times", "location"],
        "time interval key",
    );
    let mut ok = true;
    let mut weekdays = Vec::new();
    for item in list(node.get("weekdays")) {
        let text = item.scalar_text().unwrap_or_default();
        match parse_weekdays(&text) {
            Ok(days) => weekdays.extend(days),
            Err(e) => {
                diag.error(
                    item,
                    format!("time interval \"{name}\": {e}"),
                    Some("weekdays are monday..sunday, or a range such as `monday:friday`".into()),
                );
                ok = false;
            }
        }
    }
    let mut times = Vec::new();
    for item in list(node.get("times")) {
        let text = item.scalar_text().unwrap_or_default();
        match parse_times(&text) {
            Ok(range) => times.push(range),
            Err(e) => {
                diag.error(
                    item,
                    format!("time interval \"{name}\": {e}"),
                    Some("write `HH:MM-HH:MM` with the start before the end, for example `09:00-17:30`; split a window that crosses midnight into `22:00-24:00` and `00:00-06:00`".into()),
                );
                ok = false;
            }
        }
    }
    let location = match node.get("location") {
        None => TimeZone::UTC,
        Some(loc) => {
            let text = loc.scalar_text().unwrap_or_default();
            match TimeZone::get(&text) {
                Ok(tz) => tz,
                Err(_) => {
                    diag.error(
                        loc,
                        format!("time interval \"{name}\": unknown time zone \"{text}\""),
                        Some(
                            "use an IANA name such as `Europe/Berlin`, `America/New_York` or `UTC`"
                                .into(),
                        ),
                    );
                    ok = false;
                    TimeZone::UTC
                }
            }
        }
    };
    ok.then(|| TimeInterval {
        name: name.to_owned(),
        weekdays,
        times,
        location,
    })
}

fn list(node: Option<&Node>) -> Vec<&Node> {
    match node {
        None => vec![],
        Some(n) => match &n.value {
            Value::Seq(items) => items.iter().collect(),
            Value::Null => vec![],
            _ => vec![n],
        },
    }
}

fn weekday(text: &str) -> Result<Weekday, String> {
    Ok(match text.trim().to_ascii_lowercase().as_str() {
        "monday" | "mon" => Weekday::Monday,
        "tuesday" | "tue" => Weekday::Tuesday,
        "wednesday" | "wed" => Weekday::Wednesday,
        "thursday" | "thu" => Weekday::Thursday,
        "friday" | "fri" => Weekday::Friday,
        "saturday" | "sat" => Weekday::Saturday,
        "sunday" | "sun" => Weekday::Sunday,
        _ => return Err(format!("unknown weekday \"{text}\"")),
    })
}

/// `monday` or `monday:friday` (a range may wrap, `saturday:sunday`).
pub fn parse_weekdays(text: &str) -> Result<Vec<Weekday>, String> {
    match text.split_once(':') {
        None => Ok(vec![weekday(text)?]),
        Some((a, b)) => {
            let (mut day, last) = (weekday(a)?, weekday(b)?);
            let mut out = vec![day];
            while day != last {
                day = day.next();
                out.push(day);
            }
            Ok(out)
        }
    }
}

/// `HH:MM-HH:MM` as minutes since midnight; the end may be `24:00`.
pub fn parse_times(text: &str) -> Result<(u16, u16), String> {
    let bad = || format!("\"{text}\" is not a time range");
    let (a, b) = text.split_once('-').ok_or_else(bad)?;
    let minutes = |t: &str| -> Option<u16> {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
        (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
    };
    let (start, end) = (minutes(a).ok_or_else(bad)?, minutes(b).ok_or_else(bad)?);
    if start >= end {
        return Err(format!("time range \"{text}\" ends before it starts"));
    }
    Ok((start, end))
}

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

    fn label(&self) -> String {
        match self {
            GroupBy::Field(f) => f.name().to_owned(),
            GroupBy::Tag(t) => format!("tags.{t}"),
            GroupBy::Issue => "issue".to_owned(),
        }
    }

    fn value<'a>(&self, alert: &'a Alert) -> Option<&'a str> {
        match self {
            GroupBy::Field(f) => alert.field(*f),
            GroupBy::Tag(t) => alert.tags.get(t),
            GroupBy::Issue => alert.issue_id.as_deref(),
        }
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
    /// The route's `flood_guard:` for its sinks, over theirs (`max` 0: off; `crate::flood`).
    pub flood_guard: Option<crate::flood::Guard>,
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
    flood_guard: Option<crate::flood::Guard>,
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
            spec.flood_guard =
                crate::config::flood_guard_setting(&format!("route \"{route}\""), n, diag);
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
                let hint = match crate::config::closest(&name, &names) {
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
    let matchers = crate::route::parse_match(&node, "silence", &mut diag);
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
    /// Over the sink's flood guard, to be named or counted in the summary (`crate::flood`).
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
    /// The sink's flood-guard window, shared by all its routes (`crate::flood`).
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

#[cfg(test)]
mod tests;
