//! Events a consumer gave up on after its last retry, kept in the consumer's module database so
//! that staff can list them and replay them once the cause is fixed.

use comptoir_kernel::{Error, EventEnvelope, Page, PageRequest, new_id, time};
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use crate::{Db, db_error, uuid_from_db};

#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub id: Uuid,
    pub consumer: String,
    pub event: EventEnvelope,
    pub error: String,
    pub attempts: i64,
    pub failed_at: time::Timestamp,
}

pub async fn insert(db: &Db, consumer: &str, event: &EventEnvelope, error: &str, attempts: i64) -> Result<Uuid, Error> {
    let id = new_id();
    let envelope = serde_json::to_string(event).map_err(|e| Error::internal(e.to_string()))?;
    sqlx::query(
        "INSERT INTO dead_letters (id, consumer, event_id, event_type, envelope, error, attempts, failed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id.to_string())
    .bind(consumer)
    .bind(event.id.to_string())
    .bind(&event.event_type)
    .bind(envelope)
    .bind(error)
    .bind(attempts)
    .bind(time::to_db(&time::now()))
    .execute(db.write_pool())
    .await
    .map_err(db_error)?;
    Ok(id)
}

pub async fn list(db: &Db, page: PageRequest) -> Result<Page<DeadLetter>, Error> {
    let rows = sqlx::query("SELECT * FROM dead_letters ORDER BY failed_at DESC, id LIMIT $1 OFFSET $2")
        .bind(page.limit())
        .bind(page.offset())
        .fetch_all(db.reader())
        .await
        .map_err(db_error)?;
    let total: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM dead_letters").fetch_one(db.reader()).await.map_err(db_error)?;
    let items = rows.iter().map(from_row).collect::<Result<_, _>>()?;
    Ok(Page::new(items, page, total as u64))
}

/// The newest `limit` dead letters.
pub async fn list_window(db: &Db, limit: i64) -> Result<Vec<DeadLetter>, Error> {
    let rows = sqlx::query("SELECT * FROM dead_letters ORDER BY failed_at DESC, id LIMIT $1")
        .bind(limit)
        .fetch_all(db.reader())
        .await
        .map_err(db_error)?;
    rows.iter().map(from_row).collect()
}

pub async fn get(db: &Db, id: Uuid) -> Result<Option<DeadLetter>, Error> {
    let row = sqlx::query("SELECT * FROM dead_letters WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(db.reader())
        .await
        .map_err(db_error)?;
    row.as_ref().map(from_row).transpose()
}

pub async fn count(db: &Db) -> Result<i64, Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM dead_letters").fetch_one(db.reader()).await.map_err(db_error)
}

pub async fn delete(db: &Db, id: Uuid) -> Result<bool, Error> {
    let done = sqlx::query("DELETE FROM dead_letters WHERE id = $1")
        .bind(id.to_string())
        .execute(db.write_pool())
        .await
        .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

/// What a purge removed: enough to log it, never the event's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purged {
    pub id: Uuid,
    pub consumer: String,
    pub event_type: String,
}

/// Deletes one dead letter without replaying it; None if there was none with that id.
pub async fn purge(db: &Db, id: Uuid) -> Result<Option<Purged>, Error> {
    let rows = sqlx::query("DELETE FROM dead_letters WHERE id = $1 RETURNING id, consumer, event_type")
        .bind(id.to_string())
        .fetch_all(db.write_pool())
        .await
        .map_err(db_error)?;
    rows.first().map(purged_from_row).transpose()
}

/// Deletes every dead letter, or those of `consumer` only, without replaying them, in one
/// statement (a letter filed meanwhile is either purged or kept, never half).
pub async fn purge_all(db: &Db, consumer: Option<&str>) -> Result<Vec<Purged>, Error> {
    let query = match consumer {
        Some(consumer) => {
            sqlx::query("DELETE FROM dead_letters WHERE consumer = $1 RETURNING id, consumer, event_type")
                .bind(consumer)
        }
        None => sqlx::query("DELETE FROM dead_letters RETURNING id, consumer, event_type"),
    };
    let rows = query.fetch_all(db.write_pool()).await.map_err(db_error)?;
    rows.iter().map(purged_from_row).collect()
}

fn purged_from_row(row: &AnyRow) -> Result<Purged, Error> {
    let get = |col: &str| row.try_get::<String, _>(col).map_err(db_error);
    Ok(Purged { id: uuid_from_db(&get("id")?)?, consumer: get("consumer")?, event_type: get("event_type")? })
}

fn from_row(row: &AnyRow) -> Result<DeadLetter, Error> {
    let get = |col: &str| row.try_get::<String, _>(col).map_err(db_error);
    Ok(DeadLetter {
        id: uuid_from_db(&get("id")?)?,
        consumer: get("consumer")?,
        event: serde_json::from_str(&get("envelope")?).map_err(|e| Error::internal(e.to_string()))?,
        error: get("error")?,
        attempts: row.try_get("attempts").map_err(db_error)?,
        failed_at: time::from_db(&get("failed_at")?)?,
    })
}
