//! The `herald` command: `check` validates a config, `route` shows where a Sentry payload would
//! go and why, `send-test` proves a sink works, `serve` runs the server; `deliveries`,
//! `silence`, `why`, `alerts`, `held-back` and `healthcheck` talk to a running one. `main` only parses arguments and sets up logging;
//! each subcommand lives in its own module.

mod app;
mod check;
mod deliveries;
mod dsn;
mod history;
mod logging;
mod route;
mod send_test;
mod serve;
mod silence;
mod sinks;
mod sources;
mod why;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

/// mimalloc instead of glibc's malloc: every alert allocates and frees many small buffers on
/// two threads (headers, JSON values, SQL parameters), and glibc's arena locking and
/// consolidation took about a fifth of herald's CPU in a profile of the benchmark.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "herald",
    version,
    about = "Routes Sentry alerts to Slack, LINE, email and webhooks"
)]
struct Cli {
    /// How log lines are written to stderr: `text`, or `json` (one object per line).
    #[arg(long, global = true, value_enum, default_value_t = logging::LogFormat::Text)]
    log_format: logging::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a config file and print the route tree with each route's sinks.
    Check {
        /// The config file.
        #[arg(long, short, default_value = "config/herald.yaml")]
        config: PathBuf,
    },
    /// Show where a Sentry payload would go, and why the other routes did not match;
    /// `herald route test KEY=VALUE...` does the same for an alert written on the command line.
    #[command(subcommand_negates_reqs = true)]
    Route {
        #[command(subcommand)]
        command: Option<RouteCommand>,
        /// The config file whose routes are tried.
        #[arg(long, short, default_value = "config/herald.yaml", global = true)]
        config: PathBuf,
        /// The Sentry-Hook-Resource header (event_alert, issue, metric_alert, error, ...).
        /// Without it the legacy WebHooks plugin format is assumed, unless the file is a Sentry
        /// SDK's event or envelope; `sdk` says it is one (read by the first sentry_sdk source).
        #[arg(long)]
        resource: Option<String>,
        /// The name of the source the payload arrives through (default: the first sentry source).
        #[arg(long, global = true)]
        source: Option<String>,
        /// `text` for people, `json` for one JSON object (the admin API's route-test answer).
        #[arg(long, value_enum, default_value_t = Format::Text, global = true)]
        format: Format,
        /// Also show the message each matched sink would send.
        #[arg(long, global = true)]
        render: bool,
        /// The payload file, as Sentry sends it.
        #[arg(required = true)]
        payload: Option<PathBuf>,
    },
    /// Send a sample notification to one sink and print what happened.
    SendTest {
        /// The config file.
        #[arg(long, short, default_value = "config/herald.yaml")]
        config: PathBuf,
        /// The sink's name in the config.
        sink: String,
    },
    /// Take Sentry webhooks and deliver them until SIGINT or SIGTERM.
    Serve {
        /// The config file.
        #[arg(long, short, default_value = "config/herald.yaml")]
        config: PathBuf,
        /// The address to listen on, `host:port` (default: `server.listen` from the config).
        #[arg(long)]
        listen: Option<String>,
        /// Reload the config when its file changes (checked every second). SIGHUP and
        /// `POST /-/reload` reload it with or without this.
        #[arg(long)]
        watch: bool,
    },
    /// List or retry deliveries of a running herald, through its admin API.
    Deliveries {
        #[command(subcommand)]
        command: DeliveriesCommand,
    },
    /// Create, list or end silences of a running herald, through its admin API.
    Silence {
        #[command(subcommand)]
        command: silence::Command,
    },
    /// Explain where an alert went: when it was received (or why it was refused), which routes
    /// match it, every delivery and everything held back. ID is herald's alert id, a Sentry
    /// Request-ID, event id or issue id.
    Why {
        #[command(flatten)]
        remote: Remote,
        /// `text` (one screen for people) or `json` (the admin API's explanation).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// herald's alert id, a Request-ID, a Sentry event id or a Sentry issue id.
        id: String,
    },
    /// List the alerts a running herald stored, through its admin API.
    Alerts {
        #[command(subcommand)]
        command: AlertsCommand,
    },
    /// List what a running herald's noise control held back, through its admin API.
    HeldBack {
        #[command(subcommand)]
        command: HeldBackCommand,
    },
    /// Print the DSN of every project of the config's `sentry_sdk` sources, one a line, for
    /// SDKs to report to herald. The DSNs hold the projects' public keys: they go to standard
    /// output only, for the operator who asked; keep them out of logs and tickets.
    Dsn {
        /// The config file.
        #[arg(long, short, default_value = "config/herald.yaml")]
        config: PathBuf,
        /// herald's address as the SDKs reach it, such as `https://herald.example.com`.
        #[arg(long)]
        base_url: String,
    },
    /// Exit 0 when a running herald answers `/healthz` (for container health checks).
    Healthcheck {
        /// The config file.
        #[arg(long, short, default_value = "config/herald.yaml")]
        config: PathBuf,
        /// herald's base URL (default: from `server.listen` in the config).
        #[arg(long)]
        url: Option<String>,
    },
}

