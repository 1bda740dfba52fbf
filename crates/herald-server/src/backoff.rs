//! When to try a failed delivery again, and when to give up: pure functions of the attempt
//! count, the delivery's age and what the sink said, so they are tested without any clock.
//! The delay is exponential with full jitter (a uniform pick between zero and the exponential
//! ceiling), which spreads the retries of a burst that failed together instead of sending
//! them back to a recovering provider all at the same moment.

use std::time::Duration;

use herald_core::SinkError;
use jiff::Timestamp;

/// How deliveries are retried: the defaults below, which a sink's `retry:` keys override one
/// by one ([`RetryPolicy::with`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The ceiling of the first retry's delay; it doubles with every further attempt.
    pub base: Duration,
    /// The largest ceiling, whatever the attempt.
    pub cap: Duration,
    /// Attempts (the first included) after which a delivery is given up.
    pub max_attempts: u32,
    /// How long after it was accepted a delivery may still be retried.
    pub max_age: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(5 * 60),
            max_attempts: 10,
            max_age: Duration::from_secs(24 * 60 * 60),
        }
    }
}

impl RetryPolicy {
    /// This policy with a sink's `retry:` settings over it, key by key.
    pub fn with(self, sink: Option<&herald_core::config::SinkRetry>) -> RetryPolicy {
        let Some(r) = sink else { return self };
        RetryPolicy {
            base: r.min_backoff_seconds.map_or(self.base, Duration::from_secs),
            cap: r.max_backoff_seconds.map_or(self.cap, Duration::from_secs),
            max_attempts: r.max_attempts.unwrap_or(self.max_attempts),
            max_age: r.max_age_seconds.map_or(self.max_age, Duration::from_secs),
        }
    }
}

/// What to do with a delivery whose attempt failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Try again, not before this time.
    Retry { at: Timestamp },
    /// Give up; the text is kept as the delivery's last error.
    Dead { reason: String },
}

/// The wait before the retry that follows attempt number `attempt` (1 for the first): a uniform
/// pick (`unit` in `[0, 1)`, the caller's random number) between zero and
/// `min(cap, base * 2^(attempt - 1))`, but never less than the provider's `retry_after`.
pub fn retry_delay(
    policy: &RetryPolicy,
    attempt: u32,
    retry_after: Option<Duration>,
    unit: f64,
) -> Duration {
    let exponent = attempt.saturating_sub(1).min(63);
    let ceiling = policy
        .base
        .checked_mul(1u32.checked_shl(exponent).unwrap_or(u32::MAX))
        .unwrap_or(policy.cap)
        .min(policy.cap);
    // A NaN would make `mul_f64` panic; a bad random number must not take a worker down.
    let unit = if unit.is_nan() {
        0.0
    } else {
        unit.clamp(0.0, 1.0)
    };
    let jittered = ceiling.mul_f64(unit);
    jittered.max(retry_after.unwrap_or_default())
}

/// Decides the fate of a delivery after attempt `attempt` failed with `error` at `now`. A
/// rejection is final at once; a retryable failure is retried until `max_attempts` attempts
/// were made or the next try would fall after `created_at + max_age`.
pub fn decide(
    policy: &RetryPolicy,
    attempt: u32,
    created_at: Timestamp,
    now: Timestamp,
    error: &SinkError,
    unit: f64,
) -> Decision {
    if !error.is_retryable() {
        // The error already reads "rejected (404): ..."; saying it twice hid the cause.
        return Decision::Dead {
            reason: error.to_string(),
        };
    }
    if attempt >= policy.max_attempts {
        return Decision::Dead {
            reason: format!("gave up after {attempt} attempts: {error}"),
        };
    }
    let delay = retry_delay(policy, attempt, error.retry_after(), unit);
    let deadline = created_at
        .checked_add(policy.max_age)
        .unwrap_or(Timestamp::MAX);
    match now.checked_add(delay) {
        Ok(at) if at <= deadline => Decision::Retry { at },
        _ => Decision::Dead {
            reason: format!(
                "gave up after {attempt} attempts, the next one would come after max_age ({}s): {error}",
                policy.max_age.as_secs()
            ),
        },
    }
}

#[cfg(test)]
mod tests;
