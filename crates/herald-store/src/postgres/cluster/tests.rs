//! The cluster rules of the PostgreSQL store, each with two store instances on one fresh
//! database: instance rows and their heartbeat, lease renewal by the holder, takeover of a
//! dead instance's leases once they expire (and never before), a start that leaves the other
//! instances' leases alone, wake-ups between instances, and one pruner at a time. Time is
//! passed in; nothing sleeps.

use std::sync::Arc;
use std::time::Duration;

use herald_core::{Alert, Level};
use jiff::Timestamp;
use sqlx::{ConnectOptions, Connection};

use crate::postgres::PostgresStore;
use crate::{AdminStore, Endpoint, NewAlert, Status, Store};

const LEASE: Duration = Duration::from_secs(30);

fn t(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + seconds).unwrap()
}

fn new_alert(title: &str, at: Timestamp) -> NewAlert {
    NewAlert {
        source: "sentry".into(),
        request_id: None,
        endpoint: Endpoint::PLATFORM,
        received_at: at,
        alert: Arc::new(Alert {
            source: "sentry".into(),
            resource: "issue".into(),
            action: "created".into(),
            level: Some(Level::Error),
            title: title.into(),
            ..Alert::default()
        }),
        raw: format!(r#"{{"title":"{title}"}}"#),
        deliveries: vec![("prod".into(), "slack".into())],
    }
}

/// A database of its own on the machine's PostgreSQL, dropped at the end.
struct Database {
    server: String,
    name: String,
}

impl Database {
    async fn create() -> Database {
        let server = std::env::var("HERALD_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let name = format!("herald_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = admin(&server).await;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let _ = admin.close().await;
        Database { server, name }
    }

    fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }

    /// One more instance on this database.
    async fn instance(&self) -> PostgresStore {
        PostgresStore::open_with(&self.url(), LEASE).await.unwrap()
    }

    async fn connect(&self) -> sqlx::PgConnection {
        self.url()
            .parse::<sqlx::postgres::PgConnectOptions>()
            .unwrap()
            .connect()
            .await
            .unwrap()
    }
}

async fn admin(server: &str) -> sqlx::PgConnection {
    format!("{server}/postgres")
        .parse::<sqlx::postgres::PgConnectOptions>()
        .unwrap()
        .connect()
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {server} does not answer ({e})"))
}

impl Drop for Database {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    let mut admin = admin(&server).await;
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await;
                    let _ = admin.close().await;
                });
        })
        .join();
    }
}

