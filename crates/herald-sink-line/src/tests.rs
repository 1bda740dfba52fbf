//! Helpers shared by this crate's unit tests: building a sink from config text the way the
//! binary does.

use std::sync::Arc;

use herald_core::config::Env;
use herald_core::{Sink, SinkRegistry};

use crate::{LineFactory, LineNotifyFactory};

/// Builds the first sink of a config through the registry; returns it (when it built) and
/// every error and warning as `herald check` would print them.
pub(crate) fn build(yaml: &str) -> (Option<Arc<dyn Sink>>, Vec<String>) {
    let env = Env::from_pairs([("LINE_TOKEN", "line-sekrit-token")]);
    let mut registry = SinkRegistry::new();
    registry.register(LineFactory).register(LineNotifyFactory);
    let built = herald_core::testing::build_with(&registry, yaml, &env);
    (built.sink, built.messages)
}
