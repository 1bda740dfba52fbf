//! The settings of a `type: sentry` source: which secrets authenticate Sentry's requests and
//! how old a signed request may be. The config loader hands the whole mapping over (its `type`
//! key included) and [`herald_core::config::Diagnostics::typed`] turns it into [`SourceConfig`].

use std::time::Duration;

use herald_core::Secret;
use serde::{Deserialize, Deserializer};

/// `sources.<name>` with `type: sentry`, for example
///
/// ```yaml
/// sentry: { type: sentry, client_secret: ${SENTRY_CLIENT_SECRET}, legacy_token: ${SENTRY_LEGACY_TOKEN:-}, max_skew_seconds: 300 }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// The source type, always `sentry`. Accepted here because the loader passes the whole
    /// mapping; the loader itself has already used it to pick this crate.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The integration's Client Secret (Settings → Developer Settings → your integration).
    /// When set, every integration-platform request must carry a valid `Sentry-Hook-Signature`
    /// (or `Sentry-App-Signature`). An empty value means unset.
    #[serde(default, deserialize_with = "opt_secret")]
    pub client_secret: Option<Secret>,
    /// A token the legacy WebHooks plugin must present (the plugin cannot sign, so the token
    /// travels in the callback URL). An empty value means unset, which lets
    /// `${SENTRY_LEGACY_TOKEN:-}` switch it off.
    #[serde(default, deserialize_with = "opt_secret")]
    pub legacy_token: Option<Secret>,
    /// Reject a signed request whose `Sentry-Hook-Timestamp` is further than this many seconds
    /// from now, in either direction. Sentry does not sign the timestamp, so this limits replays
    /// only together with a network that hides the bodies; unset means no check.
    #[serde(default, deserialize_with = "herald_core::config::number::opt_u64")]
    pub max_skew_seconds: Option<u64>,
}

impl SourceConfig {
    /// The allowed clock difference for `Sentry-Hook-Timestamp`, when one is configured.
    pub fn max_skew(&self) -> Option<Duration> {
        self.max_skew_seconds.map(Duration::from_secs)
    }
}

/// A secret where an empty text means "not configured" (a `${VAR:-}` that is unset).
fn opt_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    let secret = Option::<Secret>::deserialize(d)?;
    Ok(secret.filter(|s| !s.is_empty()))
}

#[cfg(test)]
mod tests;
