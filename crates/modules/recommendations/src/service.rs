//! The recommendations port: lists rated from the stored counts, and the rebuild from ordering.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use async_trait::async_trait;
use comptoir_contracts::ordering::{Order, OrderFilter, OrderStatus};
use comptoir_contracts::recommendations::{
    MAX_CART_PRODUCTS, RebuildReport, Recommendation, RecommendationsPort, check_limit,
};
use comptoir_kernel::{Error, PageRequest, RequestContext, Result};
use comptoir_storage::db_error;
use sqlx::AnyConnection;
use uuid::Uuid;

use crate::store::{self, Candidate, OrderRow, OrderState};
use crate::{Purchase, RecommendationsModule, Tally};

/// Orders read from ordering per page during a rebuild.
const PAGE: u32 = 100;
/// Products rated per product asked about: those most often bought with it.
const CANDIDATES: i64 = 500;
/// The z of a 95 % confidence interval.
const Z: f64 = 1.96;

/// The lower bound of the Wilson score interval of the proportion `k / n`: what the share is at
/// least, given how few orders it rests on (1 of 1 gives 0.21, 30 of 30 gives 0.89).
fn wilson(k: i64, n: i64) -> f64 {
    if n <= 0 {
        return 0.0;
    }
    let (k, n) = (k.min(n) as f64, n as f64);
    let p = k / n;
    let z2 = Z * Z;
    let centre = p + z2 / (2.0 * n);
    let margin = Z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - margin) / (1.0 + z2 / n)).max(0.0)
}

fn round4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

/// A candidate rated against a product bought in `orders` of `total` orders. The score is kept
/// unrounded for ranking and summing.
fn rate(orders: i64, total: i64, candidate: &Candidate) -> (f64, Recommendation) {
    let together = candidate.together.min(orders).min(candidate.orders);
    let confidence = together as f64 / orders as f64;
    let lift =
        if candidate.orders > 0 && total > 0 { confidence / (candidate.orders as f64 / total as f64) } else { 0.0 };
    let score = wilson(together, orders) * wilson(together, candidate.orders);
    let recommendation = Recommendation {
        product_id: candidate.product_id,
        product_name: candidate.name.clone(),
        orders_together: together as u64,
        confidence: round4(confidence),
        lift: round4(lift),
        score: round4(score),
    };
    (score, recommendation)
}

/// Best first: highest score, then bought together more often, then by name and id.
fn ranked(mut rated: Vec<(f64, Recommendation)>, limit: usize) -> Vec<Recommendation> {
    rated.sort_by(|(sa, a), (sb, b)| {
        sb.total_cmp(sa)
            .then(b.orders_together.cmp(&a.orders_together))
            .then_with(|| a.product_name.cmp(&b.product_name))
            .then(a.product_id.cmp(&b.product_id))
    });
    rated.into_iter().take(limit).map(|(_, r)| r).collect()
}

impl RecommendationsModule {
    /// The candidates for one product, rated; none for a product never counted.
    async fn rated(&self, c: &mut AnyConnection, product_id: Uuid, total: i64) -> Result<Vec<(f64, Recommendation)>> {
        let Some(orders) = store::product_orders(c, product_id).await?.filter(|n| *n > 0) else {
            return Ok(Vec::new());
        };
        let candidates = store::candidates(c, product_id, CANDIDATES).await?;
        Ok(candidates.iter().filter(|c| c.product_id != product_id).map(|c| rate(orders, total, c)).collect())
    }
}

#[async_trait]
impl RecommendationsPort for RecommendationsModule {
    #[tracing::instrument(name = "recommendations.bought_together", skip_all, fields(module = "recommendations", correlation_id = %_ctx.correlation_id))]
    async fn bought_together(
        &self,
        _ctx: &RequestContext,
        product_id: Uuid,
        limit: u32,
    ) -> Result<Vec<Recommendation>> {
        let limit = check_limit(limit)?;
        let mut reader = self.db.reader().acquire().await.map_err(db_error)?;
        let total = store::total_orders(&mut reader).await?;
        Ok(ranked(self.rated(&mut reader, product_id, total).await?, limit))
    }

    #[tracing::instrument(name = "recommendations.for_cart", skip_all, fields(module = "recommendations", correlation_id = %_ctx.correlation_id))]
    async fn for_cart(&self, _ctx: &RequestContext, product_ids: Vec<Uuid>, limit: u32) -> Result<Vec<Recommendation>> {
        let limit = check_limit(limit)?;
        let cart: HashSet<Uuid> = product_ids.iter().copied().collect();
        if cart.len() > MAX_CART_PRODUCTS {
            return Err(Error::validation(
                "product_ids",
                format!("must hold at most {MAX_CART_PRODUCTS} distinct products"),
            ));
        }
        let mut reader = self.db.reader().acquire().await.map_err(db_error)?;
        let total = store::total_orders(&mut reader).await?;
        // Summed scores; the strongest single tie for the numbers shown.
        let mut combined: HashMap<Uuid, (f64, Recommendation)> = HashMap::new();
        let mut asked = HashSet::new();
        for product_id in product_ids {
            if !asked.insert(product_id) {
                continue;
            }
            for (score, r) in self.rated(&mut reader, product_id, total).await? {
                if cart.contains(&r.product_id) {
                    continue;
                }
                match combined.get_mut(&r.product_id) {
                    None => {
                        combined.insert(r.product_id, (score, r));
                    }
                    Some((sum, best)) => {
                        *sum += score;
                        best.orders_together = best.orders_together.max(r.orders_together);
                        best.confidence = best.confidence.max(r.confidence);
                        best.lift = best.lift.max(r.lift);
                    }
                }
            }
        }
        let rated = combined.into_values().map(|(sum, r)| (sum, Recommendation { score: round4(sum), ..r })).collect();
        Ok(ranked(rated, limit))
    }

