//! The inventory port: each call checks its input, then reads and writes in one unit of work that
//! also records the events, so stock, movements, reservations and events never disagree.

use async_trait::async_trait;
use comptoir_contracts::inventory::events::{self, ReservationChanged, StockChanged, StockLow};
use comptoir_contracts::inventory::{
    AdjustStock, InventoryPort, Location, Movement, MovementFilter, MovementKind, NewLocation, ReceiveStock,
    Reservation, ReservationStatus, ReserveStock, RestockUnits, SkuStock,
};
use comptoir_kernel::{Error, EventEnvelope, Page, PageRequest, RequestContext, Result, new_id, time};
use comptoir_storage::{UnitOfWork, db_error, is_unique_violation};
use sqlx::AnyConnection;
use sqlx::pool::PoolConnection;
use uuid::Uuid;

use crate::InventoryModule;
use crate::domain::{self, ReservationRequest, Shortage, Transition};
use crate::store::{self, HeldLine, NewMovement, StoredReservation};

const SOURCE: &str = "inventory";
/// How often a write that lost a race with a concurrent writer is tried again. Only PostgreSQL
/// has concurrent writers; on SQLite the unit of work holds the write lock and never loses.
const MAX_ATTEMPTS: usize = 3;
/// Expired reservations are released this many at a time, each in its own unit of work.
const EXPIRY_BATCH: i64 = 100;

fn event(ctx: &RequestContext, event_type: &str, data: impl serde::Serialize) -> EventEnvelope {
    EventEnvelope::new(ctx, SOURCE, event_type, data)
}

fn reservation_event(
    ctx: &RequestContext,
    event_type: &str,
    r: &StoredReservation,
    status: ReservationStatus,
) -> EventEnvelope {
    event(
        ctx,
        event_type,
        ReservationChanged { reservation_id: r.id, reference: r.reference.clone(), status, lines: r.units() },
    )
}

/// Counts reservations that reached `outcome` (`reserved`, `refused`, `released`, `committed` or
/// `expired`). Called only once the change is committed, so a rolled-back one is not counted.
fn count_reservations(outcome: &'static str, reservations: u64) {
    metrics::counter!("comptoir_stock_reservations_total", "outcome" => outcome).increment(reservations);
}

/// How one attempt at reserving ended.
enum Attempt {
    Reserved(Reservation),
    /// Not enough units are available for a line.
    Refused(Shortage),
    /// A concurrent writer took the units or the reference between our read and our write.
    Lost {
        /// The request line whose units went, or `None` when the reference was taken.
        line: Option<usize>,
    },
}

impl InventoryModule {
    async fn reader(&self) -> Result<PoolConnection<sqlx::Any>> {
        self.db.reader().acquire().await.map_err(db_error)
    }

    /// After a SKU's stock moved at `location_ids`: emits `stock.changed` for each of them, and
    /// `stock.low` if the change took the SKU to its threshold. Returns the stock as it now is.
    async fn stock_moved(
        &self,
        uow: &mut UnitOfWork,
        ctx: &RequestContext,
        sku: &str,
        location_ids: &[String],
        available_delta: i64,
    ) -> Result<SkuStock> {
        let threshold = store::sku_threshold(uow, sku).await?.flatten();
        let levels = store::levels(uow, sku).await?;
        let stock = domain::sku_stock(sku, &levels, threshold);
        for level in levels.iter().filter(|l| location_ids.contains(&l.location_id)) {
            let changed = StockChanged {
                sku: sku.to_string(),
                location: level.location.clone(),
                on_hand: level.on_hand,
                reserved: level.reserved,
                available: stock.available,
            };
            uow.emit(&event(ctx, events::STOCK_CHANGED, changed)).await?;
        }
        if let Some(threshold) = threshold
            && domain::crosses_low_stock(threshold, stock.available - available_delta, stock.available)
        {
            let low = StockLow { sku: sku.to_string(), available: stock.available, threshold };
            uow.emit(&event(ctx, events::STOCK_LOW, low)).await?;
        }
        Ok(stock)
    }

