//! `herald route`: the dry run. Parses a payload as Sentry would send it, routes it on the
//! config, and prints which routes matched and why the others did not, as text or as one
//! JSON object. Exit 0 when the payload parsed, 2 when it did not, 1 for a bad config.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use herald_core::Notification;
use herald_core::route::Outcome;
use serde_json::json;

use crate::app::App;

pub struct Args {
    pub config: PathBuf,
    pub resource: Option<String>,
    pub source: Option<String>,
    pub json: bool,
    pub render: bool,
    pub payload: PathBuf,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let app = match App::load(&args.config) {
        Ok(app) => app,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::from(1));
        }
    };
    let body = std::fs::read(&args.payload)
        .with_context(|| format!("cannot read payload file \"{}\"", args.payload.display()))?;
    let source = match &args.source {
        Some(s) if app.sources.contains_key(s) => s.clone(),
        Some(s) => anyhow::bail!(
            "unknown source \"{s}\" (sources: {})",
            app.sources.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
        None => app
            .sources
            .keys()
            .next()
            .cloned()
            .unwrap_or_else(|| "sentry".to_owned()),
    };
    let parsed = match herald_sentry::parse(&source, args.resource.as_deref(), &body) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: cannot parse {}: {e}", args.payload.display());
            return Ok(ExitCode::from(2));
        }
    };
    if let herald_sentry::Parsed::Ignored { alert, reason } = &parsed {
        if args.json {
            println!("{}", herald_server::dry_run::ignored(alert, reason));
        } else {
            println!("ignored: {reason}");
            println!("herald does not route this payload; it would answer 200 and send nothing");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let alert = Arc::new(parsed.into_alert());
    let (routing, steps) = app.config.routes.explain(&alert);
    let noise = noise_notes(&app.config, &routing, &alert);
    let silenced = if routing.sinks.is_empty() {
        Ok(vec![])
    } else {
        silenced_by(&app.config.storage.url, &alert)
    };

    let mut rendered = Vec::new();
    if args.render {
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

    if args.json {
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
        if args.render {
            out["rendered"] = rendered
                .iter()
                .map(|(route, sink, r)| match r {
                    Ok(text) => json!({"route": route, "sink": sink, "message": text}),
                    Err(e) => json!({"route": route, "sink": sink, "error": e}),
                })
                .collect();
        }
        println!("{out}");
        return Ok(ExitCode::SUCCESS);
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
    Ok(ExitCode::SUCCESS)
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
