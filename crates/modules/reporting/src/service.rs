//! The reporting port: each report read from one snapshot of the module's database (its rows and
//! totals agree even while events are being counted), labelled, and handed back in the order the
//! contract promises.

use std::collections::HashMap;

use async_trait::async_trait;
use comptoir_contracts::reporting::{
    ConversionRow, RebuildReport, RefundRow, ReportQuery, ReportingPort, SalesGrouping, SalesReport, SalesRow,
    StockValueQuery, StockValueRow,
};
use comptoir_kernel::{Currency, Error, Money, RequestContext, Result};
use comptoir_storage::{Backend, db_error, query};
use sqlx::{Any, Transaction};

use crate::ReportingModule;
use crate::domain::{DEFAULT_STOCK_CHANNEL, NONE_KEY, category_path, conversion_rate};
use crate::reports::{self, Figures, Group, Period};

/// The key and label of the totals rows.
const TOTAL_KEY: &str = "total";
const TOTAL_LABEL: &str = "Total";
const UNCATEGORISED: &str = "Uncategorised";
const UNKNOWN_SELLER: &str = "Unknown seller";

/// The period of a validated query; a channel given with spaces around it is that channel.
fn period(query: &ReportQuery) -> Period<'_> {
    Period {
        from: query.from.format("%Y-%m-%d").to_string(),
        to: query.to.format("%Y-%m-%d").to_string(),
        channel: query.channel.as_deref().map(str::trim).unwrap_or_default(),
    }
}

/// A filter given as text: absent is none, blank is refused naming the field.
fn optional_code<'a>(value: Option<&'a str>, field: &str) -> Result<Option<&'a str>> {
    match value.map(str::trim) {
        Some("") => Err(Error::validation(field, "must not be blank")),
        other => Ok(other),
    }
}

fn count(value: i64) -> u64 {
    value.max(0) as u64
}

fn row(figures: Figures, label: String) -> SalesRow {
    let money = |amount| Money::new(amount, figures.currency);
    SalesRow {
        label,
        currency: figures.currency,
        orders: count(figures.orders),
        units: figures.units,
        net: money(figures.net),
        tax: money(figures.tax),
        gross: money(figures.gross),
        shipping: money(figures.shipping),
        key: figures.key,
    }
}

impl ReportingModule {
    /// A read-only snapshot: on PostgreSQL every statement of the report sees the same data
    /// (repeatable read); SQLite's read transactions already do.
    async fn snapshot(&self) -> Result<Transaction<'static, Any>> {
        let mut tx = self.db.reader().begin().await.map_err(db_error)?;
        if self.db.backend() == Backend::Postgres {
            query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        Ok(tx)
    }

    /// The labels of the groups: category paths, sellers' names; days, channels and products
    /// read as the query gave them.
    async fn labels(
        &self,
        tx: &mut Transaction<'static, Any>,
        group: Group,
        figures: &[Figures],
    ) -> Result<HashMap<String, String>> {
        let mut labels = HashMap::new();
        match group {
            Group::Category => {
                let tree = reports::categories(tx).await?;
                for f in figures {
                    let label =
                        if f.key == NONE_KEY { UNCATEGORISED.to_string() } else { category_path(&f.key, &tree) };
                    labels.insert(f.key.clone(), label);
                }
            }
            Group::Seller => {
                let ids: Vec<String> = figures.iter().map(|f| f.key.clone()).filter(|k| k != NONE_KEY).collect();
                let names = reports::seller_names(tx, &ids).await?;
                for f in figures {
                    let label = match names.get(&f.key) {
                        Some(name) => name.clone(),
                        None if f.key == NONE_KEY => UNKNOWN_SELLER.to_string(),
                        None => f.key.clone(),
                    };
                    labels.insert(f.key.clone(), label);
                }
            }
            _ => {}
        }
        Ok(labels)
    }

    /// The currency a channel's prices are in; asked of catalog only when nothing stored is
    /// priced in it. A channel catalog does not know is 404.
    async fn currency_of(
        &self,
        ctx: &RequestContext,
        tx: &mut Transaction<'static, Any>,
        channel: &str,
    ) -> Result<Currency> {
        if let Some(currency) = reports::channel_currency(tx, channel).await? {
            return Ok(currency);
        }
        self.catalog
            .list_channels(ctx)
            .await?
            .into_iter()
            .find(|c| c.code == channel)
            .map(|c| c.currency)
            .ok_or_else(|| Error::not_found("channel", channel))
    }
}

