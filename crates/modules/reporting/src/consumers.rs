//! The events the reports are counted from. Each is handled in one unit of work with its inbox
//! claim, so a redelivered event changes nothing; the writers of sales, refunds and products
//! first take the writers' row, so they never interleave with a rebuild.

use async_trait::async_trait;
use comptoir_contracts::cart::events::{self as cart, CartChanged, CartMerged};
use comptoir_contracts::catalog::events::{self as catalog, ProductChanged};
use comptoir_contracts::catalog::{Category, CategoryNode, Product, Visibility};
use comptoir_contracts::identity::events::{self as identity, SellerCreated};
use comptoir_contracts::inventory::Location;
use comptoir_contracts::inventory::events::{self as inventory, StockChanged};
use comptoir_contracts::ordering::OrderSnapshot;
use comptoir_contracts::ordering::events::{self as ordering, OrderCancelled, OrderPlaced, OrderRefunded};
use comptoir_contracts::pos::events::{self as pos, ReturnCompleted, SaleCompleted};
use comptoir_eventbus::EventHandler;
use comptoir_kernel::{Error, EventEnvelope, RequestContext, Result};
use comptoir_storage::db_error;
use uuid::Uuid;

use crate::ReportingModule;
use crate::domain::{
    self, OrderNews, RefundRecord, SaleRecord, SaleState, Source, day_of, next_state, order_facts, order_lines,
};
use crate::store::{self, CartMark, PriceRecord, ProductRecord};

/// Ordering's orders: placed, confirmed, cancelled, refunded.
pub const ORDERS: &str = "reporting.orders";
/// The point of sale's sales and returns at the tills.
pub const STORE: &str = "reporting.store";
/// Carts started, merged and checked out.
pub const CARTS: &str = "reporting.carts";
/// Catalog's products and categories, identity's sellers: what rows are labelled and stock
/// priced with.
pub const CATALOG: &str = "reporting.catalog";
/// Inventory's units on hand per location.
pub const STOCK: &str = "reporting.stock";

/// The handler of one consumer; each claims events in its own name.
pub struct Handler {
    pub(crate) module: ReportingModule,
    pub(crate) consumer: &'static str,
}

#[async_trait]
impl EventHandler for Handler {
    async fn handle(&self, event: &EventEnvelope) -> Result<()> {
        let m = &self.module;
        match (self.consumer, event.event_type.as_str()) {
            (ORDERS, ordering::ORDER_PLACED) => {
                let placed: OrderPlaced = event.data_as()?;
                m.order_news(event, placed.order.order_id, OrderNews::Placed, Some(&placed.order)).await
            }
            (ORDERS, ordering::CHECKOUT_COMPLETED) => {
                let placed: OrderPlaced = event.data_as()?;
                m.order_news(event, placed.order.order_id, OrderNews::Confirmed, Some(&placed.order)).await
            }
            (ORDERS, ordering::ORDER_CANCELLED) => {
                let cancelled: OrderCancelled = event.data_as()?;
                m.order_news(event, cancelled.order_id, OrderNews::Cancelled, None).await
            }
            (ORDERS, ordering::ORDER_REFUNDED) => m.order_refunded(event, &event.data_as()?).await,
            (STORE, pos::SALE_COMPLETED) => m.till_sale(event, &event.data_as()?).await,
            (STORE, pos::RETURN_COMPLETED) => m.till_return(event, &event.data_as()?).await,
            (CARTS, cart::CART_CREATED) => m.cart_created(event, &event.data_as()?).await,
            (CARTS, cart::CART_MERGED) => m.cart_merged(event, &event.data_as()?).await,
            (CARTS, ordering::CHECKOUT_COMPLETED) => m.cart_ordered(event, &event.data_as()?).await,
            (CATALOG, catalog::CATEGORY_CREATED) => m.category_created(event, &event.data_as()?).await,
            (CATALOG, identity::SELLER_CREATED) => m.seller_created(event, &event.data_as()?).await,
            (CATALOG, kind) if kind.starts_with("product.item.") => m.product_changed(event, &event.data_as()?).await,
            (STOCK, inventory::STOCK_CHANGED) => m.stock_changed(event, &event.data_as()?).await,
            (STOCK, inventory::LOCATION_CREATED) => m.location_created(event, &event.data_as()?).await,
            _ => Ok(()),
        }
    }
}

