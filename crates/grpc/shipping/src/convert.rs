//! The shipping contract's types and their wire form, both ways. Inputs keep what the caller typed
//! (countries, codes, notes): the module checks them on the other side and names the same fields
//! as in process. Decoding what a peer sent fails as a bad request naming the field, never a panic.

use comptoir_contracts::shipping::{
    NewShippingMethod, NewZone, Quote, QuoteRequest, Rate, Shipment, ShipmentStatus, ShippingMethod, TrackingEvent,
    TrackingUpdate, WeightBracket, Zone,
};
use comptoir_grpc::convert::{
    currency, money, required, required_address, timestamp, to_address, to_money, to_timestamp, uuid,
};
use comptoir_kernel::{Error, Result};

use crate::pb;

// ---- Zones ---------------------------------------------------------------------------------

pub fn to_zone(zone: &Zone) -> pb::Zone {
    pb::Zone {
        id: zone.id.to_string(),
        name: zone.name.clone(),
        countries: zone.countries.clone(),
        created_at: Some(to_timestamp(&zone.created_at)),
    }
}

pub fn zone(value: pb::Zone) -> Result<Zone> {
    Ok(Zone {
        id: uuid(&value.id, "zone.id")?,
        name: value.name,
        countries: value.countries,
        created_at: timestamp(value.created_at, "zone.created_at")?,
    })
}

pub fn to_create_zone_request(input: NewZone) -> pb::CreateZoneRequest {
    pb::CreateZoneRequest { name: input.name, countries: input.countries }
}

pub fn new_zone(value: pb::CreateZoneRequest) -> NewZone {
    NewZone { name: value.name, countries: value.countries }
}

// ---- Methods -------------------------------------------------------------------------------

pub fn to_rate(rate: &Rate) -> pb::Rate {
    let kind = match rate {
        Rate::Flat { amount } => pb::rate::Kind::Flat(pb::FlatRate { amount: *amount }),
        Rate::WeightBased { brackets } => pb::rate::Kind::WeightBased(pb::WeightBasedRate {
            brackets: brackets
                .iter()
                .map(|b| pb::WeightBracket { up_to_grams: b.up_to_grams, amount: b.amount })
                .collect(),
        }),
    };
    pb::Rate { kind: Some(kind) }
}

pub fn rate(value: Option<pb::Rate>, field: &str) -> Result<Rate> {
    Ok(match required(required(value, field)?.kind, field)? {
        pb::rate::Kind::Flat(flat) => Rate::Flat { amount: flat.amount },
        pb::rate::Kind::WeightBased(weight_based) => Rate::WeightBased {
            brackets: weight_based
                .brackets
                .into_iter()
                .map(|b| WeightBracket { up_to_grams: b.up_to_grams, amount: b.amount })
                .collect(),
        },
    })
}

pub fn to_method(method: &ShippingMethod) -> pb::ShippingMethod {
    pb::ShippingMethod {
        id: method.id.to_string(),
        code: method.code.clone(),
        name: method.name.clone(),
        carrier: method.carrier.clone(),
        zone_id: method.zone_id.to_string(),
        currency: method.currency.code().to_string(),
        rate: Some(to_rate(&method.rate)),
        free_above: method.free_above,
        delivery_days: method.delivery_days,
        active: method.active,
    }
}

pub fn method(value: pb::ShippingMethod) -> Result<ShippingMethod> {
    Ok(ShippingMethod {
        id: uuid(&value.id, "method.id")?,
        code: value.code,
        name: value.name,
        carrier: value.carrier,
        zone_id: uuid(&value.zone_id, "method.zone_id")?,
        currency: currency(&value.currency, "method.currency")?,
        rate: rate(value.rate, "method.rate")?,
        free_above: value.free_above,
        delivery_days: value.delivery_days,
        active: value.active,
    })
}

pub fn to_create_method_request(input: NewShippingMethod) -> pb::CreateMethodRequest {
    pb::CreateMethodRequest {
        rate: Some(to_rate(&input.rate)),
        code: input.code,
        name: input.name,
        carrier: input.carrier,
        zone_id: input.zone_id.to_string(),
        currency: input.currency.code().to_string(),
        free_above: input.free_above,
        delivery_days: input.delivery_days,
    }
}

/// The zone id and currency are typed in the contract, so only a malformed peer sends bad ones.
pub fn new_method(value: pb::CreateMethodRequest) -> Result<NewShippingMethod> {
    Ok(NewShippingMethod {
        code: value.code,
        name: value.name,
        carrier: value.carrier,
        zone_id: uuid(&value.zone_id, "zone_id")?,
        currency: currency(&value.currency, "currency")?,
        rate: rate(value.rate, "rate")?,
        free_above: value.free_above,
        delivery_days: value.delivery_days,
    })
}

// ---- Quotes --------------------------------------------------------------------------------

