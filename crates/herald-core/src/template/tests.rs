//! Unit tests for templates: escaping of alert text, unknown variables and syntax errors as
//! located config errors, missing tags rendering empty.

use std::sync::Arc;

use super::*;
use crate::alert::{Alert, Tags};
use crate::config::node::parse;

fn notification(title: &str) -> Notification {
    let alert = Alert {
        source: "sentry".into(),
        resource: "event_alert".into(),
        action: "triggered".into(),
        title: title.into(),
        tags: Tags(vec![("team".into(), "payments".into())]),
        ..Alert::default()
    };
    Notification::single(Arc::new(alert), "r", "s", "k")
}

fn node() -> Node {
    parse("template: x\n")
        .unwrap()
        .get("template")
        .unwrap()
        .clone()
}

#[test]
fn printed_values_are_escaped_but_literal_text_is_not() {
    let mut t = Templates::new(escape_html);
    let mut diag = Diagnostics::new("herald.yaml");
    assert!(t.add("body", "<b>{{ title }}</b>", &node(), &mut diag));
    let out = t
        .render("body", &notification("<script>alert(1)</script>"))
        .unwrap();
    assert_eq!(out, "<b>&lt;script&gt;alert(1)&lt;/script&gt;</b>");
}

#[test]
fn tags_are_reachable_and_a_missing_one_renders_empty_or_its_default() {
    let mut t = Templates::new(escape_none);
    let mut diag = Diagnostics::new("herald.yaml");
    assert!(t.add("ch", "#alerts-{{ tags.team }}", &node(), &mut diag));
    assert!(t.add(
        "fb",
        "#alerts-{{ tags.squad | default('general') }}",
        &node(),
        &mut diag
    ));
    assert_eq!(
        t.render("ch", &notification("x")).unwrap(),
        "#alerts-payments"
    );
    assert_eq!(
        t.render("fb", &notification("x")).unwrap(),
        "#alerts-general"
    );
}

#[test]
fn unknown_variable_is_a_located_config_error() {
    let mut t = Templates::new(escape_none);
    let mut diag = Diagnostics::new("herald.yaml");
    assert!(!t.add("subject", "{{ titel }}", &node(), &mut diag));
    let err = diag.into_result(()).unwrap_err();
    let text = err.errors[0].to_string();
    assert!(
        text.starts_with("herald.yaml:1:11: template \"subject\" uses unknown variable \"titel\""),
        "{text}"
    );
    assert!(text.contains("did you mean \"title\""), "{text}");
}

#[test]
fn syntax_error_is_a_located_config_error() {
    let mut t = Templates::new(escape_none);
    let mut diag = Diagnostics::new("herald.yaml");
    assert!(!t.add("subject", "{{ title ", &node(), &mut diag));
    let err = diag.into_result(()).unwrap_err();
    assert!(
        err.errors[0]
            .message
            .starts_with("bad template \"subject\""),
        "{}",
        err.errors[0]
    );
}

#[test]
fn html_escaping_covers_every_character_that_could_close_an_attribute_or_open_markup() {
    assert_eq!(
        escape_html("a & b < c > d \"e\" 'f'"),
        "a &amp; b &lt; c &gt; d &quot;e&quot; &#x27;f&#x27;"
    );
    assert_eq!(escape_none("<&>"), "<&>");
}

#[test]
fn a_set_knows_its_templates_and_lists_them_in_debug() {
    let mut t = Templates::new(escape_none);
    let mut diag = Diagnostics::new("herald.yaml");
    assert!(!t.has("title"));
    assert!(t.add("title", "{{ title }}", &node(), &mut diag));
    assert!(t.add("body", "{{ count }}", &node(), &mut diag));
    assert!(t.has("title"));
    assert!(!t.has("subject"));
    assert_eq!(format!("{t:?}"), "[\"body\", \"title\"]");
}

#[test]
fn count_includes_the_folded_alerts() {
    let mut t = Templates::new(escape_none);
    let mut diag = Diagnostics::new("herald.yaml");
    assert!(t.add("n", "{{ count }} ({{ folded }} folded)", &node(), &mut diag));
    let mut n = notification("x");
    assert_eq!(t.render("n", &n).unwrap(), "1 (0 folded)");
    n.folded = 4;
    assert_eq!(t.render("n", &n).unwrap(), "5 (4 folded)");
}
