//! Tests for the request body: the default document's shape, digests, and the escaping that
//! keeps alert text inside its JSON string.

use super::*;
use herald_core::config::{Config, Env};

fn body_json(n: &Notification) -> serde_json::Value {
    serde_json::from_slice(&default_body(n)).unwrap()
}

#[test]
fn default_body_carries_the_alert_route_sink_and_delivery_id() {
    let n = sample();
    let json = body_json(&n);
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["alert", "route", "sink", "delivery_id"]);
    assert_eq!(json["alert"], n.first().to_json());
    assert_eq!(json["delivery_id"], "delivery-1");
    assert_eq!(
        json["alert"]["tags"],
        serde_json::json!({"team": "payments"})
    );
}

#[test]
fn a_digest_adds_every_alert_and_the_folded_count() {
    let mut n = sample();
    let mut second = (*n.alerts[0]).clone();
    second.title = "second".into();
    n.alerts.push(Arc::new(second));
    n.folded = 37;
    let json = body_json(&n);
    assert_eq!(json["alert"]["title"], n.first().title.as_str());
    assert_eq!(json["alerts"].as_array().unwrap().len(), 2);
    assert_eq!(json["alerts"][1]["title"], "second");
    assert_eq!(json["folded"], 37);
    assert!(json.get("alert_id").is_none());
}

#[test]
fn escaping_keeps_text_inside_a_json_string() {
    let nasty = "a\"b\\c\nd</script>\u{1}\u{2028}";
    let quoted = format!("\"{}\"", escape_json(nasty));
    let back: String = serde_json::from_str(&quoted).unwrap();
    assert_eq!(back, nasty);
    assert!(!quoted.contains("</script>"));
}

fn templates(source: &str) -> Templates {
    let (config, _) = Config::parse(
        &format!("sinks:\n  h:\n    type: webhook\n    body: {source:?}\n"),
        "herald.yaml",
        &Env::from_pairs::<_, String, String>([]),
    )
    .unwrap();
    let mut diag = Diagnostics::new("herald.yaml");
    let at = config.sinks[0].node.get("body").unwrap();
    let t = compile_body(source, at, &mut diag);
    assert!(!diag.has_errors(), "{diag:?}");
    t.unwrap()
}

#[test]
fn a_template_prints_values_escaped_and_objects_with_tojson() {
    let t = templates(r#"{"text": "[{{ level }}] {{ title }}", "alert": {{ alert|tojson }}}"#);
    let n = sample();
    let out = templated_body(&t, &n).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(json["text"], format!("[error] {}", n.first().title));
    assert_eq!(json["alert"]["issue_id"], "42");
}

#[test]
fn a_template_that_breaks_for_some_alert_is_refused_at_render() {
    // Valid for the sample (which has a project), invalid when the project is missing.
    let t = templates(r#"{"p": {% if project %}"{{ project }}"{% endif %}}"#);
    let mut n = sample();
    let mut alert = (*n.alerts[0]).clone();
    alert.project = None;
    n.alerts[0] = Arc::new(alert);
    let err = templated_body(&t, &n).unwrap_err();
    assert!(
        err.starts_with("the body template did not produce valid JSON"),
        "{err}"
    );
}
