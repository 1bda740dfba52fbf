//! The console's operating pages: the overview, dead letters (retry one, or all a filter
//! matches after a confirmation with their count), silences (list, preview against recent
//! alerts, create, expire), the route tree with its tester, and the sinks with "send test".
//! Each reuses what the admin API and the CLI use: the store's `AdminStore` and `NoiseStore`,
//! `silences.rs`, `dry_run.rs`, and the sinks of the running config.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use herald_core::route::{MatchKey, Route};
use herald_core::{Alert, Level, Notification, SinkError, Tags};
use herald_store::{DeliveryFilter, DeliveryView, PageRequest, RetryOutcome, Status};
use jiff::Timestamp;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::pages::{store_failure, text, time_field};
use super::{Session, layout, problem, query, when};
use crate::AppState;

/// How many recent alerts a silence's preview is tried against.
const PREVIEW_ALERTS: usize = 200;

pub async fn overview(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
) -> Response {
    let store = state.store();
    let now = state.clock().now();
    let hour_ago = now
        .checked_sub(jiff::SignedDuration::from_hours(1))
        .unwrap_or(now);
    let (depth, oldest, activity) = match tokio::try_join!(
        store.queue_depth(),
        store.oldest_pending(),
        store.activity(hour_ago),
    ) {
        Ok(figures) => figures,
        Err(e) => return store_failure(&session, &e),
    };
    let instances = match store.live_instances(now).await {
        Ok(instances) => instances,
        Err(e) => return store_failure(&session, &e),
    };
    let live = state.live();
    let content = html! {
        section.figures #figures {
            div.figure { span.n #alerts-hour { (activity.alerts) } span.label { "alerts in the last hour" } }
            div.figure { span.n #deliveries-hour { (activity.deliveries) } span.label { "deliveries created in the last hour" } }
            div.figure { span.n #dead-waiting { (activity.dead_waiting) } a.label href=(session.link("/dead")) { "dead letters waiting" } }
            div.figure {
                span.n #oldest-pending { @match oldest { Some(t) => { (age(now, t)) }, None => "none" } }
                span.label { "oldest pending delivery" }
            }
        }
        section #queue {
            h2 { "Queue" }
            @if depth.is_empty() { p.empty { "Nothing pending or in flight." } }
            @else {
                table.list {
                    thead { tr { th { "sink" } th { "status" } th { "deliveries" } } }
                    tbody { @for d in &depth { tr { td { (d.sink) } td { (d.status.as_str()) } td { (d.count) } } } }
                }
            }
        }
        section #config {
            h2 { "Configuration" }
            p { "Last config load: " (when(live.loaded_at))
                ". " (live.sources.len()) " sources, " (live.sinks.len()) " sinks, "
                (live.config.routes.routes.len()) " top-level routes." }
        }
        @if let Some(instances) = instances {
            section #instances {
                h2 { "Live instances (PostgreSQL)" }
                table.list {
                    thead { tr { th { "instance" } th { "host" } th { "pid" } th { "started" } th { "last heard of" } } }
                    tbody { @for i in &instances { tr { td.id { (i.id) } td { (i.host) } td { (i.pid) } td { (when(i.started_at)) } td { (when(i.last_seen)) } } } }
                }
            }
        }
    };
    layout(&session, "Overview", "/", content).into_response()
}

/// How long ago `then` was, in the largest whole unit.
fn age(now: Timestamp, then: Timestamp) -> String {
    let secs = now.duration_since(then).as_secs().max(0);
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        3600..86400 => format!("{} h", secs / 3600),
        _ => format!("{} d", secs / 86400),
    }
}

/// The dead-letter filters, as the page's query string and the bulk form's fields.
#[derive(Debug, Default, Deserialize)]
pub struct DeadQuery {
    #[serde(default)]
    sink: String,
    #[serde(default)]
    route: String,
    #[serde(default)]
    project: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    cursor: String,
    #[serde(default)]
    confirm: String,
}

impl DeadQuery {
    fn filter(&self, now: Timestamp) -> Result<DeliveryFilter, String> {
        let some = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        Ok(DeliveryFilter {
            status: Some(Status::Dead),
            sink: some(&self.sink),
            route: some(&self.route),
            project: some(&self.project),
            since: time_field("since", &self.since, now)?,
            until: time_field("until", &self.until, now)?,
        })
    }

