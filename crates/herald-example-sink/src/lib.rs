//! An example of a sink written outside herald: `type: file` appends one JSON line per
//! notification to a file. It is small on purpose; read it as a recipe for your own sink.
//!
//! # Writing your own sink, step by step
//!
//! 1. **Make a crate** that depends on `herald-core` (for the contract), `async-trait`, `serde`
//!    and whatever client library your destination needs.
//!
//! 2. **Describe the settings** as a serde struct with `#[serde(deny_unknown_fields)]` and a doc
//!    comment on every field. Accept a `type` field, because the factory gets the sink's whole
//!    mapping. Use [`herald_core::Secret`] for tokens and passwords (its `Debug` prints `***`),
//!    and [`herald_core::config::number`] for numbers, which may arrive as text from `${VAR}`.
//!    See [`FileConfig`].
//!
//! 3. **Write a factory**: implement [`herald_core::SinkFactory`]. `kind()` is the `type` name
//!    users write in the config. `build()` reads the settings with
//!    `ctx.diag.typed::<FileConfig>(ctx.node)`, which reports an unknown key or a bad value with
//!    its line and column, then checks what serde cannot and reports it with
//!    `ctx.diag.error(node, message, hint)` (find the node with `ctx.node.get("key")`). Return
//!    `None` when anything was wrong: `herald check` then lists every problem at once.
//!    See [`FileSinkFactory`].
//!
//! 4. **Write the sink**: implement [`herald_core::Sink`]. `deliver()` makes *one* attempt
//!    and sorts the outcome: a [`herald_core::Receipt`] on success;
//!    [`herald_core::SinkError::Unreachable`] or `Unavailable` when a retry could help (the
//!    dispatcher decides when); `Rejected` when it cannot. Never sleep or retry inside
//!    `deliver`. `preview()` shows what would be sent, for `herald route --render`. Message
//!    templates are available through [`herald_core::template::Templates`] with your own
//!    escaper. See [`FileSink`].
//!
//! 5. **Register it** in the herald binary: add the crate to `crates/herald/Cargo.toml` and one
//!    line to the binary's `sinks.rs`:
//!
//!    ```text
//!    registry.register(herald_example_sink::FileSinkFactory);
//!    ```
//!
//!    From then on, a config can say:
//!
//!    ```yaml
//!    sinks:
//!      audit-log:
//!        type: file
//!        path: /var/log/herald/alerts.jsonl
//!    ```
//!
//! 6. **Test it** like herald's own sinks: build it from YAML through the factory (that tests
//!    the config checks too), deliver to a real peer started by the test on 127.0.0.1 port 0
//!    (here: a temporary file), and read back what arrived. See this crate's `tests/`.
//!
//! # What `type: file` writes
//!
//! Each line is `{"route": ..., "sink": ..., "delivery_id": ..., "alerts": [<alert>, ...],
//! "folded": n}` where each alert has [`herald_core::Alert::to_json`]'s shape. A write error
//! (disk full, permission denied) is `Unavailable`, since it may pass.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use herald_core::sink::SinkContext;
use herald_core::{Notification, Receipt, Sink, SinkError, SinkFactory};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

/// `type: file` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The file to append to; created when missing, its directory must exist.
    pub path: PathBuf,
}

/// Builds `type: file` sinks.
#[derive(Debug, Clone, Copy, Default)]
pub struct FileSinkFactory;

impl SinkFactory for FileSinkFactory {
    fn kind(&self) -> &'static str {
        "file"
    }

    fn build(&self, ctx: SinkContext<'_>) -> Option<Arc<dyn Sink>> {
        let config = ctx.diag.typed::<FileConfig>(ctx.node)?;
        let dir = match config.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if config.path.as_os_str().is_empty() || !dir.is_dir() {
            let at = ctx.node.get("path").unwrap_or(ctx.node);
            ctx.diag.error(
                at,
                format!(
                    "file sink path \"{}\" is not in an existing directory",
                    config.path.display()
                ),
                Some("create the directory first, or pick another path".into()),
            );
            return None;
        }
        Some(Arc::new(FileSink {
            path: config.path,
            lock: Mutex::new(()),
        }))
    }
}

/// Appends notifications to a file as JSON lines.
#[derive(Debug)]
pub struct FileSink {
    path: PathBuf,
    /// One writer at a time, so lines from concurrent deliveries never interleave.
    lock: Mutex<()>,
}

impl FileSink {
    /// The line written for a notification, newline included.
    pub fn line(n: &Notification) -> String {
        let value = serde_json::json!({
            "route": n.route,
            "sink": n.sink,
            "delivery_id": n.idempotency_key,
            "alerts": n.alerts.iter().map(|a| a.to_json()).collect::<Vec<_>>(),
            "folded": n.folded,
        });
        let mut line = value.to_string();
        line.push('\n');
        line
    }
}

#[async_trait]
impl Sink for FileSink {
    fn kind(&self) -> &'static str {
        "file"
    }

    async fn deliver(&self, n: &Notification) -> Result<Receipt, SinkError> {
        let line = Self::line(n);
        let _guard = self.lock.lock().await;
        let written = async {
            let mut file = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .await?;
            file.write_all(line.as_bytes()).await?;
            file.flush().await
        }
        .await;
        match written {
            Ok(()) => Ok(Receipt {
                detail: Some(format!("appended {} bytes", line.len())),
                ..Receipt::default()
            }),
            Err(e) => Err(SinkError::Unavailable {
                status: None,
                retry_after: None,
                detail: format!("cannot append to \"{}\": {e}", self.path.display()),
            }),
        }
    }

    fn preview(&self, n: &Notification) -> Result<String, String> {
        Ok(Self::line(n))
    }
}
