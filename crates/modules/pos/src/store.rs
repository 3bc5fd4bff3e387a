//! The SQL of the point of sale. Every function runs on the connection it is given: a unit of
//! work's for writes and the reads that decide them, a reader's otherwise. State changes are
//! conditional on the state the caller saw, so a step that lost a race changes nothing and says so.

use std::collections::HashMap;
use std::str::FromStr;

use comptoir_contracts::address::PostalAddress;
use comptoir_contracts::pos::{Cashier, SaleFilter, SaleLine, SaleTotals, Store};
use comptoir_kernel::time::{self, Timestamp};
use comptoir_kernel::{Currency, Error, Money, PageRequest, Result};
use comptoir_storage::row::{
    flag, id, int, optional_id, optional_text, optional_timestamp, placeholders, text, timestamp,
};
use comptoir_storage::{AnyRow, Row, db_error, query, query_scalar};
use rust_decimal::Decimal;
use sqlx::{AnyConnection, AssertSqlSafe};
use uuid::Uuid;

use crate::domain::{
    Failure, FailureKind, IN_FLIGHT, LineRecord, PlannedLine, ReturnRecord, SOLD, SaleRecord, SaleState,
    method_from_db, method_to_db,
};

fn currency(value: &str) -> Result<Currency> {
    Currency::from_str(value).map_err(|e| Error::internal(format!("stored currency: {e}")))
}

/// `'a', 'b'`: states as SQL literals. Only this module's constant state names go in, never input.
fn states(list: &[SaleState]) -> String {
    list.iter().map(|s| format!("'{}'", s.to_db())).collect::<Vec<_>>().join(", ")
}

// ---- Stores ----------------------------------------------------------------------------------

const STORE_COLUMNS: &str = "location, name, address, channel, currency, created_at, updated_at";

fn store_from_row(row: &AnyRow) -> Result<Store> {
    let address: PostalAddress = serde_json::from_str(&text(row, "address")?)
        .map_err(|e| Error::internal(format!("stored store address: {e}")))?;
    Ok(Store {
        location: text(row, "location")?,
        name: text(row, "name")?,
        address,
        channel: text(row, "channel")?,
        currency: currency(&text(row, "currency")?)?,
        created_at: timestamp(row, "created_at")?,
        updated_at: timestamp(row, "updated_at")?,
    })
}

/// Creates the store or changes it; its sale counter and creation date are kept.
pub async fn upsert_store(c: &mut AnyConnection, store: &Store) -> Result<()> {
    let address = serde_json::to_string(&store.address).map_err(|e| Error::internal(e.to_string()))?;
    query(
        "INSERT INTO stores (location, name, address, channel, currency, last_number, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 0, $6, $6) \
         ON CONFLICT (location) DO UPDATE SET name = excluded.name, address = excluded.address, \
             channel = excluded.channel, currency = excluded.currency, updated_at = excluded.updated_at",
    )
    .bind(&store.location)
    .bind(&store.name)
    .bind(address)
    .bind(&store.channel)
    .bind(store.currency.code())
    .bind(time::to_db(&store.updated_at))
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(())
}

pub async fn store(c: &mut AnyConnection, location: &str) -> Result<Option<Store>> {
    let sql = format!("SELECT {STORE_COLUMNS} FROM stores WHERE location = $1");
    let row = query(AssertSqlSafe(sql)).bind(location).fetch_optional(c).await.map_err(db_error)?;
    row.as_ref().map(store_from_row).transpose()
}

pub async fn stores(c: &mut AnyConnection) -> Result<Vec<Store>> {
    let sql = format!("SELECT {STORE_COLUMNS} FROM stores ORDER BY location");
    query(AssertSqlSafe(sql)).fetch_all(c).await.map_err(db_error)?.iter().map(store_from_row).collect()
}

/// The store's next sale number. The update holds the store's row until the unit of work ends, so
/// two sales completing at once get two numbers.
pub async fn next_sale_number(c: &mut AnyConnection, location: &str) -> Result<i64> {
    query_scalar::<_, i64>("UPDATE stores SET last_number = last_number + 1 WHERE location = $1 RETURNING last_number")
        .bind(location)
        .fetch_optional(c)
        .await
        .map_err(db_error)?
        .ok_or_else(|| Error::internal(format!("store {location} is gone")))
}

