//! The SQL that keeps the reporting module's tables: sales, their products and refunds, the
//! catalog's reference data, stock and carts. Writes run on a unit of work's connection; the
//! reports' own SQL is in `reports.rs`.

use std::str::FromStr;

use comptoir_kernel::time::{self, Timestamp};
use comptoir_kernel::{Currency, Error, Result};
use comptoir_storage::row::{int, optional_text, placeholders, text};
use comptoir_storage::{AnyRow, db_error, query, query_scalar};
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use uuid::Uuid;

use crate::domain::{LineRecord, RefundRecord, SaleFacts, SaleRecord, SaleState, Source};

/// Rows written by one multi-row statement.
const BATCH: usize = 200;

/// Takes the writers' row: held until the unit of work ends, so the consumers and a rebuild of
/// sales, refunds and products never interleave.
pub async fn serialise(c: &mut AnyConnection) -> Result<()> {
    query("UPDATE reporting_writers SET writes = writes + 1 WHERE id = 1").execute(c).await.map_err(db_error)?;
    Ok(())
}

pub(crate) fn currency(value: &str) -> Result<Currency> {
    Currency::from_str(value).map_err(|e| Error::internal(format!("stored currency: {e}")))
}

pub(crate) fn optional_int(row: &AnyRow, column: &str) -> Result<Option<i64>> {
    row.try_get::<Option<i64>, _>(column).map_err(db_error)
}

// ---- Sales, their products and refunds ------------------------------------------------------

pub async fn sale(c: &mut AnyConnection, id: Uuid) -> Result<Option<SaleRecord>> {
    let row = query(
        "SELECT source, state, channel, currency, placed_at, units, net, tax, gross, shipping, charged \
         FROM reporting_sales WHERE id = $1",
    )
    .bind(id.to_string())
    .fetch_optional(c)
    .await
    .map_err(db_error)?;
    let Some(row) = row else { return Ok(None) };
    let facts = match (optional_text(&row, "channel")?, optional_text(&row, "currency")?) {
        (Some(channel), Some(code)) => Some(SaleFacts {
            channel,
            currency: currency(&code)?,
            placed_at: time::from_db(&text(&row, "placed_at")?)?,
            units: int(&row, "units")?,
            net: int(&row, "net")?,
            tax: int(&row, "tax")?,
            gross: int(&row, "gross")?,
            shipping: int(&row, "shipping")?,
            charged: int(&row, "charged")?,
        }),
        _ => None,
    };
    Ok(Some(SaleRecord {
        id,
        source: Source::parse(&text(&row, "source")?)?,
        state: SaleState::parse(&text(&row, "state")?)?,
        facts,
    }))
}

/// Writes the sales' rows, replacing those present.
pub async fn put_sales(c: &mut AnyConnection, sales: &[SaleRecord]) -> Result<()> {
    const COLUMNS: usize = 14;
    let now = time::to_db(&time::now());
    for chunk in sales.chunks(BATCH) {
        let values: Vec<String> =
            (0..chunk.len()).map(|i| format!("({})", placeholders(i * COLUMNS + 1, COLUMNS))).collect();
        let sql = format!(
            "INSERT INTO reporting_sales (id, source, state, channel, currency, day, placed_at, units, net, tax, \
                 gross, shipping, charged, updated_at) VALUES {} \
             ON CONFLICT (id) DO UPDATE SET state = excluded.state, channel = excluded.channel, \
                 currency = excluded.currency, day = excluded.day, placed_at = excluded.placed_at, \
                 units = excluded.units, net = excluded.net, tax = excluded.tax, gross = excluded.gross, \
                 shipping = excluded.shipping, charged = excluded.charged, updated_at = excluded.updated_at",
            values.join(", ")
        );
        let mut insert = query(AssertSqlSafe(sql));
        for sale in chunk {
            let f = sale.facts.as_ref();
            insert = insert
                .bind(sale.id.to_string())
                .bind(sale.source.as_str())
                .bind(sale.state.as_str())
                .bind(f.map(|f| f.channel.clone()))
                .bind(f.map(|f| f.currency.to_string()))
                .bind(f.map(|f| f.day()))
                .bind(f.map(|f| time::to_db(&f.placed_at)))
                .bind(f.map(|f| f.units))
                .bind(f.map(|f| f.net))
                .bind(f.map(|f| f.tax))
                .bind(f.map(|f| f.gross))
                .bind(f.map(|f| f.shipping))
                .bind(f.map(|f| f.charged))
                .bind(now.clone());
        }
        insert.execute(&mut *c).await.map_err(db_error)?;
    }
    Ok(())
}

