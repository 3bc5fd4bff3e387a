//! The SQL of the billing module. Every function runs on the connection it is given: a unit of
//! work's for writes and the reads that decide them, a reader's otherwise.

use comptoir_storage::row::{flag, int, optional_text, placeholders, text, timestamp};
use std::collections::HashMap;

use comptoir_contracts::billing::{CreditNote, Invoice, InvoiceLine, InvoiceStatus, Party, TaxRule, TaxSummaryLine};
use comptoir_kernel::{Currency, Error, Money, PageRequest, Result, time};
use comptoir_storage::{AnyRow, db_error, query, query_scalar, uuid_from_db};
use sqlx::{AnyConnection, AssertSqlSafe};
use uuid::Uuid;

use crate::domain::{self, TaxRuleDraft};

fn currency(row: &AnyRow) -> Result<Currency> {
    let code = text(row, "currency")?;
    code.parse().map_err(|e| Error::internal(format!("stored currency: {e}")))
}

fn json<T: serde::de::DeserializeOwned>(row: &AnyRow, column: &str) -> Result<T> {
    serde_json::from_str(&text(row, column)?).map_err(|e| Error::internal(format!("stored {column}: {e}")))
}

fn to_json(value: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::internal(format!("not serialisable: {e}")))
}

// ---- Tax rules -----------------------------------------------------------------------------

fn tax_rule(row: &AnyRow) -> Result<TaxRule> {
    Ok(TaxRule {
        id: uuid_from_db(&text(row, "id")?)?,
        country: text(row, "country")?,
        region: optional_text(row, "region")?,
        rate: domain::parse_rate(&text(row, "rate")?)?,
        label: text(row, "label")?,
        created_at: timestamp(row, "created_at")?,
    })
}

