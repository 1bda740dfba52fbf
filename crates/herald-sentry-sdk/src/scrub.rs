//! Scrubbing before an event is stored, as Sentry's server does by default, so that a
//! password in a request body or a frame's local variables never reaches herald's database,
//! its admin API or a chat message:
//!
//! - the value under any key that names a credential becomes `[Filtered]` (whatever its type:
//!   a whole object or list too). A key names one when, compared without case, it contains
//!   `password`, `passwd`, `secret`, `api_key`/`api-key`/`apikey`, `auth` (so also
//!   `authorization`), `credentials`, `mysql_pwd`, `private_key`/`private-key`/`privatekey`,
//!   `token` or `bearer` (Relay's `@password` rule, which Sentry applies by default), or is
//!   `cookie`, `cookies`, `set-cookie`, `session`, `sessionid`, `session_id`, `csrftoken`,
//!   `otp`, `two_factor` or `two-factor` (session and CSRF cookies, and the one-time codes
//!   Relay matches exactly). Lists of `[key, value]` pairs (headers, cookies) count their
//!   first element as the key, and a `query_string` given as text has its parameters
//!   filtered the same way;
//! - in every string, and every whole number, a credit-card-like number (15 or 16 digits
//!   with a card network's prefix, spaces or dashes allowed between digits, and a valid Luhn
//!   check digit), a `Bearer` token, and a PEM private key become `[Filtered]`.
//!
//! `debug_meta` and `sdk` are left alone, as Relay does: they describe binaries and the SDK.
//! Unlike Sentry, exception values and formatted log messages get the value rules too (a card
//! number in an error message is still a card number); they never hold a key to match.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

/// What a scrubbed value becomes.
pub const FILTERED: &str = "[Filtered]";

const CONTAINS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "api_key",
    "api-key",
    "apikey",
    "auth",
    "credentials",
    "mysql_pwd",
    "private_key",
    "private-key",
    "privatekey",
    "token",
    "bearer",
];

const EXACT: &[&str] = &[
    "cookie",
    "cookies",
    "set-cookie",
    "session",
    "sessionid",
    "session_id",
    "csrftoken",
    "otp",
    "two_factor",
    "two-factor",
];

/// Top-level parts of an event that hold no user data.
const UNTOUCHED: &[&str] = &["debug_meta", "sdk"];

/// Whether the value under `key` is a credential.
pub fn is_sensitive_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    CONTAINS.iter().any(|s| key.contains(s)) || EXACT.contains(&key.as_str())
}

static CARD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(?:3[47]\d|4\d{3}|5[1-5]\d{2}|65\d{2}|6011)(?:[ -]?\d){12}\b")
        .expect("the card pattern compiles")
});
static BEARER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\bbearer\s+\S+").expect("the bearer pattern compiles"));
static PEM_KEY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?s)-----BEGIN[A-Z ]*PRIVATE KEY-----.*?-----END[A-Z ]*PRIVATE KEY-----")
        .expect("the key pattern compiles")
});

/// Whether `digits` (ASCII digits only) end with a valid Luhn check digit.
pub fn luhn(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(d - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// `text` with its card numbers, bearer tokens and private keys filtered; `None` when it has
/// none (the common case, which allocates nothing).
pub fn scrub_text(text: &str) -> Option<String> {
    // Cheap tests first: most strings have no long run of digits and no marker word.
    let has_digits = text.bytes().filter(u8::is_ascii_digit).count() >= 15;
    let lower_has = |word: &str| {
        text.as_bytes()
            .windows(word.len())
            .any(|w| w.eq_ignore_ascii_case(word.as_bytes()))
    };
    let has_bearer = lower_has("bearer");
    let has_pem = text.contains("PRIVATE KEY-----");
    if !has_digits && !has_bearer && !has_pem {
        return None;
    }
    let mut out = std::borrow::Cow::Borrowed(text);
    if has_pem {
        out = PEM_KEY.replace_all(&out, FILTERED).into_owned().into();
    }
    if has_bearer {
        out = BEARER.replace_all(&out, FILTERED).into_owned().into();
    }
    if has_digits {
        out = CARD
            .replace_all(&out, |m: &regex::Captures<'_>| {
                let digits: String = m[0].chars().filter(char::is_ascii_digit).collect();
                if luhn(&digits) {
                    FILTERED.to_owned()
                } else {
                    m[0].to_owned()
                }
            })
            .into_owned()
            .into();
    }
    (out != text).then(|| out.into_owned())
}

/// Scrubs an event in place (see the module docs for what).
pub fn scrub_event(event: &mut Map<String, Value>) {
    for (key, value) in event.iter_mut() {
        if UNTOUCHED.contains(&key.as_str()) {
            continue;
        }
        scrub_entry(key, value);
    }
}

fn scrub_entry(key: &str, value: &mut Value) {
    if is_sensitive_key(key) {
        filter(value);
    } else if key == "query_string"
        && let Value::String(query) = value
    {
        if let Some(scrubbed) = scrub_query(query) {
            *query = scrubbed;
        }
    } else {
        scrub_value(value);
    }
}

/// Replaces a value that holds something; null and empty text say nothing and stay.
fn filter(value: &mut Value) {
    let empty = match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        _ => false,
    };
    if !empty {
        *value = Value::String(FILTERED.to_owned());
    }
}

fn scrub_value(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                scrub_entry(key, value);
            }
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                match item {
                    // A `[key, value]` pair, as headers and cookies often come.
                    Value::Array(pair) if pair.len() == 2 && pair[0].is_string() => {
                        let key = pair[0].as_str().unwrap_or_default().to_owned();
                        scrub_entry(&key, &mut pair[1]);
                    }
                    other => scrub_value(other),
                }
            }
        }
        Value::String(text) => {
            if let Some(scrubbed) = scrub_text(text) {
                *text = scrubbed;
            }
        }
        Value::Number(n) => {
            if let Some(n) = n.as_u64()
                && scrub_text(&n.to_string()).is_some()
            {
                *value = Value::String(FILTERED.to_owned());
            }
        }
        Value::Null | Value::Bool(_) => {}
    }
}

/// A URL query with the values of sensitive parameters filtered, or `None` when it needs no
/// change.
fn scrub_query(query: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut changed = false;
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in &pairs {
        let value = if is_sensitive_key(key) && !value.is_empty() {
            changed = true;
            FILTERED.to_owned()
        } else if let Some(scrubbed) = scrub_text(value) {
            changed = true;
            scrubbed
        } else {
            value.clone()
        };
        out.append_pair(key, &value);
    }
    changed.then(|| out.finish())
}

#[cfg(test)]
mod tests;
