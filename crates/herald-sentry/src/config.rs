//! The settings of a `type: sentry` source: which secrets authenticate Sentry's requests and
//! how old a signed request may be. The config loader hands the whole mapping over (its `type`
//! key included) and [`SourceConfig::load`] turns it into [`SourceConfig`], refusing a source
//! that would accept requests from anyone without saying so (`insecure: true`).

use std::time::Duration;

use herald_core::Secret;
use herald_core::config::{Diagnostics, Node, PublicCredential};
use serde::{Deserialize, Deserializer};

/// The keys of a source that hold a credential checked on incoming requests.
const CREDENTIAL_KEYS: [&str; 2] = ["client_secret", "legacy_token"];

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
    /// Every integration-platform request must carry a valid `Sentry-Hook-Signature` (or
    /// `Sentry-App-Signature`) made with it; unset (empty, as `${VAR:-}` gives), the
    /// integration-platform endpoint refuses every request.
    #[serde(default, deserialize_with = "opt_secret")]
    pub client_secret: Option<Secret>,
    /// A token the legacy WebHooks plugin must present (the plugin cannot sign, so the token
    /// travels in the callback URL). Unset (empty, as `${SENTRY_LEGACY_TOKEN:-}` gives), the
    /// legacy endpoint refuses every request.
    #[serde(default, deserialize_with = "opt_secret")]
    pub legacy_token: Option<Secret>,
    /// Reject a signed request whose `Sentry-Hook-Timestamp` is further than this many seconds
    /// from now, in either direction. Sentry does not sign the timestamp, so this limits replays
    /// only together with a network that hides the bodies; unset means no check.
    #[serde(default, deserialize_with = "herald_core::config::number::opt_u64")]
    pub max_skew_seconds: Option<u64>,
    /// Accept unauthenticated requests on both endpoints. Allowed only with neither credential
    /// set, for trials; every start and reload logs a warning naming the source.
    #[serde(default)]
    pub insecure: bool,
}

impl SourceConfig {
    /// Reads `sources.<name>` and checks that it authenticates its requests: a source with
    /// neither credential is an error unless it says `insecure: true` (then a warning), and
    /// `insecure: true` next to a credential is an error, since one of the two is a mistake.
    pub fn load(name: &str, node: &Node, diag: &mut Diagnostics) -> Option<SourceConfig> {
        let config = diag.typed::<SourceConfig>(node)?;
        let has_credential = config.client_secret.is_some() || config.legacy_token.is_some();
        let insecure_at = node.get("insecure").unwrap_or(node);
        match (has_credential, config.insecure) {
            (true, false) => {}
            (false, false) => {
                diag.error(
                    node,
                    format!(
                        "source \"{name}\" has no credential: client_secret and legacy_token are both unset or empty, so it would accept alerts from anyone"
                    ),
                    Some(
                        "set client_secret: ${SENTRY_CLIENT_SECRET} (integration platform) and/or legacy_token: ${SENTRY_LEGACY_TOKEN} (legacy plugin); for a local trial without them, add insecure: true"
                            .into(),
                    ),
                );
                return None;
            }
            (true, true) => {
                let set: Vec<&str> = [
                    ("client_secret", config.client_secret.is_some()),
                    ("legacy_token", config.legacy_token.is_some()),
                ]
                .into_iter()
                .filter_map(|(key, set)| set.then_some(key))
                .collect();
                diag.error(
                    insecure_at,
                    format!(
                        "source \"{name}\" says insecure: true but sets {}",
                        set.join(" and ")
                    ),
                    Some(
                        "remove insecure: true to authenticate requests, or remove the credential to accept anyone's"
                            .into(),
                    ),
                );
                return None;
            }
            (false, true) => diag.warning(
                insecure_at,
                format!(
                    "source \"{name}\" is insecure: both of its endpoints accept requests from anyone who can reach herald"
                ),
                Some("set client_secret and/or legacy_token and remove insecure: true".into()),
            ),
        }
        Some(config)
    }

    /// The credentials of `sources.<name>` whose value is written in the config file (see
    /// [`PublicCredential`]).
    pub fn public_credentials(
        name: &str,
        node: &Node,
        diag: &Diagnostics,
    ) -> Vec<PublicCredential> {
        CREDENTIAL_KEYS
            .into_iter()
            .filter_map(|key| {
                PublicCredential::find(diag, node, key, &format!("sources.{name}.{key}"))
            })
            .collect()
    }

    /// The allowed clock difference for `Sentry-Hook-Timestamp`, when one is configured.
    pub fn max_skew(&self) -> Option<Duration> {
        self.max_skew_seconds.map(Duration::from_secs)
    }
}

/// A secret where an empty text means "not configured" (a `${VAR:-}` that is unset; a
/// `${VAR}` set but empty never gets here, the loader refuses it).
fn opt_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    let secret = Option::<Secret>::deserialize(d)?;
    Ok(secret.filter(|s| !s.is_empty()))
}

#[cfg(test)]
mod tests;