    fn hidden(&self) -> Markup {
        html! {
            @for (k, v) in [("sink", &self.sink), ("route", &self.route), ("project", &self.project), ("since", &self.since), ("until", &self.until)] {
                input type="hidden" name=(k) value=(v);
            }
        }
    }
}

pub async fn dead(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    q: Result<Query<DeadQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        return problem(
            &session,
            StatusCode::BAD_REQUEST,
            "unreadable query string; use the page's form",
        );
    };
    let filter = match q.filter(state.clock().now()) {
        Ok(f) => f,
        Err(e) => return problem(&session, StatusCode::BAD_REQUEST, &e),
    };
    let page = PageRequest {
        limit: 50,
        cursor: Some(q.cursor.clone()).filter(|c| !c.is_empty()),
    };
    let page = match state.store().list_deliveries(&filter, &page).await {
        Ok(page) => page,
        Err(e) => return store_failure(&session, &e),
    };
    let content = html! {
        form.filters method="get" action=(session.link("/dead")) {
            label { "sink " input name="sink" value=(q.sink); }
            label { "route " input name="route" value=(q.route); }
            label { "project " input name="project" value=(q.project); }
            label { "since " input name="since" value=(q.since) placeholder="2h, 1d or RFC 3339"; }
            label { "until " input name="until" value=(q.until); }
            button type="submit" { "Filter" }
        }
        @if page.items.is_empty() {
            p.empty #no-dead { "No dead delivery matches." }
        } @else {
            form.bulk method="post" action=(session.link("/dead/retry")) {
                input type="hidden" name="csrf" value=(session.csrf);
                (q.hidden())
                button #retry-matching type="submit" { "Retry all that match…" }
            }
            table.list #dead {
                thead { tr { th { "created" } th { "alert" } th { "route → sink" } th { "attempts" } th { "last error" } th {} } }
                tbody { @for d in &page.items { (dead_row(&session, d)) } }
            }
        }
        @if let Some(next) = &page.next_cursor {
            a.next href=(session.link(&format!("/dead{}", query(&[
                ("sink", &q.sink), ("route", &q.route), ("project", &q.project),
                ("since", &q.since), ("until", &q.until), ("cursor", next),
            ])))) { "Older →" }
        }
    };
    layout(&session, "Dead letters", "/dead", content).into_response()
}

fn dead_row(session: &Session, v: &DeliveryView) -> Markup {
    let d = &v.delivery;
    html! {
        tr data-delivery=(d.id) {
            td { (when(d.created_at)) }
            td.title { a href=(session.link(&format!("/alerts/{}", d.alert_id))) { (v.title) } " " span.project { (v.project.as_deref().unwrap_or("")) } }
            td { (d.route) " → " (d.sink) }
            td { (d.attempts) }
            td.error { (d.last_error.as_deref().unwrap_or("")) }
            td {
                form method="post" action=(session.link(&format!("/dead/{}/retry", d.id))) {
                    input type="hidden" name="csrf" value=(session.csrf);
                    button.retry type="submit" { "Retry" }
                }
            }
        }
    }
}

