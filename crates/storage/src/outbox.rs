//! Reading the outbox for the relay: pending events in creation order, marked once published.

use comptoir_kernel::{Error, EventEnvelope, time};
use sqlx::Row;

use crate::{Db, db_error};

/// Up to `limit` events not yet published, oldest first.
pub async fn pending(db: &Db, limit: i64) -> Result<Vec<EventEnvelope>, Error> {
    let rows = sqlx::query("SELECT envelope FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1")
        .bind(limit)
        .fetch_all(db.reader())
        .await
        .map_err(db_error)?;
    rows.iter()
        .map(|row| {
            let text: String = row.try_get("envelope").map_err(db_error)?;
            serde_json::from_str(&text).map_err(|e| Error::internal(format!("outbox row is not an envelope: {e}")))
        })
        .collect()
}

/// Marks a batch of relayed events as published, in one statement.
pub async fn mark_published(db: &Db, events: &[EventEnvelope]) -> Result<(), Error> {
    if events.is_empty() {
        return Ok(());
    }
    let placeholders: Vec<String> = (2..events.len() + 2).map(|i| format!("${i}")).collect();
    let sql = format!("UPDATE outbox SET published_at = $1 WHERE id IN ({})", placeholders.join(", "));
    let mut statement = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(time::to_db(&time::now()));
    for event in events {
        statement = statement.bind(event.id.to_string());
    }
    statement.execute(db.write_pool()).await.map_err(db_error)?;
    Ok(())
}

/// Events written but not yet published, and the creation time of the oldest.
pub async fn backlog(db: &Db) -> Result<(i64, Option<String>), Error> {
    let row = sqlx::query("SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox WHERE published_at IS NULL")
        .fetch_one(db.reader())
        .await
        .map_err(db_error)?;
    Ok((row.try_get("n").map_err(db_error)?, row.try_get("oldest").map_err(db_error)?))
}

/// What an outbox holds, for operators: events waiting for the relay and published ones still kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxStatus {
    pub pending: u64,
    /// When the oldest event still waiting was written; None when nothing waits.
    pub oldest_pending_at: Option<time::Timestamp>,
    /// Published events kept for inspection until the relay prunes them.
    pub published_kept: u64,
}

/// The outbox's backlog and what it keeps, in one read.
pub async fn status(db: &Db) -> Result<OutboxStatus, Error> {
    let row = sqlx::query(
        "SELECT SUM(CASE WHEN published_at IS NULL THEN 1 ELSE 0 END) AS pending, \
                SUM(CASE WHEN published_at IS NULL THEN 0 ELSE 1 END) AS published, \
                MIN(CASE WHEN published_at IS NULL THEN created_at END) AS oldest \
         FROM outbox",
    )
    .fetch_one(db.reader())
    .await
    .map_err(db_error)?;
    // SUM over no rows is NULL.
    let count = |column: &str| -> Result<u64, Error> {
        Ok(row.try_get::<Option<i64>, _>(column).map_err(db_error)?.unwrap_or(0).max(0) as u64)
    };
    let oldest: Option<String> = row.try_get("oldest").map_err(db_error)?;
    Ok(OutboxStatus {
        pending: count("pending")?,
        oldest_pending_at: oldest.as_deref().map(time::from_db).transpose()?,
        published_kept: count("published")?,
    })
}

/// Deletes published events older than `keep`, so the outbox does not grow forever.
pub async fn prune(db: &Db, keep: std::time::Duration) -> Result<u64, Error> {
    let cutoff = time::now() - chrono_duration(keep);
    let done = sqlx::query("DELETE FROM outbox WHERE published_at IS NOT NULL AND published_at < $1")
        .bind(time::to_db(&cutoff))
        .execute(db.write_pool())
        .await
        .map_err(db_error)?;
    Ok(done.rows_affected())
}

fn chrono_duration(d: std::time::Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(d).unwrap_or(chrono::TimeDelta::MAX)
}
