//! Helpers for sink crates' tests (herald's own and third parties'): build a sink from config
//! text through its factory, exactly as `herald check` and `herald serve` do, so a test covers
//! the config checks along with the sink.

use std::sync::Arc;

use crate::config::{Config, Env};
use crate::sink::{Sink, SinkFactory, SinkRegistry};

/// What building a config's first sink gave.
#[derive(Debug)]
pub struct Built {
    /// The sink, when it built without errors.
    pub sink: Option<Arc<dyn Sink>>,
    /// Every error (and then every warning) as `herald check` prints it.
    pub messages: Vec<String>,
}

impl Built {
    /// The sink, or the messages as the error.
    pub fn into_result(self) -> Result<Arc<dyn Sink>, Vec<String>> {
        match self.sink {
            Some(sink) if self.messages.iter().all(|m| m.contains(": warning: ")) => Ok(sink),
            _ => Err(self.messages),
        }
    }
}

/// Builds the first sink of `yaml` (a config with a `sinks:` section, reported as
/// `herald.yaml`) with `factory`, taking `${VAR}` values from `env`.
pub fn build_sink(factory: impl SinkFactory + 'static, yaml: &str, env: &Env) -> Built {
    let mut registry = SinkRegistry::new();
    registry.register(factory);
    build_with(&registry, yaml, env)
}

/// Like [`build_sink`], with every factory of `registry` available.
pub fn build_with(registry: &SinkRegistry, yaml: &str, env: &Env) -> Built {
    let config = match Config::parse(yaml, "herald.yaml", env) {
        Ok((config, _)) => config,
        Err(errors) => {
            return Built {
                sink: None,
                messages: errors.errors.iter().map(ToString::to_string).collect(),
            };
        }
    };
    let mut diag = crate::config::Diagnostics::new("herald.yaml");
    let mut sinks = registry.build_all(&config.sinks, &mut diag);
    let first = config.sinks.first().map(|s| s.name.clone());
    let messages = match diag.into_result(()) {
        Ok((_, warnings)) => warnings.iter().map(ToString::to_string).collect(),
        Err(e) => e
            .errors
            .iter()
            .chain(&e.warnings)
            .map(ToString::to_string)
            .collect(),
    };
    Built {
        sink: first.and_then(|name| sinks.remove(&name)),
        messages,
    }
}
