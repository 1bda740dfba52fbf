//! Tests for [`escaped`]: what is escaped, what is left, and the length cap.

use super::*;

fn check(text: &str, expected: &str) {
    assert_eq!(escaped(text).to_string(), expected);
}

#[test]
fn line_breaks_and_tabs_become_visible_escapes() {
    check("a\nb\r\nc\td", "a\\nb\\r\\nc\\td");
}

#[test]
fn terminal_sequences_lose_their_esc() {
    check("\x1b[31mred\x1b[0m", "\\u{1b}[31mred\\u{1b}[0m");
    check(
        "bell\x07 nul\0 del\x7f c1\u{9b}",
        "bell\\u{7} nul\\u{0} del\\u{7f} c1\\u{9b}",
    );
}

#[test]
fn invisible_reordering_characters_are_shown() {
    check("user\u{202E}gnp.exe", "user\\u{202e}gnp.exe");
    check(
        "a\u{2028}b\u{200B}c\u{FEFF}",
        "a\\u{2028}b\\u{200b}c\\u{feff}",
    );
}

#[test]
fn ordinary_text_is_unchanged() {
    check(
        "TimeoutError: upstream \"payments\" in C:\\app — 日本語 ✓",
        "TimeoutError: upstream \"payments\" in C:\\app — 日本語 ✓",
    );
}

#[test]
fn long_text_is_cut_with_an_ellipsis() {
    assert_eq!(escaped("abcdef").max_chars(3).to_string(), "abc…");
    assert_eq!(escaped("abc").max_chars(3).to_string(), "abc");
    let long = "é".repeat(10_000);
    assert_eq!(escaped(&long).to_string().chars().count(), MAX_CHARS + 1);
}