impl ReportingModule {
    /// Moves an order in or out of the sales (see [`next_state`]); a snapshot gives what it is
    /// worth, and the channel of refunds heard of before it.
    async fn order_news(
        &self,
        event: &EventEnvelope,
        order_id: Uuid,
        news: OrderNews,
        snapshot: Option<&OrderSnapshot>,
    ) -> Result<()> {
        let mut uow = self.db.begin().await?;
        if !uow.claim_inbox(ORDERS, event.id).await? {
            return Ok(());
        }
        store::serialise(&mut uow).await?;
        let current = store::sale(&mut uow, order_id).await?;
        let was = current.as_ref().map(|s| s.state);
        let state = next_state(was, news);
        let facts = snapshot.map(order_facts).or_else(|| current.and_then(|s| s.facts));
        if state == SaleState::Counted
            && was != Some(SaleState::Counted)
            && let Some(order) = snapshot
        {
            store::put_lines(&mut uow, &order_lines(order_id, &order.lines)).await?;
        }
        if let Some(facts) = &facts {
            store::name_refunds(&mut uow, order_id, &facts.channel).await?;
        }
        store::put_sales(&mut uow, &[SaleRecord { id: order_id, source: Source::Order, state, facts }]).await?;
        uow.commit().await
    }

    /// A refund on the event's day, in the order's channel. Refunds never add up to more than
    /// the order cost: a refund a rebuild already counted (read from ordering while its event was
    /// on its way) is not counted twice.
    async fn order_refunded(&self, event: &EventEnvelope, refund: &OrderRefunded) -> Result<()> {
        let mut uow = self.db.begin().await?;
        if !uow.claim_inbox(ORDERS, event.id).await? {
            return Ok(());
        }
        // Units put back on the shelf alone: no money went back.
        if refund.amount.amount <= 0 {
            return uow.commit().await;
        }
        store::serialise(&mut uow).await?;
        let facts = store::sale(&mut uow, refund.order_id).await?.and_then(|s| s.facts);
        let mut amount = refund.amount.amount;
        if let Some(facts) = &facts {
            let left = facts.charged - store::refunded(&mut uow, refund.order_id).await?;
            amount = amount.min(left);
        }
        if amount > 0 {
            let record = RefundRecord {
                id: event.id.to_string(),
                sale_id: refund.order_id,
                source: Source::Order,
                day: day_of(&event.timestamp),
                channel: facts.map(|f| f.channel),
                currency: refund.amount.currency,
                amount,
            };
            store::put_refunds(&mut uow, &[record]).await?;
        }
        uow.commit().await
    }

    /// A till sale counts when it is rung up, once (a rebuild may have counted it already).
    async fn till_sale(&self, event: &EventEnvelope, completed: &SaleCompleted) -> Result<()> {
        let sale = &completed.sale;
        let mut uow = self.db.begin().await?;
        if !uow.claim_inbox(STORE, event.id).await? {
            return Ok(());
        }
        store::serialise(&mut uow).await?;
        if store::sale(&mut uow, sale.id).await?.is_none() {
            let record = SaleRecord {
                id: sale.id,
                source: Source::Till,
                state: SaleState::Counted,
                facts: Some(domain::till_facts(sale)),
            };
            store::put_sales(&mut uow, &[record]).await?;
            store::put_lines(&mut uow, &domain::till_lines(sale)).await?;
        }
        uow.commit().await
    }

    /// A return at a till: a refund on its day, keyed by the return (counted once, by its event or
    /// by a rebuild).
    async fn till_return(&self, event: &EventEnvelope, completed: &ReturnCompleted) -> Result<()> {
        let mut uow = self.db.begin().await?;
        if !uow.claim_inbox(STORE, event.id).await? {
            return Ok(());
        }
        if let Some(refund) = domain::return_refund(&completed.store_return) {
            store::serialise(&mut uow).await?;
            store::put_refunds(&mut uow, &[refund]).await?;
        }
        uow.commit().await
    }

    /// A cart started on the event's day.
    async fn cart_created(&self, event: &EventEnvelope, created: &CartChanged) -> Result<()> {
        let mut uow = self.db.begin().await?;
        if !uow.claim_inbox(CARTS, event.id).await? {
            return Ok(());
        }
        store::cart_created(&mut uow, created.cart_id, &created.channel, &day_of(&event.timestamp)).await?;
        uow.commit().await
    }

    /// The guest's cart is merged into the customer's: only the customer's counts.
    async fn cart_merged(&self, event: &EventEnvelope, merged: &CartMerged) -> Result<()> {
        let mut uow = self.db.begin().await?;
        if !uow.claim_inbox(CARTS, event.id).await? {
            return Ok(());
        }
        store::mark_cart(&mut uow, merged.from_cart_id, CartMark::Merged).await?;
        uow.commit().await
    }

    /// The cart the confirmed order came from became an order.
    async fn cart_ordered(&self, event: &EventEnvelope, placed: &OrderPlaced) -> Result<()> {
        let mut uow = self.db.begin().await?;
        if !uow.claim_inbox(CARTS, event.id).await? {
            return Ok(());
        }
        if let Some(cart_id) = placed.cart_id {
            store::mark_cart(&mut uow, cart_id, CartMark::Ordered).await?;
        }
        uow.commit().await
    }

