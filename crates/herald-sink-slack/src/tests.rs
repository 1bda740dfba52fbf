//! Helpers shared by this crate's unit tests: building a sink from config text the way the
//! binary does.

use std::sync::Arc;

use herald_core::config::{Config, Diagnostics, Env};
use herald_core::{Sink, SinkRegistry};

use crate::SlackFactory;

/// Builds the sinks of a whole config file through the registry; returns the sink named `s`
/// (when it built) and every error and warning as `herald check` would print them.
pub(crate) fn build(yaml: &str) -> (Option<Arc<dyn Sink>>, Vec<String>) {
    let env = Env::from_pairs([("SLACK_TOKEN", "xoxb-sekrit-token")]);
    let config = match Config::parse(yaml, "herald.yaml", &env) {
        Ok((config, _)) => config,
        Err(errors) => return (None, errors.errors.iter().map(|e| e.to_string()).collect()),
    };
    let mut registry = SinkRegistry::new();
    registry.register(SlackFactory);
    let mut diag = Diagnostics::new("herald.yaml");
    let mut sinks = registry.build_all(&config.sinks, &mut diag);
    let messages = match diag.into_result(()) {
        Ok((_, warnings)) => warnings.iter().map(|e| e.to_string()).collect(),
        Err(errors) => errors
            .errors
            .iter()
            .chain(&errors.warnings)
            .map(|e| e.to_string())
            .collect(),
    };
    (sinks.remove("s"), messages)
}
