//! Tests for the rate limit: a burst up to the limit, the refill rate, projects apart, no
//! limit when unset, and the headers SDKs read.

use std::time::{Duration, Instant};

use herald_core::Secret;
use herald_core::config::Location;

use super::*;

fn project(id: u64, limit: Option<u32>) -> Project {
    Project {
        slug: format!("p{id}"),
        id,
        public_key: Secret::new("k"),
        rate_limit_per_minute: limit,
        id_at: Location::file("h.yaml"),
    }
}

/// How many of `n` events at `now` are taken.
fn taken(limiter: &RateLimiter, p: &Project, n: usize, now: Instant) -> usize {
    (0..n).filter(|_| limiter.check(p, now).is_ok()).count()
}

#[test]
fn a_burst_up_to_the_limit_is_taken_then_the_rate_refills() {
    let limiter = RateLimiter::default();
    let p = project(1, Some(60));
    let start = Instant::now();
    assert_eq!(taken(&limiter, &p, 100, start), 60);
    let refused = limiter.check(&p, start).unwrap_err();
    assert_eq!(refused.retry_after, Duration::from_secs(1));
    // 60 a minute is one a second: ten seconds later, ten more.
    assert_eq!(
        taken(&limiter, &p, 100, start + Duration::from_secs(10)),
        10
    );
    // A long pause refills to the limit, not beyond.
    assert_eq!(
        taken(&limiter, &p, 100, start + Duration::from_secs(1000)),
        60
    );
}

#[test]
fn projects_have_their_own_buckets_and_unset_means_unlimited() {
    let limiter = RateLimiter::default();
    let now = Instant::now();
    assert_eq!(taken(&limiter, &project(1, Some(2)), 5, now), 2);
    assert_eq!(taken(&limiter, &project(2, Some(3)), 5, now), 3);
    assert_eq!(taken(&limiter, &project(3, None), 10_000, now), 10_000);
}

#[test]
fn the_answer_sdks_back_off_on() {
    let limited = RateLimited {
        retry_after: Duration::from_millis(2_300),
    };
    assert_eq!(limited.retry_after_seconds(), 3);
    assert_eq!(
        limited.sentry_header(),
        "3:error;default:project:project_quota"
    );
    let soon = RateLimited {
        retry_after: Duration::from_millis(10),
    };
    assert_eq!(soon.retry_after_seconds(), 1);
}
