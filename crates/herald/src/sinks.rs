//! The list of sink types this build of herald knows. Adding a destination is one new crate
//! and one `register` line here; nothing else in herald changes.

use herald_core::SinkRegistry;

pub fn registry() -> SinkRegistry {
    let mut registry = SinkRegistry::new();
    registry.register(herald_sink_log::LogSinkFactory);
    registry
}
