//! Slack's own limit, kept whatever the routes say: about one message per second per channel
//! (chat.postMessage and incoming webhooks alike; Slack tolerates short bursts, then answers
//! `429`). Each sink spaces its posts to one channel at least [`GAP`] apart by reserving the
//! next free slot before it posts; a post whose slot is more than [`MAX_WAIT`] away is not
//! sent now but handed back to the dispatcher as "unavailable, retry after", so a flood waits
//! in the durable queue instead of in memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The least time between two posts to one channel. The crate's own unit tests, which post
/// many messages to one stand-in channel, use a shorter gap so they stay fast.
pub const GAP: Duration = if cfg!(test) {
    Duration::from_millis(10)
} else {
    Duration::from_secs(1)
};

/// The longest a post waits in the sink for its slot.
pub const MAX_WAIT: Duration = Duration::from_secs(20);

/// Per-channel next free slot.
#[derive(Debug, Default)]
pub struct Pacer {
    next: Mutex<HashMap<String, Instant>>,
}

/// What a post should do about the channel's pace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Post after waiting this long (zero: at once); the slot is taken.
    After(Duration),
    /// Too far away: try again after this long; nothing was taken.
    Later(Duration),
}

impl Pacer {
    /// Reserves the channel's next slot at `now`.
    pub fn reserve(&self, channel: &str, now: Instant) -> Slot {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        // Channels not posted to for a while need no entry; keep the map small.
        if next.len() > 1024 {
            next.retain(|_, at| *at > now);
        }
        let at = next
            .get(channel)
            .copied()
            .filter(|at| *at > now)
            .unwrap_or(now);
        let wait = at - now;
        if wait > MAX_WAIT {
            return Slot::Later(wait);
        }
        next.insert(channel.to_owned(), at + GAP);
        Slot::After(wait)
    }
}

#[cfg(test)]
mod tests;
