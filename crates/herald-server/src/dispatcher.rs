//! The delivery workers: lease due deliveries from the store, run one attempt per delivery
//! with a cap on attempts in flight per sink, and record each outcome (delivered, retry at a
//! jittered time, or dead). See the crate docs for the state machine and shutdown.
//!
//! Two things a sink states and the dispatcher keeps for it: its conversations (a sink that
//! [`Sink::threads`] gets the [`herald_core::Thread`] its earlier message of the issue
//! started, read from the store's thread table, and the reference its receipt returns is kept
//! there; no other sink's delivery touches that table) and its pace ([`Sink::pace`], see
//! `pace.rs`: attempts to one key spaced without holding a slot while they wait).
//!
//! Status writes are not batched here: every attempt writes its own outcome as soon as it
//! ends, and the store's group commit folds the writes of attempts that end together into one
//! transaction, which is where the batching pays.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use herald_core::untrusted::escaped;
use herald_core::{Notification, Sink, SinkError, Thread};
use herald_store::{AttemptRecord, LeasedDelivery, Store, StoreError, ThreadRecord};
use jiff::Timestamp;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::{Id, JoinSet};
use tracing::Instrument;

use crate::backoff::{Decision, RetryPolicy, decide};
use crate::errors::error_chain;
use crate::handoff::Handoff;
use crate::metrics::{self, Outcome};
use crate::{Clock, DeliveryPolicy};

mod pace;
use pace::{Pacer, Turn};

/// Longest sleep when nothing is due: a safety net for deliveries stored by another process
/// (the handler's wake-up covers this one).
const IDLE: Duration = Duration::from_secs(60);

/// How long to wait before leasing again when the store failed or when due work could not
/// be leased (every sink busy, or deliveries for a sink that is no longer configured).
const PAUSE: Duration = Duration::from_secs(1);

/// Runs deliveries. Cheap to clone; clones share the sinks' slots.
#[derive(Clone, Debug)]
pub struct Dispatcher {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    store: Arc<dyn Store>,
    lanes: BTreeMap<String, Lane>,
    policy: DeliveryPolicy,
    wake: Arc<Notify>,
    clock: Clock,
    /// Dedup, throttle, digests, quiet hours and silences (`noise.rs`); `None` sends every
    /// leased delivery as it is.
    noise: Option<Arc<crate::noise::NoiseStage>>,
    /// Deliveries the webhook handler leased at accept and passes on in memory; `None` for a
    /// dispatcher that only leases from the store.
    handoff: Option<Arc<Handoff>>,
    /// The running config, read at each failure for the sink's own `retry:` settings (so a
    /// reload that changes them applies to the next failure); `None`: `policy.retry` for all.
    live: Option<Arc<arc_swap::ArcSwap<crate::Live>>>,
    /// The next free turn of each (sink, pace key).
    pacer: Pacer,
}

impl Shared {
    /// The retry policy of `sink`: the dispatcher's, with the sink's `retry:` keys over it.
    fn retry_policy(&self, sink: &str) -> RetryPolicy {
        let base = self.policy.retry;
        let Some(live) = &self.live else { return base };
        let live = live.load();
        match live.config.sinks.iter().find(|s| s.name == sink) {
            Some(spec) => base.with(spec.retry.as_ref()),
            None => base,
        }
    }
}

/// One sink and its free attempt slots.
#[derive(Debug)]
struct Lane {
    sink: Arc<dyn Sink>,
    slots: Arc<Semaphore>,
}

/// The attempts running, by task, with the delivery each one holds.
#[derive(Debug, Default)]
struct Running {
    tasks: JoinSet<()>,
    ids: HashMap<Id, String>,
}

impl Running {
    fn spawn(&mut self, id: String, attempt: impl Future<Output = ()> + Send + 'static) {
        let handle = self.tasks.spawn(attempt);
        self.ids.insert(handle.id(), id);
    }

    /// Waits for one attempt to end; `None` when none is running.
    async fn next(&mut self) -> Option<()> {
        let ended = self.tasks.join_next_with_id().await?;
        self.forget(ended);
        Some(())
    }

    fn forget(&mut self, ended: Result<(Id, ()), tokio::task::JoinError>) {
        let id = match &ended {
            Ok((id, ())) => *id,
            Err(e) => {
                if e.is_panic() {
                    tracing::error!(
                        "a delivery attempt panicked; its lease will expire and it will be retried"
                    );
                }
                e.id()
            }
        };
        self.ids.remove(&id);
    }

