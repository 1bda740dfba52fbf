//! Named time windows (`time_intervals:`): weekdays and times of day in one time zone, read
//! from the config with located errors, and asked whether an instant falls inside.

use std::sync::Arc;

use jiff::Timestamp;
use jiff::civil::Weekday;
use jiff::tz::TimeZone;

use crate::config::diag::Diagnostics;
use crate::config::node::{Node, Value};

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
    let weekdays: Vec<Weekday> = items(
        node.get("weekdays"),
        name,
        parse_weekdays,
        "weekdays are monday..sunday, or a range such as `monday:friday`",
        diag,
        &mut ok,
    )
    .into_iter()
    .flatten()
    .collect();
    let times = items(
        node.get("times"),
        name,
        parse_times,
        "write `HH:MM-HH:MM` with the start before the end, for example `09:00-17:30`; split a window that crosses midnight into `22:00-24:00` and `00:00-06:00`",
        diag,
        &mut ok,
    );
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

/// Each item of a one-or-many key read with `parse`; a bad one is reported with `hint` and
/// clears `ok`.
fn items<T>(
    node: Option<&Node>,
    name: &str,
    parse: fn(&str) -> Result<T, String>,
    hint: &str,
    diag: &mut Diagnostics,
    ok: &mut bool,
) -> Vec<T> {
    let mut out = Vec::new();
    for item in list(node) {
        match parse(&item.scalar_text().unwrap_or_default()) {
            Ok(value) => out.push(value),
            Err(e) => {
                diag.error(
                    item,
                    format!("time interval \"{name}\": {e}"),
                    Some(hint.to_owned()),
                );
                *ok = false;
            }
        }
    }
    out
}

pub(super) fn list(node: Option<&Node>) -> Vec<&Node> {
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
