//! Fuzzes the Sentry payload parser with what a request can choose: the
//! `Sentry-Hook-Resource` header and the body. The input is `<header>\n<body>`; an empty first
//! line means no header (the legacy WebHooks plugin). Besides "never panics", it checks what
//! the parser promises: an alert within `herald_core::alert::limits`, the raw body kept, and
//! messages (ignore reasons, 400 errors) that stay short whatever the payload.

#![no_main]

use herald_core::alert::limits::*;
use herald_sentry::{Parsed, parse};
use libfuzzer_sys::fuzz_target;

/// Longest message herald may answer or log for one request: a sentence plus a few cut names.
const MAX_MESSAGE_BYTES: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let (header, body) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&data[..0], data),
    };
    let header = String::from_utf8_lossy(header);
    let resource = Some(header.as_ref()).filter(|h| !h.is_empty());
    match parse("sentry", resource, body) {
        Ok(parsed) => {
            if let Parsed::Ignored { reason, .. } = &parsed {
                assert!(
                    reason.len() <= MAX_MESSAGE_BYTES,
                    "reason of {} bytes",
                    reason.len()
                );
            }
            let alert = parsed.alert();
            let raw: serde_json::Value = serde_json::from_slice(body).expect("it parsed");
            assert_eq!(alert.raw, raw, "raw is the body as received");
            assert!(alert.tags.len() <= MAX_TAGS);
            for (k, v) in alert.tags.iter() {
                assert!(k.len() <= MAX_TAG_KEY_BYTES && v.len() <= MAX_TAG_VALUE_BYTES);
            }
            assert!(alert.title.len() <= MAX_TEXT_BYTES);
            assert!(
                alert
                    .culprit
                    .as_ref()
                    .is_none_or(|c| c.len() <= MAX_TEXT_BYTES)
            );
            assert!(alert.url.as_ref().is_none_or(|u| u.len() <= MAX_URL_BYTES));
            for name in [&alert.source, &alert.resource, &alert.action] {
                assert!(name.len() <= MAX_NAME_BYTES);
            }
            for name in [
                &alert.project,
                &alert.environment,
                &alert.release,
                &alert.issue_id,
                &alert.short_id,
                &alert.rule,
                &alert.event_id,
            ] {
                assert!(name.as_ref().is_none_or(|n| n.len() <= MAX_NAME_BYTES));
            }
            // What the store and the webhook sink do with every alert.
            let json = serde_json::to_vec(&alert.to_json()).expect("an alert serializes");
            let back: herald_core::Alert = serde_json::from_slice(&json).expect("and reads back");
            assert_eq!(
                (&back.title, back.timestamp),
                (&alert.title, alert.timestamp)
            );
        }
        Err(e) => {
            let message = e.to_string();
            assert!(
                message.len() <= MAX_MESSAGE_BYTES,
                "error of {} bytes",
                message.len()
            );
        }
    }
});