pub async fn retry_one(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Response {
    match state.store().retry_delivery(&id, state.clock().now()).await {
        Ok(RetryOutcome::Requeued) => {
            state.wake().notify_one();
            tracing::info!(delivery_id = %id, "dead delivery requeued from the console");
            let content = html! {
                p.done #retried { "Delivery " span.id { (id) } " is pending again and will be sent now." }
                p { a href=(session.link("/dead")) { "Back to the dead letters" } }
            };
            layout(&session, "Retried", "/dead", content).into_response()
        }
        Ok(RetryOutcome::NotFound) => problem(
            &session,
            StatusCode::NOT_FOUND,
            &format!("no delivery \"{id}\""),
        ),
        Ok(RetryOutcome::NotDead(status)) => problem(
            &session,
            StatusCode::CONFLICT,
            &format!("delivery \"{id}\" is {status}; only dead deliveries are retried"),
        ),
        Err(e) => store_failure(&session, &e),
    }
}

/// Dead deliveries matching `filter`, counted by paging through them (only on an explicit
/// confirmation request, never on a page load).
async fn count_dead(
    state: &AppState,
    filter: &DeliveryFilter,
) -> Result<usize, herald_store::StoreError> {
    let mut count = 0;
    let mut page = PageRequest {
        limit: herald_store::admin::MAX_PAGE,
        cursor: None,
    };
    loop {
        let got = state.store().list_deliveries(filter, &page).await?;
        count += got.items.len();
        match got.next_cursor {
            Some(next) => page.cursor = Some(next),
            None => return Ok(count),
        }
    }
}

pub async fn retry_matching(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    form: Result<Form<DeadQuery>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(q)) = form else {
        return problem(
            &session,
            StatusCode::BAD_REQUEST,
            "unreadable form; use the page's form",
        );
    };
    let now = state.clock().now();
    let filter = match q.filter(now) {
        Ok(f) => f,
        Err(e) => return problem(&session, StatusCode::BAD_REQUEST, &e),
    };
    if q.confirm != "yes" {
        let count = match count_dead(&state, &filter).await {
            Ok(n) => n,
            Err(e) => return store_failure(&session, &e),
        };
        let content = html! {
            p #confirm-count { strong { (count) } " dead deliveries match this filter." }
            form method="post" action=(session.link("/dead/retry")) {
                input type="hidden" name="csrf" value=(session.csrf);
                input type="hidden" name="confirm" value="yes";
                (q.hidden())
                button #confirm-retry type="submit" { "Retry these " (count) }
                " "
                a href=(session.link("/dead")) { "Cancel" }
            }
        };
        return layout(&session, "Retry dead letters?", "/dead", content).into_response();
    }
    match state.store().retry_dead(&filter, now).await {
        Ok(ids) => {
            if !ids.is_empty() {
                state.wake().notify_one();
            }
            tracing::info!(
                retried = ids.len(),
                "dead deliveries requeued from the console"
            );
            let content = html! {
                p.done #retried { (ids.len()) " deliveries are pending again." }
                p { a href=(session.link("/dead")) { "Back to the dead letters" } }
            };
            layout(&session, "Retried", "/dead", content).into_response()
        }
        Err(e) => store_failure(&session, &e),
    }
}

/// The silence form's fields; the page's query string when previewing.
#[derive(Debug, Default, Deserialize)]
pub struct SilenceForm {
    #[serde(default)]
    matchers: String,
    #[serde(default)]
    duration: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    author: String,
}

/// `key=value` pairs, one per line or separated by commas, as a route's `match` object
/// (`tags.team=web` goes under `tags`).
pub fn matchers_json(text: &str) -> Result<Value, String> {
    let mut fields = serde_json::Map::new();
    let mut tags = serde_json::Map::new();
    for part in text
        .split(['\n', ','])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let Some((k, v)) = part.split_once('=') else {
            return Err(format!(
                "\"{part}\" is not key=value; write for example project=api or tags.team=web"
            ));
        };
        let (k, v) = (k.trim(), v.trim());
        match k.strip_prefix("tags.") {
            Some(tag) => tags.insert(tag.to_owned(), Value::from(v)),
            None => fields.insert(k.to_owned(), Value::from(v)),
        };
    }
    if !tags.is_empty() {
        fields.insert("tags".into(), Value::Object(tags));
    }
    Ok(Value::Object(fields))
}

/// A duration such as `90m`, `2h` or `1d`.
pub fn duration(text: &str) -> Result<jiff::SignedDuration, String> {
    let text = text.trim();
    text.parse::<jiff::SignedDuration>()
        .ok()
        .or_else(|| {
            let days = text.strip_suffix('d')?.parse::<i64>().ok()?;
            Some(jiff::SignedDuration::from_hours(days.checked_mul(24)?))
        })
        .filter(|d| d.is_positive())
        .ok_or_else(|| {
            format!("duration \"{text}\" is not a positive duration such as 90m, 2h or 1d")
        })
}

pub async fn silences(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    q: Result<Query<SilenceForm>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let form = q.map(|Query(f)| f).unwrap_or_default();
    silences_page(&state, &session, &form, None, StatusCode::OK).await
}