    /// Releases or expires an active reservation: its units become available again. `false` if it
    /// was no longer active.
    async fn end_reservation(
        &self,
        uow: &mut UnitOfWork,
        ctx: &RequestContext,
        r: &StoredReservation,
        to: ReservationStatus,
    ) -> Result<bool> {
        if !store::end_reservation(uow, r.id, to).await? {
            return Ok(false);
        }
        for line in in_lock_order(&r.lines) {
            if !store::free_units(uow, &line.sku, &line.location_id, line.quantity).await? {
                return Err(Error::internal(format!(
                    "reservation {} holds {} of {} at {} but fewer are reserved there",
                    r.id, line.quantity, line.sku, line.location
                )));
            }
        }
        let event_type =
            if to == ReservationStatus::Expired { events::RESERVATION_EXPIRED } else { events::RESERVATION_RELEASED };
        uow.emit(&reservation_event(ctx, event_type, r, to)).await?;
        for moved in held_by_sku(&r.lines) {
            self.stock_moved(uow, ctx, &moved.sku, &moved.location_ids, moved.units).await?;
        }
        Ok(true)
    }

    async fn try_reserve(
        &self,
        ctx: &RequestContext,
        request: &ReservationRequest,
        skus: &[String],
    ) -> Result<Attempt> {
        let mut uow = self.db.begin().await?;
        let now = time::now();
        let mut expired_existing = false;
        if let Some(existing) = store::active_reservation(&mut uow, &request.reference).await? {
            if existing.expires_at > now {
                // A retried checkout: hand back what it already holds, write nothing.
                return Ok(Attempt::Reserved(existing.to_contract()));
            }
            // Past its expiry but not swept yet: expire it now so that its units count again.
            expired_existing = self.end_reservation(&mut uow, ctx, &existing, ReservationStatus::Expired).await?;
        }

        let stock = domain::drawable(store::availability(&mut uow, skus).await?, request.location.as_deref());
        let allocations = match domain::allocate(&request.lines, &stock) {
            Ok(allocations) => allocations,
            Err(shortage) => return Ok(Attempt::Refused(Shortage { location: request.location.clone(), ..shortage })),
        };
        let ttl = chrono::TimeDelta::seconds(request.ttl_seconds as i64);
        let reservation = StoredReservation {
            id: new_id(),
            reference: request.reference.clone(),
            status: ReservationStatus::Active,
            lines: allocations
                .iter()
                .map(|a| HeldLine {
                    sku: a.sku.clone(),
                    location_id: a.location_id.clone(),
                    location: a.location.clone(),
                    quantity: a.quantity,
                })
                .collect(),
            expires_at: now + ttl,
            created_at: now,
        };
        match store::insert_reservation(&mut uow, &reservation).await {
            Ok(()) => {}
            Err(e) if is_unique_violation(&e) => return Ok(Attempt::Lost { line: None }),
            Err(e) => return Err(db_error(e)),
        }
        for held in in_lock_order(&reservation.lines) {
            if !store::hold_units(&mut uow, &held.sku, &held.location_id, held.quantity).await? {
                let line = request.lines.iter().find(|l| l.sku == held.sku).map(|l| l.index);
                return Ok(Attempt::Lost { line });
            }
        }

        uow.emit(&reservation_event(ctx, events::RESERVATION_CREATED, &reservation, ReservationStatus::Active)).await?;
        for moved in held_by_sku(&reservation.lines) {
            self.stock_moved(&mut uow, ctx, &moved.sku, &moved.location_ids, -moved.units).await?;
        }
        uow.commit().await?;
        if expired_existing {
            count_reservations("expired", 1);
        }
        count_reservations("reserved", 1);
        Ok(Attempt::Reserved(reservation.to_contract()))
    }

    /// The answer after the last attempt lost the race for a line's units.
    async fn shortage(&self, request: &ReservationRequest, line: Option<usize>) -> Error {
        let Some(wanted) = line.and_then(|index| request.lines.iter().find(|l| l.index == index)) else {
            return Error::unavailable("concurrent reservations for the same reference; retry");
        };
        let available = async {
            let mut c = self.reader().await?;
            let stock = store::availability(&mut c, std::slice::from_ref(&wanted.sku)).await?;
            Ok::<_, Error>(domain::drawable(stock, request.location.as_deref()).iter().map(|a| a.available).sum())
        };
        match available.await {
            Ok(available) => {
                Shortage { index: wanted.index, sku: wanted.sku.clone(), available, location: request.location.clone() }
                    .into()
            }
            Err(e) => e,
        }
    }
}

