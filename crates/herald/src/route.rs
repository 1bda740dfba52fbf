//! `herald route`: the dry run. Parses a payload as Sentry would send it (or, for
//! `herald route test`, builds an alert from `key=value` pairs), routes it on the config, and
//! prints which routes matched and why the others did not, as text or as one JSON object.
//! Exit 0 when the payload parsed, 2 when it did not (or a pair is wrong), 1 for a bad config;
//! `route test --expect` exits 1 when the routes used are not exactly the expected ones.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use herald_core::route::Outcome;
use herald_core::{Alert, Level, Notification};
use serde_json::json;

use crate::app::App;

pub struct Args {
    pub config: PathBuf,
    pub source: Option<String>,
    pub json: bool,
    pub render: bool,
    pub input: Input,
}

/// What to route.
pub enum Input {
    /// A payload file as Sentry sends it, with the `Sentry-Hook-Resource` header's value.
    Payload {
        resource: Option<String>,
        path: PathBuf,
    },
    /// `herald route test`: an alert made of `key=value` pairs, and the routes it must use.
    Pairs {
        pairs: Vec<String>,
        expect: Vec<String>,
    },
}

/// The keys `herald route test` takes, as its error message lists them.
const KEYS: &[&str] = &[
    "project",
    "level",
    "environment",
    "release",
    "resource",
    "action",
    "title",
    "culprit",
    "issue_id",
    "tags.NAME",
];

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let app = match App::load(&args.config) {
        Ok(app) => app,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::from(1));
        }
    };
    let source = match &args.source {
        Some(s) if app.sources.contains_key(s) => s.clone(),
        Some(s) => anyhow::bail!(
            "unknown source \"{s}\" (sources: {})",
            app.sources.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
        None => match &args.input {
            Input::Payload { resource, path } => {
                default_source(&app, resource.as_deref(), path).unwrap_or_else(|| "sentry".into())
            }
            Input::Pairs { .. } => app
                .sources
                .keys()
                .next()
                .cloned()
                .unwrap_or_else(|| "sentry".to_owned()),
        },
    };
    let (alert, expect) = match &args.input {
        Input::Payload { resource, path } => {
            let body = std::fs::read(path)
                .with_context(|| format!("cannot read payload file \"{}\"", path.display()))?;
            // A source of another kind than webhooks reads its payload through the source
            // contract's dry run.
            if let Some(other) = app.sources.get(&source).filter(|s| s.kind() != "sentry") {
                let hint = resource.as_deref().filter(|r| *r != SDK_RESOURCE);
                let intake = match other.dry_run(hint, &body) {
                    Ok(intake) => intake,
                    Err(e) => {
                        eprintln!("error: cannot parse {}: {e}", path.display());
                        return Ok(ExitCode::from(2));
                    }
                };
                let Some(incoming) = intake.alerts.into_iter().next() else {
                    println!("ignored: the payload holds no event");
                    println!(
                        "herald does not route this payload; it would answer 200 and send nothing"
                    );
                    return Ok(ExitCode::SUCCESS);
                };
                report(&app, incoming.alert, args.json, args.render);
                return Ok(ExitCode::SUCCESS);
            }
            let parsed = match herald_sentry::parse(&source, resource.as_deref(), &body) {
                Ok(p) => p,
                Err(e) => {
                    match resource_hint(resource.as_deref(), &body) {
                        // Without --resource the parser's own words are about a request
                        // without the header; here the flag is what is missing.
                        Some(hint) if resource.is_none() => eprintln!(
                            "error: cannot parse {} as a legacy WebHooks plugin payload (the format herald assumes without --resource)\nhint: {hint}",
                            path.display()
                        ),
                        Some(hint) => {
                            eprintln!("error: cannot parse {}: {e}\nhint: {hint}", path.display())
                        }
                        None => eprintln!("error: cannot parse {}: {e}", path.display()),
                    }
                    return Ok(ExitCode::from(2));
                }
            };
            if let herald_sentry::Parsed::Ignored { alert, reason } = &parsed {
                // An action another resource handles is ignored, not refused: say which.
                if let Some(hint) = resource_hint(resource.as_deref(), &body) {
                    eprintln!("hint: {hint}");
                }
                if args.json {
                    println!("{}", herald_server::dry_run::ignored(alert, reason));
                } else {
                    println!("ignored: {reason}");
                    println!(
                        "herald does not route this payload; it would answer 200 and send nothing"
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            (parsed.into_alert(), &[][..])
        }
        Input::Pairs { pairs, expect } => match alert_from_pairs(&source, pairs) {
            Ok(alert) => (alert, expect.as_slice()),
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::from(2));
            }
        },
    };
    let routing = report(&app, Arc::new(alert), args.json, args.render);
    if expect.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let names: Vec<&str> = app
        .config
        .routes
        .walk()
        .into_iter()
        .map(|(_, r)| r.name.as_str())
        .collect();
    match expectation(expect, &routing.routes, &names) {
        None => Ok(ExitCode::SUCCESS),
        Some(diff) => {
            eprint!("{diff}");
            Ok(ExitCode::from(1))
        }
    }
}

/// What `--resource` says for a payload of the SDK source (an event or an envelope).
const SDK_RESOURCE: &str = "sdk";

/// The source a payload goes through when `--source` is not given: with `--resource sdk`, or
/// when the file is an SDK's envelope (a JSON header line, then items) or event (a JSON object
/// with an `event_id`, `exception` or `logentry`, which no webhook has at its top), the first
/// `sentry_sdk` source; else the first source.
fn default_source(app: &App, resource: Option<&str>, path: &std::path::Path) -> Option<String> {
    let first_of = |kind: &str| {
        app.sources
            .iter()
            .find(|(_, s)| s.kind() == kind)
            .map(|(name, _)| name.clone())
    };
    let sdk = match resource {
        Some(r) => r == SDK_RESOURCE,
        None => std::fs::read(path).is_ok_and(|body| looks_like_sdk(&body)),
    };
    let sdk_source = if sdk { first_of("sentry_sdk") } else { None };
    sdk_source
        .or_else(|| first_of("sentry"))
        .or_else(|| app.sources.keys().next().cloned())
}

fn looks_like_sdk(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body);
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let first = lines.next().unwrap_or_default();
    let header = serde_json::from_str::<serde_json::Value>(first);
    if header.as_ref().is_ok_and(serde_json::Value::is_object) && lines.next().is_some() {
        return true;
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(event)) => {
            ["event_id", "exception", "logentry"]
                .iter()
                .any(|k| event.contains_key(*k))
                && !event.contains_key("data")
                && !event.contains_key("project_name")
        }
        _ => false,
    }
}

