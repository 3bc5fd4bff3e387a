//! The point-of-sale port: stores, scanning, reads and receipts here; ringing up a sale in
//! `saga.rs`, taking a return in `returns.rs`.

use async_trait::async_trait;
use comptoir_contracts::inventory::{Location, LocationKind};
use comptoir_contracts::pos::{
    PosPort, Sale, SaleFilter, ScannedItem, Sell, Store, StoreInput, StoreReturn, TakeReturn,
};
use comptoir_kernel::page::MAX_PER_PAGE;
use comptoir_kernel::time::{self, Timestamp};
use comptoir_kernel::{Error, EventEnvelope, Page, PageRequest, RequestContext, Result};
use comptoir_storage::db_error;
use sqlx::pool::PoolConnection;
use uuid::Uuid;

use crate::PosModule;
use crate::domain::{self, SOLD, SaleRecord};
use crate::receipt;
use crate::store;

const SOURCE: &str = "pos";

pub(crate) fn event(ctx: &RequestContext, event_type: &str, data: impl serde::Serialize) -> EventEnvelope {
    EventEnvelope::new(ctx, SOURCE, event_type, data)
}

/// Now, to the microsecond the database keeps: what an event carries is what a read returns.
pub(crate) fn now() -> Timestamp {
    let now = time::now();
    time::from_db(&time::to_db(&now)).unwrap_or(now)
}

impl PosModule {
    pub(crate) async fn reader(&self) -> Result<PoolConnection<sqlx::Any>> {
        self.db.reader().acquire().await.map_err(db_error)
    }

    /// A completed sale (returned or not); 404 for an attempt or an unknown id.
    async fn sold(&self, id: Uuid) -> Result<SaleRecord> {
        match store::sale(&mut *self.reader().await?, id).await? {
            Some(record) if SOLD.contains(&record.state) => Ok(record),
            _ => Err(Error::not_found("sale", id)),
        }
    }

    /// The inventory location with this code, looked for page by page.
    async fn location(&self, ctx: &RequestContext, code: &str) -> Result<Option<Location>> {
        let mut page = PageRequest { page: 1, per_page: MAX_PER_PAGE };
        loop {
            let found = self.ports.inventory.list_locations(ctx, page).await?;
            if let Some(location) = found.items.iter().find(|l| l.code == code) {
                return Ok(Some(location.clone()));
            }
            if found.items.is_empty() || u64::from(page.page) * u64::from(page.per_page) >= found.total {
                return Ok(None);
            }
            page.page += 1;
        }
    }
}

#[async_trait]
impl PosPort for PosModule {
    #[tracing::instrument(name = "pos.upsert_store", skip_all, fields(module = "pos", correlation_id = %ctx.correlation_id))]
    async fn upsert_store(&self, ctx: &RequestContext, input: StoreInput) -> Result<Store> {
        let draft = domain::parse_store(input)?;
        match self.location(ctx, &draft.location).await? {
            None => {
                return Err(Error::validation(
                    "location",
                    format!("no inventory location has code {}", draft.location),
                ));
            }
            Some(location) if location.kind != LocationKind::Store => {
                return Err(Error::validation("location", format!("{} is a warehouse, not a store", draft.location)));
            }
            Some(_) => {}
        }
        let channels = self.ports.catalog.list_channels(ctx).await?;
        let Some(channel) = channels.iter().find(|c| c.code == draft.channel) else {
            let known: Vec<&str> = channels.iter().map(|c| c.code.as_str()).collect();
            return Err(Error::validation(
                "channel",
                format!("no catalog channel {}; use one of: {}", draft.channel, known.join(", ")),
            ));
        };
        // The till charges the channel's prices as they are: the store must sell in their currency.
        let currency = draft.currency.unwrap_or(channel.currency);
        if currency != channel.currency {
            return Err(Error::validation(
                "currency",
                format!("channel {} prices in {}, not {currency}", channel.code, channel.currency),
            ));
        }
        let at = now();
        let store = Store {
            location: draft.location,
            name: draft.name,
            address: draft.address,
            channel: draft.channel,
            currency,
            created_at: at,
            updated_at: at,
        };
        let mut uow = self.db.begin().await?;
        store::upsert_store(&mut uow, &store).await?;
        let stored = store::store(&mut uow, &store.location).await?;
        uow.commit().await?;
        stored.ok_or_else(|| Error::internal("a store just written is missing"))
    }