/// The lines in the one order every unit of work updates stock rows in (SKU, then location), so
/// that two of them touching the same rows wait for each other instead of deadlocking on a backend
/// with concurrent writers (PostgreSQL).
fn in_lock_order(lines: &[HeldLine]) -> Vec<&HeldLine> {
    let mut ordered: Vec<&HeldLine> = lines.iter().collect();
    ordered.sort_by(|a, b| (&a.sku, &a.location_id).cmp(&(&b.sku, &b.location_id)));
    ordered
}

fn held_by_sku(lines: &[HeldLine]) -> Vec<domain::SkuMove> {
    domain::group_by_sku(lines.iter().map(|l| (l.sku.as_str(), l.location_id.as_str(), l.quantity)))
}

/// The SKU's low-stock threshold, or 404 when the catalog never announced it.
async fn require_sku(c: &mut AnyConnection, sku: &str) -> Result<Option<i64>> {
    store::sku_threshold(c, sku).await?.ok_or_else(|| Error::not_found("sku", sku))
}

impl InventoryModule {
    /// Puts refunded units back on the shelf, once per event: each unit goes back where the
    /// order's reservation took it from (the first location when it is unknown), with a
    /// `returned` movement.
    pub(crate) async fn restock_refund(
        &self,
        ctx: &RequestContext,
        consumer: &str,
        event_id: Uuid,
        refund: &comptoir_contracts::ordering::events::OrderRefunded,
    ) -> Result<()> {
        let mut uow = self.db.begin().await?;
        if !uow.claim_inbox(consumer, event_id).await? || refund.restock.is_empty() {
            return uow.commit().await;
        }
        let held = match refund.reservation_id {
            Some(id) => store::reservation(&mut uow, id).await?.map(|r| r.lines).unwrap_or_default(),
            None => Vec::new(),
        };
        let fallback = store::first_location_id(&mut uow).await?;
        for line in refund.restock.iter().filter(|l| l.quantity > 0) {
            let Some(location_id) =
                held.iter().find(|h| h.sku == line.sku).map(|h| h.location_id.clone()).or_else(|| fallback.clone())
            else {
                return Err(Error::internal("no stock location to return units to"));
            };
            require_sku(&mut uow, &line.sku).await?;
            store::add_on_hand(&mut uow, &line.sku, &location_id, line.quantity).await?;
            let movement = NewMovement {
                sku: &line.sku,
                location_id: &location_id,
                kind: MovementKind::Returned,
                delta: line.quantity,
                reason: refund.reason.as_deref(),
                reference: Some(&refund.number),
            };
            store::insert_movement(&mut uow, movement).await?;
            self.stock_moved(&mut uow, ctx, &line.sku, &[location_id], line.quantity).await?;
        }
        uow.commit().await
    }
}

/// The id of the location with this code; an unknown code is a mistake in the request.
async fn require_location(c: &mut AnyConnection, code: &str) -> Result<String> {
    store::location_id(c, code)
        .await?
        .ok_or_else(|| Error::validation("location", format!("no location with code {code}")))
}

