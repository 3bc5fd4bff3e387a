//! Payment: payment intents authorised then captured through a provider, refunds, and the
//! provider's signed webhooks. The built-in `test` provider approves by default and declines the
//! test card tokens below, so that every path of the checkout can be exercised without a PSP.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use comptoir_kernel::{Money, Page, PageRequest, RequestContext, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Card tokens the test provider understands. Any other non-empty token is approved.
pub mod test_cards {
    /// Approved.
    pub const APPROVED: &str = "tok_visa";
    /// Declined: insufficient funds.
    pub const DECLINED_INSUFFICIENT_FUNDS: &str = "tok_decline_insufficient_funds";
    /// Declined: the card was reported stolen.
    pub const DECLINED_STOLEN: &str = "tok_decline_stolen_card";
    /// The provider does not answer (a transient failure the caller may retry).
    pub const PROVIDER_UNAVAILABLE: &str = "tok_provider_unavailable";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Authorised, not yet captured.
    Authorized,
    Captured,
    Declined,
    /// Authorised then released without capture.
    Voided,
    PartiallyRefunded,
    Refunded,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentMethodInput {
    /// `test` (the built-in provider) or `cash` (point of sale).
    pub provider: String,
    /// The provider's card token (`tok_visa`, `tok_decline_insufficient_funds`, ...).
    #[serde(default)]
    pub token: Option<String>,
}

/// A charge the ordering saga asks for: authorise then capture `amount` for an order.
#[derive(Debug, Clone)]
pub struct ChargeRequest {
    pub order_id: Uuid,
    pub customer_id: Option<Uuid>,
    pub amount: Money,
    pub method: PaymentMethodInput,
    /// Charging twice with the same key returns the first payment: never two charges.
    pub idempotency_key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Refund {
    pub id: Uuid,
    pub amount: Money,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Payment {
    pub id: Uuid,
    pub order_id: Uuid,
    pub provider: String,
    /// The provider's reference for the charge.
    pub provider_reference: Option<String>,
    pub status: PaymentStatus,
    pub amount: Money,
    pub captured: Money,
    pub refunded: Money,
    /// Why the provider declined, in words a customer can read.
    pub decline_reason: Option<String>,
    pub refunds: Vec<Refund>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct RefundRequest {
    pub payment_id: Uuid,
    pub amount: Money,
    pub reason: Option<String>,
    /// Refunding twice with the same key returns the first refund.
    pub idempotency_key: String,
}

#[async_trait]
pub trait PaymentPort: Send + Sync {
    /// Authorises and captures. A decline is not an error: the payment comes back `Declined`
    /// with its reason. Errors are bad input (422) or a provider that does not answer (503).
    async fn charge(&self, ctx: &RequestContext, request: ChargeRequest) -> Result<Payment>;
    /// At most what was captured and not yet refunded (else 422 on `amount`).
    async fn refund(&self, ctx: &RequestContext, request: RefundRequest) -> Result<Payment>;
    async fn get_payment(&self, ctx: &RequestContext, id: Uuid) -> Result<Payment>;
    /// The payments of an order, oldest first (a declined attempt, then a successful one).
    async fn payments_for_order(&self, ctx: &RequestContext, order_id: Uuid) -> Result<Vec<Payment>>;
    async fn list_payments(&self, ctx: &RequestContext, page: PageRequest) -> Result<Page<Payment>>;
    /// A provider's webhook: the signature header is checked against the body (401 if it does not
    /// match) before anything changes.
    async fn provider_webhook(&self, ctx: &RequestContext, provider: &str, signature: &str, body: &[u8]) -> Result<()>;
}

/// Event types and payloads published by payment (source `payment`).
pub mod events {
    use super::*;

    pub const CHARGE_SUCCEEDED: &str = "payment.charge.succeeded";
    pub const CHARGE_FAILED: &str = "payment.charge.failed";
    pub const REFUND_COMPLETED: &str = "payment.refund.completed";

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct ChargeOutcome {
        pub payment_id: Uuid,
        pub order_id: Uuid,
        pub amount: Money,
        pub decline_reason: Option<String>,
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct RefundCompleted {
        pub payment_id: Uuid,
        pub order_id: Uuid,
        pub refund_id: Uuid,
        pub amount: Money,
        /// Everything captured has now been refunded.
        pub fully_refunded: bool,
    }
}
