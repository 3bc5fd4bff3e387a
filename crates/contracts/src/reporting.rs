//! Reporting: sales across channels (online orders and store tills side by side), stock value
//! per location, refunds and the conversion of carts into orders. A read model fed by ordering's,
//! the point of sale's, cart's, catalog's and inventory's events, counted by its own database;
//! the figures agree with the orders and sales they come from.
//!
//! Days are UTC days. Amounts are kept per currency: a row never adds euros to dollars.

use async_trait::async_trait;
use chrono::NaiveDate;
use comptoir_kernel::{Currency, Error, Money, RequestContext, Result};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The longest period one report covers.
pub const MAX_REPORT_DAYS: i64 = 366;

/// A period of whole UTC days, `from` and `to` included, in one channel or all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// First day, `YYYY-MM-DD`.
    pub from: NaiveDate,
    /// Last day, `YYYY-MM-DD`, included.
    pub to: NaiveDate,
    /// One channel's figures (`online`, `store`); all channels when absent.
    #[serde(default)]
    pub channel: Option<String>,
}

impl ReportQuery {
    /// 422 on `to` for a period that ends before it starts or is longer than [`MAX_REPORT_DAYS`].
    pub fn validate(&self) -> Result<()> {
        if self.to < self.from {
            return Err(Error::validation("to", "must be on or after `from`"));
        }
        if (self.to - self.from).num_days() + 1 > MAX_REPORT_DAYS {
            return Err(Error::validation("to", format!("a report covers at most {MAX_REPORT_DAYS} days")));
        }
        if self.channel.as_deref().is_some_and(|c| c.trim().is_empty()) {
            return Err(Error::validation("channel", "must not be blank"));
        }
        Ok(())
    }
}

/// What sales rows are grouped by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SalesGrouping {
    #[default]
    Day,
    Channel,
    Product,
    /// The product's first (primary) category, so that rows add up to the total.
    Category,
    Seller,
}

/// Sales of one group in one currency. An online order counts once confirmed (paid); orders
/// cancelled after confirmation are left out. A till sale counts when it is rung up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SalesRow {
    /// The day (`2026-12-03`), the channel code, or the product's, category's or seller's id;
    /// `none` for products without a category.
    pub key: String,
    /// What people read: the day, the channel, the product's or seller's name, the category's
    /// path (`Kitchen › Mugs`).
    pub label: String,
    pub currency: Currency,
    /// Orders and till sales with at least one unit in the group.
    pub orders: u64,
    pub units: i64,
    pub net: Money,
    pub tax: Money,
    /// What customers were charged for the goods, tax included (shipping is not a product's
    /// sale: it counts in day and channel rows only, as `shipping`).
    pub gross: Money,
    /// Shipping charged, tax included; zero in product, category and seller rows.
    pub shipping: Money,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SalesReport {
    pub grouping: SalesGrouping,
    /// Best first for products, categories and sellers (by gross); oldest first for days;
    /// by code for channels.
    pub rows: Vec<SalesRow>,
    /// One per currency: the period's totals (orders counted once however many groups they
    /// touch).
    pub totals: Vec<SalesRow>,
}

/// Refunds of one day, channel and currency: online refunds (orders refunded in part or whole,
/// cancellations after payment) and returns at the tills.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RefundRow {
    /// The day the money went back, `YYYY-MM-DD`.
    pub day: String,
    pub channel: String,
    pub currency: Currency,
    pub refunds: u64,
    pub amount: Money,
}

/// Which stock to value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StockValueQuery {
    /// One location's code; every location when absent.
    #[serde(default)]
    pub location: Option<String>,
    /// The price list stock is valued at; `online` when absent.
    #[serde(default)]
    pub channel: Option<String>,
}

/// The value of the units on hand at one location, in one currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StockValueRow {
    pub location: String,
    pub currency: Currency,
    /// SKUs with units on hand and a price in the channel.
    pub skus: u64,
    pub units: i64,
    /// Units on hand × the SKU's price in the channel, tax as the channel shows it.
    pub value: Money,
    /// SKUs with units on hand but no price in the channel (not valued).
    pub unpriced_skus: u64,
}

/// Carts created on a day in a channel, and how many became orders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConversionRow {
    pub day: String,
    pub channel: String,
    /// Carts started that day (a guest's cart merged into a customer's on login is counted once,
    /// as the customer's).
    pub carts: u64,
    /// Of those, carts checked out into a confirmed order (so far).
    pub ordered: u64,
    /// `ordered / carts`, between 0 and 1 (4 decimals); 0 for a day without carts.
    pub rate: f64,
}

/// What a rebuild read and wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RebuildReport {
    pub orders: u64,
    pub store_sales: u64,
    pub products: u64,
    pub took_ms: u64,
}

#[async_trait]
pub trait ReportingPort: Send + Sync {
    async fn sales(&self, ctx: &RequestContext, query: ReportQuery, grouping: SalesGrouping) -> Result<SalesReport>;
    /// Oldest day first, then by channel and currency; days without refunds are absent.
    async fn refunds(&self, ctx: &RequestContext, query: ReportQuery) -> Result<Vec<RefundRow>>;
    /// By location code, then currency. An unknown location is 404.
    async fn stock_value(&self, ctx: &RequestContext, query: StockValueQuery) -> Result<Vec<StockValueRow>>;
    /// Oldest day first, then by channel; days without carts are absent.
    async fn conversion(&self, ctx: &RequestContext, query: ReportQuery) -> Result<Vec<ConversionRow>>;
    /// Recounts orders, till sales and the product reference data from the modules that own them,
    /// replacing what was counted.
    async fn rebuild(&self, ctx: &RequestContext) -> Result<RebuildReport>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(from: &str, to: &str) -> ReportQuery {
        ReportQuery { from: from.parse().unwrap(), to: to.parse().unwrap(), channel: None }
    }

    #[test]
    fn a_period_runs_forwards_and_is_at_most_a_year_and_a_day() {
        query("2026-01-01", "2026-01-01").validate().unwrap();
        query("2026-01-01", "2027-01-01").validate().unwrap();
        for bad in [query("2026-01-02", "2026-01-01"), query("2026-01-01", "2027-01-02")] {
            match bad.validate() {
                Err(Error::Validation { errors, .. }) => assert_eq!(errors[0].field, "to"),
                other => panic!("expected a validation error, got {other:?}"),
            }
        }
    }
}
