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
