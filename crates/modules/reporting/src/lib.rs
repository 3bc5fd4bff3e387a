//! Reporting: sales across channels (online orders and store tills side by side), refunds, the
//! value of the stock per location and the conversion of carts into orders, queried through
//! [`ReportingPort`](comptoir_contracts::reporting::ReportingPort). A read model with its own
//! database, fed by other modules' events; every report is counted by the database (GROUP BY
//! over a period of UTC days), never by reading every order into memory. Amounts are integer
//! minor units, kept per currency: a row never adds euros to dollars.
//!
//! **Sales.** An online order counts from `order.checkout.completed` (stock reserved, payment
//! captured, order confirmed) on the UTC day it was placed, in its channel; a till sale counts
//! from `pos.sale.completed` on the day it was rung up, in the store's channel. This mirrors
//! ordering's `daily_sales`, so that the figures agree: an order refunded in part or in whole
//! stays a sale (its refunds are counted apart, on the day the money went back), an order
//! cancelled after its confirmation (`order.order.cancelled`, `before_confirmation` false) leaves
//! the sales for good, whatever came first: a late or redelivered confirmation never counts it
//! again. One cancelled before its confirmation (declined, abandoned) was never counted; it is
//! remembered all the same. The one difference: ordering counts an order from `paid`, the instant
//! before its confirmation; reporting hears of it when it is confirmed.
//! `gross` is what customers were charged for the goods, tax included; shipping is no product's
//! sale and counts only in day and channel rows (`shipping`), so that `gross + shipping` of a day
//! is ordering's gross for it. Product, category (the product's first one, `none` without) and
//! seller rows count each sale once per group however many of its lines fall in it, and are
//! labelled with what catalog says now (a product re-categorised moves its past sales along; a
//! deleted product keeps its name; a product catalog never described is named as its lines
//! named it).
//!
//! **Refunds.** Every `order.order.refunded` with an amount is one refund, on the event's day, in
//! the order's channel: partial and full refunds, and the refund of a paid order's cancellation,
//! which ordering publishes as its own `order.order.refunded` beside `order.order.cancelled` (the
//! cancellation itself carries no money, so nothing is counted twice). `pos.return.completed` is
//! a refund at the till. A refund heard of before its order is held under channel `unknown`
//! until the order's `order.order.placed` or confirmation names its channel; the channel is known
//! from `order.order.placed` even for an order never confirmed.
//!
//! **Stock value.** Units on hand per SKU and location, from `inventory.stock.changed` (the bus
//! may deliver out of order: news older than what is stored changes nothing), valued at each
//! SKU's price in a channel (`online` by default), kept from catalog's products. SKUs without a
//! price in that channel are counted apart (`unpriced_skus`, on the row of the channel's
//! currency); a location is known from `inventory.location.created` or its first stock change.
//!
//! **Conversion.** A cart counts on the day of `cart.cart.created`, in its channel; a guest's
//! cart merged into a customer's at login (`cart.cart.merged`) is left out, the customer's cart
//! (created by the merge if need be, with its own `cart.cart.created`) counts; a cart is ordered
//! when a confirmed order names it (`cart_id` of `order.checkout.completed`).
//!
//! **Reference data.** Every `product.item.*` event makes reporting read the product again from
//! catalog ([`CatalogPort::get_product`](comptoir_contracts::catalog::CatalogPort::get_product),
//! drafts included; events carry no prices and may come in any order), and keeps its name,
//! seller, first category and its SKUs' prices per channel. Category names come from
//! `product.category.created` (and the whole tree when a product names an unknown one), sellers'
//! names from `auth.seller.created`.
//!
//! **No double counting.** Each consumer's inbox makes a redelivered event harmless; sales are
//! keyed by order or sale id and till refunds by return id, so the same sale under another event
//! id, or one a rebuild already counted, changes nothing. Every writer of sales, refunds and
//! products first takes the one row of `reporting_writers`, so they never interleave.
//!
//! **Rebuild.** [`ReportingPort::rebuild`](comptoir_contracts::reporting::ReportingPort::rebuild)
//! recounts sales, refunds and the products from the modules that own them, replacing what was
//! counted, in one unit of work: every order from ordering (`search_orders`, newest first: orders
//! are never deleted, so paging misses none), every till sale and its returns from the point of
//! sale (`list_sales`, `returns_for_sale`), every product (drafts included) and the category tree
//! from catalog. Orders confirmed or further along count (refunded ones too), cancelled ones do
//! not, as with the events. An order's refunds are dated from its
//! timeline (each refund step's cause names its amount; what they do not account for, such as a
//! cancellation's refund, lands on the cancellation's day, else on the last refund's). An
//! online refund counted from its event is keyed by the event, one rebuilt by the order: a refund
//! whose event is still on its way when a rebuild reads ordering would count twice but for the
//! rule that an order's refunds never exceed what it cost. Carts, stock and sellers' names cannot
//! be recounted cheaply from ports: a rebuild keeps what their events gave. Ordering and the
//! point of sale are read by a rebuild and nothing else.
//!
//! Consumes `order.order.placed`, `order.checkout.completed`, `order.order.cancelled`,
//! `order.order.refunded` (consumer `reporting.orders`); `pos.sale.completed`,
//! `pos.return.completed` (`reporting.store`); `cart.cart.created`, `cart.cart.merged`,
//! `order.checkout.completed` (`reporting.carts`); `product.item.*`, `product.category.created`,
//! `auth.seller.created` (`reporting.catalog`); `inventory.stock.changed`,
//! `inventory.location.created` (`reporting.stock`). Publishes nothing.