async fn silences_page(
    state: &AppState,
    session: &Session,
    form: &SilenceForm,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let now = state.clock().now();
    let records = match state.store().silences(false, now).await {
        Ok(r) => r,
        Err(e) => return store_failure(session, &e),
    };
    // The preview: which recent alerts these matchers would have silenced.
    let mut error = error;
    let mut preview = None;
    if !form.matchers.trim().is_empty() && error.is_none() {
        match matchers_json(&form.matchers).and_then(|m| herald_core::noise::parse_matchers(&m)) {
            Ok(matchers) => {
                let silence = herald_core::noise::Silence {
                    id: String::new(),
                    matchers,
                    starts_at: Timestamp::MIN,
                    ends_at: Timestamp::MAX,
                };
                let page = PageRequest {
                    limit: PREVIEW_ALERTS,
                    cursor: None,
                };
                match state.store().list_alerts(&Default::default(), &page).await {
                    Ok(page) => {
                        let hits: Vec<_> = page
                            .items
                            .into_iter()
                            .filter(|a| silence.silences(&a.alert, now))
                            .collect();
                        preview = Some(hits);
                    }
                    Err(e) => return store_failure(session, &e),
                }
            }
            Err(e) => error = Some(e),
        }
    }
    let author = if form.author.is_empty() {
        "console"
    } else {
        &form.author
    };
    let content = html! {
        @if let Some(e) = &error { p.error #silence-error { (e) } }
        section #new-silence {
            h2 { "New silence" }
            form.silence method="get" action=(session.link("/silences")) {
                input type="hidden" name="csrf" value=(session.csrf);
                label { "Matchers (key=value, one per line or comma-separated; values as in a route's match, such as project=api, level=>=error, tags.team=web)"
                    textarea name="matchers" rows="3" required { (form.matchers) } }
                label { "Duration " input name="duration" value=(form.duration) placeholder="2h"; }
                label { "Comment " input name="comment" value=(form.comment) size="40"; }
                label { "Author " input name="author" value=(author); }
                button #preview type="submit" { "Preview" }
                " "
                button #create-silence type="submit" formmethod="post" { "Create silence" }
            }
        }
        @if let Some(hits) = &preview {
            section #silence-preview {
                h2 { "Would have matched " (hits.len()) " of the last " (PREVIEW_ALERTS) " alerts" }
                @if !hits.is_empty() {
                    table.list { tbody { @for a in hits { tr {
                        td { (when(a.received_at)) }
                        td { (a.alert.project.as_deref().unwrap_or("")) }
                        td.title { a href=(session.link(&format!("/alerts/{}", a.id))) { (a.alert.title) } }
                    } } } }
                }
            }
        }
        section #active-silences {
            h2 { "Active and upcoming" }
            @if records.is_empty() { p.empty { "No silence." } }
            @else {
                table.list {
                    thead { tr { th { "matchers" } th { "state" } th { "ends" } th { "by" } th { "comment" } th {} } }
                    tbody { @for r in &records { tr.silence data-silence=(r.id) {
                        td { code { (r.matchers.to_string()) } }
                        td { (r.state(now)) }
                        td { (when(r.ends_at)) }
                        td { (r.author) }
                        td { (r.comment) }
                        td { form method="post" action=(session.link(&format!("/silences/{}/expire", r.id))) {
                            input type="hidden" name="csrf" value=(session.csrf);
                            button.expire type="submit" { "Expire" }
                        } }
                    } } }
                }
            }
        }
    };
    (status, layout(session, "Silences", "/silences", content)).into_response()
}

