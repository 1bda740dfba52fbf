//! Authentication of Sentry's requests: the HMAC-SHA256 body signature of the integration
//! platform, the freshness of its timestamp header, and the shared token used for the legacy
//! WebHooks plugin, which cannot sign. Every comparison runs in constant time.

use std::time::Duration;

use herald_core::Secret;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::SourceConfig;

/// The header naming the payload's resource (`issue`, `event_alert`, ...).
pub const RESOURCE_HEADER: &str = "Sentry-Hook-Resource";
/// The signature header of webhook deliveries.
pub const SIGNATURE_HEADER: &str = "Sentry-Hook-Signature";
/// The signature header of UI-component and alert-rule-action requests; same scheme.
pub const APP_SIGNATURE_HEADER: &str = "Sentry-App-Signature";
/// Unix seconds at which Sentry sent the request (not covered by the signature).
pub const TIMESTAMP_HEADER: &str = "Sentry-Hook-Timestamp";
/// Sentry's id of the delivery (32 hex characters), useful for logs and deduplication.
pub const REQUEST_ID_HEADER: &str = "Request-ID";

/// Why a request was not accepted as coming from Sentry. Messages never contain a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error(
        "the request has no Sentry-Hook-Signature or Sentry-App-Signature header (a client secret is configured, so only signed requests are accepted)"
    )]
    MissingSignature,
    #[error(
        "the signature \"{given}\" does not match the body (check that client_secret is the integration's Client Secret)"
    )]
    WrongSignature { given: String },
    #[error(
        "the request has no Sentry-Hook-Timestamp header (max_skew_seconds is configured, so one is required)"
    )]
    MissingTimestamp,
    #[error("the Sentry-Hook-Timestamp \"{given}\" is not a number of Unix seconds")]
    BadTimestamp { given: String },
    #[error(
        "the Sentry-Hook-Timestamp \"{given}\" is {skew_seconds} seconds away from now, more than max_skew_seconds ({max_seconds}); check the clocks or resend"
    )]
    StaleTimestamp {
        given: String,
        skew_seconds: u64,
        max_seconds: u64,
    },
    #[error(
        "the request has no token (legacy_token is configured; add it to the WebHooks plugin's callback URL)"
    )]
    MissingToken,
    #[error("the token does not match legacy_token")]
    WrongToken,
    #[error(
        "a legacy WebHooks request was refused because this source has no legacy_token (set legacy_token to accept the legacy plugin)"
    )]
    LegacyNotAllowed,
    #[error(
        "an integration-platform request was refused because this source has no client_secret (set client_secret to the integration's Client Secret)"
    )]
    PlatformNotAllowed,
}

/// The signature Sentry computes for `body`: lowercase hex of HMAC-SHA256 keyed with the
/// client secret. Exposed so tests and tools can sign requests the way Sentry does.
pub fn sign(secret: &Secret, body: &[u8]) -> String {
    hex::encode(mac(secret, body).finalize().into_bytes())
}

/// Checks the body signature. `header` is the value of `Sentry-Hook-Signature` or, when that is
/// absent, of `Sentry-App-Signature`: the caller passes whichever is present. The check runs
/// over the raw bytes as received (re-serialized JSON would not match) and in constant time.
pub fn verify_signature(
    secret: &Secret,
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let Some(given) = header.map(str::trim).filter(|h| !h.is_empty()) else {
        return Err(SignatureError::MissingSignature);
    };
    let wrong = || SignatureError::WrongSignature {
        given: shorten(given),
    };
    let bytes = hex::decode(given).map_err(|_| wrong())?;
    mac(secret, body).verify_slice(&bytes).map_err(|_| wrong())
}

/// Checks that `Sentry-Hook-Timestamp` is within `max_skew` of `now`, in either direction.
/// Call it only when a limit is configured; then a missing or unreadable header is refused.
pub fn check_timestamp(
    header: Option<&str>,
    max_skew: Duration,
    now: jiff::Timestamp,
) -> Result<(), SignatureError> {
    let Some(given) = header.map(str::trim).filter(|h| !h.is_empty()) else {
        return Err(SignatureError::MissingTimestamp);
    };
    let bad = || SignatureError::BadTimestamp {
        given: shorten(given),
    };
    // Sentry sends whole seconds; a fractional value is read too rather than refused.
    let seconds: i64 = match given.parse::<i64>() {
        Ok(s) => s,
        Err(_) => match given.parse::<f64>() {
            Ok(f) if f.is_finite() && f.abs() < 1e15 => f.round() as i64,
            _ => return Err(bad()),
        },
    };
    let skew_seconds = now.as_second().abs_diff(seconds);
    if u128::from(skew_seconds) * 1000 > max_skew.as_millis() {
        return Err(SignatureError::StaleTimestamp {
            given: shorten(given),
            skew_seconds,
            max_seconds: max_skew.as_secs(),
        });
    }
    Ok(())
}

