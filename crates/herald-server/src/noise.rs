//! The dispatcher's noise stage: before an attempt, a leased delivery whose route has noise
//! settings, whose sink has a flood guard, or that an active silence may cover goes through
//! [`herald_core::flood::decide_guarded`] (the route's [`fn@herald_core::noise::decide`] under
//! the sink's guard) inside the store's gate transaction. What comes back is either the notification to send,
//! a digest with its members and a count of what was folded in, or nothing, because the
//! delivery now waits (digest lead, throttle carrier) or was recorded as held back.
//!
//! A route without noise settings to a sink without a guard, while no silence exists, costs
//! two map lookups: the policy map is rebuilt only when the running config changes, and silences are cached here (loaded
//! from the store once, then kept in step by the silences API). On a store shared by several
//! instances the silences are read again before each delivery, since another instance's
//! silences API may have changed them.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::{ArcSwap, ArcSwapOption};
use herald_core::config::Config;
use herald_core::flood::{Guard, decide_guarded};
use herald_core::noise::{Gate, GateKeys, GateState, NoisePolicy, Silence, Verdict};
use herald_core::{Alert, Notification};
use herald_store::{GateRequest, LeasedDelivery, SilenceRecord, Store, StoreError};
use jiff::Timestamp;

use crate::Live;

/// The route policies and sinks' flood guards of one config.
#[derive(Debug)]
struct Policies {
    config: Arc<Config>,
    by_route: HashMap<String, Arc<NoisePolicy>>,
    /// Each sink's own guard: its `flood_guard:`, else its kind's default (`max` 0: off).
    guards: HashMap<String, Option<Guard>>,
}

/// Route policies and silences, shared by the dispatcher and the silences API.
#[derive(Debug)]
pub struct NoiseStage {
    store: Arc<dyn Store>,
    live: Arc<ArcSwap<Live>>,
    /// The policies of the config they were built from; rebuilt when a reload swaps it.
    /// Lock-free reads: every delivery looks here.
    policies: ArcSwapOption<Policies>,
    silences: ArcSwap<Vec<Silence>>,
    silences_loaded: AtomicBool,
}

impl NoiseStage {
    pub(crate) fn new(store: Arc<dyn Store>, live: Arc<ArcSwap<Live>>) -> NoiseStage {
        NoiseStage {
            store,
            live,
            policies: ArcSwapOption::empty(),
            silences: ArcSwap::default(),
            silences_loaded: AtomicBool::new(false),
        }
    }

    /// A delivery's route policy and flood guard under the running config, from one look at
    /// the cached policies (`None`: no noise settings, no guard; see
    /// `herald_core::flood::effective`).
    pub fn settings(&self, route: &str, sink: &str) -> (Option<Arc<NoisePolicy>>, Option<Guard>) {
        let policies = self.policies();
        let policy = policies.by_route.get(route).cloned();
        let own = policies.guards.get(sink).copied().flatten();
        let guard =
            herald_core::flood::effective(policy.as_ref().and_then(|p| p.flood_guard), own, None);
        (policy, guard)
    }

    fn policies(&self) -> Arc<Policies> {
        let live = self.live.load();
        if let Some(p) = self
            .policies
            .load_full()
            .filter(|p| Arc::ptr_eq(&p.config, &live.config))
        {
            return p;
        }
        let by_route: HashMap<_, _> = live
            .config
            .routes
            .walk()
            .into_iter()
            .filter_map(|(_, r)| r.noise.clone().map(|p| (r.name.clone(), p)))
            .collect();
        let guards = live
            .config
            .sinks
            .iter()
            .map(|spec| {
                let default = live
                    .sinks
                    .get(&spec.name)
                    .and_then(|s| s.flood_guard_default());
                (spec.name.clone(), spec.flood_guard.or(default))
            })
            .collect();
        let built = Arc::new(Policies {
            config: live.config.clone(),
            by_route,
            guards,
        });
        self.policies.store(Some(built.clone()));
        built
    }

