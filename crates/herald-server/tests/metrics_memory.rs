//! The metrics recorder keeps every attempt duration it is given until an upkeep (or a scrape)
//! folds it into the histogram's buckets; herald serves `/metrics` itself and nobody ran that
//! upkeep, so an unscraped herald grew by every attempt it made (issue 10: RSS grew in a
//! straight line over a million alerts). This records a million attempts, never scraping, and
//! checks that the bytes the process holds stay flat. A test binary of its own: it counts the
//! heap with `dhat`'s global allocator, and the metrics recorder is global to the process.

use std::time::Duration;

use herald_server::metrics::{self, Outcome};

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

/// Attempts recorded: what 1,000,000 alerts to one sink each make.
const ATTEMPTS: u64 = 1_000_000;

fn record(n: u64) {
    for i in 0..n {
        let took = Duration::from_micros(200 + i % 5_000);
        metrics::delivery("hook-0", Outcome::Delivered, took);
    }
}

fn held() -> usize {
    dhat::HeapStats::get().curr_bytes
}

#[test]
fn a_million_attempt_durations_recorded_without_a_scrape_keep_memory_flat() {
    let _profiler = dhat::Profiler::builder().testing().build();
    metrics::install().unwrap();
    // The sink's handles, the histogram and its buckets exist from the first attempts on.
    record(10_000);
    let before = held();
    record(ATTEMPTS);
    let grown = held().saturating_sub(before);
    // Kept, the samples alone would be 16 MB (a value and an `Instant`, 16 bytes each; 16.4 MB
    // measured before the fix); what may be left is the samples since the last upkeep and
    // blocks whose freeing the recorder defers (9 KB measured after it).
    assert!(
        grown < 1 << 20,
        "{grown} bytes more after {ATTEMPTS} attempts, about {} per attempt",
        grown as u64 / ATTEMPTS
    );
    // Nothing is lost on the way: every attempt is in the histogram's count.
    let text = metrics::render().unwrap();
    let count = format!(
        "herald_delivery_duration_seconds_count{{sink=\"hook-0\"}} {}",
        ATTEMPTS + 10_000
    );
    assert!(text.contains(&count), "no `{count}` in:\n{text}");
}
