//! The sinks' pace, kept by the dispatcher: a sink states how often one key of its provider
//! may be sent to ([`herald_core::Pace`]: a chat sink, say, about once a second per channel), and the
//! dispatcher starts attempts with the same (sink, key) at least that far apart. An attempt
//! whose turn is near waits for it without its sink's slot, so other keys and other sinks go
//! on; one whose turn is more than [`MAX_WAIT`] away goes back to the durable queue, due at
//! its turn, so a flood waits in the store instead of in memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use herald_core::Pace;
use tokio::time::Instant;

/// The longest an attempt waits in memory for its turn.
pub const MAX_WAIT: Duration = Duration::from_secs(20);

/// Past this many keys, the ones whose turn has passed are forgotten.
const KEEP: usize = 1024;

/// The next free turn of each (sink, key).
#[derive(Debug, Default)]
pub struct Pacer {
    next: Mutex<HashMap<(String, String), Instant>>,
}

/// What an attempt should do about its key's pace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Go after this long (zero: at once); the turn is taken.
    After(Duration),
    /// Too far away: go back to the queue for this long; nothing was taken.
    Later(Duration),
}

impl Pacer {
    /// Takes the next turn of `sink`'s `pace.key` at `now`.
    pub fn reserve(&self, sink: &str, pace: &Pace, now: Instant) -> Turn {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        if next.len() > KEEP {
            next.retain(|_, at| *at > now);
        }
        let key = (sink.to_owned(), pace.key.clone());
        let at = next
            .get(&key)
            .copied()
            .filter(|at| *at > now)
            .unwrap_or(now);
        let wait = at - now;
        if wait > MAX_WAIT {
            return Turn::Later(wait);
        }
        next.insert(key, at + pace.every);
        Turn::After(wait)
    }
}

#[cfg(test)]
mod tests;
