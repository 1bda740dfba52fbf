//! Unit tests for the invisible characters sinks drop from alert text.

use super::*;

fn check(input: &str, expected: &str) {
    assert_eq!(strip_invisible(input), expected, "{input:?}");
}

#[test]
fn bidi_controls_are_dropped() {
    check("invoice\u{202E}fdp.exe", "invoicefdp.exe");
    check("\u{202A}a\u{202B}b\u{202C}c\u{202D}d", "abcd");
    check("\u{2066}x\u{2067}y\u{2068}z\u{2069}", "xyz");
    check("a\u{200E}b\u{200F}c\u{061C}d", "abcd");
}

#[test]
fn zero_width_characters_are_dropped() {
    check("@\u{200B}everyone", "@everyone");
    check("pay\u{200C}ments\u{200D}x\u{2060}y\u{FEFF}", "paymentsxy");
}

#[test]
fn a_joiner_inside_an_emoji_sequence_is_kept() {
    check("👩\u{200D}💻 deploy", "👩\u{200D}💻 deploy");
    check("🏳\u{FE0F}\u{200D}🌈", "🏳\u{FE0F}\u{200D}🌈");
    // Next to a letter it hides something, so it goes.
    check("👩\u{200D}x", "👩x");
    check("a\u{200D}💻", "a💻");
}

#[test]
fn ordinary_text_is_unchanged() {
    check(
        "TypeError: x is undefined — ünïcødé 日本語 ✓",
        "TypeError: x is undefined — ünïcødé 日本語 ✓",
    );
}