#[async_trait]
impl InventoryPort for InventoryModule {
    #[tracing::instrument(name = "inventory.create_location", skip_all, fields(module = "inventory", correlation_id = %ctx.correlation_id))]
    async fn create_location(&self, ctx: &RequestContext, input: NewLocation) -> Result<Location> {
        let draft = domain::parse_new_location(input)?;
        let location =
            Location { id: new_id(), code: draft.code, name: draft.name, kind: draft.kind, created_at: time::now() };
        let mut uow = self.db.begin().await?;
        match store::insert_location(&mut uow, &location).await {
            Ok(()) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(Error::conflict_on(
                    "duplicate-location",
                    "code",
                    format!("a location with code {} already exists", location.code),
                ));
            }
            Err(e) => return Err(db_error(e)),
        }
        uow.emit(&event(ctx, events::LOCATION_CREATED, &location)).await?;
        uow.commit().await?;
        Ok(location)
    }

    #[tracing::instrument(name = "inventory.list_locations", skip_all, fields(module = "inventory", correlation_id = %_ctx.correlation_id))]
    async fn list_locations(&self, _ctx: &RequestContext, page: PageRequest) -> Result<Page<Location>> {
        page.validate()?;
        let (items, total) = store::list_locations(&mut *self.reader().await?, page).await?;
        Ok(Page::new(items, page, total))
    }

    #[tracing::instrument(name = "inventory.receive", skip_all, fields(module = "inventory", correlation_id = %ctx.correlation_id))]
    async fn receive(&self, ctx: &RequestContext, input: ReceiveStock) -> Result<SkuStock> {
        let receipt = domain::parse_receive(input)?;
        let mut uow = self.db.begin().await?;
        require_sku(&mut uow, &receipt.sku).await?;
        let location_id = require_location(&mut uow, &receipt.location).await?;
        store::add_on_hand(&mut uow, &receipt.sku, &location_id, receipt.quantity).await?;
        let movement = NewMovement {
            sku: &receipt.sku,
            location_id: &location_id,
            kind: MovementKind::Received,
            delta: receipt.quantity,
            reason: None,
            reference: receipt.reference.as_deref(),
        };
        store::insert_movement(&mut uow, movement).await?;
        let stock = self.stock_moved(&mut uow, ctx, &receipt.sku, &[location_id], receipt.quantity).await?;
        uow.commit().await?;
        Ok(stock)
    }

    #[tracing::instrument(name = "inventory.adjust", skip_all, fields(module = "inventory", correlation_id = %ctx.correlation_id))]
    async fn adjust(&self, ctx: &RequestContext, input: AdjustStock) -> Result<SkuStock> {
        let adjustment = domain::parse_adjust(input)?;
        let mut uow = self.db.begin().await?;
        require_sku(&mut uow, &adjustment.sku).await?;
        let location_id = require_location(&mut uow, &adjustment.location).await?;
        if adjustment.delta > 0 {
            store::add_on_hand(&mut uow, &adjustment.sku, &location_id, adjustment.delta).await?;
        } else if !store::remove_on_hand(&mut uow, &adjustment.sku, &location_id, -adjustment.delta).await? {
            let levels = store::levels(&mut uow, &adjustment.sku).await?;
            let (on_hand, reserved) =
                levels.iter().find(|l| l.location_id == location_id).map_or((0, 0), |l| (l.on_hand, l.reserved));
            return Err(Error::conflict_on(
                "insufficient-stock",
                "delta",
                format!(
                    "cannot remove {} units: {} has {on_hand} on hand, {reserved} of them reserved",
                    -adjustment.delta, adjustment.location
                ),
            ));
        }
        let movement = NewMovement {
            sku: &adjustment.sku,
            location_id: &location_id,
            kind: MovementKind::Adjusted,
            delta: adjustment.delta,
            reason: Some(&adjustment.reason),
            reference: None,
        };
        store::insert_movement(&mut uow, movement).await?;
        let stock = self.stock_moved(&mut uow, ctx, &adjustment.sku, &[location_id], adjustment.delta).await?;
        uow.commit().await?;
        Ok(stock)
    }

    #[tracing::instrument(name = "inventory.restock", skip_all, fields(module = "inventory", correlation_id = %ctx.correlation_id))]
    async fn restock(&self, ctx: &RequestContext, input: RestockUnits) -> Result<SkuStock> {
        let restock = domain::parse_restock(input)?;
        let mut uow = self.db.begin().await?;
        let threshold = require_sku(&mut uow, &restock.sku).await?;
        let location_id = require_location(&mut uow, &restock.location).await?;
        if !store::claim_restock(&mut uow, &restock.reference, &restock.sku, &location_id, restock.quantity).await? {
            // Restocked before under this reference: a retried return puts nothing back twice.
            let levels = store::levels(&mut uow, &restock.sku).await?;
            drop(uow);
            return Ok(domain::sku_stock(&restock.sku, &levels, threshold));
        }
        store::add_on_hand(&mut uow, &restock.sku, &location_id, restock.quantity).await?;
        let movement = NewMovement {
            sku: &restock.sku,
            location_id: &location_id,
            kind: MovementKind::Returned,
            delta: restock.quantity,
            reason: None,
            reference: Some(&restock.reference),
        };
        store::insert_movement(&mut uow, movement).await?;
        let stock = self.stock_moved(&mut uow, ctx, &restock.sku, &[location_id], restock.quantity).await?;
        uow.commit().await?;
        Ok(stock)
    }

    #[tracing::instrument(name = "inventory.stock", skip_all, fields(module = "inventory", correlation_id = %_ctx.correlation_id))]
    async fn stock(&self, _ctx: &RequestContext, sku: &str) -> Result<SkuStock> {
        let mut c = self.reader().await?;
        let threshold = require_sku(&mut c, sku).await?;
        let levels = store::levels(&mut c, sku).await?;
        Ok(domain::sku_stock(sku, &levels, threshold))
    }

    #[tracing::instrument(name = "inventory.available", skip_all, fields(module = "inventory", correlation_id = %_ctx.correlation_id))]
    async fn available(&self, _ctx: &RequestContext, skus: &[String]) -> Result<Vec<(String, i64)>> {
        let skus = domain::parse_sku_list(skus)?;
        let totals = store::available_totals(&mut *self.reader().await?, &skus).await?;
        Ok(skus
            .into_iter()
            .map(|sku| {
                let available = totals.get(&sku).copied().unwrap_or(0);
                (sku, available)
            })
            .collect())
    }

    #[tracing::instrument(name = "inventory.movements", skip_all, fields(module = "inventory", correlation_id = %_ctx.correlation_id))]
    async fn movements(
        &self,
        _ctx: &RequestContext,
        filter: MovementFilter,
        page: PageRequest,
    ) -> Result<Page<Movement>> {
        page.validate()?;
        let (items, total) = store::movements(&mut *self.reader().await?, &filter, page).await?;
        Ok(Page::new(items, page, total))
    }

    #[tracing::instrument(name = "inventory.set_low_stock_threshold", skip_all, fields(module = "inventory", correlation_id = %_ctx.correlation_id))]
    async fn set_low_stock_threshold(
        &self,
        _ctx: &RequestContext,
        sku: &str,
        threshold: Option<i64>,
    ) -> Result<SkuStock> {
        let threshold = domain::parse_threshold(threshold)?;
        let mut uow = self.db.begin().await?;
        if !store::set_threshold(&mut uow, sku, threshold).await? {
            return Err(Error::not_found("sku", sku));
        }
        let levels = store::levels(&mut uow, sku).await?;
        uow.commit().await?;
        Ok(domain::sku_stock(sku, &levels, threshold))
    }

    #[tracing::instrument(name = "inventory.low_stock", skip_all, fields(module = "inventory", correlation_id = %_ctx.correlation_id))]
    async fn low_stock(&self, _ctx: &RequestContext, page: PageRequest) -> Result<Page<SkuStock>> {
        page.validate()?;
        let mut c = self.reader().await?;
        let (low, total) = store::low_stock(&mut c, page).await?;
        let skus: Vec<String> = low.iter().map(|(sku, _)| sku.clone()).collect();
        let mut levels = store::levels_of(&mut c, &skus).await?;
        let items = low
            .into_iter()
            .map(|(sku, threshold)| {
                let levels = levels.remove(&sku).unwrap_or_default();
                domain::sku_stock(&sku, &levels, Some(threshold))
            })
            .collect();
        Ok(Page::new(items, page, total))
    }

    #[tracing::instrument(name = "inventory.reserve", skip_all, fields(module = "inventory", correlation_id = %ctx.correlation_id))]
    async fn reserve(&self, ctx: &RequestContext, input: ReserveStock) -> Result<Reservation> {
        let request = domain::parse_reserve(input)?;
        let skus: Vec<String> = request.lines.iter().map(|l| l.sku.clone()).collect();
        // Locations and SKUs are never removed, so these checks can run before taking the write lock.
        let mut c = self.reader().await?;
        if let Some(code) = &request.location {
            require_location(&mut c, code).await?;
        }
        let known = store::known_skus(&mut c, &skus).await?;
        drop(c);
        if let Some(unknown) = skus.iter().find(|sku| !known.contains(sku)) {
            return Err(Error::not_found("sku", unknown));
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_reserve(ctx, &request, &skus).await? {
                Attempt::Reserved(reservation) => return Ok(reservation),
                Attempt::Refused(shortage) => {
                    count_reservations("refused", 1);
                    return Err(shortage.into());
                }
                Attempt::Lost { .. } if attempt < MAX_ATTEMPTS => continue,
                Attempt::Lost { line } => {
                    // Units taken by concurrent checkouts are a refusal; a contended reference is not.
                    if line.is_some() {
                        count_reservations("refused", 1);
                    }
                    return Err(self.shortage(&request, line).await);
                }
            }
        }
    }

    #[tracing::instrument(name = "inventory.commit_reservation", skip_all, fields(module = "inventory", correlation_id = %ctx.correlation_id))]
    async fn commit_reservation(&self, ctx: &RequestContext, id: Uuid) -> Result<Reservation> {
        for _ in 0..MAX_ATTEMPTS {
            let mut uow = self.db.begin().await?;
            let mut r = store::reservation(&mut uow, id).await?.ok_or_else(|| Error::not_found("reservation", id))?;
            match domain::commit_transition(r.status) {
                Transition::Apply => {}
                Transition::AlreadyDone => return Ok(r.to_contract()),
                Transition::Refuse(e) => return Err(e),
            }
            // An active reservation past its expiry that the sweeper has not reached still holds
            // its units, so the sale goes through.
            if !store::end_reservation(&mut uow, id, ReservationStatus::Committed).await? {
                continue; // ended by a concurrent writer: decide again on its new status
            }
            for line in in_lock_order(&r.lines) {
                if !store::ship_units(&mut uow, &line.sku, &line.location_id, line.quantity).await? {
                    return Err(Error::internal(format!(
                        "reservation {id} holds {} of {} at {} but fewer are reserved there",
                        line.quantity, line.sku, line.location
                    )));
                }
                let movement = NewMovement {
                    sku: &line.sku,
                    location_id: &line.location_id,
                    kind: MovementKind::Committed,
                    delta: -line.quantity,
                    reason: None,
                    reference: Some(&r.reference),
                };
                store::insert_movement(&mut uow, movement).await?;
            }
            r.status = ReservationStatus::Committed;
            uow.emit(&reservation_event(ctx, events::RESERVATION_COMMITTED, &r, r.status)).await?;
            for moved in held_by_sku(&r.lines) {
                // On hand and reserved fall together: what is available does not change.
                self.stock_moved(&mut uow, ctx, &moved.sku, &moved.location_ids, 0).await?;
            }
            uow.commit().await?;
            count_reservations("committed", 1);
            return Ok(r.to_contract());
        }
        Err(Error::unavailable(format!("reservation {id} is being changed concurrently; retry")))
    }

    #[tracing::instrument(name = "inventory.release_reservation", skip_all, fields(module = "inventory", correlation_id = %ctx.correlation_id))]
    async fn release_reservation(&self, ctx: &RequestContext, id: Uuid) -> Result<Reservation> {
        for _ in 0..MAX_ATTEMPTS {
            let mut uow = self.db.begin().await?;
            let mut r = store::reservation(&mut uow, id).await?.ok_or_else(|| Error::not_found("reservation", id))?;
            match domain::release_transition(r.status) {
                Transition::Apply => {}
                Transition::AlreadyDone => return Ok(r.to_contract()),
                Transition::Refuse(e) => return Err(e),
            }
            if !self.end_reservation(&mut uow, ctx, &r, ReservationStatus::Released).await? {
                continue; // ended by a concurrent writer: decide again on its new status
            }
            uow.commit().await?;
            count_reservations("released", 1);
            r.status = ReservationStatus::Released;
            return Ok(r.to_contract());
        }
        Err(Error::unavailable(format!("reservation {id} is being changed concurrently; retry")))
    }

    #[tracing::instrument(name = "inventory.get_reservation", skip_all, fields(module = "inventory", correlation_id = %_ctx.correlation_id))]
    async fn get_reservation(&self, _ctx: &RequestContext, id: Uuid) -> Result<Reservation> {
        let r = store::reservation(&mut *self.reader().await?, id).await?;
        r.map(|r| r.to_contract()).ok_or_else(|| Error::not_found("reservation", id))
    }

    #[tracing::instrument(name = "inventory.release_expired", skip_all, fields(module = "inventory", correlation_id = %ctx.correlation_id))]
    async fn release_expired(&self, ctx: &RequestContext) -> Result<u64> {
        // A fixed cut-off: reservations expiring while the sweep runs wait for the next one, so
        // the sweep always ends.
        let now = time::now();
        let mut released = 0;
        loop {
            let ids = store::expired_reservations(&mut *self.reader().await?, &now, EXPIRY_BATCH).await?;
            for id in &ids {
                let mut uow = self.db.begin().await?;
                let Some(r) = store::reservation(&mut uow, *id).await? else { continue };
                if r.status == ReservationStatus::Active
                    && r.expires_at <= now
                    && self.end_reservation(&mut uow, ctx, &r, ReservationStatus::Expired).await?
                {
                    uow.commit().await?;
                    count_reservations("expired", 1);
                    released += 1;
                }
            }
            if (ids.len() as i64) < EXPIRY_BATCH {
                return Ok(released);
            }
        }
    }
}
