//! The per-key pace, with explicit instants.

use std::time::Duration;

use herald_core::Pace;
use tokio::time::Instant;

use super::{MAX_WAIT, Pacer, Turn};

const EVERY: Duration = Duration::from_secs(1);

fn pace(key: &str) -> Pace {
    Pace {
        key: key.into(),
        every: EVERY,
    }
}

#[test]
fn turns_of_one_key_are_its_pace_apart_and_keys_and_sinks_are_independent() {
    let pacer = Pacer::default();
    let t0 = Instant::now();
    assert_eq!(
        pacer.reserve("s", &pace("#a"), t0),
        Turn::After(Duration::ZERO)
    );
    assert_eq!(pacer.reserve("s", &pace("#a"), t0), Turn::After(EVERY));
    assert_eq!(pacer.reserve("s", &pace("#a"), t0), Turn::After(EVERY * 2));
    assert_eq!(
        pacer.reserve("s", &pace("#b"), t0),
        Turn::After(Duration::ZERO)
    );
    assert_eq!(
        pacer.reserve("t", &pace("#a"), t0),
        Turn::After(Duration::ZERO)
    );
    // Once the taken turns have passed, the next attempt goes at once.
    assert_eq!(
        pacer.reserve("s", &pace("#a"), t0 + EVERY * 5),
        Turn::After(Duration::ZERO)
    );
}

#[test]
fn a_turn_too_far_away_is_handed_back_without_taking_it() {
    let pacer = Pacer::default();
    let t0 = Instant::now();
    let turns = MAX_WAIT.as_secs() / EVERY.as_secs() + 1;
    for _ in 0..turns {
        assert!(matches!(
            pacer.reserve("s", &pace("#a"), t0),
            Turn::After(_)
        ));
    }
    let Turn::Later(wait) = pacer.reserve("s", &pace("#a"), t0) else {
        panic!("expected Later");
    };
    assert!(wait > MAX_WAIT);
    // Nothing was taken: the next one is told the same.
    assert_eq!(pacer.reserve("s", &pace("#a"), t0), Turn::Later(wait));
}
