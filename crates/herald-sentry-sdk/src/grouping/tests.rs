//! Tests for grouping: the fingerprint and its variables, the fallbacks of the default key,
//! the normalization of messages, and an issue id pinned so that a change to the hash, which
//! would split every stored issue in two, cannot pass unnoticed.

use serde_json::json;

use super::*;

fn key(event: Value) -> (Vec<String>, bool) {
    let g = group(42, event.as_object().unwrap());
    (g.key, g.from_fingerprint)
}

fn error_with_frames(frames: Value) -> Value {
    json!({"exception": {"values": [{"type": "KeyError", "value": "'A-1'", "stacktrace": {"frames": frames}}]}})
}

#[test]
fn in_app_frames_make_the_key_and_lines_do_not_count() {
    let frames = json!([
        {"module": "flask.app", "function": "dispatch", "in_app": false, "lineno": 1},
        {"module": "shop.views", "function": "show", "in_app": true, "lineno": 10},
        {"filename": "shop/db.py", "function": "load", "in_app": true, "lineno": 20},
        {"module": "shop.x", "in_app": true}
    ]);
    let (k, _) = key(error_with_frames(frames.clone()));
    assert_eq!(
        k,
        [
            "type:KeyError",
            "frame:shop.views.show",
            "frame:shop/db.py.load"
        ]
    );
    let mut moved = frames;
    moved[1]["lineno"] = json!(99);
    assert_eq!(key(error_with_frames(moved)).0, k);
}

#[test]
fn without_in_app_frames_all_frames_count_then_the_value() {
    let (k, _) = key(error_with_frames(
        json!([{"module": "a", "function": "f"}, {"function": "g"}]),
    ));
    assert_eq!(k, ["type:KeyError", "frame:a.f", "frame:g"]);
    let (k, _) = key(error_with_frames(json!([])));
    assert_eq!(k, ["type:KeyError", "value:'A-<int>'"]);
}

#[test]
fn messages_group_by_template() {
    let template = |formatted: &str| json!({"logger": "app", "logentry": {"message": "user %s failed", "formatted": formatted, "params": ["x"]}});
    assert_eq!(
        key(template("user ann failed")).0,
        key(template("user bob failed")).0
    );
    assert_eq!(
        key(template("user ann failed")).0,
        ["logger:app", "message:user %s failed"]
    );
    assert_eq!(
        key(json!({"message": "job 9f86d081884c7d65 took 3.5s for 1700 rows (id 123e4567-e89b-12d3-a456-426614174000, 0xFF)"})).0,
        ["message:job <hex> took <int>s for <int> rows (id <uuid>, <hex>)"]
    );
}

#[test]
fn the_fingerprint_wins_and_can_extend_the_default() {
    let mut event = error_with_frames(json!([{"module": "m", "function": "f", "in_app": true}]));
    event["transaction"] = json!("/orders");
    event["fingerprint"] = json!(["payments", 42]);
    assert_eq!(
        key(event.clone()),
        (vec!["payments".into(), "42".into()], true)
    );
    event["fingerprint"] = json!([
        "{{ default }}",
        "{{transaction}}",
        "{{ type }}",
        "{{ nope }}"
    ]);
    assert_eq!(
        key(event.clone()).0,
        [
            "type:KeyError",
            "frame:m.f",
            "/orders",
            "KeyError",
            "{{ nope }}"
        ]
    );
    event["fingerprint"] = json!(["{{ default }}"]);
    let (k, from_fingerprint) = key(event.clone());
    assert!(!from_fingerprint, "the default alone is the default");
    event["fingerprint"] = json!([]);
    assert_eq!(key(event).0, k, "an empty fingerprint is none");
}

#[test]
fn the_issue_id_is_pinned_and_per_project() {
    let key = vec![
        "type:KeyError".to_owned(),
        "frame:shop.views.show".to_owned(),
    ];
    // SHA-256 of be64(42), then be64(len) and the bytes of each part (checked with Python).
    assert_eq!(issue_id(42, &key), "a05721e85665f52b");
    assert_ne!(issue_id(43, &key), issue_id(42, &key));
    // Length prefixes keep ["ab", "c"] and ["a", "bc"] apart.
    assert_ne!(
        issue_id(1, &["ab".into(), "c".into()]),
        issue_id(1, &["a".into(), "bc".into()])
    );
}
