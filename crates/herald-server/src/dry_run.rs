//! The routing dry run as JSON, shared by `herald route --format json` and
//! `POST /api/v1/route-test` so both print exactly the same object:
//! `{"alert": {...}, "routes": [...], "sinks": [...], "explain": [...]}`, or for a payload
//! herald does not route `{"alert": ..., "ignored": "<why>", "routes": [], "sinks": []}`.

use herald_core::Alert;
use herald_core::route::{Outcome, RouteTree, Routing};
use herald_core::source::Intake;
use serde_json::{Value, json};

/// The dry run of what a source made of a payload ([`herald_core::Source::dry_run`]): its
/// first alert, else its first ignored payload.
pub fn to_json(intake: Intake, tree: &RouteTree) -> Value {
    if let Some(incoming) = intake.alerts.first() {
        return explained(&incoming.alert, tree).0;
    }
    match intake.ignored.first() {
        Some(one) => ignored(&one.alert, &one.reason),
        None => json!({"routes": [], "sinks": []}),
    }
}

/// The object for a payload herald does not route.
pub fn ignored(alert: &Alert, reason: &str) -> Value {
    json!({"alert": alert.to_json(), "ignored": reason, "routes": [], "sinks": []})
}

/// The object for a routed alert, with the routing it describes.
pub fn explained(alert: &Alert, tree: &RouteTree) -> (Value, Routing) {
    let (routing, steps) = tree.explain(alert);
    let explain: Vec<Value> = steps
        .iter()
        .map(|s| match &s.outcome {
            Outcome::Matched { used } => json!({"route": s.route, "matched": true, "used": used}),
            Outcome::Mismatched(why) => json!({"route": s.route, "matched": false, "why": why}),
            Outcome::Skipped(why) => json!({"route": s.route, "matched": false, "skipped": why}),
        })
        .collect();
    let out = json!({
        "alert": alert.to_json(),
        "routes": routing.routes,
        "sinks": routing.sinks,
        "explain": explain,
    });
    (out, routing)
}
