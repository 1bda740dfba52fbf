//! "Where did my alert go?" end to end against a running `herald serve`: `herald why` explains
//! a delivered alert, one delivered on its retry (each attempt shown), a silenced one (the silence made through the admin API), a deduplicated
//! one, one no route matched and a webhook refused for its signature (found by its Request-ID
//! in herald's memory); `herald alerts list` and `herald held-back list` show the same alerts
//! and records without curl.

use std::time::Duration;

use serde_json::{Value, json};

use crate::standin::{Herald, SECRET, StandIn, event_alert, wait_until};
use crate::support::{herald, stderr, stdout};

const TOKEN: &str = "e2e-why-admin-token";
const LIMIT: Duration = Duration::from_secs(20);

/// Three routes on the `alert_id` tag `event_alert` carries: `dedup` deduplicates the `dup`
/// alerts, `catch` takes `delivered`, `flaky` and `silenced`, and nothing takes `lost`.
fn config(url: &str) -> String {
    format!(
        "server:\n  shutdown_grace_seconds: 5\n  admin_token: \"{TOKEN}\"\nstorage:\n  url: \"sqlite://data/herald.db\"\nsources:\n  sentry: {{ type: sentry, client_secret: \"{SECRET}\", max_skew_seconds: 300 }}\nsinks:\n  hook: {{ type: webhook, url: \"{url}\" }}\nroutes:\n  - name: dedup\n    match: {{ tags: {{ alert_id: dup }} }}\n    sinks: [hook]\n    dedup_seconds: 600\n  - name: catch\n    match: {{ tags: {{ alert_id: \"~^(delivered|flaky|silenced)$\" }} }}\n    sinks: [hook]\n"
    )
}

/// Posts `body` as an `event_alert` with `request_id`, signed (or with a forged signature).
async fn post(h: &Herald, body: &[u8], request_id: &str, signed: bool) -> reqwest::StatusCode {
    let signature = if signed {
        herald_sentry::sign(&herald_core::Secret::new(SECRET), body)
    } else {
        "0".repeat(64)
    };
    reqwest::Client::new()
        .post(h.url("/hooks/sentry"))
        .header("content-type", "application/json")
        .header("request-id", request_id)
        .header("sentry-hook-resource", "event_alert")
        .header(
            "sentry-hook-timestamp",
            jiff::Timestamp::now().as_second().to_string(),
        )
        .header("sentry-hook-signature", signature)
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
        .status()
}

/// `herald <args> --url <herald> --token <TOKEN>`, run on a blocking thread so the test's
/// runtime keeps serving the stand-in.
async fn cli(h: &Herald, args: &[&str]) -> std::process::Output {
    let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    args.extend(["--url".into(), h.url(""), "--token".into(), TOKEN.into()]);
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        herald(&args)
    })
    .await
    .unwrap()
}

