//! The SQL of the webhooks module. Every function runs on the connection it is given: a unit of
//! work's for writes and the reads that decide them, a reader's otherwise.

use comptoir_contracts::webhooks::{Delivery, DeliveryAttempt, DeliveryStatus, Subscription};
use comptoir_kernel::time::Timestamp;
use comptoir_kernel::{Error, PageRequest, Result, time};
use comptoir_storage::listing::filtered_page;
use comptoir_storage::row::{flag, id, int, optional_text, optional_timestamp, text, timestamp};
use comptoir_storage::{AnyRow, Row, db_error, query};
use sqlx::AnyConnection;
use uuid::Uuid;

use crate::domain;

fn status_to_db(status: DeliveryStatus) -> &'static str {
    match status {
        DeliveryStatus::Pending => "pending",
        DeliveryStatus::Delivered => "delivered",
        DeliveryStatus::Failed => "failed",
    }
}

fn status_from_db(value: &str) -> Result<DeliveryStatus> {
    match value {
        "pending" => Ok(DeliveryStatus::Pending),
        "delivered" => Ok(DeliveryStatus::Delivered),
        "failed" => Ok(DeliveryStatus::Failed),
        other => Err(Error::internal(format!("unknown delivery status {other:?} in the database"))),
    }
}

fn optional_int(row: &AnyRow, column: &str) -> Result<Option<i64>> {
    row.try_get::<Option<i64>, _>(column).map_err(db_error)
}

fn count(value: i64) -> u32 {
    value.clamp(0, u32::MAX as i64) as u32
}

fn http_status(value: Option<i64>) -> Option<u16> {
    value.and_then(|code| u16::try_from(code).ok())
}

fn ts(value: &Timestamp) -> String {
    time::to_db(value)
}

fn opt_ts(value: Option<&Timestamp>) -> Option<String> {
    value.map(time::to_db)
}

// ---- Subscriptions ---------------------------------------------------------------------------

/// A subscription as stored: the contract's view and the secrets that sign its deliveries.
#[derive(Debug, Clone)]
pub struct StoredSubscription {
    pub subscription: Subscription,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<Timestamp>,
}

const SUBSCRIPTION_COLUMNS: &str = "id, url, patterns, description, CAST(enabled AS INTEGER) AS enabled, secret, \
     previous_secret, previous_secret_expires_at, consecutive_failures, failing_since, disabled_reason, \
     created_at, updated_at";

fn patterns_from_db(value: &str) -> Result<Vec<String>> {
    serde_json::from_str(value).map_err(|e| Error::internal(format!("stored patterns {value:?} are not a list: {e}")))
}

fn patterns_to_db(patterns: &[String]) -> String {
    serde_json::Value::from(patterns.to_vec()).to_string()
}

fn subscription_from_row(row: &AnyRow) -> Result<StoredSubscription> {
    let secret = text(row, "secret")?;
    Ok(StoredSubscription {
        subscription: Subscription {
            id: id(row, "id")?,
            url: text(row, "url")?,
            patterns: patterns_from_db(&text(row, "patterns")?)?,
            description: text(row, "description")?,
            enabled: flag(row, "enabled")?,
            secret_hint: domain::secret_hint(&secret),
            consecutive_failures: count(int(row, "consecutive_failures")?),
            failing_since: optional_timestamp(row, "failing_since")?,
            disabled_reason: optional_text(row, "disabled_reason")?,
            created_at: timestamp(row, "created_at")?,
            updated_at: timestamp(row, "updated_at")?,
        },
        secret,
        previous_secret: optional_text(row, "previous_secret")?,
        previous_secret_expires_at: optional_timestamp(row, "previous_secret_expires_at")?,
    })
}

