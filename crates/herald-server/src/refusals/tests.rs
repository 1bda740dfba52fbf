//! The refusal log's rate limit on Tokio's paused clock: the first refusal of a quiet key is
//! told at once, the rest of its interval in one line with their count, keys are independent,
//! and a shutdown tells what is left.

use std::time::Duration;

use tokio::time::{Instant, advance};

use super::{Line, RefusalLog};

const MINUTE: Duration = Duration::from_secs(60);

fn line(source: &str, reason: &'static str, count: u64, over: u64) -> Line {
    Line {
        source: source.to_owned(),
        reason,
        count,
        over: Duration::from_secs(over),
        detail: None,
    }
}

fn refuse(log: &RefusalLog, source: &str, reason: &'static str) -> Option<Line> {
    log.refused(source, reason, None, Instant::now())
}

#[tokio::test(start_paused = true)]
async fn the_first_refusal_is_told_at_once_and_the_rest_of_the_interval_in_one_line() {
    let log = RefusalLog::new(MINUTE);
    assert_eq!(
        refuse(&log, "sentry", "unauthorized"),
        Some(line("sentry", "unauthorized", 1, 0))
    );
    for _ in 0..36 {
        advance(Duration::from_secs(1)).await;
        assert_eq!(refuse(&log, "sentry", "unauthorized"), None);
    }
    // Nothing is due before the interval ends.
    assert_eq!(log.due(Instant::now(), false), vec![]);
    advance(Duration::from_secs(24)).await;
    assert_eq!(
        log.due(Instant::now(), false),
        vec![line("sentry", "unauthorized", 36, 60)]
    );
    // Told once only.
    assert_eq!(log.due(Instant::now(), false), vec![]);
}

#[tokio::test(start_paused = true)]
async fn a_steady_stream_gives_one_line_per_interval() {
    let log = RefusalLog::new(MINUTE);
    let mut lines = Vec::new();
    // 10 minutes of one refusal a second, the server's tick every 5 s.
    for second in 0..600 {
        lines.extend(refuse(&log, "sentry", "unauthorized"));
        if second % 5 == 0 {
            lines.extend(log.due(Instant::now(), false));
        }
        advance(Duration::from_secs(1)).await;
    }
    lines.extend(log.due(Instant::now(), true));
    assert!(lines.len() <= 11, "{} lines: {lines:?}", lines.len());
    assert_eq!(lines.iter().map(|l| l.count).sum::<u64>(), 600, "{lines:?}");
}

#[tokio::test(start_paused = true)]
async fn sources_and_reasons_are_limited_apart() {
    let log = RefusalLog::new(MINUTE);
    assert!(refuse(&log, "sentry", "unauthorized").is_some());
    assert!(refuse(&log, "sentry", "malformed").is_some());
    assert!(refuse(&log, "unknown", "unknown_source").is_some());
    assert!(refuse(&log, "sentry", "unauthorized").is_none());
    assert!(refuse(&log, "sentry", "malformed").is_none());
    advance(MINUTE).await;
    assert_eq!(
        log.due(Instant::now(), false),
        vec![
            line("sentry", "malformed", 1, 60),
            line("sentry", "unauthorized", 1, 60),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_key_quiet_for_an_interval_is_told_at_once_again() {
    let log = RefusalLog::new(MINUTE);
    assert!(refuse(&log, "sentry", "unauthorized").is_some());
    advance(MINUTE).await;
    assert_eq!(log.due(Instant::now(), false), vec![]);
    advance(Duration::from_secs(1)).await;
    assert_eq!(
        refuse(&log, "sentry", "unauthorized"),
        Some(line("sentry", "unauthorized", 1, 0))
    );
}

#[tokio::test(start_paused = true)]
async fn untold_refusals_of_an_ended_interval_fold_into_the_next_first_line() {
    // Without a tick in between (the ticker runs every few seconds), the next refusal after
    // the interval carries the untold ones.
    let log = RefusalLog::new(MINUTE);
    refuse(&log, "sentry", "unauthorized");
    refuse(&log, "sentry", "unauthorized");
    refuse(&log, "sentry", "unauthorized");
    advance(Duration::from_secs(61)).await;
    assert_eq!(
        refuse(&log, "sentry", "unauthorized"),
        Some(line("sentry", "unauthorized", 3, 61))
    );
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_tells_what_is_left() {
    let log = RefusalLog::new(MINUTE);
    refuse(&log, "sentry", "unauthorized");
    advance(Duration::from_secs(5)).await;
    log.refused(
        "sentry",
        "unauthorized",
        Some("wrong signature"),
        Instant::now(),
    );
    log.refused(
        "sentry",
        "unauthorized",
        Some("stale timestamp"),
        Instant::now(),
    );
    advance(Duration::from_secs(5)).await;
    let mut last = line("sentry", "unauthorized", 2, 10);
    last.detail = Some("stale timestamp");
    assert_eq!(log.due(Instant::now(), true), vec![last]);
}

/// Every code the server refuses with itself must be in `SERVER_REFUSAL_CODES`, which gives
/// each configured source a series per code from the start.
#[test]
fn every_refusal_code_the_server_uses_is_listed() {
    let mut used = Vec::new();
    for source in [include_str!("../ingest.rs"), include_str!("../hooks.rs")] {
        let mut rest = source;
        while let Some(at) = rest.find("Refusal::new(") {
            rest = &rest[at + "Refusal::new(".len()..];
            // Refusal::new(status, "code", message): the code is the first string literal.
            let Some(open) = rest.find('"') else { break };
            let after = &rest[open + 1..];
            let close = after.find('"').unwrap();
            used.push(&after[..close]);
        }
    }
    assert!(used.len() >= 7, "found only {used:?}");
    for code in used {
        assert!(
            crate::ingest::SERVER_REFUSAL_CODES.contains(&code),
            "{code} is not in SERVER_REFUSAL_CODES"
        );
    }
}
