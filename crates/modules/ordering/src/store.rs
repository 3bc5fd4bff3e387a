//! The SQL of the ordering module. Every function runs on the connection it is given: a unit of
//! work's for writes and the reads that decide them, a read transaction's otherwise.

use comptoir_storage::row::{flag, int, optional_id, optional_text, placeholders, text, timestamp};
use std::collections::HashMap;
use std::str::FromStr;

use comptoir_contracts::address::PostalAddress;
use comptoir_contracts::ordering::{
    DailySales, Order, OrderFilter, OrderLine, OrderReturn, OrderStatus, OrderTotals, OrderTransition, ReturnLine,
    ReturnStatus, ShippingChoice,
};
use comptoir_kernel::{Currency, Error, Money, PageRequest, Result, time};
use comptoir_storage::{AnyRow, Row, db_error, query, query_scalar, uuid_from_db};
use rust_decimal::Decimal;
use sqlx::{AnyConnection, AssertSqlSafe};
use uuid::Uuid;

use crate::domain::{self, CheckoutFailure, FailureKind, OrderRecord};

/// The orders columns, as a macro so that queries stay `&'static str` literals.
macro_rules! order_columns {
    () => {
        "id, number, customer_id, checkout_key, cart_id, email, channel, currency, status, \
         CAST(prices_include_tax AS INTEGER) AS prices_include_tax, shipping_method, shipping_name, \
         shipping_carrier, shipping_net, shipping_tax, shipping_gross, shipping_address, billing_address, \
         net, tax, gross, refunded, refund_count, reservation_id, payment_id, cancellation_reason, \
         failure_kind, failure_field, failure_message, version, placed_at, updated_at"
    };
}

