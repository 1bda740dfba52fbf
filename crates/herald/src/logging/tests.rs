//! The Sentry switch: nothing without a DSN, a client with one, a clear refusal of a bad one.

use super::sentry_options;

#[test]
fn without_a_dsn_nothing_is_initialised() {
    assert!(sentry_options(None).unwrap().is_none());
    assert!(sentry_options(Some("")).unwrap().is_none());
    assert!(sentry_options(Some("  ")).unwrap().is_none());
}

#[test]
fn a_dsn_configures_the_client() {
    let options = sentry_options(Some("http://key@127.0.0.1:9/42"))
        .unwrap()
        .unwrap();
    assert_eq!(options.dsn.unwrap().project_id().value(), "42");
}

#[test]
fn a_bad_dsn_is_refused_without_echoing_it() {
    let e = sentry_options(Some("not a dsn with secret-key")).unwrap_err();
    assert!(e.contains("SENTRY_DSN is not a valid Sentry DSN"), "{e}");
    assert!(!e.contains("secret-key"), "{e}");
}

/// Everything the text format writes for one event, as `herald serve` sets it up without a
/// terminal (no ANSI colours).
fn text_line(log: impl FnOnce()) -> String {
    use std::sync::{Arc, Mutex};
    #[derive(Clone)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer(Arc::default());
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, log);
    String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
}

const HOSTILE: &str = "x\n2026-01-01T00:00:00Z  INFO forged line\r\x1b[31mred";

#[test]
fn the_text_format_writes_display_fields_raw() {
    // What the pinned tracing-subscriber does by itself: the message has ESC escaped, a `&str`
    // field is quoted with Debug escapes, but a `%` (Display) field is written as it is, so
    // untrusted text logged with `%` must go through `escaped`.
    let out = text_line(|| tracing::info!(raw = %HOSTILE, quoted = HOSTILE, "m {HOSTILE}"));
    assert!(out.contains("raw=x\n2026-01-01T00:00:00Z  INFO forged line\r\x1b[31m"));
    assert!(out.contains(r#"quoted="x\n2026-01-01T00:00:00Z  INFO forged line\r\u{1b}[31mred""#));
    assert!(out.contains("m x\n2026-01-01T00:00:00Z  INFO forged line\r\\x1b[31mred"));
}

#[test]
fn escaped_fields_stay_on_their_line() {
    use herald_core::untrusted::escaped;
    let out = text_line(|| tracing::info!(action = %escaped(HOSTILE), "webhook ignored"));
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(!out.contains(['\r', '\x1b']), "{out:?}");
    assert!(
        out.contains(r"action=x\n2026-01-01T00:00:00Z  INFO forged line\r\u{1b}[31mred"),
        "{out}"
    );
}
