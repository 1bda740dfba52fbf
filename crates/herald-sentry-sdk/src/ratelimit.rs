//! The per-project rate limit (`rate_limit_per_minute`): a token bucket per project that
//! holds a minute's worth of events and refills continuously, so a burst up to the limit is
//! taken at once and a steady flood is held to the limit, without the double burst a fixed
//! one-minute window allows at its edge. A refused event gets the answer SDKs back off on:
//! `429` with `Retry-After` and `X-Sentry-Rate-Limits`. Time is a parameter, so the server
//! passes `Instant::now()` and tests pass what they like; the map holds one entry per
//! configured project that was asked about (the caller authenticates first).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::Project;

/// The buckets of a source's projects.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<u64, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// An event refused by the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimited {
    /// When the next event would be taken.
    pub retry_after: Duration,
}

impl RateLimited {
    /// `Retry-After` in whole seconds, rounded up and at least 1, since SDKs read whole
    /// seconds and 0 would mean "now".
    pub fn retry_after_seconds(&self) -> u64 {
        let secs = self.retry_after.as_secs() + u64::from(self.retry_after.subsec_nanos() > 0);
        secs.max(1)
    }

    /// `X-Sentry-Rate-Limits` as SDKs parse it (`seconds:categories:scope:reason`): errors
    /// and messages (`error;default`, the categories of event items) of this project.
    pub fn sentry_header(&self) -> String {
        format!(
            "{}:error;default:project:project_quota",
            self.retry_after_seconds()
        )
    }
}

impl RateLimiter {
    /// Takes one event of `project` at `now`, or says how long until one would be taken.
    /// A project without `rate_limit_per_minute` is never limited.
    pub fn check(&self, project: &Project, now: Instant) -> Result<(), RateLimited> {
        let Some(limit) = project.rate_limit_per_minute.filter(|n| *n > 0) else {
            return Ok(());
        };
        let capacity = f64::from(limit);
        let per_second = capacity / 60.0;
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let bucket = buckets.entry(project.id).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
        bucket.at = bucket.at.max(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(RateLimited {
                retry_after: Duration::from_secs_f64((1.0 - bucket.tokens) / per_second),
            })
        }
    }
}

#[cfg(test)]
mod tests;