// ---- Sales -----------------------------------------------------------------------------------

const SALE_COLUMNS: &str = "id, idempotency_key, fingerprint, number, location, channel, currency, cashier_id, \
     cashier_name, status, tender_method, tendered, change_given, net, tax, gross, refunded, reservation_id, \
     payment_id, failure_kind, failure_field, failure_message, created_at, updated_at, completed_at";

/// Records a new attempt with its lines. `false` when its idempotency key is taken (a concurrent
/// duplicate): `DO NOTHING` rather than a failed insert keeps the transaction usable on PostgreSQL.
pub async fn insert_sale(c: &mut AnyConnection, r: &SaleRecord) -> Result<bool> {
    let done = query(
        "INSERT INTO sales (id, idempotency_key, fingerprint, number, location, channel, currency, cashier_id, \
             cashier_name, status, tender_method, tendered, change_given, net, tax, gross, refunded, created_at, \
             updated_at) \
         VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 0, $16, $16) \
         ON CONFLICT DO NOTHING",
    )
    .bind(r.id.to_string())
    .bind(&r.key)
    .bind(&r.fingerprint)
    .bind(&r.location)
    .bind(&r.channel)
    .bind(r.currency.code())
    .bind(r.cashier.id.to_string())
    .bind(&r.cashier.name)
    .bind(r.state.to_db())
    .bind(method_to_db(r.method))
    .bind(r.tendered)
    .bind(r.change)
    .bind(r.totals.net.amount)
    .bind(r.totals.tax.amount)
    .bind(r.totals.gross.amount)
    .bind(time::to_db(&r.created_at))
    .execute(&mut *c)
    .await
    .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    for (position, l) in r.lines.iter().enumerate() {
        query(
            "INSERT INTO sale_lines (sale_id, position, sku, product_id, product_name, quantity, unit_price, \
                 tax_rate, net, tax, gross) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(r.id.to_string())
        .bind(position as i64)
        .bind(&l.line.sku)
        .bind(l.line.product_id.to_string())
        .bind(&l.line.product_name)
        .bind(l.line.quantity)
        .bind(l.line.unit_price.amount)
        .bind(l.line.tax_rate.to_string())
        .bind(l.line.net.amount)
        .bind(l.line.tax.amount)
        .bind(l.line.gross.amount)
        .execute(&mut *c)
        .await
        .map_err(db_error)?;
    }
    Ok(true)
}

/// The lines of each of `ids`, in position order.
async fn lines_of(
    c: &mut AnyConnection,
    ids: &[String],
    currency: &HashMap<String, Currency>,
) -> Result<HashMap<String, Vec<LineRecord>>> {
    let mut lines: HashMap<String, Vec<LineRecord>> = HashMap::new();
    if ids.is_empty() {
        return Ok(lines);
    }
    let sql = format!(
        "SELECT sale_id, sku, product_id, product_name, quantity, unit_price, tax_rate, net, tax, gross, returned, \
             taken_units, taken_amount \
         FROM sale_lines WHERE sale_id IN ({}) ORDER BY sale_id, position",
        placeholders(1, ids.len())
    );
    let mut q = query(AssertSqlSafe(sql));
    for id in ids {
        q = q.bind(id);
    }
    for row in q.fetch_all(c).await.map_err(db_error)? {
        let sale_id = text(&row, "sale_id")?;
        let currency = *currency.get(&sale_id).ok_or_else(|| Error::internal("a sale line without its sale"))?;
        let money = |column: &str| Ok::<_, Error>(Money::new(int(&row, column)?, currency));
        let rate = text(&row, "tax_rate")?;
        let line = SaleLine {
            sku: text(&row, "sku")?,
            product_id: id(&row, "product_id")?,
            product_name: text(&row, "product_name")?,
            quantity: int(&row, "quantity")?,
            unit_price: money("unit_price")?,
            tax_rate: Decimal::from_str(&rate)
                .map_err(|e| Error::internal(format!("stored tax rate {rate:?}: {e}")))?,
            net: money("net")?,
            tax: money("tax")?,
            gross: money("gross")?,
            returned: int(&row, "returned")?,
        };
        lines.entry(sale_id).or_default().push(LineRecord {
            line,
            taken_units: int(&row, "taken_units")?,
            taken_amount: int(&row, "taken_amount")?,
        });
    }
    Ok(lines)
}

fn failure_from_row(row: &AnyRow) -> Result<Option<Failure>> {
    let Some(kind) = optional_text(row, "failure_kind")? else { return Ok(None) };
    Ok(Some(Failure {
        kind: FailureKind::from_db(&kind)?,
        field: optional_text(row, "failure_field")?,
        message: optional_text(row, "failure_message")?.unwrap_or_default(),
    }))
}

fn sale_from_row(row: &AnyRow, lines: Vec<LineRecord>) -> Result<SaleRecord> {
    let currency = currency(&text(row, "currency")?)?;
    let money = |column: &str| Ok::<_, Error>(Money::new(int(row, column)?, currency));
    Ok(SaleRecord {
        id: id(row, "id")?,
        key: text(row, "idempotency_key")?,
        fingerprint: text(row, "fingerprint")?,
        number: optional_text(row, "number")?,
        location: text(row, "location")?,
        channel: text(row, "channel")?,
        currency,
        cashier: Cashier { id: id(row, "cashier_id")?, name: text(row, "cashier_name")? },
        state: SaleState::from_db(&text(row, "status")?)?,
        method: method_from_db(&text(row, "tender_method")?)?,
        tendered: row.try_get::<Option<i64>, _>("tendered").map_err(db_error)?,
        change: row.try_get::<Option<i64>, _>("change_given").map_err(db_error)?,
        lines,
        totals: SaleTotals { net: money("net")?, tax: money("tax")?, gross: money("gross")? },
        refunded: int(row, "refunded")?,
        reservation_id: optional_id(row, "reservation_id")?,
        payment_id: optional_id(row, "payment_id")?,
        failure: failure_from_row(row)?,
        created_at: timestamp(row, "created_at")?,
        updated_at: timestamp(row, "updated_at")?,
        completed_at: optional_timestamp(row, "completed_at")?,
    })
}

/// The sales of `rows`, in their order, with their lines.
async fn sales_from_rows(c: &mut AnyConnection, rows: Vec<AnyRow>) -> Result<Vec<SaleRecord>> {
    let mut currencies = HashMap::new();
    let mut ids = Vec::with_capacity(rows.len());
    for row in &rows {
        let id = text(row, "id")?;
        currencies.insert(id.clone(), currency(&text(row, "currency")?)?);
        ids.push(id);
    }
    let mut lines = lines_of(c, &ids, &currencies).await?;
    rows.iter().zip(&ids).map(|(row, id)| sale_from_row(row, lines.remove(id).unwrap_or_default())).collect()
}

async fn sale_where(c: &mut AnyConnection, condition: &'static str, value: String) -> Result<Option<SaleRecord>> {
    let sql = format!("SELECT {SALE_COLUMNS} FROM sales WHERE {condition}");
    let Some(row) = query(AssertSqlSafe(sql)).bind(value).fetch_optional(&mut *c).await.map_err(db_error)? else {
        return Ok(None);
    };
    Ok(sales_from_rows(c, vec![row]).await?.pop())
}

/// A sale or an attempt, by id.
pub async fn sale(c: &mut AnyConnection, id: Uuid) -> Result<Option<SaleRecord>> {
    sale_where(c, "id = $1", id.to_string()).await
}

/// The attempt recorded under an idempotency key.
pub async fn sale_by_key(c: &mut AnyConnection, key: &str) -> Result<Option<SaleRecord>> {
    sale_where(c, "idempotency_key = $1", key.to_string()).await
}

/// Moves a sale in one of `from` to `to`, setting the given columns; `false` if it was no longer
/// in one of `from`. `sets` are constant SQL assignments numbered from `$3`.
async fn change_state(
    c: &mut AnyConnection,
    id: Uuid,
    from: &[SaleState],
    to: SaleState,
    sets: &'static str,
    binds: Vec<Option<String>>,
) -> Result<bool> {
    let extra = if sets.is_empty() { String::new() } else { format!(", {sets}") };
    let sql = format!(
        "UPDATE sales SET status = $1, updated_at = $2{extra} WHERE id = ${} AND status IN ({})",
        binds.len() + 3,
        states(from)
    );
    let mut q = query(AssertSqlSafe(sql)).bind(to.to_db()).bind(time::to_db(&time::now()));
    for value in binds {
        q = q.bind(value);
    }
    let done = q.bind(id.to_string()).execute(c).await.map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

/// A retry resuming an attempt in flight takes it over: untouched attempts are the stale ones.
/// `false` when it is no longer in flight.
pub async fn touch(c: &mut AnyConnection, id: Uuid) -> Result<bool> {
    let sql = format!("UPDATE sales SET updated_at = $1 WHERE id = $2 AND status IN ({})", states(&IN_FLIGHT));
    let done = query(AssertSqlSafe(sql))
        .bind(time::to_db(&time::now()))
        .bind(id.to_string())
        .execute(c)
        .await
        .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

/// An attempt in flight is being rolled back (its units and money given back); `false` if it was
/// no longer in flight.
pub async fn start_rollback(c: &mut AnyConnection, id: Uuid) -> Result<bool> {
    change_state(c, id, &IN_FLIGHT, SaleState::Abandoning, "", vec![]).await
}

/// The attempt's units are held by `reservation`.
pub async fn mark_reserved(c: &mut AnyConnection, id: Uuid, reservation: Uuid) -> Result<bool> {
    change_state(c, id, &IN_FLIGHT, SaleState::Reserved, "reservation_id = $3", vec![Some(reservation.to_string())])
        .await
}

/// The attempt failed for good; `failure` answers its retries.
pub async fn fail(c: &mut AnyConnection, id: Uuid, from: &[SaleState], failure: &Failure) -> Result<bool> {
    change_state(
        c,
        id,
        from,
        SaleState::Failed,
        "failure_kind = $3, failure_field = $4, failure_message = $5",
        vec![Some(failure.kind.to_db().to_string()), failure.field.clone(), Some(failure.message.clone())],
    )
    .await
}

/// Claims a stale attempt for rolling back, unless something touched it after `cutoff`.
pub async fn abandon(c: &mut AnyConnection, id: Uuid, cutoff: &Timestamp) -> Result<bool> {
    let sql = format!(
        "UPDATE sales SET status = 'abandoning', updated_at = $1 WHERE id = $2 AND status IN ({}) AND updated_at <= $3",
        states(&IN_FLIGHT)
    );
    let done = query(AssertSqlSafe(sql))
        .bind(time::to_db(&time::now()))
        .bind(id.to_string())
        .bind(time::to_db(cutoff))
        .execute(c)
        .await
        .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

/// The attempt is a sale: numbered, paid, completed at `at`.
pub async fn complete(c: &mut AnyConnection, id: Uuid, number: &str, payment: Uuid, at: &Timestamp) -> Result<bool> {
    change_state(
        c,
        id,
        &IN_FLIGHT,
        SaleState::Completed,
        "number = $3, payment_id = $4, completed_at = $5",
        vec![Some(number.to_string()), Some(payment.to_string()), Some(time::to_db(at))],
    )
    .await
}

/// Attempts untouched since `cutoff`, and those being rolled back, oldest first.
pub async fn stale_attempts(c: &mut AnyConnection, cutoff: &Timestamp, limit: i64) -> Result<Vec<Uuid>> {
    let sql = format!(
        "SELECT id FROM sales WHERE (status IN ({}) AND updated_at <= $1) OR status = 'abandoning' \
         ORDER BY updated_at, id LIMIT $2",
        states(&IN_FLIGHT)
    );
    query_scalar::<_, String>(AssertSqlSafe(sql))
        .bind(time::to_db(cutoff))
        .bind(limit)
        .fetch_all(c)
        .await
        .map_err(db_error)?
        .iter()
        .map(|id| comptoir_storage::uuid_from_db(id))
        .collect()
}

/// One page of sales (never attempts) matching `filter`, newest first, and how many match.
pub async fn list_sales(
    c: &mut AnyConnection,
    filter: &SaleFilter,
    page: PageRequest,
) -> Result<(Vec<SaleRecord>, u64)> {
    let mut conditions = vec![format!("status IN ({})", states(&SOLD))];
    let mut values: Vec<String> = Vec::new();
    let mut condition = |sql: &str, value: String| {
        values.push(value);
        conditions.push(format!("{sql} ${}", values.len()));
    };
    if let Some(location) = &filter.location {
        condition("location =", location.trim().to_string());
    }
    if let Some(cashier) = filter.cashier_id {
        condition("cashier_id =", cashier.to_string());
    }
    if let Some(from) = &filter.from {
        condition("completed_at >=", time::to_db(from));
    }
    if let Some(to) = &filter.to {
        condition("completed_at <", time::to_db(to));
    }
    let filter = conditions.join(" AND ");
    let sql = format!(
        "SELECT {SALE_COLUMNS} FROM sales WHERE {filter} ORDER BY completed_at DESC, id DESC LIMIT ${} OFFSET ${}",
        values.len() + 1,
        values.len() + 2
    );
    let mut q = query(AssertSqlSafe(sql));
    for value in &values {
        q = q.bind(value);
    }
    let rows = q.bind(page.limit()).bind(page.offset()).fetch_all(&mut *c).await.map_err(db_error)?;
    let mut count = query_scalar::<_, i64>(AssertSqlSafe(format!("SELECT COUNT(*) FROM sales WHERE {filter}")));
    for value in &values {
        count = count.bind(value);
    }
    let total = count.fetch_one(&mut *c).await.map_err(db_error)?;
    Ok((sales_from_rows(c, rows).await?, total as u64))
}

// ---- Units taken back ------------------------------------------------------------------------

/// Locks a sold sale for a return: on a backend with concurrent writers, a second return of the
/// same sale waits here until the first commits, then reads what it took. `false` if the id is not
/// a sale.
pub async fn lock_sale(c: &mut AnyConnection, id: Uuid) -> Result<bool> {
    let sql = format!("UPDATE sales SET updated_at = updated_at WHERE id = $1 AND status IN ({})", states(&SOLD));
    let done = query(AssertSqlSafe(sql)).bind(id.to_string()).execute(c).await.map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

/// Holds a return's units and amount on a sale line, if that many are still there.
pub async fn hold_units(c: &mut AnyConnection, sale: Uuid, line: &PlannedLine) -> Result<bool> {
    let done = query(
        "UPDATE sale_lines SET taken_units = taken_units + $1, taken_amount = taken_amount + $2 \
         WHERE sale_id = $3 AND position = $4 AND taken_units + $1 <= quantity",
    )
    .bind(line.quantity)
    .bind(line.amount)
    .bind(sale.to_string())
    .bind(line.position as i64)
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

/// Gives a return's units back to the line (the return could not be made).
pub async fn free_units(c: &mut AnyConnection, sale: Uuid, line: &PlannedLine) -> Result<()> {
    query(
        "UPDATE sale_lines SET taken_units = taken_units - $1, taken_amount = taken_amount - $2 \
         WHERE sale_id = $3 AND position = $4",
    )
    .bind(line.quantity)
    .bind(line.amount)
    .bind(sale.to_string())
    .bind(line.position as i64)
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// A completed return's units count as returned.
pub async fn mark_returned(c: &mut AnyConnection, sale: Uuid, line: &PlannedLine) -> Result<bool> {
    let done = query(
        "UPDATE sale_lines SET returned = returned + $1 \
         WHERE sale_id = $2 AND position = $3 AND returned + $1 <= taken_units",
    )
    .bind(line.quantity)
    .bind(sale.to_string())
    .bind(line.position as i64)
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

/// A completed return refunded `amount` more and left the sale in `state`.
pub async fn returned(c: &mut AnyConnection, sale: Uuid, state: SaleState, amount: i64) -> Result<bool> {
    let sql = format!(
        "UPDATE sales SET status = $1, refunded = refunded + $2, updated_at = $3 WHERE id = $4 AND status IN ({})",
        states(&SOLD)
    );
    let done = query(AssertSqlSafe(sql))
        .bind(state.to_db())
        .bind(amount)
        .bind(time::to_db(&time::now()))
        .bind(sale.to_string())
        .execute(c)
        .await
        .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

// ---- Returns ---------------------------------------------------------------------------------

const RETURN_COLUMNS: &str = "id, idempotency_key, fingerprint, sale_id, cashier_id, cashier_name, status, amount, \
     reason, CAST(restock AS INTEGER) AS restock, created_at, completed_at";

/// Records a pending return with its lines. `false` when its idempotency key is taken.
pub async fn insert_return(c: &mut AnyConnection, r: &ReturnRecord) -> Result<bool> {
    let done = query(
        "INSERT INTO store_returns (id, idempotency_key, fingerprint, sale_id, cashier_id, cashier_name, status, \
             amount, reason, restock, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $9, $10) ON CONFLICT DO NOTHING",
    )
    .bind(r.id.to_string())
    .bind(&r.key)
    .bind(&r.fingerprint)
    .bind(r.sale_id.to_string())
    .bind(r.cashier.id.to_string())
    .bind(&r.cashier.name)
    .bind(r.amount)
    .bind(&r.reason)
    .bind(r.restock)
    .bind(time::to_db(&r.created_at))
    .execute(&mut *c)
    .await
    .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    for (position, l) in r.lines.iter().enumerate() {
        query(
            "INSERT INTO return_lines (return_id, position, sale_position, sku, product_id, quantity, amount) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(r.id.to_string())
        .bind(position as i64)
        .bind(l.position as i64)
        .bind(&l.sku)
        .bind(l.product_id.to_string())
        .bind(l.quantity)
        .bind(l.amount)
        .execute(&mut *c)
        .await
        .map_err(db_error)?;
    }
    Ok(true)
}

async fn returns_where(c: &mut AnyConnection, condition: &'static str, value: String) -> Result<Vec<ReturnRecord>> {
    let sql = format!("SELECT {RETURN_COLUMNS} FROM store_returns WHERE {condition} ORDER BY completed_at, id");
    let rows = query(AssertSqlSafe(sql)).bind(value).fetch_all(&mut *c).await.map_err(db_error)?;
    let mut returns = Vec::with_capacity(rows.len());
    for row in rows {
        let return_id = text(&row, "id")?;
        let lines = query(
            "SELECT sale_position, sku, product_id, quantity, amount FROM return_lines \
             WHERE return_id = $1 ORDER BY position",
        )
        .bind(&return_id)
        .fetch_all(&mut *c)
        .await
        .map_err(db_error)?
        .iter()
        .map(|line| {
            Ok(PlannedLine {
                position: int(line, "sale_position")? as usize,
                sku: text(line, "sku")?,
                product_id: id(line, "product_id")?,
                quantity: int(line, "quantity")?,
                amount: int(line, "amount")?,
            })
        })
        .collect::<Result<_>>()?;
        returns.push(ReturnRecord {
            id: comptoir_storage::uuid_from_db(&return_id)?,
            key: text(&row, "idempotency_key")?,
            fingerprint: text(&row, "fingerprint")?,
            sale_id: id(&row, "sale_id")?,
            cashier: Cashier { id: id(&row, "cashier_id")?, name: text(&row, "cashier_name")? },
            completed: text(&row, "status")? == "completed",
            amount: int(&row, "amount")?,
            reason: text(&row, "reason")?,
            restock: flag(&row, "restock")?,
            lines,
            created_at: timestamp(&row, "created_at")?,
            completed_at: optional_timestamp(&row, "completed_at")?,
        });
    }
    Ok(returns)
}

pub async fn return_by_key(c: &mut AnyConnection, key: &str) -> Result<Option<ReturnRecord>> {
    Ok(returns_where(c, "idempotency_key = $1", key.to_string()).await?.pop())
}

/// The completed returns of a sale, oldest first.
pub async fn returns_of_sale(c: &mut AnyConnection, sale: Uuid) -> Result<Vec<ReturnRecord>> {
    returns_where(c, "sale_id = $1 AND status = 'completed'", sale.to_string()).await
}

/// `false` if the return was no longer pending (completed by a concurrent retry).
pub async fn complete_return(c: &mut AnyConnection, id: Uuid, at: &Timestamp) -> Result<bool> {
    let done =
        query("UPDATE store_returns SET status = 'completed', completed_at = $1 WHERE id = $2 AND status = 'pending'")
            .bind(time::to_db(at))
            .bind(id.to_string())
            .execute(c)
            .await
            .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

/// Forgets a pending return that could not be made; `false` if it was no longer pending.
pub async fn delete_return(c: &mut AnyConnection, id: Uuid) -> Result<bool> {
    query(
        "DELETE FROM return_lines WHERE return_id = $1 \
         AND EXISTS (SELECT 1 FROM store_returns WHERE id = $1 AND status = 'pending')",
    )
    .bind(id.to_string())
    .execute(&mut *c)
    .await
    .map_err(db_error)?;
    let done = query("DELETE FROM store_returns WHERE id = $1 AND status = 'pending'")
        .bind(id.to_string())
        .execute(c)
        .await
        .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}
