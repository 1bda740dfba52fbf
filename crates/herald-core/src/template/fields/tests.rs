//! The shared fields and tags: order, labels, and which tags are shown.

use super::*;
use crate::alert::Tags;

fn alert(tags: &[(&str, &str)]) -> Alert {
    Alert {
        project: Some("api".into()),
        release: Some("1.2".into()),
        culprit: Some("pay()".into()),
        tags: Tags(
            tags.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        ),
        ..Alert::default()
    }
}

#[test]
fn details_keep_their_order_and_skip_what_is_missing() {
    assert_eq!(
        details(&alert(&[])),
        [("Project", "api"), ("Release", "1.2"), ("Culprit", "pay()")]
    );
}

#[test]
fn tags_shown_as_fields_are_left_out_and_at_most_five_are_listed() {
    let a = alert(&[
        ("level", "error"),
        ("environment", "prod"),
        ("a", "1"),
        ("b", "2"),
        ("release", "1.2"),
        ("c", "3"),
        ("d", "4"),
        ("e", "5"),
        ("f", "6"),
        ("project", "api"),
    ]);
    assert_eq!(
        tag_list(&a, |s| s.to_uppercase()).as_deref(),
        Some("A=1, B=2, C=3, D=4, E=5")
    );
    assert_eq!(tag_list(&alert(&[("level", "error")]), str::to_owned), None);
}
