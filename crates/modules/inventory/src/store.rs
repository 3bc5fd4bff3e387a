//! The SQL of the inventory module. Every function runs on the connection it is given: a unit of
//! work's for writes and the reads that decide them, a reader's otherwise.

use comptoir_storage::listing::filtered_page;
use comptoir_storage::row::{int, placeholders, text, timestamp};
use std::collections::HashMap;

use comptoir_contracts::inventory::{
    Location, LocationKind, Movement, MovementFilter, MovementKind, Reservation, ReservationStatus, ReservedUnits,
};
use comptoir_kernel::{Error, PageRequest, Result, time};
use comptoir_storage::{Row, db_error, query, query_scalar, uuid_from_db};
use sqlx::{AnyConnection, AssertSqlSafe};
use uuid::Uuid;

use crate::domain::{Availability, Level};

// ---- SKUs ----------------------------------------------------------------------------------

/// Records a SKU announced by the catalog, unless a newer catalog event was applied already.
pub async fn upsert_sku(
    c: &mut AnyConnection,
    sku: &str,
    product_id: Uuid,
    product_name: &str,
    event_at: &str,
) -> Result<()> {
    query(
        "INSERT INTO skus (sku, product_id, product_name, discontinued, catalog_event_at, created_at) \
         VALUES ($1, $2, $3, FALSE, $4, $5) \
         ON CONFLICT (sku) DO UPDATE SET product_id = excluded.product_id, product_name = excluded.product_name, \
             discontinued = FALSE, catalog_event_at = excluded.catalog_event_at \
         WHERE skus.catalog_event_at <= excluded.catalog_event_at",
    )
    .bind(sku)
    .bind(product_id.to_string())
    .bind(product_name)
    .bind(event_at)
    .bind(time::to_db(&time::now()))
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Marks a product's SKUs discontinued, except those in `keep` (the product's current SKUs).
pub async fn discontinue_skus(c: &mut AnyConnection, product_id: Uuid, keep: &[String], event_at: &str) -> Result<()> {
    let mut sql = String::from(
        "UPDATE skus SET discontinued = TRUE, catalog_event_at = $1 \
         WHERE product_id = $2 AND catalog_event_at <= $1 AND discontinued = FALSE",
    );
    if !keep.is_empty() {
        sql.push_str(&format!(" AND sku NOT IN ({})", placeholders(3, keep.len())));
    }
    let mut q = query(AssertSqlSafe(sql)).bind(event_at).bind(product_id.to_string());
    for sku in keep {
        q = q.bind(sku);
    }
    q.execute(c).await.map_err(db_error)?;
    Ok(())
}

/// The low-stock threshold of a SKU; `None` when the catalog never announced the SKU.
pub async fn sku_threshold(c: &mut AnyConnection, sku: &str) -> Result<Option<Option<i64>>> {
    query_scalar::<_, Option<i64>>("SELECT low_stock_threshold FROM skus WHERE sku = $1")
        .bind(sku)
        .fetch_optional(c)
        .await
        .map_err(db_error)
}

/// Which of `skus` the catalog announced.
pub async fn known_skus(c: &mut AnyConnection, skus: &[String]) -> Result<Vec<String>> {
    if skus.is_empty() {
        return Ok(vec![]);
    }
    let sql = format!("SELECT sku FROM skus WHERE sku IN ({})", placeholders(1, skus.len()));
    let mut q = query_scalar::<_, String>(AssertSqlSafe(sql));
    for sku in skus {
        q = q.bind(sku);
    }
    q.fetch_all(c).await.map_err(db_error)
}

pub async fn set_threshold(c: &mut AnyConnection, sku: &str, threshold: Option<i64>) -> Result<bool> {
    let done = query("UPDATE skus SET low_stock_threshold = $1 WHERE sku = $2")
        .bind(threshold)
        .bind(sku)
        .execute(c)
        .await
        .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

// ---- Locations -----------------------------------------------------------------------------

fn kind_to_db(kind: LocationKind) -> &'static str {
    match kind {
        LocationKind::Warehouse => "warehouse",
        LocationKind::Store => "store",
    }
}

