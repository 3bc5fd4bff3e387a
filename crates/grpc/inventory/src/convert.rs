//! Contract types ↔ inventory messages. `to_*` builds a message from a contract value; the
//! function named after the type reads one back, failing with a bad request naming the field when
//! the peer sent something malformed (a bad id, a missing instant, an unknown enum number).
//!
//! Inputs are passed through as the caller built them: SKUs, location codes, references and
//! quantities are the module's to validate, so that it names the same fields in both topologies.

use comptoir_contracts::inventory::{
    AdjustStock, Location, LocationKind, Movement, MovementFilter, MovementKind, NewLocation, ReceiveStock,
    Reservation, ReservationLineInput, ReservationStatus, ReserveStock, ReservedUnits, RestockUnits, SkuStock,
    StockLevel,
};
use comptoir_grpc::convert::{page_request, timestamp, to_page_request, to_timestamp, uuid};
use comptoir_kernel::{Error, PageRequest, Result};

use crate::pb;

/// The error for an enum number that is unspecified or that this side does not know.
fn unknown_enum(field: &str, value: i32) -> Error {
    Error::bad_request(format!("{field}: {value} is not a known value"))
}

pub fn to_location_kind(kind: LocationKind) -> pb::LocationKind {
    match kind {
        LocationKind::Warehouse => pb::LocationKind::Warehouse,
        LocationKind::Store => pb::LocationKind::Store,
    }
}

pub fn location_kind(value: i32, field: &str) -> Result<LocationKind> {
    match pb::LocationKind::try_from(value) {
        Ok(pb::LocationKind::Warehouse) => Ok(LocationKind::Warehouse),
        Ok(pb::LocationKind::Store) => Ok(LocationKind::Store),
        Ok(pb::LocationKind::Unspecified) | Err(_) => Err(unknown_enum(field, value)),
    }
}

pub fn to_movement_kind(kind: MovementKind) -> pb::MovementKind {
    match kind {
        MovementKind::Received => pb::MovementKind::Received,
        MovementKind::Adjusted => pb::MovementKind::Adjusted,
        MovementKind::Committed => pb::MovementKind::Committed,
        MovementKind::Returned => pb::MovementKind::Returned,
    }
}

pub fn movement_kind(value: i32, field: &str) -> Result<MovementKind> {
    match pb::MovementKind::try_from(value) {
        Ok(pb::MovementKind::Received) => Ok(MovementKind::Received),
        Ok(pb::MovementKind::Adjusted) => Ok(MovementKind::Adjusted),
        Ok(pb::MovementKind::Committed) => Ok(MovementKind::Committed),
        Ok(pb::MovementKind::Returned) => Ok(MovementKind::Returned),
        Ok(pb::MovementKind::Unspecified) | Err(_) => Err(unknown_enum(field, value)),
    }
}

pub fn to_reservation_status(status: ReservationStatus) -> pb::ReservationStatus {
    match status {
        ReservationStatus::Active => pb::ReservationStatus::Active,
        ReservationStatus::Committed => pb::ReservationStatus::Committed,
        ReservationStatus::Released => pb::ReservationStatus::Released,
        ReservationStatus::Expired => pb::ReservationStatus::Expired,
    }
}

pub fn reservation_status(value: i32, field: &str) -> Result<ReservationStatus> {
    match pb::ReservationStatus::try_from(value) {
        Ok(pb::ReservationStatus::Active) => Ok(ReservationStatus::Active),
        Ok(pb::ReservationStatus::Committed) => Ok(ReservationStatus::Committed),
        Ok(pb::ReservationStatus::Released) => Ok(ReservationStatus::Released),
        Ok(pb::ReservationStatus::Expired) => Ok(ReservationStatus::Expired),
        Ok(pb::ReservationStatus::Unspecified) | Err(_) => Err(unknown_enum(field, value)),
    }
}

// Locations.

pub fn to_location(location: &Location) -> pb::Location {
    pb::Location {
        id: location.id.to_string(),
        code: location.code.clone(),
        name: location.name.clone(),
        kind: to_location_kind(location.kind).into(),
        created_at: Some(to_timestamp(&location.created_at)),
    }
}

pub fn location(message: pb::Location) -> Result<Location> {
    Ok(Location {
        id: uuid(&message.id, "id")?,
        code: message.code,
        name: message.name,
        kind: location_kind(message.kind, "kind")?,
        created_at: timestamp(message.created_at, "created_at")?,
    })
}

pub fn to_create_location_request(input: NewLocation) -> pb::CreateLocationRequest {
    pb::CreateLocationRequest { code: input.code, name: input.name, kind: to_location_kind(input.kind).into() }
}

pub fn new_location(message: pb::CreateLocationRequest) -> Result<NewLocation> {
    Ok(NewLocation { code: message.code, name: message.name, kind: location_kind(message.kind, "kind")? })
}

// Stock.

