//! `herald send-test`: sends one sample notification to one sink and prints what happened:
//! the provider's answer on success, or the error and whether herald would retry it.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use herald_core::{Notification, SinkError};
use herald_server::console::sample_alert;

use crate::app::App;

pub fn run(config: &Path, sink_name: &str) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Sinks may hold connection pools whose drop needs the runtime (lettre's does), so the
    // whole run, drop included, happens inside it.
    runtime.block_on(send(config, sink_name))
}

async fn send(config: &Path, sink_name: &str) -> anyhow::Result<ExitCode> {
    let app = match App::load(config) {
        Ok(app) => app,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::from(1));
        }
    };
    let Some(sink) = app.sinks.get(sink_name) else {
        anyhow::bail!(
            "unknown sink \"{sink_name}\" (defined sinks: {})",
            app.sinks.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    };
    let notification = Notification::single(
        Arc::new(sample_alert()),
        "send-test",
        sink_name,
        uuid::Uuid::new_v4().to_string(),
    );
    println!(
        "sending a test notification to \"{sink_name}\" ({})",
        sink.kind()
    );
    match sink.deliver(&notification).await {
        Ok(receipt) => {
            println!("delivered");
            if let Some(status) = receipt.status {
                println!("  status: {status}");
            }
            if let Some(id) = &receipt.message_id {
                println!("  message id: {id}");
            }
            if let Some(ch) = &receipt.channel {
                println!("  channel: {ch}");
            }
            if let Some(detail) = &receipt.detail {
                println!("  response: {detail}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("failed: {e}");
            let advice = match &e {
                SinkError::Rejected { .. } => {
                    "refused for good: herald would not retry; check the sink's settings".to_owned()
                }
                SinkError::Unavailable {
                    retry_after: Some(d),
                    ..
                } => {
                    format!("temporary: herald would retry, not before {}s", d.as_secs())
                }
                _ => "temporary: herald would retry with backoff".to_owned(),
            };
            println!("  retry advice: {advice}");
            Ok(ExitCode::from(1))
        }
    }
}
