//! The unit of work, outbox, inbox and dead letters against a real database: SQLite, or
//! PostgreSQL when COMPTOIR_TEST_BACKEND=postgres.

use comptoir_kernel::{EventEnvelope, PageRequest, RequestContext};
use comptoir_storage::{Db, Migrations, dead_letters, outbox, testing};

const THINGS: &[(i64, &str, &str)] = &[(1, "things", "CREATE TABLE things (id TEXT PRIMARY KEY)")];
const NO_MIGRATIONS: Migrations = Migrations { sqlite: THINGS, postgres: THINGS };

async fn open() -> (testing::TestDb, Db) {
    let test = testing::open("test", &NO_MIGRATIONS).await;
    let db = test.db.clone();
    (test, db)
}

fn event() -> EventEnvelope {
    EventEnvelope::new(&RequestContext::system(), "test", "test.thing.created", serde_json::json!({"n": 1}))
}

#[tokio::test]
async fn events_are_written_only_with_the_change() {
    let (_dir, db) = open().await;
    let e = event();

    let mut uow = db.begin().await.unwrap();
    sqlx::query("INSERT INTO things (id) VALUES ('a')").execute(&mut *uow).await.unwrap();
    uow.emit(&e).await.unwrap();
    uow.rollback().await.unwrap();
    assert!(outbox::pending(&db, 10).await.unwrap().is_empty(), "rolled back: no event");

    let signal = db.outbox_signal();
    let woken = tokio::spawn(async move { signal.notified().await });
    let mut uow = db.begin().await.unwrap();
    sqlx::query("INSERT INTO things (id) VALUES ('a')").execute(&mut *uow).await.unwrap();
    uow.emit(&e).await.unwrap();
    uow.commit().await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(1), woken).await.expect("relay woken on commit").unwrap();

    let pending = outbox::pending(&db, 10).await.unwrap();
    assert_eq!(pending, vec![e.clone()]);
    assert_eq!(outbox::backlog(&db).await.unwrap().0, 1);
    outbox::mark_published(&db, std::slice::from_ref(&e)).await.unwrap();
    assert!(outbox::pending(&db, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn inbox_claims_an_event_once_per_consumer() {
    let (_dir, db) = open().await;
    let id = comptoir_kernel::new_id();
    let mut uow = db.begin().await.unwrap();
    assert!(uow.claim_inbox("a.consumer", id).await.unwrap());
    assert!(!uow.claim_inbox("a.consumer", id).await.unwrap());
    assert!(uow.claim_inbox("other.consumer", id).await.unwrap());
    uow.commit().await.unwrap();
}

#[tokio::test]
async fn dead_letters_are_listed_and_deleted() {
    let (_dir, db) = open().await;
    let e = event();
    let id = dead_letters::insert(&db, "c", &e, "boom", 4).await.unwrap();
    let page = dead_letters::list(&db, PageRequest::default()).await.unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(page.items[0].event, e);
    assert_eq!(page.items[0].attempts, 4);
    assert!(dead_letters::delete(&db, id).await.unwrap());
    assert_eq!(dead_letters::count(&db).await.unwrap(), 0);
}

#[tokio::test]
async fn migrations_are_idempotent() {
    let (_dir, db) = open().await;
    db.migrate(&NO_MIGRATIONS).await.unwrap();
    db.ping().await.unwrap();
}

#[tokio::test]
async fn the_outbox_status_counts_pending_and_published_events() {
    let (_dir, db) = open().await;
    let empty = outbox::status(&db).await.unwrap();
    assert_eq!((empty.pending, empty.oldest_pending_at, empty.published_kept), (0, None, 0));
    let (first, second) = (event(), event());
    let mut uow = db.begin().await.unwrap();
    uow.emit(&first).await.unwrap();
    uow.emit(&second).await.unwrap();
    uow.commit().await.unwrap();
    outbox::mark_published(&db, std::slice::from_ref(&first)).await.unwrap();
    let status = outbox::status(&db).await.unwrap();
    assert_eq!((status.pending, status.published_kept), (1, 1));
    let oldest = status.oldest_pending_at.expect("one event waits");
    assert!(oldest <= comptoir_kernel::time::now());
}

#[tokio::test]
async fn dead_letters_are_purged_one_or_by_consumer() {
    let (_dir, db) = open().await;
    let e = event();
    let one = dead_letters::insert(&db, "a.consumer", &e, "boom", 3).await.unwrap();
    dead_letters::insert(&db, "a.consumer", &e, "boom", 3).await.unwrap();
    dead_letters::insert(&db, "b.consumer", &e, "boom", 3).await.unwrap();
    let purged = dead_letters::purge(&db, one).await.unwrap().expect("there was one");
    assert_eq!(
        (purged.id, purged.consumer.as_str(), purged.event_type.as_str()),
        (one, "a.consumer", "test.thing.created")
    );
    assert_eq!(dead_letters::purge(&db, one).await.unwrap(), None, "gone already");
    assert!(dead_letters::purge_all(&db, Some("nobody")).await.unwrap().is_empty());
    assert_eq!(dead_letters::purge_all(&db, Some("a.consumer")).await.unwrap().len(), 1);
    assert_eq!(dead_letters::count(&db).await.unwrap(), 1, "b.consumer's is kept");
    assert_eq!(dead_letters::purge_all(&db, None).await.unwrap().len(), 1);
    assert_eq!(dead_letters::count(&db).await.unwrap(), 0);
}
