//! Recommendations: "frequently bought together". A read model of confirmed orders, fed by
//! ordering's events and queried through
//! [`RecommendationsPort`](comptoir_contracts::recommendations::RecommendationsPort): for a
//! product page, the products most often in the same orders as it; for a cart, the same combined
//! over its products, without those already in it.
//!
//! **What is counted.** An order counts from `order.checkout.completed` (stock reserved and
//! payment captured), for each of its distinct products: quantities do not matter, a customer
//! buying six mugs and a teapot bought "mug and teapot" once. An order with one product counts
//! towards that product's orders but makes no pair. An order comes out of the counts again when
//! it is cancelled after confirmation (`order.order.cancelled`) or fully refunded
//! (`order.order.refunded`): the refund event carries only the amount of each refund, so the
//! module keeps the order's gross total from its checkout and adds the refunds up; once they
//! reach it, the order is no longer a purchase. A partial refund (one item sent back) leaves the
//! order counted: the customer did buy the products together. Cancelled and fully refunded orders
//! are remembered, so a late or redelivered checkout event never counts them again.
//!
//! **No double counting.** The consumer's inbox makes redelivery of one event harmless, and a
//! table of the orders heard of makes the same order under another event id, or one a rebuild
//! already counted, change nothing. Every writer (the consumer, a rebuild) first locks the one
//! row of totals, so they never interleave.
//!
//! **Bulk orders.** Pairs grow with the square of an order's products; an order with more than
//! [`MAX_PAIRED_PRODUCTS`] distinct products (a wholesale or office order) counts towards every
//! product's orders, but only its first 50 distinct products, in the order of its lines, make
//! pairs: at most 1,225 pairs per order, whatever its size.
//!
//! **Storage.** Each pair is stored in both directions (A→B and B→A, same count): twice the rows
//! of a normalised pair, but the products bought with one are a single range of the primary key,
//! and reads (every product page, every cart) far outnumber writes (once per order).
//!
//! **Ranking.** For product A and a candidate B, with `n(A)`, `n(B)` the counted orders holding
//! each and `n(AB)` those holding both: `confidence = n(AB) / n(A)`, `lift = confidence /
//! (n(B) / all orders)`, and the list is ranked by `score = W(n(AB), n(A)) × W(n(AB), n(B))`,
//! where `W(k, n)` is the lower bound of the 95 % Wilson interval of the proportion `k / n`: the
//! share of A's orders holding B times the share of B's orders holding A, each as low as the
//! evidence allows. Both halves matter: raw co-occurrence (or confidence alone) would put a
//! product in nearly every order (a carrier bag, gift wrap) first for everything, since its
//! share of B's orders holding A is small; lift alone would put a product bought once, with A,
//! first, since its share is 1 out of 1, which Wilson bounds turn into a weak 0.21. Ties go to
//! the pair bought together more often, then to the name. Candidates are the 500 products most
//! often bought with A. For a cart, each product's scores are summed, so a product bought with
//! several of the cart's products rises.
//!
//! **Rebuild.** [`RecommendationsPort::rebuild`](comptoir_contracts::recommendations::RecommendationsPort::rebuild)
//! reads every order from ordering (the `Arc<dyn OrderingPort>` given at construction, used for
//! nothing else) and replaces all counts in one unit of work: confirmed, shipped, delivered and
//! partly refunded orders are counted, fully refunded ones and those cancelled after
//! confirmation are remembered as removed. Statuses are read in the order an order moves through
//! them, so one that moves on while the rebuild reads is met again further on, not missed.
//!
//! Consumes `order.checkout.completed`, `order.order.refunded` and `order.order.cancelled`
//! (consumer `recommendations.orders`). Publishes nothing.

mod consumers;
mod service;
mod store;

use std::collections::HashMap;
use std::sync::Arc;

use comptoir_contracts::ordering::OrderingPort;
use comptoir_contracts::ordering::events as ordering;
use comptoir_eventbus::Consumer;
use comptoir_kernel::Result;
use comptoir_kernel::time::Timestamp;
use comptoir_storage::{Db, Migrations};
use uuid::Uuid;

pub use consumers::ORDERS;
use store::{OrderRow, OrderState};

const SCHEMA: &[(i64, &str, &str)] =
    &[(1, "recommendations", include_str!("../migrations/portable/0001_recommendations.sql"))];

pub const MIGRATIONS: Migrations = Migrations { sqlite: SCHEMA, postgres: SCHEMA };

/// The distinct products of an order that make pairs; the others only count as bought.
pub const MAX_PAIRED_PRODUCTS: usize = 50;

/// The recommendations module; cheap to clone.
#[derive(Clone)]
pub struct RecommendationsModule {
    db: Db,
    /// Read by a rebuild, and by nothing else.
    ordering: Arc<dyn OrderingPort>,
}

impl RecommendationsModule {
    pub fn new(db: Db, ordering: Arc<dyn OrderingPort>) -> Self {
        RecommendationsModule { db, ordering }
    }

