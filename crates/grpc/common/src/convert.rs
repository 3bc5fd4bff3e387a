//! Conversions between the kernel's values and their wire form. Decoding what a peer sent can
//! fail (a malformed id, a missing field): that is the peer's bug, reported as a bad request
//! naming the field, never a panic.

use std::str::FromStr;

use comptoir_contracts::address::PostalAddress;
use comptoir_kernel::time::Timestamp;
use comptoir_kernel::{Currency, Error, Money, Page, PageRequest, Result};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::pb;

/// A field the contract marks as always present.
pub fn required<T>(value: Option<T>, field: &str) -> Result<T> {
    value.ok_or_else(|| Error::bad_request(format!("{field}: missing from the message")))
}

pub fn uuid(value: &str, field: &str) -> Result<Uuid> {
    Uuid::parse_str(value).map_err(|_| Error::bad_request(format!("{field}: `{value}` is not a UUID")))
}

pub fn optional_uuid(value: Option<&str>, field: &str) -> Result<Option<Uuid>> {
    value.map(|v| uuid(v, field)).transpose()
}

pub fn uuids(values: &[String], field: &str) -> Result<Vec<Uuid>> {
    values.iter().map(|v| uuid(v, field)).collect()
}

pub fn to_timestamp(at: &Timestamp) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: at.timestamp(), nanos: at.timestamp_subsec_nanos() as i32 }
}

pub fn timestamp(value: Option<prost_types::Timestamp>, field: &str) -> Result<Timestamp> {
    let t = required(value, field)?;
    chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32)
        .ok_or_else(|| Error::bad_request(format!("{field}: out of range")))
}

pub fn optional_timestamp(value: Option<prost_types::Timestamp>, field: &str) -> Result<Option<Timestamp>> {
    value.map(|t| timestamp(Some(t), field)).transpose()
}

pub fn to_money(money: &Money) -> pb::Money {
    pb::Money { amount: money.amount, currency: money.currency.code().to_string() }
}

pub fn money(value: Option<pb::Money>, field: &str) -> Result<Money> {
    let m = required(value, field)?;
    Ok(Money::new(m.amount, currency(&m.currency, &format!("{field}.currency"))?))
}

pub fn optional_money(value: Option<pb::Money>, field: &str) -> Result<Option<Money>> {
    value.map(|m| money(Some(m), field)).transpose()
}

pub fn currency(code: &str, field: &str) -> Result<Currency> {
    Currency::from_str(code).map_err(|_| Error::bad_request(format!("{field}: `{code}` is not a known currency")))
}

pub fn to_decimal(value: &Decimal) -> String {
    value.to_string()
}

pub fn decimal(value: &str, field: &str) -> Result<Decimal> {
    Decimal::from_str(value).map_err(|_| Error::bad_request(format!("{field}: `{value}` is not a decimal")))
}

pub fn to_page_request(page: &PageRequest) -> pb::PageRequest {
    pb::PageRequest { page: page.page, per_page: page.per_page }
}

/// Kept as sent: the module validates the bounds and names the field, as it does in process.
pub fn page_request(value: Option<pb::PageRequest>) -> PageRequest {
    value.map(|p| PageRequest { page: p.page, per_page: p.per_page }).unwrap_or_default()
}

pub fn to_page_info<T>(page: &Page<T>) -> pb::PageInfo {
    pb::PageInfo { page: page.page, per_page: page.per_page, total: page.total }
}

/// A page from its converted items and its position.
pub fn page<T>(items: Vec<T>, info: Option<pb::PageInfo>) -> Result<Page<T>> {
    let info = required(info, "page")?;
    Ok(Page { items, page: info.page, per_page: info.per_page, total: info.total })
}

/// Converts every element, stopping at the first that does not convert.
pub fn all<A, B>(values: Vec<A>, convert: impl FnMut(A) -> Result<B>) -> Result<Vec<B>> {
    values.into_iter().map(convert).collect()
}

pub fn to_address(address: &PostalAddress) -> pb::PostalAddress {
    pb::PostalAddress {
        name: address.name.clone(),
        line1: address.line1.clone(),
        line2: address.line2.clone(),
        city: address.city.clone(),
        postal_code: address.postal_code.clone(),
        region: address.region.clone(),
        country: address.country.clone(),
        phone: address.phone.clone(),
    }
}

pub fn address(value: pb::PostalAddress) -> PostalAddress {
    PostalAddress {
        name: value.name,
        line1: value.line1,
        line2: value.line2,
        city: value.city,
        postal_code: value.postal_code,
        region: value.region,
        country: value.country,
        phone: value.phone,
    }
}

pub fn required_address(value: Option<pb::PostalAddress>, field: &str) -> Result<PostalAddress> {
    required(value, field).map(address)
}

/// A JSON value (free-form attributes, metadata) as its text.
pub fn to_json(value: &serde_json::Value) -> String {
    value.to_string()
}

pub fn json(text: &str, field: &str) -> Result<serde_json::Value> {
    if text.is_empty() {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_str(text).map_err(|e| Error::bad_request(format!("{field}: not JSON ({e})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_survive_the_trip() {
        let eur = Currency::from_str("EUR").unwrap();
        let m = Money::new(1999, eur);
        assert_eq!(money(Some(to_money(&m)), "price").unwrap(), m);
        let now = comptoir_kernel::time::now();
        assert_eq!(timestamp(Some(to_timestamp(&now)), "at").unwrap(), now);
        let rate = Decimal::from_str("0.055").unwrap();
        assert_eq!(decimal(&to_decimal(&rate), "rate").unwrap(), rate);
    }

    #[test]
    fn malformed_values_name_their_field() {
        let e = uuid("nope", "order_id").unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.to_string().contains("order_id"));
        assert!(money(None, "total").unwrap_err().to_string().contains("total"));
        let bad = pb::Money { amount: 1, currency: "XXX".into() };
        assert!(money(Some(bad), "total").unwrap_err().to_string().contains("total.currency"));
    }
}