    /// Reads the product again from catalog (events may come in any order, and carry no prices)
    /// and stores it as catalog has it now: name, seller, first category and prices; a product
    /// catalog no longer has is marked deleted and keeps its name. A reading older than the one
    /// stored changes nothing.
    async fn product_changed(&self, event: &EventEnvelope, changed: &ProductChanged) -> Result<()> {
        let ctx = event.context();
        let found = match self.catalog.get_product(&ctx, &changed.product_id.to_string(), Visibility::All).await {
            Ok(product) => Some(product),
            Err(Error::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        // A category the product names before its own event came: asked of catalog now, so that
        // its rows are labelled.
        let tree = match found.as_ref().and_then(|p| p.category_ids.first()) {
            Some(category_id) if !self.category_known(*category_id).await? => Some(self.category_tree(&ctx).await?),
            _ => None,
        };
        let mut uow = self.db.begin().await?;
        if !uow.claim_inbox(CATALOG, event.id).await? {
            return Ok(());
        }
        store::serialise(&mut uow).await?;
        if let Some(tree) = tree {
            store::put_categories(&mut uow, &tree).await?;
        }
        match found {
            Some(product) => {
                let stale = store::product_stamp(&mut uow, product.id)
                    .await?
                    .is_some_and(|(_, stored_at)| stored_at > product.updated_at);
                if !stale {
                    let (record, prices) = product_rows(&product);
                    store::put_products(&mut uow, &[record]).await?;
                    store::forget_prices(&mut uow, product.id).await?;
                    store::put_prices(&mut uow, &prices).await?;
                }
            }
            None => {
                let gone = ProductRecord {
                    product_id: changed.product_id,
                    name: changed.name.clone(),
                    seller_id: changed.seller_id,
                    category_id: None,
                    deleted: true,
                    updated_at: event.timestamp,
                };
                store::delete_product(&mut uow, &gone).await?;
            }
        }
        uow.commit().await
    }

    async fn category_created(&self, event: &EventEnvelope, category: &Category) -> Result<()> {
        let mut uow = self.db.begin().await?;
        if !uow.claim_inbox(CATALOG, event.id).await? {
            return Ok(());
        }
        store::serialise(&mut uow).await?;
        store::put_categories(&mut uow, &[(category.id, category.parent_id, category.name.clone())]).await?;
        uow.commit().await
    }

    async fn seller_created(&self, event: &EventEnvelope, seller: &SellerCreated) -> Result<()> {
        let mut uow = self.db.begin().await?;
        if !uow.claim_inbox(CATALOG, event.id).await? {
            return Ok(());
        }
        store::put_seller(&mut uow, seller.seller_id, &seller.name).await?;
        uow.commit().await
    }

    /// The units on hand at the location, as of the event: older news changes nothing.
    async fn stock_changed(&self, event: &EventEnvelope, changed: &StockChanged) -> Result<()> {
        let mut uow = self.db.begin().await?;
        if !uow.claim_inbox(STOCK, event.id).await? {
            return Ok(());
        }
        store::put_location(&mut uow, &changed.location).await?;
        store::set_stock(&mut uow, &changed.sku, &changed.location, changed.on_hand, &event.timestamp).await?;
        uow.commit().await
    }

    /// A location is known (and valued at zero) before any stock arrives there.
    async fn location_created(&self, event: &EventEnvelope, location: &Location) -> Result<()> {
        let mut uow = self.db.begin().await?;
        if !uow.claim_inbox(STOCK, event.id).await? {
            return Ok(());
        }
        store::put_location(&mut uow, &location.code).await?;
        uow.commit().await
    }

    async fn category_known(&self, category_id: Uuid) -> Result<bool> {
        let mut reader = self.db.reader().acquire().await.map_err(db_error)?;
        store::category_known(&mut reader, category_id).await
    }

    /// Every category as `(id, parent, name)`, flattened from catalog's tree.
    pub(crate) async fn category_tree(&self, ctx: &RequestContext) -> Result<Vec<(Uuid, Option<Uuid>, String)>> {
        let mut flat = Vec::new();
        let mut pending: Vec<CategoryNode> = self.catalog.category_tree(ctx).await?;
        while let Some(node) = pending.pop() {
            flat.push((node.category.id, node.category.parent_id, node.category.name));
            pending.extend(node.children);
        }
        flat.sort_by_key(|(id, _, _)| *id);
        Ok(flat)
    }
}

/// A product as reporting keeps it: its row and its SKUs' prices per channel.
pub(crate) fn product_rows(product: &Product) -> (ProductRecord, Vec<PriceRecord>) {
    let record = ProductRecord {
        product_id: product.id,
        name: product.name.clone(),
        seller_id: product.seller_id,
        category_id: product.category_ids.first().copied(),
        deleted: false,
        updated_at: product.updated_at,
    };
    let prices = product
        .variants
        .iter()
        .flat_map(|v| {
            v.prices.iter().map(|p| PriceRecord {
                sku: v.sku.clone(),
                channel: p.channel.clone(),
                product_id: product.id,
                amount: p.price.amount,
                currency: p.price.currency,
            })
        })
        .collect();
    (record, prices)
}
