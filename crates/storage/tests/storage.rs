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