/// For a payload that did not parse: the resource its shape suggests, when that is not the
/// one given (`--resource` missing, or naming another resource).
fn resource_hint(given: Option<&str>, body: &[u8]) -> Option<String> {
    let likely = herald_sentry::likely_resource(body)?;
    match given {
        None if likely == "legacy" => None,
        None => Some(format!(
            "this looks like a Sentry-Hook-Resource: {likely} payload; run with --resource {likely}"
        )),
        Some(given) if given.trim() == likely => None,
        Some(_) if likely == "legacy" => Some(
            "this looks like a legacy WebHooks plugin payload; run without --resource".to_owned(),
        ),
        Some(given) => Some(format!(
            "this looks like a Sentry-Hook-Resource: {likely} payload, not {given}; run with --resource {likely}"
        )),
    }
}

/// The alert `herald route test` routes: `source` with what the pairs say. Without
/// `resource` and `action` it is an issue alert rule's notification (`event_alert`,
/// `triggered`), the most common webhook. An empty value leaves a field unset.
pub(crate) fn alert_from_pairs(source: &str, pairs: &[String]) -> Result<Alert, String> {
    let mut alert = Alert {
        source: source.to_owned(),
        resource: "event_alert".to_owned(),
        action: "triggered".to_owned(),
        title: "herald route test".to_owned(),
        ..Alert::default()
    };
    let mut seen: Vec<&str> = Vec::new();
    for pair in pairs {
        let Some((key, value)) = pair.split_once('=').filter(|(k, _)| !k.trim().is_empty()) else {
            return Err(format!(
                "\"{pair}\" is not key=value (keys: {}); for example project=payments-api",
                KEYS.join(", ")
            ));
        };
        let key = key.trim();
        if seen.contains(&key) {
            return Err(format!(
                "\"{key}\" is given twice; an alert has one value per key"
            ));
        }
        seen.push(key);
        let text = Some(value.to_owned()).filter(|v| !v.is_empty());
        match key {
            "project" => alert.project = text,
            "environment" => alert.environment = text,
            "release" => alert.release = text,
            "culprit" => alert.culprit = text,
            "issue_id" => alert.issue_id = text,
            "resource" => alert.resource = value.to_owned(),
            "action" => alert.action = value.to_owned(),
            "title" => alert.title = value.to_owned(),
            "level" if value.is_empty() => alert.level = None,
            "level" => {
                alert.level = Some(
                    Level::ALL
                        .into_iter()
                        .find(|l| l.as_str() == value)
                        .ok_or_else(|| {
                            format!(
                                "level \"{value}\" is not a level (levels: {})",
                                Level::ALL.map(Level::as_str).join(", ")
                            )
                        })?,
                );
            }
            _ => match key.strip_prefix("tags.").filter(|t| !t.is_empty()) {
                Some(tag) if !value.is_empty() => alert.tags.insert(tag, value),
                Some(_) => {}
                None => {
                    let hint = match herald_core::config::closest(key, KEYS) {
                        Some(close) => format!("did you mean {close}? "),
                        None => String::new(),
                    };
                    return Err(format!(
                        "unknown key \"{key}\" ({hint}keys: {})",
                        KEYS.join(", ")
                    ));
                }
            },
        }
    }
    Ok(alert)
}

