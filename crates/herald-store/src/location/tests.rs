//! Tests of the storage url's scheme and of its redacted form.

use super::{Backend, redact};

#[test]
fn the_scheme_picks_the_backend() {
    assert_eq!(Backend::of("sqlite://data/h.db").unwrap(), Backend::Sqlite);
    assert_eq!(Backend::of("postgres://h/db").unwrap(), Backend::Postgres);
    assert_eq!(Backend::of("postgresql://h/db").unwrap(), Backend::Postgres);
    let err = Backend::of("mysql://root:hunter2@h/db")
        .unwrap_err()
        .to_string();
    assert!(err.contains("postgres://USER"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn a_password_is_never_shown() {
    let cases = [
        (
            "postgres://herald:s3cret@db:5432/herald",
            "postgres://herald:***@db:5432/herald",
        ),
        (
            "postgres://herald:p@ss@db/herald",
            "postgres://herald:***@db/herald",
        ),
        ("postgres://herald@db/herald", "postgres://herald@db/herald"),
        (
            "postgres://db/herald?user=h&password=s3cret",
            "postgres://db/herald?user=h&password=***",
        ),
        ("sqlite://data/herald.db", "sqlite://data/herald.db"),
        ("not a url", "not a url"),
    ];
    for (url, shown) in cases {
        assert_eq!(redact(url), shown, "{url}");
    }
}