/// Where the admin API is and the token for it.
#[derive(Debug, clap::Args)]
struct Remote {
    /// The config the URL and token default from.
    #[arg(long, short, default_value = "config/herald.yaml")]
    config: PathBuf,
    /// herald's base URL, e.g. `http://127.0.0.1:8080` (default: from `server.listen`).
    #[arg(long)]
    url: Option<String>,
    /// The admin token (default: `server.admin_token` from the config).
    #[arg(long, env = "HERALD_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

/// Which deliveries: every given filter must hold.
#[derive(Debug, clap::Args)]
struct FilterArgs {
    /// pending, in_flight, delivered or dead.
    #[arg(long)]
    status: Option<String>,
    /// Only this sink's, by its name in the config.
    #[arg(long)]
    sink: Option<String>,
    /// Only those of this route, by name (`payments-prod`, or `#2.#1` for an unnamed one).
    #[arg(long)]
    route: Option<String>,
    /// Only alerts of this Sentry project (its slug).
    #[arg(long)]
    project: Option<String>,
    /// Created since: an RFC 3339 time or a duration before now (`90m`, `2h`, `1d`).
    #[arg(long)]
    since: Option<String>,
    /// Created before: an RFC 3339 time or a duration before now.
    #[arg(long)]
    until: Option<String>,
}

impl FilterArgs {
    fn into_filters(self) -> deliveries::Filters {
        deliveries::Filters {
            status: self.status,
            sink: self.sink,
            route: self.route,
            project: self.project,
            since: self.since,
            until: self.until,
        }
    }
}

#[derive(Debug, Subcommand)]
enum DeliveriesCommand {
    /// List deliveries, newest first.
    List {
        #[command(flatten)]
        remote: Remote,
        #[command(flatten)]
        filters: FilterArgs,
        /// At most this many (1 to 500, default 50).
        #[arg(long)]
        limit: Option<usize>,
        /// Continue after the previous page (the cursor it printed).
        #[arg(long)]
        cursor: Option<String>,
        /// `text` (a table) or `json` (the API's answer), as every list command takes.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Retry one dead delivery by id, or with --dead every dead delivery the filters match.
    Retry {
        #[command(flatten)]
        remote: Remote,
        /// The delivery id.
        #[arg(required_unless_present = "dead", conflicts_with = "dead")]
        id: Option<String>,
        /// Retry every dead delivery matching the filters.
        #[arg(long)]
        dead: bool,
        #[command(flatten)]
        filters: FilterArgs,
    },
}

#[derive(Debug, Subcommand)]
enum RouteCommand {
    /// Route an alert written as KEY=VALUE pairs, without a payload file.
    ///
    /// Like `amtool config routes test`. Keys: project, level, environment, release,
    /// resource, action, title, culprit, issue_id and tags.NAME; an empty value leaves a field
    /// unset. Without resource and action the alert is an event_alert, triggered. Exit 0; with
    /// --expect, 0 only when exactly those routes are used, else 1; 2 for a bad pair.
    Test {
        /// A route the alert must use (repeat it for each); exit 1 with the difference
        /// when the routes used are not exactly these, in any order.
        #[arg(long, value_name = "ROUTE")]
        expect: Vec<String>,
        /// The alert's fields, e.g. project=payments-api level=error tags.team=payments.
        #[arg(value_name = "KEY=VALUE", required = true)]
        pairs: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum AlertsCommand {
    /// List stored alerts, newest first.
    List {
        #[command(flatten)]
        remote: Remote,
        /// Only alerts that came through this source.
        #[arg(long)]
        source: Option<String>,
        /// Only alerts of this project.
        #[arg(long)]
        project: Option<String>,
        /// Received since: an RFC 3339 time or a duration before now (`90m`, `2h`, `1d`).
        #[arg(long)]
        since: Option<String>,
        /// Received before: an RFC 3339 time or a duration before now.
        #[arg(long)]
        until: Option<String>,
        /// At most this many (1 to 500, default 50).
        #[arg(long)]
        limit: Option<usize>,
        /// Continue after the previous page (the cursor it printed).
        #[arg(long)]
        cursor: Option<String>,
        /// `text` (a table) or `json` (the admin API's page).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Debug, Subcommand)]
enum HeldBackCommand {
    /// List held-back deliveries, newest first.
    List {
        #[command(flatten)]
        remote: Remote,
        /// silenced, muted, duplicate, digest or throttled.
        #[arg(long)]
        outcome: Option<String>,
        /// Only those of this route.
        #[arg(long)]
        route: Option<String>,
        /// Only those of this sink.
        #[arg(long)]
        sink: Option<String>,
        /// Only those folded into this delivery (a digest or a throttle window's message).
        #[arg(long)]
        folded_into: Option<String>,
        /// At most this many (1 to 500, default 50).
        #[arg(long)]
        limit: Option<usize>,
        /// Continue after the previous page (the cursor it printed).
        #[arg(long)]
        cursor: Option<String>,
        /// `text` (a table) or `json` (the admin API's page).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

/// How a command prints what it found: the same two choices for every command that lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// For people.
    Text,
    /// For scripts.
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The server logs one line per accepted alert and per delivery outcome at info; the
    // one-shot commands stay quiet unless something is wrong.
    let (default_filter, config_level) = match &cli.command {
        Command::Serve { config, .. } => ("info", serve::log_level(config)),
        _ => ("warn", None),
    };
    let sentry = logging::init(cli.log_format, config_level.as_deref(), default_filter);
    let result = match cli.command {
        Command::Check { config } => check::run(&config),
        Command::Route {
            command,
            config,
            resource,
            source,
            format,
            render,
            payload,
        } => route::run(&route::Args {
            config,
            source,
            json: format == Format::Json,
            render,
            input: match command {
                // clap lets a payload stand before `test`; one of the two is a mistake.
                Some(RouteCommand::Test { .. }) if payload.is_some() => Cli::command()
                    .error(
                        clap::error::ErrorKind::ArgumentConflict,
                        "give a payload file or `test KEY=VALUE...`, not both",
                    )
                    .exit(),
                Some(RouteCommand::Test { expect, pairs }) => route::Input::Pairs { pairs, expect },
                None => route::Input::Payload {
                    resource,
                    // clap requires the payload unless `test` is given.
                    path: payload.unwrap_or_default(),
                },
            },
        }),
        Command::SendTest { config, sink } => send_test::run(&config, &sink),
        Command::Dsn { config, base_url } => dsn::run(&config, &base_url),
        Command::Serve {
            config,
            listen,
            watch,
        } => serve::run(&config, listen.as_deref(), watch),
        Command::Deliveries { command } => match command {
            DeliveriesCommand::List {
                remote,
                filters,
                limit,
                cursor,
                format,
            } => deliveries::list(
                &deliveries::target(&remote.config, remote.url, remote.token),
                &filters.into_filters(),
                limit,
                cursor,
                format == Format::Json,
            ),
            DeliveriesCommand::Retry {
                remote,
                id,
                dead: _,
                filters,
            } => deliveries::retry(
                &deliveries::target(&remote.config, remote.url, remote.token),
                id.as_deref(),
                &filters.into_filters(),
            ),
        },
        Command::Silence { command } => silence::run(command),
        Command::Why { remote, format, id } => why::run(
            &deliveries::target(&remote.config, remote.url, remote.token),
            &id,
            format == Format::Json,
        ),
        Command::Alerts {
            command:
                AlertsCommand::List {
                    remote,
                    source,
                    project,
                    since,
                    until,
                    limit,
                    cursor,
                    format,
                },
        } => history::alerts(
            &deliveries::target(&remote.config, remote.url, remote.token),
            &history::AlertFilters {
                source,
                project,
                since,
                until,
            },
            limit,
            cursor,
            format == Format::Json,
        ),
        Command::HeldBack {
            command:
                HeldBackCommand::List {
                    remote,
                    outcome,
                    route,
                    sink,
                    folded_into,
                    limit,
                    cursor,
                    format,
                },
        } => history::held_back(
            &deliveries::target(&remote.config, remote.url, remote.token),
            &history::HeldFilters {
                outcome,
                route,
                sink,
                folded_into,
            },
            limit,
            cursor,
            format == Format::Json,
        ),
        Command::Healthcheck { config, url } => {
            deliveries::healthcheck(&deliveries::target(&config, url, None))
        }
    };
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("caused by: {cause}");
            }
            ExitCode::from(1)
        }
    };
    logging::finish(sentry);
    code
}

#[cfg(test)]
mod tests;