/// Fails with the database error so that the caller can tell a duplicate place.
pub async fn insert_tax_rule(c: &mut AnyConnection, rule: &TaxRule, draft: &TaxRuleDraft) -> Result<(), sqlx::Error> {
    query(
        "INSERT INTO tax_rules (id, country, region, region_key, rate, label, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(rule.id.to_string())
    .bind(&draft.country)
    .bind(draft.region.as_deref())
    .bind(&draft.region_key)
    .bind(draft.rate.to_string())
    .bind(&draft.label)
    .bind(time::to_db(&rule.created_at))
    .execute(c)
    .await
    .map(|_| ())
}

pub async fn list_tax_rules(c: &mut AnyConnection, page: PageRequest) -> Result<(Vec<TaxRule>, u64)> {
    let rows = query("SELECT * FROM tax_rules ORDER BY country, region_key LIMIT $1 OFFSET $2")
        .bind(page.limit())
        .bind(page.offset())
        .fetch_all(&mut *c)
        .await
        .map_err(db_error)?;
    let total: i64 = query_scalar("SELECT COUNT(*) FROM tax_rules").fetch_one(c).await.map_err(db_error)?;
    Ok((rows.iter().map(tax_rule).collect::<Result<_>>()?, total as u64))
}

/// Every rule of a country, country-wide and regional.
pub async fn country_rules(c: &mut AnyConnection, country: &str) -> Result<Vec<TaxRule>> {
    let rows = query("SELECT * FROM tax_rules WHERE country = $1 ORDER BY region_key")
        .bind(country)
        .fetch_all(c)
        .await
        .map_err(db_error)?;
    rows.iter().map(tax_rule).collect()
}

pub async fn delete_tax_rule(c: &mut AnyConnection, id: Uuid) -> Result<bool> {
    let done = query("DELETE FROM tax_rules WHERE id = $1").bind(id.to_string()).execute(c).await.map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

// ---- Channels ------------------------------------------------------------------------------

pub async fn set_channel_mode(c: &mut AnyConnection, channel: &str, prices_include_tax: bool) -> Result<()> {
    query(
        "INSERT INTO channel_tax_modes (channel, prices_include_tax, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (channel) DO UPDATE SET prices_include_tax = excluded.prices_include_tax, \
             updated_at = excluded.updated_at",
    )
    .bind(channel)
    .bind(prices_include_tax)
    .bind(time::to_db(&time::now()))
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Whether the channel's prices include tax; `None` when the channel has no row.
pub async fn channel_mode(c: &mut AnyConnection, channel: &str) -> Result<Option<bool>> {
    let row = query(
        "SELECT CAST(prices_include_tax AS INTEGER) AS prices_include_tax FROM channel_tax_modes WHERE channel = $1",
    )
    .bind(channel)
    .fetch_optional(c)
    .await
    .map_err(db_error)?;
    row.as_ref().map(|row| flag(row, "prices_include_tax")).transpose()
}

// ---- Numbering -----------------------------------------------------------------------------

/// Takes the next number of a series for a year. The counter row is written in the caller's unit
/// of work, which holds it until commit: concurrent issuers queue behind it, and a rollback gives
/// the number back.
pub async fn take_number(c: &mut AnyConnection, series: &str, year: i32) -> Result<i64> {
    query_scalar(
        "INSERT INTO number_sequences (series, year, last_number) VALUES ($1, $2, 1) \
         ON CONFLICT (series, year) DO UPDATE SET last_number = number_sequences.last_number + 1 \
         RETURNING last_number",
    )
    .bind(series)
    .bind(i64::from(year))
    .fetch_one(c)
    .await
    .map_err(db_error)
}

// ---- Invoices ------------------------------------------------------------------------------

fn status_to_db(status: InvoiceStatus) -> &'static str {
    match status {
        InvoiceStatus::Draft => "draft",
        InvoiceStatus::Issued => "issued",
    }
}

fn status_from_db(value: &str) -> Result<InvoiceStatus> {
    match value {
        "draft" => Ok(InvoiceStatus::Draft),
        "issued" => Ok(InvoiceStatus::Issued),
        other => Err(Error::internal(format!("unknown invoice status {other:?} in the database"))),
    }
}

/// Writes a draft invoice with its lines and tax summary. `false`, writing nothing, if the order
/// has an invoice already: one drafted by a concurrent writer since the caller looked, which this
/// statement waits for (on PostgreSQL) and which the caller's next read sees.
pub async fn insert_invoice(c: &mut AnyConnection, invoice: &Invoice) -> Result<bool> {
    let done = query(
        "INSERT INTO invoices (id, order_id, order_number, customer_id, status, number, seller, buyer, currency, \
             net, tax, gross, issued_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
         ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(invoice.id.to_string())
    .bind(invoice.order_id.to_string())
    .bind(&invoice.order_number)
    .bind(invoice.customer_id.map(|id| id.to_string()))
    .bind(status_to_db(invoice.status))
    .bind(invoice.number.as_deref())
    .bind(to_json(&invoice.seller)?)
    .bind(to_json(&invoice.buyer)?)
    .bind(invoice.gross.currency.code())
    .bind(invoice.net.amount)
    .bind(invoice.tax.amount)
    .bind(invoice.gross.amount)
    .bind(invoice.issued_at.as_ref().map(time::to_db))
    .bind(time::to_db(&invoice.created_at))
    .execute(&mut *c)
    .await
    .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    for (position, line) in invoice.lines.iter().enumerate() {
        query(
            "INSERT INTO invoice_lines (invoice_id, position, description, sku, quantity, rate, net, tax, gross) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(invoice.id.to_string())
        .bind(position as i64)
        .bind(&line.description)
        .bind(line.sku.as_deref())
        .bind(line.quantity)
        .bind(line.rate.to_string())
        .bind(line.net.amount)
        .bind(line.tax.amount)
        .bind(line.gross.amount)
        .execute(&mut *c)
        .await
        .map_err(db_error)?;
    }
    for (position, line) in invoice.summary.iter().enumerate() {
        query(
            "INSERT INTO invoice_tax_summary (invoice_id, position, label, rate, base, tax) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(invoice.id.to_string())
        .bind(position as i64)
        .bind(&line.label)
        .bind(line.rate.to_string())
        .bind(line.base.amount)
        .bind(line.tax.amount)
        .execute(&mut *c)
        .await
        .map_err(db_error)?;
    }
    Ok(true)
}

/// Gives a draft its number. `false` if it was no longer a draft: the only change an invoice
/// ever sees, and never one of an issued invoice.
pub async fn mark_issued(c: &mut AnyConnection, id: Uuid, number: &str, issued_at: &time::Timestamp) -> Result<bool> {
    let done =
        query("UPDATE invoices SET status = 'issued', number = $1, issued_at = $2 WHERE id = $3 AND status = 'draft'")
            .bind(number)
            .bind(time::to_db(issued_at))
            .bind(id.to_string())
            .execute(c)
            .await
            .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

/// Holds an issued invoice until the caller's unit of work ends, so that credit notes against it
/// are issued one after the other: each then reads what the previous ones credited. The update
/// changes nothing (PostgreSQL has writers that SQLite serialises, and SQLite has no
/// `SELECT ... FOR UPDATE`). `false` if the invoice is not issued.
pub async fn lock_issued_invoice(c: &mut AnyConnection, id: Uuid) -> Result<bool> {
    let done = query("UPDATE invoices SET status = status WHERE id = $1 AND status = 'issued'")
        .bind(id.to_string())
        .execute(c)
        .await
        .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

fn invoice_head(row: &AnyRow) -> Result<Invoice> {
    let currency = currency(row)?;
    let money = |column: &str| int(row, column).map(|amount| Money::new(amount, currency));
    Ok(Invoice {
        id: uuid_from_db(&text(row, "id")?)?,
        number: optional_text(row, "number")?,
        order_id: uuid_from_db(&text(row, "order_id")?)?,
        order_number: text(row, "order_number")?,
        customer_id: optional_text(row, "customer_id")?.as_deref().map(uuid_from_db).transpose()?,
        status: status_from_db(&text(row, "status")?)?,
        seller: json::<Party>(row, "seller")?,
        buyer: json::<Party>(row, "buyer")?,
        lines: Vec::new(),
        summary: Vec::new(),
        net: money("net")?,
        tax: money("tax")?,
        gross: money("gross")?,
        issued_at: optional_text(row, "issued_at")?.as_deref().map(time::from_db).transpose()?,
        created_at: timestamp(row, "created_at")?,
    })
}

/// Fills in the lines and tax summaries of invoices read without them, two queries in all.
async fn with_details(c: &mut AnyConnection, mut invoices: Vec<Invoice>) -> Result<Vec<Invoice>> {
    if invoices.is_empty() {
        return Ok(invoices);
    }
    let ids: Vec<String> = invoices.iter().map(|i| i.id.to_string()).collect();
    let index: HashMap<String, usize> = ids.iter().cloned().enumerate().map(|(i, id)| (id, i)).collect();
    let currencies: Vec<Currency> = invoices.iter().map(|i| i.gross.currency).collect();

    let sql = format!(
        "SELECT * FROM invoice_lines WHERE invoice_id IN ({}) ORDER BY invoice_id, position",
        placeholders(1, ids.len())
    );
    let mut lines = query(AssertSqlSafe(sql));
    for id in &ids {
        lines = lines.bind(id);
    }
    for row in lines.fetch_all(&mut *c).await.map_err(db_error)? {
        let i = position(&index, &row)?;
        let money = |column: &str| int(&row, column).map(|amount| Money::new(amount, currencies[i]));
        invoices[i].lines.push(InvoiceLine {
            description: text(&row, "description")?,
            sku: optional_text(&row, "sku")?,
            quantity: int(&row, "quantity")?,
            rate: domain::parse_rate(&text(&row, "rate")?)?,
            net: money("net")?,
            tax: money("tax")?,
            gross: money("gross")?,
        });
    }

    let sql = format!(
        "SELECT * FROM invoice_tax_summary WHERE invoice_id IN ({}) ORDER BY invoice_id, position",
        placeholders(1, ids.len())
    );
    let mut summary = query(AssertSqlSafe(sql));
    for id in &ids {
        summary = summary.bind(id);
    }
    for row in summary.fetch_all(c).await.map_err(db_error)? {
        let i = position(&index, &row)?;
        let money = |column: &str| int(&row, column).map(|amount| Money::new(amount, currencies[i]));
        invoices[i].summary.push(TaxSummaryLine {
            label: text(&row, "label")?,
            rate: domain::parse_rate(&text(&row, "rate")?)?,
            base: money("base")?,
            tax: money("tax")?,
        });
    }
    Ok(invoices)
}

/// Which of the invoices being filled in a detail row belongs to.
fn position(index: &HashMap<String, usize>, row: &AnyRow) -> Result<usize> {
    let id = text(row, "invoice_id")?;
    index.get(&id).copied().ok_or_else(|| Error::internal(format!("invoice {id} was not asked for")))
}

async fn one_invoice(c: &mut AnyConnection, column: &str, value: Uuid) -> Result<Option<Invoice>> {
    let sql = format!("SELECT * FROM invoices WHERE {column} = $1");
    let row = query(AssertSqlSafe(sql)).bind(value.to_string()).fetch_optional(&mut *c).await.map_err(db_error)?;
    let Some(row) = row else { return Ok(None) };
    Ok(with_details(c, vec![invoice_head(&row)?]).await?.pop())
}

pub async fn invoice(c: &mut AnyConnection, id: Uuid) -> Result<Option<Invoice>> {
    one_invoice(c, "id", id).await
}

pub async fn invoice_for_order(c: &mut AnyConnection, order_id: Uuid) -> Result<Option<Invoice>> {
    one_invoice(c, "order_id", order_id).await
}

/// Newest first.
pub async fn list_invoices(c: &mut AnyConnection, page: PageRequest) -> Result<(Vec<Invoice>, u64)> {
    let rows = query("SELECT * FROM invoices ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2")
        .bind(page.limit())
        .bind(page.offset())
        .fetch_all(&mut *c)
        .await
        .map_err(db_error)?;
    let total: i64 = query_scalar("SELECT COUNT(*) FROM invoices").fetch_one(&mut *c).await.map_err(db_error)?;
    let heads = rows.iter().map(invoice_head).collect::<Result<Vec<_>>>()?;
    Ok((with_details(c, heads).await?, total as u64))
}

// ---- Credit notes --------------------------------------------------------------------------

/// A credit note and the refund it answers.
pub struct StoredCreditNote {
    pub note: CreditNote,
    pub refund_id: Uuid,
    pub payment_id: Uuid,
}

fn credit_note_row(row: &AnyRow) -> Result<CreditNote> {
    let currency = currency(row)?;
    Ok(CreditNote {
        id: uuid_from_db(&text(row, "id")?)?,
        number: text(row, "number")?,
        invoice_id: uuid_from_db(&text(row, "invoice_id")?)?,
        order_id: uuid_from_db(&text(row, "order_id")?)?,
        gross: Money::new(int(row, "gross")?, currency),
        tax: Money::new(int(row, "tax")?, currency),
        reason: optional_text(row, "reason")?,
        issued_at: timestamp(row, "issued_at")?,
    })
}

pub async fn insert_credit_note(c: &mut AnyConnection, stored: &StoredCreditNote) -> Result<()> {
    let note = &stored.note;
    query(
        "INSERT INTO credit_notes (id, number, invoice_id, order_id, refund_id, payment_id, currency, gross, tax, \
             reason, issued_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(note.id.to_string())
    .bind(&note.number)
    .bind(note.invoice_id.to_string())
    .bind(note.order_id.to_string())
    .bind(stored.refund_id.to_string())
    .bind(stored.payment_id.to_string())
    .bind(note.gross.currency.code())
    .bind(note.gross.amount)
    .bind(note.tax.amount)
    .bind(note.reason.as_deref())
    .bind(time::to_db(&note.issued_at))
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(())
}

pub async fn credit_note(c: &mut AnyConnection, id: Uuid) -> Result<Option<CreditNote>> {
    let row = query("SELECT * FROM credit_notes WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(c)
        .await
        .map_err(db_error)?;
    row.as_ref().map(credit_note_row).transpose()
}

pub async fn credit_note_for_refund(c: &mut AnyConnection, refund_id: Uuid) -> Result<Option<CreditNote>> {
    let row = query("SELECT * FROM credit_notes WHERE refund_id = $1")
        .bind(refund_id.to_string())
        .fetch_optional(c)
        .await
        .map_err(db_error)?;
    row.as_ref().map(credit_note_row).transpose()
}

/// Oldest first.
pub async fn credit_notes_for_order(c: &mut AnyConnection, order_id: Uuid) -> Result<Vec<CreditNote>> {
    let rows = query("SELECT * FROM credit_notes WHERE order_id = $1 ORDER BY issued_at, number")
        .bind(order_id.to_string())
        .fetch_all(c)
        .await
        .map_err(db_error)?;
    rows.iter().map(credit_note_row).collect()
}

/// Gross and tax credited so far against an invoice.
pub async fn credited(c: &mut AnyConnection, invoice_id: Uuid) -> Result<(i64, i64)> {
    let row = query(
        "SELECT CAST(COALESCE(SUM(gross), 0) AS BIGINT) AS gross, CAST(COALESCE(SUM(tax), 0) AS BIGINT) AS tax \
         FROM credit_notes WHERE invoice_id = $1",
    )
    .bind(invoice_id.to_string())
    .fetch_one(c)
    .await
    .map_err(db_error)?;
    Ok((int(&row, "gross")?, int(&row, "tax")?))
}

// ---- Orders cancelled before confirmation ------------------------------------------------------

pub async fn record_unconfirmed_cancellation(c: &mut AnyConnection, order_id: Uuid) -> Result<()> {
    query("INSERT INTO unconfirmed_cancellations (order_id, cancelled_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(order_id.to_string())
        .bind(time::to_db(&time::now()))
        .execute(c)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Whether the order was cancelled before its checkout completed (so never invoiced).
pub async fn cancelled_unconfirmed(c: &mut AnyConnection, order_id: Uuid) -> Result<bool> {
    let found = query("SELECT order_id FROM unconfirmed_cancellations WHERE order_id = $1")
        .bind(order_id.to_string())
        .fetch_optional(c)
        .await
        .map_err(db_error)?;
    Ok(found.is_some())
}
