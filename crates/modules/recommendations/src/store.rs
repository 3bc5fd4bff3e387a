//! The SQL of the recommendations module: orders heard of, the products each counted for, order
//! counts per product and per pair. Writes run on a unit of work's connection.

use comptoir_kernel::time::Timestamp;
use comptoir_kernel::{Error, Result, time};
use comptoir_storage::row::{flag, int, optional_text, placeholders, text};
use comptoir_storage::{db_error, query, query_scalar, uuid_from_db};
use sqlx::{AnyConnection, AssertSqlSafe};
use uuid::Uuid;

/// Rows written by one multi-row statement.
const BATCH: usize = 200;

/// Where an order stands in the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderState {
    Counted,
    Removed,
    Unseen,
}

impl OrderState {
    fn as_str(self) -> &'static str {
        match self {
            OrderState::Counted => "counted",
            OrderState::Removed => "removed",
            OrderState::Unseen => "unseen",
        }
    }

    fn parse(value: &str) -> Result<OrderState> {
        match value {
            "counted" => Ok(OrderState::Counted),
            "removed" => Ok(OrderState::Removed),
            "unseen" => Ok(OrderState::Unseen),
            other => Err(Error::internal(format!("stored order state {other:?} is unknown"))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRow {
    pub order_id: Uuid,
    pub state: OrderState,
    pub currency: Option<String>,
    pub gross: Option<i64>,
    pub refunded: i64,
}

/// A product bought with the one asked about, and the numbers to rate it.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub product_id: Uuid,
    pub name: String,
    /// Counted orders holding both.
    pub together: i64,
    /// Counted orders holding the candidate.
    pub orders: i64,
}

/// Adds `delta` to the number of counted orders and returns the new number. Every writer calls it
/// first (with 0 when it does not know the delta yet): the row stays locked until the unit of work
/// ends, so writers never interleave.
pub async fn add_to_total(c: &mut AnyConnection, delta: i64) -> Result<i64> {
    query_scalar("UPDATE recommendations_totals SET orders = orders + $1 WHERE id = 1 RETURNING orders")
        .bind(delta)
        .fetch_one(c)
        .await
        .map_err(db_error)
}

pub async fn total_orders(c: &mut AnyConnection) -> Result<i64> {
    query_scalar("SELECT orders FROM recommendations_totals WHERE id = 1").fetch_one(c).await.map_err(db_error)
}

pub async fn order(c: &mut AnyConnection, order_id: Uuid) -> Result<Option<OrderRow>> {
    let row =
        query("SELECT order_id, state, currency, gross, refunded FROM recommendations_orders WHERE order_id = $1")
            .bind(order_id.to_string())
            .fetch_optional(c)
            .await
            .map_err(db_error)?;
    row.map(|row| {
        Ok(OrderRow {
            order_id,
            state: OrderState::parse(&text(&row, "state")?)?,
            currency: optional_text(&row, "currency")?,
            gross: sqlx::Row::try_get::<Option<i64>, _>(&row, "gross").map_err(db_error)?,
            refunded: int(&row, "refunded")?,
        })
    })
    .transpose()
}

/// Writes the orders' rows (replacing those present).
pub async fn put_orders(c: &mut AnyConnection, orders: &[OrderRow]) -> Result<()> {
    let now = time::to_db(&time::now());
    for chunk in orders.chunks(BATCH) {
        let values: Vec<String> = (0..chunk.len()).map(|i| format!("({})", placeholders(i * 6 + 1, 6))).collect();
        let sql = format!(
            "INSERT INTO recommendations_orders (order_id, state, currency, gross, refunded, updated_at) VALUES {} \
             ON CONFLICT (order_id) DO UPDATE SET state = excluded.state, currency = excluded.currency, \
                 gross = excluded.gross, refunded = excluded.refunded, updated_at = excluded.updated_at",
            values.join(", ")
        );
        let mut insert = query(AssertSqlSafe(sql));
        for order in chunk {
            insert = insert
                .bind(order.order_id.to_string())
                .bind(order.state.as_str())
                .bind(order.currency.clone())
                .bind(order.gross)
                .bind(order.refunded)
                .bind(now.clone());
        }
        insert.execute(&mut *c).await.map_err(db_error)?;
    }
    Ok(())
}

/// Ties products to their order: `(order, product, paired)`.
pub async fn put_order_products(c: &mut AnyConnection, rows: &[(Uuid, Uuid, bool)]) -> Result<()> {
    for chunk in rows.chunks(BATCH) {
        let values: Vec<String> = (0..chunk.len()).map(|i| format!("({})", placeholders(i * 3 + 1, 3))).collect();
        let sql = format!(
            "INSERT INTO recommendations_order_products (order_id, product_id, paired) VALUES {}",
            values.join(", ")
        );
        let mut insert = query(AssertSqlSafe(sql));
        for (order_id, product_id, paired) in chunk {
            insert = insert.bind(order_id.to_string()).bind(product_id.to_string()).bind(*paired as i32);
        }
        insert.execute(&mut *c).await.map_err(db_error)?;
    }
    Ok(())
}

/// The products a counted order counted for, in no particular order, and whether each made pairs.
pub async fn order_products(c: &mut AnyConnection, order_id: Uuid) -> Result<Vec<(Uuid, bool)>> {
    let rows = query(
        "SELECT product_id, CAST(paired AS INTEGER) AS paired FROM recommendations_order_products \
         WHERE order_id = $1 ORDER BY product_id",
    )
    .bind(order_id.to_string())
    .fetch_all(&mut *c)
    .await
    .map_err(db_error)?;
    rows.iter().map(|row| Ok((uuid_from_db(&text(row, "product_id")?)?, flag(row, "paired")?))).collect()
}

pub async fn forget_order_products(c: &mut AnyConnection, order_id: Uuid) -> Result<()> {
    query("DELETE FROM recommendations_order_products WHERE order_id = $1")
        .bind(order_id.to_string())
        .execute(c)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Adds `orders` to each product's count, naming it as the order placed at `named_at` did unless
/// a later order's name is stored: `(product, name, named_at, orders)`.
pub async fn add_products(c: &mut AnyConnection, products: &[(Uuid, String, Timestamp, i64)]) -> Result<()> {
    for chunk in products.chunks(BATCH) {
        let values: Vec<String> = (0..chunk.len()).map(|i| format!("({})", placeholders(i * 4 + 1, 4))).collect();
        let sql = format!(
            "INSERT INTO recommendations_products (product_id, name, named_at, orders) VALUES {} \
             ON CONFLICT (product_id) DO UPDATE SET orders = recommendations_products.orders + excluded.orders, \
                 name = CASE WHEN excluded.named_at >= recommendations_products.named_at \
                     THEN excluded.name ELSE recommendations_products.name END, \
                 named_at = CASE WHEN excluded.named_at >= recommendations_products.named_at \
                     THEN excluded.named_at ELSE recommendations_products.named_at END",
            values.join(", ")
        );
        let mut insert = query(AssertSqlSafe(sql));
        for (product_id, name, named_at, orders) in chunk {
            insert = insert.bind(product_id.to_string()).bind(name.clone()).bind(time::to_db(named_at)).bind(*orders);
        }
        insert.execute(&mut *c).await.map_err(db_error)?;
    }
    Ok(())
}

/// Takes one order off each product's count; a product no counted order holds any more is
/// forgotten.
pub async fn remove_products(c: &mut AnyConnection, products: &[Uuid]) -> Result<()> {
    for chunk in products.chunks(BATCH) {
        let list = placeholders(1, chunk.len());
        for sql in [
            format!("UPDATE recommendations_products SET orders = orders - 1 WHERE product_id IN ({list})"),
            format!("DELETE FROM recommendations_products WHERE orders <= 0 AND product_id IN ({list})"),
        ] {
            let mut statement = query(AssertSqlSafe(sql));
            for id in chunk {
                statement = statement.bind(id.to_string());
            }
            statement.execute(&mut *c).await.map_err(db_error)?;
        }
    }
    Ok(())
}

/// Adds `orders` to each directed pair's count: `(product, other, orders)`. Pairs left with no
/// order are deleted.
pub async fn add_pairs(c: &mut AnyConnection, pairs: &[(Uuid, Uuid, i64)]) -> Result<()> {
    for chunk in pairs.chunks(BATCH) {
        let values: Vec<String> = (0..chunk.len()).map(|i| format!("({})", placeholders(i * 3 + 1, 3))).collect();
        let sql = format!(
            "INSERT INTO recommendations_pairs (product_id, other_id, orders) VALUES {} \
             ON CONFLICT (product_id, other_id) DO UPDATE SET orders = recommendations_pairs.orders + excluded.orders",
            values.join(", ")
        );
        let mut insert = query(AssertSqlSafe(sql));
        for (product_id, other_id, orders) in chunk {
            insert = insert.bind(product_id.to_string()).bind(other_id.to_string()).bind(*orders);
        }
        insert.execute(&mut *c).await.map_err(db_error)?;
    }
    if pairs.iter().any(|(_, _, orders)| *orders < 0) {
        let mut products: Vec<Uuid> = pairs.iter().map(|(p, _, _)| *p).collect();
        products.sort();
        products.dedup();
        for chunk in products.chunks(BATCH) {
            let sql = format!(
                "DELETE FROM recommendations_pairs WHERE orders <= 0 AND product_id IN ({})",
                placeholders(1, chunk.len())
            );
            let mut delete = query(AssertSqlSafe(sql));
            for id in chunk {
                delete = delete.bind(id.to_string());
            }
            delete.execute(&mut *c).await.map_err(db_error)?;
        }
    }
    Ok(())
}

/// Counted orders holding the product, if any does.
pub async fn product_orders(c: &mut AnyConnection, product_id: Uuid) -> Result<Option<i64>> {
    query_scalar("SELECT orders FROM recommendations_products WHERE product_id = $1")
        .bind(product_id.to_string())
        .fetch_optional(c)
        .await
        .map_err(db_error)
}

/// The `limit` products most often bought with this one, most often first.
pub async fn candidates(c: &mut AnyConnection, product_id: Uuid, limit: i64) -> Result<Vec<Candidate>> {
    let rows = query(
        "SELECT p.other_id, p.orders AS together, o.orders, o.name FROM recommendations_pairs p \
         JOIN recommendations_products o ON o.product_id = p.other_id \
         WHERE p.product_id = $1 AND p.other_id <> p.product_id AND p.orders > 0 \
         ORDER BY p.orders DESC, p.other_id LIMIT $2",
    )
    .bind(product_id.to_string())
    .bind(limit)
    .fetch_all(c)
    .await
    .map_err(db_error)?;
    rows.iter()
        .map(|row| {
            Ok(Candidate {
                product_id: uuid_from_db(&text(row, "other_id")?)?,
                name: text(row, "name")?,
                together: int(row, "together")?,
                orders: int(row, "orders")?,
            })
        })
        .collect()
}

/// Distinct unordered pairs (each is stored both ways).
pub async fn pair_count(c: &mut AnyConnection) -> Result<u64> {
    let rows: i64 = query_scalar("SELECT COUNT(*) FROM recommendations_pairs").fetch_one(c).await.map_err(db_error)?;
    Ok(rows as u64 / 2)
}

/// Forgets everything counted before a rebuild writes it again.
pub async fn clear(c: &mut AnyConnection) -> Result<()> {
    for table in [
        "recommendations_orders",
        "recommendations_order_products",
        "recommendations_products",
        "recommendations_pairs",
    ] {
        query(AssertSqlSafe(format!("DELETE FROM {table}"))).execute(&mut *c).await.map_err(db_error)?;
    }
    query("UPDATE recommendations_totals SET orders = 0 WHERE id = 1").execute(&mut *c).await.map_err(db_error)?;
    Ok(())
}
