//! "Where did my alert go?": the answer of `GET /api/v1/alerts/{id}/explain`, which `herald why`
//! prints. The id may be herald's alert id, a Sentry `Request-ID`, event id or issue id (the
//! most recent alert of that issue, with a count of the others); a `Request-ID` that herald
//! refused or ignored is found in the in-memory ring of recent refusals (`recent_refusals.rs`).
//!
//! The answer is one JSON document:
//!
//! - `query`, `found_by` (`alert_id`, `request_id`, `event_id`, `issue_id` or `refusal`) and
//!   `others` (other alerts with the same id);
//! - `alert`: herald's id, the source, the `Request-ID`, when it was received, and the
//!   normalized alert;
//! - `routing`: the route tree running *now* applied to the stored alert (which routes match
//!   and why the others do not, as `herald route` prints it), with a note that the alert's
//!   deliveries were decided by the config that ran when it arrived;
//! - `deliveries`: every delivery with its status, attempts, last error, receipt and times,
//!   and `attempt_log`: each attempt with when it started and ended, its outcome
//!   (`delivered`, `retried`, `dead`), the provider's status (`null` for a network cause or a
//!   timeout, which the error names), the error and the latency;
//! - `held_back`: everything the noise stage did not send on its own, with its outcome, reason
//!   and detail, the silence that matched (when it still exists), and `folded_into`: the id
//!   and status of the delivery whose message lists or counts it (and `attempt_log`, when it
//!   was attempted before the noise stage held it back);
//! - `refusals`: webhooks with the same `Request-ID` that herald refused or ignored, with
//!   `refusals_kept` saying they live in memory only, bounded, and are lost at restart;
//! - `summary`: one sentence per outcome, which `herald why` prints as its verdict.

use std::collections::BTreeMap;

use herald_core::route::Outcome;
use herald_store::{
    AlertHistory, Attempt, AttemptOutcome, Delivery, DeliveryView, FoundAlert, HeldBack,
    SilenceRecord, Status, StoreError,
};
use serde_json::{Value, json};

use crate::AppState;
use crate::admin::{attempt_json, delivery_json};
use crate::recent_refusals::{KEPT, Refused};

/// What routing the stored alert again means.
const ROUTING_NOTE: &str = "the routes running now, applied again to the stored alert; its deliveries were decided by the config running when it arrived";

/// The explanation of `key`, or `None` when no alert, Sentry event, issue or Request-ID (stored
/// or refused) has that id.
pub async fn explain(state: &AppState, key: &str) -> Result<Option<Value>, StoreError> {
    let key = key.trim();
    let store = state.store();
    let Some(found) = store.find_alert(key).await? else {
        let refused = state.recent_refusals().with_request_id(key);
        if refused.is_empty() {
            return Ok(None);
        }
        let summary: Vec<String> = refused.iter().map(refusal_sentence).collect();
        return Ok(Some(json!({
            "query": key,
            "found_by": "refusal",
            "others": 0,
            "alert": null,
            "routing": null,
            "deliveries": [],
            "held_back": [],
            "refusals": refused,
            "refusals_kept": KEPT,
            "summary": summary,
        })));
    };
    let history = store.alert_history(&found.alert.id).await?;
    let silences = if history.held_back.iter().any(|h| h.outcome == "silenced") {
        store.silences(true, state.clock().now()).await?
    } else {
        Vec::new()
    };
    let refused = found
        .alert
        .request_id
        .as_deref()
        .map(|id| state.recent_refusals().with_request_id(id))
        .unwrap_or_default();
    Ok(Some(document(
        state, key, &found, &history, &silences, &refused,
    )))
}

fn document(
    state: &AppState,
    key: &str,
    found: &FoundAlert,
    history: &AlertHistory,
    silences: &[SilenceRecord],
    refused: &[Refused],
) -> Value {
    let stored = &found.alert;
    let alert = &stored.alert;
    let mut log: BTreeMap<&str, Vec<&Attempt>> = BTreeMap::new();
    for a in &history.attempts {
        log.entry(a.delivery_id.as_str()).or_default().push(a);
    }
    let log_of = |id: &str| -> Vec<Value> {
        log.get(id)
            .into_iter()
            .flatten()
            .map(|a| attempt_json(a))
            .collect()
    };
    let view = |d: &Delivery| {
        let mut value = delivery_json(&DeliveryView {
            delivery: d.clone(),
            project: alert.project.clone(),
            title: alert.title.clone(),
        });
        value["attempt_log"] = Value::from(log_of(&d.id));
        value
    };
    let folded: BTreeMap<&str, &Delivery> = history
        .folded_into
        .iter()
        .map(|d| (d.id.as_str(), d))
        .collect();
    let held: Vec<Value> = history
        .held_back
        .iter()
        .map(|h| {
            let mut value = held_json(h, &folded, silences);
            let attempts = log_of(&h.delivery_id);
            if !attempts.is_empty() {
                value["attempt_log"] = Value::from(attempts);
            }
            value
        })
        .collect();

    let live = state.live();
    let (routing, steps) = live.config.routes.explain(alert);
    let explain: Vec<Value> = steps
        .iter()
        .map(|s| {
            let mut step = json!({"route": s.route, "depth": s.depth});
            match &s.outcome {
                Outcome::Matched { used } => {
                    step["matched"] = json!(true);
                    step["used"] = json!(used);
                    if *used {
                        let sinks = routing
                            .deliveries
                            .iter()
                            .find(|(r, _)| *r == s.route)
                            .map(|(_, sinks)| sinks.clone())
                            .unwrap_or_default();
                        step["sinks"] = json!(sinks);
                    }
                }
                Outcome::Mismatched(why) => {
                    step["matched"] = json!(false);
                    step["why"] = json!(why);
                }
                Outcome::Skipped(why) => {
                    step["matched"] = json!(false);
                    step["skipped"] = json!(why);
                }
            }
            step
        })
        .collect();

    let mut summary: Vec<String> = refused.iter().map(refusal_sentence).collect();
    if history.deliveries.is_empty() && history.held_back.is_empty() {
        summary.push(
            "no route matched when it arrived, so nothing was sent (see routing for why)".into(),
        );
    }
    summary.extend(
        history
            .deliveries
            .iter()
            .map(|d| delivery_sentence(d, log.get(d.id.as_str()).map_or(&[][..], Vec::as_slice))),
    );
    summary.extend(
        history
            .held_back
            .iter()
            .map(|h| held_sentence(h, &folded, silences)),
    );

    json!({
        "query": key,
        "found_by": found.found_by.as_str(),
        "others": found.others,
        "alert": {
            "id": stored.id,
            "source": stored.source,
            "request_id": stored.request_id,
            "received_at": stored.received_at.to_string(),
            "alert": alert.to_json(),
        },
        "routing": {
            "config": "current",
            "note": ROUTING_NOTE,
            "routes": routing.routes,
            "sinks": routing.sinks,
            "explain": explain,
        },
        "deliveries": history.deliveries.iter().map(view).collect::<Vec<_>>(),
        "held_back": held,
        "refusals": refused,
        "refusals_kept": KEPT,
        "summary": summary,
    })
}

