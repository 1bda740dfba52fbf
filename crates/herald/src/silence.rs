//! `herald silence add|list|expire`: a client of a running herald's silences API
//! (`/api/v1/silences`), so an operator can mute a noisy project during a deploy without curl.
//! Matchers are written `key=value` with the route match syntax for the value
//! (`project=api`, `level=">=error"`, `tags.team=web`, `environment=!staging`); the same key
//! given twice means any of the values. The address and token are found as for
//! `herald deliveries`: `--url`, `--token` / `HERALD_ADMIN_TOKEN`, else the config.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Map, Value, json};

use crate::deliveries::{Target, target};

/// Where the admin API is.
#[derive(Debug, clap::Args)]
pub struct Remote {
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

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a silence: matching alerts are recorded as silenced, not sent, until it ends.
    Add {
        #[command(flatten)]
        remote: Remote,
        /// `key=value`, for example `project=api`, `level=">=error"`, `tags.team=web`.
        #[arg(long = "matcher", short = 'm', required = true)]
        matchers: Vec<String>,
        /// How long from now (or from --starts-at): `30m`, `2h`, `1d`, `45s`.
        #[arg(long, conflicts_with = "ends_at", required_unless_present = "ends_at")]
        duration: Option<String>,
        /// When it ends, RFC 3339.
        #[arg(long)]
        ends_at: Option<String>,
        /// When it starts, RFC 3339 (default: now).
        #[arg(long)]
        starts_at: Option<String>,
        /// Who is silencing (default: $USER, else this machine's hostname, else `herald-cli`,
        /// so that it works in containers and CI where $USER is unset).
        #[arg(long)]
        author: Option<String>,
        /// Why.
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// List the silences not yet ended (with --all, also the ended ones).
    List {
        #[command(flatten)]
        remote: Remote,
        /// Also list the silences that have ended.
        #[arg(long)]
        all: bool,
        /// `text` (a table) or `json` (the API's answer), as every list command takes.
        #[arg(long, value_enum, default_value_t = crate::Format::Text)]
        format: crate::Format,
        /// Same as `--format json` (kept for scripts written before `--format`).
        #[arg(long)]
        json: bool,
    },
    /// End a silence now.
    Expire {
        #[command(flatten)]
        remote: Remote,
        /// The silence id.
        id: String,
    },
}

/// Runs one `herald silence` command.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        match command {
            Command::Add {
                remote,
                matchers,
                duration,
                ends_at,
                starts_at,
                author,
                comment,
            } => {
                let mut body = json!({
                    "matchers": parse_matchers(&matchers)?,
                    "author": author.unwrap_or_else(|| default_author(
                        std::env::var("USER").ok(),
                        hostname::get().ok().and_then(|h| h.into_string().ok()),
                    )),
                    "comment": comment,
                });
                if let Some(d) = duration {
                    body["duration_seconds"] = json!(parse_duration(&d)?.as_secs());
                }
                if let Some(end) = ends_at {
                    body["ends_at"] = json!(end);
                }
                if let Some(start) = starts_at {
                    body["starts_at"] = json!(start);
                }
                let made = call(
                    &remote_target(remote),
                    reqwest::Method::POST,
                    "/api/v1/silences",
                    Some(body),
                )
                .await?;
                println!("{}", made["id"].as_str().unwrap_or_default());
                eprintln!("silenced until {}", made["ends_at"].as_str().unwrap_or("?"));
            }
            Command::List {
                remote,
                all,
                format,
                json,
            } => {
                let json = json || format == crate::Format::Json;
                let path = if all {
                    "/api/v1/silences?all=true"
                } else {
                    "/api/v1/silences"
                };
                let answer = call(&remote_target(remote), reqwest::Method::GET, path, None).await?;
                if json {
                    println!("{answer}");
                } else {
                    print!("{}", table(&answer));
                }
            }
            Command::Expire { remote, id } => {
                let path = format!("/api/v1/silences/{id}");
                let ended =
                    call(&remote_target(remote), reqwest::Method::DELETE, &path, None).await?;
                eprintln!(
                    "silence {} ended at {}",
                    id,
                    ended["ends_at"].as_str().unwrap_or("?")
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// The author of a silence made without `--author`: `$USER`, else the hostname, else
/// `herald-cli`. The API requires an author, and containers and CI jobs often have no `$USER`;
/// there the hostname (a container's id, a CI runner's name) still says where it came from.
pub fn default_author(user: Option<String>, hostname: Option<String>) -> String {
    [user, hostname]
        .into_iter()
        .flatten()
        .map(|s| s.trim().to_owned())
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "herald-cli".to_owned())
}

fn remote_target(remote: Remote) -> Target {
    target(&remote.config, remote.url, remote.token)
}

/// `key=value` items into a route-style `match` object; a repeated key is a list (any of).
pub fn parse_matchers(items: &[String]) -> anyhow::Result<Value> {
    let mut out = Map::new();
    for item in items {
        let Some((key, value)) = item.split_once('=').filter(|(k, _)| !k.trim().is_empty()) else {
            anyhow::bail!(
                "matcher \"{item}\" is not key=value; for example project=api or tags.team=web"
            );
        };
        let (map, key) = match key.trim().strip_prefix("tags.") {
            Some(tag) => (
                out.entry("tags")
                    .or_insert_with(|| Value::Object(Map::new()))
                    .as_object_mut()
                    .context("tags is a mapping")?,
                tag.to_owned(),
            ),
            None => (&mut out, key.trim().to_owned()),
        };
        match map.get_mut(&key) {
            None => {
                map.insert(key, json!(value));
            }
            Some(Value::Array(list)) => list.push(json!(value)),
            Some(first) => *first = json!([first.clone(), value]),
        }
    }
    Ok(Value::Object(out))
}

/// `45s`, `30m`, `2h`, `1d`.
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    let unit = text.chars().last().unwrap_or(' ');
    let number: u64 = text[..text.len().saturating_sub(1)]
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .with_context(|| {
            format!("duration \"{text}\" is not a number with a unit; write 45s, 30m, 2h or 1d")
        })?;
    let seconds = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => anyhow::bail!("duration \"{text}\" has no unit; write 45s, 30m, 2h or 1d"),
    };
    Ok(Duration::from_secs(number.saturating_mul(seconds)))
}

