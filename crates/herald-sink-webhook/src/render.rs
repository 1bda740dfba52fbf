//! The request body: the default JSON document, serialized in one pass straight from the
//! alerts, or the operator's template rendered with JSON-string escaping. Pure functions, so the
//! body can be previewed and tested without a network.

use std::sync::Arc;

use herald_core::config::{Diagnostics, Node};
use herald_core::template::Templates;
use herald_core::{Alert, Notification};
use serde::Serialize;

/// The name of the body template inside a sink's [`Templates`].
pub const BODY: &str = "body";

/// The default body. `alert` is the first alert in its documented JSON shape; a digest adds
/// `alerts` (all of them) and `folded` (how many more were held back).
#[derive(Serialize)]
struct DefaultBody<'a> {
    alert: &'a Alert,
    #[serde(skip_serializing_if = "Option::is_none")]
    alerts: Option<&'a [Arc<Alert>]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    folded: Option<u64>,
    route: &'a str,
    sink: &'a str,
    delivery_id: &'a str,
}

/// Serializes the default body. Alerts are written directly (not through an intermediate
/// `serde_json::Value`) since this runs for every delivery.
pub fn default_body(n: &Notification) -> Vec<u8> {
    let digest = n.is_digest() || n.folded > 0;
    let body = DefaultBody {
        alert: n.first(),
        alerts: digest.then_some(n.alerts.as_slice()),
        folded: digest.then_some(n.folded),
        route: &n.route,
        sink: &n.sink,
        delivery_id: &n.idempotency_key,
    };
    let mut out = Vec::with_capacity(512 * n.alerts.len());
    // Serializing plain structs, strings and maps into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out, &body);
    out
}

/// Renders the operator's body template and checks that the result is JSON, so a template
/// that only breaks for some alerts is refused instead of sending garbage.
pub fn templated_body(templates: &Templates, n: &Notification) -> Result<Vec<u8>, String> {
    let text = templates.render(BODY, n)?;
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&text) {
        return Err(format!("the body template did not produce valid JSON: {e}"));
    }
    Ok(text.into_bytes())
}

/// Escapes text for the inside of a JSON string, without the surrounding quotes, so that a
/// printed alert value can never end the string or add fields.
pub fn escape_json(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // `<`, `>` and `&` too, so a body that ends up inside HTML or a script stays inert.
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// Compiles the `body` template and renders it once for a sample alert, so a template whose
/// literal text is not JSON fails `herald check` at its line rather than at 3 a.m.
pub fn compile_body(source: &str, at: &Node, diag: &mut Diagnostics) -> Option<Templates> {
    let mut templates = Templates::new(escape_json);
    if !templates.add(BODY, source, at, diag) {
        return None;
    }
    if let Err(e) = templated_body(&templates, &sample()) {
        diag.error(
            at,
            format!("{e} (rendered for a sample alert)"),
            Some(
                "printed values are JSON-escaped without quotes: write \"title\": \"{{ title }}\", \
                 or {{ alert|tojson }} for an object"
                    .into(),
            ),
        );
        return None;
    }
    Some(templates)
}

/// A notification with every field set, tricky characters included.
pub fn sample() -> Notification {
    let mut tags = herald_core::Tags::default();
    tags.insert("team", "payments");
    let alert = Alert {
        source: "sentry".into(),
        resource: "event_alert".into(),
        action: "triggered".into(),
        project: Some("checkout".into()),
        level: Some(herald_core::Level::Error),
        environment: Some("production".into()),
        release: Some("1.2.3".into()),
        title: "TypeError: \"x\" is <undefined>\n\\".into(),
        culprit: Some("app/cart.js in total".into()),
        issue_id: Some("42".into()),
        short_id: Some("CHECKOUT-1".into()),
        url: Some("https://sentry.example.com/issues/42/".into()),
        timestamp: None,
        tags,
        rule: Some("prod errors".into()),
        event_id: Some("0123456789abcdef".into()),
        raw: serde_json::Value::Null,
    };
    Notification::single(Arc::new(alert), "route", "sink", "delivery-1")
}

#[cfg(test)]
mod tests;
