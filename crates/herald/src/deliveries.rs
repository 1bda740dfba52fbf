//! `herald deliveries list|retry` and `herald healthcheck`: small clients of a running
//! herald's HTTP API, so an operator needs no curl (`why.rs` and `history.rs` use the same
//! [`target`] and [`call`]). The server address comes from `--url`,
//! else from `server.listen` in the config (a wildcard address becomes loopback); the admin
//! token from `--token`, else `HERALD_ADMIN_TOKEN`, else `server.admin_token` in the config.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use herald_core::config::{Config, Env};
use herald_core::untrusted::escaped;
use serde_json::Value;

/// Where to reach herald and how to authenticate.
#[derive(Debug)]
pub struct Target {
    pub url: String,
    pub token: Option<String>,
}

/// The filters shared by `list` and `retry --dead`, as query pairs.
#[derive(Debug, Default)]
pub struct Filters {
    pub status: Option<String>,
    pub sink: Option<String>,
    pub route: Option<String>,
    pub project: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
}

impl Filters {
    fn pairs(&self) -> Vec<(&'static str, String)> {
        [
            ("status", &self.status),
            ("sink", &self.sink),
            ("route", &self.route),
            ("project", &self.project),
            ("since", &self.since),
            ("until", &self.until),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
        .collect()
    }
}

/// The URL and token, from the flags or the config.
pub fn target(config: &Path, url: Option<String>, token: Option<String>) -> Target {
    let loaded = std::fs::read_to_string(config).ok().and_then(|text| {
        Config::parse_lenient(&text, &config.display().to_string(), &Env::process())
    });
    let url = url.unwrap_or_else(|| {
        let listen = loaded
            .as_ref()
            .map_or("127.0.0.1:8080", |c| c.server.listen.as_str());
        format!("http://{}", loopback(listen))
    });
    let token = token.or_else(|| {
        loaded
            .as_ref()
            .and_then(|c| c.server.admin_token.as_ref())
            .map(|t| t.expose().to_owned())
    });
    Target {
        url: url.trim_end_matches('/').to_owned(),
        token,
    }
}

/// A listen address as a client reaches it: `0.0.0.0` and `[::]` mean this machine.
fn loopback(listen: &str) -> String {
    if let Some(port) = listen.strip_prefix("0.0.0.0:") {
        format!("127.0.0.1:{port}")
    } else if let Some(port) = listen.strip_prefix("[::]:") {
        format!("[::1]:{port}")
    } else {
        listen.to_owned()
    }
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// One admin API call; the answer's JSON, or an error that says what the server said.
pub(crate) async fn call(
    target: &Target,
    method: reqwest::Method,
    path: &str,
    query: &[(&str, String)],
) -> anyhow::Result<Value> {
    let token = target.token.as_deref().context(
        "no admin token: pass --token, set HERALD_ADMIN_TOKEN, or set server.admin_token in the config",
    )?;
    let url = format!("{}{path}", target.url);
    let response = reqwest::Client::new()
        .request(method, &url)
        .query(query)
        .bearer_auth(token)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .with_context(|| {
            format!(
                "cannot reach herald at \"{}\" (is it running? see --url)",
                target.url
            )
        })?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(body);
    }
    let said = body["error"].as_str().unwrap_or("no details");
    match status.as_u16() {
        401 => anyhow::bail!(
            "herald refused the admin token (401); check --token or HERALD_ADMIN_TOKEN"
        ),
        404 if said.starts_with("no such endpoint") => anyhow::bail!(
            "the admin API is off at \"{}\": set server.admin_token in herald's config",
            target.url
        ),
        _ => anyhow::bail!("herald answered {status}: {said}"),
    }
}

/// `herald deliveries list`.
pub fn list(
    target: &Target,
    filters: &Filters,
    limit: Option<usize>,
    cursor: Option<String>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let mut query = filters.pairs();
    if let Some(limit) = limit {
        query.push(("limit", limit.to_string()));
    }
    if let Some(cursor) = cursor {
        query.push(("cursor", cursor));
    }
    let page = runtime()?.block_on(call(
        target,
        reqwest::Method::GET,
        "/api/v1/deliveries",
        &query,
    ))?;
    if json {
        println!("{page}");
        return Ok(ExitCode::SUCCESS);
    }
    let items = page["items"].as_array().cloned().unwrap_or_default();
    println!(
        "{:<36}  {:<9}  {:<16}  {:<16}  {:>3}  {:<24}  ALERT / LAST ERROR",
        "ID", "STATUS", "SINK", "ROUTE", "TRY", "CREATED"
    );
    for d in &items {
        // Every value is shown escaped: the title and project come from whoever can make an
        // application report an error, and a newline or an ESC sequence in them would forge a
        // row or take over the operator's terminal.
        let text = |k: &str| escaped(d[k].as_str().unwrap_or("-")).to_string();
        let mut what = format!("{}: {}", text("project"), text("title"));
        if let Some(error) = d["last_error"].as_str() {
            what.push_str(&format!(" ({})", escaped(error).max_chars(1024)));
        }
        println!(
            "{:<36}  {:<9}  {:<16}  {:<16}  {:>3}  {:<24}  {}",
            text("id"),
            text("status"),
            text("sink"),
            text("route"),
            d["attempts"].as_u64().unwrap_or(0),
            text("created_at"),
            what
        );
    }
    if let Some(next) = page["next_cursor"].as_str() {
        eprintln!("more: add --cursor {next}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `herald deliveries retry ID` or `herald deliveries retry --dead [filters]`.
pub fn retry(target: &Target, id: Option<&str>, filters: &Filters) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    match id {
        Some(id) => {
            let path = format!("/api/v1/deliveries/{id}/retry");
            rt.block_on(call(target, reqwest::Method::POST, &path, &[]))?;
            println!("delivery {id} is pending again");
        }
        None => {
            let answer = rt.block_on(call(
                target,
                reqwest::Method::POST,
                "/api/v1/deliveries/retry",
                &filters.pairs(),
            ))?;
            println!("{} dead deliveries are pending again", answer["retried"]);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `herald healthcheck`: exit 0 when `/healthz` answers 200 within 5 seconds.
pub fn healthcheck(target: &Target) -> anyhow::Result<ExitCode> {
    let url = format!("{}/healthz", target.url);
    let ok = runtime()?.block_on(async {
        reqwest::Client::new()
            .get(&url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map(|r| r.status().is_success())
    });
    match ok {
        Ok(true) => Ok(ExitCode::SUCCESS),
        Ok(false) => {
            eprintln!("unhealthy: {url} did not answer 200");
            Ok(ExitCode::from(1))
        }
        Err(e) => {
            eprintln!("unhealthy: cannot reach {url}: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
