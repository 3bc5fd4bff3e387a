//! The SQL of the reports, each counted by the database (GROUP BY), never by reading every sale
//! into memory. Reads run on one read-only snapshot of the database per report.

use std::collections::HashMap;

use comptoir_kernel::{Currency, Result};
use comptoir_storage::row::{int, optional_text, placeholders, text};
use comptoir_storage::{db_error, query, query_scalar};
use sqlx::{AnyConnection, AssertSqlSafe};

use crate::domain::{NONE_KEY, UNKNOWN_CHANNEL};
use crate::store::{currency, optional_int};

/// Sellers whose names are read per statement.
const BATCH: usize = 200;

/// A period, in one channel (`""` for all).
pub struct Period<'a> {
    pub from: String,
    pub to: String,
    pub channel: &'a str,
}

/// What sales rows are grouped by, as SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Day,
    Channel,
    Product,
    Category,
    Seller,
    /// The whole period, per currency.
    Total,
}

/// One group's figures, before its label is spelt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figures {
    pub key: String,
    /// Product rows: the product's name.
    pub label: Option<String>,
    pub currency: Currency,
    pub orders: i64,
    pub units: i64,
    pub net: i64,
    pub tax: i64,
    pub gross: i64,
    pub shipping: i64,
}

/// Sales per group and currency. Day, channel and total rows count sales (shipping included);
/// product, category and seller rows count the sales' products (no shipping), each sale once
/// per group however many of its lines fall in it.
pub async fn sales(c: &mut AnyConnection, group: Group, period: &Period<'_>) -> Result<Vec<Figures>> {
    let of_sales = |key: &str, group_by: &str, order: &str| {
        format!(
            "SELECT {key} AS group_key, CAST(NULL AS TEXT) AS group_label, currency AS group_currency, \
                 COUNT(*) AS n_orders, CAST(SUM(units) AS BIGINT) AS n_units, CAST(SUM(net) AS BIGINT) AS sum_net, \
                 CAST(SUM(tax) AS BIGINT) AS sum_tax, CAST(SUM(gross) AS BIGINT) AS sum_gross, \
                 CAST(SUM(shipping) AS BIGINT) AS sum_shipping \
             FROM reporting_sales \
             WHERE state = 'counted' AND day >= $1 AND day <= $2 AND ($3 = '' OR channel = $3) \
             GROUP BY {group_by} ORDER BY {order}"
        )
    };
    let of_lines = |key: &str, label: &str| {
        format!(
            "SELECT {key} AS group_key, {label} AS group_label, s.currency AS group_currency, \
                 COUNT(DISTINCT l.sale_id) AS n_orders, CAST(SUM(l.units) AS BIGINT) AS n_units, \
                 CAST(SUM(l.net) AS BIGINT) AS sum_net, CAST(SUM(l.tax) AS BIGINT) AS sum_tax, \
                 CAST(SUM(l.gross) AS BIGINT) AS sum_gross, CAST(0 AS BIGINT) AS sum_shipping \
             FROM reporting_sale_lines l \
             JOIN reporting_sales s ON s.id = l.sale_id \
             LEFT JOIN reporting_products p ON p.product_id = l.product_id \
             WHERE s.state = 'counted' AND s.day >= $1 AND s.day <= $2 AND ($3 = '' OR s.channel = $3) \
             GROUP BY {key}, s.currency ORDER BY sum_gross DESC, group_key, group_currency"
        )
    };
    let sql = match group {
        Group::Day => of_sales("day", "day, currency", "group_key, group_currency"),
        Group::Channel => of_sales("channel", "channel, currency", "group_key, group_currency"),
        Group::Total => of_sales("'total'", "currency", "group_currency"),
        Group::Product => of_lines("l.product_id", "MAX(COALESCE(p.name, l.product_name))"),
        Group::Category => of_lines(&format!("COALESCE(p.category_id, '{NONE_KEY}')"), "CAST(NULL AS TEXT)"),
        Group::Seller => of_lines(&format!("COALESCE(p.seller_id, '{NONE_KEY}')"), "CAST(NULL AS TEXT)"),
    };
    let rows = query(AssertSqlSafe(sql))
        .bind(&period.from)
        .bind(&period.to)
        .bind(period.channel)
        .fetch_all(c)
        .await
        .map_err(db_error)?;
    rows.iter()
        .map(|row| {
            Ok(Figures {
                key: text(row, "group_key")?,
                label: optional_text(row, "group_label")?,
                currency: currency(&text(row, "group_currency")?)?,
                orders: int(row, "n_orders")?,
                units: optional_int(row, "n_units")?.unwrap_or(0),
                net: optional_int(row, "sum_net")?.unwrap_or(0),
                tax: optional_int(row, "sum_tax")?.unwrap_or(0),
                gross: optional_int(row, "sum_gross")?.unwrap_or(0),
                shipping: optional_int(row, "sum_shipping")?.unwrap_or(0),
            })
        })
        .collect()
}

/// Refunds per day, channel and currency: `(day, channel, currency, refunds, amount)`.
pub async fn refunds(c: &mut AnyConnection, period: &Period<'_>) -> Result<Vec<(String, String, Currency, i64, i64)>> {
    let sql = format!(
        "SELECT day, COALESCE(channel, '{UNKNOWN_CHANNEL}') AS refund_channel, currency, COUNT(*) AS refunds, \
             CAST(SUM(amount) AS BIGINT) AS amount \
         FROM reporting_refunds \
         WHERE day >= $1 AND day <= $2 AND ($3 = '' OR channel = $3) \
         GROUP BY day, COALESCE(channel, '{UNKNOWN_CHANNEL}'), currency \
         ORDER BY day, refund_channel, currency"
    );
    let rows = query(AssertSqlSafe(sql))
        .bind(&period.from)
        .bind(&period.to)
        .bind(period.channel)
        .fetch_all(c)
        .await
        .map_err(db_error)?;
    rows.iter()
        .map(|row| {
            Ok((
                text(row, "day")?,
                text(row, "refund_channel")?,
                currency(&text(row, "currency")?)?,
                int(row, "refunds")?,
                int(row, "amount")?,
            ))
        })
        .collect()
}

