//! The cache keeps the newest alerts up to its capacity and evicts the oldest first.

use std::sync::Arc;

use herald_core::Alert;

use super::{CAPACITY, RecentAlerts};

fn alert(title: &str) -> Arc<Alert> {
    Arc::new(Alert {
        title: title.into(),
        ..Alert::default()
    })
}

#[test]
fn keeps_what_was_inserted() {
    let recent = RecentAlerts::default();
    recent.insert("a", alert("first"));
    assert_eq!(recent.get("a").unwrap().title, "first");
    assert!(recent.contains("a"));
    assert!(recent.get("b").is_none());
}

#[test]
fn evicts_the_oldest_beyond_capacity() {
    let recent = RecentAlerts::default();
    for i in 0..CAPACITY + 3 {
        recent.insert(&i.to_string(), alert(&i.to_string()));
    }
    assert_eq!(recent.len(), CAPACITY);
    for gone in 0..3 {
        assert!(!recent.contains(&gone.to_string()), "{gone} was evicted");
    }
    assert_eq!(
        recent.get(&(CAPACITY + 2).to_string()).unwrap().title,
        (CAPACITY + 2).to_string()
    );
    assert!(recent.contains("3"));
}

#[test]
fn inserting_an_id_again_replaces_without_growing() {
    let recent = RecentAlerts::default();
    recent.insert("a", alert("one"));
    recent.insert("a", alert("two"));
    assert_eq!(recent.len(), 1);
    assert_eq!(recent.get("a").unwrap().title, "two");
}

#[test]
fn a_removed_alert_is_gone_and_frees_its_place() {
    let recent = RecentAlerts::default();
    recent.insert("a", alert("one"));
    recent.insert("b", alert("two"));
    recent.remove("a");
    recent.remove("missing");
    assert!(!recent.contains("a"));
    assert_eq!(recent.len(), 1);
}
