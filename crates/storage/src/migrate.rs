use std::borrow::Cow;

use comptoir_kernel::Error;
use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

use crate::Db;

/// A module's migrations for one backend, embedded in the binary as `(version, name, sql)`.
pub struct Migrations {
    pub sqlite: &'static [(i64, &'static str, &'static str)],
}

impl Migrations {
    pub(crate) async fn run(&self, db: &Db, table: &'static str) -> Result<(), Error> {
        let source = match db.backend() {
            crate::Backend::Sqlite => self.sqlite,
            crate::Backend::Postgres => {
                return Err(Error::unavailable(format!("{}: no PostgreSQL migrations yet", db.module())));
            }
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
    Migrations { sqlite: &[(1, "messaging", include_str!("../migrations/sqlite/0001_messaging.sql"))] }
}
