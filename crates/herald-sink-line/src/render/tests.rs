//! Unit tests for the LINE text: layout (snapshots), cleaning of control characters, and the
//! 5000 UTF-16 / 1000 character limits with emoji.

use std::sync::Arc;

use expect_test::{Expect, expect};
use herald_core::{Alert, Level, Notification, Tags};

use super::*;

fn alert(title: &str) -> Alert {
    Alert {
        source: "sentry".into(),
        resource: "event_alert".into(),
        action: "triggered".into(),
        project: Some("backend".into()),
        level: Some(Level::Error),
        environment: Some("production".into()),
        title: title.into(),
        culprit: Some("app.views.checkout".into()),
        url: Some("https://sentry.example/issues/7/".into()),
        tags: Tags(vec![
            ("level".into(), "error".into()),
            ("team".into(), "payments".into()),
        ]),
        ..Alert::default()
    }
}

fn one(a: Alert) -> Notification {
    Notification::single(Arc::new(a), "prod", "line-ops", "key-1")
}

fn digest(n: usize, folded: u64) -> Notification {
    let mut note = one(alert("x"));
    note.alerts = (0..n)
        .map(|i| Arc::new(alert(&format!("TypeError number {i}"))))
        .collect();
    note.folded = folded;
    note
}

fn check(n: &Notification, expect: Expect) {
    expect.assert_eq(&text(n, MAX_TEXT_UTF16, Measure::Utf16));
}

#[test]
fn one_alert_lists_its_fields_and_link() {
    check(
        &one(alert("TypeError: x is undefined")),
        expect![[r#"
            [ERROR] TypeError: x is undefined
            Project: backend
            Environment: production
            Culprit: app.views.checkout
            Tags: team=payments
            https://sentry.example/issues/7/"#]],
    );
}

#[test]
fn hostile_title_is_kept_as_text_minus_control_characters() {
    check(
        &one(alert(
            "<!channel> <script>alert(1)</script> @everyone\u{7}\u{202E}txt.exe\r",
        )),
        expect![[r#"
            [ERROR] <!channel> <script>alert(1)</script> @everyonetxt.exe
            Project: backend
            Environment: production
            Culprit: app.views.checkout
            Tags: team=payments
            https://sentry.example/issues/7/"#]],
    );
}

#[test]
fn digest_lists_alerts_and_counts_folded_ones() {
    check(
        &digest(2, 3),
        expect![[r#"
            2 alerts in backend
            - [error] TypeError number 0 (backend / production)
              https://sentry.example/issues/7/
            - [error] TypeError number 1 (backend / production)
              https://sentry.example/issues/7/
            and 3 more like this"#]],
    );
}

#[test]
fn digest_within_the_limit_counts_what_did_not_fit() {
    let n = digest(200, 0);
    let t = text(&n, MAX_TEXT_UTF16, Measure::Utf16);
    assert!(t.encode_utf16().count() <= MAX_TEXT_UTF16);
    let listed = t.lines().filter(|l| l.starts_with("- ")).count();
    assert!(listed > 10, "{listed}");
    assert_eq!(
        t.lines().last().unwrap(),
        format!("and {} more like this", 200 - listed)
    );
    let t = text(&n, MAX_NOTIFY_CHARS, Measure::Chars);
    assert!(t.chars().count() <= MAX_NOTIFY_CHARS);
    assert!(t.ends_with("more like this"), "{t}");
}

#[test]
fn emoji_count_double_against_the_utf16_limit() {
    let title = "🔥".repeat(3000);
    let t = text(&one(alert(&title)), MAX_TEXT_UTF16, Measure::Utf16);
    // "[ERROR] " is 8 units and each fire 2: 2495 fires reach 4998, a 2496th would pass the
    // 4999 left before the ellipsis, so the text ends one unit short of the limit.
    assert_eq!(t.encode_utf16().count(), MAX_TEXT_UTF16 - 1);
    assert_eq!(t.matches('🔥').count(), 2495);
    assert!(t.starts_with("[ERROR] 🔥"));
    assert!(t.ends_with("🔥…"), "{}", &t[t.len() - 20..]);
    assert!(!t.contains('\u{FFFD}'));
}

#[test]
fn cuts_never_split_a_surrogate_pair_or_leave_a_joiner() {
    assert_eq!(truncate("a🔥🔥", 4, Measure::Utf16), "a🔥…");
    assert_eq!(truncate("a🔥🔥", 3, Measure::Utf16), "a…");
    assert_eq!(
        truncate("👩\u{200D}💻👩\u{200D}💻", 4, Measure::Utf16),
        "👩…"
    );
    assert_eq!(truncate("短いテキスト", 4, Measure::Chars), "短いテ…");
    assert_eq!(truncate("fits", 4, Measure::Chars), "fits");
}

#[test]
fn notify_limit_is_1000_characters() {
    let title = "é".repeat(3000);
    let t = text(&one(alert(&title)), MAX_NOTIFY_CHARS, Measure::Chars);
    assert!(t.chars().count() <= MAX_NOTIFY_CHARS);
    assert!(t.ends_with('…'));
}

#[test]
fn bidi_and_zero_width_characters_are_dropped_as_the_slack_sink_drops_them() {
    assert_eq!(
        clean("a\u{200E}b\u{200F}c\u{061C}d\u{2066}e\u{2069}f\u{202E}g"),
        "abcdefg"
    );
    assert_eq!(
        clean("pay\u{200B}ments\u{200C} @\u{2060}all\u{FEFF}"),
        "payments @all"
    );
    assert_eq!(clean("👩\u{200D}💻 on call"), "👩\u{200D}💻 on call");
}