pub async fn create_silence(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    form: Result<Form<SilenceForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return problem(
            &session,
            StatusCode::BAD_REQUEST,
            "unreadable form; use the page's form",
        );
    };
    let checked = matchers_json(&form.matchers).and_then(|m| {
        let d = duration(if form.duration.trim().is_empty() {
            "2h"
        } else {
            &form.duration
        })?;
        Ok((m, d))
    });
    let (matchers, duration) = match checked {
        Ok(c) => c,
        Err(e) => {
            return silences_page(&state, &session, &form, Some(e), StatusCode::BAD_REQUEST).await;
        }
    };
    let body = crate::silences::CreateSilence {
        matchers,
        starts_at: None,
        ends_at: None,
        duration_seconds: Some(duration.as_secs().unsigned_abs()),
        author: if form.author.trim().is_empty() {
            "console".into()
        } else {
            form.author.trim().to_owned()
        },
        comment: form.comment.clone(),
    };
    match crate::silences::create_checked(&state, body, state.clock().now()).await {
        Ok(_) => Redirect::to(&session.link("/silences")).into_response(),
        Err(crate::silences::Refused::Bad(e)) => {
            silences_page(&state, &session, &form, Some(e), StatusCode::BAD_REQUEST).await
        }
        Err(crate::silences::Refused::Store(e)) => store_failure(&session, &e),
    }
}

pub async fn expire_silence(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Response {
    match crate::silences::expire_checked(&state, &id, state.clock().now()).await {
        Ok(Some(_)) => Redirect::to(&session.link("/silences")).into_response(),
        Ok(None) => problem(
            &session,
            StatusCode::NOT_FOUND,
            &format!("no silence \"{id}\""),
        ),
        Err(e) => store_failure(&session, &e),
    }
}

fn route_tree(routes: &[Route]) -> Markup {
    html! {
        ul.tree {
            @for r in routes {
                li {
                    span.route { (r.name) }
                    @if r.conditions.is_empty() { " " span.cond { "(everything)" } }
                    @for (key, m) in &r.conditions {
                        " " code.cond { (match key { MatchKey::Field(f) => f.name().to_owned(), MatchKey::Tag(t) => format!("tags.{t}") }) ": " (m.describe()) }
                    }
                    " → " span.sinks { (r.sinks.join(", ")) }
                    @if r.continue_matching { " " span.flag { "continue" } }
                    @if r.noise.is_some() { " " span.flag { "noise control" } }
                    " " span.line { "line " (r.line) }
                    @if !r.routes.is_empty() { (route_tree(&r.routes)) }
                }
            }
        }
    }
}

/// The route tester's form.
#[derive(Debug, Default, Deserialize)]
pub struct TestForm {
    #[serde(default)]
    payload: String,
    #[serde(default)]
    pairs: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    resource: String,
}

pub async fn routes(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
) -> Response {
    routes_page(&state, &session, &TestForm::default(), None).into_response()
}

fn routes_page(
    state: &AppState,
    session: &Session,
    form: &TestForm,
    result: Option<Result<Value, String>>,
) -> Response {
    let live = state.live();
    let status = match &result {
        Some(Err(_)) => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    let content = html! {
        section #tree {
            h2 { "Route tree" }
            (route_tree(&live.config.routes.routes))
        }
        section #tester {
            h2 { "Test a route" }
            form.tester method="post" action=(session.link("/routes/test")) {
                input type="hidden" name="csrf" value=(session.csrf);
                label { "Fields (key=value per line: project, level, environment, release, title, culprit, resource, action, rule, tags.NAME)"
                    textarea name="pairs" rows="4" placeholder="project=api\nlevel=error\ntags.team=web" { (form.pairs) } }
                label { "or a Sentry payload (JSON)" textarea name="payload" rows="6" { (form.payload) } }
                label { "source " select name="source" { @for s in live.sources.keys() { option value=(s) selected[*s == form.source] { (s) } } } }
                label { "resource " input name="resource" value=(form.resource) placeholder="event_alert"; }
                button #test-route type="submit" { "Explain" }
            }
        }
        @match &result {
            Some(Err(e)) => { p.error #test-error { (e) } },
            Some(Ok(v)) => { (explanation(v)) },
            None => {},
        }
    };
    (status, layout(session, "Routes", "/routes", content)).into_response()
}

fn explanation(v: &Value) -> Markup {
    let sinks: Vec<String> = v["sinks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    html! {
        section #explanation {
            h2 { "Explanation" }
            @if let Some(why) = v["ignored"].as_str() {
                p.verdict #verdict { "herald does not route this payload: " (why) }
            } @else if sinks.is_empty() {
                p.verdict.miss #verdict { "No route matches: nothing would be sent." }
            } @else {
                p.verdict #verdict { "Sent to " (sinks.join(", ")) " by route " (v["routes"].as_array().into_iter().flatten().map(text).collect::<Vec<_>>().join(", ")) "." }
            }
            table.list {
                thead { tr { th { "route" } th { "result" } th { "why" } } }
                tbody { @for s in v["explain"].as_array().into_iter().flatten() {
                    tr class=(if s["matched"].as_bool() == Some(true) { "matched" } else { "missed" }) {
                        td { (text(&s["route"])) }
                        td { @if s["matched"].as_bool() == Some(true) { "matched" } @else if !s["skipped"].is_null() { "skipped" } @else { "no match" } }
                        td.why { @if let Some(w) = s["why"].as_array() { (w.iter().map(text).collect::<Vec<_>>().join("; ")) } (text(&s["skipped"])) }
                    }
                } }
            }
        }
    }
}

