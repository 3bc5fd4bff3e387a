//! Notification: messages to customers and merchants, written from templates when events happen.
//! Sent by SMTP when configured, always kept in a mailbox staff can read. Customers may opt out of
//! messages that are not about their own orders or account.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use comptoir_kernel::{Page, PageRequest, RequestContext, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// About the customer's own account or orders: always sent.
    Transactional,
    /// Welcome and other non-essential messages: not sent to customers who opted out.
    Marketing,
    /// To the merchant (low stock, ...).
    Merchant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Kept in the mailbox only (no SMTP configured).
    Mailbox,
    Smtp,
    /// SMTP refused it; kept in the mailbox with the error.
    Failed,
    /// The customer opted out; recorded, not sent.
    Suppressed,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Message {
    pub id: Uuid,
    pub to: String,
    pub subject: String,
    pub body: String,
    /// The template it was written from (`order_confirmation`).
    pub template: String,
    pub kind: MessageKind,
    pub delivery: Delivery,
    pub error: Option<String>,
    /// The event that caused it.
    pub event_id: Uuid,
    pub customer_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageFilter {
    /// Recipient address.
    pub to: Option<String>,
    pub template: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Preferences {
    pub customer_id: Uuid,
    pub marketing_opt_out: bool,
}

#[async_trait]
pub trait NotificationPort: Send + Sync {
    /// The mailbox, newest first.
    async fn messages(&self, ctx: &RequestContext, filter: MessageFilter, page: PageRequest) -> Result<Page<Message>>;
    async fn preferences(&self, ctx: &RequestContext, customer_id: Uuid) -> Result<Preferences>;
    async fn set_marketing_opt_out(
        &self,
        ctx: &RequestContext,
        customer_id: Uuid,
        opt_out: bool,
    ) -> Result<Preferences>;
}

/// Event types and payloads published by notification (source `notification`).
pub mod events {
    use super::*;

    /// A message reached its recipient's mailbox or the SMTP server accepted it. Suppressed and
    /// failed messages are not sent, so they emit nothing.
    pub const MESSAGE_SENT: &str = "notification.message.sent";
    pub const PREFERENCES_CHANGED: &str = "notification.preferences.changed";

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct MessageSent {
        pub message_id: Uuid,
        pub to: String,
        pub template: String,
        pub kind: MessageKind,
        /// `mailbox` or `smtp`.
        pub delivery: Delivery,
        /// The event that caused the message.
        pub event_id: Uuid,
        pub customer_id: Option<Uuid>,
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct PreferencesChanged {
        pub customer_id: Uuid,
        pub marketing_opt_out: bool,
    }
}