/// Checks the legacy plugin's token in constant time (also with respect to its length: both
/// sides are hashed first, so only equal-length digests are compared).
pub fn verify_token(expected: &Secret, given: Option<&str>) -> Result<(), SignatureError> {
    let Some(given) = given.filter(|g| !g.is_empty()) else {
        return Err(SignatureError::MissingToken);
    };
    let a = Sha256::digest(expected.expose().as_bytes());
    let b = Sha256::digest(given.as_bytes());
    if bool::from(a.as_slice().ct_eq(b.as_slice())) {
        Ok(())
    } else {
        Err(SignatureError::WrongToken)
    }
}

/// What a request presented, as the server read it from headers and URL.
#[derive(Debug, Clone, Copy, Default)]
pub struct Credentials<'a> {
    /// `Sentry-Hook-Resource`; its absence marks a legacy WebHooks plugin request.
    pub resource: Option<&'a str>,
    /// `Sentry-Hook-Signature`, or `Sentry-App-Signature` when that is absent.
    pub signature: Option<&'a str>,
    /// `Sentry-Hook-Timestamp`.
    pub timestamp: Option<&'a str>,
    /// The token from the callback URL, for legacy plugin requests.
    pub token: Option<&'a str>,
}

impl SourceConfig {
    /// Applies this source's policy to one request; each endpoint is authenticated by its own
    /// credential only:
    ///
    /// - integration platform (a resource header): the signature must match `client_secret`,
    ///   and with `max_skew_seconds` the timestamp must be fresh; without `client_secret` the
    ///   request is refused, whatever `legacy_token` says;
    /// - legacy plugin (no resource header): the token must match `legacy_token`; without one
    ///   the request is refused, whatever `client_secret` says;
    /// - `insecure: true` (which the loader allows only with neither credential): both are
    ///   accepted unauthenticated, the timestamp still checked when a limit is set.
    pub fn authenticate(
        &self,
        request: Credentials<'_>,
        body: &[u8],
        now: jiff::Timestamp,
    ) -> Result<(), SignatureError> {
        self.precheck(request, now)?;
        if request.resource.is_some()
            && let Some(secret) = &self.client_secret
        {
            verify_signature(secret, body, request.signature)?;
        }
        Ok(())
    }
}

impl SourceConfig {
    /// The part of [`SourceConfig::authenticate`] that needs no body: a missing signature, a
    /// stale timestamp, a missing or wrong legacy token, or a legacy request to a source that
    /// takes none. The server runs it before reading the body, so a request that cannot be
    /// authentic costs herald no memory; the signature itself is checked once the body is in.
    pub fn precheck(
        &self,
        request: Credentials<'_>,
        now: jiff::Timestamp,
    ) -> Result<(), SignatureError> {
        if request.resource.is_some() {
            match &self.client_secret {
                Some(_) if request.signature.map(str::trim).is_none_or(str::is_empty) => {
                    return Err(SignatureError::MissingSignature);
                }
                Some(_) => {}
                None if self.insecure => {}
                None => return Err(SignatureError::PlatformNotAllowed),
            }
            if let Some(max_skew) = self.max_skew() {
                check_timestamp(request.timestamp, max_skew, now)?;
            }
            return Ok(());
        }
        match &self.legacy_token {
            Some(token) => verify_token(token, request.token),
            None if self.insecure => Ok(()),
            None => Err(SignatureError::LegacyNotAllowed),
        }
    }
}

fn mac(secret: &Secret, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(body);
    mac
}

/// Header values are attacker-chosen; keep error messages short.
fn shorten(value: &str) -> String {
    const MAX: usize = 80;
    match value.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &value[..cut]),
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests;
