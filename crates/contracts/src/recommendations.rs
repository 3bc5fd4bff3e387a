//! Recommendations: "frequently bought together", a read model of confirmed orders fed by
//! ordering's events. For a product (its page) or a cart (the basket), the products customers
//! most often bought in the same orders, best first, with the numbers behind each suggestion.

use async_trait::async_trait;
use comptoir_kernel::{Error, RequestContext, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// At most this many recommendations per call.
pub const MAX_RECOMMENDATIONS: u32 = 20;
/// A cart with more products than this is refused rather than silently cut.
pub const MAX_CART_PRODUCTS: usize = 100;

/// Checks a `limit` as every method of the port does.
pub fn check_limit(limit: u32) -> Result<usize> {
    match limit {
        1..=MAX_RECOMMENDATIONS => Ok(limit as usize),
        _ => Err(Error::validation("limit", format!("must be between 1 and {MAX_RECOMMENDATIONS}"))),
    }
}

/// A product bought together with the one asked about (or with the cart's products).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Recommendation {
    pub product_id: Uuid,
    /// As the latest order line seen named it.
    pub product_name: String,
    /// Confirmed orders holding both products. For a cart: the most with any one of its products.
    pub orders_together: u64,
    /// Orders with both / orders with the product asked about, between 0 and 1 (4 decimals).
    /// For a cart: the highest over its products.
    pub confidence: f64,
    /// How much likelier the recommended product is in an order holding the product asked about
    /// than in any order (1: no more than chance), 4 decimals. For a cart: the highest.
    pub lift: f64,
    /// What the list is ranked by, best first (4 decimals): the pessimistic (95 % Wilson lower
    /// bound) share of the product's orders holding the recommended one, times the same share the
    /// other way round. For a cart: the sum over its products.
    pub score: f64,
}

/// What a rebuild from ordering found and wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RebuildReport {
    /// Orders counted (confirmed, shipped, delivered or partly refunded).
    pub orders: u64,
    /// Distinct pairs of products bought together.
    pub pairs: u64,
    pub took_ms: u64,
}

#[async_trait]
pub trait RecommendationsPort: Send + Sync {
    /// The products most often in the same confirmed orders as this one, best first; never the
    /// product itself. None for a product never ordered. `limit` is 1 to [`MAX_RECOMMENDATIONS`].
    async fn bought_together(&self, ctx: &RequestContext, product_id: Uuid, limit: u32) -> Result<Vec<Recommendation>>;
    /// Combined over the cart's products (their scores summed), never a product already in the
    /// cart. An empty cart gets none; more than [`MAX_CART_PRODUCTS`] products are refused.
    async fn for_cart(&self, ctx: &RequestContext, product_ids: Vec<Uuid>, limit: u32) -> Result<Vec<Recommendation>>;
    /// Recomputes everything from scratch from ordering's orders, replacing what was counted.
    async fn rebuild(&self, ctx: &RequestContext) -> Result<RebuildReport>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_outside_one_to_twenty_is_refused_naming_the_field() {
        assert_eq!(check_limit(1).unwrap(), 1);
        assert_eq!(check_limit(MAX_RECOMMENDATIONS).unwrap(), 20);
        for bad in [0, 21, u32::MAX] {
            match check_limit(bad) {
                Err(Error::Validation { errors, .. }) => assert_eq!(errors[0].field, "limit"),
                other => panic!("expected a validation error, got {other:?}"),
            }
        }
    }
}