    async fn all(&mut self) {
        while self.next().await.is_some() {}
    }

    /// Forgets every attempt that has ended, without waiting. A `JoinSet` keeps a finished
    /// task until it is joined, so without this a busy loop that rarely reaches its `select!`
    /// would hold every attempt it ever started (about 2 KB each) until shutdown.
    /// Forgets the attempts that ended; returns how many did.
    fn reap(&mut self) -> usize {
        let mut ended_now = 0;
        while let Some(ended) = self.tasks.try_join_next_with_id() {
            self.forget(ended);
            ended_now += 1;
        }
        ended_now
    }
}

impl Dispatcher {
    pub fn new(
        store: Arc<dyn Store>,
        sinks: &BTreeMap<String, Arc<dyn Sink>>,
        policy: DeliveryPolicy,
        wake: Arc<Notify>,
        clock: Clock,
    ) -> Dispatcher {
        let slots = policy.per_sink_concurrency.max(1);
        let lanes = sinks
            .iter()
            .map(|(name, sink)| {
                let lane = Lane {
                    sink: sink.clone(),
                    slots: Arc::new(Semaphore::new(slots)),
                };
                (name.clone(), lane)
            })
            .collect();
        Dispatcher {
            shared: Arc::new(Shared {
                store,
                lanes,
                policy,
                wake,
                clock,
                noise: None,
                handoff: None,
                live: None,
                pacer: Pacer::default(),
            }),
        }
    }

