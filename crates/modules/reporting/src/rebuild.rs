//! The rebuild: sales, refunds and products recounted from the modules that own them, replacing
//! what was counted, in one unit of work. Carts, stock and sellers' names are kept: no port lists
//! them cheaply, and their events keep them whole.

use std::collections::HashMap;
use std::time::Instant;

use comptoir_contracts::catalog::{Product, ProductFilter, Visibility};
use comptoir_contracts::ordering::{Order, OrderFilter};
use comptoir_contracts::pos::{Sale, SaleFilter, SaleStatus, StoreReturn};
use comptoir_contracts::reporting::RebuildReport;
use comptoir_kernel::{Error, Page, PageRequest, RequestContext, Result};
use uuid::Uuid;

use crate::ReportingModule;
use crate::consumers::product_rows;
use crate::domain::{self, SaleRecord, SaleState, Source};
use crate::store;

/// Items read per page from each module.
const PAGE: u32 = 100;

/// Reads every page of a listing, newest first: an item added while it reads shifts the rest
/// down, and one is read twice (the caller keeps one reading per id), none missed.
async fn every_page<T, F, Fut>(mut read: F) -> Result<Vec<T>>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: Future<Output = Result<Page<T>>>,
{
    let mut all = Vec::new();
    for page in 1.. {
        let found = read(PageRequest { page, per_page: PAGE }).await?;
        let last = found.items.len() < PAGE as usize;
        all.extend(found.items);
        if last || all.len() as u64 >= found.total {
            break;
        }
    }
    Ok(all)
}

impl ReportingModule {
    pub(crate) async fn recount(&self, ctx: &RequestContext) -> Result<RebuildReport> {
        let started = Instant::now();
        let ctx = ctx.as_system();
        let mut uow = self.db.begin().await?;
        // Taken first: the consumers wait until the rebuild commits, then find the sales it
        // brings already counted.
        store::serialise(&mut uow).await?;
        let orders = self.all_orders(&ctx).await?;
        let sales = self.all_till_sales(&ctx).await?;
        let returns = self.all_returns(&ctx, &sales).await?;
        let known = store::live_products(&mut uow).await?;
        let products = self.all_products(&ctx, &known).await?;
        let categories = self.category_tree(&ctx).await?;

        let mut records = Vec::new();
        let mut lines = Vec::new();
        let mut refunds = Vec::new();
        let mut counted = 0u64;
        for order in orders.values() {
            let state = domain::listed_order_state(order);
            if state == SaleState::Counted {
                counted += 1;
                lines.extend(domain::order_lines(order.id, &order.lines));
            }
            let facts = Some(domain::listed_order_facts(order));
            records.push(SaleRecord { id: order.id, source: Source::Order, state, facts });
            refunds.extend(domain::listed_order_refunds(order));
        }
        for sale in sales.values() {
            let facts = Some(domain::till_facts(sale));
            records.push(SaleRecord { id: sale.id, source: Source::Till, state: SaleState::Counted, facts });
            lines.extend(domain::till_lines(sale));
        }
        refunds.extend(returns.iter().filter_map(domain::return_refund));
        let (mut catalog, mut prices) = (Vec::new(), Vec::new());
        for product in products.values() {
            let (record, its_prices) = product_rows(product);
            catalog.push(record);
            prices.extend(its_prices);
        }
        // A stable order (primary keys ascending), so that concurrent writers lock alike.
        records.sort_by_key(|r| r.id);
        lines.sort_by_key(|l| (l.sale_id, l.product_id));
        refunds.sort_by(|a, b| a.id.cmp(&b.id));
        catalog.sort_by_key(|p| p.product_id);
        prices.sort_by(|a, b| (&a.sku, &a.channel).cmp(&(&b.sku, &b.channel)));

        store::clear_sales(&mut uow).await?;
        store::put_sales(&mut uow, &records).await?;
        store::put_lines(&mut uow, &lines).await?;
        store::put_refunds(&mut uow, &refunds).await?;
        store::retire_catalog(&mut uow).await?;
        store::put_categories(&mut uow, &categories).await?;
        store::put_products(&mut uow, &catalog).await?;
        store::put_prices(&mut uow, &prices).await?;
        uow.commit().await?;
        let report = RebuildReport {
            orders: counted,
            store_sales: sales.len() as u64,
            products: products.len() as u64,
            took_ms: started.elapsed().as_millis() as u64,
        };
        tracing::info!(?report, "reporting rebuilt");
        Ok(report)
    }

    /// Every order, by id. Ordering lists them newest placed first and never deletes one: an
    /// order placed while the rebuild reads only shifts the others down (read twice, kept once),
    /// and one that changes status stays in its place, so none is missed. What changes after it
    /// was read comes as an event once the rebuild commits.
    async fn all_orders(&self, ctx: &RequestContext) -> Result<HashMap<Uuid, Order>> {
        let listed = every_page(|page| self.ordering.search_orders(ctx, OrderFilter::default(), page)).await?;
        Ok(listed.into_iter().map(|order| (order.id, order)).collect())
    }

    async fn all_till_sales(&self, ctx: &RequestContext) -> Result<HashMap<Uuid, Sale>> {
        let listed = every_page(|page| self.pos.list_sales(ctx, SaleFilter::default(), page)).await?;
        Ok(listed.into_iter().map(|sale| (sale.id, sale)).collect())
    }

    /// The returns of the sales that had any.
    async fn all_returns(&self, ctx: &RequestContext, sales: &HashMap<Uuid, Sale>) -> Result<Vec<StoreReturn>> {
        let mut returns = Vec::new();
        for sale in sales.values() {
            if sale.status != SaleStatus::Completed || sale.refunded.amount > 0 {
                returns.extend(self.pos.returns_for_sale(ctx, sale.id).await?);
            }
        }
        Ok(returns)
    }

    /// Every product, drafts included. A product deleted while the rebuild reads shifts the
    /// others up and one may be missed: the products reporting holds that the listing did not
    /// name are asked for one by one, and only those catalog no longer has count as deleted.
    async fn all_products(&self, ctx: &RequestContext, known: &[Uuid]) -> Result<HashMap<Uuid, Product>> {
        let listed =
            every_page(|page| self.catalog.list_products(ctx, ProductFilter::default(), Visibility::All, page)).await?;
        let mut products: HashMap<Uuid, Product> = listed.into_iter().map(|p| (p.id, p)).collect();
        let unlisted: Vec<Uuid> = known.iter().filter(|id| !products.contains_key(id)).copied().collect();
        for id in unlisted {
            match self.catalog.get_product(ctx, &id.to_string(), Visibility::All).await {
                Ok(product) => {
                    products.insert(product.id, product);
                }
                Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(products)
    }
}