#[async_trait]
impl ReportingPort for ReportingModule {
    #[tracing::instrument(name = "reporting.sales", skip_all, fields(module = "reporting", correlation_id = %_ctx.correlation_id))]
    async fn sales(&self, _ctx: &RequestContext, query: ReportQuery, grouping: SalesGrouping) -> Result<SalesReport> {
        query.validate()?;
        let period = period(&query);
        let group = match grouping {
            SalesGrouping::Day => Group::Day,
            SalesGrouping::Channel => Group::Channel,
            SalesGrouping::Product => Group::Product,
            SalesGrouping::Category => Group::Category,
            SalesGrouping::Seller => Group::Seller,
        };
        let mut tx = self.snapshot().await?;
        let figures = reports::sales(&mut tx, group, &period).await?;
        let mut labels = self.labels(&mut tx, group, &figures).await?;
        let rows = figures
            .into_iter()
            .map(|f| {
                let label = labels.remove(&f.key).or_else(|| f.label.clone()).unwrap_or_else(|| f.key.clone());
                row(f, label)
            })
            .collect();
        let totals = reports::sales(&mut tx, Group::Total, &period)
            .await?
            .into_iter()
            .map(|f| row(Figures { key: TOTAL_KEY.to_string(), ..f }, TOTAL_LABEL.to_string()))
            .collect();
        Ok(SalesReport { grouping, rows, totals })
    }

    #[tracing::instrument(name = "reporting.refunds", skip_all, fields(module = "reporting", correlation_id = %_ctx.correlation_id))]
    async fn refunds(&self, _ctx: &RequestContext, query: ReportQuery) -> Result<Vec<RefundRow>> {
        query.validate()?;
        let rows = reports::refunds(&mut *self.snapshot().await?, &period(&query)).await?;
        Ok(rows
            .into_iter()
            .map(|(day, channel, currency, refunds, amount)| RefundRow {
                day,
                channel,
                currency,
                refunds: count(refunds),
                amount: Money::new(amount, currency),
            })
            .collect())
    }

    #[tracing::instrument(name = "reporting.stock_value", skip_all, fields(module = "reporting", correlation_id = %ctx.correlation_id))]
    async fn stock_value(&self, ctx: &RequestContext, query: StockValueQuery) -> Result<Vec<StockValueRow>> {
        let location = optional_code(query.location.as_deref(), "location")?;
        let channel = optional_code(query.channel.as_deref(), "channel")?.unwrap_or(DEFAULT_STOCK_CHANNEL);
        let mut tx = self.snapshot().await?;
        let locations = reports::locations(&mut tx, location).await?;
        if let Some(code) = location
            && locations.is_empty()
        {
            return Err(Error::not_found("location", code));
        }
        let only = location.unwrap_or_default();
        let priced = reports::stock_value(&mut tx, channel, only).await?;
        let mut unpriced = reports::unpriced(&mut tx, channel, only).await?;
        // Each location's unpriced SKUs go on its row in the channel's currency, a row every
        // location gets: one with nothing priced still shows.
        let home = match locations.is_empty() {
            true => None,
            false => Some(self.currency_of(ctx, &mut tx, channel).await?),
        };
        let mut rows: Vec<StockValueRow> = priced
            .into_iter()
            .map(|(location, currency, skus, units, value)| StockValueRow {
                location,
                currency,
                skus: count(skus),
                units,
                value: Money::new(value, currency),
                unpriced_skus: 0,
            })
            .collect();
        if let Some(home) = home {
            for code in &locations {
                let apart = count(unpriced.remove(code).unwrap_or(0));
                match rows.iter_mut().find(|r| &r.location == code && r.currency == home) {
                    Some(row) => row.unpriced_skus = apart,
                    None => rows.push(StockValueRow {
                        location: code.clone(),
                        currency: home,
                        skus: 0,
                        units: 0,
                        value: Money::new(0, home),
                        unpriced_skus: apart,
                    }),
                }
            }
        }
        rows.sort_by(|a, b| (&a.location, a.currency.code()).cmp(&(&b.location, b.currency.code())));
        Ok(rows)
    }

    #[tracing::instrument(name = "reporting.conversion", skip_all, fields(module = "reporting", correlation_id = %_ctx.correlation_id))]
    async fn conversion(&self, _ctx: &RequestContext, query: ReportQuery) -> Result<Vec<ConversionRow>> {
        query.validate()?;
        let rows = reports::conversion(&mut *self.snapshot().await?, &period(&query)).await?;
        Ok(rows
            .into_iter()
            .map(|(day, channel, carts, ordered)| {
                let (carts, ordered) = (count(carts), count(ordered));
                ConversionRow { day, channel, carts, ordered, rate: conversion_rate(ordered, carts) }
            })
            .collect())
    }

    #[tracing::instrument(name = "reporting.rebuild", skip_all, fields(module = "reporting", correlation_id = %ctx.correlation_id))]
    async fn rebuild(&self, ctx: &RequestContext) -> Result<RebuildReport> {
        self.recount(ctx).await
    }
}
