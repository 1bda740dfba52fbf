//! The list of source types this build of herald knows. Adding a source is one new crate and
//! one `register` line here; the server mounts the new kind's endpoints from this registry and
//! never names a source type.

use herald_core::SourceRegistry;

pub fn registry() -> SourceRegistry {
    let mut registry = SourceRegistry::new();
    registry.register(herald_sentry::SentryFactory);
    registry.register(herald_sentry_sdk::SdkFactory);
    registry
}
