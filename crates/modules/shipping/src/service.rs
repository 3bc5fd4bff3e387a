//! The shipping port: each call checks its input, then reads and writes in one unit of work that
//! also records the events, so shipments, their tracking history and the events never disagree.

use async_trait::async_trait;
use comptoir_contracts::ordering::OrderSnapshot;
use comptoir_contracts::shipping::events::{self, ShipmentEvent};
use comptoir_contracts::shipping::{
    NewShippingMethod, NewZone, Quote, QuoteRequest, Shipment, ShipmentStatus, ShippingMethod, ShippingPort,
    TrackingEvent, TrackingUpdate, Zone,
};
use comptoir_kernel::{Error, EventEnvelope, Page, PageRequest, RequestContext, Result, new_id, time, validate};
use comptoir_storage::{UnitOfWork, db_error};
use sqlx::pool::PoolConnection;
use uuid::Uuid;

use crate::ShippingModule;
use crate::consumers::SHIPMENTS;
use crate::domain::{self, Step};
use crate::label::{self, Label};
use crate::store::{self, StoredShipment};
use crate::webhook;

const SOURCE: &str = "shipping";
/// Tracking numbers are drawn at random from a trillion per carrier prefix; a clash is rare and
/// a few draws make a failure practically impossible.
const TRACKING_NUMBER_DRAWS: usize = 5;
const MAX_CARRIER_LEN: usize = 100;

fn event(ctx: &RequestContext, event_type: &str, shipment: &Shipment) -> EventEnvelope {
    let data = ShipmentEvent {
        shipment_id: shipment.id,
        order_id: shipment.order_id,
        order_number: shipment.order_number.clone(),
        carrier: shipment.carrier.clone(),
        tracking_number: shipment.tracking_number.clone(),
        status: shipment.status,
    };
    EventEnvelope::new(ctx, SOURCE, event_type, data)
}

impl ShippingModule {
    async fn reader(&self) -> Result<PoolConnection<sqlx::Any>> {
        self.db.reader().acquire().await.map_err(db_error)
    }

    /// Creates the shipment of a confirmed order, once: a redelivered event finds its inbox claim,
    /// and a second event for the same order finds the order's shipment.
    pub(crate) async fn create_shipment(
        &self,
        ctx: &RequestContext,
        event_id: Uuid,
        order: &OrderSnapshot,
    ) -> Result<()> {
        let mut uow = self.db.begin().await?;
        if !uow.claim_inbox(SHIPMENTS, event_id).await? {
            return Ok(());
        }
        let now = time::now();
        let first = TrackingEvent { status: ShipmentStatus::LabelCreated, note: Some("Label created".into()), at: now };
        let stored = StoredShipment {
            shipment: Shipment {
                id: new_id(),
                order_id: order.order_id,
                order_number: order.number.clone(),
                method: order.shipping.method.clone(),
                carrier: order.shipping.carrier.clone(),
                tracking_number: new_tracking_number(&mut uow, &order.shipping.carrier).await?,
                status: ShipmentStatus::LabelCreated,
                destination: order.shipping_address.clone(),
                weight_grams: order.weight_grams(),
                events: vec![first.clone()],
                created_at: now,
            },
            method_name: order.shipping.name.clone(),
        };
        if !store::insert_shipment(&mut uow, &stored).await? {
            tracing::info!(order_id = %order.order_id, "the order has its shipment already");
            return uow.commit().await;
        }
        store::append_tracking_event(&mut uow, stored.shipment.id, &first).await?;
        uow.emit(&event(ctx, events::SHIPMENT_CREATED, &stored.shipment)).await?;
        uow.commit().await
    }

    /// Moves a shipment forward to `to` with a tracking event, and announces it.
    async fn advance(
        &self,
        uow: &mut UnitOfWork,
        ctx: &RequestContext,
        mut shipment: Shipment,
        to: ShipmentStatus,
        note: Option<String>,
    ) -> Result<Shipment> {
        if !store::advance_status(uow, shipment.id, shipment.status, to).await? {
            return Err(Error::conflict("invalid-tracking-transition", "the shipment changed meanwhile; reload it"));
        }
        let tracked = TrackingEvent { status: to, note, at: time::now() };
        store::append_tracking_event(uow, shipment.id, &tracked).await?;
        shipment.status = to;
        shipment.events.push(tracked);
        if let Some(event_type) = domain::status_event(to) {
            uow.emit(&event(ctx, event_type, &shipment)).await?;
        }
        Ok(shipment)
    }
}

/// A tracking number no other shipment has. The unit of work holds the write lock on SQLite, so
/// nobody takes it between the check and the insert; elsewhere the unique index is the last word.
async fn new_tracking_number(uow: &mut UnitOfWork, carrier: &str) -> Result<String> {
    for _ in 0..TRACKING_NUMBER_DRAWS {
        let candidate = domain::tracking_number(carrier, rand::random());
        if !store::tracking_number_taken(uow, &candidate).await? {
            return Ok(candidate);
        }
    }
    Err(Error::internal(format!("no free tracking number after {TRACKING_NUMBER_DRAWS} draws")))
}

