//! What one hostile payload costs: parses a 60,000-tag event_alert (and a normal one) many times
//! and prints the time per parse and the size of the normalized alert that routing, storage and
//! the sinks then carry. `cargo run --release -p herald-sentry --example parse_cost`.

use std::time::Instant;

use serde_json::json;

fn payload(tags: usize, title_bytes: usize) -> Vec<u8> {
    let tags: Vec<_> = (0..tags)
        .map(|i| json!([format!("tag-{i}"), format!("value-{i}")]))
        .collect();
    json!({"action": "triggered", "data": {"event": {
        "title": "x".repeat(title_bytes), "level": "error", "tags": tags,
        "url": "https://sentry.io/api/0/projects/acme/payments-api/events/1/"
    }}})
    .to_string()
    .into_bytes()
}

fn measure(name: &str, body: &[u8], runs: u32) {
    let mut alert = None;
    let started = Instant::now();
    for _ in 0..runs {
        alert = Some(herald_sentry::parse("sentry", Some("event_alert"), body).unwrap());
    }
    let per_parse = started.elapsed() / runs;
    let alert = alert.unwrap().into_alert();
    let started = Instant::now();
    let mut normalized = 0;
    for _ in 0..runs {
        normalized = serde_json::to_vec(&alert.to_json()).unwrap().len();
    }
    let per_json = started.elapsed() / runs;
    println!(
        "{name}: body {} B, parse {per_parse:?}, {} tags kept, normalized alert {normalized} B (to_json + serialize {per_json:?})",
        body.len(),
        alert.tags.len(),
    );
}

fn main() {
    measure("normal (20 tags)", &payload(20, 100), 2000);
    measure("60,000 tags", &payload(60_000, 100), 20);
    measure("1 MiB title", &payload(20, 1 << 20), 50);
}
