//! The hand-off from the webhook handler to the running dispatcher. Without it every delivery
//! took three transactions on the store's single writer (the accept, a lease moments later,
//! the outcome) plus a read for the next due time; with it the accept takes the first lease
//! in its own commit ([`herald_store::Store::accept_leased`]) and the handler passes the
//! leased deliveries here, in memory, so the dispatcher starts them without asking the store.
//!
//! It is bounded: the handler reserves room before it stores, and the room is given back only
//! when an attempt starts (or the delivery is released), so a slow sink cannot make herald
//! hold more than [`CAPACITY`] deliveries in memory. Without room, or while no dispatcher
//! runs, the handler stores deliveries `pending` as before and the dispatcher leases them from
//! the store. Nothing here is the only copy: every delivery is already committed, leased to
//! this process, and a restart gives such leases back (see `herald-store`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use herald_store::LeasedDelivery;
use tokio::sync::Notify;

/// Deliveries reserved or waiting here at most: a few hundred parsed alerts, a few MiB.
pub(crate) const CAPACITY: usize = 512;

/// The queue between handlers and the dispatcher.
#[derive(Debug, Default)]
pub(crate) struct Handoff {
    inner: Mutex<Queue>,
    ready: Notify,
}

#[derive(Debug, Default)]
struct Queue {
    /// Dispatchers taking from the queue; reservations are refused while there are none.
    consumers: usize,
    /// Reserved by handlers, waiting here, or taken by a dispatcher and not yet started.
    held: usize,
    items: VecDeque<LeasedDelivery>,
}

/// Room for `n` deliveries, given back on drop unless they were pushed.
#[derive(Debug)]
pub(crate) struct Reservation {
    handoff: Arc<Handoff>,
    n: usize,
}

impl Handoff {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Plain counters and a queue: still consistent after a panic elsewhere.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Room for `n` deliveries, if a dispatcher is taking them and there is room.
    pub(crate) fn reserve(self: &Arc<Self>, n: usize) -> Option<Reservation> {
        let mut queue = self.lock();
        if n == 0 || queue.consumers == 0 || queue.held + n > CAPACITY {
            return None;
        }
        queue.held += n;
        Some(Reservation {
            handoff: self.clone(),
            n,
        })
    }

    /// Gives back room for `n` deliveries: attempts started, or deliveries released.
    pub(crate) fn done(&self, n: usize) {
        let mut queue = self.lock();
        queue.held = queue.held.saturating_sub(n);
    }

    /// A dispatcher starts taking deliveries.
    pub(crate) fn open(&self) {
        self.lock().consumers += 1;
    }

    /// A dispatcher stops taking deliveries. The last one to stop gets what is still queued,
    /// to give back to the store.
    pub(crate) fn close(&self) -> Vec<LeasedDelivery> {
        let mut queue = self.lock();
        queue.consumers = queue.consumers.saturating_sub(1);
        if queue.consumers > 0 {
            return Vec::new();
        }
        let left: Vec<LeasedDelivery> = queue.items.drain(..).collect();
        queue.held = queue.held.saturating_sub(left.len());
        left
    }

    /// Everything queued, for the dispatcher. Their room stays taken until [`Handoff::done`].
    pub(crate) fn take(&self) -> VecDeque<LeasedDelivery> {
        std::mem::take(&mut self.lock().items)
    }

    /// Resolves when deliveries were pushed since the last call.
    pub(crate) async fn ready(&self) {
        self.ready.notified().await;
    }

    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.lock().held
    }
}

impl Reservation {
    /// Queues leased deliveries for the dispatcher. When none runs any more (shutdown), they
    /// come back: the caller gives their leases back to the store.
    pub(crate) fn push(mut self, leased: Vec<LeasedDelivery>) -> Result<(), Vec<LeasedDelivery>> {
        let handoff = self.handoff.clone();
        let mut queue = handoff.lock();
        let reserved = std::mem::take(&mut self.n);
        if queue.consumers == 0 {
            queue.held = queue.held.saturating_sub(reserved);
            return Err(leased);
        }
        // Fewer than reserved (a duplicate stores none): the rest of the room goes back.
        queue.held = queue
            .held
            .saturating_sub(reserved.saturating_sub(leased.len()));
        let pushed = !leased.is_empty();
        queue.items.extend(leased);
        drop(queue);
        if pushed {
            handoff.ready.notify_one();
        }
        Ok(())
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.n > 0 {
            self.handoff.done(self.n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leased(n: usize) -> Vec<LeasedDelivery> {
        let alert = Arc::new(herald_core::Alert::default());
        let at = jiff::Timestamp::UNIX_EPOCH;
        (0..n)
            .map(|i| LeasedDelivery {
                delivery: herald_store::Delivery {
                    id: format!("d{i}"),
                    alert_id: "a".into(),
                    route: "r".into(),
                    sink: "s".into(),
                    status: herald_store::Status::InFlight,
                    attempts: 1,
                    next_attempt_at: at,
                    lease_until: Some(at),
                    last_error: None,
                    receipt: None,
                    created_at: at,
                    updated_at: at,
                },
                alert: alert.clone(),
            })
            .collect()
    }

    #[test]
    fn no_room_is_given_while_no_dispatcher_takes_deliveries() {
        let handoff = Arc::new(Handoff::default());
        assert!(handoff.reserve(1).is_none());
        handoff.open();
        assert!(handoff.reserve(1).is_some());
        assert!(handoff.close().is_empty());
        assert!(handoff.reserve(1).is_none());
    }

    #[test]
    fn room_is_bounded_and_comes_back_when_attempts_start() {
        let handoff = Arc::new(Handoff::default());
        handoff.open();
        let big = handoff.reserve(CAPACITY - 1).unwrap();
        assert!(handoff.reserve(2).is_none(), "over capacity");
        let one = handoff.reserve(1).unwrap();
        one.push(leased(1)).unwrap();
        big.push(leased(CAPACITY - 1)).unwrap();
        assert_eq!(handoff.held(), CAPACITY);
        let taken = handoff.take();
        assert_eq!(taken.len(), CAPACITY);
        assert!(handoff.reserve(1).is_none(), "taken is not started");
        handoff.done(CAPACITY);
        assert_eq!(handoff.held(), 0);
        assert!(handoff.reserve(1).is_some());
    }

    #[test]
    fn unused_room_goes_back() {
        let handoff = Arc::new(Handoff::default());
        handoff.open();
        drop(handoff.reserve(3).unwrap());
        assert_eq!(handoff.held(), 0);
        // A duplicate reserved two and pushed none.
        handoff.reserve(2).unwrap().push(Vec::new()).unwrap();
        assert_eq!(handoff.held(), 0);
    }

    #[test]
    fn the_last_dispatcher_to_stop_gets_what_is_left_and_later_pushes_come_back() {
        let handoff = Arc::new(Handoff::default());
        handoff.open();
        handoff.open();
        handoff.reserve(2).unwrap().push(leased(2)).unwrap();
        let late = handoff.reserve(1).unwrap();
        assert!(handoff.close().is_empty(), "another dispatcher still runs");
        let left = handoff.close();
        assert_eq!(left.len(), 2);
        let back = late.push(leased(1)).unwrap_err();
        assert_eq!(back.len(), 1);
        assert_eq!(handoff.held(), 0);
    }
}
