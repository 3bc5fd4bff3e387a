use std::path::Path;
use std::sync::{Arc, Once};
use std::time::Duration;

use comptoir_kernel::Error;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use tokio::sync::Notify;

use crate::{Migrations, UnitOfWork};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One module's database: a pool for reads, a pool for writes, and the signal that wakes the
/// outbox relay after a commit.
#[derive(Clone)]
pub struct Db {
    module: &'static str,
    backend: Backend,
    read: AnyPool,
    write: AnyPool,
    outbox_signal: Arc<Notify>,
}

static INSTALL_DRIVERS: Once = Once::new();

/// Connections each module keeps to PostgreSQL at most, unless told otherwise.
pub const POSTGRES_POOL_SIZE: u32 = 5;

impl Db {
    /// The embedded default: `<data_dir>/<module>.sqlite`, created if missing, in WAL mode.
    pub async fn open_sqlite(module: &'static str, data_dir: &Path) -> Result<Db, Error> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| Error::unavailable(format!("cannot create data directory {}: {e}", data_dir.display())))?;
        let path = sqlite_path(data_dir, module);
        Self::connect(module, &format!("sqlite://{}?mode=rwc", path.display())).await
    }

    /// Connects to a database URL (`sqlite://...` or `postgres://...`).
    pub async fn connect(module: &'static str, url: &str) -> Result<Db, Error> {
        Self::connect_with_pool(module, url, POSTGRES_POOL_SIZE).await
    }

    /// Connects with at most `postgres_pool_size` connections on PostgreSQL (SQLite pools are
    /// sized by its single writer and the cores).
    pub async fn connect_with_pool(module: &'static str, url: &str, postgres_pool_size: u32) -> Result<Db, Error> {
        INSTALL_DRIVERS.call_once(sqlx::any::install_default_drivers);
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(Error::unavailable(format!("{module}: unsupported database URL {url:?}")));
        };
        let options: AnyConnectOptions =
            url.parse().map_err(|e| Error::unavailable(format!("{module}: invalid database URL: {e}")))?;
        let unavailable = |e: sqlx::Error| Error::unavailable(format!("{module}: cannot open database: {e}"));
        match backend {
            Backend::Sqlite => {
                let pragmas = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                               PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;";
                let pool_options = || {
                    AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10)).after_connect(move |conn, _| {
                        Box::pin(async move {
                            conn.execute(sqlx::raw_sql(pragmas)).await?;
                            Ok(())
                        })
                    })
                };
                // SQLite has one writer at a time: a single write connection queues writers in
                // the pool (fair, no busy-waiting) while readers proceed in parallel under WAL.
                let write =
                    pool_options().max_connections(1).connect_with(options.clone()).await.map_err(unavailable)?;
                let readers = std::thread::available_parallelism().map(|n| n.get() as u32 * 2).unwrap_or(4).max(4);
                let read = pool_options().max_connections(readers).connect_with(options).await.map_err(unavailable)?;
                Ok(Db { module, backend, read, write, outbox_signal: Arc::new(Notify::new()) })
            }
            Backend::Postgres => {
                // Modest per module: a monolith on one PostgreSQL server opens one pool per module.
                let pool = AnyPoolOptions::new()
                    .max_connections(postgres_pool_size.max(1))
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await
                    .map_err(unavailable)?;
                Ok(Db { module, backend, read: pool.clone(), write: pool, outbox_signal: Arc::new(Notify::new()) })
            }
        }
    }

    pub fn module(&self) -> &'static str {
        self.module
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool for queries that only read.
    pub fn reader(&self) -> &AnyPool {
        &self.read
    }

    /// Starts a write transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`),
    /// so a transaction never fails half-way because another writer got there first.
    pub async fn begin(&self) -> Result<UnitOfWork, Error> {
        let tx = match self.backend {
            Backend::Sqlite => self.write.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.write.begin().await,
        }
        .map_err(db_error)?;
        Ok(UnitOfWork::new(tx, self.module, self.outbox_signal.clone()))
    }

    /// Applies the messaging tables, then the module's own migrations, each tracked separately.
    pub async fn migrate(&self, module_migrations: &Migrations) -> Result<(), Error> {
        crate::migrate::messaging().run(self, "_comptoir_messaging_migrations").await?;
        module_migrations.run(self, "_comptoir_migrations").await
    }

    /// Answers whether the database responds, for `/readyz`.
    pub async fn ping(&self) -> Result<(), Error> {
        sqlx::query("SELECT 1").execute(&self.read).await.map(|_| ()).map_err(db_error)
    }

    /// Woken after each commit that wrote events; the outbox relay waits on it.
    pub fn outbox_signal(&self) -> Arc<Notify> {
        self.outbox_signal.clone()
    }

    /// The pool writes go through (the same pool as [`Db::reader`] on PostgreSQL).
    pub fn write_pool(&self) -> &AnyPool {
        &self.write
    }

    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// Where the embedded default keeps a database: `<data_dir>/<name>.sqlite`.
pub fn sqlite_path(data_dir: &Path, name: &str) -> std::path::PathBuf {
    data_dir.join(format!("{name}.sqlite"))
}

/// Maps a database failure to the shared error vocabulary: connection trouble is `Unavailable`
/// (retryable), anything else is a bug and `Internal`.
pub fn db_error(e: sqlx::Error) -> Error {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            Error::unavailable(format!("database unavailable: {e}"))
        }
        other => Error::internal(format!("database error: {other}")),
    }
}

/// Whether the failure is a unique-constraint violation (a duplicate key).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}