fn unknown_method(code: &str) -> Error {
    Error::validation("shipping_method", format!("there is no shipping method {code:?}"))
}

#[async_trait]
impl ShippingPort for ShippingModule {
    #[tracing::instrument(name = "shipping.create_zone", skip_all, fields(module = "shipping", correlation_id = %_ctx.correlation_id))]
    async fn create_zone(&self, _ctx: &RequestContext, input: NewZone) -> Result<Zone> {
        let draft = domain::parse_new_zone(input)?;
        let zone = Zone { id: new_id(), name: draft.name, countries: draft.countries, created_at: time::now() };
        let mut uow = self.db.begin().await?;
        store::insert_zone(&mut uow, &zone).await?;
        uow.commit().await?;
        Ok(zone)
    }

    #[tracing::instrument(name = "shipping.list_zones", skip_all, fields(module = "shipping", correlation_id = %_ctx.correlation_id))]
    async fn list_zones(&self, _ctx: &RequestContext, page: PageRequest) -> Result<Page<Zone>> {
        page.validate()?;
        let (items, total) = store::list_zones(&mut *self.reader().await?, page).await?;
        Ok(Page::new(items, page, total))
    }

    #[tracing::instrument(name = "shipping.create_method", skip_all, fields(module = "shipping", correlation_id = %_ctx.correlation_id))]
    async fn create_method(&self, _ctx: &RequestContext, input: NewShippingMethod) -> Result<ShippingMethod> {
        let zone_id = input.zone_id;
        let draft = domain::parse_new_method(input)?;
        let method = ShippingMethod {
            id: new_id(),
            code: draft.code,
            name: draft.name,
            carrier: draft.carrier,
            zone_id,
            currency: draft.currency,
            rate: draft.rate,
            free_above: draft.free_above,
            delivery_days: draft.delivery_days,
            active: true,
        };
        let mut uow = self.db.begin().await?;
        if !store::zone_exists(&mut uow, zone_id).await? {
            return Err(Error::validation("zone_id", format!("there is no zone {zone_id}")));
        }
        if !store::insert_method(&mut uow, &method).await? {
            return Err(Error::conflict_on(
                "duplicate-shipping-method",
                "code",
                format!("a shipping method with code {} already exists", method.code),
            ));
        }
        uow.commit().await?;
        Ok(method)
    }

    #[tracing::instrument(name = "shipping.list_methods", skip_all, fields(module = "shipping", correlation_id = %_ctx.correlation_id))]
    async fn list_methods(&self, _ctx: &RequestContext, page: PageRequest) -> Result<Page<ShippingMethod>> {
        page.validate()?;
        let (items, total) = store::list_methods(&mut *self.reader().await?, page).await?;
        Ok(Page::new(items, page, total))
    }

    /// Takes a method off (or back on) the list customers choose from; orders placed with it
    /// keep their shipments.
    #[tracing::instrument(name = "shipping.set_method_active", skip_all, fields(module = "shipping", correlation_id = %_ctx.correlation_id))]
    async fn set_method_active(&self, _ctx: &RequestContext, code: &str, active: bool) -> Result<ShippingMethod> {
        let mut uow = self.db.begin().await?;
        if !store::set_method_active(&mut uow, code, active).await? {
            return Err(Error::not_found("shipping method", code));
        }
        let method = store::method_by_code(&mut uow, code)
            .await?
            .ok_or_else(|| Error::internal(format!("shipping method {code} vanished while being updated")))?;
        uow.commit().await?;
        Ok(method)
    }

    #[tracing::instrument(name = "shipping.quotes", skip_all, fields(module = "shipping", correlation_id = %_ctx.correlation_id))]
    async fn quotes(&self, _ctx: &RequestContext, request: QuoteRequest) -> Result<Vec<Quote>> {
        let parcel = domain::parse_quote_request(request)?;
        let methods = store::active_methods_for(&mut *self.reader().await?, &parcel.country).await?;
        let mut quotes: Vec<Quote> = methods
            .iter()
            .filter_map(|m| domain::price(m, &parcel).ok().map(|price| domain::quote(m, price)))
            .collect();
        domain::sort_quotes(&mut quotes);
        Ok(quotes)
    }

