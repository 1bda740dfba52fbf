//! The list of sink types this build of herald knows. Adding a destination is one new crate
//! and one `register` line here; nothing else in herald changes.

use herald_core::SinkRegistry;

pub fn registry() -> SinkRegistry {
    let mut registry = SinkRegistry::new();
    registry
        .register(herald_sink_log::LogSinkFactory)
        .register(herald_sink_slack::SlackFactory)
        .register(herald_sink_line::LineFactory)
        .register(herald_sink_line::LineNotifyFactory)
        .register(herald_sink_email::EmailFactory)
        .register(herald_sink_webhook::WebhookFactory);
    registry
}
