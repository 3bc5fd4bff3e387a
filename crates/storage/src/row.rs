//! Reading columns the way every module stores them: ids and timestamps as text, amounts as
//! BIGINT. Each failure is a database error naming the column's problem.

use comptoir_kernel::{Result, time};
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use crate::{db_error, uuid_from_db};

pub fn text(row: &AnyRow, column: &str) -> Result<String> {
    row.try_get::<String, _>(column).map_err(db_error)
}

pub fn optional_text(row: &AnyRow, column: &str) -> Result<Option<String>> {
    row.try_get::<Option<String>, _>(column).map_err(db_error)
}

pub fn int(row: &AnyRow, column: &str) -> Result<i64> {
    row.try_get::<i64, _>(column).map_err(db_error)
}

pub fn id(row: &AnyRow, column: &str) -> Result<Uuid> {
    uuid_from_db(&text(row, column)?)
}

pub fn optional_id(row: &AnyRow, column: &str) -> Result<Option<Uuid>> {
    optional_text(row, column)?.as_deref().map(uuid_from_db).transpose()
}

pub fn timestamp(row: &AnyRow, column: &str) -> Result<time::Timestamp> {
    time::from_db(&text(row, column)?)
}

pub fn optional_timestamp(row: &AnyRow, column: &str) -> Result<Option<time::Timestamp>> {
    optional_text(row, column)?.as_deref().map(time::from_db).transpose()
}

/// A BOOLEAN column. sqlx's Any driver decodes SQLite's BOOLEAN as an integer (select it as
/// `CAST(col AS INTEGER) AS col`) and PostgreSQL's as a boolean, or as a 32-bit integer once cast:
/// all three read the same here.
pub fn flag(row: &AnyRow, column: &str) -> Result<bool> {
    if let Ok(value) = row.try_get::<bool, _>(column) {
        return Ok(value);
    }
    if let Ok(value) = row.try_get::<i64, _>(column) {
        return Ok(value != 0);
    }
    row.try_get::<i32, _>(column).map(|value| value != 0).map_err(db_error)
}

/// `$first, $first+1, ...`: `count` placeholders for an `IN (...)` list.
pub fn placeholders(first: usize, count: usize) -> String {
    (first..first + count).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_number_from_the_first() {
        assert_eq!(super::placeholders(3, 3), "$3, $4, $5");
        assert_eq!(super::placeholders(1, 0), "");
    }
}