    /// Runs leased deliveries through the noise stage before their attempts.
    pub fn with_noise(mut self, noise: Arc<crate::noise::NoiseStage>) -> Dispatcher {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.noise = Some(noise);
        }
        self
    }

    /// Reads each sink's own `retry:` settings from the running config.
    pub(crate) fn with_live(mut self, live: Arc<arc_swap::ArcSwap<crate::Live>>) -> Dispatcher {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.live = Some(live);
        }
        self
    }

    /// Also takes the deliveries the handler leased at accept (while [`Dispatcher::run`] runs).
    pub(crate) fn with_handoff(mut self, handoff: Arc<Handoff>) -> Dispatcher {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.handoff = Some(handoff);
        }
        self
    }

    /// Leases what is due at `now`, runs every attempt to its end and records the outcomes.
    /// Returns how many attempts were made. Tests drive time through `now` with this.
    pub async fn run_once(&self, now: Timestamp) -> Result<usize, StoreError> {
        let mut running = Running::default();
        let started = self.start_due(now, &mut running).await;
        running.all().await;
        started
    }

    /// Delivers until `stop` resolves, then lets running attempts finish within the shutdown
    /// grace, cancels the rest and gives their leases back.
    ///
    /// Two sources of work: deliveries the handler leased at accept and handed over in memory
    /// (started without a store call), and the store, which is asked only when it may hold due
    /// work: at start, when woken (a delivery stored pending, an operator's retry, a retry or
    /// hold scheduled here), while its leases keep finding work, and at its next due time.
    pub async fn run(self, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        let mut running = Running::default();
        let mut handed = VecDeque::new();
        let handoff = self.shared.handoff.clone();
        if let Some(handoff) = &handoff {
            handoff.open();
        }
        let mut ask_store = true;
        let mut next_look: Option<tokio::time::Instant> = None;
        // The last look found due work that no free slot could take (see `PAUSE`).
        let mut starved = false;
        let mut renewals = self.renewals();
        loop {
            if running.reap() > 0 && std::mem::take(&mut starved) {
                ask_store = true;
            }
            if let Some(handoff) = &handoff {
                handed.extend(handoff.take());
                let foreign = self.start_handed(handoff, &mut handed, &mut running);
                if !foreign.is_empty() {
                    self.release(
                        &foreign,
                        "handed-over deliveries for a sink this dispatcher does not run",
                    )
                    .await;
                }
            }
            let due = next_look.is_some_and(|at| at <= tokio::time::Instant::now());
            let mut more = false;
            // With every slot taken a lease finds nothing to do: wait for an attempt to end.
            if (ask_store || due) && self.has_free_slots() {
                let now = self.shared.clock.now();
                next_look = None;
                match self.start_due(now, &mut running).await {
                    // More may be due right away: a full batch, or slots still free.
                    Ok(started) if started > 0 => {
                        more = true;
                        ask_store = true;
                    }
                    Ok(_) => {
                        ask_store = false;
                        let wait = self.until_next_due(now).await;
                        // Work is due but its sinks' slots are all taken: look again as
                        // soon as an attempt ends, not a whole pause later.
                        starved = wait == PAUSE;
                        next_look = Some(tokio::time::Instant::now() + wait);
                    }
                    Err(e) => {
                        tracing::error!(error = %error_chain(&e), "cannot lease deliveries; trying again shortly");
                        ask_store = false;
                        next_look = Some(tokio::time::Instant::now() + PAUSE);
                    }
                }
            }
            if more {
                // Yield so a flood of work cannot starve the attempts' own tasks.
                tokio::task::yield_now().await;
                if self.has_free_slots() {
                    continue;
                }
            }
            let handed_off = async {
                match &handoff {
                    Some(handoff) => handoff.ready().await,
                    None => std::future::pending().await,
                }
            };
            let sleep = async {
                match next_look {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = &mut stop => break,
                () = self.shared.wake.notified() => ask_store = true,
                () = handed_off => {}
                Some(()) = running.next(), if !running.tasks.is_empty() => {
                    if std::mem::take(&mut starved) {
                        ask_store = true;
                    }
                }
                () = sleep => {}
                () = tick(&mut renewals) => self.renew(&running, &handed),
            }
        }
        if let Some(handoff) = &handoff {
            let taken = handed.len();
            handed.extend(handoff.close());
            handoff.done(taken);
        }
        self.drain(running, handed).await;
    }

    /// Starts the handed-over deliveries whose sinks have a free slot, oldest first; the rest
    /// wait in `handed` for a slot. Returns the ids of those for a sink this dispatcher does
    /// not run (a reload added it and a new dispatcher is starting), to give back to the store.
    fn start_handed(
        &self,
        handoff: &Handoff,
        handed: &mut VecDeque<LeasedDelivery>,
        running: &mut Running,
    ) -> Vec<String> {
        let mut waiting = VecDeque::new();
        let mut foreign = Vec::new();
        let mut started = 0;
        for delivery in handed.drain(..) {
            let Some(lane) = self.shared.lanes.get(&delivery.delivery.sink) else {
                started += 1;
                foreign.push(delivery.delivery.id);
                continue;
            };
            match lane.slots.clone().try_acquire_owned() {
                Ok(permit) => {
                    self.spawn_attempt(lane, delivery, permit, running);
                    started += 1;
                }
                Err(_) => waiting.push_back(delivery),
            }
        }
        *handed = waiting;
        if started > 0 {
            handoff.done(started);
        }
        foreign
    }

    /// How long to sleep before the next lease: until the store's next due time, at most
    /// [`IDLE`]; at least [`PAUSE`] when something is due but nothing could be leased.
    ///
    /// On a store shared with other instances, at most half a lease: work leased there after
    /// this look (and so not in its due time) becomes this instance's to take as soon as its
    /// holder dies and the lease runs out, and no one signals that. Looking twice a lease
    /// keeps a takeover within one and a half leases of the death.
    async fn until_next_due(&self, now: Timestamp) -> Duration {
        let idle = match self.shared.store.lease_renewal() {
            Some(lease) => (lease / 2).clamp(PAUSE.min(lease), IDLE),
            None => IDLE,
        };
        match self.shared.store.next_due_at().await {
            Ok(Some(at)) => {
                let ms = at.as_millisecond().saturating_sub(now.as_millisecond());
                if ms <= 0 {
                    PAUSE
                } else {
                    Duration::from_millis(ms.unsigned_abs()).min(idle)
                }
            }
            Ok(None) => idle,
            Err(e) => {
                tracing::error!(error = %error_chain(&e), "cannot read the next due time");
                PAUSE
            }
        }
    }

    fn has_free_slots(&self) -> bool {
        self.shared
            .lanes
            .values()
            .any(|lane| lane.slots.available_permits() > 0)
    }

    /// Leases, for every sink with free slots, up to that many due deliveries, all sinks in
    /// one store call (one statement for the SQLite store, however many sinks there are),
    /// and starts their attempts.
    async fn start_due(&self, now: Timestamp, running: &mut Running) -> Result<usize, StoreError> {
        let batch = self.shared.policy.batch.max(1);
        let limits: Vec<(String, usize)> = self
            .shared
            .lanes
            .iter()
            .map(|(name, lane)| (name.clone(), lane.slots.available_permits().min(batch)))
            .filter(|(_, free)| *free > 0)
            .collect();
        if limits.is_empty() {
            return Ok(0);
        }
        let leased = self
            .shared
            .store
            .lease_due_limited(now, batch, &limits, self.shared.policy.lease)
            .await?;
        let mut started = 0;
        for delivery in leased {
            let Some(lane) = self.shared.lanes.get(&delivery.delivery.sink) else {
                continue;
            };
            // Only this loop takes slots and it leased no more than were free, so this
            // resolves at once.
            let Ok(permit) = lane.slots.clone().acquire_owned().await else {
                continue;
            };
            self.spawn_attempt(lane, delivery, permit, running);
            started += 1;
        }
        Ok(started)
    }

    fn spawn_attempt(
        &self,
        lane: &Lane,
        delivery: LeasedDelivery,
        permit: OwnedSemaphorePermit,
        running: &mut Running,
    ) {
        let id = delivery.delivery.id.clone();
        let slot = Slot {
            permit,
            slots: lane.slots.clone(),
        };
        let attempt = attempt(self.shared.clone(), lane.sink.clone(), delivery, slot);
        running.spawn(id, attempt);
    }

    /// A tick every [`herald_store::postgres::heartbeat_every`] of the store's lease when the
    /// store wants its leases renewed while their attempts run ([`Store::lease_renewal`]).
    fn renewals(&self) -> Option<tokio::time::Interval> {
        self.shared.store.lease_renewal()?;
        let every = herald_store::postgres::heartbeat_every(self.shared.policy.lease);
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Some(ticks)
    }

    /// Renews, on a task of its own so the loop goes on, the leases of the running attempts
    /// and of the handed-over deliveries waiting for a slot: while this instance lives, no
    /// other takes them over, however slow the sink. An attempt that ended (or panicked) is
    /// no longer among them, so its lease, if its outcome was never written, runs out.
    fn renew(&self, running: &Running, handed: &VecDeque<LeasedDelivery>) {
        let ids: Vec<String> = running
            .ids
            .values()
            .cloned()
            .chain(handed.iter().map(|l| l.delivery.id.clone()))
            .collect();
        if ids.is_empty() {
            return;
        }
        let (store, lease, now) = (
            self.shared.store.clone(),
            self.shared.policy.lease,
            self.shared.clock.now(),
        );
        tokio::spawn(async move {
            match store.renew_leases(&ids, now, lease).await {
                // Fewer than asked: the rest ended meanwhile, or were taken over while this
                // instance could not reach the store for a whole lease.
                Ok(_) => {}
                Err(e) => tracing::warn!(
                    error = %error_chain(&e),
                    count = ids.len(),
                    "cannot renew the leases of running deliveries; another instance may take them over when they run out"
                ),
            }
        });
    }

    /// Shutdown: handed-over deliveries not started go back to pending at once; running
    /// attempts get the grace period, then the rest are cancelled and released back too.
    async fn drain(&self, mut running: Running, handed: VecDeque<LeasedDelivery>) {
        if !handed.is_empty() {
            let ids: Vec<String> = handed.into_iter().map(|l| l.delivery.id).collect();
            self.release(&ids, "handed-over deliveries not started before the stop")
                .await;
        }
        let grace = self.shared.policy.shutdown_grace;
        if !running.tasks.is_empty() {
            tracing::info!(
                running = running.tasks.len(),
                grace_seconds = grace.as_secs(),
                "stopping: waiting for running deliveries"
            );
        }
        // The leases of the attempts still running are renewed through the grace too.
        let mut renewals = self.renewals();
        let deadline = tokio::time::sleep(grace);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                ended = running.next() => if ended.is_none() { return },
                () = tick(&mut renewals) => self.renew(&running, &VecDeque::new()),
                () = &mut deadline => break,
            }
        }
        let ids: Vec<String> = running.ids.values().cloned().collect();
        running.tasks.abort_all();
        running.all().await;
        self.release(&ids, "deliveries still running after the shutdown grace")
            .await;
    }

    /// Gives leased deliveries that were not (or not fully) attempted back to `pending`, with
    /// their attempt, and wakes whichever dispatcher runs next (a reload may have started one).
    async fn release(&self, ids: &[String], what: &str) {
        let now = self.shared.clock.now();
        match self.shared.store.release_in_flight(ids, now).await {
            Ok(released) => {
                tracing::warn!(
                    count = ids.len(),
                    released,
                    "{what} went back to the queue, to be sent by the next dispatcher with the same delivery ids"
                );
                self.shared.wake.notify_one();
            }
            Err(e) => tracing::error!(
                error = %error_chain(&e),
                count = ids.len(),
                "cannot give back {what}; they will be taken again when their lease ends"
            ),
        }
    }
}

