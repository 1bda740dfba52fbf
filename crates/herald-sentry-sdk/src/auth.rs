//! Which project a request is for, and whether it holds that project's public key. SDKs
//! present the key in one of four places (`X-Sentry-Auth`, `Authorization: Sentry ...`, the
//! `sentry_key` query parameter, or the envelope header's `dsn` when a tunnel forwards the
//! envelope); the project is the id in the request's path. The key is compared in constant
//! time, and no message repeats the key given, which may be another project's.

use herald_core::Secret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{Project, SdkSourceConfig};

/// A request refused before anything is read or stored; [`AuthError::status`] is the answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error(
        "no sentry_key in X-Sentry-Auth, Authorization, the query or the envelope's dsn (hint: give the SDK the DSN `herald dsn` prints)"
    )]
    MissingKey,
    #[error(
        "project {0} is not configured in herald (hint: the DSN's last part must be a project id from herald's config)"
    )]
    UnknownProject(u64),
    #[error(
        "the sentry_key is not project {0}'s public key (hint: give the SDK the DSN `herald dsn` prints for it)"
    )]
    WrongKey(u64),
    #[error("the envelope's dsn names project {dsn}, but it was sent to project {path}")]
    ProjectMismatch { path: u64, dsn: u64 },
}

impl AuthError {
    /// `401` when the request does not say who it is (no key, a project herald does not
    /// have), `403` when it does and that is not enough.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::MissingKey | AuthError::UnknownProject(_) => 401,
            AuthError::WrongKey(_) | AuthError::ProjectMismatch { .. } => 403,
        }
    }
}

/// The `sentry_key` of a `Sentry sentry_key=..., sentry_version=7, ...` header value
/// (`X-Sentry-Auth`, or `Authorization` when it starts with `Sentry`); `None` for another
/// scheme or a header without the key.
pub fn key_from_header(value: &str) -> Option<&str> {
    let value = value.trim();
    let (scheme, rest) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("sentry") {
        return None;
    }
    rest.split(',')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| k.trim() == "sentry_key")
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// The `sentry_key` parameter of a URL query (the part after `?`), which browser SDKs use to
/// avoid a CORS preflight.
pub fn key_from_query(query: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "sentry_key")
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The public key and project id of a DSN (`https://KEY@host/PREFIX/ID`), as an envelope
/// header's `dsn` carries it; `None` when it is not one.
pub fn parse_dsn(dsn: &str) -> Option<(String, u64)> {
    let url = url::Url::parse(dsn).ok()?;
    let key = url.username();
    if key.is_empty() {
        return None;
    }
    let id = url
        .path_segments()?
        .rfind(|s| !s.is_empty())?
        .parse()
        .ok()?;
    Some((key.to_owned(), id))
}

/// Where the key came from: the headers and the query (read before the body), or the
/// envelope's `dsn`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Presented<'a> {
    /// `X-Sentry-Auth`.
    pub sentry_auth: Option<&'a str>,
    /// `Authorization`.
    pub authorization: Option<&'a str>,
    /// The request URL's query, without `?`.
    pub query: Option<&'a str>,
    /// The envelope header's `dsn`, when the body has been read.
    pub envelope_dsn: Option<&'a str>,
}

impl Presented<'_> {
    /// Whether the headers or query carry a key, so the body need not be read to authenticate.
    pub fn has_request_key(&self) -> bool {
        self.sentry_auth.and_then(key_from_header).is_some()
            || self.authorization.and_then(key_from_header).is_some()
            || self.query.and_then(key_from_query).is_some()
    }
}

impl SdkSourceConfig {
    /// The project of `path_project` if the request holds its public key: from
    /// `X-Sentry-Auth`, else `Authorization: Sentry`, else the query's `sentry_key`, else the
    /// envelope's `dsn` (whose project id must then be `path_project`).
    pub fn authenticate(
        &self,
        path_project: u64,
        presented: &Presented<'_>,
    ) -> Result<&Project, AuthError> {
        let project = self
            .project(path_project)
            .ok_or(AuthError::UnknownProject(path_project))?;
        let from_request = presented
            .sentry_auth
            .and_then(key_from_header)
            .or_else(|| presented.authorization.and_then(key_from_header))
            .map(str::to_owned)
            .or_else(|| presented.query.and_then(key_from_query));
        let key = match from_request {
            Some(key) => key,
            None => {
                let (key, dsn_project) = presented
                    .envelope_dsn
                    .and_then(parse_dsn)
                    .ok_or(AuthError::MissingKey)?;
                if dsn_project != path_project {
                    return Err(AuthError::ProjectMismatch {
                        path: path_project,
                        dsn: dsn_project,
                    });
                }
                key
            }
        };
        if keys_match(&project.public_key, &key) {
            Ok(project)
        } else {
            Err(AuthError::WrongKey(path_project))
        }
    }
}

/// Compares digests of both keys in constant time, so neither the content nor the length of
/// the configured key leaks through timing.
fn keys_match(expected: &Secret, given: &str) -> bool {
    let a = Sha256::digest(expected.expose().as_bytes());
    let b = Sha256::digest(given.as_bytes());
    bool::from(a.as_slice().ct_eq(b.as_slice()))
}

#[cfg(test)]
mod tests;
