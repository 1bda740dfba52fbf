//! How a sent digest is assembled from its members.

use std::sync::Arc;

use herald_core::{Alert, Notification};
use herald_store::Member;

use super::fold_members;

fn alert(issue: &str) -> Arc<Alert> {
    Arc::new(Alert {
        title: format!("issue {issue}"),
        issue_id: Some(issue.into()),
        ..Alert::default()
    })
}

fn member(issue: &str, outcome: &str) -> Member {
    Member {
        delivery_id: format!("d-{issue}"),
        outcome: outcome.into(),
        alert: alert(issue),
    }
}

#[test]
fn a_digest_lists_each_issue_once_and_counts_repeats_and_throttled_alerts() {
    let mut n = Notification::single(alert("1"), "r", "s", "lead");
    let members = [
        member("1", "digest"),
        member("2", "digest"),
        member("2", "digest"),
        member("3", "digest"),
        member("9", "throttled"),
    ];
    fold_members(&mut n, 4, &members);
    let issues: Vec<_> = n
        .alerts
        .iter()
        .map(|a| a.issue_id.clone().unwrap())
        .collect();
    assert_eq!(issues, ["1", "2", "3"]);
    // 4 earlier duplicates, a repeat of 1, a repeat of 2, one throttled.
    assert_eq!(n.folded, 7);
}

#[test]
fn a_burst_of_one_issue_becomes_one_alert_and_a_count() {
    let mut n = Notification::single(alert("42"), "r", "s", "lead");
    let members: Vec<_> = (0..499).map(|_| member("42", "digest")).collect();
    fold_members(&mut n, 0, &members);
    assert_eq!((n.alerts.len(), n.folded), (1, 499));
}
