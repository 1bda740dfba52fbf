//! The most recent webhooks herald refused (or answered without storing, as `ignored`), kept
//! in memory so that `herald why <Request-ID>` can say what became of a webhook that never
//! turned into an alert. They are never written to the store: whoever can reach a webhook
//! endpoint, with a credential or without, must not be able to make herald write. The ring
//! keeps the last [`CAPACITY`] entries; older ones fall out, and a restart forgets them all.
//!
//! Recording costs one short mutex hold and a few small allocations, and only on the refusal
//! path; an accepted webhook records nothing.

use std::collections::VecDeque;
use std::sync::Mutex;

use jiff::Timestamp;
use serde::Serialize;

/// How many refusals are kept.
pub const CAPACITY: usize = 1000;

/// Longest message kept; refusal messages are one sentence, but some quote what was sent.
const MAX_MESSAGE: usize = 300;

/// Longest Request-ID kept (herald refuses longer ones, and Sentry's are 32 characters).
const MAX_REQUEST_ID: usize = 128;

/// What the admin API says about where refusals are kept, beside every list of them.
pub const KEPT: &str =
    "refused webhooks are kept in memory only: the last 1000, lost when herald restarts";

/// One refused (or ignored) webhook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Refused {
    pub at: Timestamp,
    /// The source as configured, or `unknown` for a name that is not (never the caller's text).
    pub source: String,
    /// The source kind's word for the way the request came in (webhooks: `platform` or
    /// `legacy`, which endpoint and so which credential the request used).
    pub endpoint: &'static str,
    pub request_id: Option<String>,
    /// The HTTP status herald answered (200 for an ignored payload).
    pub status: u16,
    /// The refusal's fixed code (`unauthorized`, `malformed`, ...; for webhooks the
    /// `Sentry-Hook-Error` code), or `ignored`.
    pub code: &'static str,
    /// The message herald answered with.
    pub message: String,
}

/// The ring of recent refusals.
#[derive(Debug, Default)]
pub struct RecentRefusals {
    ring: Mutex<VecDeque<Refused>>,
}

impl RecentRefusals {
    /// Keeps `refused`, dropping the oldest entry when the ring is full. Long texts are cut.
    pub fn record(&self, mut refused: Refused) {
        if let Some(at) = char_boundary(&refused.message, MAX_MESSAGE) {
            refused.message.truncate(at);
            refused.message.push_str("...");
        }
        // A Request-ID is cut without a mark: its first characters still find it.
        if let Some(id) = refused.request_id.as_mut()
            && let Some(at) = char_boundary(id, MAX_REQUEST_ID)
        {
            id.truncate(at);
        }
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        if ring.len() >= CAPACITY {
            ring.pop_front();
        }
        ring.push_back(refused);
    }

    /// The refusals kept for `request_id`, oldest first.
    pub fn with_request_id(&self, request_id: &str) -> Vec<Refused> {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        ring.iter()
            .filter(|r| r.request_id.as_deref() == Some(request_id))
            .cloned()
            .collect()
    }

    /// How many refusals are kept now.
    pub fn len(&self) -> usize {
        self.ring.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where `text` passes `max` characters, if it does.
fn char_boundary(text: &str, max: usize) -> Option<usize> {
    text.char_indices().nth(max).map(|(at, _)| at)
}

#[cfg(test)]
mod tests;
