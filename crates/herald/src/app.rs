//! Loads a config into everything herald runs with: the core config, the sources and the
//! sinks, each built by its registry (`sources.rs`, `sinks.rs`). Every problem of every part is collected, so `herald check`
//! reports them all at once.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use herald_core::config::{Config, ConfigError, ConfigErrors, Diagnostics, Env, exposure_errors};
use herald_core::{Sink, Source};

/// A config with its sources and sinks ready to use.
#[derive(Debug)]
pub struct App {
    pub config: Config,
    pub sources: BTreeMap<String, Arc<dyn Source>>,
    pub sinks: BTreeMap<String, Arc<dyn Sink>>,
    pub warnings: Vec<ConfigError>,
}

/// What the config is loaded for: to be served (`check`, `serve`, every reload), or by a tool
/// that uses some of it (`route`, `send-test`), which does not need what only serving needs,
/// such as a source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    Serve,
    Tool,
}

impl App {
    /// The config for a tool that uses its routes or sinks (`route`, `send-test`).
    pub fn load(path: &Path) -> Result<App, ConfigErrors> {
        App::read(path, None, Purpose::Tool)
    }

    /// The config as `herald serve` takes it, with every check `check` makes, for a server
    /// that listens on `listen` (`serve --listen`) or, when `None`, `server.listen`:
    /// credentials written in the file are checked against that address.
    pub fn load_listening(path: &Path, listen: Option<&str>) -> Result<App, ConfigErrors> {
        App::read(path, listen, Purpose::Serve)
    }

    fn read(path: &Path, listen: Option<&str>, purpose: Purpose) -> Result<App, ConfigErrors> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors::one(ConfigError::new(
                herald_core::Location::file(&file),
                format!("cannot read config file \"{file}\": {e}"),
            ))
        })?;
        App::parse(&text, &file, &Env::process(), listen, purpose)
    }

    fn parse(
        text: &str,
        file: &str,
        env: &Env,
        listen: Option<&str>,
        purpose: Purpose,
    ) -> Result<App, ConfigErrors> {
        let (config, warnings, mut errors) = match Config::parse(text, file, env) {
            Ok((c, w)) => (Some(c), w, vec![]),
            Err(e) => (None, e.warnings, e.errors),
        };
        // The parts below need a parsed tree; when the YAML itself is broken there is none.
        let Some(config) = config.or_else(|| partial(text, file, env)) else {
            return Err(ConfigErrors { errors, warnings });
        };
        let mut diag = Diagnostics::new(file);
        if purpose == Purpose::Serve {
            diag.extend(config.serve_errors());
        }
        let mut public_credentials = config.public_credentials.clone();
        let sources = crate::sources::registry().build_all(
            &config.sources,
            &mut diag,
            &mut public_credentials,
        );
        diag.extend(sdk_project_ids(&config.sources, file));
        diag.extend(match listen {
            Some(listen) => exposure_errors(&public_credentials, listen, "--listen"),
            None => exposure_errors(&public_credentials, &config.server.listen, "server.listen"),
        });
        let sinks = crate::sinks::registry().build_all(&config.sinks, &mut diag);
        match diag.into_result(()) {
            Ok(((), more)) if errors.is_empty() => Ok(App {
                config,
                sources,
                sinks,
                warnings: warnings.into_iter().chain(more).collect(),
            }),
            Ok(((), more)) => Err(finish(errors, warnings.into_iter().chain(more).collect())),
            Err(e) => {
                errors.extend(e.errors);
                Err(finish(
                    errors,
                    warnings.into_iter().chain(e.warnings).collect(),
                ))
            }
        }
    }
}

/// SDK requests name a project by its id alone (`/api/{id}/envelope/`), so ids must be unique
/// across every `sentry_sdk` source, not only within one (which the source checks itself).
fn sdk_project_ids(sources: &[herald_core::config::SectionSpec], file: &str) -> Vec<ConfigError> {
    let loaded: Vec<_> = sources
        .iter()
        .filter(|spec| spec.kind == herald_sentry_sdk::source::KIND)
        .filter_map(|spec| {
            // Each source's own problems are reported by its build; only the ids matter here.
            let mut scratch = Diagnostics::new(file);
            herald_sentry_sdk::SdkSourceConfig::load(&spec.name, &spec.node, &mut scratch)
        })
        .collect();
    herald_sentry_sdk::unique_project_ids(&loaded)
}

/// When the core config has errors, the sources and sinks are still checked, so one run of
/// `herald check` shows everything. This re-reads the tree ignoring the core's verdict.
fn partial(text: &str, file: &str, env: &Env) -> Option<Config> {
    Config::parse_lenient(text, file, env)
}

fn finish(mut errors: Vec<ConfigError>, warnings: Vec<ConfigError>) -> ConfigErrors {
    errors.sort_by(|a, b| a.location.cmp(&b.location));
    errors.dedup();
    ConfigErrors { errors, warnings }
}
