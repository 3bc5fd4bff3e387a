//! How domain values read on a page: statuses in words, dates, addresses. Shared by both faces.

use chrono::{DateTime, Utc};
use comptoir_contracts::address::PostalAddress;
use comptoir_contracts::catalog::{Category, CategoryNode};
use comptoir_contracts::ordering::{Order, OrderStatus};
use comptoir_contracts::shipping::{Shipment, ShipmentStatus};

/// The category tree as select options, depth first, each name indented by its depth; `key`
/// picks what the option sends (the slug, the id).
pub fn category_options(nodes: &[CategoryNode], key: fn(&Category) -> String) -> Vec<(String, String)> {
    fn walk(nodes: &[CategoryNode], depth: usize, key: fn(&Category) -> String, into: &mut Vec<(String, String)>) {
        for node in nodes {
            into.push((key(&node.category), format!("{}{}", "\u{a0}\u{a0}".repeat(depth), node.category.name)));
            walk(&node.children, depth + 1, key, into);
        }
    }
    let mut options = Vec::new();
    walk(nodes, 0, key, &mut options);
    options
}

/// `size` → `Size`.
pub fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

pub fn date_time(at: &DateTime<Utc>) -> String {
    at.format("%-d %b %Y, %H:%M UTC").to_string()
}

pub fn date(at: &DateTime<Utc>) -> String {
    at.format("%-d %b %Y").to_string()
}

pub fn order_status(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::Pending => "Pending",
        OrderStatus::StockReserved => "Stock reserved",
        OrderStatus::Paid => "Paid",
        OrderStatus::Confirmed => "Confirmed",
        OrderStatus::Shipped => "Shipped",
        OrderStatus::Delivered => "Delivered",
        OrderStatus::Cancelled => "Cancelled",
        OrderStatus::PartiallyRefunded => "Partly refunded",
        OrderStatus::Refunded => "Refunded",
    }
}

/// A CSS class per kind of status: waiting, good, done, stopped.
pub fn order_status_class(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::Pending | OrderStatus::StockReserved | OrderStatus::Paid => "badge badge-waiting",
        OrderStatus::Confirmed | OrderStatus::Shipped => "badge badge-good",
        OrderStatus::Delivered => "badge badge-done",
        OrderStatus::Cancelled | OrderStatus::PartiallyRefunded | OrderStatus::Refunded => "badge badge-stopped",
    }
}

/// Whether the order can still be cancelled: before it ships.
pub fn cancellable(status: OrderStatus) -> bool {
    matches!(status, OrderStatus::Pending | OrderStatus::StockReserved | OrderStatus::Paid | OrderStatus::Confirmed)
}

pub fn shipment_status(status: ShipmentStatus) -> &'static str {
    match status {
        ShipmentStatus::LabelCreated => "Label created",
        ShipmentStatus::Shipped => "Shipped",
        ShipmentStatus::InTransit => "In transit",
        ShipmentStatus::Delivered => "Delivered",
    }
}

/// An address as lines to print one under the other.
pub fn address_lines(a: &PostalAddress) -> Vec<String> {
    let mut lines = vec![a.name.clone(), a.line1.clone()];
    lines.extend(a.line2.clone());
    let region = a.region.as_ref().map(|r| format!(", {r}")).unwrap_or_default();
    lines.push(format!("{} {}{region}", a.postal_code, a.city));
    lines.push(a.country.clone());
    lines.extend(a.phone.clone());
    lines
}

/// One step of an order's timeline.
pub struct Step {
    pub at: String,
    pub status: &'static str,
    pub cause: String,
}

/// An order as both faces show it.
pub struct OrderView {
    pub id: String,
    pub number: String,
    pub email: String,
    pub channel: String,
    pub status: &'static str,
    pub status_class: &'static str,
    pub placed_at: String,
    pub order: Order,
    pub shipping_address: Vec<String>,
    pub billing_address: Vec<String>,
    pub timeline: Vec<Step>,
    pub cancellable: bool,
    pub refundable: bool,
}

impl OrderView {
    pub fn new(order: Order) -> OrderView {
        let refundable = matches!(
            order.status,
            OrderStatus::Paid
                | OrderStatus::Confirmed
                | OrderStatus::Shipped
                | OrderStatus::Delivered
                | OrderStatus::PartiallyRefunded
        );
        OrderView {
            id: order.id.to_string(),
            number: order.number.clone(),
            email: order.email.clone(),
            channel: order.channel.clone(),
            status: order_status(order.status),
            status_class: order_status_class(order.status),
            placed_at: date_time(&order.created_at),
            shipping_address: address_lines(&order.shipping_address),
            billing_address: address_lines(&order.billing_address),
            timeline: order
                .timeline
                .iter()
                .map(|t| Step { at: date_time(&t.at), status: order_status(t.to), cause: t.cause.clone() })
                .collect(),
            cancellable: cancellable(order.status),
            refundable,
            order,
        }
    }
}

/// A shipment with its tracking history.
pub struct ShipmentView {
    pub carrier: String,
    pub tracking_number: String,
    pub status: &'static str,
    pub delivered: bool,
    pub shipped: bool,
    pub events: Vec<(String, &'static str, String)>,
}

impl ShipmentView {
    pub fn new(shipment: &Shipment) -> ShipmentView {
        ShipmentView {
            carrier: shipment.carrier.clone(),
            tracking_number: shipment.tracking_number.clone(),
            status: shipment_status(shipment.status),
            delivered: shipment.status == ShipmentStatus::Delivered,
            shipped: shipment.status != ShipmentStatus::LabelCreated,
            events: shipment
                .events
                .iter()
                .map(|e| (date_time(&e.at), shipment_status(e.status), e.note.clone().unwrap_or_default()))
                .collect(),
        }
    }
}
