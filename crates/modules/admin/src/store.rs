//! The SQL of the admin module: the one settings row. Every function runs on the connection it is
//! given: a unit of work's for writes and the reads that decide them, a reader's otherwise.

use comptoir_contracts::admin::ShopSettings;
use comptoir_kernel::{Error, Result, time};
use comptoir_storage::row::{flag, int, optional_text, text, timestamp};
use comptoir_storage::{db_error, query};
use sqlx::AnyConnection;

pub async fn load(c: &mut AnyConnection) -> Result<Option<ShopSettings>> {
    // The Any driver cannot decode a SQLite BOOLEAN: cast it, and let `flag` read either backend's.
    let row = query(
        "SELECT shop_name, default_channel, default_currency, \
             CAST(maintenance_mode AS INTEGER) AS maintenance_mode, maintenance_message, \
             maintenance_retry_after_secs, version, updated_at, updated_by \
         FROM settings WHERE id = 1",
    )
    .fetch_optional(c)
    .await
    .map_err(db_error)?;
    row.map(|row| {
        let retry_after = int(&row, "maintenance_retry_after_secs")?;
        Ok(ShopSettings {
            shop_name: text(&row, "shop_name")?,
            default_channel: text(&row, "default_channel")?,
            default_currency: text(&row, "default_currency")?,
            maintenance_mode: flag(&row, "maintenance_mode")?,
            maintenance_message: text(&row, "maintenance_message")?,
            maintenance_retry_after_secs: u32::try_from(retry_after)
                .map_err(|_| Error::internal(format!("stored Retry-After {retry_after} is out of range")))?,
            version: int(&row, "version")?,
            updated_at: timestamp(&row, "updated_at")?,
            updated_by: optional_text(&row, "updated_by")?,
        })
    })
    .transpose()
}

/// Writes the settings a shop starts with, unless someone already did.
pub async fn seed(c: &mut AnyConnection, settings: &ShopSettings) -> Result<()> {
    // No stored version is negative: an existing row is left as it is.
    write(c, settings, -1).await.map(drop)
}

/// Replaces the settings made from version `from`; `false` when the stored version is another
/// (someone changed them meanwhile) and nothing was written.
pub async fn replace(c: &mut AnyConnection, settings: &ShopSettings, from: i64) -> Result<bool> {
    write(c, settings, from).await
}

/// Inserts the row, or replaces it when it is at version `from`; whether a row was written.
async fn write(c: &mut AnyConnection, settings: &ShopSettings, from: i64) -> Result<bool> {
    let done = query(
        "INSERT INTO settings (id, shop_name, default_channel, default_currency, maintenance_mode, \
             maintenance_message, maintenance_retry_after_secs, version, updated_at, updated_by) \
         VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (id) DO UPDATE SET shop_name = excluded.shop_name, \
             default_channel = excluded.default_channel, default_currency = excluded.default_currency, \
             maintenance_mode = excluded.maintenance_mode, maintenance_message = excluded.maintenance_message, \
             maintenance_retry_after_secs = excluded.maintenance_retry_after_secs, version = excluded.version, \
             updated_at = excluded.updated_at, updated_by = excluded.updated_by \
         WHERE settings.version = $10",
    )
    .bind(&settings.shop_name)
    .bind(&settings.default_channel)
    .bind(&settings.default_currency)
    .bind(settings.maintenance_mode)
    .bind(&settings.maintenance_message)
    .bind(i64::from(settings.maintenance_retry_after_secs))
    .bind(settings.version)
    .bind(time::to_db(&settings.updated_at))
    .bind(settings.updated_by.as_deref())
    .bind(from)
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}