fn to_stock_level(level: &StockLevel) -> pb::StockLevel {
    pb::StockLevel {
        location: level.location.clone(),
        on_hand: level.on_hand,
        reserved: level.reserved,
        available: level.available,
    }
}

fn stock_level(message: pb::StockLevel) -> StockLevel {
    StockLevel {
        location: message.location,
        on_hand: message.on_hand,
        reserved: message.reserved,
        available: message.available,
    }
}

pub fn to_sku_stock(stock: &SkuStock) -> pb::SkuStock {
    pb::SkuStock {
        sku: stock.sku.clone(),
        levels: stock.levels.iter().map(to_stock_level).collect(),
        on_hand: stock.on_hand,
        reserved: stock.reserved,
        available: stock.available,
        low_stock_threshold: stock.low_stock_threshold,
    }
}

/// Every field of a SKU's stock is a plain number or text: nothing can be malformed.
pub fn sku_stock(message: pb::SkuStock) -> SkuStock {
    SkuStock {
        sku: message.sku,
        levels: message.levels.into_iter().map(stock_level).collect(),
        on_hand: message.on_hand,
        reserved: message.reserved,
        available: message.available,
        low_stock_threshold: message.low_stock_threshold,
    }
}

pub fn to_receive_request(input: ReceiveStock) -> pb::ReceiveRequest {
    pb::ReceiveRequest {
        sku: input.sku,
        location: input.location,
        quantity: input.quantity,
        reference: input.reference,
    }
}

pub fn receive_stock(message: pb::ReceiveRequest) -> ReceiveStock {
    ReceiveStock {
        sku: message.sku,
        location: message.location,
        quantity: message.quantity,
        reference: message.reference,
    }
}

pub fn to_adjust_request(input: AdjustStock) -> pb::AdjustRequest {
    pb::AdjustRequest { sku: input.sku, location: input.location, delta: input.delta, reason: input.reason }
}

pub fn adjust_stock(message: pb::AdjustRequest) -> AdjustStock {
    AdjustStock { sku: message.sku, location: message.location, delta: message.delta, reason: message.reason }
}

pub fn to_restock_request(input: RestockUnits) -> pb::RestockRequest {
    pb::RestockRequest {
        sku: input.sku,
        location: input.location,
        quantity: input.quantity,
        reference: input.reference,
    }
}

pub fn restock_units(message: pb::RestockRequest) -> RestockUnits {
    RestockUnits {
        sku: message.sku,
        location: message.location,
        quantity: message.quantity,
        reference: message.reference,
    }
}

pub fn to_available_response(available: Vec<(String, i64)>) -> pb::AvailableResponse {
    pb::AvailableResponse {
        skus: available.into_iter().map(|(sku, available)| pb::SkuAvailability { sku, available }).collect(),
    }
}

pub fn available(message: pb::AvailableResponse) -> Vec<(String, i64)> {
    message.skus.into_iter().map(|s| (s.sku, s.available)).collect()
}

// Movements.

pub fn to_movement(movement: &Movement) -> pb::Movement {
    pb::Movement {
        id: movement.id.to_string(),
        sku: movement.sku.clone(),
        location: movement.location.clone(),
        kind: to_movement_kind(movement.kind).into(),
        delta: movement.delta,
        reason: movement.reason.clone(),
        reference: movement.reference.clone(),
        created_at: Some(to_timestamp(&movement.created_at)),
    }
}

pub fn movement(message: pb::Movement) -> Result<Movement> {
    Ok(Movement {
        id: uuid(&message.id, "id")?,
        sku: message.sku,
        location: message.location,
        kind: movement_kind(message.kind, "kind")?,
        delta: message.delta,
        reason: message.reason,
        reference: message.reference,
        created_at: timestamp(message.created_at, "created_at")?,
    })
}

pub fn to_movements_request(filter: MovementFilter, page: &PageRequest) -> pb::MovementsRequest {
    pb::MovementsRequest { sku: filter.sku, location: filter.location, page: Some(to_page_request(page)) }
}

/// The filter and the page asked for; the page is kept as sent for the module to check.
pub fn movements_query(message: pb::MovementsRequest) -> (MovementFilter, PageRequest) {
    (MovementFilter { sku: message.sku, location: message.location }, page_request(message.page))
}

// Reservations.

fn to_reservation_line(line: ReservationLineInput) -> pb::ReservationLineInput {
    pb::ReservationLineInput { sku: line.sku, quantity: line.quantity }
}

fn reservation_line(message: pb::ReservationLineInput) -> ReservationLineInput {
    ReservationLineInput { sku: message.sku, quantity: message.quantity }
}

fn to_reserved_units(units: &ReservedUnits) -> pb::ReservedUnits {
    pb::ReservedUnits { sku: units.sku.clone(), location: units.location.clone(), quantity: units.quantity }
}

fn reserved_units(message: pb::ReservedUnits) -> ReservedUnits {
    ReservedUnits { sku: message.sku, location: message.location, quantity: message.quantity }
}