fn kind_from_db(value: &str) -> Result<LocationKind> {
    match value {
        "warehouse" => Ok(LocationKind::Warehouse),
        "store" => Ok(LocationKind::Store),
        other => Err(Error::internal(format!("unknown location kind {other:?} in the database"))),
    }
}

/// Fails with the database error so that the caller can tell a duplicate code.
pub async fn insert_location(c: &mut AnyConnection, location: &Location) -> Result<(), sqlx::Error> {
    query("INSERT INTO locations (id, code, name, kind, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(location.id.to_string())
        .bind(&location.code)
        .bind(&location.name)
        .bind(kind_to_db(location.kind))
        .bind(time::to_db(&location.created_at))
        .execute(c)
        .await
        .map(|_| ())
}

/// The id of the location with this code.
pub async fn location_id(c: &mut AnyConnection, code: &str) -> Result<Option<String>> {
    query_scalar::<_, String>("SELECT id FROM locations WHERE code = $1")
        .bind(code)
        .fetch_optional(c)
        .await
        .map_err(db_error)
}

/// The location created first, where goods go when nothing says otherwise.
pub async fn first_location_id(c: &mut AnyConnection) -> Result<Option<String>> {
    query_scalar::<_, String>("SELECT id FROM locations ORDER BY created_at, id LIMIT 1")
        .fetch_optional(c)
        .await
        .map_err(db_error)
}

pub async fn list_locations(c: &mut AnyConnection, page: PageRequest) -> Result<(Vec<Location>, u64)> {
    let rows = query("SELECT id, code, name, kind, created_at FROM locations ORDER BY code LIMIT $1 OFFSET $2")
        .bind(page.limit())
        .bind(page.offset())
        .fetch_all(&mut *c)
        .await
        .map_err(db_error)?;
    let total: i64 = query_scalar("SELECT COUNT(*) FROM locations").fetch_one(c).await.map_err(db_error)?;
    let locations = rows
        .iter()
        .map(|row| {
            Ok(Location {
                id: uuid_from_db(&text(row, "id")?)?,
                code: text(row, "code")?,
                name: text(row, "name")?,
                kind: kind_from_db(&text(row, "kind")?)?,
                created_at: timestamp(row, "created_at")?,
            })
        })
        .collect::<Result<_>>()?;
    Ok((locations, total as u64))
}

// ---- Stock levels --------------------------------------------------------------------------

/// A SKU's stock at every location that ever held it, by location code.
pub async fn levels(c: &mut AnyConnection, sku: &str) -> Result<Vec<Level>> {
    let rows = query(
        "SELECT s.location_id, l.code, s.on_hand, s.reserved FROM stock_levels s \
         JOIN locations l ON l.id = s.location_id WHERE s.sku = $1 ORDER BY l.code",
    )
    .bind(sku)
    .fetch_all(c)
    .await
    .map_err(db_error)?;
    rows.iter()
        .map(|row| {
            Ok(Level {
                location_id: text(row, "location_id")?,
                location: text(row, "code")?,
                on_hand: int(row, "on_hand")?,
                reserved: int(row, "reserved")?,
            })
        })
        .collect()
}

/// The stock of each of `skus` at every location that ever held it, by SKU then location code.
pub async fn levels_of(c: &mut AnyConnection, skus: &[String]) -> Result<HashMap<String, Vec<Level>>> {
    let mut levels: HashMap<String, Vec<Level>> = HashMap::new();
    if skus.is_empty() {
        return Ok(levels);
    }
    let sql = format!(
        "SELECT s.sku, s.location_id, l.code, s.on_hand, s.reserved FROM stock_levels s \
         JOIN locations l ON l.id = s.location_id WHERE s.sku IN ({}) ORDER BY s.sku, l.code",
        placeholders(1, skus.len())
    );
    let mut q = query(AssertSqlSafe(sql));
    for sku in skus {
        q = q.bind(sku);
    }
    for row in q.fetch_all(c).await.map_err(db_error)? {
        levels.entry(text(&row, "sku")?).or_default().push(Level {
            location_id: text(&row, "location_id")?,
            location: text(&row, "code")?,
            on_hand: int(&row, "on_hand")?,
            reserved: int(&row, "reserved")?,
        });
    }
    Ok(levels)
}

/// SKUs with a threshold that their available units (across locations; none held is 0) have
/// reached, lowest available first, then by SKU: one page of (SKU, threshold), and how many in all.
/// Discontinued SKUs are left out: nobody restocks them.
pub async fn low_stock(c: &mut AnyConnection, page: PageRequest) -> Result<(Vec<(String, i64)>, u64)> {
    const LOW: &str = "SELECT k.sku, k.low_stock_threshold, \
             COALESCE(CAST(SUM(s.on_hand - s.reserved) AS BIGINT), 0) AS available \
         FROM skus k LEFT JOIN stock_levels s ON s.sku = k.sku \
         WHERE k.low_stock_threshold IS NOT NULL AND k.discontinued = FALSE \
         GROUP BY k.sku, k.low_stock_threshold \
         HAVING COALESCE(CAST(SUM(s.on_hand - s.reserved) AS BIGINT), 0) <= k.low_stock_threshold";
    // The page and the count in one pass over the SKUs with a threshold.
    let rows = query(AssertSqlSafe(format!(
        "SELECT sku, low_stock_threshold, available, COUNT(*) OVER () AS total FROM ({LOW}) low \
         ORDER BY available, sku LIMIT $1 OFFSET $2"
    )))
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(&mut *c)
    .await
    .map_err(db_error)?;
    let total: i64 = match rows.first() {
        Some(row) => int(row, "total")?,
        // A page past the end says nothing of how many there are.
        None if page.offset() > 0 => query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) FROM ({LOW}) low")))
            .fetch_one(c)
            .await
            .map_err(db_error)?,
        None => 0,
    };
    let items =
        rows.iter().map(|row| Ok((text(row, "sku")?, int(row, "low_stock_threshold")?))).collect::<Result<_>>()?;
    Ok((items, total as u64))
}