pub async fn insert_subscription(c: &mut AnyConnection, s: &StoredSubscription) -> Result<()> {
    let sub = &s.subscription;
    query(
        "INSERT INTO subscriptions (id, url, patterns, description, enabled, secret, previous_secret, \
             previous_secret_expires_at, consecutive_failures, failing_since, disabled_reason, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(sub.id.to_string())
    .bind(&sub.url)
    .bind(patterns_to_db(&sub.patterns))
    .bind(&sub.description)
    .bind(sub.enabled)
    .bind(&s.secret)
    .bind(s.previous_secret.as_deref())
    .bind(opt_ts(s.previous_secret_expires_at.as_ref()))
    .bind(sub.consecutive_failures as i64)
    .bind(opt_ts(sub.failing_since.as_ref()))
    .bind(sub.disabled_reason.as_deref())
    .bind(ts(&sub.created_at))
    .bind(ts(&sub.updated_at))
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Writes every field a staff change or a rotation may touch.
pub async fn save_subscription(c: &mut AnyConnection, s: &StoredSubscription) -> Result<()> {
    let sub = &s.subscription;
    query(
        "UPDATE subscriptions SET url = $2, patterns = $3, description = $4, enabled = $5, secret = $6, \
             previous_secret = $7, previous_secret_expires_at = $8, consecutive_failures = $9, failing_since = $10, \
             disabled_reason = $11, updated_at = $12 \
         WHERE id = $1",
    )
    .bind(sub.id.to_string())
    .bind(&sub.url)
    .bind(patterns_to_db(&sub.patterns))
    .bind(&sub.description)
    .bind(sub.enabled)
    .bind(&s.secret)
    .bind(s.previous_secret.as_deref())
    .bind(opt_ts(s.previous_secret_expires_at.as_ref()))
    .bind(sub.consecutive_failures as i64)
    .bind(opt_ts(sub.failing_since.as_ref()))
    .bind(sub.disabled_reason.as_deref())
    .bind(ts(&sub.updated_at))
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Takes the subscription's row lock until the unit of work ends, so that changes to one
/// subscription (staff edits, delivery outcomes) run one after the other: SQLite serialises writers
/// already, PostgreSQL does not. A no-op UPDATE because SQLite has no `SELECT ... FOR UPDATE`.
/// Answers whether the subscription exists.
pub async fn lock_subscription(c: &mut AnyConnection, id: Uuid) -> Result<bool> {
    let done = query("UPDATE subscriptions SET updated_at = updated_at WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *c)
        .await
        .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

pub async fn subscription(c: &mut AnyConnection, id: Uuid) -> Result<Option<StoredSubscription>> {
    let sql = format!("SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = $1");
    let row = query(sqlx::AssertSqlSafe(sql)).bind(id.to_string()).fetch_optional(c).await.map_err(db_error)?;
    row.as_ref().map(subscription_from_row).transpose()
}

/// A page of subscriptions, newest first, and how many there are.
pub async fn subscriptions(c: &mut AnyConnection, page: PageRequest) -> Result<(Vec<Subscription>, u64)> {
    let (rows, total) =
        filtered_page(c, SUBSCRIPTION_COLUMNS, "subscriptions", &[], "created_at DESC, id DESC", page).await?;
    let items = rows.iter().map(|row| subscription_from_row(row).map(|s| s.subscription)).collect::<Result<_>>()?;
    Ok((items, total))
}

/// The enabled subscriptions' ids and patterns: the consumer matches events against them.
pub async fn enabled_subscriptions(c: &mut AnyConnection) -> Result<Vec<(Uuid, Vec<String>)>> {
    let rows = query("SELECT id, patterns FROM subscriptions WHERE enabled = $1 ORDER BY id")
        .bind(true)
        .fetch_all(c)
        .await
        .map_err(db_error)?;
    rows.iter().map(|row| Ok((id(row, "id")?, patterns_from_db(&text(row, "patterns")?)?))).collect()
}

/// Deletes a subscription with its deliveries and their attempts.
pub async fn delete_subscription(c: &mut AnyConnection, id: Uuid) -> Result<()> {
    let id = id.to_string();
    for sql in [
        "DELETE FROM delivery_attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE subscription_id = $1)",
        "DELETE FROM deliveries WHERE subscription_id = $1",
        "DELETE FROM subscriptions WHERE id = $1",
    ] {
        query(sql).bind(&id).execute(&mut *c).await.map_err(db_error)?;
    }
    Ok(())
}

/// A subscription's failure record after an attempt's outcome was counted.
#[derive(Debug, Clone)]
pub struct FailureRecord {
    pub url: String,
    pub enabled: bool,
    pub consecutive_failures: u32,
    pub failing_since: Option<Timestamp>,
}

/// Counts an attempt's outcome: a success clears the failure record, a failure extends it. Locks
/// the subscription's row. `None` if the subscription is gone.
pub async fn count_outcome(
    c: &mut AnyConnection,
    id: Uuid,
    succeeded: bool,
    now: &Timestamp,
) -> Result<Option<FailureRecord>> {
    const RETURNING: &str = " RETURNING url, CAST(enabled AS INTEGER) AS enabled, consecutive_failures, failing_since";
    let row = if succeeded {
        let sql =
            format!("UPDATE subscriptions SET consecutive_failures = 0, failing_since = NULL WHERE id = $1{RETURNING}");
        query(sqlx::AssertSqlSafe(sql)).bind(id.to_string()).fetch_optional(c).await
    } else {
        let sql = format!(
            "UPDATE subscriptions SET consecutive_failures = consecutive_failures + 1, \
                 failing_since = COALESCE(failing_since, $2) WHERE id = $1{RETURNING}"
        );
        query(sqlx::AssertSqlSafe(sql)).bind(id.to_string()).bind(ts(now)).fetch_optional(c).await
    }
    .map_err(db_error)?;
    row.map(|row| {
        Ok(FailureRecord {
            url: text(&row, "url")?,
            enabled: flag(&row, "enabled")?,
            consecutive_failures: count(int(&row, "consecutive_failures")?),
            failing_since: optional_timestamp(&row, "failing_since")?,
        })
    })
    .transpose()
}

/// Disables an enabled subscription; `false` if it was not enabled (disabled already, or gone).
pub async fn disable(c: &mut AnyConnection, id: Uuid, reason: &str, now: &Timestamp) -> Result<bool> {
    let done = query(
        "UPDATE subscriptions SET enabled = $2, disabled_reason = $3, updated_at = $4 WHERE id = $1 AND enabled = $5",
    )
    .bind(id.to_string())
    .bind(false)
    .bind(reason)
    .bind(ts(now))
    .bind(true)
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

/// Stops a subscription's pending deliveries: they are failed with `reason` and never retried
/// (staff may still redeliver them one by one).
pub async fn fail_pending(c: &mut AnyConnection, subscription_id: Uuid, reason: &str, now: &Timestamp) -> Result<u64> {
    let done = query(
        "UPDATE deliveries SET status = 'failed', next_attempt_at = NULL, last_error = $2, updated_at = $3 \
         WHERE subscription_id = $1 AND status = 'pending'",
    )
    .bind(subscription_id.to_string())
    .bind(reason)
    .bind(ts(now))
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected())
}

// ---- Deliveries ------------------------------------------------------------------------------

const DELIVERY_COLUMNS: &str = "id, subscription_id, event_id, event_type, status, attempts, scheduled_attempts, \
     next_attempt_at, last_response_code, last_error, created_at, delivered_at";

/// A delivery as stored: the contract's view, where the retry schedule stands, and the body.
#[derive(Debug, Clone)]
pub struct StoredDelivery {
    pub delivery: Delivery,
    pub scheduled_attempts: u32,
}

fn delivery_from_row(row: &AnyRow) -> Result<StoredDelivery> {
    Ok(StoredDelivery {
        delivery: Delivery {
            id: id(row, "id")?,
            subscription_id: id(row, "subscription_id")?,
            event_id: id(row, "event_id")?,
            event_type: text(row, "event_type")?,
            status: status_from_db(&text(row, "status")?)?,
            attempts: count(int(row, "attempts")?),
            next_attempt_at: optional_timestamp(row, "next_attempt_at")?,
            last_response_code: http_status(optional_int(row, "last_response_code")?),
            last_error: optional_text(row, "last_error")?,
            created_at: timestamp(row, "created_at")?,
            delivered_at: optional_timestamp(row, "delivered_at")?,
        },
        scheduled_attempts: count(int(row, "scheduled_attempts")?),
    })
}

/// A new pending delivery, due at once. `false` if the event already has one for the subscription.
pub async fn insert_delivery(
    c: &mut AnyConnection,
    id: Uuid,
    subscription_id: Uuid,
    event_id: Uuid,
    event_type: &str,
    payload: &str,
    now: &Timestamp,
) -> Result<bool> {
    let done = query(
        "INSERT INTO deliveries (id, subscription_id, event_id, event_type, payload, status, attempts, \
             scheduled_attempts, next_attempt_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'pending', 0, 0, $6, $6, $6) \
         ON CONFLICT (subscription_id, event_id) DO NOTHING",
    )
    .bind(id.to_string())
    .bind(subscription_id.to_string())
    .bind(event_id.to_string())
    .bind(event_type)
    .bind(payload)
    .bind(ts(now))
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

pub async fn delivery(c: &mut AnyConnection, id: Uuid) -> Result<Option<(StoredDelivery, String)>> {
    let sql = format!("SELECT {DELIVERY_COLUMNS}, payload FROM deliveries WHERE id = $1");
    let row = query(sqlx::AssertSqlSafe(sql)).bind(id.to_string()).fetch_optional(c).await.map_err(db_error)?;
    row.map(|row| Ok((delivery_from_row(&row)?, text(&row, "payload")?))).transpose()
}

/// A page of a subscription's deliveries, newest first, and how many match.
pub async fn deliveries(
    c: &mut AnyConnection,
    subscription_id: Uuid,
    status: Option<DeliveryStatus>,
    page: PageRequest,
) -> Result<(Vec<Delivery>, u64)> {
    let subscription_id = subscription_id.to_string();
    let (rows, total) = filtered_page(
        c,
        DELIVERY_COLUMNS,
        "deliveries",
        &[("subscription_id", Some(&subscription_id)), ("status", status.map(status_to_db))],
        "created_at DESC, id DESC",
        page,
    )
    .await?;
    let items = rows.iter().map(|row| delivery_from_row(row).map(|d| d.delivery)).collect::<Result<_>>()?;
    Ok((items, total))
}

pub async fn attempts(c: &mut AnyConnection, delivery_id: Uuid) -> Result<Vec<DeliveryAttempt>> {
    let rows = query(
        "SELECT number, CAST(manual AS INTEGER) AS manual, attempted_at, duration_ms, response_code, response_body, \
             error, CAST(succeeded AS INTEGER) AS succeeded \
         FROM delivery_attempts WHERE delivery_id = $1 ORDER BY number",
    )
    .bind(delivery_id.to_string())
    .fetch_all(c)
    .await
    .map_err(db_error)?;
    rows.iter()
        .map(|row| {
            Ok(DeliveryAttempt {
                number: count(int(row, "number")?),
                manual: flag(row, "manual")?,
                attempted_at: timestamp(row, "attempted_at")?,
                duration_ms: int(row, "duration_ms")?.max(0) as u64,
                response_code: http_status(optional_int(row, "response_code")?),
                response_body: optional_text(row, "response_body")?,
                error: optional_text(row, "error")?,
                succeeded: flag(row, "succeeded")?,
            })
        })
        .collect()
}

/// Up to `limit` deliveries due now, of enabled subscriptions and not held by a dispatcher,
/// the longest waiting first. Only candidates: [`claim`] decides.
pub async fn due(c: &mut AnyConnection, now: &Timestamp, limit: i64) -> Result<Vec<Uuid>> {
    let rows = query(
        "SELECT d.id FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id \
         WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND (d.leased_until IS NULL OR d.leased_until <= $1) \
             AND s.enabled = $2 \
         ORDER BY d.next_attempt_at, d.id LIMIT $3",
    )
    .bind(ts(now))
    .bind(true)
    .bind(limit)
    .fetch_all(c)
    .await
    .map_err(db_error)?;
    rows.iter().map(|row| id(row, "id")).collect()
}

/// When the next pending delivery of an enabled subscription falls due (or its lease ends).
pub async fn next_due(c: &mut AnyConnection) -> Result<Option<Timestamp>> {
    let row = query(
        "SELECT MIN(CASE WHEN d.leased_until IS NOT NULL AND d.leased_until > d.next_attempt_at \
                    THEN d.leased_until ELSE d.next_attempt_at END) AS due \
         FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id \
         WHERE d.status = 'pending' AND s.enabled = $1",
    )
    .bind(true)
    .fetch_one(c)
    .await
    .map_err(db_error)?;
    optional_timestamp(&row, "due")
}

/// Leases a delivery to one dispatcher until `until`, with `token` to prove it when recording the
/// outcome. The conditional UPDATE is the claim: of two dispatchers (or a dispatcher and a manual
/// redelivery) racing for the same delivery, one changes the row and the other finds it leased;
/// PostgreSQL re-checks the condition after waiting for the winner's row lock. `scheduled`: only
/// if it is pending, due and its subscription enabled (a manual redelivery takes it in any state).
pub async fn claim(
    c: &mut AnyConnection,
    id: Uuid,
    token: Uuid,
    now: &Timestamp,
    until: &Timestamp,
    scheduled: bool,
) -> Result<bool> {
    let claimed = query(if scheduled {
        "UPDATE deliveries SET lease_token = $1, leased_until = $2 \
         WHERE id = $3 AND (leased_until IS NULL OR leased_until <= $4) \
             AND status = 'pending' AND next_attempt_at <= $4 \
             AND subscription_id IN (SELECT id FROM subscriptions WHERE enabled = $5)"
    } else {
        "UPDATE deliveries SET lease_token = $1, leased_until = $2 \
         WHERE id = $3 AND (leased_until IS NULL OR leased_until <= $4)"
    })
    .bind(token.to_string())
    .bind(ts(until))
    .bind(id.to_string())
    .bind(ts(now));
    let done = if scheduled { claimed.bind(true) } else { claimed }.execute(c).await.map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

/// Gives a lease back without recording anything (the attempt could not be made).
pub async fn release(c: &mut AnyConnection, id: Uuid, token: Uuid) -> Result<()> {
    query("UPDATE deliveries SET lease_token = NULL, leased_until = NULL WHERE id = $1 AND lease_token = $2")
        .bind(id.to_string())
        .bind(token.to_string())
        .execute(c)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// What a leased delivery is sent with: its body and where to, with the secrets that sign it.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub delivery: StoredDelivery,
    pub payload: String,
    pub url: String,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<Timestamp>,
}

pub async fn outgoing(c: &mut AnyConnection, id: Uuid) -> Result<Option<Outgoing>> {
    let row = query(
        "SELECT d.id, d.subscription_id, d.event_id, d.event_type, d.status, d.attempts, d.scheduled_attempts, \
             d.next_attempt_at, d.last_response_code, d.last_error, d.created_at, d.delivered_at, d.payload, \
             s.url, s.secret, s.previous_secret, s.previous_secret_expires_at \
         FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id WHERE d.id = $1",
    )
    .bind(id.to_string())
    .fetch_optional(c)
    .await
    .map_err(db_error)?;
    row.map(|row| {
        Ok(Outgoing {
            delivery: delivery_from_row(&row)?,
            payload: text(&row, "payload")?,
            url: text(&row, "url")?,
            secret: text(&row, "secret")?,
            previous_secret: optional_text(&row, "previous_secret")?,
            previous_secret_expires_at: optional_timestamp(&row, "previous_secret_expires_at")?,
        })
    })
    .transpose()
}

pub async fn insert_attempt(c: &mut AnyConnection, delivery_id: Uuid, a: &DeliveryAttempt) -> Result<()> {
    query(
        "INSERT INTO delivery_attempts (delivery_id, number, manual, attempted_at, duration_ms, response_code, \
             response_body, error, succeeded) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(delivery_id.to_string())
    .bind(a.number as i64)
    .bind(a.manual)
    .bind(ts(&a.attempted_at))
    .bind(a.duration_ms.min(i64::MAX as u64) as i64)
    .bind(a.response_code.map(i64::from))
    .bind(a.response_body.as_deref())
    .bind(a.error.as_deref())
    .bind(a.succeeded)
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Records where a delivery stands after an attempt and gives its lease back. `false` if the lease
/// was lost meanwhile (the delivery was deleted, or the lease expired and another dispatcher took
/// it): the caller must then record nothing.
pub async fn finish(c: &mut AnyConnection, d: &StoredDelivery, token: Uuid, now: &Timestamp) -> Result<bool> {
    let delivery = &d.delivery;
    let done = query(
        "UPDATE deliveries SET status = $3, attempts = $4, scheduled_attempts = $5, next_attempt_at = $6, \
             last_response_code = $7, last_error = $8, delivered_at = $9, updated_at = $10, \
             lease_token = NULL, leased_until = NULL \
         WHERE id = $1 AND lease_token = $2",
    )
    .bind(delivery.id.to_string())
    .bind(token.to_string())
    .bind(status_to_db(delivery.status))
    .bind(delivery.attempts as i64)
    .bind(d.scheduled_attempts as i64)
    .bind(opt_ts(delivery.next_attempt_at.as_ref()))
    .bind(delivery.last_response_code.map(i64::from))
    .bind(delivery.last_error.as_deref())
    .bind(opt_ts(delivery.delivered_at.as_ref()))
    .bind(ts(now))
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}