/// Carts started per day and channel (merged-away carts left out), and how many were ordered:
/// `(day, channel, carts, ordered)`.
pub async fn conversion(c: &mut AnyConnection, period: &Period<'_>) -> Result<Vec<(String, String, i64, i64)>> {
    let rows = query(
        "SELECT day, channel, COUNT(*) AS carts, CAST(SUM(CASE WHEN ordered = 1 THEN 1 ELSE 0 END) AS BIGINT) AS ordered \
         FROM reporting_carts \
         WHERE merged = 0 AND day IS NOT NULL AND day >= $1 AND day <= $2 AND ($3 = '' OR channel = $3) \
         GROUP BY day, channel ORDER BY day, channel",
    )
    .bind(&period.from)
    .bind(&period.to)
    .bind(period.channel)
    .fetch_all(c)
    .await
    .map_err(db_error)?;
    rows.iter()
        .map(|row| Ok((text(row, "day")?, text(row, "channel")?, int(row, "carts")?, int(row, "ordered")?)))
        .collect()
}

/// Known locations, by code: the one asked for, or all.
pub async fn locations(c: &mut AnyConnection, only: Option<&str>) -> Result<Vec<String>> {
    query_scalar("SELECT code FROM reporting_locations WHERE ($1 = '' OR code = $1) ORDER BY code")
        .bind(only.unwrap_or_default())
        .fetch_all(c)
        .await
        .map_err(db_error)
}

/// Priced stock per location and currency: `(location, currency, skus, units, value)`.
pub async fn stock_value(
    c: &mut AnyConnection,
    channel: &str,
    location: &str,
) -> Result<Vec<(String, Currency, i64, i64, i64)>> {
    let rows = query(
        "SELECT s.location, p.currency, COUNT(*) AS skus, CAST(SUM(s.on_hand) AS BIGINT) AS units, \
             CAST(SUM(s.on_hand * p.amount) AS BIGINT) AS stock_value \
         FROM reporting_stock s JOIN reporting_prices p ON p.sku = s.sku AND p.channel = $1 \
         WHERE s.on_hand > 0 AND ($2 = '' OR s.location = $2) \
         GROUP BY s.location, p.currency ORDER BY s.location, p.currency",
    )
    .bind(channel)
    .bind(location)
    .fetch_all(c)
    .await
    .map_err(db_error)?;
    rows.iter()
        .map(|row| {
            Ok((
                text(row, "location")?,
                currency(&text(row, "currency")?)?,
                int(row, "skus")?,
                int(row, "units")?,
                int(row, "stock_value")?,
            ))
        })
        .collect()
}

/// SKUs with units on hand but no price in the channel, per location.
pub async fn unpriced(c: &mut AnyConnection, channel: &str, location: &str) -> Result<HashMap<String, i64>> {
    let rows = query(
        "SELECT s.location, COUNT(*) AS skus FROM reporting_stock s \
         WHERE s.on_hand > 0 AND ($2 = '' OR s.location = $2) \
             AND NOT EXISTS (SELECT 1 FROM reporting_prices p WHERE p.sku = s.sku AND p.channel = $1) \
         GROUP BY s.location",
    )
    .bind(channel)
    .bind(location)
    .fetch_all(c)
    .await
    .map_err(db_error)?;
    rows.iter().map(|row| Ok((text(row, "location")?, int(row, "skus")?))).collect()
}

/// The currency most of the channel's prices are in; None when nothing has a price in it.
pub async fn channel_currency(c: &mut AnyConnection, channel: &str) -> Result<Option<Currency>> {
    let code: Option<String> = query_scalar(
        "SELECT currency FROM reporting_prices WHERE channel = $1 \
         GROUP BY currency ORDER BY COUNT(*) DESC, currency LIMIT 1",
    )
    .bind(channel)
    .fetch_optional(c)
    .await
    .map_err(db_error)?;
    code.as_deref().map(currency).transpose()
}

/// Every category: id → (parent, name), to spell paths.
pub async fn categories(c: &mut AnyConnection) -> Result<HashMap<String, (Option<String>, String)>> {
    let rows =
        query("SELECT category_id, parent_id, name FROM reporting_categories").fetch_all(c).await.map_err(db_error)?;
    rows.iter()
        .map(|row| Ok((text(row, "category_id")?, (optional_text(row, "parent_id")?, text(row, "name")?))))
        .collect()
}

/// The names of these sellers, those known.
pub async fn seller_names(c: &mut AnyConnection, ids: &[String]) -> Result<HashMap<String, String>> {
    let mut names = HashMap::new();
    for chunk in ids.chunks(BATCH) {
        let sql = format!(
            "SELECT seller_id, name FROM reporting_sellers WHERE seller_id IN ({})",
            placeholders(1, chunk.len())
        );
        let mut select = query(AssertSqlSafe(sql));
        for id in chunk {
            select = select.bind(id.clone());
        }
        for row in select.fetch_all(&mut *c).await.map_err(db_error)? {
            names.insert(text(&row, "seller_id")?, text(&row, "name")?);
        }
    }
    Ok(names)
}
