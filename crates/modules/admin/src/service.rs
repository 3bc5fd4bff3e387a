//! The admin port: reading the settings (written from the configured defaults the first time) and
//! changing them under optimistic concurrency, with their events in the same transaction.

use async_trait::async_trait;
use chrono::SubsecRound;
use comptoir_contracts::admin::events::{self, Maintenance, SettingsUpdated};
use comptoir_contracts::admin::{AdminPort, DEFAULT_RETRY_AFTER_SECS, SettingsUpdate, ShopSettings};
use comptoir_kernel::{Error, EventEnvelope, RequestContext, Result, time};
use comptoir_storage::db_error;
use sqlx::AnyConnection;

use crate::{AdminModule, domain, store};

const SOURCE: &str = "admin";

impl AdminModule {
    fn initial_settings(&self) -> ShopSettings {
        ShopSettings {
            shop_name: self.defaults.shop_name.clone(),
            default_channel: self.defaults.default_channel.clone(),
            default_currency: self.defaults.default_currency.clone(),
            maintenance_mode: false,
            maintenance_message: String::new(),
            maintenance_retry_after_secs: DEFAULT_RETRY_AFTER_SECS,
            version: 1,
            updated_at: time::now(),
            updated_by: None,
        }
    }

    /// The stored settings, written from the defaults first when there are none yet.
    async fn load_or_seed(&self, c: &mut AnyConnection) -> Result<ShopSettings> {
        if let Some(settings) = store::load(c).await? {
            return Ok(settings);
        }
        store::seed(c, &self.initial_settings()).await?;
        store::load(c).await?.ok_or_else(|| Error::internal("the settings row vanished after it was written"))
    }
}

fn stale(expected: i64, current: i64) -> Error {
    Error::conflict_on(
        "settings-changed",
        "expected_version",
        format!("the settings are at version {current}, not {expected}: someone changed them; reload and try again"),
    )
}

#[async_trait]
impl AdminPort for AdminModule {
    #[tracing::instrument(name = "admin.settings", skip_all, fields(module = "admin", correlation_id = %_ctx.correlation_id))]
    async fn settings(&self, _ctx: &RequestContext) -> Result<ShopSettings> {
        let mut reader = self.db.reader().acquire().await.map_err(db_error)?;
        if let Some(settings) = store::load(&mut reader).await? {
            return Ok(settings);
        }
        drop(reader);
        let mut uow = self.db.begin().await?;
        let settings = self.load_or_seed(&mut uow).await?;
        uow.commit().await?;
        Ok(settings)
    }

    #[tracing::instrument(name = "admin.update_settings", skip_all, fields(module = "admin", correlation_id = %ctx.correlation_id))]
    async fn update_settings(&self, ctx: &RequestContext, update: SettingsUpdate) -> Result<ShopSettings> {
        if update.is_empty() {
            return Err(Error::bad_request("the update names no setting to change"));
        }
        // Asked before the transaction opens: no database transaction waits on another module.
        let channels = match update.default_channel.is_some() || update.default_currency.is_some() {
            true => self.catalog.list_channels(ctx).await?,
            false => Vec::new(),
        };
        let mut uow = self.db.begin().await?;
        let current = self.load_or_seed(&mut uow).await?;
        if let Some(expected) = update.expected_version.filter(|v| *v != current.version) {
            return Err(stale(expected, current.version));
        }
        let domain::Applied { mut settings, changed } = domain::apply(&current, &update, &channels)?;
        if changed.is_empty() {
            return Ok(current);
        }
        settings.version = current.version + 1;
        // At the precision it is stored with, so that the answer equals what a later read gives.
        settings.updated_at = time::now().trunc_subsecs(6);
        settings.updated_by = ctx.actor.id.clone();
        // Another writer may have committed since the read (PostgreSQL does not serialise writers).
        if !store::replace(&mut uow, &settings, current.version).await? {
            let now = store::load(&mut uow).await?.map_or(current.version, |s| s.version);
            return Err(stale(current.version, now));
        }
        let updated =
            SettingsUpdated { settings: settings.clone(), changed: changed.iter().map(|f| f.to_string()).collect() };
        uow.emit(&EventEnvelope::new(ctx, SOURCE, events::SETTINGS_UPDATED, updated)).await?;
        if current.maintenance_mode != settings.maintenance_mode {
            let kind = if settings.maintenance_mode { events::MAINTENANCE_STARTED } else { events::MAINTENANCE_ENDED };
            let maintenance = Maintenance {
                message: settings.maintenance_message.clone(),
                retry_after_secs: settings.maintenance_retry_after_secs,
                version: settings.version,
            };
            uow.emit(&EventEnvelope::new(ctx, SOURCE, kind, maintenance)).await?;
        }
        uow.commit().await?;
        Ok(settings)
    }
}