fn json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::internal(format!("not serialisable: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(value: &str, what: &str) -> Result<T> {
    serde_json::from_str(value).map_err(|e| Error::internal(format!("stored {what} is not readable: {e}")))
}

// ---- Orders ----------------------------------------------------------------------------------

/// The next order number, taken in the unit of work that inserts the order: a rolled-back
/// checkout gives its number back, so numbers have no gaps.
pub async fn next_order_number(c: &mut AnyConnection) -> Result<i64> {
    query_scalar::<_, i64>("UPDATE counters SET value = value + 1 WHERE name = 'order_number' RETURNING value")
        .fetch_one(c)
        .await
        .map_err(db_error)
}

/// Inserts a new order with its lines and timeline. Returns `false` when the customer already
/// placed an order under this checkout key: `DO NOTHING` rather than a failed insert keeps the
/// transaction usable on PostgreSQL.
pub async fn insert_order(c: &mut AnyConnection, r: &OrderRecord) -> Result<bool> {
    let o = &r.order;
    let done = query(concat!(
        "INSERT INTO orders (",
        "id, number, customer_id, checkout_key, cart_id, email, channel, currency, status, prices_include_tax, \
         shipping_method, shipping_name, shipping_carrier, shipping_net, shipping_tax, shipping_gross, \
         shipping_address, billing_address, net, tax, gross, refunded, refund_count, version, placed_at, updated_at",
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, \
         $22, $23, $24, $25, $26) ON CONFLICT DO NOTHING"
    ))
    .bind(o.id.to_string())
    .bind(&o.number)
    .bind(o.customer_id.map(|id| id.to_string()))
    .bind(r.checkout_key.clone())
    .bind(r.cart_id.map(|id| id.to_string()))
    .bind(&o.email)
    .bind(&o.channel)
    .bind(o.currency.code().to_string())
    .bind(domain::status_to_db(o.status))
    .bind(o.prices_include_tax)
    .bind(&o.shipping.method)
    .bind(&o.shipping.name)
    .bind(&o.shipping.carrier)
    .bind(o.shipping.net.amount)
    .bind(o.shipping.tax.amount)
    .bind(o.shipping.gross.amount)
    .bind(json(&o.shipping_address)?)
    .bind(json(&o.billing_address)?)
    .bind(o.totals.net.amount)
    .bind(o.totals.tax.amount)
    .bind(o.totals.gross.amount)
    .bind(o.refunded.amount)
    .bind(r.refund_count)
    .bind(r.version)
    .bind(time::to_db(&o.created_at))
    .bind(time::to_db(&o.updated_at))
    .execute(&mut *c)
    .await
    .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    for (position, line) in o.lines.iter().enumerate() {
        query(
            "INSERT INTO order_lines (order_id, position, sku, product_id, product_name, quantity, unit_price, \
             tax_rate, net, tax, gross, weight_grams, restocked) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(o.id.to_string())
        .bind(position as i64)
        .bind(&line.sku)
        .bind(line.product_id.to_string())
        .bind(&line.product_name)
        .bind(line.quantity)
        .bind(line.unit_price.amount)
        .bind(line.tax_rate.to_string())
        .bind(line.net.amount)
        .bind(line.tax.amount)
        .bind(line.gross.amount)
        .bind(line.weight_grams)
        .bind(r.restocked.get(position).copied().unwrap_or(0))
        .execute(&mut *c)
        .await
        .map_err(db_error)?;
    }
    insert_transitions(c, o.id, 0, &o.timeline).await?;
    Ok(true)
}

async fn insert_transitions(
    c: &mut AnyConnection,
    order_id: Uuid,
    first: usize,
    steps: &[OrderTransition],
) -> Result<()> {
    for (i, step) in steps.iter().enumerate() {
        query(
            "INSERT INTO order_transitions (order_id, position, from_status, to_status, cause, actor, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(order_id.to_string())
        .bind((first + i) as i64)
        .bind(step.from.map(domain::status_to_db))
        .bind(domain::status_to_db(step.to))
        .bind(&step.cause)
        .bind(&step.actor)
        .bind(time::to_db(&step.at))
        .execute(&mut *c)
        .await
        .map_err(db_error)?;
    }
    Ok(())
}

/// Locks an order's row until the unit of work ends, before reading it to change it: the write
/// that SQLite's `BEGIN IMMEDIATE` already serialises, and that PostgreSQL (where writers run
/// side by side) would otherwise let two read-then-write units of work interleave. Setting a
/// column to itself is the portable `SELECT ... FOR UPDATE`; a later read sees the row as the
/// previous writer committed it. An unknown id locks nothing.
pub async fn lock_order(c: &mut AnyConnection, id: Uuid) -> Result<()> {
    query("UPDATE orders SET version = version WHERE id = $1")
        .bind(id.to_string())
        .execute(c)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Writes what changed between `before` (as read) and `after`. Refused if the order was changed
/// since it was read, which the write lock (SQLite) or [`lock_order`] (PostgreSQL) taken before
/// the read rules out: the version check is the safety net.
pub async fn save(c: &mut AnyConnection, before: &OrderRecord, after: &OrderRecord) -> Result<()> {
    let (o, failure) = (&after.order, after.failure.as_ref());
    let done = query(
        "UPDATE orders SET status = $1, refunded = $2, refund_count = $3, reservation_id = $4, payment_id = $5, \
         cancellation_reason = $6, failure_kind = $7, failure_field = $8, failure_message = $9, \
         version = version + 1, updated_at = $10 WHERE id = $11 AND version = $12",
    )
    .bind(domain::status_to_db(o.status))
    .bind(o.refunded.amount)
    .bind(after.refund_count)
    .bind(o.reservation_id.map(|id| id.to_string()))
    .bind(o.payment_id.map(|id| id.to_string()))
    .bind(o.cancellation_reason.clone())
    .bind(failure.map(|f| f.kind.to_db()))
    .bind(failure.and_then(|f| f.field.clone()))
    .bind(failure.map(|f| f.message.clone()))
    .bind(time::to_db(&o.updated_at))
    .bind(o.id.to_string())
    .bind(before.version)
    .execute(&mut *c)
    .await
    .map_err(db_error)?;
    if done.rows_affected() != 1 {
        return Err(Error::unavailable(format!("order {} was changed concurrently; retry", o.number)));
    }
    for (position, (old, new)) in before.restocked.iter().zip(&after.restocked).enumerate() {
        if old != new {
            query("UPDATE order_lines SET restocked = $1 WHERE order_id = $2 AND position = $3")
                .bind(*new)
                .bind(o.id.to_string())
                .bind(position as i64)
                .execute(&mut *c)
                .await
                .map_err(db_error)?;
        }
    }
    let first = before.order.timeline.len();
    insert_transitions(c, o.id, first, o.timeline.get(first..).unwrap_or_default()).await
}

pub async fn order(c: &mut AnyConnection, id: Uuid) -> Result<Option<OrderRecord>> {
    let row = query(concat!("SELECT ", order_columns!(), " FROM orders WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(&mut *c)
        .await
        .map_err(db_error)?;
    Ok(complete(c, row.into_iter().collect()).await?.pop())
}

/// The number of an order placed from this cart that is not cancelled, if any.
pub async fn live_order_for_cart(c: &mut AnyConnection, cart_id: Uuid) -> Result<Option<String>> {
    comptoir_storage::query_scalar::<_, String>(
        "SELECT number FROM orders WHERE cart_id = $1 AND status <> 'cancelled' ORDER BY placed_at, id LIMIT 1",
    )
    .bind(cart_id.to_string())
    .fetch_optional(c)
    .await
    .map_err(db_error)
}

/// The order a customer placed under a checkout key.
pub async fn order_by_checkout_key(c: &mut AnyConnection, customer_id: Uuid, key: &str) -> Result<Option<OrderRecord>> {
    let row = query(concat!("SELECT ", order_columns!(), " FROM orders WHERE customer_id = $1 AND checkout_key = $2"))
        .bind(customer_id.to_string())
        .bind(key)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_error)?;
    Ok(complete(c, row.into_iter().collect()).await?.pop())
}

/// Orders matching `filter`, newest first, and how many match in all.
pub async fn search(c: &mut AnyConnection, filter: &OrderFilter, page: PageRequest) -> Result<(Vec<OrderRecord>, u64)> {
    let mut conditions = Vec::new();
    let mut values: Vec<String> = Vec::new();
    let mut add = |condition: &str, value: String| {
        values.push(value);
        conditions.push(condition.replace('?', &format!("${}", values.len())));
    };
    if let Some(status) = filter.status {
        add("status = ?", domain::status_to_db(status).to_string());
    }
    if let Some(customer_id) = filter.customer_id {
        add("customer_id = ?", customer_id.to_string());
    }
    if let Some(channel) = &filter.channel {
        add("channel = ?", channel.clone());
    }
    if let Some(from) = &filter.placed_from {
        add("placed_at >= ?", time::to_db(from));
    }
    if let Some(to) = &filter.placed_to {
        add("placed_at < ?", time::to_db(to));
    }
    if let Some(q) = filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        let escaped = q.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        add("(LOWER(number) LIKE ? ESCAPE '\\' OR LOWER(email) LIKE ? ESCAPE '\\')", format!("%{escaped}%"));
    }
    let filter_sql = if conditions.is_empty() { String::new() } else { format!(" WHERE {}", conditions.join(" AND ")) };

    let list = format!(
        "SELECT {} FROM orders{filter_sql} ORDER BY placed_at DESC, id DESC LIMIT ${} OFFSET ${}",
        order_columns!(),
        values.len() + 1,
        values.len() + 2
    );
    let mut q = query(AssertSqlSafe(list));
    for v in &values {
        q = q.bind(v.clone());
    }
    let rows = q.bind(page.limit()).bind(page.offset()).fetch_all(&mut *c).await.map_err(db_error)?;

    let mut count = query_scalar::<_, i64>(AssertSqlSafe(format!("SELECT COUNT(*) FROM orders{filter_sql}")));
    for v in &values {
        count = count.bind(v.clone());
    }
    let total = count.fetch_one(&mut *c).await.map_err(db_error)?;
    Ok((complete(c, rows).await?, total as u64))
}

/// Orders counted as sales: paid, or further along.
const SOLD: &str = "'paid', 'confirmed', 'shipped', 'delivered', 'partially_refunded', 'refunded'";

/// Sales per UTC day, channel and currency of the orders placed in `[from, to)`. `placed_at` is
/// fixed-width RFC 3339 text, so its first ten characters are the UTC day on every backend.
pub async fn daily_sales(
    c: &mut AnyConnection,
    from: &time::Timestamp,
    to: &time::Timestamp,
    channel: Option<&str>,
) -> Result<Vec<DailySales>> {
    let sql = format!(
        "SELECT SUBSTR(placed_at, 1, 10) AS day, channel, currency,
                CAST(SUM(CASE WHEN status IN ({SOLD}) THEN 1 ELSE 0 END) AS BIGINT) AS orders,
                CAST(SUM(CASE WHEN status IN ({SOLD}) THEN gross ELSE 0 END) AS BIGINT) AS gross,
                CAST(SUM(CASE WHEN status IN ({SOLD}) THEN refunded ELSE 0 END) AS BIGINT) AS refunded,
                CAST(SUM(CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END) AS BIGINT) AS cancelled
         FROM orders
         WHERE placed_at >= $1 AND placed_at < $2 AND ($3 = '' OR channel = $3)
         GROUP BY SUBSTR(placed_at, 1, 10), channel, currency
         ORDER BY day, channel, currency"
    );
    let rows = query(AssertSqlSafe(sql))
        .bind(time::to_db(from))
        .bind(time::to_db(to))
        .bind(channel.unwrap_or_default().to_string())
        .fetch_all(&mut *c)
        .await
        .map_err(db_error)?;
    rows.iter()
        .map(|row| {
            let currency = Currency::from_str(&text(row, "currency")?).map_err(Error::internal)?;
            Ok(DailySales {
                day: text(row, "day")?,
                channel: text(row, "channel")?,
                orders: int(row, "orders")?,
                gross: Money::new(int(row, "gross")?, currency),
                refunded: Money::new(int(row, "refunded")?, currency),
                cancelled: int(row, "cancelled")?,
            })
        })
        .filter(|day: &Result<DailySales>| day.as_ref().map_or(true, |d| d.orders > 0 || d.cancelled > 0))
        .collect()
}

/// Orders still in one of `statuses` that were placed before `placed_before`, oldest first.
pub async fn stale_checkouts(
    c: &mut AnyConnection,
    statuses: &[OrderStatus],
    placed_before: &time::Timestamp,
    limit: i64,
) -> Result<Vec<Uuid>> {
    let sql = format!(
        "SELECT id FROM orders WHERE status IN ({}) AND placed_at < ${} ORDER BY placed_at, id LIMIT ${}",
        placeholders(1, statuses.len()),
        statuses.len() + 1,
        statuses.len() + 2
    );
    let mut q = query_scalar::<_, String>(AssertSqlSafe(sql));
    for status in statuses {
        q = q.bind(domain::status_to_db(*status));
    }
    let ids = q.bind(time::to_db(placed_before)).bind(limit).fetch_all(c).await.map_err(db_error)?;
    ids.iter().map(|id| uuid_from_db(id)).collect()
}

/// Turns order rows into records, reading the lines and timelines of all of them in two queries.
async fn complete(c: &mut AnyConnection, rows: Vec<AnyRow>) -> Result<Vec<OrderRecord>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = rows.iter().map(|row| text(row, "id")).collect::<Result<_>>()?;
    let mut lines: HashMap<String, Vec<(OrderLineRow, i64)>> = HashMap::new();
    let sql = format!(
        "SELECT order_id, sku, product_id, product_name, quantity, unit_price, tax_rate, net, tax, gross, \
         weight_grams, restocked FROM order_lines WHERE order_id IN ({}) ORDER BY order_id, position",
        placeholders(1, ids.len())
    );
    let mut q = query(AssertSqlSafe(sql));
    for id in &ids {
        q = q.bind(id.clone());
    }
    for row in q.fetch_all(&mut *c).await.map_err(db_error)? {
        let line = OrderLineRow {
            sku: text(&row, "sku")?,
            product_id: uuid_from_db(&text(&row, "product_id")?)?,
            product_name: text(&row, "product_name")?,
            quantity: int(&row, "quantity")?,
            unit_price: int(&row, "unit_price")?,
            tax_rate: Decimal::from_str(&text(&row, "tax_rate")?)
                .map_err(|e| Error::internal(format!("stored tax rate is not a decimal: {e}")))?,
            net: int(&row, "net")?,
            tax: int(&row, "tax")?,
            gross: int(&row, "gross")?,
            weight_grams: row.try_get::<Option<i64>, _>("weight_grams").map_err(db_error)?,
        };
        lines.entry(text(&row, "order_id")?).or_default().push((line, int(&row, "restocked")?));
    }

    let mut timelines: HashMap<String, Vec<OrderTransition>> = HashMap::new();
    let sql = format!(
        "SELECT order_id, from_status, to_status, cause, actor, at FROM order_transitions \
         WHERE order_id IN ({}) ORDER BY order_id, position",
        placeholders(1, ids.len())
    );
    let mut q = query(AssertSqlSafe(sql));
    for id in &ids {
        q = q.bind(id.clone());
    }
    for row in q.fetch_all(&mut *c).await.map_err(db_error)? {
        let step = OrderTransition {
            from: optional_text(&row, "from_status")?.map(|s| domain::status_from_db(&s)).transpose()?,
            to: domain::status_from_db(&text(&row, "to_status")?)?,
            cause: text(&row, "cause")?,
            actor: text(&row, "actor")?,
            at: timestamp(&row, "at")?,
        };
        timelines.entry(text(&row, "order_id")?).or_default().push(step);
    }

    rows.iter()
        .zip(ids)
        .map(|(row, id)| {
            let lines = lines.remove(&id).unwrap_or_default();
            let timeline = timelines.remove(&id).unwrap_or_default();
            record_from_row(row, lines, timeline)
        })
        .collect()
}

struct OrderLineRow {
    sku: String,
    product_id: Uuid,
    product_name: String,
    quantity: i64,
    unit_price: i64,
    tax_rate: Decimal,
    net: i64,
    tax: i64,
    gross: i64,
    weight_grams: Option<i64>,
}

fn record_from_row(
    row: &AnyRow,
    lines: Vec<(OrderLineRow, i64)>,
    timeline: Vec<OrderTransition>,
) -> Result<OrderRecord> {
    let code = text(row, "currency")?;
    let currency: Currency =
        code.parse().map_err(|e| Error::internal(format!("stored order currency {code:?}: {e}")))?;
    let money = |column: &str| int(row, column).map(|amount| Money::new(amount, currency));
    let failure = match optional_text(row, "failure_kind")? {
        Some(kind) => Some(CheckoutFailure {
            kind: FailureKind::from_db(&kind)?,
            field: optional_text(row, "failure_field")?,
            message: optional_text(row, "failure_message")?.unwrap_or_default(),
        }),
        None => None,
    };
    let restocked = lines.iter().map(|(_, restocked)| *restocked).collect();
    let lines = lines
        .into_iter()
        .map(|(l, _)| OrderLine {
            sku: l.sku,
            product_id: l.product_id,
            product_name: l.product_name,
            quantity: l.quantity,
            unit_price: Money::new(l.unit_price, currency),
            tax_rate: l.tax_rate,
            net: Money::new(l.net, currency),
            tax: Money::new(l.tax, currency),
            gross: Money::new(l.gross, currency),
            weight_grams: l.weight_grams,
        })
        .collect();
    let order = Order {
        id: uuid_from_db(&text(row, "id")?)?,
        number: text(row, "number")?,
        customer_id: optional_id(row, "customer_id")?,
        email: text(row, "email")?,
        channel: text(row, "channel")?,
        currency,
        status: domain::status_from_db(&text(row, "status")?)?,
        prices_include_tax: flag(row, "prices_include_tax")?,
        lines,
        shipping: ShippingChoice {
            method: text(row, "shipping_method")?,
            name: text(row, "shipping_name")?,
            carrier: text(row, "shipping_carrier")?,
            net: money("shipping_net")?,
            tax: money("shipping_tax")?,
            gross: money("shipping_gross")?,
        },
        shipping_address: from_json::<PostalAddress>(&text(row, "shipping_address")?, "shipping address")?,
        billing_address: from_json::<PostalAddress>(&text(row, "billing_address")?, "billing address")?,
        totals: OrderTotals { net: money("net")?, tax: money("tax")?, gross: money("gross")? },
        refunded: money("refunded")?,
        reservation_id: optional_id(row, "reservation_id")?,
        payment_id: optional_id(row, "payment_id")?,
        cancellation_reason: optional_text(row, "cancellation_reason")?,
        timeline,
        created_at: timestamp(row, "placed_at")?,
        updated_at: timestamp(row, "updated_at")?,
    };
    Ok(OrderRecord {
        order,
        checkout_key: optional_text(row, "checkout_key")?,
        cart_id: optional_id(row, "cart_id")?,
        failure,
        restocked,
        refund_count: int(row, "refund_count")?,
        version: int(row, "version")?,
    })
}

// ---- Returns ---------------------------------------------------------------------------------

pub async fn insert_return(c: &mut AnyConnection, r: &OrderReturn) -> Result<()> {
    query(
        "INSERT INTO order_returns (id, order_id, status, reason, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(r.id.to_string())
    .bind(r.order_id.to_string())
    .bind(domain::return_status_to_db(r.status))
    .bind(&r.reason)
    .bind(time::to_db(&r.created_at))
    .bind(time::to_db(&r.updated_at))
    .execute(&mut *c)
    .await
    .map_err(db_error)?;
    for (position, line) in r.lines.iter().enumerate() {
        query("INSERT INTO return_lines (return_id, position, sku, quantity) VALUES ($1, $2, $3, $4)")
            .bind(r.id.to_string())
            .bind(position as i64)
            .bind(&line.sku)
            .bind(line.quantity)
            .execute(&mut *c)
            .await
            .map_err(db_error)?;
    }
    Ok(())
}

/// Moves a return from `from` to its new status. Returns `false` when it is no longer in `from`
/// (a concurrent change got there first): the condition, not an earlier read, decides.
pub async fn update_return_status(c: &mut AnyConnection, r: &OrderReturn, from: ReturnStatus) -> Result<bool> {
    let done = query("UPDATE order_returns SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4")
        .bind(domain::return_status_to_db(r.status))
        .bind(time::to_db(&r.updated_at))
        .bind(r.id.to_string())
        .bind(domain::return_status_to_db(from))
        .execute(c)
        .await
        .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

pub async fn order_return(c: &mut AnyConnection, id: Uuid) -> Result<Option<OrderReturn>> {
    let rows = query("SELECT id, order_id, status, reason, created_at, updated_at FROM order_returns WHERE id = $1")
        .bind(id.to_string())
        .fetch_all(&mut *c)
        .await
        .map_err(db_error)?;
    Ok(returns_from_rows(c, rows).await?.pop())
}

/// An order's returns, oldest first.
pub async fn returns_for_order(c: &mut AnyConnection, order_id: Uuid) -> Result<Vec<OrderReturn>> {
    let rows = query(
        "SELECT id, order_id, status, reason, created_at, updated_at FROM order_returns \
         WHERE order_id = $1 ORDER BY created_at, id",
    )
    .bind(order_id.to_string())
    .fetch_all(&mut *c)
    .await
    .map_err(db_error)?;
    returns_from_rows(c, rows).await
}

async fn returns_from_rows(c: &mut AnyConnection, rows: Vec<AnyRow>) -> Result<Vec<OrderReturn>> {
    let mut returns = Vec::with_capacity(rows.len());
    for row in rows {
        let id = text(&row, "id")?;
        let lines = query("SELECT sku, quantity FROM return_lines WHERE return_id = $1 ORDER BY position")
            .bind(&id)
            .fetch_all(&mut *c)
            .await
            .map_err(db_error)?
            .iter()
            .map(|line| Ok(ReturnLine { sku: text(line, "sku")?, quantity: int(line, "quantity")? }))
            .collect::<Result<_>>()?;
        returns.push(OrderReturn {
            id: uuid_from_db(&id)?,
            order_id: uuid_from_db(&text(&row, "order_id")?)?,
            status: domain::return_status_from_db(&text(&row, "status")?)?,
            lines,
            reason: text(&row, "reason")?,
            created_at: timestamp(&row, "created_at")?,
            updated_at: timestamp(&row, "updated_at")?,
        });
    }
    Ok(returns)
}
