//! Admin: the shop's system settings — its name, the default sales channel and currency, and
//! maintenance mode. One record, versioned: an update may say which version it was made from, and
//! is refused (409) when someone changed the settings since. The back office composes the other
//! modules' ports for everything else; admin owns no other module's data.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use comptoir_kernel::{RequestContext, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How long clients are told to wait (`Retry-After`) during maintenance unless set otherwise.
pub const DEFAULT_RETRY_AFTER_SECS: u32 = 300;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShopSettings {
    /// Shown on the storefront and signing the shop's messages. Invoices keep the seller's legal
    /// name from the configuration (`shop.name`).
    pub shop_name: String,
    /// The sales channel (a catalog channel code) the storefront sells in.
    pub default_channel: String,
    /// ISO 4217 code of the default channel's prices.
    pub default_currency: String,
    /// While on, the shop answers 503 to everyone but staff (the back office keeps working).
    pub maintenance_mode: bool,
    /// Shown to customers during maintenance.
    pub maintenance_message: String,
    /// The `Retry-After` given during maintenance, in seconds.
    pub maintenance_retry_after_secs: u32,
    /// Increases by one with every change; send it back as `expected_version` to update safely.
    pub version: i64,
    pub updated_at: DateTime<Utc>,
    /// Who made the last change (`None` for the settings the shop started with).
    pub updated_by: Option<String>,
}

/// A partial update: absent fields keep their value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsUpdate {
    pub shop_name: Option<String>,
    /// Must be one of the catalog's channels; the default currency follows it unless given.
    pub default_channel: Option<String>,
    pub default_currency: Option<String>,
    pub maintenance_mode: Option<bool>,
    pub maintenance_message: Option<String>,
    pub maintenance_retry_after_secs: Option<u32>,
    /// The version this update was made from: 409 when the settings changed since.
    pub expected_version: Option<i64>,
}

impl SettingsUpdate {
    pub fn is_empty(&self) -> bool {
        let SettingsUpdate {
            shop_name,
            default_channel,
            default_currency,
            maintenance_mode,
            maintenance_message,
            maintenance_retry_after_secs,
            expected_version: _,
        } = self;
        shop_name.is_none()
            && default_channel.is_none()
            && default_currency.is_none()
            && maintenance_mode.is_none()
            && maintenance_message.is_none()
            && maintenance_retry_after_secs.is_none()
    }
}

#[async_trait]
pub trait AdminPort: Send + Sync {
    /// The current settings; the shop's configured defaults until someone changes them.
    async fn settings(&self, ctx: &RequestContext) -> Result<ShopSettings>;
    /// Applies `update` and answers the new settings (the same ones, unchanged version, when it
    /// changes nothing). 422 names the bad field; 409 when `expected_version` is stale.
    async fn update_settings(&self, ctx: &RequestContext, update: SettingsUpdate) -> Result<ShopSettings>;
}

/// Event types and payloads published by admin (source `admin`).
pub mod events {
    use super::*;

    pub const SETTINGS_UPDATED: &str = "admin.settings.updated";
    pub const MAINTENANCE_STARTED: &str = "admin.maintenance.started";
    pub const MAINTENANCE_ENDED: &str = "admin.maintenance.ended";

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct SettingsUpdated {
        pub settings: ShopSettings,
        /// The names of the fields that changed (`shop_name`, `maintenance_mode`, ...).
        pub changed: Vec<String>,
    }

    /// Maintenance mode was turned on (`admin.maintenance.started`) or off (`.ended`).
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Maintenance {
        pub message: String,
        pub retry_after_secs: u32,
        pub version: i64,
    }
}
