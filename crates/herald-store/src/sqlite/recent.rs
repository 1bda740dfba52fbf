//! The alerts accepted most recently, kept in memory by id so that leasing their deliveries
//! (usually milliseconds after the accept) neither reads the stored body back nor parses its
//! kilobytes of JSON a second time. Bounded by count; an alert that fell out is read from the
//! database as before, so the cache only ever saves work and never changes an answer.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use herald_core::Alert;

/// Alerts kept: enough to cover the deliveries leased right after a burst of accepts, small
/// enough that the parsed bodies (a few tens of KiB each) stay a few MiB.
pub(crate) const CAPACITY: usize = 256;

/// Recently accepted alerts, oldest evicted first.
#[derive(Debug, Default)]
pub(crate) struct RecentAlerts {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    by_id: HashMap<String, Arc<Alert>>,
    order: VecDeque<String>,
}

impl RecentAlerts {
    /// Keeps an alert just committed under `id`.
    pub(crate) fn insert(&self, id: &str, alert: Arc<Alert>) {
        let mut inner = self.lock();
        if inner.by_id.insert(id.to_owned(), alert).is_none() {
            inner.order.push_back(id.to_owned());
        }
        while inner.order.len() > CAPACITY {
            if let Some(old) = inner.order.pop_front() {
                inner.by_id.remove(&old);
            }
        }
    }

    /// Forgets an alert whose rows were not stored (a failed or duplicate accept).
    pub(crate) fn remove(&self, id: &str) {
        let mut inner = self.lock();
        if inner.by_id.remove(id).is_some() {
            inner.order.retain(|kept| kept != id);
        }
    }

    pub(crate) fn get(&self, id: &str) -> Option<Arc<Alert>> {
        self.lock().by_id.get(id).cloned()
    }

    #[cfg(test)]
    pub(crate) fn contains(&self, id: &str) -> bool {
        self.lock().by_id.contains_key(id)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().order.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain maps behind, still consistent enough
        // for a cache whose misses fall back to the database.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests;
