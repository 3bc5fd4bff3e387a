use std::borrow::Cow;

use comptoir_kernel::Error;
use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

use crate::Db;

/// A module's migrations, one list per backend, embedded in the binary as `(version, name, sql)`.
/// The DDL differs only where the backends do (PostgreSQL wants BIGINT where SQLite's INTEGER is
/// already 64-bit, for instance); the repositories are the same.
pub struct Migrations {
    pub sqlite: &'static [(i64, &'static str, &'static str)],
    /// Empty while a module has not been brought to PostgreSQL yet.
    pub postgres: &'static [(i64, &'static str, &'static str)],
}

impl Migrations {
    pub(crate) async fn run(&self, db: &Db, table: &'static str) -> Result<(), Error> {
        let source = match db.backend() {
            crate::Backend::Sqlite => self.sqlite,
            crate::Backend::Postgres if self.postgres.is_empty() => {
                return Err(Error::unavailable(format!("{}: no PostgreSQL migrations yet", db.module())));
            }
            crate::Backend::Postgres => self.postgres,
        };
        let migrations = source
            .iter()
            .map(|(version, name, sql)| {
                Migration::new(*version, Cow::Borrowed(*name), MigrationType::Simple, sql.into_sql_str(), false)
            })
            .collect();
        let mut migrator = Migrator::with_migrations(migrations);
        migrator.dangerous_set_table_name(table);
        migrator
            .run(db.write_pool())
            .await
            .map_err(|e| Error::unavailable(format!("{}: migration failed: {e}", db.module())))
    }
}

pub(crate) fn messaging() -> Migrations {
    Migrations {
        sqlite: &[(1, "messaging", include_str!("../migrations/sqlite/0001_messaging.sql"))],
        postgres: &[(1, "messaging", include_str!("../migrations/postgres/0001_messaging.sql"))],
    }
}