/// The next tick of `ticks`, or never without one.
async fn tick(ticks: &mut Option<tokio::time::Interval>) {
    match ticks {
        Some(ticks) => {
            ticks.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// An attempt's place in its sink's lane: the permit it holds, and the lane's semaphore to
/// take one again after waiting for its pace without one.
struct Slot {
    permit: OwnedSemaphorePermit,
    slots: Arc<Semaphore>,
}

/// One attempt of one delivery, and the record of its outcome. Holding the slot's permit
/// keeps the sink's slot taken until the outcome is written (but not while the attempt waits
/// for its pace).
async fn attempt(shared: Arc<Shared>, sink: Arc<dyn Sink>, leased: LeasedDelivery, slot: Slot) {
    let mut notification = match &shared.noise {
        None => leased.notification(),
        Some(noise) => match noise_gate(&shared, noise, &leased).await {
            Some(notification) => notification,
            None => {
                // Held for later, folded into a lead that now waits, or put back after an
                // error: the store has work with a due time the dispatcher must look up.
                shared.wake.notify_one();
                return;
            }
        },
    };
    if sink.threads() {
        attach_thread(&shared, &mut notification).await;
    }
    let Some(_permit) = wait_for_pace(&shared, sink.as_ref(), &leased, &notification, slot).await
    else {
        return;
    };
    let alert = &leased.alert;
    let span = tracing::info_span!(
        "delivery",
        source = %alert.source,
        project = alert.project.as_deref().unwrap_or(""),
        level = alert.level.map(|l| l.as_str()).unwrap_or(""),
        route = %notification.route,
        sink = %notification.sink,
        attempt = notification.attempt,
        delivery_id = %notification.idempotency_key,
    );
    record(&shared, sink.as_ref(), &leased, &notification)
        .instrument(span)
        .await;
}

/// The conversation the sink keeps for the notification's issue, when it kept one. A store
/// failure only costs the thread: the sink starts a new one.
async fn attach_thread(shared: &Shared, notification: &mut Notification) {
    let Some(issue) = notification.first().issue_id.clone() else {
        return;
    };
    match shared.store.thread(&notification.sink, &issue).await {
        Ok(Some(t)) => {
            notification.thread = Some(Thread {
                reference: t.reference,
                destination: t.destination,
            });
        }
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(error = %error_chain(&e), "cannot read the issue's thread; the sink starts a new one")
        }
    }
}

/// After a sink started a conversation for an issue: keep its reference and the destination
/// it went to, for the issue's later notifications. The store keeps an earlier one started in
/// the same destination and replaces one started elsewhere.
async fn keep_thread(
    shared: &Shared,
    notification: &Notification,
    receipt: &herald_core::Receipt,
    now: Timestamp,
) {
    let (Some(issue), Some(reference)) = (
        notification.first().issue_id.as_deref(),
        receipt.thread.as_deref(),
    ) else {
        return;
    };
    let thread = ThreadRecord {
        reference: reference.to_owned(),
        destination: receipt.destination.clone().unwrap_or_default(),
    };
    if let Err(e) = shared
        .store
        .save_thread(&notification.sink, issue, &thread, now)
        .await
    {
        tracing::warn!(error = %error_chain(&e), "cannot keep the issue's thread; its next notification starts a new one");
    }
}

/// Waits for the notification's turn at its sink's pace, without the sink's slot while it
/// waits, and returns the slot's permit to attempt with. `None` when the turn is too far away:
/// the delivery is then back in the queue, due at its turn (no sink was called: no attempt is
/// recorded).
async fn wait_for_pace(
    shared: &Shared,
    sink: &dyn Sink,
    leased: &LeasedDelivery,
    notification: &Notification,
    slot: Slot,
) -> Option<OwnedSemaphorePermit> {
    let Some(pace) = sink.pace(notification) else {
        return Some(slot.permit);
    };
    let delivery = &leased.delivery;
    match shared
        .pacer
        .reserve(&delivery.sink, &pace, tokio::time::Instant::now())
    {
        Turn::After(wait) if wait.is_zero() => Some(slot.permit),
        Turn::After(wait) => {
            // Another key or another delivery of this sink can use the slot meanwhile; the
            // wake-up makes the run loop look for such work now.
            drop(slot.permit);
            shared.wake.notify_one();
            tokio::time::sleep(wait).await;
            slot.slots.acquire_owned().await.ok()
        }
        Turn::Later(wait) => {
            drop(slot.permit);
            let now = shared.clock.now();
            let at = now.checked_add(wait).unwrap_or(now);
            let note = format!(
                "waiting for the sink's pace: one message every {}s to \"{}\"",
                pace.every.as_secs_f64(),
                escaped(&pace.key).max_chars(100)
            );
            tracing::info!(retry_at = %at, outcome = %"paced", "delivery waits for the sink's pace");
            if let Err(e) = shared
                .store
                .mark_retry(&delivery.id, at, &note, now, None)
                .await
            {
                tracing::error!(error = %error_chain(&e), "cannot put the delivery back; its lease will expire");
            }
            shared.wake.notify_one();
            None
        }
    }
}

/// The notification to send after the noise stage, or `None` when it held the delivery back
/// (or could not decide: the delivery is then retried shortly).
async fn noise_gate(
    shared: &Shared,
    noise: &crate::noise::NoiseStage,
    leased: &LeasedDelivery,
) -> Option<Notification> {
    // Decided as of the lease, which is what made the delivery due: tests drive time through
    // `run_once(now)`, and in service the lease happened a moment ago.
    let now = leased.delivery.updated_at;
    let id = &leased.delivery.id;
    let span = tracing::info_span!("noise", route = %leased.delivery.route, sink = %leased.delivery.sink, delivery_id = %id);
    match noise.gate(leased, now).instrument(span).await {
        Ok(notification) => notification,
        Err(e) => {
            tracing::error!(delivery_id = %id, error = %error_chain(&e), "cannot decide on noise control; trying again shortly");
            let at = now.checked_add(PAUSE).unwrap_or(now);
            let note = format!("noise stage: {e}");
            // No sink was called: no attempt to record.
            if let Err(e) = shared.store.mark_retry(id, at, &note, now, None).await {
                tracing::error!(error = %error_chain(&e), "cannot put the delivery back; its lease will expire");
            }
            None
        }
    }
}

async fn record(
    shared: &Shared,
    sink: &dyn Sink,
    leased: &LeasedDelivery,
    notification: &Notification,
) {
    let delivery = &leased.delivery;
    let timeout = shared.policy.attempt_timeout;
    let started_at = shared.clock.now();
    let started = std::time::Instant::now();
    let outcome = match tokio::time::timeout(timeout, sink.deliver(notification)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(SinkError::Unreachable {
            detail: format!("no answer within {}s", timeout.as_secs()),
            source: None,
        }),
    };
    let now = shared.clock.now();
    // Stored with the outcome, in the same write: the delivery's attempt log.
    let attempt = AttemptRecord {
        started_at,
        latency: started.elapsed(),
        status: match &outcome {
            Ok(receipt) => receipt.status,
            Err(error) => error.status(),
        },
    };
    let store = &shared.store;
    let recorded = match outcome {
        Ok(receipt) => {
            tracing::info!(status = receipt.status, outcome = %"delivered", "delivered");
            metrics::delivery(&delivery.sink, Outcome::Delivered, started.elapsed());
            keep_thread(shared, notification, &receipt, now).await;
            store
                .mark_delivered(&delivery.id, &receipt, now, Some(&attempt))
                .await
        }
        Err(error) => {
            let decision = decide(
                &shared.retry_policy(&delivery.sink),
                notification.attempt,
                delivery.created_at,
                now,
                &error,
                fastrand::f64(),
            );
            match decision {
                Decision::Retry { at } => {
                    tracing::warn!(error = %escaped(&error.to_string()).max_chars(1024), retry_at = %at, outcome = %"retried", "delivery failed, will retry");
                    metrics::delivery(&delivery.sink, Outcome::Retried, started.elapsed());
                    let marked = store
                        .mark_retry(&delivery.id, at, &error.to_string(), now, Some(&attempt))
                        .await;
                    // The dispatcher asks the store only when told: this sets its next look.
                    shared.wake.notify_one();
                    marked
                }
                Decision::Dead { reason } => {
                    tracing::error!(reason = %escaped(&reason).max_chars(1024), outcome = %"dead", "delivery given up: dead");
                    metrics::delivery(&delivery.sink, Outcome::Dead, started.elapsed());
                    store
                        .mark_dead(&delivery.id, &reason, now, Some(&attempt))
                        .await
                }
            }
        }
    };
    if let Err(e) = recorded {
        tracing::error!(
            error = %error_chain(&e),
            "cannot record the delivery outcome; it will be attempted again when its lease expires"
        );
    }
}

#[cfg(test)]
mod tests;
