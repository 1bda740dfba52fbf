//! The `herald` command: `check` validates a config, `route` shows where a Sentry payload would
//! go and why, `send-test` proves a sink works, `serve` runs the server. `main` only parses
//! arguments and sets up logging; each subcommand lives in its own module.

mod app;
mod check;
mod route;
mod send_test;
mod serve;
mod sinks;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "herald",
    version,
    about = "Routes Sentry alerts to Slack, LINE, email and webhooks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a config file and print the route tree with each route's sinks.
    Check {
        #[arg(long, short, default_value = "config/herald.yaml")]
        config: PathBuf,
    },
    /// Show where a Sentry payload would go, and why the other routes did not match.
    Route {
        #[arg(long, short, default_value = "config/herald.yaml")]
        config: PathBuf,
        /// The Sentry-Hook-Resource header (event_alert, issue, metric_alert, error, ...).
        /// Without it the legacy WebHooks plugin format is assumed.
        #[arg(long)]
        resource: Option<String>,
        /// The name of the source the payload arrives through (default: the first sentry source).
        #[arg(long)]
        source: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Also show the message each matched sink would send.
        #[arg(long)]
        render: bool,
        /// The payload file, as Sentry sends it.
        payload: PathBuf,
    },
    /// Send a sample notification to one sink and print what happened.
    SendTest {
        #[arg(long, short, default_value = "config/herald.yaml")]
        config: PathBuf,
        /// The sink's name in the config.
        sink: String,
    },
    /// Take Sentry webhooks and deliver them until SIGINT or SIGTERM.
    Serve {
        #[arg(long, short, default_value = "config/herald.yaml")]
        config: PathBuf,
        /// The address to listen on, `host:port` (default: `server.listen` from the config).
        #[arg(long)]
        listen: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The server logs one line per accepted alert and per delivery outcome at info; the
    // one-shot commands stay quiet unless something is wrong.
    let default_filter = match cli.command {
        Command::Serve { .. } => "info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Check { config } => check::run(&config),
        Command::Route {
            config,
            resource,
            source,
            format,
            render,
            payload,
        } => route::run(&route::Args {
            config,
            resource,
            source,
            json: format == Format::Json,
            render,
            payload,
        }),
        Command::SendTest { config, sink } => send_test::run(&config, &sink),
        Command::Serve { config, listen } => serve::run(&config, listen.as_deref()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("caused by: {cause}");
            }
            ExitCode::from(1)
        }
    }
}