/// An alert made of `key=value` lines, for the tester.
pub fn alert_from_pairs(source: &str, text: &str) -> Result<Alert, String> {
    let mut alert = Alert {
        source: source.to_owned(),
        resource: "event_alert".into(),
        action: "triggered".into(),
        ..Alert::default()
    };
    let mut tags = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Some((k, v)) = line.split_once('=') else {
            return Err(format!(
                "\"{line}\" is not key=value; write for example project=api"
            ));
        };
        let (k, v) = (k.trim(), v.trim().to_owned());
        match k {
            "project" => alert.project = Some(v),
            "level" => alert.level = Some(v.parse::<Level>().map_err(|e| e.to_string())?),
            "environment" => alert.environment = Some(v),
            "release" => alert.release = Some(v),
            "title" => alert.title = v,
            "culprit" => alert.culprit = Some(v),
            "resource" => alert.resource = v,
            "action" => alert.action = v,
            "rule" => alert.rule = Some(v),
            _ => match k.strip_prefix("tags.") {
                Some(tag) => tags.push((tag.to_owned(), v)),
                None => {
                    return Err(format!(
                        "unknown field \"{k}\" (fields: project, level, environment, release, title, culprit, resource, action, rule, tags.NAME)"
                    ));
                }
            },
        }
    }
    alert.tags = Tags(tags);
    Ok(alert)
}

pub async fn route_test(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    form: Result<Form<TestForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return problem(
            &session,
            StatusCode::BAD_REQUEST,
            "unreadable form; use the page's form",
        );
    };
    let live = state.live();
    let source = if live.sources.contains_key(&form.source) {
        form.source.clone()
    } else {
        live.sources.keys().next().cloned().unwrap_or_default()
    };
    let result = if !form.payload.trim().is_empty() {
        let resource = Some(form.resource.trim()).filter(|r| !r.is_empty());
        match live.sources.get(&source) {
            Some(reader) => reader
                .dry_run(resource, form.payload.as_bytes())
                .map(|intake| crate::dry_run::to_json(intake, &live.config.routes))
                .map_err(|e| format!("cannot parse the payload: {e}")),
            None => Err("the config has no source to read the payload with".to_owned()),
        }
    } else if !form.pairs.trim().is_empty() {
        alert_from_pairs(&source, &form.pairs)
            .map(|alert| crate::dry_run::explained(&alert, &live.config.routes).0)
    } else {
        Err("give key=value fields or a payload".to_owned())
    };
    routes_page(&state, &session, &form, Some(result))
}

pub async fn sinks(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
) -> Response {
    sinks_page(&state, &session, None).await
}