    #[tracing::instrument(name = "recommendations.rebuild", skip_all, fields(module = "recommendations", correlation_id = %ctx.correlation_id))]
    async fn rebuild(&self, ctx: &RequestContext) -> Result<RebuildReport> {
        let started = Instant::now();
        let ctx = ctx.as_system();
        let mut uow = self.db.begin().await?;
        // Taken first: the consumer waits until the rebuild commits, then finds the orders it
        // brings already counted.
        store::add_to_total(&mut uow, 0).await?;
        let orders = self.all_orders(&ctx).await?;
        let mut tally = Tally::default();
        for order in orders.values() {
            let row = || OrderRow {
                order_id: order.id,
                state: OrderState::Removed,
                currency: Some(order.currency.to_string()),
                gross: Some(order.totals.gross.amount),
                refunded: order.refunded.amount,
            };
            match order.status {
                OrderStatus::Confirmed
                | OrderStatus::Shipped
                | OrderStatus::Delivered
                | OrderStatus::PartiallyRefunded => tally.count(Purchase {
                    order_id: order.id,
                    currency: order.currency.to_string(),
                    gross: order.totals.gross.amount,
                    refunded: order.refunded.amount,
                    placed_at: order.created_at,
                    lines: &order.lines,
                }),
                OrderStatus::Refunded => tally.remove(row()),
                OrderStatus::Cancelled if was_confirmed(order) => tally.remove(row()),
                _ => {}
            }
        }
        let counted = tally.orders();
        store::clear(&mut uow).await?;
        tally.write(&mut uow).await?;
        let pairs = store::pair_count(&mut uow).await?;
        uow.commit().await?;
        let report = RebuildReport { orders: counted, pairs, took_ms: started.elapsed().as_millis() as u64 };
        tracing::info!(?report, "recommendations rebuilt");
        Ok(report)
    }
}

/// A cancelled order that had been confirmed: its checkout event was (or may yet be) delivered.
fn was_confirmed(order: &Order) -> bool {
    order.timeline.iter().any(|t| t.to == OrderStatus::Confirmed)
}

impl RecommendationsModule {
    /// Every order that was ever confirmed, by id, each as last read. Statuses are read in the
    /// order an order moves through them: one that moves on while the rebuild reads is met again
    /// in a later status (and its latest reading kept), never missed.
    async fn all_orders(&self, ctx: &RequestContext) -> Result<HashMap<Uuid, Order>> {
        let mut orders = HashMap::new();
        for status in [
            OrderStatus::Confirmed,
            OrderStatus::Shipped,
            OrderStatus::Delivered,
            OrderStatus::PartiallyRefunded,
            OrderStatus::Refunded,
            OrderStatus::Cancelled,
        ] {
            let filter = OrderFilter { status: Some(status), ..OrderFilter::default() };
            let mut read = 0u64;
            for page in 1.. {
                let found =
                    self.ordering.search_orders(ctx, filter.clone(), PageRequest { page, per_page: PAGE }).await?;
                let last = found.items.len() < PAGE as usize;
                read += found.items.len() as u64;
                for order in found.items {
                    // Listed under the status asked for: an order that moved on since is read
                    // again under its next status.
                    orders.insert(order.id, order);
                }
                if last || read >= found.total {
                    break;
                }
            }
        }
        Ok(orders)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_bounds_grow_with_the_evidence() {
        assert!((wilson(1, 1) - 0.2065).abs() < 1e-3, "{}", wilson(1, 1));
        assert!(wilson(3, 4) > wilson(1, 4));
        assert!(wilson(30, 30) > wilson(3, 3));
        assert_eq!(wilson(0, 10), 0.0);
        assert_eq!(wilson(1, 0), 0.0);
        assert!(wilson(5, 5) <= 1.0);
    }

    #[test]
    fn a_product_in_every_order_does_not_outrank_a_specific_companion() {
        let candidate = |together, orders| Candidate { product_id: Uuid::now_v7(), name: "x".into(), together, orders };
        // Tea in 100 of 1,000 orders; the bag in 900 (90 with tea); the mug in 100 (40 with tea).
        let (bag, _) = rate(100, 1000, &candidate(90, 900));
        let (mug, _) = rate(100, 1000, &candidate(40, 100));
        assert!(mug > bag, "mug {mug} bag {bag}");
        // A product bought once, with tea, is a weak signal next to the mug.
        let (once, _) = rate(100, 1000, &candidate(1, 1));
        assert!(mug > once, "mug {mug} once {once}");
    }
}
