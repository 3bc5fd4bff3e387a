//! The rules of a settings change, apart from storage: what a valid value is, and which fields an
//! update really changes.

use comptoir_contracts::admin::{SettingsUpdate, ShopSettings};
use comptoir_contracts::catalog::Channel;
use comptoir_kernel::{Currency, Error, FieldError, Result};

pub const SHOP_NAME_MAX_CHARS: usize = 120;
pub const MESSAGE_MAX_CHARS: usize = 500;
/// A day: longer tells clients to give up rather than come back.
pub const RETRY_AFTER_MAX_SECS: u32 = 86_400;

/// The settings after `update`, with the names of the fields that changed (none: nothing to save).
#[derive(Debug)]
pub struct Applied {
    pub settings: ShopSettings,
    pub changed: Vec<&'static str>,
}

/// Checks every field of `update` (all problems reported at once) and applies it to `current`.
/// `channels` are the catalog's, needed only when the update names a default channel.
pub fn apply(current: &ShopSettings, update: &SettingsUpdate, channels: &[Channel]) -> Result<Applied> {
    let mut errors = Vec::new();
    let mut next = current.clone();
    let mut reject = |field: &str, message: String| errors.push(FieldError { field: field.into(), message });

    if let Some(name) = &update.shop_name {
        let name = name.trim();
        if name.is_empty() {
            reject("shop_name", "must not be empty".into());
        } else if name.chars().count() > SHOP_NAME_MAX_CHARS {
            reject("shop_name", format!("must be at most {SHOP_NAME_MAX_CHARS} characters"));
        } else {
            next.shop_name = name.to_string();
        }
    }
    let channel = match &update.default_channel {
        Some(code) => match channels.iter().find(|c| c.code == code.trim()) {
            Some(channel) => {
                next.default_channel = channel.code.clone();
                next.default_currency = channel.currency.code().to_string();
                Some(channel)
            }
            None => {
                let known: Vec<&str> = channels.iter().map(|c| c.code.as_str()).collect();
                reject("default_channel", format!("is not a channel of the catalog (known: {})", known.join(", ")));
                None
            }
        },
        None => channels.iter().find(|c| c.code == current.default_channel),
    };
    if let Some(code) = &update.default_currency {
        match code.trim().to_ascii_uppercase().parse::<Currency>() {
            Err(_) => reject("default_currency", "must be an ISO 4217 code such as EUR".into()),
            // The default currency is the one the default channel's prices are in: anything else
            // would show customers prices the catalog does not have.
            Ok(currency) => match channel {
                Some(channel) if channel.currency != currency => reject(
                    "default_currency",
                    format!("the {} channel's prices are in {}", channel.code, channel.currency.code()),
                ),
                _ => next.default_currency = currency.code().to_string(),
            },
        }
    }
    if let Some(on) = update.maintenance_mode {
        next.maintenance_mode = on;
    }
    if let Some(message) = &update.maintenance_message {
        let message = message.trim();
        if message.chars().count() > MESSAGE_MAX_CHARS {
            reject("maintenance_message", format!("must be at most {MESSAGE_MAX_CHARS} characters"));
        } else {
            next.maintenance_message = message.to_string();
        }
    }
    if let Some(secs) = update.maintenance_retry_after_secs {
        if !(1..=RETRY_AFTER_MAX_SECS).contains(&secs) {
            reject("maintenance_retry_after_secs", format!("must be between 1 and {RETRY_AFTER_MAX_SECS}"));
        } else {
            next.maintenance_retry_after_secs = secs;
        }
    }
    if !errors.is_empty() {
        return Err(Error::validation_many(errors));
    }
    let changed = changed_fields(current, &next);
    Ok(Applied { settings: next, changed })
}

fn changed_fields(before: &ShopSettings, after: &ShopSettings) -> Vec<&'static str> {
    let fields: [(&'static str, bool); 6] = [
        ("shop_name", before.shop_name != after.shop_name),
        ("default_channel", before.default_channel != after.default_channel),
        ("default_currency", before.default_currency != after.default_currency),
        ("maintenance_mode", before.maintenance_mode != after.maintenance_mode),
        ("maintenance_message", before.maintenance_message != after.maintenance_message),
        ("maintenance_retry_after_secs", before.maintenance_retry_after_secs != after.maintenance_retry_after_secs),
    ];
    fields.into_iter().filter(|(_, changed)| *changed).map(|(name, _)| name).collect()
}

#[cfg(test)]
mod tests {
    use comptoir_contracts::admin::DEFAULT_RETRY_AFTER_SECS;
    use comptoir_kernel::time;

    use super::*;

    fn current() -> ShopSettings {
        ShopSettings {
            shop_name: "Comptoir".into(),
            default_channel: "online".into(),
            default_currency: "EUR".into(),
            maintenance_mode: false,
            maintenance_message: String::new(),
            maintenance_retry_after_secs: DEFAULT_RETRY_AFTER_SECS,
            version: 1,
            updated_at: time::now(),
            updated_by: None,
        }
    }

    fn channels() -> Vec<Channel> {
        vec![
            Channel { code: "online".into(), name: "Online".into(), currency: Currency::EUR },
            Channel { code: "us".into(), name: "US store".into(), currency: Currency::USD },
        ]
    }

    #[test]
    fn a_new_channel_brings_its_currency() {
        let update = SettingsUpdate { default_channel: Some("us".into()), ..Default::default() };
        let applied = apply(&current(), &update, &channels()).unwrap();
        assert_eq!(applied.settings.default_currency, "USD");
        assert_eq!(applied.changed, ["default_channel", "default_currency"]);
    }

    #[test]
    fn every_bad_field_is_named_at_once() {
        let update = SettingsUpdate {
            shop_name: Some("   ".into()),
            default_channel: Some("nowhere".into()),
            default_currency: Some("euros".into()),
            maintenance_retry_after_secs: Some(0),
            maintenance_message: Some("x".repeat(MESSAGE_MAX_CHARS + 1)),
            ..Default::default()
        };
        let fields: Vec<String> = apply(&current(), &update, &channels())
            .unwrap_err()
            .field_errors()
            .iter()
            .map(|e| e.field.clone())
            .collect();
        assert_eq!(
            fields,
            ["shop_name", "default_channel", "default_currency", "maintenance_message", "maintenance_retry_after_secs"]
        );
    }

    #[test]
    fn a_currency_other_than_the_channels_is_refused() {
        let update = SettingsUpdate { default_currency: Some("USD".into()), ..Default::default() };
        let e = apply(&current(), &update, &channels()).unwrap_err();
        assert_eq!(e.field_errors()[0].message, "the online channel's prices are in EUR");
    }

    #[test]
    fn setting_the_same_values_changes_nothing() {
        let update = SettingsUpdate {
            shop_name: Some(" Comptoir ".into()),
            maintenance_mode: Some(false),
            default_currency: Some("eur".into()),
            ..Default::default()
        };
        assert!(apply(&current(), &update, &channels()).unwrap().changed.is_empty());
    }
}
