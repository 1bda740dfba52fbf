//! `type: example_chat` settings as written in the config file.

use herald_core::Secret;
use herald_core::config::number;
use serde::Deserialize;

/// `type: example_chat` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatConfig {
    /// The chat service's incoming-webhook URL; a secret, since its path is the credential.
    pub url: Secret,
    /// How long one attempt may take, connecting included, before it counts as unreachable.
    #[serde(default = "default_timeout_seconds", deserialize_with = "number::u64")]
    pub timeout_seconds: u64,
}

fn default_timeout_seconds() -> u64 {
    10
}
