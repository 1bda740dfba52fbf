//! Text hygiene every sink shares: the invisible characters that make untrusted alert text read
//! differently from what it says.
//!
//! Bidirectional controls reorder what is shown (`\u{202E}` turns `txt.exe` into something
//! that reads as another name), and zero-width characters hide inside words, so a title can
//! look like a trusted one or carry a mention that no filter sees. Sinks drop both kinds from
//! alert text before their own escaping, which may then add zero-width characters of its own.

/// Bidirectional controls: the embeddings and overrides (U+202A..U+202E), the isolates
/// (U+2066..U+2069) and the marks LRM, RLM and ALM (U+200E, U+200F, U+061C).
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
    )
}

/// Zero-width characters: space, non-joiner and joiner (U+200B..U+200D), the word joiner
/// (U+2060) and the byte order mark / zero-width no-break space (U+FEFF).
pub fn is_zero_width(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

/// `s` without bidirectional controls and zero-width characters. A zero-width joiner between
/// two emoji is kept, since it is what makes 👩‍💻 one picture instead of two, and it can hide
/// nothing there.
pub fn strip_invisible(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        let joins_emoji = c == '\u{200D}'
            && out.chars().next_back().is_some_and(is_emoji_part)
            && chars.peek().copied().is_some_and(is_emoji_part);
        if joins_emoji || !(is_bidi_control(c) || is_zero_width(c)) {
            out.push(c);
        }
    }
    out
}

/// Pictographs, skin tones and the emoji variation selector: what stands on either side of
/// the joiner in an emoji sequence.
fn is_emoji_part(c: char) -> bool {
    matches!(
        c,
        '\u{1F000}'..='\u{1FAFF}' | '\u{2600}'..='\u{27BF}' | '\u{2B00}'..='\u{2BFF}' | '\u{FE0F}'
    )
}

#[cfg(test)]
mod tests;