/// `None` when `matched` holds exactly the `expected` routes (in any order), else the
/// message `--expect` prints: one line per route expected and not used (`-`) or used and not
/// expected (`+`). `names` are the config's routes, to point out a misspelled one.
pub(crate) fn expectation(
    expected: &[String],
    matched: &[String],
    names: &[&str],
) -> Option<String> {
    let missing: Vec<&String> = expected.iter().filter(|e| !matched.contains(e)).collect();
    let extra: Vec<&String> = matched.iter().filter(|m| !expected.contains(m)).collect();
    if missing.is_empty() && extra.is_empty() {
        return None;
    }
    let list = |v: &[String]| {
        if v.is_empty() {
            "(none)".to_owned()
        } else {
            v.join(", ")
        }
    };
    let mut out = format!(
        "error: the routes used are not the expected ones\n  expected: {}\n  used:     {}\n",
        list(expected),
        list(matched)
    );
    for route in missing {
        let note = if names.contains(&route.as_str()) {
            String::new()
        } else {
            match herald_core::config::closest(route, names) {
                Some(close) => format!("; no route is named so, did you mean {close}?"),
                None => "; no route is named so".to_owned(),
            }
        };
        out.push_str(&format!("  - {route} (expected, not used{note})\n"));
    }
    for route in extra {
        out.push_str(&format!("  + {route} (used, not expected)\n"));
    }
    Some(out)
}

