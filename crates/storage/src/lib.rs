//! Storage plumbing shared by every module.
//!
//! Each module owns one database ([`Db`]): a SQLite file under the data directory in the embedded
//! default, later a PostgreSQL database of its own. Repositories are written once against sqlx's
//! `Any` driver with portable SQL (`$1` placeholders, TEXT/BIGINT/BOOLEAN columns, ids and
//! timestamps as text), so a backend is a matter of URL. Writes go through a [`UnitOfWork`], which
//! writes domain events to the module's outbox in the same transaction and wakes the relay on commit.

mod db;
pub mod dead_letters;
pub mod listing;
pub mod load;
mod migrate;
pub mod outbox;
pub mod row;
pub mod sqlite_file;
#[cfg(feature = "testing")]
pub mod testing;
mod unit_of_work;

pub use db::{Backend, Db, POSTGRES_POOL_SIZE, db_error, is_unique_violation, sqlite_path};
pub use migrate::Migrations;
pub use unit_of_work::UnitOfWork;

pub use sqlx::any::AnyRow;
pub use sqlx::{Row, query, query_as, query_scalar};

/// Reads a UUID stored as text.
pub fn uuid_from_db(text: &str) -> comptoir_kernel::Result<uuid::Uuid> {
    uuid::Uuid::parse_str(text)
        .map_err(|e| comptoir_kernel::Error::internal(format!("stored id {text:?} is not a UUID: {e}")))
}