async fn sinks_page(
    state: &AppState,
    session: &Session,
    tested: Option<(String, Markup)>,
) -> Response {
    let now = state.clock().now();
    // The last hour, as the overview: each of its deliveries is joined with its attempts, so a
    // longer window costs in proportion (a day of 33,000 deliveries took 80 ms).
    let since = now
        .checked_sub(jiff::SignedDuration::from_hours(1))
        .unwrap_or(now);
    let stats = match state.store().sink_activity(since).await {
        Ok(stats) => stats,
        Err(e) => return store_failure(session, &e),
    };
    let stats: BTreeMap<&str, &herald_store::SinkActivity> =
        stats.iter().map(|s| (s.sink.as_str(), s)).collect();
    let live = state.live();
    let content = html! {
        @if let Some((name, answer)) = &tested {
            section #test-result {
                h2 { "Test of " (name) }
                (answer)
            }
        }
        table.list #sinks {
            thead { tr { th { "sink" } th { "type" } th { "attempts (last hour)" } th { "success" } th { "mean latency" } th { "slowest" } th {} } }
            tbody { @for (name, sink) in &live.sinks {
                @let s = stats.get(name.as_str());
                tr data-sink=(name) {
                    td { (name) }
                    td { (sink.kind()) }
                    td { (s.map_or(0, |s| s.attempts)) }
                    td { @match s.filter(|s| s.attempts > 0) {
                        Some(s) => { (format!("{:.1} %", 100.0 * s.delivered as f64 / s.attempts as f64)) },
                        None => "–",
                    } }
                    td { @match s.and_then(|s| s.mean_latency_ms) { Some(ms) => { (ms) " ms" }, None => "–" } }
                    td { @match s.and_then(|s| s.max_latency_ms) { Some(ms) => { (ms) " ms" }, None => "–" } }
                    td { form method="post" action=(session.link(&format!("/sinks/{name}/test"))) {
                        input type="hidden" name="csrf" value=(session.csrf);
                        button.send-test type="submit" { "Send test" }
                    } }
                }
            } }
        }
    };
    layout(session, "Sinks", "/sinks", content).into_response()
}

/// herald's sample alert, shaped like a Sentry issue alert (`herald send-test` and the
/// console's "send test" send it).
pub fn sample_alert() -> Alert {
    Alert {
        source: "send-test".into(),
        resource: "event_alert".into(),
        action: "triggered".into(),
        project: Some("herald-send-test".into()),
        level: Some(Level::Error),
        environment: Some("production".into()),
        release: Some("herald@test".into()),
        title: "herald test notification: this sink works".into(),
        culprit: Some("herald send-test".into()),
        issue_id: Some("0".into()),
        short_id: Some("HERALD-TEST".into()),
        url: None,
        timestamp: Some(Timestamp::now()),
        tags: Tags(vec![("team".into(), "herald".into())]),
        rule: Some("send-test".into()),
        event_id: None,
        raw: Value::Null,
    }
}

pub async fn send_test(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(name): Path<String>,
) -> Response {
    let live = state.live();
    let Some(sink) = live.sinks.get(&name).cloned() else {
        return problem(
            &session,
            StatusCode::NOT_FOUND,
            &format!("no sink \"{name}\""),
        );
    };
    let notification = Notification::single(
        Arc::new(sample_alert()),
        "send-test",
        name.as_str(),
        format!("console-test-{:016x}", fastrand::u64(..)),
    );
    tracing::info!(sink = %name, "console: sending a test notification");
    let answer = match tokio::time::timeout(
        state.policy().attempt_timeout,
        sink.deliver(&notification),
    )
    .await
    {
        Ok(Ok(receipt)) => html! {
            p.done #test-outcome { "delivered" }
            dl.fields {
                @if let Some(s) = receipt.status { dt { "status" } dd { (s) } }
                @if let Some(id) = &receipt.message_id { dt { "message id" } dd { (id) } }
                @if let Some(c) = &receipt.channel { dt { "channel" } dd { (c) } }
                @if let Some(d) = &receipt.detail { dt { "response" } dd { code { (d) } } }
            }
        },
        Ok(Err(e)) => {
            let advice = match &e {
                SinkError::Rejected { .. } => {
                    "refused for good: herald would not retry; check the sink's settings".to_owned()
                }
                SinkError::Unavailable {
                    retry_after: Some(d),
                    ..
                } => format!("temporary: herald would retry, not before {}s", d.as_secs()),
                _ => "temporary: herald would retry with backoff".to_owned(),
            };
            html! {
                p.error #test-outcome { "failed: " (e.to_string()) }
                p { "retry advice: " (advice) }
            }
        }
        Err(_) => {
            html! { p.error #test-outcome { "failed: no answer within " (state.policy().attempt_timeout.as_secs()) " s" } }
        }
    };
    sinks_page(&state, &session, Some((name, answer))).await
}