pub fn to_quote_query(request: QuoteRequest) -> pb::QuoteQuery {
    pb::QuoteQuery {
        subtotal: Some(to_money(&request.subtotal)),
        country: request.country,
        region: request.region,
        weight_grams: request.weight_grams,
    }
}

pub fn quote_request(value: Option<pb::QuoteQuery>) -> Result<QuoteRequest> {
    let query = required(value, "query")?;
    Ok(QuoteRequest {
        country: query.country,
        region: query.region,
        weight_grams: query.weight_grams,
        subtotal: money(query.subtotal, "subtotal")?,
    })
}

pub fn to_quote(quote: &Quote) -> pb::Quote {
    pb::Quote {
        method: quote.method.clone(),
        name: quote.name.clone(),
        carrier: quote.carrier.clone(),
        price: Some(to_money(&quote.price)),
        delivery_days: quote.delivery_days,
    }
}

pub fn quote(value: pb::Quote) -> Result<Quote> {
    Ok(Quote {
        method: value.method,
        name: value.name,
        carrier: value.carrier,
        price: money(value.price, "quote.price")?,
        delivery_days: value.delivery_days,
    })
}

// ---- Shipments -----------------------------------------------------------------------------

pub fn to_shipment_status(status: ShipmentStatus) -> pb::ShipmentStatus {
    match status {
        ShipmentStatus::LabelCreated => pb::ShipmentStatus::LabelCreated,
        ShipmentStatus::Shipped => pb::ShipmentStatus::Shipped,
        ShipmentStatus::InTransit => pb::ShipmentStatus::InTransit,
        ShipmentStatus::Delivered => pb::ShipmentStatus::Delivered,
    }
}

/// Unspecified and numbers this build does not know are refused rather than guessed.
pub fn shipment_status(value: i32, field: &str) -> Result<ShipmentStatus> {
    match pb::ShipmentStatus::try_from(value) {
        Ok(pb::ShipmentStatus::LabelCreated) => Ok(ShipmentStatus::LabelCreated),
        Ok(pb::ShipmentStatus::Shipped) => Ok(ShipmentStatus::Shipped),
        Ok(pb::ShipmentStatus::InTransit) => Ok(ShipmentStatus::InTransit),
        Ok(pb::ShipmentStatus::Delivered) => Ok(ShipmentStatus::Delivered),
        Ok(pb::ShipmentStatus::Unspecified) | Err(_) => {
            Err(Error::bad_request(format!("{field}: {value} is not a shipment status")))
        }
    }
}

fn to_tracking_event(event: &TrackingEvent) -> pb::TrackingEvent {
    pb::TrackingEvent {
        status: to_shipment_status(event.status).into(),
        note: event.note.clone(),
        at: Some(to_timestamp(&event.at)),
    }
}

fn tracking_event(value: pb::TrackingEvent, field: &str) -> Result<TrackingEvent> {
    Ok(TrackingEvent {
        status: shipment_status(value.status, &format!("{field}.status"))?,
        note: value.note,
        at: timestamp(value.at, &format!("{field}.at"))?,
    })
}

pub fn to_shipment(shipment: &Shipment) -> pb::Shipment {
    pb::Shipment {
        id: shipment.id.to_string(),
        order_id: shipment.order_id.to_string(),
        order_number: shipment.order_number.clone(),
        method: shipment.method.clone(),
        carrier: shipment.carrier.clone(),
        tracking_number: shipment.tracking_number.clone(),
        status: to_shipment_status(shipment.status).into(),
        destination: Some(to_address(&shipment.destination)),
        weight_grams: shipment.weight_grams,
        events: shipment.events.iter().map(to_tracking_event).collect(),
        created_at: Some(to_timestamp(&shipment.created_at)),
    }
}

pub fn shipment(value: pb::Shipment) -> Result<Shipment> {
    let events = value
        .events
        .into_iter()
        .enumerate()
        .map(|(i, event)| tracking_event(event, &format!("shipment.events[{i}]")))
        .collect::<Result<_>>()?;
    Ok(Shipment {
        id: uuid(&value.id, "shipment.id")?,
        order_id: uuid(&value.order_id, "shipment.order_id")?,
        order_number: value.order_number,
        method: value.method,
        carrier: value.carrier,
        tracking_number: value.tracking_number,
        status: shipment_status(value.status, "shipment.status")?,
        destination: required_address(value.destination, "shipment.destination")?,
        weight_grams: value.weight_grams,
        events,
        created_at: timestamp(value.created_at, "shipment.created_at")?,
    })
}

pub fn to_tracking_update(update: TrackingUpdate) -> pb::TrackingUpdate {
    pb::TrackingUpdate { status: to_shipment_status(update.status).into(), note: update.note }
}

pub fn tracking_update(value: Option<pb::TrackingUpdate>) -> Result<TrackingUpdate> {
    let update = required(value, "update")?;
    Ok(TrackingUpdate { status: shipment_status(update.status, "update.status")?, note: update.note })
}

