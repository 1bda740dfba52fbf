//! `herald why ID`: where did that alert go? A client of the admin API's
//! `GET /api/v1/alerts/{id}/explain`, printed in one screen: when herald received it (or that
//! it refused it, and why), which routes match it and why the others do not, every delivery
//! with each of its attempts (one line each: time, outcome, status or "no answer", latency,
//! error) and everything held back with its reason and where the folded message went. `ID` is
//! herald's alert id, a Sentry `Request-ID`, event id or issue id. `--format json` prints the
//! API's answer as it is. The address and token are found as for `herald deliveries`.
//!
//! Everything printed from alert data (titles, tags, provider errors) is the sender's text, so
//! control and invisible characters are shown escaped ([`shown`]) rather than written to the
//! operator's terminal.

use std::process::ExitCode;

use serde_json::Value;

use crate::deliveries::{Target, call, runtime};

/// `s` with control characters and the invisible ones sinks drop (bidirectional, zero-width)
/// escaped as `\n`, `\u{202e}`: what a terminal shows is then what the text holds.
pub fn shown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control()
            || herald_core::text::is_bidi_control(c)
            || herald_core::text::is_zero_width(c)
        {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A JSON value as text for a table cell: strings escaped, absent as `-`.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => shown(s),
        other => shown(&other.to_string()),
    }
}

/// At most `max` characters of `s`, with `...` when cut.
pub fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}...", &s[..at]),
        None => s.to_owned(),
    }
}

/// One attempt of the explain answer's `attempt_log`: its number, when it started, how it
/// ended, the provider's status (or that there was no answer: the error names the network
/// cause), the latency and the error, escaped and clipped.
pub fn attempt_line(a: &Value) -> String {
    let answer = match a["status"].as_u64() {
        Some(status) => format!("status {status}"),
        None => "no answer".to_owned(),
    };
    let mut text = format!(
        "#{} {} {}, {}, {} ms",
        cell(&a["number"]),
        cell(&a["started_at"]),
        cell(&a["outcome"]),
        answer,
        cell(&a["latency_ms"]),
    );
    if let Some(error) = a["error"].as_str() {
        text.push_str(&format!(": {}", clip(&shown(error), 300)));
    }
    text
}

/// `herald why ID`.
pub fn run(target: &Target, id: &str, json: bool) -> anyhow::Result<ExitCode> {
    // The id goes into the path as one segment, whatever it holds.
    let mut url = reqwest::Url::parse("http://herald/api/v1/alerts/")?;
    url.path_segments_mut()
        .map_err(|()| anyhow::anyhow!("cannot build the request path"))?
        .pop_if_empty()
        .push(id)
        .push("explain");
    let answer = runtime()?.block_on(call(target, reqwest::Method::GET, url.path(), &[]))?;
    if json {
        println!("{answer}");
    } else {
        print!("{}", text(&answer));
    }
    Ok(ExitCode::SUCCESS)
}

/// The explanation as the lines `herald why` prints.
pub fn text(answer: &Value) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    let query = cell(&answer["query"]);
    let summary: Vec<String> = answer["summary"]
        .as_array()
        .map(|lines| lines.iter().map(cell).collect())
        .unwrap_or_default();
    let kept = cell(&answer["refusals_kept"]);

    if answer["found_by"] == "refusal" {
        line(format!(
            "herald stored no alert for \"{query}\"; it turned away a webhook with that Request-ID:"
        ));
        for s in &summary {
            line(format!("  {s}"));
        }
        line(format!("note: {kept}"));
        return out;
    }

    let stored = &answer["alert"];
    let a = &stored["alert"];
    let by = match answer["found_by"].as_str() {
        Some("request_id") => "its Request-ID",
        Some("event_id") => "its Sentry event id",
        Some("issue_id") => "its Sentry issue id",
        _ => "its id",
    };
    line(format!("alert {} (found by {by})", cell(&stored["id"])));
    let others = answer["others"].as_u64().unwrap_or(0);
    if others > 0 {
        line(format!(
            "  {others} other alert(s) share that id; this is the most recent (`herald alerts list` shows them)"
        ));
    }
    line(format!(
        "  received {} through source {}, Request-ID {}",
        cell(&stored["received_at"]),
        cell(&stored["source"]),
        cell(&stored["request_id"]),
    ));
    line(format!(
        "  {}/{} project={} level={} environment={} issue={} event={}",
        cell(&a["resource"]),
        cell(&a["action"]),
        cell(&a["project"]),
        cell(&a["level"]),
        cell(&a["environment"]),
        cell(&a["issue_id"]),
        cell(&a["event_id"]),
    ));
    line(format!("  title: {}", clip(&cell(&a["title"]), 200)));

    let routing = &answer["routing"];
    line(format!("routing ({}):", cell(&routing["note"])));
    let steps = routing["explain"].as_array().cloned().unwrap_or_default();
    if steps.is_empty() {
        line("  (no routes configured)".to_owned());
    }
    for s in &steps {
        let depth = usize::try_from(s["depth"].as_u64().unwrap_or(0)).unwrap_or(0);
        let pad = "  ".repeat(depth + 1);
        let route = cell(&s["route"]);
        if s["matched"] == true {
            if s["used"] == true {
                let sinks: Vec<String> = s["sinks"]
                    .as_array()
                    .map(|v| v.iter().map(cell).collect())
                    .unwrap_or_default();
                let sinks = if sinks.is_empty() {
                    "no sinks".to_owned()
                } else {
                    sinks.join(", ")
                };
                line(format!("{pad}+ {route}: matches, sends to {sinks}"));
            } else {
                line(format!(
                    "{pad}+ {route}: matches, a child route is used instead"
                ));
            }
        } else if let Some(why) = s["why"].as_array() {
            let why: Vec<String> = why.iter().map(cell).collect();
            line(format!("{pad}- {route}: no match: {}", why.join("; ")));
        } else {
            line(format!(
                "{pad}  {route}: not tried: {}",
                cell(&s["skipped"])
            ));
        }
    }

    line("what happened:".to_owned());
    for s in &summary {
        line(format!("  {s}"));
    }
    for d in answer["deliveries"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(answer["held_back"].as_array().into_iter().flatten())
    {
        let log = d["attempt_log"].as_array().cloned().unwrap_or_default();
        if log.is_empty() {
            continue;
        }
        line(format!(
            "attempts to {} (route {}):",
            cell(&d["sink"]),
            cell(&d["route"])
        ));
        for a in &log {
            line(format!("  {}", attempt_line(a)));
        }
    }
    let ids: Vec<String> = answer["deliveries"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(answer["held_back"].as_array().into_iter().flatten())
        .map(|d| {
            let id = if d["id"].is_null() {
                &d["delivery_id"]
            } else {
                &d["id"]
            };
            format!("{} {}", cell(&d["sink"]), cell(id))
        })
        .collect();
    if !ids.is_empty() {
        line(format!("delivery ids: {}", ids.join(", ")));
    }
    if answer["refusals"].as_array().is_some_and(|r| !r.is_empty()) {
        line(format!("note: {kept}"));
    }
    out
}

#[cfg(test)]
mod tests;
