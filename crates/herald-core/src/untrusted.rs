//! Untrusted text (alert fields, header values, a provider's answer) as a log line or a
//! terminal may show it. Anyone who can make an application log an error writes an alert's
//! title; printed raw, a newline in it forges a log line of its own, and an ESC sequence
//! recolours, hides or rewrites what an operator's terminal shows. [`escaped`] writes such
//! characters as visible escapes instead and caps the length, so one value stays on its line.
//!
//! tracing-subscriber's text format (0.3.23) escapes ESC and a few other C0 characters only in
//! the message and in errors; a `%value` field is written as it is, newlines and ESC included,
//! and a `&str` field is quoted with Rust's `Debug` escapes. Use `field = %escaped(value)` for
//! untrusted text logged with `%`; the JSON format escapes by itself.

use std::fmt::{self, Write};

/// How many characters of a value are shown by default; a log line is not the place for a
/// 2 KiB title.
pub const MAX_CHARS: usize = 256;

/// Text shown with its control characters escaped; see [`escaped`].
#[derive(Clone, Copy, Debug)]
pub struct Escaped<'a> {
    text: &'a str,
    max_chars: usize,
}

/// `text` for a log line or a terminal: newline, carriage return and tab as `\n`, `\r`, `\t`;
/// every other control character (C0, DEL, C1, so ESC too) and the invisible characters that
/// reorder or hide text (bidi controls, zero-width spaces, line and paragraph separators) as
/// `\u{..}`; cut after [`MAX_CHARS`] characters with `…`. Backslashes are left as they are:
/// they cannot start a line or a terminal sequence.
pub fn escaped(text: &str) -> Escaped<'_> {
    Escaped {
        text,
        max_chars: MAX_CHARS,
    }
}

impl Escaped<'_> {
    /// Shows at most `max_chars` characters instead of [`MAX_CHARS`].
    pub fn max_chars(self, max_chars: usize) -> Self {
        Escaped { max_chars, ..self }
    }
}

/// Whether a terminal or a log viewer would act on `c` instead of showing it: control
/// characters, the invisible ones every sink drops ([`crate::text`]), the line and paragraph
/// separators and the invisible operators.
fn hidden(c: char) -> bool {
    c.is_control()
        || crate::text::is_bidi_control(c)
        || crate::text::is_zero_width(c)
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{2061}'..='\u{2064}')
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.text.chars().enumerate() {
            if i == self.max_chars {
                return f.write_char('…');
            }
            match c {
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if hidden(c) => write!(f, "\\u{{{:x}}}", u32::from(c))?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
