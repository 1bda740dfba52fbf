//! Why a store operation failed. Messages follow the project's shape: lowercase, the bad value
//! quoted, a hint where one helps; the underlying cause sits in `source()`, not in the text.
//!
//! The causes are boxed: no backend's error type (`sqlx`, `rusqlite`) is part of this crate's
//! public interface, so a caller matches on what failed, never on which database said so. The
//! `From` impls keep `?` working inside the backends.

/// The cause of a [`StoreError`], whichever backend raised it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The `storage.url` names no store this build can open. `url` is shown with any password
    /// replaced by `***`.
    #[error("unsupported storage url \"{url}\": {hint}")]
    BadUrl { url: String, hint: &'static str },

    /// The folder that should hold the database file could not be made.
    #[error("cannot create the folder \"{path}\" for the database (check permissions)")]
    CreateDir {
        path: String,
        #[source]
        source: std::io::Error,
    },

    /// The database refused to open, or its server to connect. `path` is the file, or the
    /// server's url without its password.
    #[error("cannot open the database \"{path}\" (check the path and permissions)")]
    Open {
        path: String,
        #[source]
        source: BoxError,
    },

    /// The writer thread or its connection could not be started.
    #[error("cannot open the database \"{path}\" for writing (check the path and permissions)")]
    OpenWriter {
        path: String,
        #[source]
        source: BoxError,
    },

    /// The schema could not be brought up to date.
    #[error("cannot bring the database \"{path}\" up to date (was it written by a newer herald?)")]
    Migrate {
        path: String,
        #[source]
        source: BoxError,
    },

    /// A statement failed.
    #[error("database statement failed")]
    Database(#[source] BoxError),

    /// A group commit of the writer thread failed.
    #[error("database write failed")]
    Write(#[source] BoxError),

    /// The last commit failed and a fresh write still fails: the disk is full, the file
    /// became read-only, or the database is otherwise unwritable.
    #[error(
        "the store cannot commit writes ({detail}); free disk space or fix the database file's permissions, herald recovers by itself"
    )]
    Unwritable { detail: String },

    /// The writer thread is gone: the store was closed, or the runtime is shutting down.
    #[error("the store is closed; no more writes are taken (is herald shutting down?)")]
    Closed,

    /// A stored value does not read back as what was written.
    #[error("stored {what} \"{id}\" cannot be read back: {detail}")]
    Corrupt {
        what: &'static str,
        id: String,
        detail: String,
    },
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(Box::new(e))
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Write(Box::new(e))
    }
}
