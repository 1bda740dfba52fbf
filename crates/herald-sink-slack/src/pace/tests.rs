//! The per-channel pace, with explicit instants.

use std::time::{Duration, Instant};

use super::{GAP, MAX_WAIT, Pacer, Slot};

#[test]
fn posts_to_one_channel_are_a_second_apart_and_channels_are_independent() {
    let pacer = Pacer::default();
    let t0 = Instant::now();
    assert_eq!(pacer.reserve("#a", t0), Slot::After(Duration::ZERO));
    assert_eq!(pacer.reserve("#a", t0), Slot::After(GAP));
    assert_eq!(pacer.reserve("#a", t0), Slot::After(GAP * 2));
    assert_eq!(pacer.reserve("#b", t0), Slot::After(Duration::ZERO));
    // Once the reserved slots have passed, the next post goes at once.
    assert_eq!(
        pacer.reserve("#a", t0 + GAP * 5),
        Slot::After(Duration::ZERO)
    );
}

#[test]
fn a_slot_too_far_away_is_handed_back_without_taking_it() {
    let pacer = Pacer::default();
    let t0 = Instant::now();
    let slots = MAX_WAIT.as_millis() / GAP.as_millis() + 1;
    for _ in 0..slots {
        assert!(matches!(pacer.reserve("#a", t0), Slot::After(_)));
    }
    let Slot::Later(wait) = pacer.reserve("#a", t0) else {
        panic!("expected a later slot");
    };
    assert!(wait > MAX_WAIT);
    // Asking again gives the same answer: nothing was reserved.
    assert_eq!(pacer.reserve("#a", t0), Slot::Later(wait));
}