/// `herald why ID`'s text, once it contains `wanted` (the dispatcher decides asynchronously):
/// polled every 50 ms for at most [`LIMIT`].
async fn why_until(h: &Herald, id: &str, wanted: &str) -> String {
    let start = std::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tick.tick().await;
        let out = cli(h, &["why", id]).await;
        let text = format!("{}{}", stdout(&out), stderr(&out));
        if out.status.success() && text.contains(wanted) {
            return text;
        }
        assert!(
            start.elapsed() < LIMIT,
            "`herald why {id}` never said {wanted:?}:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn why_explains_every_way_an_alert_can_fail_to_arrive() {
    let standin = StandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let h = Herald::start(dir.path(), &config(&standin.url("/hook"))).await;

    // Delivered.
    assert_eq!(
        post(&h, &event_alert("delivered"), "req-delivered", true).await,
        202
    );
    assert!(wait_until(LIMIT, || !standin.hits().is_empty()).await);
    let text = why_until(&h, "req-delivered", "delivered at").await;
    assert!(text.contains("found by its Request-ID"), "{text}");
    assert!(text.contains("+ catch: matches, sends to hook"), "{text}");
    assert!(text.contains("- dedup: no match"), "{text}");
    assert!(text.contains("hook (route catch): delivered at"), "{text}");

    // Retried, then delivered: the stand-in answers the first attempt 503. Every attempt is
    // shown, with its status and error, and the delivery keeps no last error.
    standin.script(|hit, earlier| {
        if hit.alert_id.as_deref() == Some("flaky") && earlier == 0 {
            (503, None)
        } else {
            (200, None)
        }
    });
    assert_eq!(
        post(&h, &event_alert("flaky"), "req-flaky", true).await,
        202
    );
    let text = why_until(&h, "req-flaky", "delivered at").await;
    assert!(
        text.contains("hook (route catch): delivered at")
            && text
                .contains("after 2 attempts (1 failed before it, the last with: unavailable (503)"),
        "{text}"
    );
    let attempts: Vec<&str> = text
        .lines()
        .skip_while(|l| *l != "attempts to hook (route catch):")
        .skip(1)
        .take_while(|l| l.starts_with("  #"))
        .collect();
    assert_eq!(attempts.len(), 2, "{text}");
    assert!(
        attempts[0].starts_with("  #1 ")
            && attempts[0].contains(" retried, status 503, ")
            && attempts[0].contains(" ms: unavailable (503)"),
        "{text}"
    );
    assert!(
        attempts[1].starts_with("  #2 ") && attempts[1].contains(" delivered, status 200, "),
        "{text}"
    );
    let out = cli(&h, &["why", "req-flaky", "--format", "json"]).await;
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["deliveries"][0]["last_error"], Value::Null);

    // Silenced, through a silence made with the admin API; found by its Sentry event id.
    let silence: Value = reqwest::Client::new()
        .post(h.url("/api/v1/silences"))
        .bearer_auth(TOKEN)
        .json(&json!({
            "matchers": {"tags": {"alert_id": "silenced"}},
            "duration_seconds": 3600,
            "author": "ana",
            "comment": "payments deploy"
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let silence_id = silence["id"].as_str().unwrap().to_owned();
    let body = event_alert("silenced");
    let event_id = serde_json::from_slice::<Value>(&body).unwrap()["data"]["event"]["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(post(&h, &body, "req-silenced", true).await, 202);
    let text = why_until(&h, &event_id, "silenced").await;
    assert!(text.contains("found by its Sentry event id"), "{text}");
    assert!(text.contains("hook (route catch): held back at"), "{text}");
    assert!(
        text.contains(&format!("silenced by {silence_id}"))
            && text.contains("(made by ana: \"payments deploy\")"),
        "{text}"
    );

    // Deduplicated: the second alert of the issue within dedup_seconds.
    assert_eq!(post(&h, &event_alert("dup"), "req-dup-1", true).await, 202);
    why_until(&h, "req-dup-1", "delivered at").await;
    assert_eq!(post(&h, &event_alert("dup"), "req-dup-2", true).await, 202);
    let text = why_until(&h, "req-dup-2", "duplicate").await;
    assert!(text.contains("hook (route dedup): held back at"), "{text}");

    // No route matched.
    assert_eq!(post(&h, &event_alert("lost"), "req-lost", true).await, 202);
    let text = why_until(&h, "req-lost", "no route matched when it arrived").await;
    assert!(text.contains("- catch: no match"), "{text}");
    assert!(text.contains("- dedup: no match"), "{text}");

    // Refused for its signature: never stored, found in memory by its Request-ID.
    assert_eq!(
        post(&h, &event_alert("forged"), "req-forged", false).await,
        401
    );
    let text = why_until(&h, "req-forged", "refused at").await;
    assert!(
        text.contains("herald stored no alert for \"req-forged\""),
        "{text}"
    );
    assert!(text.contains("unauthorized: the signature"), "{text}");
    assert!(text.contains("in memory only"), "{text}");

    // The JSON is the admin API's answer.
    let out = cli(&h, &["why", "req-lost", "--format", "json"]).await;
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["found_by"], "request_id");
    assert_eq!(answer["routing"]["sinks"], json!([]));

    // An id nothing matches: a clear error, exit 1.
    let out = cli(&h, &["why", "no-such-thing"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no alert, Sentry event, issue or Request-ID \"no-such-thing\""),
        "{}",
        stderr(&out)
    );

    // The lists: six stored alerts (the refused one is not), one duplicate, one silenced.
    let out = cli(&h, &["alerts", "list"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    assert_eq!(table.lines().count(), 1 + 6, "{table}");
    assert!(table.contains("event_alert/triggered"), "{table}");
    let out = cli(&h, &["alerts", "list", "--format", "json", "--limit", "2"]).await;
    let page: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert!(stderr(&out).is_empty() || page["next_cursor"].is_string());
    let out = cli(&h, &["held-back", "list", "--outcome", "duplicate"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    assert_eq!(table.lines().count(), 2, "{table}");
    assert!(
        table.contains("duplicate") && table.contains("dedup"),
        "{table}"
    );
    let out = cli(&h, &["held-back", "list", "--format", "json"]).await;
    let page: Value = serde_json::from_slice(&out.stdout).unwrap();
    let outcomes: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes.len(), 2, "{page}");
    assert!(
        outcomes.contains(&"duplicate") && outcomes.contains(&"silenced"),
        "{page}"
    );
}