mod consumers;
mod domain;
mod rebuild;
mod reports;
mod service;
mod store;

use std::sync::Arc;

use comptoir_contracts::cart::events as cart;
use comptoir_contracts::catalog::CatalogPort;
use comptoir_contracts::catalog::events as catalog;
use comptoir_contracts::identity::events as identity;
use comptoir_contracts::inventory::events as inventory;
use comptoir_contracts::ordering::OrderingPort;
use comptoir_contracts::ordering::events as ordering;
use comptoir_contracts::pos::PosPort;
use comptoir_contracts::pos::events as pos;
use comptoir_eventbus::Consumer;
use comptoir_storage::{Db, Migrations};

pub use consumers::{CARTS, CATALOG, ORDERS, STOCK, STORE};

const SCHEMA: &[(i64, &str, &str)] = &[(1, "reporting", include_str!("../migrations/portable/0001_reporting.sql"))];

pub const MIGRATIONS: Migrations = Migrations { sqlite: SCHEMA, postgres: SCHEMA };

/// The reporting module; cheap to clone.
#[derive(Clone)]
pub struct ReportingModule {
    db: Db,
    /// Products (on their events, and for a rebuild), and a channel's currency for a stock
    /// valuation in a channel nothing is priced in yet.
    catalog: Arc<dyn CatalogPort>,
    /// Read by a rebuild, and by nothing else.
    ordering: Arc<dyn OrderingPort>,
    /// Read by a rebuild, and by nothing else.
    pos: Arc<dyn PosPort>,
}

impl ReportingModule {
    pub fn new(db: Db, catalog: Arc<dyn CatalogPort>, ordering: Arc<dyn OrderingPort>, pos: Arc<dyn PosPort>) -> Self {
        ReportingModule { db, catalog, ordering, pos }
    }

    /// The event consumers to subscribe on the bus.
    pub fn consumers(&self) -> Vec<Consumer> {
        let consumer = |name: &'static str, patterns: &[&str]| {
            let handler = Arc::new(consumers::Handler { module: self.clone(), consumer: name });
            Consumer::new(name, patterns, self.db.clone(), handler)
        };
        vec![
            consumer(
                ORDERS,
                &[
                    ordering::ORDER_PLACED,
                    ordering::CHECKOUT_COMPLETED,
                    ordering::ORDER_CANCELLED,
                    ordering::ORDER_REFUNDED,
                ],
            ),
            consumer(STORE, &[pos::SALE_COMPLETED, pos::RETURN_COMPLETED]),
            consumer(CARTS, &[cart::CART_CREATED, cart::CART_MERGED, ordering::CHECKOUT_COMPLETED]),
            consumer(CATALOG, &["product.item.*", catalog::CATEGORY_CREATED, identity::SELLER_CREATED]),
            consumer(STOCK, &[inventory::STOCK_CHANGED, inventory::LOCATION_CREATED]),
        ]
    }
}
