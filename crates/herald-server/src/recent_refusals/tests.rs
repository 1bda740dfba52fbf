//! The refusal ring: bounded, oldest out first, found by Request-ID, long texts cut.

use jiff::Timestamp;

use super::{CAPACITY, RecentRefusals, Refused};

fn refused(n: usize, request_id: Option<&str>) -> Refused {
    Refused {
        at: Timestamp::from_second(1_700_000_000 + i64::try_from(n).unwrap()).unwrap(),
        source: "sentry".into(),
        endpoint: "platform",
        request_id: request_id.map(str::to_owned),
        status: 401,
        code: "unauthorized",
        message: format!("refusal {n}"),
    }
}

#[test]
fn the_ring_keeps_the_most_recent_and_never_grows_beyond_its_capacity() {
    let log = RecentRefusals::default();
    log.record(refused(0, Some("first")));
    for n in 1..CAPACITY + 10 {
        log.record(refused(n, Some(&format!("id-{n}"))));
    }
    assert_eq!(log.len(), CAPACITY);
    assert!(
        log.with_request_id("first").is_empty(),
        "the oldest fell out"
    );
    let last = CAPACITY + 9;
    let found = log.with_request_id(&format!("id-{last}"));
    assert_eq!(found, vec![refused(last, Some(&format!("id-{last}")))]);
}

#[test]
fn refusals_are_found_by_request_id_oldest_first() {
    let log = RecentRefusals::default();
    log.record(refused(1, Some("abc")));
    log.record(refused(2, None));
    log.record(refused(3, Some("abc")));
    let found: Vec<String> = log
        .with_request_id("abc")
        .into_iter()
        .map(|r| r.message)
        .collect();
    assert_eq!(found, ["refusal 1", "refusal 3"]);
    assert!(log.with_request_id("ab").is_empty());
}

#[test]
fn long_messages_and_request_ids_are_cut() {
    let log = RecentRefusals::default();
    let mut long = refused(1, Some(&"r".repeat(500)));
    long.message = "m".repeat(5000);
    log.record(long);
    let kept = log.with_request_id(&"r".repeat(128));
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].message.chars().count(), 303);
    assert!(kept[0].message.ends_with("..."));
}
