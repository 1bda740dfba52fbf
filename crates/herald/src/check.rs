//! `herald check`: validates a config and prints the route tree, or every error with its file,
//! line and column. Exit 0 when valid, 1 when not.

use std::path::Path;
use std::process::ExitCode;

use crate::app::App;

pub fn run(config: &Path) -> anyhow::Result<ExitCode> {
    // Exactly what `serve` loads, so "valid" means herald would start with it.
    match App::load_listening(config, None) {
        Ok(app) => {
            for w in &app.warnings {
                eprintln!("{w}");
            }
            println!("{} is valid", config.display());
            println!("sources: {}", join(app.sources.keys().map(String::as_str)));
            let sinks: Vec<String> = app
                .config
                .sinks
                .iter()
                .map(|s| format!("{} ({})", s.name, s.kind))
                .collect();
            println!("sinks: {}", join(sinks.iter().map(String::as_str)));
            println!(
                "sink types available: {}",
                crate::sinks::registry().kinds().join(", ")
            );
            println!("routes:");
            for line in app.config.routes.render().lines() {
                println!("  {line}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            for w in &errors.warnings {
                eprintln!("{w}");
            }
            for e in &errors.errors {
                eprintln!("{e}");
            }
            let n = errors.errors.len();
            eprintln!(
                "{} is invalid: {n} error{}",
                config.display(),
                if n == 1 { "" } else { "s" }
            );
            Ok(ExitCode::from(1))
        }
    }
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = items.collect();
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}
