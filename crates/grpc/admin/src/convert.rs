//! The admin contract's types and their wire form, both ways. An update travels as the caller
//! typed it; the module checks it on the other side and names the fields, as in process.

use comptoir_contracts::admin::{SettingsUpdate, ShopSettings};
use comptoir_grpc::convert::{timestamp, to_timestamp};
use comptoir_kernel::Result;

use crate::pb;

pub fn to_settings(settings: &ShopSettings) -> pb::Settings {
    pb::Settings {
        shop_name: settings.shop_name.clone(),
        default_channel: settings.default_channel.clone(),
        default_currency: settings.default_currency.clone(),
        maintenance_mode: settings.maintenance_mode,
        maintenance_message: settings.maintenance_message.clone(),
        maintenance_retry_after_secs: settings.maintenance_retry_after_secs,
        version: settings.version,
        updated_at: Some(to_timestamp(&settings.updated_at)),
        updated_by: settings.updated_by.clone(),
    }
}

pub fn settings(value: pb::Settings) -> Result<ShopSettings> {
    Ok(ShopSettings {
        shop_name: value.shop_name,
        default_channel: value.default_channel,
        default_currency: value.default_currency,
        maintenance_mode: value.maintenance_mode,
        maintenance_message: value.maintenance_message,
        maintenance_retry_after_secs: value.maintenance_retry_after_secs,
        version: value.version,
        updated_at: timestamp(value.updated_at, "updated_at")?,
        updated_by: value.updated_by,
    })
}

pub fn to_update(update: SettingsUpdate) -> pb::UpdateSettingsRequest {
    pb::UpdateSettingsRequest {
        shop_name: update.shop_name,
        default_channel: update.default_channel,
        default_currency: update.default_currency,
        maintenance_mode: update.maintenance_mode,
        maintenance_message: update.maintenance_message,
        maintenance_retry_after_secs: update.maintenance_retry_after_secs,
        expected_version: update.expected_version,
    }
}

pub fn update(value: pb::UpdateSettingsRequest) -> SettingsUpdate {
    SettingsUpdate {
        shop_name: value.shop_name,
        default_channel: value.default_channel,
        default_currency: value.default_currency,
        maintenance_mode: value.maintenance_mode,
        maintenance_message: value.maintenance_message,
        maintenance_retry_after_secs: value.maintenance_retry_after_secs,
        expected_version: value.expected_version,
    }
}