fn held_json(
    h: &HeldBack,
    folded: &BTreeMap<&str, &Delivery>,
    silences: &[SilenceRecord],
) -> Value {
    let mut value = serde_json::to_value(h).unwrap_or_default();
    value["folded_into"] = match h.folded_into.as_deref() {
        None => Value::Null,
        Some(id) => match folded.get(id) {
            Some(d) => json!({
                "id": id,
                "status": d.status.as_str(),
                "route": d.route,
                "sink": d.sink,
                "alert_id": d.alert_id,
                "updated_at": d.updated_at.to_string(),
            }),
            // Pruned by retention since.
            None => json!({"id": id, "status": null}),
        },
    };
    if let Some(silence) = silence_of(h, silences) {
        value["silence"] = json!({
            "id": silence.id,
            "author": silence.author,
            "comment": silence.comment,
            "matchers": silence.matchers,
            "ends_at": silence.ends_at.to_string(),
        });
    }
    value
}

fn silence_of<'s>(h: &HeldBack, silences: &'s [SilenceRecord]) -> Option<&'s SilenceRecord> {
    if h.outcome != "silenced" {
        return None;
    }
    let id = h.detail.as_deref()?;
    silences.iter().find(|s| s.id == id)
}

fn refusal_sentence(r: &Refused) -> String {
    if r.code == "ignored" {
        format!(
            "ignored at {} (source {}, {} endpoint): {}; answered 200 and stored nothing",
            r.at, r.source, r.endpoint, r.message
        )
    } else {
        format!(
            "refused at {} with {} (source {}, {} endpoint): {}: {}",
            r.at, r.status, r.source, r.endpoint, r.code, r.message
        )
    }
}

fn attempts(n: u32) -> String {
    if n == 1 {
        "1 attempt".to_owned()
    } else {
        format!("{n} attempts")
    }
}

/// One line per delivery; `log` is its attempts, which keep the errors a delivered one no
/// longer carries as `last_error`.
fn delivery_sentence(d: &Delivery, log: &[&Attempt]) -> String {
    let to = format!("{} (route {})", d.sink, d.route);
    let error = d.last_error.as_deref().unwrap_or("no error recorded");
    match d.status {
        Status::Delivered => {
            let mut text = format!(
                "{to}: delivered at {} after {}",
                d.updated_at,
                attempts(d.attempts)
            );
            let failed: Vec<&&Attempt> = log
                .iter()
                .filter(|a| a.outcome != AttemptOutcome::Delivered)
                .collect();
            if let Some(last) = failed.last() {
                text.push_str(&format!(
                    " ({} failed before it, the last with: {})",
                    failed.len(),
                    last.error.as_deref().unwrap_or("no error recorded")
                ));
            }
            text
        }
        Status::Dead => format!(
            "{to}: gave up at {} after {}: {error}",
            d.updated_at,
            attempts(d.attempts)
        ),
        Status::Pending if d.attempts == 0 => {
            format!("{to}: waiting, first attempt at {}", d.next_attempt_at)
        }
        Status::Pending => format!(
            "{to}: will retry at {} ({} so far; last error: {error})",
            d.next_attempt_at,
            attempts(d.attempts)
        ),
        Status::InFlight => format!("{to}: being sent now (attempt {})", d.attempts),
    }
}

fn held_sentence(
    h: &HeldBack,
    folded: &BTreeMap<&str, &Delivery>,
    silences: &[SilenceRecord],
) -> String {
    let mut text = format!(
        "{} (route {}): held back at {}, {}: {}",
        h.sink, h.route, h.decided_at, h.outcome, h.reason
    );
    if let Some(s) = silence_of(h, silences) {
        // The reason names the silence and its end already; add who made it and why.
        text.push_str(&format!(" (made by {}: \"{}\")", s.author, s.comment));
    }
    match h.folded_into.as_deref() {
        None => {}
        Some(id) => match folded.get(id) {
            Some(d) => text.push_str(&format!(
                "; folded into delivery {id} to {}, which is {}",
                d.sink, d.status
            )),
            None => text.push_str(&format!(
                "; folded into delivery {id}, which is no longer stored"
            )),
        },
    }
    text
}