    /// Replaces the cached silences with `records` (the ones not yet ended).
    pub fn set_silences(&self, records: &[SilenceRecord]) {
        let silences: Vec<Silence> = records
            .iter()
            .filter_map(|r| match herald_core::noise::parse_matchers(&r.matchers) {
                Ok(matchers) => Some(Silence {
                    id: r.id.clone(),
                    matchers,
                    starts_at: r.starts_at,
                    ends_at: r.ends_at,
                }),
                Err(e) => {
                    tracing::error!(silence = %r.id, error = %e, "a stored silence has matchers herald cannot read; it is not applied");
                    None
                }
            })
            .collect();
        self.silences.store(Arc::new(silences));
        self.silences_loaded.store(true, Ordering::Release);
    }

    /// Reads the silences still to end at `now` from the store into the cache.
    pub async fn reload_silences(&self, now: Timestamp) -> Result<(), StoreError> {
        let records = self.store.silences(false, now).await?;
        self.set_silences(&records);
        Ok(())
    }

    /// The cached silences (some may have ended: `Silence::silences` checks the time).
    pub fn silences(&self) -> Arc<Vec<Silence>> {
        self.silences.load_full()
    }

    /// The notification to send for a leased delivery, or `None` when the noise stage held it
    /// back (it is then recorded in the store: pending until later, or in `held_back`).
    pub async fn gate(
        &self,
        leased: &LeasedDelivery,
        now: Timestamp,
    ) -> Result<Option<Notification>, StoreError> {
        // On a store other instances write to, a silence created through another one must
        // hold back the next matching alert here at once: the cache is read again each time.
        if !self.silences_loaded.load(Ordering::Acquire) || self.store.shared() {
            self.reload_silences(now).await?;
        }
        let delivery = &leased.delivery;
        let (policy, guard) = self.settings(&delivery.route, &delivery.sink);
        if policy.is_none() && guard.is_none() && self.silences.load().is_empty() {
            return Ok(Some(leased.notification()));
        }
        let silences = self.silences();
        let request = GateRequest {
            delivery_id: delivery.id.clone(),
            route: delivery.route.clone(),
            sink: delivery.sink.clone(),
            keys: GateKeys::of(policy.as_deref(), &leased.alert),
            now,
            flood: guard.is_some(),
        };
        let decide_one = |state: &GateState| {
            decide_guarded(
                &Gate {
                    delivery: &delivery.id,
                    alert: &leased.alert,
                    now,
                    policy: policy.as_deref(),
                    silences: &silences,
                },
                state,
                guard,
            )
        };
        let result = self.store.noise_gate(&request, &decide_one).await?;
        match result.verdict {
            Verdict::Send { folded } => {
                let mut notification = leased.notification();
                fold_members(&mut notification, folded, &result.members);
                Ok(Some(notification))
            }
            Verdict::Hold { until, reason } => {
                crate::metrics::held_back(&delivery.sink, "held");
                tracing::info!(outcome = "held", until = %until, reason = %reason, "delivery held");
                Ok(None)
            }
            Verdict::Join {
                lead,
                outcome,
                reason,
            } => {
                crate::metrics::held_back(&delivery.sink, outcome.as_str());
                tracing::info!(outcome = outcome.as_str(), folded_into = %lead, reason = %reason, "delivery folded into another");
                Ok(None)
            }
            Verdict::Suppress { outcome, reason } => {
                crate::metrics::held_back(&delivery.sink, outcome.as_str());
                tracing::info!(outcome = outcome.as_str(), reason = %reason, "delivery held back");
                Ok(None)
            }
        }
    }
}

/// Adds a digest's members to the message: one line per distinct issue, and a count of the
/// rest (repeats of a listed issue, throttled alerts) as `folded`. A flood guard's summary
/// lists its members like a digest: each folded issue is named once.
pub(crate) fn fold_members(
    notification: &mut Notification,
    folded: u64,
    members: &[herald_store::Member],
) {
    let mut extra = folded;
    let key = |a: &Alert| a.issue_id.clone().unwrap_or_else(|| a.title.clone());
    let mut seen: Vec<String> = notification.alerts.iter().map(|a| key(a)).collect();
    for member in members {
        if member.outcome != "digest" && member.outcome != "flooded" {
            extra += 1;
            continue;
        }
        let k = key(&member.alert);
        if seen.contains(&k) {
            extra += 1;
        } else {
            seen.push(k);
            notification.alerts.push(member.alert.clone());
        }
    }
    notification.folded += extra;
}

#[cfg(test)]
mod tests;
