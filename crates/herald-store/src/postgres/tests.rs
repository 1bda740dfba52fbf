//! Tests of what only the PostgreSQL store does: a url's password kept out of its errors and
//! `Debug`. Its behaviour is the conformance suite's (`tests/conformance`).

use super::PostgresStore;
use crate::Store;

#[tokio::test]
async fn a_password_never_appears_in_an_open_error() {
    // A port nothing listens on, and a url nothing can parse: both fail, neither shows it.
    for url in [
        "postgres://herald:Sup3r-s3cret@127.0.0.1:1/herald",
        "postgres://herald:Sup3r-s3cret@127.0.0.1:notaport/herald",
    ] {
        let err = PostgresStore::open(url).await.unwrap_err();
        let mut shown = format!("{err} {err:?}");
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            shown.push_str(&format!(" {cause} {cause:?}"));
            source = cause.source();
        }
        assert!(!shown.contains("Sup3r-s3cret"), "{shown}");
        assert!(shown.contains("herald:***@127.0.0.1"), "{shown}");
    }
}

#[tokio::test]
async fn a_password_never_appears_in_the_stores_debug() {
    use sqlx::{ConnectOptions, Connection};
    // The machine's PostgreSQL trusts local connections, so any password is taken; the
    // store is opened on a database of its own, dropped at the end.
    let admin_url = "postgres://postgres@127.0.0.1:5432/postgres";
    let name = format!("herald_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = admin_url
        .parse::<sqlx::postgres::PgConnectOptions>()
        .unwrap()
        .connect()
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = format!("postgres://postgres:Sup3r-s3cret@127.0.0.1:5432/{name}");
    let store = PostgresStore::open(&url).await.unwrap();
    let shown = format!("{store:?}");
    store.close().await;
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
    let _ = admin.close().await;
    assert!(!shown.contains("Sup3r-s3cret"), "{shown}");
}
