//! The SQL of the shipping module. Every function runs on the connection it is given: a unit of
//! work's for writes and the reads that decide them, a reader's otherwise.

use comptoir_storage::row::{flag, id, int, placeholders, text, timestamp};
use std::collections::HashMap;

use comptoir_contracts::address::PostalAddress;
use comptoir_contracts::shipping::{Rate, Shipment, ShipmentStatus, ShippingMethod, TrackingEvent, Zone};
use comptoir_kernel::{Currency, Error, PageRequest, Result, time};
use comptoir_storage::{AnyRow, Row, db_error, query, query_scalar};
use sqlx::{AnyConnection, AssertSqlSafe};
use uuid::Uuid;

use crate::domain::{status_from_db, status_to_db};

fn to_json(value: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::internal(format!("cannot serialise to JSON: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(row: &AnyRow, column: &str) -> Result<T> {
    serde_json::from_str(&text(row, column)?)
        .map_err(|e| Error::internal(format!("stored {column} is not the expected JSON: {e}")))
}

// ---- Zones ---------------------------------------------------------------------------------

pub async fn insert_zone(c: &mut AnyConnection, zone: &Zone) -> Result<()> {
    query("INSERT INTO zones (id, name, created_at) VALUES ($1, $2, $3)")
        .bind(zone.id.to_string())
        .bind(&zone.name)
        .bind(time::to_db(&zone.created_at))
        .execute(&mut *c)
        .await
        .map_err(db_error)?;
    for (position, country) in zone.countries.iter().enumerate() {
        query("INSERT INTO zone_countries (zone_id, position, country) VALUES ($1, $2, $3)")
            .bind(zone.id.to_string())
            .bind(position as i64)
            .bind(country)
            .execute(&mut *c)
            .await
            .map_err(db_error)?;
    }
    Ok(())
}

pub async fn list_zones(c: &mut AnyConnection, page: PageRequest) -> Result<(Vec<Zone>, u64)> {
    let rows = query("SELECT id, name, created_at FROM zones ORDER BY name, id LIMIT $1 OFFSET $2")
        .bind(page.limit())
        .bind(page.offset())
        .fetch_all(&mut *c)
        .await
        .map_err(db_error)?;
    let total: i64 = query_scalar("SELECT COUNT(*) FROM zones").fetch_one(&mut *c).await.map_err(db_error)?;
    let mut zones = rows
        .iter()
        .map(|row| {
            Ok(Zone {
                id: id(row, "id")?,
                name: text(row, "name")?,
                countries: vec![],
                created_at: timestamp(row, "created_at")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if !zones.is_empty() {
        let sql = format!(
            "SELECT zone_id, country FROM zone_countries WHERE zone_id IN ({}) ORDER BY zone_id, position",
            placeholders(1, zones.len())
        );
        let mut q = query(AssertSqlSafe(sql));
        for zone in &zones {
            q = q.bind(zone.id.to_string());
        }
        let mut countries: HashMap<Uuid, Vec<String>> = HashMap::new();
        for row in q.fetch_all(c).await.map_err(db_error)? {
            countries.entry(id(&row, "zone_id")?).or_default().push(text(&row, "country")?);
        }
        for zone in &mut zones {
            zone.countries = countries.remove(&zone.id).unwrap_or_default();
        }
    }
    Ok((zones, total as u64))
}

pub async fn zone_exists(c: &mut AnyConnection, zone_id: Uuid) -> Result<bool> {
    let found = query_scalar::<_, i64>("SELECT 1 FROM zones WHERE id = $1")
        .bind(zone_id.to_string())
        .fetch_optional(c)
        .await
        .map_err(db_error)?;
    Ok(found.is_some())
}

pub async fn zone_covers(c: &mut AnyConnection, zone_id: Uuid, country: &str) -> Result<bool> {
    let found = query_scalar::<_, i64>("SELECT 1 FROM zone_countries WHERE zone_id = $1 AND country = $2")
        .bind(zone_id.to_string())
        .bind(country)
        .fetch_optional(c)
        .await
        .map_err(db_error)?;
    Ok(found.is_some())
}

// ---- Methods -------------------------------------------------------------------------------

const METHOD_COLUMNS: &str = "m.id, m.code, m.name, m.carrier, m.zone_id, m.currency, m.rate, m.free_above, \
                              m.delivery_days, CAST(m.active AS INTEGER) AS active";

fn method_from_row(row: &AnyRow) -> Result<ShippingMethod> {
    let currency: Currency = text(row, "currency")?
        .parse()
        .map_err(|e: String| Error::internal(format!("stored shipping method currency: {e}")))?;
    Ok(ShippingMethod {
        id: id(row, "id")?,
        code: text(row, "code")?,
        name: text(row, "name")?,
        carrier: text(row, "carrier")?,
        zone_id: id(row, "zone_id")?,
        currency,
        rate: from_json::<Rate>(row, "rate")?,
        free_above: row.try_get::<Option<i64>, _>("free_above").map_err(db_error)?,
        delivery_days: row.try_get::<Option<i64>, _>("delivery_days").map_err(db_error)?,
        active: flag(row, "active")?,
    })
}

/// Inserts the method unless its code is taken; `false` then.
pub async fn insert_method(c: &mut AnyConnection, method: &ShippingMethod) -> Result<bool> {
    let done = query(
        "INSERT INTO shipping_methods \
             (id, code, name, carrier, zone_id, currency, rate, free_above, delivery_days, active, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (code) DO NOTHING",
    )
    .bind(method.id.to_string())
    .bind(&method.code)
    .bind(&method.name)
    .bind(&method.carrier)
    .bind(method.zone_id.to_string())
    .bind(method.currency.code())
    .bind(to_json(&method.rate)?)
    .bind(method.free_above)
    .bind(method.delivery_days)
    .bind(method.active)
    .bind(time::to_db(&time::now()))
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

pub async fn list_methods(c: &mut AnyConnection, page: PageRequest) -> Result<(Vec<ShippingMethod>, u64)> {
    let sql = format!("SELECT {METHOD_COLUMNS} FROM shipping_methods m ORDER BY m.code LIMIT $1 OFFSET $2");
    let rows =
        query(AssertSqlSafe(sql)).bind(page.limit()).bind(page.offset()).fetch_all(&mut *c).await.map_err(db_error)?;
    let total: i64 = query_scalar("SELECT COUNT(*) FROM shipping_methods").fetch_one(c).await.map_err(db_error)?;
    Ok((rows.iter().map(method_from_row).collect::<Result<_>>()?, total as u64))
}

pub async fn method_by_code(c: &mut AnyConnection, code: &str) -> Result<Option<ShippingMethod>> {
    let sql = format!("SELECT {METHOD_COLUMNS} FROM shipping_methods m WHERE m.code = $1");
    let row = query(AssertSqlSafe(sql)).bind(code).fetch_optional(c).await.map_err(db_error)?;
    row.as_ref().map(method_from_row).transpose()
}

/// Active methods whose zone covers `country`.
pub async fn active_methods_for(c: &mut AnyConnection, country: &str) -> Result<Vec<ShippingMethod>> {
    let sql = format!(
        "SELECT {METHOD_COLUMNS} FROM shipping_methods m \
         JOIN zone_countries z ON z.zone_id = m.zone_id \
         WHERE z.country = $1 AND m.active = TRUE"
    );
    let rows = query(AssertSqlSafe(sql)).bind(country).fetch_all(c).await.map_err(db_error)?;
    rows.iter().map(method_from_row).collect()
}

pub async fn set_method_active(c: &mut AnyConnection, code: &str, active: bool) -> Result<bool> {
    let done = query("UPDATE shipping_methods SET active = $1 WHERE code = $2")
        .bind(active)
        .bind(code)
        .execute(c)
        .await
        .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

// ---- Shipments -----------------------------------------------------------------------------

/// A shipment as stored: the contract's view plus what only the label needs.
#[derive(Debug, Clone)]
pub struct StoredShipment {
    pub shipment: Shipment,
    pub method_name: String,
}

const SHIPMENT_COLUMNS: &str = "id, order_id, order_number, method, method_name, carrier, tracking_number, status, \
                                destination, weight_grams, created_at";

fn shipment_from_row(row: &AnyRow) -> Result<StoredShipment> {
    Ok(StoredShipment {
        shipment: Shipment {
            id: id(row, "id")?,
            order_id: id(row, "order_id")?,
            order_number: text(row, "order_number")?,
            method: text(row, "method")?,
            carrier: text(row, "carrier")?,
            tracking_number: text(row, "tracking_number")?,
            status: status_from_db(&text(row, "status")?)?,
            destination: from_json::<PostalAddress>(row, "destination")?,
            weight_grams: int(row, "weight_grams")?,
            events: vec![],
            created_at: timestamp(row, "created_at")?,
        },
        method_name: text(row, "method_name")?,
    })
}

pub async fn tracking_number_taken(c: &mut AnyConnection, tracking_number: &str) -> Result<bool> {
    let found = query_scalar::<_, i64>("SELECT 1 FROM shipments WHERE tracking_number = $1")
        .bind(tracking_number)
        .fetch_optional(c)
        .await
        .map_err(db_error)?;
    Ok(found.is_some())
}

/// Inserts the shipment unless its order has one already; `false` then.
pub async fn insert_shipment(c: &mut AnyConnection, stored: &StoredShipment) -> Result<bool> {
    let s = &stored.shipment;
    let created_at = time::to_db(&s.created_at);
    let done = query(
        "INSERT INTO shipments (id, order_id, order_number, method, method_name, carrier, tracking_number, status, \
             destination, weight_grams, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) \
         ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(s.id.to_string())
    .bind(s.order_id.to_string())
    .bind(&s.order_number)
    .bind(&s.method)
    .bind(&stored.method_name)
    .bind(&s.carrier)
    .bind(&s.tracking_number)
    .bind(status_to_db(s.status))
    .bind(to_json(&s.destination)?)
    .bind(s.weight_grams)
    .bind(created_at)
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

/// Appends a tracking event after the shipment's last one. Touching the shipment first locks its
/// row until the unit of work ends, so two scans of one parcel recorded at once (which PostgreSQL,
/// unlike SQLite, does not serialise) take positions one after the other instead of the same one.
pub async fn append_tracking_event(c: &mut AnyConnection, shipment_id: Uuid, event: &TrackingEvent) -> Result<()> {
    query("UPDATE shipments SET updated_at = $1 WHERE id = $2")
        .bind(time::to_db(&event.at))
        .bind(shipment_id.to_string())
        .execute(&mut *c)
        .await
        .map_err(db_error)?;
    let next: i64 = query_scalar("SELECT COALESCE(MAX(position) + 1, 0) FROM tracking_events WHERE shipment_id = $1")
        .bind(shipment_id.to_string())
        .fetch_one(&mut *c)
        .await
        .map_err(db_error)?;
    query("INSERT INTO tracking_events (shipment_id, position, status, note, at) VALUES ($1, $2, $3, $4, $5)")
        .bind(shipment_id.to_string())
        .bind(next)
        .bind(status_to_db(event.status))
        .bind(event.note.as_deref())
        .bind(time::to_db(&event.at))
        .execute(c)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Moves a shipment from `from` to `to`; `false` if it was no longer `from` (a concurrent update).
pub async fn advance_status(
    c: &mut AnyConnection,
    shipment_id: Uuid,
    from: ShipmentStatus,
    to: ShipmentStatus,
) -> Result<bool> {
    let done = query("UPDATE shipments SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4")
        .bind(status_to_db(to))
        .bind(time::to_db(&time::now()))
        .bind(shipment_id.to_string())
        .bind(status_to_db(from))
        .execute(c)
        .await
        .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

/// Fills in the tracking events of each shipment, oldest first.
async fn with_events(c: &mut AnyConnection, mut shipments: Vec<StoredShipment>) -> Result<Vec<StoredShipment>> {
    if shipments.is_empty() {
        return Ok(shipments);
    }
    let sql = format!(
        "SELECT shipment_id, status, note, at FROM tracking_events WHERE shipment_id IN ({}) \
         ORDER BY shipment_id, position",
        placeholders(1, shipments.len())
    );
    let mut q = query(AssertSqlSafe(sql));
    for s in &shipments {
        q = q.bind(s.shipment.id.to_string());
    }
    let mut events: HashMap<Uuid, Vec<TrackingEvent>> = HashMap::new();
    for row in q.fetch_all(c).await.map_err(db_error)? {
        events.entry(id(&row, "shipment_id")?).or_default().push(TrackingEvent {
            status: status_from_db(&text(&row, "status")?)?,
            note: row.try_get::<Option<String>, _>("note").map_err(db_error)?,
            at: timestamp(&row, "at")?,
        });
    }
    for s in &mut shipments {
        s.shipment.events = events.remove(&s.shipment.id).unwrap_or_default();
    }
    Ok(shipments)
}

async fn one_shipment(c: &mut AnyConnection, column: &str, value: String) -> Result<Option<StoredShipment>> {
    let sql = format!("SELECT {SHIPMENT_COLUMNS} FROM shipments WHERE {column} = $1");
    let row = query(AssertSqlSafe(sql)).bind(value).fetch_optional(&mut *c).await.map_err(db_error)?;
    let Some(stored) = row.as_ref().map(shipment_from_row).transpose()? else { return Ok(None) };
    Ok(with_events(c, vec![stored]).await?.pop())
}

pub async fn shipment(c: &mut AnyConnection, shipment_id: Uuid) -> Result<Option<StoredShipment>> {
    one_shipment(c, "id", shipment_id.to_string()).await
}

pub async fn shipment_for_order(c: &mut AnyConnection, order_id: Uuid) -> Result<Option<StoredShipment>> {
    one_shipment(c, "order_id", order_id.to_string()).await
}

pub async fn shipment_by_tracking_number(
    c: &mut AnyConnection,
    tracking_number: &str,
) -> Result<Option<StoredShipment>> {
    one_shipment(c, "tracking_number", tracking_number.to_string()).await
}

/// Newest first.
pub async fn list_shipments(c: &mut AnyConnection, page: PageRequest) -> Result<(Vec<Shipment>, u64)> {
    let sql = format!("SELECT {SHIPMENT_COLUMNS} FROM shipments ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2");
    let rows =
        query(AssertSqlSafe(sql)).bind(page.limit()).bind(page.offset()).fetch_all(&mut *c).await.map_err(db_error)?;
    let total: i64 = query_scalar("SELECT COUNT(*) FROM shipments").fetch_one(&mut *c).await.map_err(db_error)?;
    let shipments = rows.iter().map(shipment_from_row).collect::<Result<Vec<_>>>()?;
    let shipments = with_events(c, shipments).await?;
    Ok((shipments.into_iter().map(|s| s.shipment).collect(), total as u64))
}

/// Records a carrier's event id; `false` if it was recorded before (a redelivery).
pub async fn claim_carrier_event(
    c: &mut AnyConnection,
    carrier: &str,
    event_id: &str,
    shipment_id: Uuid,
    status: ShipmentStatus,
) -> Result<bool> {
    let done = query(
        "INSERT INTO carrier_events (carrier, event_id, shipment_id, status, received_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(carrier)
    .bind(event_id)
    .bind(shipment_id.to_string())
    .bind(status_to_db(status))
    .bind(time::to_db(&time::now()))
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}