/// Available units of each SKU at each location, for allocating a reservation.
pub async fn availability(c: &mut AnyConnection, skus: &[String]) -> Result<Vec<Availability>> {
    if skus.is_empty() {
        return Ok(vec![]);
    }
    let sql = format!(
        "SELECT s.sku, s.location_id, l.code, s.on_hand - s.reserved AS available FROM stock_levels s \
         JOIN locations l ON l.id = s.location_id WHERE s.sku IN ({})",
        placeholders(1, skus.len())
    );
    let mut q = query(AssertSqlSafe(sql));
    for sku in skus {
        q = q.bind(sku);
    }
    let rows = q.fetch_all(c).await.map_err(db_error)?;
    rows.iter()
        .map(|row| {
            Ok(Availability {
                sku: text(row, "sku")?,
                location_id: text(row, "location_id")?,
                location: text(row, "code")?,
                available: int(row, "available")?,
            })
        })
        .collect()
}

/// Available units per SKU across locations, in one query; SKUs without stock are absent.
pub async fn available_totals(c: &mut AnyConnection, skus: &[String]) -> Result<HashMap<String, i64>> {
    if skus.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "SELECT sku, CAST(SUM(on_hand - reserved) AS BIGINT) AS available FROM stock_levels \
         WHERE sku IN ({}) GROUP BY sku",
        placeholders(1, skus.len())
    );
    let mut q = query(AssertSqlSafe(sql));
    for sku in skus {
        q = q.bind(sku);
    }
    let rows = q.fetch_all(c).await.map_err(db_error)?;
    rows.iter().map(|row| Ok((text(row, "sku")?, int(row, "available")?))).collect()
}