#[cfg(test)]
mod tests {
    use comptoir_contracts::address::PostalAddress;
    use comptoir_kernel::{Currency, Money, time};
    use uuid::Uuid;

    use super::*;

    fn every_status() -> [ShipmentStatus; 4] {
        [ShipmentStatus::LabelCreated, ShipmentStatus::Shipped, ShipmentStatus::InTransit, ShipmentStatus::Delivered]
    }

    #[test]
    fn statuses_survive_the_trip_and_unknown_ones_are_refused() {
        for s in every_status() {
            assert_eq!(shipment_status(to_shipment_status(s).into(), "status").unwrap(), s);
        }
        for bad in [0, 5, -1] {
            let e = shipment_status(bad, "update.status").unwrap_err();
            assert_eq!(e.status(), 400);
            assert!(e.to_string().contains("update.status"), "{e}");
        }
    }

    #[test]
    fn rates_survive_the_trip_and_a_missing_one_is_refused() {
        let flat = Rate::Flat { amount: 0 };
        let brackets = Rate::WeightBased {
            brackets: vec![
                WeightBracket { up_to_grams: 1000, amount: 990 },
                WeightBracket { up_to_grams: 0, amount: -1 },
            ],
        };
        let empty = Rate::WeightBased { brackets: vec![] };
        for r in [flat, brackets, empty] {
            assert_eq!(rate(Some(to_rate(&r)), "rate").unwrap(), r);
        }
        assert!(rate(None, "rate").unwrap_err().to_string().contains("rate"));
        assert!(rate(Some(pb::Rate { kind: None }), "rate").is_err());
    }

    #[test]
    fn absent_stays_distinct_from_empty_and_zero() {
        let zone_id = Uuid::now_v7();
        for (free_above, delivery_days) in [(None, None), (Some(0), Some(0))] {
            let input = NewShippingMethod {
                code: " Not A Slug ".into(),
                name: String::new(),
                carrier: "Colissimo".into(),
                zone_id,
                currency: Currency::USD,
                rate: Rate::Flat { amount: -1 },
                free_above,
                delivery_days,
            };
            let back = new_method(to_create_method_request(input)).unwrap();
            assert_eq!((back.code.as_str(), back.name.as_str()), (" Not A Slug ", ""), "as typed");
            assert_eq!((back.free_above, back.delivery_days), (free_above, delivery_days));
            assert_eq!((back.zone_id, back.currency, back.rate), (zone_id, Currency::USD, Rate::Flat { amount: -1 }));
        }
        for region in [None, Some(String::new()), Some("IDF".to_string())] {
            let input = QuoteRequest {
                country: " fr".into(),
                region: region.clone(),
                weight_grams: -5,
                subtotal: Money::new(0, Currency::EUR),
            };
            let back = quote_request(Some(to_quote_query(input))).unwrap();
            assert_eq!((back.country.as_str(), back.region, back.weight_grams), (" fr", region, -5));
        }
        for note in [None, Some(String::new())] {
            let back = tracking_update(Some(to_tracking_update(TrackingUpdate {
                status: ShipmentStatus::Shipped,
                note: note.clone(),
            })))
            .unwrap();
            assert_eq!((back.status, back.note), (ShipmentStatus::Shipped, note));
        }
    }

    #[test]
    fn shipments_survive_the_trip() {
        let now = time::now();
        let destination = PostalAddress {
            name: "Ann".into(),
            line1: "1 rue".into(),
            line2: None,
            city: "Paris".into(),
            postal_code: "75001".into(),
            region: Some(String::new()),
            country: "FR".into(),
            phone: None,
        };
        let original = Shipment {
            id: Uuid::now_v7(),
            order_id: Uuid::now_v7(),
            order_number: "CO-1".into(),
            method: "standard".into(),
            carrier: "Colissimo".into(),
            tracking_number: "COL123".into(),
            status: ShipmentStatus::InTransit,
            destination: destination.clone(),
            weight_grams: 0,
            events: every_status()
                .into_iter()
                .map(|status| TrackingEvent { status, note: Some(format!("{status:?}")), at: now })
                .collect(),
            created_at: now,
        };
        let back = shipment(to_shipment(&original)).unwrap();
        assert_eq!(back.destination, destination);
        assert_eq!(
            (back.id, back.order_id, back.status, back.created_at),
            (original.id, original.order_id, original.status, now)
        );
        let events = |s: &Shipment| s.events.iter().map(|e| (e.status, e.note.clone(), e.at)).collect::<Vec<_>>();
        assert_eq!(events(&back), events(&original));

        let mut broken = to_shipment(&original);
        broken.events[2].status = 0;
        assert!(shipment(broken).unwrap_err().to_string().contains("shipment.events[2].status"));
    }
}