    #[tracing::instrument(name = "pos.list_stores", skip_all, fields(module = "pos", correlation_id = %_ctx.correlation_id))]
    async fn list_stores(&self, _ctx: &RequestContext) -> Result<Vec<Store>> {
        store::stores(&mut *self.reader().await?).await
    }

    #[tracing::instrument(name = "pos.scan", skip_all, fields(module = "pos", correlation_id = %ctx.correlation_id))]
    async fn scan(&self, ctx: &RequestContext, location: &str, sku: &str) -> Result<ScannedItem> {
        let location = location.trim();
        let store = store::store(&mut *self.reader().await?, location)
            .await?
            .ok_or_else(|| Error::not_found("store", location))?;
        let offer = match self.ports.catalog.offer(ctx, sku, &store.channel).await {
            Ok(offer) if offer.price.currency == store.currency => offer,
            // No price the till can charge: not for sale here.
            Ok(_) | Err(Error::Validation { .. }) => return Err(Error::not_found("sku", sku.trim())),
            Err(e) => return Err(e),
        };
        let available_here = match self.ports.inventory.stock(ctx, &offer.sku).await {
            Ok(stock) => stock.levels.iter().find(|l| l.location == store.location).map_or(0, |l| l.available),
            // Never stocked anywhere.
            Err(Error::NotFound { .. }) => 0,
            Err(e) => return Err(e),
        };
        Ok(ScannedItem {
            sku: offer.sku,
            product_id: offer.product_id,
            product_name: offer.product_name,
            options: offer.options,
            price: offer.price,
            available_here,
        })
    }

    #[tracing::instrument(name = "pos.sell", skip_all, fields(module = "pos", correlation_id = %ctx.correlation_id))]
    async fn sell(&self, ctx: &RequestContext, sell: Sell) -> Result<Sale> {
        self.ring_up(ctx, sell).await
    }

    #[tracing::instrument(name = "pos.get_sale", skip_all, fields(module = "pos", correlation_id = %_ctx.correlation_id))]
    async fn get_sale(&self, _ctx: &RequestContext, id: Uuid) -> Result<Sale> {
        self.sold(id).await?.to_sale()
    }

    #[tracing::instrument(name = "pos.list_sales", skip_all, fields(module = "pos", correlation_id = %_ctx.correlation_id))]
    async fn list_sales(&self, _ctx: &RequestContext, filter: SaleFilter, page: PageRequest) -> Result<Page<Sale>> {
        page.validate()?;
        let (records, total) = store::list_sales(&mut *self.reader().await?, &filter, page).await?;
        let sales = records.iter().map(SaleRecord::to_sale).collect::<Result<_>>()?;
        Ok(Page::new(sales, page, total))
    }

    #[tracing::instrument(name = "pos.take_return", skip_all, fields(module = "pos", correlation_id = %ctx.correlation_id))]
    async fn take_return(&self, ctx: &RequestContext, input: TakeReturn) -> Result<StoreReturn> {
        self.take_back(ctx, input).await
    }

    #[tracing::instrument(name = "pos.returns_for_sale", skip_all, fields(module = "pos", correlation_id = %_ctx.correlation_id))]
    async fn returns_for_sale(&self, _ctx: &RequestContext, sale_id: Uuid) -> Result<Vec<StoreReturn>> {
        let sale = self.sold(sale_id).await?;
        let returns = store::returns_of_sale(&mut *self.reader().await?, sale_id).await?;
        Ok(returns.iter().map(|r| r.to_contract(&sale)).collect())
    }

    #[tracing::instrument(name = "pos.receipt", skip_all, fields(module = "pos", correlation_id = %_ctx.correlation_id))]
    async fn receipt(&self, _ctx: &RequestContext, sale_id: Uuid) -> Result<String> {
        let record = self.sold(sale_id).await?;
        let mut c = self.reader().await?;
        let store = store::store(&mut c, &record.location).await?;
        let returns: Vec<StoreReturn> =
            store::returns_of_sale(&mut c, sale_id).await?.iter().map(|r| r.to_contract(&record)).collect();
        Ok(receipt::render(&record.to_sale()?, store.as_ref(), &returns))
    }
}