pub fn to_reserve_request(input: ReserveStock) -> pb::ReserveRequest {
    pb::ReserveRequest {
        reference: input.reference,
        lines: input.lines.into_iter().map(to_reservation_line).collect(),
        ttl_seconds: input.ttl_seconds,
        location: input.location,
    }
}

pub fn reserve_stock(message: pb::ReserveRequest) -> ReserveStock {
    ReserveStock {
        reference: message.reference,
        lines: message.lines.into_iter().map(reservation_line).collect(),
        ttl_seconds: message.ttl_seconds,
        location: message.location,
    }
}

pub fn to_reservation(reservation: &Reservation) -> pb::Reservation {
    pb::Reservation {
        id: reservation.id.to_string(),
        reference: reservation.reference.clone(),
        status: to_reservation_status(reservation.status).into(),
        lines: reservation.lines.iter().map(to_reserved_units).collect(),
        expires_at: Some(to_timestamp(&reservation.expires_at)),
        created_at: Some(to_timestamp(&reservation.created_at)),
    }
}

pub fn reservation(message: pb::Reservation) -> Result<Reservation> {
    Ok(Reservation {
        id: uuid(&message.id, "id")?,
        reference: message.reference,
        status: reservation_status(message.status, "status")?,
        lines: message.lines.into_iter().map(reserved_units).collect(),
        expires_at: timestamp(message.expires_at, "expires_at")?,
        created_at: timestamp(message.created_at, "created_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_and_unknown_enum_numbers_are_bad_requests_naming_the_field() {
        for value in [0, 99, -1] {
            let e = location_kind(value, "kind").unwrap_err();
            assert_eq!(e.status(), 400);
            assert!(e.to_string().contains("kind"), "{e}");
            assert_eq!(movement_kind(value, "kind").unwrap_err().status(), 400);
            assert!(reservation_status(value, "status").unwrap_err().to_string().contains("status"));
        }
    }

    #[test]
    fn every_enum_value_survives_the_trip() {
        for kind in [LocationKind::Warehouse, LocationKind::Store] {
            assert_eq!(location_kind(to_location_kind(kind).into(), "kind").unwrap(), kind);
        }
        for kind in [MovementKind::Received, MovementKind::Adjusted, MovementKind::Committed, MovementKind::Returned] {
            assert_eq!(movement_kind(to_movement_kind(kind).into(), "kind").unwrap(), kind);
        }
        for status in [
            ReservationStatus::Active,
            ReservationStatus::Committed,
            ReservationStatus::Released,
            ReservationStatus::Expired,
        ] {
            assert_eq!(reservation_status(to_reservation_status(status).into(), "status").unwrap(), status);
        }
    }

    #[test]
    fn absent_and_empty_stay_distinct() {
        let input =
            ReceiveStock { sku: "MUG".into(), location: "paris".into(), quantity: 0, reference: Some("".into()) };
        let back = receive_stock(to_receive_request(input));
        assert_eq!((back.quantity, back.reference.as_deref()), (0, Some("")));
        let input = ReceiveStock { sku: "".into(), location: "".into(), quantity: 1, reference: None };
        assert_eq!(receive_stock(to_receive_request(input)).reference, None);

        let input =
            ReserveStock { reference: " ".into(), lines: vec![], ttl_seconds: Some(0), location: Some("".into()) };
        let back = reserve_stock(to_reserve_request(input));
        assert_eq!((back.reference.as_str(), back.ttl_seconds, back.location.as_deref()), (" ", Some(0), Some("")));
        let input = ReserveStock { reference: "r".into(), lines: vec![], ttl_seconds: None, location: None };
        let back = reserve_stock(to_reserve_request(input));
        assert_eq!((back.ttl_seconds, back.location), (None, None));

        let input = RestockUnits { sku: "".into(), location: " ".into(), quantity: 0, reference: "".into() };
        let back = restock_units(to_restock_request(input));
        assert_eq!(
            (back.sku.as_str(), back.location.as_str(), back.quantity, back.reference.as_str()),
            ("", " ", 0, "")
        );

        let stock = SkuStock {
            sku: "MUG".into(),
            levels: vec![],
            on_hand: 0,
            reserved: 0,
            available: 0,
            low_stock_threshold: Some(0),
        };
        assert_eq!(sku_stock(to_sku_stock(&stock)).low_stock_threshold, Some(0));
    }

    #[test]
    fn a_malformed_reservation_names_its_field() {
        let message = pb::Reservation { id: "nope".into(), ..Default::default() };
        assert!(reservation(message).unwrap_err().to_string().contains("id"));
        let message = pb::Reservation {
            id: uuid::Uuid::nil().to_string(),
            status: pb::ReservationStatus::Active.into(),
            ..Default::default()
        };
        assert!(reservation(message).unwrap_err().to_string().contains("expires_at"));
    }
}
