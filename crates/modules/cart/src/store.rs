//! The cart's SQL. Every function takes a connection, so callers choose between a read
//! transaction and the unit of work of a change.

use comptoir_kernel::time::{self, Timestamp};
use comptoir_kernel::{Money, Result};
use comptoir_storage::{AnyRow, Row, db_error, query, uuid_from_db};
use sqlx::AnyConnection;
use uuid::Uuid;

use crate::domain::{self, CartRecord, Line, LineChange};

/// The carts columns, as a macro so that queries stay `&'static str` literals (sqlx's guard
/// against SQL built from runtime strings).
macro_rules! cart_columns {
    () => {
        "id, customer_id, token_hash, channel, currency, status, merged_into, created_at, updated_at"
    };
}

pub async fn cart(conn: &mut AnyConnection, id: Uuid) -> Result<Option<CartRecord>> {
    let row = query(concat!("SELECT ", cart_columns!(), " FROM carts WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(conn)
        .await
        .map_err(db_error)?;
    row.as_ref().map(cart_from_row).transpose()
}

/// The customer's active cart in `channel`, or in any channel (the most recently used) when
/// `channel` is `None`.
pub async fn active_customer_cart(
    conn: &mut AnyConnection,
    customer_id: Uuid,
    channel: Option<&str>,
) -> Result<Option<CartRecord>> {
    let row = query(concat!(
        "SELECT ",
        cart_columns!(),
        " FROM carts WHERE customer_id = $1 AND status = 'active' AND ($2 IS NULL OR channel = $2) \
         ORDER BY updated_at DESC, id DESC LIMIT 1"
    ))
    .bind(customer_id.to_string())
    .bind(channel.map(str::to_string))
    .fetch_optional(conn)
    .await
    .map_err(db_error)?;
    row.as_ref().map(cart_from_row).transpose()
}

pub async fn lines(conn: &mut AnyConnection, cart_id: Uuid) -> Result<Vec<Line>> {
    let rows = query(
        "SELECT sku, product_id, product_name, quantity, unit_price, currency FROM cart_lines \
         WHERE cart_id = $1 ORDER BY position",
    )
    .bind(cart_id.to_string())
    .fetch_all(conn)
    .await
    .map_err(db_error)?;
    rows.iter().map(line_from_row).collect()
}

/// Inserts a cart. Returns `false` when the customer already has an active cart in that channel
/// (another request created it first). `DO NOTHING` rather than a failed insert keeps the
/// transaction usable on PostgreSQL, so the caller can read the winner's cart.
pub async fn insert_cart(conn: &mut AnyConnection, cart: &CartRecord) -> Result<bool> {
    let done = query(concat!(
        "INSERT INTO carts (",
        cart_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING"
    ))
    .bind(cart.id.to_string())
    .bind(cart.customer_id.map(|id| id.to_string()))
    .bind(cart.token_hash.clone())
    .bind(cart.channel.clone())
    .bind(cart.currency.code().to_string())
    .bind(domain::status_to_db(cart.status))
    .bind(cart.merged_into.map(|id| id.to_string()))
    .bind(time::to_db(&cart.created_at))
    .bind(time::to_db(&cart.updated_at))
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

pub async fn apply(conn: &mut AnyConnection, cart_id: Uuid, change: &LineChange) -> Result<()> {
    let cart_id = cart_id.to_string();
    let statement = match change {
        LineChange::Insert(line) => query(
            "INSERT INTO cart_lines (cart_id, sku, product_id, product_name, quantity, unit_price, currency, position) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, \
                     (SELECT COALESCE(MAX(position), 0) + 1 FROM cart_lines WHERE cart_id = $1))",
        )
        .bind(cart_id)
        .bind(line.sku.clone())
        .bind(line.product_id.to_string())
        .bind(line.product_name.clone())
        .bind(line.quantity)
        .bind(line.unit_price.amount)
        .bind(line.unit_price.currency.code().to_string()),
        LineChange::SetQuantity { sku, quantity } => {
            query("UPDATE cart_lines SET quantity = $3 WHERE cart_id = $1 AND sku = $2")
                .bind(cart_id)
                .bind(sku.clone())
                .bind(*quantity)
        }
        LineChange::Remove { sku } => {
            query("DELETE FROM cart_lines WHERE cart_id = $1 AND sku = $2").bind(cart_id).bind(sku.clone())
        }
    };
    statement.execute(conn).await.map_err(db_error)?;
    Ok(())
}

/// Takes the cart's row lock for the rest of the unit of work, before its lines are read: on
/// PostgreSQL concurrent writers are not serialised as on SQLite, and a read-modify-write of the
/// lines would otherwise lose a change. An UPDATE rather than `SELECT ... FOR UPDATE`, which SQLite
/// does not have; a no-op when the cart does not exist (the caller's read then says so).
pub async fn lock(conn: &mut AnyConnection, cart_id: Uuid) -> Result<()> {
    query("UPDATE carts SET updated_at = updated_at WHERE id = $1")
        .bind(cart_id.to_string())
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

pub async fn touch(conn: &mut AnyConnection, cart_id: Uuid, at: &Timestamp) -> Result<()> {
    query("UPDATE carts SET updated_at = $2 WHERE id = $1")
        .bind(cart_id.to_string())
        .bind(time::to_db(at))
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

pub async fn mark_merged(conn: &mut AnyConnection, cart_id: Uuid, into: Uuid, at: &Timestamp) -> Result<()> {
    query("UPDATE carts SET status = 'merged', merged_into = $2, updated_at = $3 WHERE id = $1")
        .bind(cart_id.to_string())
        .bind(into.to_string())
        .bind(time::to_db(at))
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// An active cart became an order; `false` if it was not active (already checked out).
pub async fn mark_checked_out(conn: &mut AnyConnection, cart_id: Uuid, at: &Timestamp) -> Result<bool> {
    let done = query("UPDATE carts SET status = 'checked_out', updated_at = $2 WHERE id = $1 AND status = 'active'")
        .bind(cart_id.to_string())
        .bind(time::to_db(at))
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

fn cart_from_row(row: &AnyRow) -> Result<CartRecord> {
    let text = |col: &str| row.try_get::<String, _>(col).map_err(db_error);
    let optional = |col: &str| row.try_get::<Option<String>, _>(col).map_err(db_error);
    Ok(CartRecord {
        id: uuid_from_db(&text("id")?)?,
        customer_id: optional("customer_id")?.as_deref().map(uuid_from_db).transpose()?,
        token_hash: optional("token_hash")?,
        channel: text("channel")?,
        currency: currency(&text("currency")?)?,
        status: domain::status_from_db(&text("status")?)?,
        merged_into: optional("merged_into")?.as_deref().map(uuid_from_db).transpose()?,
        created_at: time::from_db(&text("created_at")?)?,
        updated_at: time::from_db(&text("updated_at")?)?,
    })
}

fn line_from_row(row: &AnyRow) -> Result<Line> {
    let text = |col: &str| row.try_get::<String, _>(col).map_err(db_error);
    let number = |col: &str| row.try_get::<i64, _>(col).map_err(db_error);
    Ok(Line {
        sku: text("sku")?,
        product_id: uuid_from_db(&text("product_id")?)?,
        product_name: text("product_name")?,
        quantity: number("quantity")?,
        unit_price: Money::new(number("unit_price")?, currency(&text("currency")?)?),
    })
}

fn currency(code: &str) -> Result<comptoir_kernel::Currency> {
    code.parse().map_err(|e: String| comptoir_kernel::Error::internal(format!("stored currency: {e}")))
}