/// Writes the sales' products; a sale's products are written once.
pub async fn put_lines(c: &mut AnyConnection, lines: &[LineRecord]) -> Result<()> {
    const COLUMNS: usize = 7;
    for chunk in lines.chunks(BATCH) {
        let values: Vec<String> =
            (0..chunk.len()).map(|i| format!("({})", placeholders(i * COLUMNS + 1, COLUMNS))).collect();
        let sql = format!(
            "INSERT INTO reporting_sale_lines (sale_id, product_id, product_name, units, net, tax, gross) \
             VALUES {} ON CONFLICT (sale_id, product_id) DO NOTHING",
            values.join(", ")
        );
        let mut insert = query(AssertSqlSafe(sql));
        for line in chunk {
            insert = insert
                .bind(line.sale_id.to_string())
                .bind(line.product_id.to_string())
                .bind(line.product_name.clone())
                .bind(line.units)
                .bind(line.net)
                .bind(line.tax)
                .bind(line.gross);
        }
        insert.execute(&mut *c).await.map_err(db_error)?;
    }
    Ok(())
}

/// Writes refunds; one already written (the same return, the same event) is left as it is.
pub async fn put_refunds(c: &mut AnyConnection, refunds: &[RefundRecord]) -> Result<()> {
    const COLUMNS: usize = 7;
    for chunk in refunds.chunks(BATCH) {
        let values: Vec<String> =
            (0..chunk.len()).map(|i| format!("({})", placeholders(i * COLUMNS + 1, COLUMNS))).collect();
        let sql = format!(
            "INSERT INTO reporting_refunds (id, sale_id, source, day, channel, currency, amount) VALUES {} \
             ON CONFLICT (id) DO NOTHING",
            values.join(", ")
        );
        let mut insert = query(AssertSqlSafe(sql));
        for refund in chunk {
            insert = insert
                .bind(refund.id.clone())
                .bind(refund.sale_id.to_string())
                .bind(refund.source.as_str())
                .bind(refund.day.clone())
                .bind(refund.channel.clone())
                .bind(refund.currency.to_string())
                .bind(refund.amount);
        }
        insert.execute(&mut *c).await.map_err(db_error)?;
    }
    Ok(())
}

/// What was refunded of a sale so far.
pub async fn refunded(c: &mut AnyConnection, sale_id: Uuid) -> Result<i64> {
    query_scalar("SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM reporting_refunds WHERE sale_id = $1")
        .bind(sale_id.to_string())
        .fetch_one(c)
        .await
        .map_err(db_error)
}

