//! Webhooks: outbound, signed HTTP notifications of domain events to third-party applications.
//! Staff subscribe a URL to event patterns (`order.*`, `order.#`, `#`); every matching event is
//! POSTed there as JSON, signed with the subscription's secret, retried with backoff, and logged
//! attempt by attempt. A subscription that keeps failing is disabled automatically.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use comptoir_kernel::{Page, PageRequest, RequestContext, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A URL subscribed to events. The signing secret is never part of it: it is shown once, in
/// [`SubscriptionWithSecret`], when the subscription is created and when the secret is rotated.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Subscription {
    pub id: Uuid,
    /// Where events are POSTed.
    pub url: String,
    /// Event type patterns: words separated by dots, `*` one word, `#` zero or more words.
    pub patterns: Vec<String>,
    pub description: String,
    pub enabled: bool,
    /// The secret's prefix and last characters (`whsec_…9f3a`), to tell secrets apart.
    pub secret_hint: String,
    /// Failed delivery attempts since the last successful one.
    pub consecutive_failures: u32,
    /// When the current run of failures began; none after a success.
    pub failing_since: Option<DateTime<Utc>>,
    /// Why the subscription is disabled (by staff, or automatically and why); none while enabled.
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A subscription with its signing secret, answered only by creation and rotation.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SubscriptionWithSecret {
    #[serde(flatten)]
    pub subscription: Subscription,
    /// `whsec_` and 64 hexadecimal digits; the HMAC key is this whole string.
    pub secret: String,
}

fn enabled_by_default() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSubscription {
    pub url: String,
    pub patterns: Vec<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

/// A partial update: absent fields keep their value. Enabling a disabled subscription resets its
/// failure count.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionPatch {
    pub url: Option<String>,
    pub patterns: Option<Vec<String>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its first attempt or for a retry.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Retries are exhausted, or the subscription was disabled first.
    Failed,
}

/// One event to deliver to one subscription.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Delivery {
    /// Sent as `Comptoir-Webhook-Id`; the same for every attempt.
    pub id: Uuid,
    pub subscription_id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    pub status: DeliveryStatus,
    /// Attempts made so far, manual redeliveries included.
    pub attempts: u32,
    /// When the next automatic attempt is due; none unless pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The HTTP status of the last attempt, if the endpoint answered.
    pub last_response_code: Option<u16>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// One POST of a delivery and what came of it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliveryAttempt {
    /// 1 for the first attempt.
    pub number: u32,
    /// Asked for by staff (a redelivery) rather than scheduled.
    pub manual: bool,
    pub attempted_at: DateTime<Utc>,
    pub duration_ms: u64,
    /// The HTTP status, if the endpoint answered.
    pub response_code: Option<u16>,
    /// The start of the response body (at most 1 KiB).
    pub response_body: Option<String>,
    /// Why the attempt failed (a non-2xx status, a timeout, a refused connection).
    pub error: Option<String>,
    pub succeeded: bool,
}

/// A delivery with the exact body sent and every attempt, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliveryDetail {
    #[serde(flatten)]
    pub delivery: Delivery,
    /// The JSON body POSTed: the event envelope.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub attempts: Vec<DeliveryAttempt>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
}

#[async_trait]
pub trait WebhooksPort: Send + Sync {
    /// Subscribes a URL; answers the subscription with its secret, shown this once.
    async fn create_subscription(&self, ctx: &RequestContext, new: NewSubscription) -> Result<SubscriptionWithSecret>;
    /// Subscriptions, newest first.
    async fn subscriptions(&self, ctx: &RequestContext, page: PageRequest) -> Result<Page<Subscription>>;
    async fn subscription(&self, ctx: &RequestContext, id: Uuid) -> Result<Subscription>;
    async fn update_subscription(
        &self,
        ctx: &RequestContext,
        id: Uuid,
        patch: SubscriptionPatch,
    ) -> Result<Subscription>;
    /// Deletes the subscription with its deliveries and their attempts.
    async fn delete_subscription(&self, ctx: &RequestContext, id: Uuid) -> Result<()>;
    /// Replaces the signing secret; the previous one still signs (as a second `v1`) for the
    /// configured grace period. Answers the new secret, shown this once.
    async fn rotate_secret(&self, ctx: &RequestContext, id: Uuid) -> Result<SubscriptionWithSecret>;
    /// A subscription's deliveries, newest first.
    async fn deliveries(
        &self,
        ctx: &RequestContext,
        subscription_id: Uuid,
        filter: DeliveryFilter,
        page: PageRequest,
    ) -> Result<Page<Delivery>>;
    async fn delivery(&self, ctx: &RequestContext, id: Uuid) -> Result<DeliveryDetail>;
    /// Makes one attempt now, whatever the delivery's state, and answers the delivery after it.
    async fn redeliver(&self, ctx: &RequestContext, id: Uuid) -> Result<DeliveryDetail>;
}

/// Event types and payloads published by webhooks (source `webhooks`). None carries a secret.
pub mod events {
    use super::*;

    pub const SUBSCRIPTION_CREATED: &str = "webhook.subscription.created";
    /// Also emitted when the secret is rotated (`changed` holds `secret`).
    pub const SUBSCRIPTION_UPDATED: &str = "webhook.subscription.updated";
    pub const SUBSCRIPTION_DELETED: &str = "webhook.subscription.deleted";
    /// Disabled automatically because its endpoint kept failing; staff should look.
    pub const SUBSCRIPTION_DISABLED: &str = "webhook.subscription.disabled";

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct SubscriptionChanged {
        pub subscription_id: Uuid,
        pub url: String,
        pub patterns: Vec<String>,
        pub description: String,
        pub enabled: bool,
        /// The fields that changed (`url`, `patterns`, `description`, `enabled`, `secret`); empty
        /// on creation.
        #[serde(default)]
        pub changed: Vec<String>,
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct SubscriptionDeleted {
        pub subscription_id: Uuid,
        pub url: String,
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct SubscriptionDisabled {
        pub subscription_id: Uuid,
        pub url: String,
        pub reason: String,
        /// Consecutive failed attempts when it was disabled.
        pub failures: u32,
        pub failing_since: Option<DateTime<Utc>>,
    }
}
