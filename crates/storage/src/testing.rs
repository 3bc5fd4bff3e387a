//! A fresh database per test, on the backend the run asks for, so that one test suite runs
//! against SQLite and against PostgreSQL unchanged.
//!
//! `COMPTOIR_TEST_BACKEND=sqlite` (the default) gives each test a SQLite file in a temporary
//! directory. `COMPTOIR_TEST_BACKEND=postgres` gives each test a schema of its own in the database
//! named by `COMPTOIR_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/comptoir_test`);
//! `scripts/test.sh` recreates that database before the PostgreSQL run. When PostgreSQL is asked
//! for and cannot be reached, the test fails saying so: it never quietly falls back to SQLite.

use std::path::Path;

use crate::{Backend, Db, Migrations};

pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/comptoir_test";

/// A migrated database that lives as long as the value.
pub struct TestDb {
    pub db: Db,
    _dir: Option<tempfile::TempDir>,
}

impl std::ops::Deref for TestDb {
    type Target = Db;
    fn deref(&self) -> &Db {
        &self.db
    }
}

/// The backend this run tests.
pub fn backend() -> Backend {
    match std::env::var("COMPTOIR_TEST_BACKEND").as_deref() {
        Ok("postgres") => Backend::Postgres,
        Ok("sqlite") | Err(_) => Backend::Sqlite,
        Ok(other) => panic!("COMPTOIR_TEST_BACKEND={other}: use sqlite or postgres"),
    }
}

/// Opens and migrates a new, empty database for `module`.
pub async fn open(module: &'static str, migrations: &Migrations) -> TestDb {
    let (db, dir) = match backend() {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("a temporary directory");
            (open_sqlite(module, dir.path()).await, Some(dir))
        }
        Backend::Postgres => (open_postgres(module).await, None),
    };
    db.migrate(migrations).await.unwrap_or_else(|e| panic!("migrating the {module} test database: {e}"));
    TestDb { db, _dir: dir }
}

async fn open_sqlite(module: &'static str, dir: &Path) -> Db {
    Db::open_sqlite(module, dir).await.expect("a SQLite test database")
}

async fn open_postgres(module: &'static str) -> Db {
    let url = new_postgres_schema().await;
    Db::connect(module, &url).await.unwrap_or_else(|e| panic!("connecting to test schema {url}: {e}"))
}

/// Creates an empty schema in the test database and returns the URL that connects to it, for
/// tests that configure a whole application rather than open one module's database.
pub async fn new_postgres_schema() -> String {
    let url = std::env::var("COMPTOIR_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_string());
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let admin = Db::connect("test-admin", &url).await.unwrap_or_else(|e| {
        panic!("PostgreSQL was asked for (COMPTOIR_TEST_BACKEND=postgres) but {url} cannot be reached: {e}")
    });
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(admin.reader())
        .await
        .unwrap_or_else(|e| panic!("creating test schema {schema}: {e}"));
    admin.close().await;
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options[search_path]={schema}")
}