/// Gives refunds heard of before their order the order's channel.
pub async fn name_refunds(c: &mut AnyConnection, sale_id: Uuid, channel: &str) -> Result<()> {
    query("UPDATE reporting_refunds SET channel = $2 WHERE sale_id = $1 AND channel IS NULL")
        .bind(sale_id.to_string())
        .bind(channel)
        .execute(c)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Forgets every sale and refund before a rebuild writes them again.
pub async fn clear_sales(c: &mut AnyConnection) -> Result<()> {
    for table in ["reporting_sales", "reporting_sale_lines", "reporting_refunds"] {
        query(AssertSqlSafe(format!("DELETE FROM {table}"))).execute(&mut *c).await.map_err(db_error)?;
    }
    Ok(())
}

// ---- Reference data: products, prices, categories, sellers ---------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductRecord {
    pub product_id: Uuid,
    pub name: String,
    pub seller_id: Uuid,
    pub category_id: Option<Uuid>,
    pub deleted: bool,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceRecord {
    pub sku: String,
    pub channel: String,
    pub product_id: Uuid,
    pub amount: i64,
    pub currency: Currency,
}

/// Whether the product is stored as deleted, and catalog's time of the stored description.
pub async fn product_stamp(c: &mut AnyConnection, product_id: Uuid) -> Result<Option<(bool, Timestamp)>> {
    let row =
        query("SELECT CAST(deleted AS INTEGER) AS deleted, updated_at FROM reporting_products WHERE product_id = $1")
            .bind(product_id.to_string())
            .fetch_optional(c)
            .await
            .map_err(db_error)?;
    row.map(|row| Ok((comptoir_storage::row::flag(&row, "deleted")?, time::from_db(&text(&row, "updated_at")?)?)))
        .transpose()
}

pub async fn put_products(c: &mut AnyConnection, products: &[ProductRecord]) -> Result<()> {
    const COLUMNS: usize = 6;
    for chunk in products.chunks(BATCH) {
        let values: Vec<String> =
            (0..chunk.len()).map(|i| format!("({})", placeholders(i * COLUMNS + 1, COLUMNS))).collect();
        let sql = format!(
            "INSERT INTO reporting_products (product_id, name, seller_id, category_id, deleted, updated_at) \
             VALUES {} ON CONFLICT (product_id) DO UPDATE SET name = excluded.name, \
                 seller_id = excluded.seller_id, category_id = excluded.category_id, deleted = excluded.deleted, \
                 updated_at = excluded.updated_at",
            values.join(", ")
        );
        let mut insert = query(AssertSqlSafe(sql));
        for p in chunk {
            insert = insert
                .bind(p.product_id.to_string())
                .bind(p.name.clone())
                .bind(p.seller_id.to_string())
                .bind(p.category_id.map(|id| id.to_string()))
                .bind(p.deleted as i32)
                .bind(time::to_db(&p.updated_at));
        }
        insert.execute(&mut *c).await.map_err(db_error)?;
    }
    Ok(())
}

/// Marks a product deleted as of `product.updated_at` (the deletion), keeping its name, and drops
/// its prices; one never heard of is remembered by what the deletion said of it. A reading of
/// the product older than the deletion never brings it back.
pub async fn delete_product(c: &mut AnyConnection, product: &ProductRecord) -> Result<()> {
    query(
        "INSERT INTO reporting_products (product_id, name, seller_id, category_id, deleted, updated_at) \
         VALUES ($1, $2, $3, NULL, 1, $4) ON CONFLICT (product_id) DO UPDATE SET deleted = 1, \
             updated_at = CASE WHEN excluded.updated_at > reporting_products.updated_at \
                 THEN excluded.updated_at ELSE reporting_products.updated_at END",
    )
    .bind(product.product_id.to_string())
    .bind(product.name.clone())
    .bind(product.seller_id.to_string())
    .bind(time::to_db(&product.updated_at))
    .execute(&mut *c)
    .await
    .map_err(db_error)?;
    forget_prices(c, product.product_id).await
}

pub async fn forget_prices(c: &mut AnyConnection, product_id: Uuid) -> Result<()> {
    query("DELETE FROM reporting_prices WHERE product_id = $1")
        .bind(product_id.to_string())
        .execute(c)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Writes prices, replacing a SKU's price in a channel.
pub async fn put_prices(c: &mut AnyConnection, prices: &[PriceRecord]) -> Result<()> {
    const COLUMNS: usize = 5;
    for chunk in prices.chunks(BATCH) {
        let values: Vec<String> =
            (0..chunk.len()).map(|i| format!("({})", placeholders(i * COLUMNS + 1, COLUMNS))).collect();
        let sql = format!(
            "INSERT INTO reporting_prices (sku, channel, product_id, amount, currency) VALUES {} \
             ON CONFLICT (sku, channel) DO UPDATE SET product_id = excluded.product_id, amount = excluded.amount, \
                 currency = excluded.currency",
            values.join(", ")
        );
        let mut insert = query(AssertSqlSafe(sql));
        for p in chunk {
            insert = insert
                .bind(p.sku.clone())
                .bind(p.channel.clone())
                .bind(p.product_id.to_string())
                .bind(p.amount)
                .bind(p.currency.to_string());
        }
        insert.execute(&mut *c).await.map_err(db_error)?;
    }
    Ok(())
}

/// Before a rebuild writes the catalog again: every product counts as deleted (names kept) until
/// listed, and no price is left.
pub async fn retire_catalog(c: &mut AnyConnection) -> Result<()> {
    query("UPDATE reporting_products SET deleted = 1").execute(&mut *c).await.map_err(db_error)?;
    query("DELETE FROM reporting_prices").execute(&mut *c).await.map_err(db_error)?;
    Ok(())
}

/// The products stored as not deleted.
pub async fn live_products(c: &mut AnyConnection) -> Result<Vec<Uuid>> {
    let ids: Vec<String> =
        query_scalar("SELECT product_id FROM reporting_products WHERE deleted = 0 ORDER BY product_id")
            .fetch_all(c)
            .await
            .map_err(db_error)?;
    ids.iter().map(|id| comptoir_storage::uuid_from_db(id)).collect()
}

pub async fn category_known(c: &mut AnyConnection, category_id: Uuid) -> Result<bool> {
    let found: Option<String> = query_scalar("SELECT category_id FROM reporting_categories WHERE category_id = $1")
        .bind(category_id.to_string())
        .fetch_optional(c)
        .await
        .map_err(db_error)?;
    Ok(found.is_some())
}

/// Writes categories `(id, parent, name)`, replacing those present.
pub async fn put_categories(c: &mut AnyConnection, categories: &[(Uuid, Option<Uuid>, String)]) -> Result<()> {
    for chunk in categories.chunks(BATCH) {
        let values: Vec<String> = (0..chunk.len()).map(|i| format!("({})", placeholders(i * 3 + 1, 3))).collect();
        let sql = format!(
            "INSERT INTO reporting_categories (category_id, parent_id, name) VALUES {} \
             ON CONFLICT (category_id) DO UPDATE SET parent_id = excluded.parent_id, name = excluded.name",
            values.join(", ")
        );
        let mut insert = query(AssertSqlSafe(sql));
        for (id, parent, name) in chunk {
            insert = insert.bind(id.to_string()).bind(parent.map(|p| p.to_string())).bind(name.clone());
        }
        insert.execute(&mut *c).await.map_err(db_error)?;
    }
    Ok(())
}

pub async fn put_seller(c: &mut AnyConnection, seller_id: Uuid, name: &str) -> Result<()> {
    query(
        "INSERT INTO reporting_sellers (seller_id, name) VALUES ($1, $2) \
         ON CONFLICT (seller_id) DO UPDATE SET name = excluded.name",
    )
    .bind(seller_id.to_string())
    .bind(name)
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(())
}

// ---- Stock and carts ------------------------------------------------------------------------

pub async fn put_location(c: &mut AnyConnection, code: &str) -> Result<()> {
    query("INSERT INTO reporting_locations (code) VALUES ($1) ON CONFLICT (code) DO NOTHING")
        .bind(code)
        .execute(c)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Records the units on hand as inventory said at `as_of`, unless newer news is stored.
pub async fn set_stock(
    c: &mut AnyConnection,
    sku: &str,
    location: &str,
    on_hand: i64,
    as_of: &Timestamp,
) -> Result<()> {
    query(
        "INSERT INTO reporting_stock (sku, location, on_hand, as_of) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (sku, location) DO UPDATE SET on_hand = excluded.on_hand, as_of = excluded.as_of \
         WHERE reporting_stock.as_of < excluded.as_of",
    )
    .bind(sku)
    .bind(location)
    .bind(on_hand)
    .bind(time::to_db(as_of))
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// A cart started on `day` in `channel`; a cart already heard of (merged or ordered first) gets
/// its day and channel.
pub async fn cart_created(c: &mut AnyConnection, cart_id: Uuid, channel: &str, day: &str) -> Result<()> {
    query(
        "INSERT INTO reporting_carts (cart_id, channel, day, merged, ordered) VALUES ($1, $2, $3, 0, 0) \
         ON CONFLICT (cart_id) DO UPDATE SET channel = excluded.channel, day = excluded.day \
         WHERE reporting_carts.day IS NULL",
    )
    .bind(cart_id.to_string())
    .bind(channel)
    .bind(day)
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Marks a cart merged away (`merged`) or checked out (`ordered`), whether or not its creation was
/// heard of yet.
pub async fn mark_cart(c: &mut AnyConnection, cart_id: Uuid, mark: CartMark) -> Result<()> {
    let sql = match mark {
        CartMark::Merged => {
            "INSERT INTO reporting_carts (cart_id, channel, day, merged, ordered) VALUES ($1, NULL, NULL, 1, 0) \
             ON CONFLICT (cart_id) DO UPDATE SET merged = 1"
        }
        CartMark::Ordered => {
            "INSERT INTO reporting_carts (cart_id, channel, day, merged, ordered) VALUES ($1, NULL, NULL, 0, 1) \
             ON CONFLICT (cart_id) DO UPDATE SET ordered = 1"
        }
    };
    query(sql).bind(cart_id.to_string()).execute(c).await.map_err(db_error)?;
    Ok(())
}

#[derive(Debug, Clone, Copy)]
pub enum CartMark {
    Merged,
    Ordered,
}