    /// The event consumers to subscribe on the bus.
    pub fn consumers(&self) -> Vec<Consumer> {
        let handler = Arc::new(consumers::Handlers { module: self.clone() });
        vec![Consumer::new(
            ORDERS,
            &[ordering::CHECKOUT_COMPLETED, ordering::ORDER_REFUNDED, ordering::ORDER_CANCELLED],
            self.db.clone(),
            handler,
        )]
    }
}

/// An order as the counts need it, from an event's snapshot or from ordering's order.
pub(crate) struct Purchase<'a> {
    pub order_id: Uuid,
    pub currency: String,
    pub gross: i64,
    pub refunded: i64,
    pub placed_at: Timestamp,
    pub lines: &'a [comptoir_contracts::ordering::OrderLine],
}

/// What to add to the stored counts: orders, the products they counted for, per-product and
/// per-pair numbers. One order for the consumer, every order for a rebuild.
#[derive(Default)]
pub(crate) struct Tally {
    orders: Vec<OrderRow>,
    order_products: Vec<(Uuid, Uuid, bool)>,
    products: HashMap<Uuid, (String, Timestamp, i64)>,
    pairs: HashMap<(Uuid, Uuid), i64>,
    counted: i64,
}

impl Tally {
    /// Counts the order: once for each of its distinct products, once for each pair among its
    /// first [`MAX_PAIRED_PRODUCTS`] distinct products (both ways).
    pub fn count(&mut self, purchase: Purchase<'_>) {
        let mut basket: Vec<(Uuid, &str)> = Vec::new();
        for line in purchase.lines {
            if !basket.iter().any(|(id, _)| *id == line.product_id) {
                basket.push((line.product_id, &line.product_name));
            }
        }
        self.orders.push(OrderRow {
            order_id: purchase.order_id,
            state: OrderState::Counted,
            currency: Some(purchase.currency),
            gross: Some(purchase.gross),
            refunded: purchase.refunded,
        });
        if basket.is_empty() {
            return;
        }
        self.counted += 1;
        for (i, (product_id, name)) in basket.iter().enumerate() {
            self.order_products.push((purchase.order_id, *product_id, i < MAX_PAIRED_PRODUCTS));
            let entry = self.products.entry(*product_id).or_insert_with(|| (name.to_string(), purchase.placed_at, 0));
            entry.2 += 1;
            if purchase.placed_at >= entry.1 {
                (entry.0, entry.1) = (name.to_string(), purchase.placed_at);
            }
        }
        let paired = &basket[..basket.len().min(MAX_PAIRED_PRODUCTS)];
        for (a, _) in paired {
            for (b, _) in paired {
                if a != b {
                    *self.pairs.entry((*a, *b)).or_insert(0) += 1;
                }
            }
        }
    }

    /// Remembers an order that must never be counted (cancelled, fully refunded).
    pub fn remove(&mut self, row: OrderRow) {
        self.orders.push(OrderRow { state: OrderState::Removed, ..row });
    }

    pub fn orders(&self) -> u64 {
        self.counted as u64
    }

    /// Adds it all to the stored counts, in a stable order (primary keys ascending).
    pub async fn write(self, c: &mut sqlx::AnyConnection) -> Result<()> {
        let mut orders = self.orders;
        orders.sort_by_key(|o| o.order_id);
        store::put_orders(c, &orders).await?;
        store::put_order_products(c, &self.order_products).await?;
        let mut products: Vec<(Uuid, String, Timestamp, i64)> =
            self.products.into_iter().map(|(id, (name, at, n))| (id, name, at, n)).collect();
        products.sort_by_key(|p| p.0);
        store::add_products(c, &products).await?;
        let mut pairs: Vec<(Uuid, Uuid, i64)> = self.pairs.into_iter().map(|((a, b), n)| (a, b, n)).collect();
        pairs.sort();
        store::add_pairs(c, &pairs).await?;
        store::add_to_total(c, self.counted).await?;
        Ok(())
    }
}

/// Takes a counted order back out of the counts and remembers it as removed.
pub(crate) async fn uncount(c: &mut sqlx::AnyConnection, row: OrderRow) -> Result<()> {
    let products = store::order_products(c, row.order_id).await?;
    if !products.is_empty() {
        let ids: Vec<Uuid> = products.iter().map(|(id, _)| *id).collect();
        store::remove_products(c, &ids).await?;
        let paired: Vec<Uuid> = products.iter().filter(|(_, paired)| *paired).map(|(id, _)| *id).collect();
        let mut pairs = Vec::new();
        for a in &paired {
            for b in &paired {
                if a != b {
                    pairs.push((*a, *b, -1));
                }
            }
        }
        store::add_pairs(c, &pairs).await?;
        store::forget_order_products(c, row.order_id).await?;
        store::add_to_total(c, -1).await?;
    }
    store::put_orders(c, &[OrderRow { state: OrderState::Removed, ..row }]).await
}