/// The silences as a table: id, state, end, author, matchers, comment.
fn table(answer: &Value) -> String {
    let mut out = String::new();
    let empty = Vec::new();
    let items = answer["silences"].as_array().unwrap_or(&empty);
    if items.is_empty() {
        out.push_str("(no silences)\n");
    }
    for s in items {
        out.push_str(&format!(
            "{}  {:<7}  until {}  by {}  {}  {}\n",
            s["id"].as_str().unwrap_or(""),
            s["state"].as_str().unwrap_or(""),
            s["ends_at"].as_str().unwrap_or(""),
            s["author"].as_str().unwrap_or(""),
            s["matchers"],
            s["comment"].as_str().unwrap_or(""),
        ));
    }
    out
}

/// One silences API call with an optional JSON body.
async fn call(
    target: &Target,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let token = target.token.as_deref().context(
        "no admin token: pass --token, set HERALD_ADMIN_TOKEN, or set server.admin_token in the config",
    )?;
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", target.url))
        .bearer_auth(token)
        .timeout(Duration::from_secs(30));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.with_context(|| {
        format!(
            "cannot reach herald at \"{}\" (is it running? see --url)",
            target.url
        )
    })?;
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(answer);
    }
    let said = answer["error"].as_str().unwrap_or("no details");
    if status.as_u16() == 401 {
        anyhow::bail!("herald refused the admin token (401); check --token or HERALD_ADMIN_TOKEN");
    }
    anyhow::bail!("herald answered {status}: {said}")
}

#[cfg(test)]
mod tests;
