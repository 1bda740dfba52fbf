//! Logging and self-monitoring for every command. Lines go to stderr as text (ANSI colours
//! only when stderr is a terminal) or as JSON objects (`--log-format json`), filtered by
//! `RUST_LOG`, else by `server.log_level` from the config, else by the command's default.
//! When `SENTRY_DSN` is set, herald's own panics and `error!` lines are reported to that
//! Sentry project (warnings and info become breadcrumbs); when it is unset or empty, the
//! Sentry client is not even initialised.

use std::io::IsTerminal;

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The Sentry client's settings for a `SENTRY_DSN` value; `None` when it is unset or empty
/// (nothing is initialised then). A DSN that does not parse is reported and ignored.
pub fn sentry_options(dsn: Option<&str>) -> Result<Option<sentry::ClientOptions>, String> {
    let Some(dsn) = dsn.map(str::trim).filter(|d| !d.is_empty()) else {
        return Ok(None);
    };
    // The DSN holds a key; the message names the variable, not its value.
    let dsn: sentry::types::Dsn = dsn.parse().map_err(|e| {
        format!(
            "SENTRY_DSN is not a valid Sentry DSN ({e}); herald's own errors will not be reported"
        )
    })?;
    let mut options = sentry::ClientOptions::default();
    options.dsn = Some(dsn);
    options.release = sentry::release_name!();
    options.environment = std::env::var("SENTRY_ENVIRONMENT").ok().map(Into::into);
    Ok(Some(options))
}

/// How long herald waits at exit for its own error reports to reach Sentry.
const SENTRY_FLUSH: std::time::Duration = std::time::Duration::from_secs(2);

/// Sends what is still queued for Sentry, waiting at most [`SENTRY_FLUSH`], then lets the
/// process end. Dropping the guard instead would wait for the transport's thread, which hangs
/// for as long as a Sentry endpoint that accepted the connection never answers: herald must
/// not outlive a SIGTERM because its error reporting is stuck.
pub fn finish(guard: Option<sentry::ClientInitGuard>) {
    if let Some(guard) = guard {
        guard.flush(Some(SENTRY_FLUSH));
        std::mem::forget(guard);
    }
}

/// The filter: `RUST_LOG`, else the config's level, else `default`.
fn filter(config_level: Option<&str>, default: &str) -> EnvFilter {
    if let Ok(filter) = EnvFilter::try_from_default_env() {
        return filter;
    }
    if let Some(level) = config_level {
        match EnvFilter::try_new(level) {
            Ok(filter) => return filter,
            Err(e) => eprintln!(
                "warning: server.log_level \"{level}\" is not a valid filter ({e}); using \"{default}\""
            ),
        }
    }
    EnvFilter::new(default)
}

/// Sets up logging and, with `SENTRY_DSN`, Sentry. Keep the returned guard alive until the
/// end of `main`: dropping it flushes the events still queued.
pub fn init(
    format: LogFormat,
    config_level: Option<&str>,
    default: &str,
) -> Option<sentry::ClientInitGuard> {
    let guard = match sentry_options(std::env::var("SENTRY_DSN").ok().as_deref()) {
        Ok(Some(options)) => Some(sentry::init(options)),
        Ok(None) => None,
        Err(message) => {
            eprintln!("warning: {message}");
            None
        }
    };
    let output = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    // Errors become Sentry events; warnings and info lines ride along as breadcrumbs.
    let sentry_layers = guard.as_ref().map(|_| {
        use sentry::integrations::tracing::{BreadcrumbLayer, ErrorLayer};
        use tracing_subscriber::filter::LevelFilter;
        ErrorLayer::new()
            .with_filter(LevelFilter::ERROR)
            .and_then(BreadcrumbLayer::new().with_filter(LevelFilter::INFO))
    });
    tracing_subscriber::registry()
        .with(filter(config_level, default))
        .with(output)
        .with(sentry_layers)
        .init();
    guard
}

#[cfg(test)]
mod tests;
