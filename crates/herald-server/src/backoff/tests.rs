//! Unit tests of the retry arithmetic: the exponential ceiling, the jitter range, the
//! `retry_after` floor and the three ways a delivery is given up.

use std::time::Duration;

use herald_core::SinkError;
use jiff::Timestamp;

use super::{Decision, RetryPolicy, decide, retry_delay};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn delay(attempt: u32, unit: f64) -> Duration {
    retry_delay(&RetryPolicy::default(), attempt, None, unit)
}

fn unavailable(retry_after: Option<Duration>) -> SinkError {
    SinkError::Unavailable {
        status: Some(503),
        retry_after,
        detail: "down".into(),
    }
}

fn t0() -> Timestamp {
    Timestamp::from_second(1_700_000_000).unwrap()
}

#[test]
fn the_ceiling_doubles_per_attempt() {
    let top = |attempt| delay(attempt, 1.0);
    assert_eq!(top(1), secs(1));
    assert_eq!(top(2), secs(2));
    assert_eq!(top(3), secs(4));
    assert_eq!(top(9), secs(256));
}

#[test]
fn the_ceiling_stops_at_the_cap() {
    assert_eq!(delay(10, 1.0), secs(300));
    assert_eq!(delay(40, 1.0), secs(300));
    assert_eq!(delay(u32::MAX, 1.0), secs(300));
}

#[test]
fn full_jitter_spans_zero_to_the_ceiling() {
    assert_eq!(delay(3, 0.0), Duration::ZERO);
    assert_eq!(delay(3, 0.5), secs(2));
    assert_eq!(delay(3, 0.25), secs(1));
}

#[test]
fn out_of_range_random_numbers_are_clamped() {
    assert_eq!(delay(3, -1.0), Duration::ZERO);
    assert_eq!(delay(3, 7.0), secs(4));
    assert_eq!(delay(3, f64::NAN), Duration::ZERO);
}

#[test]
fn retry_after_is_a_floor() {
    let policy = RetryPolicy::default();
    assert_eq!(retry_delay(&policy, 1, Some(secs(30)), 0.0), secs(30));
    assert_eq!(retry_delay(&policy, 1, Some(secs(30)), 1.0), secs(30));
    // a larger jittered delay wins over a small floor
    assert_eq!(retry_delay(&policy, 9, Some(secs(1)), 1.0), secs(256));
    // a floor above the cap is still honoured: the provider said so
    assert_eq!(retry_delay(&policy, 1, Some(secs(900)), 0.5), secs(900));
}

#[test]
fn a_retryable_error_is_retried_after_the_delay() {
    let policy = RetryPolicy::default();
    let now = t0() + secs(10);
    let decision = decide(&policy, 3, t0(), now, &unavailable(None), 0.5);
    assert_eq!(decision, Decision::Retry { at: now + secs(2) });
    let decision = decide(&policy, 1, t0(), now, &unavailable(Some(secs(60))), 0.5);
    assert_eq!(decision, Decision::Retry { at: now + secs(60) });
}

#[test]
fn a_rejection_is_dead_at_once() {
    let error = SinkError::Rejected {
        status: Some(404),
        detail: "channel_not_found".into(),
    };
    let decision = decide(&RetryPolicy::default(), 1, t0(), t0(), &error, 0.5);
    assert_eq!(
        decision,
        Decision::Dead {
            reason: "rejected (404): channel_not_found".into()
        }
    );
}

#[test]
fn the_last_attempt_is_dead() {
    let policy = RetryPolicy::default();
    let error = SinkError::Unreachable {
        detail: "connection refused".into(),
        source: None,
    };
    assert!(matches!(
        decide(&policy, 9, t0(), t0(), &error, 0.5),
        Decision::Retry { .. }
    ));
    assert_eq!(
        decide(&policy, 10, t0(), t0(), &error, 0.5),
        Decision::Dead {
            reason: "gave up after 10 attempts: connection refused".into()
        }
    );
}

#[test]
fn a_retry_past_max_age_is_dead() {
    let policy = RetryPolicy {
        max_age: secs(3600),
        ..RetryPolicy::default()
    };
    let now = t0() + secs(3590);
    assert!(matches!(
        decide(&policy, 2, t0(), now, &unavailable(Some(secs(10))), 0.0),
        Decision::Retry { .. }
    ));
    let Decision::Dead { reason } =
        decide(&policy, 2, t0(), now, &unavailable(Some(secs(11))), 0.0)
    else {
        panic!("expected dead");
    };
    assert!(reason.contains("max_age (3600s)"), "{reason}");
}

#[test]
fn a_sinks_retry_settings_replace_the_defaults_key_by_key() {
    let sink = herald_core::config::SinkRetry {
        max_attempts: Some(3),
        max_backoff_seconds: Some(30),
        ..Default::default()
    };
    let p = RetryPolicy::default().with(Some(&sink));
    assert_eq!(
        p,
        RetryPolicy {
            max_attempts: 3,
            cap: Duration::from_secs(30),
            ..RetryPolicy::default()
        }
    );
    assert_eq!(RetryPolicy::default().with(None), RetryPolicy::default());
}
