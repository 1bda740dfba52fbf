//! The example sink end to end: built from YAML through its factory, two notifications
//! delivered to a temporary file and read back, and a bad path reported with its location.

use std::sync::Arc;

use herald_core::config::Env;
use herald_core::{Alert, Level, Notification, Sink, SinkRegistry};
use herald_example_sink::FileSinkFactory;

fn build(path: &str) -> Result<Arc<dyn Sink>, Vec<String>> {
    let yaml = format!("sinks:\n  audit:\n    type: file\n    path: {path:?}\n");
    let env = Env::from_pairs::<_, String, String>([]);
    herald_core::testing::build_sink(FileSinkFactory, &yaml, &env).into_result()
}

fn notification(title: &str, key: &str) -> Notification {
    let alert = Alert {
        source: "sentry".into(),
        resource: "issue".into(),
        action: "created".into(),
        title: title.into(),
        level: Some(Level::Error),
        ..Alert::default()
    };
    Notification::single(Arc::new(alert), "all", "audit", key)
}

#[tokio::test]
async fn two_notifications_become_two_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.jsonl");
    let sink = build(path.to_str().unwrap()).unwrap();
    sink.deliver(&notification("first", "d1")).await.unwrap();
    sink.deliver(&notification("second \"quoted\"\nline", "d2"))
        .await
        .unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["delivery_id"], "d1");
    assert_eq!(lines[0]["alerts"][0]["title"], "first");
    assert_eq!(lines[1]["delivery_id"], "d2");
    assert_eq!(lines[1]["alerts"][0]["title"], "second \"quoted\"\nline");
    assert_eq!(lines[1]["alerts"][0]["level"], "error");
}

#[test]
fn a_path_in_a_missing_directory_is_a_located_error() {
    let errors = build("/no/such/dir/alerts.jsonl").unwrap_err();
    assert!(
        errors[0].starts_with(
            "herald.yaml:4:11: file sink path \"/no/such/dir/alerts.jsonl\" is not in an existing directory"
        ),
        "{errors:?}"
    );
}

#[test]
fn the_registry_knows_it_by_its_type() {
    let mut registry = SinkRegistry::new();
    registry.register(FileSinkFactory);
    assert_eq!(registry.kinds(), ["file"]);
}
