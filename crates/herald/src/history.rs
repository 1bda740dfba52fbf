//! `herald alerts list` and `herald held-back list`: the stored alerts and the deliveries the
//! noise stage did not send on their own, read from a running herald's admin API
//! (`GET /api/v1/alerts`, `GET /api/v1/held-back`) as `herald deliveries list` reads
//! deliveries: the same address and token, `--format text|json`, newest first, `--cursor` for
//! the next page. Alert text is printed escaped (`why::shown`).

use std::process::ExitCode;

use serde_json::Value;

use crate::deliveries::{Target, call, runtime};
use crate::why::{cell, clip};

/// The query pairs of the set options.
fn pairs(options: &[(&'static str, &Option<String>)]) -> Vec<(&'static str, String)> {
    options
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (*k, v.clone())))
        .collect()
}

/// One list call: the page as JSON, with `limit` and `cursor` added.
fn page(
    target: &Target,
    path: &str,
    mut query: Vec<(&'static str, String)>,
    limit: Option<usize>,
    cursor: Option<String>,
) -> anyhow::Result<Value> {
    if let Some(limit) = limit {
        query.push(("limit", limit.to_string()));
    }
    if let Some(cursor) = cursor {
        query.push(("cursor", cursor));
    }
    runtime()?.block_on(call(target, reqwest::Method::GET, path, &query))
}

fn next(page: &Value) {
    if let Some(next) = page["next_cursor"].as_str() {
        eprintln!("more: add --cursor {next}");
    }
}

/// Which alerts `herald alerts list` shows.
#[derive(Debug, Default)]
pub struct AlertFilters {
    pub source: Option<String>,
    pub project: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
}

/// `herald alerts list`.
pub fn alerts(
    target: &Target,
    filters: &AlertFilters,
    limit: Option<usize>,
    cursor: Option<String>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let query = pairs(&[
        ("source", &filters.source),
        ("project", &filters.project),
        ("since", &filters.since),
        ("until", &filters.until),
    ]);
    let page = page(target, "/api/v1/alerts", query, limit, cursor)?;
    if json {
        println!("{page}");
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", alerts_table(&page));
    next(&page);
    Ok(ExitCode::SUCCESS)
}

/// The alert page as the text table `herald alerts list` prints.
pub fn alerts_table(page: &Value) -> String {
    let mut out = format!(
        "{:<36}  {:<24}  {:<10}  {:<22}  {:<16}  {:<7}  TITLE\n",
        "ID", "RECEIVED", "SOURCE", "RESOURCE/ACTION", "PROJECT", "LEVEL"
    );
    for item in page["items"].as_array().into_iter().flatten() {
        let a = &item["alert"];
        out.push_str(&format!(
            "{:<36}  {:<24}  {:<10}  {:<22}  {:<16}  {:<7}  {}\n",
            cell(&item["id"]),
            cell(&item["received_at"]),
            cell(&item["source"]),
            format!("{}/{}", cell(&a["resource"]), cell(&a["action"])),
            cell(&a["project"]),
            cell(&a["level"]),
            clip(&cell(&a["title"]), 100),
        ));
    }
    out
}

/// Which held-back records `herald held-back list` shows.
#[derive(Debug, Default)]
pub struct HeldFilters {
    pub outcome: Option<String>,
    pub route: Option<String>,
    pub sink: Option<String>,
    pub folded_into: Option<String>,
}

/// `herald held-back list`.
pub fn held_back(
    target: &Target,
    filters: &HeldFilters,
    limit: Option<usize>,
    cursor: Option<String>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let query = pairs(&[
        ("outcome", &filters.outcome),
        ("route", &filters.route),
        ("sink", &filters.sink),
        ("folded_into", &filters.folded_into),
    ]);
    let page = page(target, "/api/v1/held-back", query, limit, cursor)?;
    if json {
        println!("{page}");
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", held_table(&page));
    next(&page);
    Ok(ExitCode::SUCCESS)
}

/// The held-back page as the text table `herald held-back list` prints.
pub fn held_table(page: &Value) -> String {
    let mut out = format!(
        "{:<36}  {:<9}  {:<16}  {:<16}  {:<24}  {:<36}  REASON\n",
        "DELIVERY", "OUTCOME", "SINK", "ROUTE", "DECIDED", "ALERT"
    );
    for h in page["items"].as_array().into_iter().flatten() {
        let mut reason = cell(&h["reason"]);
        if let Some(into) = h["folded_into"].as_str() {
            reason.push_str(&format!(" (folded into {})", super::why::shown(into)));
        }
        out.push_str(&format!(
            "{:<36}  {:<9}  {:<16}  {:<16}  {:<24}  {:<36}  {}\n",
            cell(&h["delivery_id"]),
            cell(&h["outcome"]),
            cell(&h["sink"]),
            cell(&h["route"]),
            cell(&h["decided_at"]),
            cell(&h["alert_id"]),
            clip(&reason, 200),
        ));
    }
    out
}
