//! The front door's registry: which connection makes room for a newcomer, how the body
//! budget is shared, and when each phase times out.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::*;

fn door(max_connections: usize, max_buffered_bytes: usize) -> Arc<FrontDoor> {
    FrontDoor::new(Limits {
        header_timeout: Duration::from_secs(10),
        body_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(60),
        max_connections,
        max_buffered_bytes,
    })
}

fn evicted(t: &Ticket) -> bool {
    t.conn.evicted.load(Ordering::Acquire)
}

#[tokio::test(start_paused = true)]
async fn at_the_cap_the_connection_waiting_longest_makes_room() {
    let door = door(3, 1024);
    let a = door.admit().unwrap();
    tokio::time::advance(Duration::from_millis(10)).await;
    let b = door.admit().unwrap();
    tokio::time::advance(Duration::from_millis(10)).await;
    let c = door.admit().unwrap();
    // `a` is answering a request: it is never disturbed, so `b` (the next oldest) goes.
    a.begin_request();
    a.body_done();
    let d = door.admit().expect("room was made");
    assert!(!evicted(&a) && evicted(&b) && !evicted(&c) && !evicted(&d));
    assert_eq!(door.connections(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_newcomer_is_refused_only_when_every_connection_is_working() {
    let door = door(2, 1024);
    let tickets = [door.admit().unwrap(), door.admit().unwrap()];
    for t in &tickets {
        t.begin_request();
        t.body_done();
    }
    assert!(door.admit().is_none());
    // One finishes its answer and waits for the next request: it can make room again.
    tickets[0].end_request();
    assert!(door.admit().is_some());
    assert!(evicted(&tickets[0]));
}

#[tokio::test(start_paused = true)]
async fn a_closed_connection_frees_its_place_and_its_bytes() {
    let door = door(1, 1024);
    let a = door.admit().unwrap();
    a.begin_request();
    door.arrived(&a.conn, 100).unwrap();
    assert_eq!(door.buffered(), 100);
    drop(Registered(a));
    assert_eq!((door.connections(), door.buffered()), (0, 0));
    assert!(door.admit().is_some());
}

#[tokio::test(start_paused = true)]
async fn the_body_budget_drops_the_body_that_has_been_arriving_longest() {
    let door = door(10, 1000);
    let slow = door.admit().unwrap();
    slow.begin_request();
    door.arrived(&slow.conn, 600).unwrap();
    tokio::time::advance(Duration::from_millis(10)).await;
    let honest = door.admit().unwrap();
    honest.begin_request();
    door.arrived(&honest.conn, 300).unwrap();
    // 600 + 300 + 200 > 1000: the slow body goes, not the newer one, and its bytes with it.
    let newcomer = door.admit().unwrap();
    newcomer.begin_request();
    door.arrived(&newcomer.conn, 200).unwrap();
    assert!(evicted(&slow) && !evicted(&honest));
    assert_eq!(door.buffered(), 500);
    // A body that has all arrived is being answered: it is kept, and a newcomer that does not
    // fit beside it is shed instead.
    honest.body_done();
    newcomer.body_done();
    let late = door.admit().unwrap();
    late.begin_request();
    assert!(matches!(
        door.arrived(&late.conn, 600),
        Err(BodyError::Shed(_))
    ));
    assert_eq!(door.buffered(), 500);
}

#[tokio::test(start_paused = true)]
async fn a_reservation_up_front_counts_once() {
    let door = door(10, 1000);
    let t = door.admit().unwrap();
    t.begin_request();
    t.reserve(800).unwrap();
    door.arrived(&t.conn, 500).unwrap();
    door.arrived(&t.conn, 300).unwrap();
    assert_eq!(door.buffered(), 800);
    t.end_request();
    assert_eq!(door.buffered(), 0);
}

#[tokio::test(start_paused = true)]
async fn each_phase_has_its_own_deadline() {
    let door = door(10, 1000);
    let start = tokio::time::Instant::now();
    let t = door.admit().unwrap();
    // Whole milliseconds after the start (the registry's clock never reads exactly 0).
    let at = |d: Option<tokio::time::Instant>| d.map(|d| (d - start).as_millis() as u64);
    // New and silent: the header timeout from the accept.
    assert_eq!(at(door.deadline(&t.conn)), Some(10000));
    // Headers done, body coming: the body timeout (plus the handler's second to answer 408).
    tokio::time::advance(Duration::from_secs(2)).await;
    t.begin_request();
    assert_eq!(at(door.deadline(&t.conn)), Some(33000));
    t.body_done();
    assert_eq!(door.deadline(&t.conn), None);
    // Kept alive after its answer: the idle timeout, until the next request's first byte.
    tokio::time::advance(Duration::from_secs(1)).await;
    t.end_request();
    assert_eq!(at(door.deadline(&t.conn)), Some(63000));
    tokio::time::advance(Duration::from_secs(5)).await;
    t.saw_bytes();
    assert_eq!(at(door.deadline(&t.conn)), Some(18000));
}
