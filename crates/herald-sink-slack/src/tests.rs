//! Helpers shared by this crate's unit tests: building a sink from config text the way the
//! binary does.

use std::sync::Arc;

use herald_core::Sink;
use herald_core::config::Env;

use crate::SlackFactory;

/// Builds the first sink of a config through the registry; returns it (when it built) and
/// every error and warning as `herald check` would print them.
pub(crate) fn build(yaml: &str) -> (Option<Arc<dyn Sink>>, Vec<String>) {
    let env = Env::from_pairs([("SLACK_TOKEN", "xoxb-sekrit-token")]);
    let built = herald_core::testing::build_sink(SlackFactory, yaml, &env);
    (built.sink, built.messages)
}