/// Routes `alert` and prints the dry run (text or JSON); returns the routing for `--expect`.
fn report(app: &App, alert: Arc<Alert>, json: bool, render: bool) -> herald_core::Routing {
    let (routing, steps) = app.config.routes.explain(&alert);
    let noise = noise_notes(&app.config, &routing, &alert);
    let silenced = if routing.sinks.is_empty() {
        Ok(vec![])
    } else {
        silenced_by(&app.config.storage.url, &alert)
    };

    let mut rendered = Vec::new();
    if render {
        for (route, sinks) in &routing.deliveries {
            for sink in sinks {
                let n = Notification::single(alert.clone(), route.clone(), sink.clone(), "dry-run");
                let preview = match app.sinks.get(sink) {
                    Some(s) => s.preview(&n),
                    None => Err("sink not built".to_owned()),
                };
                rendered.push((route.clone(), sink.clone(), preview));
            }
        }
    }

    if json {
        // The same object as the admin API's route-test.
        let (mut out, _) = herald_server::dry_run::explained(&alert, &app.config.routes);
        if let Ok(silences) = &silenced
            && !silences.is_empty()
        {
            out["silenced_by"] = silences.iter().map(|(id, _)| json!(id)).collect();
        }
        if !noise.is_empty() {
            out["noise"] = noise
                .iter()
                .map(|(route, notes)| json!({"route": route, "explain": notes}))
                .collect();
        }
        if render {
            out["rendered"] = rendered
                .iter()
                .map(|(route, sink, r)| match r {
                    Ok(text) => json!({"route": route, "sink": sink, "message": text}),
                    Err(e) => json!({"route": route, "sink": sink, "error": e}),
                })
                .collect();
        }
        println!("{out}");
        return routing;
    }

    let a = &alert;
    println!(
        "alert: {} {}/{} project={} level={} environment={}",
        a.source,
        a.resource,
        a.action,
        a.project.as_deref().unwrap_or("-"),
        a.level.map_or("-", |l| l.as_str()),
        a.environment.as_deref().unwrap_or("-"),
    );
    println!("  title: {}", a.title);
    if !a.tags.is_empty() {
        let tags: Vec<String> = a.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("  tags: {}", tags.join(" "));
    }
    println!("routes:");
    if steps.is_empty() {
        println!("  (no routes configured)");
    }
    for s in &steps {
        let pad = "  ".repeat(s.depth + 1);
        match &s.outcome {
            Outcome::Matched { used: true } => {
                let sinks = routing
                    .deliveries
                    .iter()
                    .find(|(r, _)| *r == s.route)
                    .map(|(_, s)| s.join(", "))
                    .unwrap_or_default();
                let sinks = if sinks.is_empty() {
                    "no sinks: dropped".into()
                } else {
                    sinks
                };
                println!("{pad}+ {}: matched, sends to {sinks}", s.route);
            }
            Outcome::Matched { used: false } => {
                println!("{pad}+ {}: matched, a child route is used instead", s.route)
            }
            Outcome::Mismatched(why) => {
                println!("{pad}- {}: no match: {}", s.route, why.join("; "))
            }
            Outcome::Skipped(why) => println!("{pad}  {}: not tried: {why}", s.route),
        }
    }
    if routing.sinks.is_empty() {
        println!("sinks: none (no route sends this alert anywhere)");
    } else {
        println!("sinks: {}", routing.sinks.join(", "));
    }
    if !noise.is_empty() {
        println!("noise control:");
        for (route, notes) in &noise {
            for note in notes {
                println!("  {route}: {note}");
            }
        }
    }
    match &silenced {
        Ok(silences) => {
            for (_, line) in silences {
                println!("{line}");
            }
        }
        Err(why) if !noise.is_empty() => println!("  silences: {why}"),
        Err(_) => {}
    }
    for (route, sink, r) in &rendered {
        println!("--- {sink} (route {route}) ---");
        match r {
            Ok(text) => println!("{text}"),
            Err(e) => println!("(cannot render: {e})"),
        }
    }
    routing
}

/// For each used route with noise settings, what they would do with this alert now: quiet
/// hours are read at the current time; dedup, throttle and digests depend on what the
/// running server has stored, so they are described as policy.
fn noise_notes(
    config: &herald_core::config::Config,
    routing: &herald_core::Routing,
    alert: &herald_core::Alert,
) -> Vec<(String, Vec<String>)> {
    let now = jiff::Timestamp::now();
    config
        .routes
        .walk()
        .into_iter()
        .filter(|(_, r)| routing.routes.contains(&r.name))
        .filter_map(|(_, r)| {
            let policy = r.noise.as_ref()?;
            Some((
                r.name.clone(),
                herald_core::noise::explain(policy, alert, now),
            ))
        })
        .collect()
}

/// The active silences in the store at `storage.url` that hold this alert back now, as
/// `(id, line to print)`; `Err` says why the store could not be read (it is only read, never
/// created or migrated).
fn silenced_by(url: &str, alert: &herald_core::Alert) -> Result<Vec<(String, String)>, String> {
    let now = jiff::Timestamp::now();
    // The url may carry a password: only its redacted form is shown.
    let shown = herald_store::redact(url);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let records = runtime
        .block_on(herald_store::read_silences(url, now))
        .map_err(|e| {
            format!(
                "cannot read the store at \"{shown}\" ({e}); they are checked when herald serves"
            )
        })?
        .ok_or_else(|| {
            format!("no store at \"{shown}\" from here; they are checked when herald serves")
        })?;
    Ok(records
        .into_iter()
        .filter_map(|r| {
            let matchers = herald_core::noise::parse_matchers(&r.matchers).ok()?;
            let silence = herald_core::noise::Silence {
                id: r.id.clone(),
                matchers,
                starts_at: r.starts_at,
                ends_at: r.ends_at,
            };
            silence.silences(alert, now).then(|| {
                let line = format!(
                    "silenced now by {} until {} (by {}: {})",
                    r.id, r.ends_at, r.author, r.comment
                );
                (r.id, line)
            })
        })
        .collect())
}

#[cfg(test)]
mod tests;
