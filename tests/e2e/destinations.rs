//! Alert data does not choose where alerts go: a running `herald serve` with a Slack bot sink
//! whose channel comes from the `team` tag posts a hostile team's alert to the fallback
//! channel, a listed team's to its own, and never replies in (or rewrites) a thread that the
//! issue's first, hostile event started in the fallback channel.

use std::time::Duration;

use serde_json::Value;

use crate::standin::{Herald, SECRET, SlackStandIn, event_alert, poll_until, post_signed};

const TOKEN: &str = "e2e-admin-token";

/// `event_alert` of Sentry issue `issue` with the `team` tag set to `team`.
fn from_team(alert_id: &str, issue: &str, team: &str) -> Vec<u8> {
    let mut body: Value = serde_json::from_slice(&event_alert(alert_id)).unwrap();
    body["data"]["event"]["issue_id"] = Value::from(issue);
    body["data"]["event"]["tags"] = serde_json::json!([["team", team], ["alert_id", alert_id]]);
    serde_json::to_vec(&body).unwrap()
}

/// The deliveries herald has finished (thread kept, receipt stored), newest first.
async fn delivered(h: &Herald) -> Vec<Value> {
    let page = h
        .admin_json("/api/v1/deliveries?status=delivered&limit=100", TOKEN)
        .await;
    page["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_team_tag_lands_in_the_fallback_and_never_chooses_the_issues_thread() {
    let slack = SlackStandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "server:\n  shutdown_grace_seconds: 5\n  admin_token: \"{TOKEN}\"\nstorage:\n  url: \"sqlite://data/herald.db\"\nsources:\n  sentry: {{ type: sentry, client_secret: \"{SECRET}\", max_skew_seconds: 300 }}\nsinks:\n  teams:\n    type: slack\n    token: xoxb-test\n    api_base: \"{api}\"\n    channel: \"#alerts-{{{{ tags.team }}}}\"\n    allowed: [\"#alerts-payments\", \"~#alerts-mobile-.*\"]\n    fallback: \"#alerts-triage\"\nroutes:\n  - name: all\n    sinks: [teams]\n",
        api = slack.api
    );
    let h = Herald::start(dir.path(), &config).await;
    let client = reqwest::Client::new();
    // One event at a time, each finished before the next, as the issue's events would come.
    let mut finished = 0;
    let mut send = async |body: Vec<u8>| {
        let r = post_signed(&client, &h, Some("event_alert"), &body)
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        finished += 1;
        let done = poll_until(Duration::from_secs(10), || async {
            delivered(&h).await.len() == finished
        })
        .await;
        assert!(done, "delivery {finished} not finished; log:\n{}", h.log());
    };

    // The issue's first event names a team whose channel is not allowed.
    send(from_team("a1", "5001", "ceo-private")).await;
    // Then a real one of the same issue, and another.
    send(from_team("a2", "5001", "payments")).await;
    send(from_team("a3", "5001", "payments")).await;
    // A team matched by the regex, on another issue.
    send(from_team("a4", "5002", "mobile-ios")).await;

    let seen = slack.seen();
    let calls: Vec<String> = seen
        .iter()
        .map(|(path, body)| {
            format!(
                "{path} channel={} thread_ts={} ts={}",
                body["channel"], body["thread_ts"], body["ts"]
            )
        })
        .collect();
    assert_eq!(
        calls,
        [
            // The hostile team's alert goes to the fallback, never to #alerts-ceo-private.
            r##"/api/chat.postMessage channel="#alerts-triage" thread_ts=null ts=null"##,
            // The real event does not reply in the fallback's thread, nor rewrite its message:
            // it starts its own in its team's channel...
            r##"/api/chat.postMessage channel="#alerts-payments" thread_ts=null ts=null"##,
            // ...where the next one replies and updates.
            r#"/api/chat.postMessage channel="CALERTSPAYMENTS" thread_ts="1700000000.000002" ts=null"#,
            r#"/api/chat.update channel="CALERTSPAYMENTS" thread_ts=null ts="1700000000.000002""#,
            r##"/api/chat.postMessage channel="#alerts-mobile-ios" thread_ts=null ts=null"##,
        ],
        "log:\n{}",
        h.log()
    );
    assert!(
        seen.iter()
            .all(|(_, b)| !b["channel"].as_str().unwrap().contains("ceo")),
        "nothing went to the channel the hostile tag chose"
    );

    // The operator sees why: a warning naming the sink and the refused channel, and the
    // delivery's receipt in the history.
    let log = h.log();
    let warning = log
        .lines()
        .find(|l| l.contains("not in \"allowed\""))
        .unwrap_or_else(|| panic!("no warning; log:\n{log}"));
    assert!(
        warning.contains("WARN")
            && warning.contains("teams")
            && warning.contains("#alerts-ceo-private"),
        "{warning}"
    );
    let history = delivered(&h).await;
    let first = history.last().unwrap();
    assert_eq!(first["receipt"]["destination"], "#alerts-triage");
    assert!(
        first["receipt"]["detail"]
            .as_str()
            .unwrap()
            .contains("\"#alerts-ceo-private\", which is not allowed"),
        "{first}"
    );
}