pub async fn add_on_hand(c: &mut AnyConnection, sku: &str, location_id: &str, quantity: i64) -> Result<()> {
    query(
        "INSERT INTO stock_levels (sku, location_id, on_hand, reserved, updated_at) VALUES ($1, $2, $3, 0, $4) \
         ON CONFLICT (sku, location_id) DO UPDATE SET on_hand = stock_levels.on_hand + excluded.on_hand, \
             updated_at = excluded.updated_at",
    )
    .bind(sku)
    .bind(location_id)
    .bind(quantity)
    .bind(time::to_db(&time::now()))
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Takes units off the shelf unless that would dip into reserved units; `false` if refused.
pub async fn remove_on_hand(c: &mut AnyConnection, sku: &str, location_id: &str, quantity: i64) -> Result<bool> {
    let done = query(
        "UPDATE stock_levels SET on_hand = on_hand - $1, updated_at = $2 \
         WHERE sku = $3 AND location_id = $4 AND on_hand - reserved >= $1",
    )
    .bind(quantity)
    .bind(time::to_db(&time::now()))
    .bind(sku)
    .bind(location_id)
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

/// Holds units if they are still available. The condition is in the UPDATE itself, so concurrent
/// reservations can never hold more than is on hand, on any backend; `false` if refused.
pub async fn hold_units(c: &mut AnyConnection, sku: &str, location_id: &str, quantity: i64) -> Result<bool> {
    let done = query(
        "UPDATE stock_levels SET reserved = reserved + $1, updated_at = $2 \
         WHERE sku = $3 AND location_id = $4 AND on_hand - reserved >= $1",
    )
    .bind(quantity)
    .bind(time::to_db(&time::now()))
    .bind(sku)
    .bind(location_id)
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

/// Gives held units back.
pub async fn free_units(c: &mut AnyConnection, sku: &str, location_id: &str, quantity: i64) -> Result<bool> {
    let done = query(
        "UPDATE stock_levels SET reserved = reserved - $1, updated_at = $2 \
         WHERE sku = $3 AND location_id = $4 AND reserved >= $1",
    )
    .bind(quantity)
    .bind(time::to_db(&time::now()))
    .bind(sku)
    .bind(location_id)
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

/// Held units leave stock (sold).
pub async fn ship_units(c: &mut AnyConnection, sku: &str, location_id: &str, quantity: i64) -> Result<bool> {
    let done = query(
        "UPDATE stock_levels SET on_hand = on_hand - $1, reserved = reserved - $1, updated_at = $2 \
         WHERE sku = $3 AND location_id = $4 AND reserved >= $1",
    )
    .bind(quantity)
    .bind(time::to_db(&time::now()))
    .bind(sku)
    .bind(location_id)
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

/// Claims a restock's reference and SKU; `false` when they were restocked before (a retried
/// return), in which case nothing may change. The primary key decides between concurrent retries.
pub async fn claim_restock(
    c: &mut AnyConnection,
    reference: &str,
    sku: &str,
    location_id: &str,
    quantity: i64,
) -> Result<bool> {
    let done = query(
        "INSERT INTO restocks (reference, sku, location_id, quantity, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (reference, sku) DO NOTHING",
    )
    .bind(reference)
    .bind(sku)
    .bind(location_id)
    .bind(quantity)
    .bind(time::to_db(&time::now()))
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

// ---- Movements -----------------------------------------------------------------------------

fn movement_kind_to_db(kind: MovementKind) -> &'static str {
    match kind {
        MovementKind::Received => "received",
        MovementKind::Adjusted => "adjusted",
        MovementKind::Committed => "committed",
        MovementKind::Returned => "returned",
    }
}

fn movement_kind_from_db(value: &str) -> Result<MovementKind> {
    match value {
        "received" => Ok(MovementKind::Received),
        "adjusted" => Ok(MovementKind::Adjusted),
        "committed" => Ok(MovementKind::Committed),
        "returned" => Ok(MovementKind::Returned),
        other => Err(Error::internal(format!("unknown movement kind {other:?} in the database"))),
    }
}

/// A change of on-hand units about to be recorded.
pub struct NewMovement<'a> {
    pub sku: &'a str,
    pub location_id: &'a str,
    pub kind: MovementKind,
    pub delta: i64,
    pub reason: Option<&'a str>,
    pub reference: Option<&'a str>,
}

pub async fn insert_movement(c: &mut AnyConnection, m: NewMovement<'_>) -> Result<()> {
    query(
        "INSERT INTO movements (id, sku, location_id, kind, delta, reason, reference, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(comptoir_kernel::new_id().to_string())
    .bind(m.sku)
    .bind(m.location_id)
    .bind(movement_kind_to_db(m.kind))
    .bind(m.delta)
    .bind(m.reason)
    .bind(m.reference)
    .bind(time::to_db(&time::now()))
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Movements newest first, optionally for one SKU and/or one location code.
pub async fn movements(
    c: &mut AnyConnection,
    filter: &MovementFilter,
    page: PageRequest,
) -> Result<(Vec<Movement>, u64)> {
    let (rows, total) = filtered_page(
        c,
        "m.id, m.sku, l.code, m.kind, m.delta, m.reason, m.reference, m.created_at",
        "movements m JOIN locations l ON l.id = m.location_id",
        &[("m.sku", filter.sku.as_deref()), ("l.code", filter.location.as_deref())],
        "m.created_at DESC, m.id DESC",
        page,
    )
    .await?;

    let items = rows
        .iter()
        .map(|row| {
            Ok(Movement {
                id: uuid_from_db(&text(row, "id")?)?,
                sku: text(row, "sku")?,
                location: text(row, "code")?,
                kind: movement_kind_from_db(&text(row, "kind")?)?,
                delta: int(row, "delta")?,
                reason: row.try_get("reason").map_err(db_error)?,
                reference: row.try_get("reference").map_err(db_error)?,
                created_at: timestamp(row, "created_at")?,
            })
        })
        .collect::<Result<_>>()?;
    Ok((items, total))
}

// ---- Reservations --------------------------------------------------------------------------

fn status_to_db(status: ReservationStatus) -> &'static str {
    match status {
        ReservationStatus::Active => "active",
        ReservationStatus::Committed => "committed",
        ReservationStatus::Released => "released",
        ReservationStatus::Expired => "expired",
    }
}

fn status_from_db(value: &str) -> Result<ReservationStatus> {
    match value {
        "active" => Ok(ReservationStatus::Active),
        "committed" => Ok(ReservationStatus::Committed),
        "released" => Ok(ReservationStatus::Released),
        "expired" => Ok(ReservationStatus::Expired),
        other => Err(Error::internal(format!("unknown reservation status {other:?} in the database"))),
    }
}

/// Units held at one location, with the location's id for the stock updates.
#[derive(Debug, Clone)]
pub struct HeldLine {
    pub sku: String,
    pub location_id: String,
    pub location: String,
    pub quantity: i64,
}

#[derive(Debug, Clone)]
pub struct StoredReservation {
    pub id: Uuid,
    pub reference: String,
    pub status: ReservationStatus,
    pub lines: Vec<HeldLine>,
    pub expires_at: time::Timestamp,
    pub created_at: time::Timestamp,
}

impl StoredReservation {
    pub fn units(&self) -> Vec<ReservedUnits> {
        self.lines
            .iter()
            .map(|l| ReservedUnits { sku: l.sku.clone(), location: l.location.clone(), quantity: l.quantity })
            .collect()
    }

    pub fn to_contract(&self) -> Reservation {
        Reservation {
            id: self.id,
            reference: self.reference.clone(),
            status: self.status,
            lines: self.units(),
            expires_at: self.expires_at,
            created_at: self.created_at,
        }
    }
}

/// Fails with the database error so that the caller can tell a reference already held.
pub async fn insert_reservation(c: &mut AnyConnection, r: &StoredReservation) -> Result<(), sqlx::Error> {
    let created_at = time::to_db(&r.created_at);
    query(
        "INSERT INTO reservations (id, reference, status, expires_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(r.id.to_string())
    .bind(&r.reference)
    .bind(status_to_db(r.status))
    .bind(time::to_db(&r.expires_at))
    .bind(created_at)
    .execute(&mut *c)
    .await?;
    for (position, line) in r.lines.iter().enumerate() {
        query(
            "INSERT INTO reservation_lines (reservation_id, position, sku, location_id, quantity) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(r.id.to_string())
        .bind(position as i64)
        .bind(&line.sku)
        .bind(&line.location_id)
        .bind(line.quantity)
        .execute(&mut *c)
        .await?;
    }
    Ok(())
}

async fn reservation_where(
    c: &mut AnyConnection,
    condition: &'static str,
    value: String,
) -> Result<Option<StoredReservation>> {
    let sql = format!("SELECT id, reference, status, expires_at, created_at FROM reservations WHERE {condition}");
    let Some(row) = query(AssertSqlSafe(sql)).bind(value).fetch_optional(&mut *c).await.map_err(db_error)? else {
        return Ok(None);
    };
    let id = text(&row, "id")?;
    let lines = query(
        "SELECT r.sku, r.location_id, l.code, r.quantity FROM reservation_lines r \
         JOIN locations l ON l.id = r.location_id WHERE r.reservation_id = $1 ORDER BY r.position",
    )
    .bind(&id)
    .fetch_all(c)
    .await
    .map_err(db_error)?
    .iter()
    .map(|line| {
        Ok(HeldLine {
            sku: text(line, "sku")?,
            location_id: text(line, "location_id")?,
            location: text(line, "code")?,
            quantity: int(line, "quantity")?,
        })
    })
    .collect::<Result<_>>()?;
    Ok(Some(StoredReservation {
        id: uuid_from_db(&id)?,
        reference: text(&row, "reference")?,
        status: status_from_db(&text(&row, "status")?)?,
        lines,
        expires_at: timestamp(&row, "expires_at")?,
        created_at: timestamp(&row, "created_at")?,
    }))
}

pub async fn reservation(c: &mut AnyConnection, id: Uuid) -> Result<Option<StoredReservation>> {
    reservation_where(c, "id = $1", id.to_string()).await
}

pub async fn active_reservation(c: &mut AnyConnection, reference: &str) -> Result<Option<StoredReservation>> {
    reservation_where(c, "reference = $1 AND status = 'active'", reference.to_string()).await
}

/// Moves an active reservation to `to`; `false` if it was no longer active.
pub async fn end_reservation(c: &mut AnyConnection, id: Uuid, to: ReservationStatus) -> Result<bool> {
    let done = query("UPDATE reservations SET status = $1, updated_at = $2 WHERE id = $3 AND status = 'active'")
        .bind(status_to_db(to))
        .bind(time::to_db(&time::now()))
        .bind(id.to_string())
        .execute(c)
        .await
        .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

/// Active reservations whose expiry is at or before `now`, oldest expiry first.
pub async fn expired_reservations(c: &mut AnyConnection, now: &time::Timestamp, limit: i64) -> Result<Vec<Uuid>> {
    query_scalar::<_, String>(
        "SELECT id FROM reservations WHERE status = 'active' AND expires_at <= $1 ORDER BY expires_at, id LIMIT $2",
    )
    .bind(time::to_db(now))
    .bind(limit)
    .fetch_all(c)
    .await
    .map_err(db_error)?
    .iter()
    .map(|id| uuid_from_db(id))
    .collect()
}

/// How many reservations hold units right now.
pub async fn active_reservation_count(c: &mut AnyConnection) -> Result<i64> {
    query_scalar("SELECT COUNT(*) FROM reservations WHERE status = 'active'").fetch_one(c).await.map_err(db_error)
}
