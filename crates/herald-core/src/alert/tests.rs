//! Unit tests for the alert model: level order and parsing, and both tag shapes.

use super::*;

#[test]
fn levels_are_ordered_from_debug_to_fatal() {
    assert!(Level::Debug < Level::Info);
    assert!(Level::Info < Level::Warning);
    assert!(Level::Warning < Level::Error);
    assert!(Level::Error < Level::Fatal);
}

#[test]
fn level_parses_names_and_aliases() {
    assert_eq!("ERROR".parse::<Level>(), Ok(Level::Error));
    assert_eq!("warn".parse::<Level>(), Ok(Level::Warning));
    assert_eq!("critical".parse::<Level>(), Ok(Level::Fatal));
    assert_eq!(
        "loud".parse::<Level>().unwrap_err().to_string(),
        "unknown level \"loud\" (levels: debug, info, warning, error, fatal)"
    );
}

#[test]
fn tags_take_pairs_and_objects() {
    let pairs: Tags = serde_json::from_str(r#"[["team","payments"],["n",3]]"#).unwrap();
    let object: Tags = serde_json::from_str(r#"{"team":"payments","n":3}"#).unwrap();
    assert_eq!(pairs, object);
    assert_eq!(pairs.get("n"), Some("3"));
}

#[test]
fn tags_serialize_as_an_object_keeping_the_first_of_a_repeated_key() {
    let tags = Tags(vec![
        ("a".into(), "1".into()),
        ("b".into(), "2".into()),
        ("a".into(), "3".into()),
    ]);
    assert_eq!(
        serde_json::to_string(&tags).unwrap(),
        r#"{"a":"1","b":"2"}"#
    );
}

#[test]
fn cut_keeps_whole_characters_and_marks_the_cut() {
    let cut_to = |s: &str, max: usize| {
        let mut s = s.to_owned();
        cut(&mut s, max);
        s
    };
    assert_eq!(cut_to("short", 5), "short");
    assert_eq!(cut_to("abcdefgh", 6), "abc…");
    // "é" is two bytes: a cut inside it steps back to the character before.
    assert_eq!(cut_to("aéééé", 7), "aé…");
    assert_eq!(cut_to("abcdef", 2), "");
    assert!(cut_to(&"日本語".repeat(100), 100).len() <= 100);
}

#[test]
fn limits_cap_every_normalized_field_but_not_raw() {
    let long = "x".repeat(1 << 20);
    let mut alert = Alert {
        title: long.clone(),
        culprit: Some(long.clone()),
        project: Some(long.clone()),
        action: long.clone(),
        url: Some(long.clone()),
        tags: Tags(
            (0..60_000)
                .map(|i| (format!("k{i}{long}"), long.clone()))
                .take(300)
                .collect(),
        ),
        raw: serde_json::json!({ "title": long }),
        ..Alert::default()
    };
    alert.enforce_limits();
    assert_eq!(alert.title.len(), limits::MAX_TEXT_BYTES);
    assert!(alert.title.ends_with('…'));
    assert_eq!(alert.culprit.unwrap().len(), limits::MAX_TEXT_BYTES);
    assert_eq!(alert.project.unwrap().len(), limits::MAX_NAME_BYTES);
    assert_eq!(alert.action.len(), limits::MAX_NAME_BYTES);
    assert_eq!(alert.url.unwrap().len(), limits::MAX_URL_BYTES);
    assert_eq!(alert.tags.len(), limits::MAX_TAGS);
    assert!(alert.tags.0[0].0.starts_with("k0x"));
    assert!(alert.tags.iter().all(
        |(k, v)| k.len() <= limits::MAX_TAG_KEY_BYTES && v.len() <= limits::MAX_TAG_VALUE_BYTES
    ));
    assert_eq!(alert.raw["title"].as_str().unwrap().len(), 1 << 20);
}

#[test]
fn every_level_name_and_alias_parses_and_displays_its_name() {
    for (text, level) in [
        ("debug", Level::Debug),
        ("trace", Level::Debug),
        ("info", Level::Info),
        ("log", Level::Info),
        ("sample", Level::Info),
        ("warning", Level::Warning),
        ("error", Level::Error),
        ("err", Level::Error),
        ("fatal", Level::Fatal),
        (" Info ", Level::Info),
    ] {
        assert_eq!(text.parse::<Level>(), Ok(level), "{text}");
    }
    let shown: Vec<String> = Level::ALL.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["debug", "info", "warning", "error", "fatal"]);
}

#[test]
fn inserting_a_tag_replaces_its_value_in_place_or_appends_it() {
    let mut tags = Tags::default();
    assert!(tags.is_empty());
    tags.insert("team", "web");
    tags.insert("region", "eu");
    tags.insert("team", "payments");
    assert!(!tags.is_empty());
    assert_eq!(tags.len(), 2);
    assert_eq!(
        tags.iter().collect::<Vec<_>>(),
        vec![("team", "payments"), ("region", "eu")]
    );
}

#[test]
fn scalars_read_as_text_and_containers_do_not() {
    use serde_json::json;
    assert_eq!(scalar_text(&json!("a")), Some("a".into()));
    assert_eq!(scalar_text(&json!(12)), Some("12".into()));
    assert_eq!(scalar_text(&json!(1.5)), Some("1.5".into()));
    assert_eq!(scalar_text(&json!(true)), Some("true".into()));
    assert_eq!(scalar_text(&json!(false)), Some("false".into()));
    for absent in [json!(null), json!([1]), json!({"a": 1})] {
        assert_eq!(scalar_text(&absent), None, "{absent}");
    }
}
