//! `herald dsn`: the DSN of every project of the config's `sentry_sdk` sources, for a given
//! base URL, as `SOURCE/PROJECT DSN` lines on standard output. A DSN holds the project's
//! public key, so it is printed for the operator who asked and nowhere else (no log line).
//! Exit 0 with at least one DSN, 1 for a bad config or none, 2 for a bad base URL.

use std::path::Path;
use std::process::ExitCode;

use herald_core::config::Diagnostics;
use herald_sentry_sdk::SdkSourceConfig;

use crate::app::App;

pub fn run(config: &Path, base_url: &str) -> anyhow::Result<ExitCode> {
    let app = match App::load(config) {
        Ok(app) => app,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::from(1));
        }
    };
    let mut printed = 0;
    for spec in &app.config.sources {
        if spec.kind != herald_sentry_sdk::source::KIND {
            continue;
        }
        // The config loaded, so this source's settings did too.
        let mut diag = Diagnostics::new(&config.display().to_string());
        let Some(source) = SdkSourceConfig::load(&spec.name, &spec.node, &mut diag) else {
            continue;
        };
        for project in &source.projects {
            match project.dsn(base_url) {
                Ok(dsn) => {
                    println!("{}/{} {dsn}", source.name, project.slug);
                    printed += 1;
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::from(2));
                }
            }
        }
    }
    if printed == 0 {
        eprintln!(
            "error: {} has no source of type sentry_sdk, so there is no DSN to print (hint: add one, see the README's \"Without sentry.io\")",
            config.display()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
