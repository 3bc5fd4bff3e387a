//! Billing: tax rules and tax computation, invoices (numbered without gaps, immutable once
//! issued, rendered as PDF) and credit notes.
//!
//! Billing reacts to ordering and payment events: `order.order.placed` drafts the invoice,
//! `order.checkout.completed` issues it, `payment.refund.completed` issues a credit note.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use comptoir_kernel::{Currency, Money, Page, PageRequest, RequestContext, Result};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::address::PostalAddress;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TaxRule {
    pub id: Uuid,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// A region of that country; a rule with a region wins over the country-wide one.
    pub region: Option<String>,
    /// `0.20` for 20 %.
    pub rate: Decimal,
    /// Printed on invoices (`VAT 20%`).
    pub label: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTaxRule {
    pub country: String,
    #[serde(default)]
    pub region: Option<String>,
    /// Between 0 and 1, as a string or a number (`"0.2"`).
    pub rate: Decimal,
    pub label: String,
}

/// Whether a channel's prices already include tax (B2C shops) or not (B2B).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChannelTaxMode {
    pub channel: String,
    pub prices_include_tax: bool,
}

#[derive(Debug, Clone)]
pub struct TaxableLine {
    pub sku: String,
    pub quantity: i64,
    /// As the channel shows it.
    pub unit_price: Money,
}

#[derive(Debug, Clone)]
pub struct TaxRequest {
    pub channel: String,
    pub currency: Currency,
    pub destination: PostalAddress,
    pub lines: Vec<TaxableLine>,
    /// The shipping price as the channel shows it; taxed at the destination's rate.
    pub shipping: Money,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LineTax {
    pub sku: String,
    pub rate: Decimal,
    pub net: Money,
    pub tax: Money,
    pub gross: Money,
}

/// Tax per rate, as printed at the bottom of an invoice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaxSummaryLine {
    pub label: String,
    pub rate: Decimal,
    pub base: Money,
    pub tax: Money,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaxBreakdown {
    pub prices_include_tax: bool,
    pub lines: Vec<LineTax>,
    pub shipping: LineTax,
    pub summary: Vec<TaxSummaryLine>,
    pub net: Money,
    pub tax: Money,
    pub gross: Money,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    Draft,
    Issued,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InvoiceLine {
    pub description: String,
    pub sku: Option<String>,
    pub quantity: i64,
    pub rate: Decimal,
    pub net: Money,
    pub tax: Money,
    pub gross: Money,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Party {
    pub name: String,
    pub email: Option<String>,
    pub address: Option<PostalAddress>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Invoice {
    pub id: Uuid,
    /// Given when issued, from one gap-free sequence (`INV-2026-000001`).
    pub number: Option<String>,
    pub order_id: Uuid,
    pub order_number: String,
    pub customer_id: Option<Uuid>,
    pub status: InvoiceStatus,
    pub seller: Party,
    pub buyer: Party,
    pub lines: Vec<InvoiceLine>,
    pub summary: Vec<TaxSummaryLine>,
    pub net: Money,
    pub tax: Money,
    pub gross: Money,
    pub issued_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreditNote {
    pub id: Uuid,
    /// From its own gap-free sequence (`CN-2026-000001`).
    pub number: String,
    pub invoice_id: Uuid,
    pub order_id: Uuid,
    /// Amount credited, tax included, and the tax part of it.
    pub gross: Money,
    pub tax: Money,
    pub reason: Option<String>,
    pub issued_at: DateTime<Utc>,
}

#[async_trait]
pub trait BillingPort: Send + Sync {
    async fn create_tax_rule(&self, ctx: &RequestContext, input: NewTaxRule) -> Result<TaxRule>;
    async fn list_tax_rules(&self, ctx: &RequestContext, page: PageRequest) -> Result<Page<TaxRule>>;
    async fn delete_tax_rule(&self, ctx: &RequestContext, id: Uuid) -> Result<()>;
    async fn set_channel_tax_mode(&self, ctx: &RequestContext, mode: ChannelTaxMode) -> Result<ChannelTaxMode>;
    async fn channel_tax_mode(&self, ctx: &RequestContext, channel: &str) -> Result<ChannelTaxMode>;

    /// Tax for a cart or an order, rounded per line (half away from zero) to the currency's minor
    /// unit; a destination without a rule is taxed at 0.
    async fn compute_tax(&self, ctx: &RequestContext, request: TaxRequest) -> Result<TaxBreakdown>;

    async fn invoice_for_order(&self, ctx: &RequestContext, order_id: Uuid) -> Result<Invoice>;
    async fn list_invoices(&self, ctx: &RequestContext, page: PageRequest) -> Result<Page<Invoice>>;
    async fn credit_notes_for_order(&self, ctx: &RequestContext, order_id: Uuid) -> Result<Vec<CreditNote>>;
    /// The invoice as a PDF document; only issued invoices (a draft is 409 `invoice-not-issued`).
    async fn invoice_pdf(&self, ctx: &RequestContext, invoice_id: Uuid) -> Result<Vec<u8>>;
    async fn credit_note_pdf(&self, ctx: &RequestContext, credit_note_id: Uuid) -> Result<Vec<u8>>;
}

/// Event types and payloads published by billing (source `billing`).
pub mod events {
    use super::*;

    pub const INVOICE_DRAFTED: &str = "billing.invoice.drafted";
    pub const INVOICE_ISSUED: &str = "billing.invoice.issued";
    pub const CREDIT_NOTE_ISSUED: &str = "billing.credit_note.issued";

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct InvoiceEvent {
        pub invoice_id: Uuid,
        pub order_id: Uuid,
        pub number: Option<String>,
        pub gross: Money,
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct CreditNoteIssued {
        pub credit_note_id: Uuid,
        pub invoice_id: Uuid,
        pub order_id: Uuid,
        pub number: String,
        pub gross: Money,
    }
}