    #[tracing::instrument(name = "shipping.quote", skip_all, fields(module = "shipping", correlation_id = %_ctx.correlation_id))]
    async fn quote(&self, _ctx: &RequestContext, method: &str, request: QuoteRequest) -> Result<Quote> {
        let parcel = domain::parse_quote_request(request)?;
        let code = method.trim();
        let mut c = self.reader().await?;
        let method = store::method_by_code(&mut c, code).await?.ok_or_else(|| unknown_method(code))?;
        if !method.active {
            return Err(Error::validation("shipping_method", format!("{code} is not offered any more")));
        }
        if !store::zone_covers(&mut c, method.zone_id, &parcel.country).await? {
            return Err(Error::validation("shipping_method", format!("{code} does not deliver to {}", parcel.country)));
        }
        let price = domain::price(&method, &parcel)
            .map_err(|unserved| Error::validation("shipping_method", unserved.describe(code, &parcel)))?;
        Ok(domain::quote(&method, price))
    }

    #[tracing::instrument(name = "shipping.shipment_for_order", skip_all, fields(module = "shipping", correlation_id = %_ctx.correlation_id))]
    async fn shipment_for_order(&self, _ctx: &RequestContext, order_id: Uuid) -> Result<Shipment> {
        store::shipment_for_order(&mut *self.reader().await?, order_id)
            .await?
            .map(|s| s.shipment)
            .ok_or_else(|| Error::not_found("shipment for order", order_id))
    }

    #[tracing::instrument(name = "shipping.list_shipments", skip_all, fields(module = "shipping", correlation_id = %_ctx.correlation_id))]
    async fn list_shipments(&self, _ctx: &RequestContext, page: PageRequest) -> Result<Page<Shipment>> {
        page.validate()?;
        let (items, total) = store::list_shipments(&mut *self.reader().await?, page).await?;
        Ok(Page::new(items, page, total))
    }

    #[tracing::instrument(name = "shipping.track", skip_all, fields(module = "shipping", correlation_id = %ctx.correlation_id))]
    async fn track(&self, ctx: &RequestContext, shipment_id: Uuid, update: TrackingUpdate) -> Result<Shipment> {
        let note = domain::parse_note(update.note)?;
        let mut uow = self.db.begin().await?;
        let stored =
            store::shipment(&mut uow, shipment_id).await?.ok_or_else(|| Error::not_found("shipment", shipment_id))?;
        let current = stored.shipment.status;
        if domain::step(current, update.status) != Step::Forward {
            return Err(domain::invalid_transition(current, update.status));
        }
        let shipment = self.advance(&mut uow, ctx, stored.shipment, update.status, note).await?;
        uow.commit().await?;
        Ok(shipment)
    }

    /// Carriers report out of order and repeat themselves: a status the shipment already has adds
    /// the scan to its history, an earlier one is acknowledged and ignored. Answering those with
    /// an error would only make the carrier retry them forever.
    #[tracing::instrument(name = "shipping.carrier_webhook", skip_all, fields(module = "shipping", correlation_id = %ctx.correlation_id))]
    async fn carrier_webhook(&self, ctx: &RequestContext, carrier: &str, signature: &str, body: &[u8]) -> Result<()> {
        webhook::verify(&self.config.webhook_secret, signature, body, time::now().timestamp())?;
        let update = webhook::parse_body(body)?;
        let carrier = validate::required_text("carrier", carrier, MAX_CARRIER_LEN)?.to_lowercase();
        let mut uow = self.db.begin().await?;
        let stored = store::shipment_by_tracking_number(&mut uow, &update.tracking_number)
            .await?
            .ok_or_else(|| Error::not_found("shipment", &update.tracking_number))?;
        let shipment = stored.shipment;
        if !store::claim_carrier_event(&mut uow, &carrier, &update.event_id, shipment.id, update.status).await? {
            return Ok(()); // a redelivery: applied the first time
        }
        match domain::step(shipment.status, update.status) {
            Step::Forward => {
                self.advance(&mut uow, ctx, shipment, update.status, update.note).await?;
            }
            Step::Same => {
                let scan = TrackingEvent { status: update.status, note: update.note, at: time::now() };
                store::append_tracking_event(&mut uow, shipment.id, &scan).await?;
            }
            Step::Backward => tracing::info!(
                %carrier,
                event_id = %update.event_id,
                tracking_number = %shipment.tracking_number,
                "ignoring a carrier update older than the shipment's status"
            ),
        }
        uow.commit().await
    }

    #[tracing::instrument(name = "shipping.label_pdf", skip_all, fields(module = "shipping", correlation_id = %_ctx.correlation_id))]
    async fn label_pdf(&self, _ctx: &RequestContext, shipment_id: Uuid) -> Result<Vec<u8>> {
        let stored = store::shipment(&mut *self.reader().await?, shipment_id)
            .await?
            .ok_or_else(|| Error::not_found("shipment", shipment_id))?;
        let s = &stored.shipment;
        Ok(label::render(&Label {
            carrier: &s.carrier,
            method_name: &stored.method_name,
            tracking_number: &s.tracking_number,
            order_number: &s.order_number,
            weight_grams: s.weight_grams,
            from: &self.config.ship_from,
            to: &s.destination,
            date: s.created_at.format("%Y-%m-%d").to_string(),
        }))
    }
}
