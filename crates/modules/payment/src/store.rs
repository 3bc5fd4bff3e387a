//! The SQL of the payment module. Every function runs on the connection it is given: a unit of
//! work's for writes and the reads that decide them, a reader's otherwise.

use comptoir_storage::row::{int, optional_text, placeholders, text, timestamp};
use std::collections::HashMap;

use comptoir_contracts::payment::{Payment, Refund};
use comptoir_kernel::{Currency, Error, Money, PageRequest, Result, time};
use comptoir_storage::{AnyRow, db_error, query, query_scalar, uuid_from_db};
use sqlx::{AnyConnection, AssertSqlSafe};
use uuid::Uuid;

use crate::domain::{self, PriorRefund};

const PAYMENT_COLUMNS: &str = "id, order_id, provider, provider_reference, status, currency, amount, captured, \
                               refunded, decline_reason, created_at, updated_at";

fn currency(row: &AnyRow) -> Result<Currency> {
    let code = text(row, "currency")?;
    code.parse().map_err(|e| Error::internal(format!("stored currency: {e}")))
}

// ---- Payments ------------------------------------------------------------------------------

/// Fails with the database error so that the caller can tell a key already used.
pub async fn insert_payment(
    c: &mut AnyConnection,
    p: &Payment,
    customer_id: Option<Uuid>,
    idempotency_key: &str,
) -> Result<(), sqlx::Error> {
    query(
        "INSERT INTO payments (id, order_id, customer_id, provider, provider_reference, status, currency, amount, \
             captured, refunded, decline_reason, idempotency_key, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(p.id.to_string())
    .bind(p.order_id.to_string())
    .bind(customer_id.map(|id| id.to_string()))
    .bind(&p.provider)
    .bind(p.provider_reference.as_deref())
    .bind(domain::status_to_db(p.status))
    .bind(p.amount.currency.code())
    .bind(p.amount.amount)
    .bind(p.captured.amount)
    .bind(p.refunded.amount)
    .bind(p.decline_reason.as_deref())
    .bind(idempotency_key)
    .bind(time::to_db(&p.created_at))
    .bind(time::to_db(&p.updated_at))
    .execute(c)
    .await
    .map(|_| ())
}

fn payment_from_row(row: &AnyRow) -> Result<Payment> {
    let currency = currency(row)?;
    Ok(Payment {
        id: uuid_from_db(&text(row, "id")?)?,
        order_id: uuid_from_db(&text(row, "order_id")?)?,
        provider: text(row, "provider")?,
        provider_reference: optional_text(row, "provider_reference")?,
        status: domain::status_from_db(&text(row, "status")?)?,
        amount: Money::new(int(row, "amount")?, currency),
        captured: Money::new(int(row, "captured")?, currency),
        refunded: Money::new(int(row, "refunded")?, currency),
        decline_reason: optional_text(row, "decline_reason")?,
        refunds: vec![],
        created_at: timestamp(row, "created_at")?,
        updated_at: timestamp(row, "updated_at")?,
    })
}

/// Reads payment rows, then their refunds in one more query.
async fn with_refunds(c: &mut AnyConnection, rows: &[AnyRow]) -> Result<Vec<Payment>> {
    let mut payments = rows.iter().map(payment_from_row).collect::<Result<Vec<_>>>()?;
    if payments.is_empty() {
        return Ok(payments);
    }
    let sql = format!(
        "SELECT id, payment_id, currency, amount, reason, created_at FROM refunds WHERE payment_id IN ({}) \
         ORDER BY created_at, id",
        placeholders(1, payments.len())
    );
    let mut q = query(AssertSqlSafe(sql));
    for p in &payments {
        q = q.bind(p.id.to_string());
    }
    let mut by_payment: HashMap<Uuid, Vec<Refund>> = HashMap::new();
    for row in q.fetch_all(c).await.map_err(db_error)? {
        let refund = Refund {
            id: uuid_from_db(&text(&row, "id")?)?,
            amount: Money::new(int(&row, "amount")?, currency(&row)?),
            reason: optional_text(&row, "reason")?,
            created_at: timestamp(&row, "created_at")?,
        };
        by_payment.entry(uuid_from_db(&text(&row, "payment_id")?)?).or_default().push(refund);
    }
    for p in &mut payments {
        p.refunds = by_payment.remove(&p.id).unwrap_or_default();
    }
    Ok(payments)
}

async fn payment_where(c: &mut AnyConnection, condition: &'static str, values: &[&str]) -> Result<Option<Payment>> {
    let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE {condition}");
    let mut q = query(AssertSqlSafe(sql));
    for v in values {
        q = q.bind(*v);
    }
    let Some(row) = q.fetch_optional(&mut *c).await.map_err(db_error)? else { return Ok(None) };
    Ok(with_refunds(c, &[row]).await?.pop())
}

pub async fn payment(c: &mut AnyConnection, id: Uuid) -> Result<Option<Payment>> {
    payment_where(c, "id = $1", &[&id.to_string()]).await
}

pub async fn payment_by_key(c: &mut AnyConnection, idempotency_key: &str) -> Result<Option<Payment>> {
    payment_where(c, "idempotency_key = $1", &[idempotency_key]).await
}

/// The payment a provider names by its charge reference.
pub async fn payment_by_reference(c: &mut AnyConnection, provider: &str, reference: &str) -> Result<Option<Payment>> {
    payment_where(c, "provider = $1 AND provider_reference = $2", &[provider, reference]).await
}

/// An order's payments, oldest first.
pub async fn payments_for_order(c: &mut AnyConnection, order_id: Uuid) -> Result<Vec<Payment>> {
    let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE order_id = $1 ORDER BY created_at, id");
    let rows = query(AssertSqlSafe(sql)).bind(order_id.to_string()).fetch_all(&mut *c).await.map_err(db_error)?;
    with_refunds(c, &rows).await
}

/// All payments, newest first.
pub async fn list_payments(c: &mut AnyConnection, page: PageRequest) -> Result<(Vec<Payment>, u64)> {
    let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2");
    let rows =
        query(AssertSqlSafe(sql)).bind(page.limit()).bind(page.offset()).fetch_all(&mut *c).await.map_err(db_error)?;
    let total: i64 = query_scalar("SELECT COUNT(*) FROM payments").fetch_one(&mut *c).await.map_err(db_error)?;
    Ok((with_refunds(c, &rows).await?, total as u64))
}

/// Counts `amount` more as refunded if the payment is refundable and that stays within what was
/// captured. The condition is in the UPDATE itself, so concurrent refunds can never give back more
/// than was captured, on any backend; `false` if refused.
pub async fn add_refunded(c: &mut AnyConnection, payment_id: Uuid, amount: i64) -> Result<bool> {
    let done = query(
        "UPDATE payments SET refunded = refunded + $1, \
             status = CASE WHEN refunded + $1 = captured THEN 'refunded' ELSE 'partially_refunded' END, \
             updated_at = $2 \
         WHERE id = $3 AND status IN ('captured', 'partially_refunded') AND refunded + $1 <= captured",
    )
    .bind(amount)
    .bind(time::to_db(&time::now()))
    .bind(payment_id.to_string())
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

// ---- Refunds -------------------------------------------------------------------------------

/// Fails with the database error so that the caller can tell a key already used.
pub async fn insert_refund(
    c: &mut AnyConnection,
    payment_id: Uuid,
    refund: &Refund,
    idempotency_key: Option<&str>,
    provider_reference: Option<&str>,
) -> Result<(), sqlx::Error> {
    query(
        "INSERT INTO refunds (id, payment_id, currency, amount, reason, idempotency_key, provider_reference, \
             created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(refund.id.to_string())
    .bind(payment_id.to_string())
    .bind(refund.amount.currency.code())
    .bind(refund.amount.amount)
    .bind(refund.reason.as_deref())
    .bind(idempotency_key)
    .bind(provider_reference)
    .bind(time::to_db(&refund.created_at))
    .execute(c)
    .await
    .map(|_| ())
}

/// The refund made under an idempotency key, if any.
pub async fn refund_by_key(c: &mut AnyConnection, idempotency_key: &str) -> Result<Option<PriorRefund>> {
    let row = query("SELECT payment_id, currency, amount FROM refunds WHERE idempotency_key = $1")
        .bind(idempotency_key)
        .fetch_optional(c)
        .await
        .map_err(db_error)?;
    row.map(|row| {
        Ok(PriorRefund {
            payment_id: uuid_from_db(&text(&row, "payment_id")?)?,
            amount: Money::new(int(&row, "amount")?, currency(&row)?),
        })
    })
    .transpose()
}

/// Whether a refund of this payment carries this provider reference (Comptoir made it).
pub async fn has_provider_refund(c: &mut AnyConnection, payment_id: Uuid, provider_reference: &str) -> Result<bool> {
    let found = query_scalar::<_, String>("SELECT id FROM refunds WHERE payment_id = $1 AND provider_reference = $2")
        .bind(payment_id.to_string())
        .bind(provider_reference)
        .fetch_optional(c)
        .await
        .map_err(db_error)?;
    Ok(found.is_some())
}

// ---- Webhook events ------------------------------------------------------------------------

/// Records a provider's webhook event as handled; `false` if it was handled before.
pub async fn claim_webhook_event(
    c: &mut AnyConnection,
    provider: &str,
    event_id: &str,
    event_type: &str,
) -> Result<bool> {
    let done = query(
        "INSERT INTO webhook_events (provider, event_id, event_type, received_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING",
    )
    .bind(provider)
    .bind(event_id)
    .bind(event_type)
    .bind(time::to_db(&time::now()))
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}
