//! The console's alert pages: the list (filters, search by any id, keyset paging) and an
//! alert's page, which renders the same explanation `herald why` prints (`explain.rs`) with
//! every attempt of every delivery, the held-back records and the raw payload. All of it is
//! alert data, interpolated through `maud`, so it is escaped by construction.

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use herald_store::{AlertFilter, PageRequest};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::{Session, layout, problem, query, when};
use crate::AppState;
use crate::admin::parse_time;

/// The alert list's query string.
#[derive(Debug, Default, Deserialize)]
pub struct AlertsQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    project: String,
    #[serde(default)]
    level: String,
    #[serde(default)]
    route: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    cursor: String,
}

/// A filter's time, or the page's message for a bad one.
pub fn time_field(
    name: &str,
    text: &str,
    now: jiff::Timestamp,
) -> Result<Option<jiff::Timestamp>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    parse_time(name, text, now).map(Some)
}

/// The value of a JSON field as text (`""` when absent or null).
pub fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub async fn alerts(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    q: Result<Query<AlertsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        return problem(
            &session,
            StatusCode::BAD_REQUEST,
            "unreadable query string; use the page's form",
        );
    };
    let search = q.q.trim();
    if !search.is_empty() {
        // Any id an operator has (alert, event, issue, Request-ID): the alert page finds it.
        let target = session.link(&format!(
            "/alerts/{}",
            form_urlencoded::byte_serialize(search.as_bytes()).collect::<String>()
        ));
        return Redirect::to(&target).into_response();
    }
    let now = state.clock().now();
    let (since, until) = match (
        time_field("since", &q.since, now),
        time_field("until", &q.until, now),
    ) {
        (Ok(s), Ok(u)) => (s, u),
        (Err(e), _) | (_, Err(e)) => return problem(&session, StatusCode::BAD_REQUEST, &e),
    };
    let filter = AlertFilter {
        source: Some(q.source.trim().to_owned()).filter(|s| !s.is_empty()),
        project: Some(q.project.trim().to_owned()).filter(|s| !s.is_empty()),
        level: Some(q.level.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()),
        route: Some(q.route.trim().to_owned()).filter(|s| !s.is_empty()),
        since,
        until,
    };
    let page = PageRequest {
        limit: 50,
        cursor: Some(q.cursor.clone()).filter(|c| !c.is_empty()),
    };
    let page = match state.store().list_alerts(&filter, &page).await {
        Ok(page) => page,
        Err(e) => return store_failure(&session, &e),
    };
    let content = html! {
        form.filters method="get" action=(session.link("/alerts")) {
            label { "Find " input type="search" name="q" placeholder="alert id, Sentry event id, issue id or Request-ID" size="40"; }
            button type="submit" { "Find" }
        }
        form.filters method="get" action=(session.link("/alerts")) {
            label { "project " input name="project" value=(q.project); }
            label { "level " select name="level" {
                option value="" { "any" }
                @for l in ["fatal", "error", "warning", "info", "debug"] { option value=(l) selected[q.level == l] { (l) } }
            } }
            label { "route " input name="route" value=(q.route); }
            label { "source " input name="source" value=(q.source); }
            label { "since " input name="since" value=(q.since) placeholder="2h, 1d or RFC 3339"; }
            label { "until " input name="until" value=(q.until); }
            button type="submit" { "Filter" }
        }
        @if page.items.is_empty() {
            p.empty { "No alert matches." }
        } @else {
            table.list #alerts {
                thead { tr { th { "received" } th { "project" } th { "level" } th { "title" } th { "source" } th { "Request-ID" } } }
                tbody {
                    @for a in &page.items {
                        tr {
                            td { (when(a.received_at)) }
                            td { (a.alert.project.as_deref().unwrap_or("")) }
                            td { (a.alert.level.map(|l| l.as_str()).unwrap_or("")) }
                            td.title { a href=(session.link(&format!("/alerts/{}", a.id))) { (a.alert.title) } }
                            td { (a.source) }
                            td.id { (a.request_id.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
        @if let Some(next) = &page.next_cursor {
            a.next href=(session.link(&format!("/alerts{}", query(&[
                ("project", &q.project), ("level", &q.level), ("route", &q.route),
                ("source", &q.source), ("since", &q.since),
                ("until", &q.until), ("cursor", next),
            ])))) { "Older →" }
        }
    };
    layout(&session, "Alerts", "/alerts", content).into_response()
}

pub fn store_failure(session: &Session, e: &dyn std::error::Error) -> Response {
    tracing::error!(error = %crate::errors::error_chain(e), "console: store failure");
    problem(
        session,
        StatusCode::INTERNAL_SERVER_ERROR,
        "the store did not answer; the log says why",
    )
}

pub async fn alert(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Response {
    let doc = match crate::explain::explain(&state, &id).await {
        Ok(Some(doc)) => doc,
        Ok(None) => {
            return problem(
                &session,
                StatusCode::NOT_FOUND,
                &format!(
                    "no alert, Sentry event, issue or Request-ID \"{}\" (refused webhooks are kept in memory only, the last {})",
                    id.chars().take(128).collect::<String>(),
                    crate::recent_refusals::CAPACITY
                ),
            );
        }
        Err(e) => return store_failure(&session, &e),
    };
    let raw = match doc["alert"]["id"].as_str() {
        Some(alert_id) => match state.store().alert(alert_id).await {
            Ok(found) => found.map(|a| pretty(&a.raw)),
            Err(e) => return store_failure(&session, &e),
        },
        None => None,
    };
    let waiting = doc["deliveries"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|d| matches!(d["status"].as_str(), Some("pending" | "in_flight")));
    let title = match doc["alert"]["alert"]["title"].as_str() {
        Some(t) => format!("Alert: {}", t.chars().take(120).collect::<String>()),
        None => "Refused webhook".to_owned(),
    };
    let content = html! {
        @if waiting {
            // The script reloads the page while a delivery is still waiting; without it the
            // operator reloads by hand.
            p.note #waiting data-refresh="2" { "A delivery is still waiting; this page refreshes." }
        }
        section #summary {
            h2 { "What happened" }
            ul { @for line in doc["summary"].as_array().into_iter().flatten() { li { (text(line)) } } }
            @if doc["others"].as_u64().unwrap_or(0) > 0 {
                p.note { (doc["others"]) " other alerts carry the same " (text(&doc["found_by"])) "; this is the most recent." }
            }
        }
        (deliveries(&doc["deliveries"]))
        (held_back(&session, &doc["held_back"]))
        @if !doc["alert"].is_null() {
            (routing(&doc["routing"]))
            (alert_fields(&doc["alert"]))
        }
        @if let Some(refusals) = doc["refusals"].as_array().filter(|r| !r.is_empty()) {
            section #refusals {
                h2 { "Refused or ignored webhooks with this Request-ID" }
                table.list {
                    thead { tr { th { "at" } th { "status" } th { "code" } th { "message" } } }
                    tbody { @for r in refusals { tr { td { (text(&r["at"])) } td { (text(&r["status"])) } td { (text(&r["code"])) } td { (text(&r["message"])) } } } }
                }
            }
        }
        @if let Some(raw) = raw {
            section #raw {
                h2 { "Raw payload" }
                pre.raw { (raw) }
            }
        }
    };
    layout(&session, &title, "/alerts", content).into_response()
}

/// The body as received, indented when it is JSON.
fn pretty(raw: &str) -> String {
    serde_json::from_str::<Value>(raw)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| raw.to_owned())
}

fn alert_fields(stored: &Value) -> Markup {
    let alert = &stored["alert"];
    html! {
        section #fields {
            h2 { "Alert" }
            dl.fields {
                dt { "herald id" } dd.id { (text(&stored["id"])) }
                dt { "received" } dd { (text(&stored["received_at"])) }
                dt { "source" } dd { (text(&stored["source"])) }
                dt { "Request-ID" } dd.id { (text(&stored["request_id"])) }
                @if let Some(fields) = alert.as_object() {
                    @for (k, v) in fields {
                        // The source is shown above, as stored.
                        @if k != "tags" && k != "source" && !v.is_null() {
                            dt { (k) } dd.field { (text(v)) }
                        }
                    }
                    @if let Some(tags) = alert["tags"].as_object().filter(|t| !t.is_empty()) {
                        dt { "tags" }
                        dd { ul.tags { @for (k, v) in tags { li { code { (k) "=" (text(v)) } } } } }
                    }
                }
            }
        }
    }
}

fn routing(routing: &Value) -> Markup {
    html! {
        section #routing {
            h2 { "Routing" }
            p.note { (text(&routing["note"])) }
            table.list {
                thead { tr { th { "route" } th { "result" } th { "why" } } }
                tbody {
                    @for step in routing["explain"].as_array().into_iter().flatten() {
                        @let depth = step["depth"].as_u64().unwrap_or(0);
                        tr class=(if step["matched"].as_bool() == Some(true) { "matched" } else { "missed" }) {
                            td class=(format!("depth-{}", depth.min(6))) { (text(&step["route"])) }
                            td {
                                @if step["matched"].as_bool() == Some(true) {
                                    @if step["used"].as_bool() == Some(true) { "matched → " (step["sinks"].as_array().map(|s| s.iter().map(text).collect::<Vec<_>>().join(", ")).unwrap_or_default()) }
                                    @else { "matched (a child took it)" }
                                } @else if !step["skipped"].is_null() { "skipped" } @else { "no match" }
                            }
                            td {
                                @if let Some(why) = step["why"].as_array() { (why.iter().map(text).collect::<Vec<_>>().join("; ")) }
                                (text(&step["skipped"]))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The attempts of one delivery: time, status code or network cause, latency, error.
pub fn attempts(log: &Value) -> Markup {
    html! {
        table.attempts {
            thead { tr { th { "#" } th { "started" } th { "outcome" } th { "status" } th { "latency" } th { "error" } } }
            tbody {
                @for a in log.as_array().into_iter().flatten() {
                    tr.attempt {
                        td { (text(&a["number"])) }
                        td { (text(&a["started_at"])) }
                        td { (text(&a["outcome"])) }
                        td.status { @if a["status"].is_null() { "network" } @else { (text(&a["status"])) } }
                        td { (text(&a["latency_ms"])) " ms" }
                        td.error { (text(&a["error"])) }
                    }
                }
            }
        }
    }
}

fn deliveries(list: &Value) -> Markup {
    html! {
        section #deliveries {
            h2 { "Deliveries" }
            @let list = list.as_array().cloned().unwrap_or_default();
            @if list.is_empty() { p.empty { "No delivery: no route matched, or the noise stage held it back (below)." } }
            @for d in &list {
                div.delivery data-status=(text(&d["status"])) {
                    h3 { (text(&d["sink"])) " via route " (text(&d["route"])) ": " span.status { (text(&d["status"])) } }
                    p.meta { "delivery " span.id { (text(&d["id"])) } ", " (text(&d["attempts"])) " attempts, next at " (text(&d["next_attempt_at"])) }
                    @if !d["last_error"].is_null() { p.error { "last error: " (text(&d["last_error"])) } }
                    @if d["attempt_log"].as_array().is_some_and(|a| !a.is_empty()) { (attempts(&d["attempt_log"])) }
                    @if !d["receipt"].is_null() { p.meta { "receipt: " code { (text(&d["receipt"])) } } }
                }
            }
        }
    }
}

fn held_back(session: &Session, list: &Value) -> Markup {
    html! {
        @if let Some(list) = list.as_array().filter(|l| !l.is_empty()) {
            section #held-back {
                h2 { "Held back" }
                table.list {
                    thead { tr { th { "sink" } th { "route" } th { "outcome" } th { "reason" } th { "folded into" } } }
                    tbody {
                        @for h in list {
                            tr {
                                td { (text(&h["sink"])) }
                                td { (text(&h["route"])) }
                                td.outcome { (text(&h["outcome"])) }
                                td { (text(&h["reason"]))
                                    @if let Some(s) = h["silence"].as_object() {
                                        " (by " (text(&s["author"])) ": “" (text(&s["comment"])) "”)"
                                    }
                                }
                                td {
                                    @if let Some(alert) = h["folded_into"]["alert_id"].as_str() {
                                        a href=(session.link(&format!("/alerts/{alert}"))) { (text(&h["folded_into"]["id"])) }
                                        " (" (text(&h["folded_into"]["status"])) ")"
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
