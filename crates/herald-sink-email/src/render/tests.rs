//! Tests for the message text: the one-line subject, the default parts for a single alert and
//! a digest, and escaping in the HTML part.

use std::sync::Arc;

use herald_core::config::{Config, Env};
use herald_core::{Alert, Level, Tags};

use super::*;

fn templates(subject: Option<&str>) -> EmailTemplates {
    let (config, _) = Config::parse(
        "sinks:\n  m:\n    type: email\n",
        "herald.yaml",
        &Env::from_pairs::<_, String, String>([]),
    )
    .unwrap();
    let mut diag = Diagnostics::new("herald.yaml");
    let t = EmailTemplates::compile(subject, None, None, &config.sinks[0].node, &mut diag);
    assert!(!diag.has_errors(), "{diag:?}");
    t.unwrap()
}

fn alert(title: &str) -> Arc<Alert> {
    Arc::new(Alert {
        title: title.into(),
        project: Some("checkout".into()),
        level: Some(Level::Warning),
        tags: Tags(vec![("team".into(), "payments".into())]),
        ..Alert::default()
    })
}

#[test]
fn the_default_subject_names_level_project_and_title() {
    let n = Notification::single(alert("Slow checkout"), "r", "s", "k");
    assert_eq!(
        templates(None).subject(&n).unwrap(),
        "[warning] checkout: Slow checkout"
    );
}

#[test]
fn a_digest_subject_counts_the_rest() {
    let mut n = Notification::single(alert("first"), "r", "s", "k");
    n.alerts.push(alert("second"));
    n.folded = 3;
    assert_eq!(
        templates(None).subject(&n).unwrap(),
        "[warning] checkout: first (+4 more)"
    );
    let text = templates(None).text(&n).unwrap();
    assert!(text.contains("- [warning] checkout: second\n"), "{text}");
    assert!(text.contains("...and 3 more"), "{text}");
}

#[test]
fn a_subject_is_one_line_even_when_the_template_is_not() {
    let n = Notification::single(alert("a\r\nb"), "r", "s", "k");
    let t = templates(Some("{{ title }}\nsecond line"));
    assert_eq!(t.subject(&n).unwrap(), "a  b second line");
}

#[test]
fn one_line_cuts_long_text() {
    let long = "x".repeat(300);
    let cut = one_line(&long, 200);
    assert_eq!(cut.chars().count(), 200);
    assert!(cut.ends_with('…'));
}

#[test]
fn the_html_part_escapes_values_and_skips_odd_links() {
    let mut a = (*alert("<b>hi</b>")).clone();
    a.url = Some("javascript:alert(1)".into());
    let n = Notification::single(Arc::new(a), "r", "s", "k");
    let html = templates(None).html(&n).unwrap();
    assert!(html.contains("[warning] &lt;b&gt;hi&lt;/b&gt;"), "{html}");
    assert!(!html.contains("javascript:"), "{html}");
    assert!(html.contains("team=payments"), "{html}");
}