async fn holder_of(store: &PostgresStore, id: &str) -> Option<String> {
    sqlx::query_scalar("SELECT lease_holder FROM deliveries WHERE id = $1")
        .bind(id)
        .fetch_one(&store.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_registers_refreshes_and_removes_its_row() {
    let db = Database::create().await;
    let a = db.instance().await;
    let b = db.instance().await;
    assert_ne!(a.instance(), b.instance());
    let row = |id: String| {
        let pool = a.pool.clone();
        async move {
            sqlx::query_as::<_, (String, i64, i64, i64)>(
                "SELECT host, pid, started_at, last_seen FROM instances WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(&pool)
            .await
            .unwrap()
        }
    };
    let (host, pid, started_at, _) = row(a.instance().to_owned()).await.unwrap();
    assert_eq!(pid, i64::from(std::process::id()));
    assert!(!host.is_empty());
    let later = Timestamp::now()
        .checked_add(Duration::from_secs(60))
        .unwrap();
    a.heartbeat(later).await.unwrap();
    let (_, _, started_again, last_seen) = row(a.instance().to_owned()).await.unwrap();
    assert_eq!(
        (started_again, last_seen),
        (started_at, later.as_millisecond())
    );
    // A day without a beat: the row of an instance that died is forgotten by the others.
    b.heartbeat(
        later
            .checked_add(Duration::from_secs(25 * 60 * 60))
            .unwrap(),
    )
    .await
    .unwrap();
    assert!(row(a.instance().to_owned()).await.is_none());
    assert!(row(b.instance().to_owned()).await.is_some());
    b.close().await;
    assert!(row(b.instance().to_owned()).await.is_none());
    a.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_lease_is_never_taken_over_while_its_holder_lives() {
    let db = Database::create().await;
    let (a, b) = (db.instance().await, db.instance().await);
    let id = a
        .accept(new_alert("slow", t(0)))
        .await
        .unwrap()
        .delivery_ids[0]
        .clone();
    let leased = a.lease_due(t(0), 10, a.lease(), None).await.unwrap();
    assert_eq!(leased.len(), 1);
    assert_eq!(holder_of(&a, &id).await.as_deref(), Some(a.instance()));
    // The holder renews every few seconds while its attempt runs: at 20 s, then 45 s.
    assert_eq!(
        a.renew_leases(std::slice::from_ref(&id), t(20), LEASE)
            .await
            .unwrap(),
        1
    );
    assert!(
        b.lease_due(t(40), 10, LEASE, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        a.renew_leases(std::slice::from_ref(&id), t(45), LEASE)
            .await
            .unwrap(),
        1
    );
    assert!(
        b.lease_due(t(70), 10, LEASE, None)
            .await
            .unwrap()
            .is_empty()
    );
    let row = a.delivery(&id).await.unwrap().unwrap();
    assert_eq!(
        (row.status, row.attempts, row.lease_until),
        (Status::InFlight, 1, Some(t(75)))
    );
    // A renewal never shortens a lease.
    assert_eq!(
        a.renew_leases(std::slice::from_ref(&id), t(1), LEASE)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        a.delivery(&id).await.unwrap().unwrap().lease_until,
        Some(t(75))
    );
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_instances_lease_is_taken_once_it_expires() {
    let db = Database::create().await;
    let (a, b) = (db.instance().await, db.instance().await);
    let id = a
        .accept(new_alert("orphan", t(0)))
        .await
        .unwrap()
        .delivery_ids[0]
        .clone();
    assert_eq!(a.lease_due(t(0), 10, LEASE, None).await.unwrap().len(), 1);
    // `a` stops renewing (killed, cut off): its lease blocks the work until it runs out.
    assert!(
        b.lease_due(t(29), 10, LEASE, None)
            .await
            .unwrap()
            .is_empty()
    );
    let taken = b.lease_due(t(30), 10, LEASE, None).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].delivery.id, id);
    assert_eq!(taken[0].delivery.attempts, 2);
    assert_eq!(holder_of(&b, &id).await.as_deref(), Some(b.instance()));
    // If `a` comes back, its renewal finds the lease no longer its own and leaves it alone.
    assert_eq!(
        a.renew_leases(std::slice::from_ref(&id), t(31), LEASE)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        a.delivery(&id).await.unwrap().unwrap().lease_until,
        Some(t(60))
    );
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_leaves_the_other_instances_leases_alone() {
    let db = Database::create().await;
    let a = db.instance().await;
    let id = a
        .accept(new_alert("held", t(0)))
        .await
        .unwrap()
        .delivery_ids[0]
        .clone();
    assert_eq!(a.lease_due(t(0), 10, LEASE, None).await.unwrap().len(), 1);
    // A second instance starting (or `a`'s own restart: a new id) gives back no lease.
    let b = db.instance().await;
    let row = b.delivery(&id).await.unwrap().unwrap();
    assert_eq!(
        (row.status, row.lease_until),
        (Status::InFlight, Some(t(30)))
    );
    assert_eq!(holder_of(&b, &id).await.as_deref(), Some(a.instance()));
    assert!(b.lease_due(t(1), 10, LEASE, None).await.unwrap().is_empty());
    a.close().await;
    b.close().await;
}

/// Waits, for at most 10 s, until `instances` listeners are connected and listening.
async fn listening(db: &Database, instances: i64) {
    let mut conn = db.connect().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity
             WHERE datname = current_database() AND query LIKE 'LISTEN%'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if n >= instances {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{n} of {instances} instances listen after 10 s"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_stored_pending_on_one_instance_wakes_the_other() {
    let db = Database::create().await;
    let a = db.instance().await;
    let b = db.instance().await;
    let mut woken = b.work_signals().unwrap();
    woken.borrow_and_update();
    listening(&db, 2).await;
    a.accept(new_alert("wake up", Timestamp::now()))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), woken.changed())
        .await
        .expect("b was not woken within 10 s")
        .unwrap();
    // An operator's retry on `a` wakes `b` too.
    let id = a
        .accept(new_alert("dead", Timestamp::now()))
        .await
        .unwrap()
        .delivery_ids[0]
        .clone();
    a.lease_due(Timestamp::now(), 10, LEASE, None)
        .await
        .unwrap();
    a.mark_dead(&id, "gone", Timestamp::now(), None)
        .await
        .unwrap();
    woken.borrow_and_update();
    a.retry_delivery(&id, Timestamp::now()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), woken.changed())
        .await
        .expect("b was not woken by the retry within 10 s")
        .unwrap();
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_instance_prunes_at_a_time() {
    let db = Database::create().await;
    let a = db.instance().await;
    let id = a.accept(new_alert("old", t(0))).await.unwrap().delivery_ids[0].clone();
    a.lease_due(t(0), 10, LEASE, None).await.unwrap();
    a.mark_dead(&id, "gone", t(1), None).await.unwrap();
    // Another instance in the middle of its prune round holds the lock.
    let mut other = db.connect().await;
    let mut round = other.begin().await.unwrap();
    let held: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1, $2)")
        .bind(super::super::admin::PRUNE_LOCK.0)
        .bind(super::super::admin::PRUNE_LOCK.1)
        .fetch_one(&mut *round)
        .await
        .unwrap();
    assert!(held);
    assert_eq!(a.prune(t(100), 10).await.unwrap(), 0);
    assert!(
        a.alert(&a.delivery(&id).await.unwrap().unwrap().alert_id)
            .await
            .unwrap()
            .is_some()
    );
    round.rollback().await.unwrap();
    assert_eq!(a.prune(t(100), 10).await.unwrap(), 1);
    assert!(a.delivery(&id).await.unwrap().is_none());
    let _ = other.close().await;
    a.close().await;
}
