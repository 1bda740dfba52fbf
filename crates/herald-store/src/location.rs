//! `storage.url`: which backend it names, by its scheme, and how it may be shown. The url of a
//! PostgreSQL server can carry a password (substituted from `${VAR}` or `${file:...}` by the
//! config loader), so anything that prints a url, in a log line, an error or `Debug`, prints
//! [`redact`]'s form of it instead.

use crate::StoreError;

/// `url` with its password shown as `***`: the form of a storage url that may be logged.
pub use herald_core::config::redact_url as redact;

/// The backend a `storage.url` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite://PATH`: one embedded database file, one herald process.
    Sqlite,
    /// `postgres://` or `postgresql://`: a PostgreSQL server several herald processes can share.
    Postgres,
}

impl Backend {
    /// The backend of `url`, by its scheme; an error names the schemes there are.
    pub fn of(url: &str) -> Result<Backend, StoreError> {
        if url.starts_with("sqlite://") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::BadUrl {
                url: redact(url),
                hint: "use sqlite://PATH (relative to the working directory), for example \
                       sqlite://data/herald.db, or postgres://USER[:PASSWORD]@HOST[:PORT]/DB",
            })
        }
    }
}

#[cfg(test)]
mod tests;
