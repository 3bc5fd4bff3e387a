//! The cart's rules, free of I/O: who may use a cart, how lines change, how totals add up, how an
//! anonymous cart folds into a customer's cart, and the cart token.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use comptoir_contracts::cart::{Cart, CartAccess, CartLine, CartStatus};
use comptoir_kernel::time::Timestamp;
use comptoir_kernel::{Currency, Error, Money, Result};
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub const DEFAULT_CHANNEL: &str = "online";
/// Units of one SKU a line may hold.
pub const MAX_LINE_QUANTITY: i64 = 10_000;
/// Distinct SKUs a cart may hold.
pub const MAX_LINES: usize = 100;

/// A cart's own row, without its lines.
#[derive(Debug, Clone)]
pub struct CartRecord {
    pub id: Uuid,
    pub customer_id: Option<Uuid>,
    pub token_hash: Option<String>,
    pub channel: String,
    pub currency: Currency,
    pub status: CartStatus,
    /// For a merged anonymous cart: the customer cart that received its lines.
    pub merged_into: Option<Uuid>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl CartRecord {
    /// A new active cart: a customer's, or an anonymous one reached with the token hashed here.
    pub fn new(
        customer_id: Option<Uuid>,
        token_hash: Option<String>,
        channel: &str,
        currency: Currency,
        now: Timestamp,
    ) -> Self {
        CartRecord {
            id: comptoir_kernel::new_id(),
            customer_id,
            token_hash,
            channel: channel.to_string(),
            currency,
            status: CartStatus::Active,
            merged_into: None,
            created_at: now,
            updated_at: now,
        }
    }
}

/// A line with its product and price snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub sku: String,
    pub product_id: Uuid,
    pub product_name: String,
    pub quantity: i64,
    pub unit_price: Money,
}

/// One change to a cart's lines, decided here and written by the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineChange {
    Insert(Line),
    SetQuantity { sku: String, quantity: i64 },
    Remove { sku: String },
}

pub fn status_to_db(status: CartStatus) -> &'static str {
    match status {
        CartStatus::Active => "active",
        CartStatus::Merged => "merged",
        CartStatus::CheckedOut => "checked_out",
    }
}

pub fn status_from_db(text: &str) -> Result<CartStatus> {
    match text {
        "active" => Ok(CartStatus::Active),
        "merged" => Ok(CartStatus::Merged),
        "checked_out" => Ok(CartStatus::CheckedOut),
        other => Err(Error::internal(format!("stored cart status {other:?} is unknown"))),
    }
}

/// The channel a new cart is for: the one asked for, or `online`.
pub fn channel_code(input: Option<&str>) -> Result<String> {
    match input.map(str::trim) {
        None => Ok(DEFAULT_CHANNEL.to_string()),
        Some("") => Err(Error::validation("channel", "must not be empty")),
        Some(code) => Ok(code.to_string()),
    }
}

/// A quantity asked for a line: at least one unit, at most [`MAX_LINE_QUANTITY`].
pub fn line_quantity(value: i64) -> Result<i64> {
    if value <= 0 {
        return Err(Error::validation("quantity", "must be greater than zero"));
    }
    if value > MAX_LINE_QUANTITY {
        return Err(Error::validation("quantity", format!("must be at most {MAX_LINE_QUANTITY}")));
    }
    Ok(value)
}

/// A new anonymous cart token and the hash that is stored in its place.
pub fn new_token() -> (String, String) {
    let bytes: [u8; 32] = rand::random();
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = token_hash(&token);
    (token, hash)
}

/// Only this hash is stored, so a leaked database does not hand out usable tokens. Comparing
/// hashes rather than tokens also keeps the comparison from revealing the token byte by byte.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether `access` may see the cart. Every refusal looks like "no such cart" to the caller.
fn may_read(cart: &CartRecord, access: &CartAccess) -> bool {
    match access {
        CartAccess::Staff => true,
        CartAccess::Customer(customer_id) => cart.customer_id == Some(*customer_id),
        CartAccess::Token(token) => {
            cart.customer_id.is_none() && cart.token_hash.as_deref() == Some(token_hash(token).as_str())
        }
    }
}

/// The cart, if `access` may read it; 404 otherwise, whether or not the cart exists.
pub fn authorize_read(cart: Option<CartRecord>, id: Uuid, access: &CartAccess) -> Result<CartRecord> {
    cart.filter(|c| may_read(c, access)).ok_or_else(|| Error::not_found("cart", id))
}

/// The cart, if `access` may change it and it is still active.
pub fn authorize_write(cart: Option<CartRecord>, id: Uuid, access: &CartAccess) -> Result<CartRecord> {
    refuse_staff_writes(access)?;
    let cart = authorize_read(cart, id, access)?;
    ensure_active(&cart)?;
    Ok(cart)
}

pub fn refuse_staff_writes(access: &CartAccess) -> Result<()> {
    match access {
        CartAccess::Staff => Err(Error::forbidden("staff may read carts but not change them")),
        _ => Ok(()),
    }
}

pub fn ensure_active(cart: &CartRecord) -> Result<()> {
    match cart.status {
        CartStatus::Active => Ok(()),
        status => Err(Error::conflict(
            "cart-not-active",
            format!("cart {} is {} and can no longer change", cart.id, status_to_db(status)),
        )),
    }
}

fn insufficient_stock(available: i64) -> Error {
    Error::conflict_on("insufficient-stock", "quantity", format!("only {} available", available.max(0)))
}

/// Adds `candidate.quantity` units of its SKU: a new line, or more units on the line already
/// there, which keeps the price it was first added at.
pub fn add_units(lines: &[Line], candidate: Line, available: i64) -> Result<LineChange> {
    let wanted = match lines.iter().find(|l| l.sku == candidate.sku) {
        Some(existing) => existing.quantity.saturating_add(candidate.quantity),
        None => candidate.quantity,
    };
    if wanted > MAX_LINE_QUANTITY {
        return Err(Error::validation("quantity", format!("a line holds at most {MAX_LINE_QUANTITY} units")));
    }
    if wanted > available {
        return Err(insufficient_stock(available));
    }
    if lines.iter().any(|l| l.sku == candidate.sku) {
        return Ok(LineChange::SetQuantity { sku: candidate.sku, quantity: wanted });
    }
    if lines.len() >= MAX_LINES {
        return Err(Error::conflict_on(
            "cart-full",
            "sku",
            format!("a cart holds at most {MAX_LINES} different items"),
        ));
    }
    Ok(LineChange::Insert(candidate))
}

/// Sets the units of a line already in the cart (`quantity` was checked by [`line_quantity`]).
pub fn set_units(lines: &[Line], sku: &str, quantity: i64, available: i64) -> Result<LineChange> {
    if !lines.iter().any(|l| l.sku == sku) {
        return Err(Error::not_found("cart line", sku));
    }
    if quantity > available {
        return Err(insufficient_stock(available));
    }
    Ok(LineChange::SetQuantity { sku: sku.to_string(), quantity })
}

pub fn remove_line(lines: &[Line], sku: &str) -> Result<LineChange> {
    if !lines.iter().any(|l| l.sku == sku) {
        return Err(Error::not_found("cart line", sku));
    }
    Ok(LineChange::Remove { sku: sku.to_string() })
}

/// The lines as they are after `change`.
pub fn apply(lines: &mut Vec<Line>, change: &LineChange) {
    match change {
        LineChange::Insert(line) => lines.push(line.clone()),
        LineChange::SetQuantity { sku, quantity } => {
            if let Some(line) = lines.iter_mut().find(|l| &l.sku == sku) {
                line.quantity = *quantity;
            }
        }
        LineChange::Remove { sku } => lines.retain(|l| &l.sku != sku),
    }
}

/// How an anonymous cart's lines fold into a customer's cart. Quantities of the same SKU add up,
/// capped by the units available; the merge never takes away units the customer already had.
/// An anonymous line that can bring nothing (no stock, the customer cart is full, or it is priced
/// in another currency because the channel's currency changed meanwhile) is dropped.
pub fn merge_lines(
    into: &[Line],
    from: &[Line],
    currency: Currency,
    available: &HashMap<String, i64>,
) -> Vec<LineChange> {
    let mut changes = Vec::new();
    let mut line_count = into.len();
    for incoming in from.iter().filter(|l| l.unit_price.currency == currency) {
        let cap = available.get(&incoming.sku).copied().unwrap_or(0).min(MAX_LINE_QUANTITY);
        match into.iter().find(|l| l.sku == incoming.sku) {
            Some(existing) => {
                let quantity = existing.quantity.saturating_add(incoming.quantity).min(cap);
                if quantity > existing.quantity {
                    changes.push(LineChange::SetQuantity { sku: existing.sku.clone(), quantity });
                }
            }
            None => {
                let quantity = incoming.quantity.min(cap);
                if quantity > 0 && line_count < MAX_LINES {
                    line_count += 1;
                    changes.push(LineChange::Insert(Line { quantity, ..incoming.clone() }));
                }
            }
        }
    }
    changes
}

/// The cart as callers see it, with its totals. `token` is only given when the cart was just
/// created anonymously.
pub fn to_cart(record: &CartRecord, lines: &[Line], token: Option<String>) -> Result<Cart> {
    let too_large = || Error::validation("quantity", "the cart total is too large");
    let mut subtotal = Money::zero(record.currency);
    let mut item_count: i64 = 0;
    let mut cart_lines = Vec::with_capacity(lines.len());
    for line in lines {
        let line_total = line.unit_price.times(line.quantity).ok_or_else(too_large)?;
        subtotal = subtotal.checked_add(&line_total).ok_or_else(too_large)?;
        item_count = item_count.checked_add(line.quantity).ok_or_else(too_large)?;
        cart_lines.push(CartLine {
            sku: line.sku.clone(),
            product_id: line.product_id,
            product_name: line.product_name.clone(),
            quantity: line.quantity,
            unit_price: line.unit_price,
            line_total,
        });
    }
    Ok(Cart {
        id: record.id,
        customer_id: record.customer_id,
        channel: record.channel.clone(),
        currency: record.currency,
        status: record.status,
        lines: cart_lines,
        item_count,
        subtotal,
        // Discounts, tax and shipping are added by the modules that own them once they exist;
        // until then the total is the subtotal.
        total: subtotal,
        token,
        created_at: record.created_at,
        updated_at: record.updated_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(customer_id: Option<Uuid>, token_hash: Option<String>) -> CartRecord {
        CartRecord::new(customer_id, token_hash, "online", Currency::EUR, comptoir_kernel::time::now())
    }

    fn line(sku: &str, quantity: i64, price: i64) -> Line {
        Line {
            sku: sku.into(),
            product_id: Uuid::nil(),
            product_name: format!("Product {sku}"),
            quantity,
            unit_price: Money::new(price, Currency::EUR),
        }
    }

    #[test]
    fn tokens_are_random_url_safe_and_only_their_hash_is_kept() {
        let (token, hash) = new_token();
        let (other, _) = new_token();
        assert_ne!(token, other);
        assert_eq!(token.len(), 43, "32 bytes in unpadded base64");
        assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(hash, token_hash(&token));
        assert_eq!(hash.len(), 64);
        assert_ne!(hash, token);
    }

    #[test]
    fn access_is_by_token_for_anonymous_carts_and_by_owner_for_customer_carts() {
        let (token, hash) = new_token();
        let anonymous = record(None, Some(hash));
        let ann = Uuid::now_v7();
        let owned = record(Some(ann), None);

        assert!(authorize_read(Some(anonymous.clone()), anonymous.id, &CartAccess::Token(token.clone())).is_ok());
        assert!(authorize_read(Some(owned.clone()), owned.id, &CartAccess::Customer(ann)).is_ok());
        assert!(authorize_read(Some(owned.clone()), owned.id, &CartAccess::Staff).is_ok());

        for (cart, access) in [
            (&anonymous, CartAccess::Token("wrong".into())),
            (&anonymous, CartAccess::Customer(ann)),
            (&owned, CartAccess::Token(token.clone())),
            (&owned, CartAccess::Customer(Uuid::now_v7())),
        ] {
            let err = authorize_read(Some(cart.clone()), cart.id, &access).unwrap_err();
            assert_eq!(err.status(), 404, "{access:?}");
        }
        assert_eq!(authorize_read(None, ann, &CartAccess::Staff).unwrap_err().status(), 404);
    }

    #[test]
    fn staff_cannot_write_and_inactive_carts_cannot_change() {
        let mut cart = record(Some(Uuid::now_v7()), None);
        assert_eq!(authorize_write(Some(cart.clone()), cart.id, &CartAccess::Staff).unwrap_err().status(), 403);
        cart.status = CartStatus::Merged;
        let owner = CartAccess::Customer(cart.customer_id.unwrap());
        assert_eq!(authorize_write(Some(cart.clone()), cart.id, &owner).unwrap_err().code(), "cart-not-active");
    }

    #[test]
    fn quantities_and_channels_are_checked() {
        for bad in [0, -1, MAX_LINE_QUANTITY + 1] {
            let err = line_quantity(bad).unwrap_err();
            assert_eq!(err.field_errors()[0].field, "quantity");
        }
        assert_eq!(line_quantity(MAX_LINE_QUANTITY).unwrap(), MAX_LINE_QUANTITY);
        assert_eq!(channel_code(None).unwrap(), "online");
        assert_eq!(channel_code(Some(" store ")).unwrap(), "store");
        assert!(channel_code(Some(" ")).is_err());
    }

    #[test]
    fn adding_a_sku_again_adds_units_within_stock() {
        let lines = vec![line("A", 2, 500)];
        assert_eq!(
            add_units(&lines, line("A", 3, 999), 5).unwrap(),
            LineChange::SetQuantity { sku: "A".into(), quantity: 5 }
        );
        let err = add_units(&lines, line("A", 4, 500), 5).unwrap_err();
        assert_eq!((err.code(), err.field_errors()[0].field.as_str()), ("insufficient-stock", "quantity"));
        assert_eq!(err.to_string(), "only 5 available");
        assert_eq!(add_units(&lines, line("B", 1, 100), 1).unwrap(), LineChange::Insert(line("B", 1, 100)));
        let err = add_units(&[line("A", MAX_LINE_QUANTITY, 1)], line("A", 1, 1), i64::MAX).unwrap_err();
        assert_eq!(err.status(), 422);
    }

    #[test]
    fn a_cart_holds_at_most_a_hundred_lines() {
        let lines: Vec<Line> = (0..MAX_LINES).map(|i| line(&format!("S{i}"), 1, 1)).collect();
        assert_eq!(add_units(&lines, line("NEW", 1, 1), 10).unwrap_err().code(), "cart-full");
        assert!(add_units(&lines, line("S0", 1, 1), 10).is_ok(), "more of a SKU already there still fits");
    }

    #[test]
    fn set_and_remove_need_the_line() {
        let lines = vec![line("A", 2, 500)];
        assert_eq!(set_units(&lines, "A", 4, 4).unwrap(), LineChange::SetQuantity { sku: "A".into(), quantity: 4 });
        assert_eq!(set_units(&lines, "A", 5, 4).unwrap_err().code(), "insufficient-stock");
        assert_eq!(set_units(&lines, "B", 1, 4).unwrap_err().status(), 404);
        assert_eq!(remove_line(&lines, "B").unwrap_err().status(), 404);
        let mut lines = lines;
        let change = remove_line(&lines, "A").unwrap();
        apply(&mut lines, &change);
        assert!(lines.is_empty());
    }

    #[test]
    fn totals_use_checked_arithmetic() {
        let cart = to_cart(&record(None, None), &[line("A", 2, 1250), line("B", 3, 100)], None).unwrap();
        assert_eq!(cart.item_count, 5);
        assert_eq!(cart.subtotal, Money::new(2800, Currency::EUR));
        assert_eq!(cart.total, cart.subtotal);
        assert_eq!(cart.lines[0].line_total, Money::new(2500, Currency::EUR));

        let err = to_cart(&record(None, None), &[line("A", 2, i64::MAX)], None).unwrap_err();
        assert_eq!(err.status(), 422);
        let err = to_cart(&record(None, None), &[line("A", 1, i64::MAX), line("B", 1, 1)], None).unwrap_err();
        assert_eq!(err.status(), 422);
    }

    #[test]
    fn merge_adds_up_caps_by_stock_and_drops_what_cannot_come() {
        let into = vec![line("A", 2, 500), line("B", 4, 100)];
        let mut in_dollars = line("E", 1, 100);
        in_dollars.unit_price.currency = Currency::USD;
        let from = vec![line("A", 3, 450), line("B", 1, 100), line("C", 5, 200), line("D", 1, 300), in_dollars];
        let available =
            HashMap::from([("A".to_string(), 4), ("B".to_string(), 2), ("C".to_string(), 3), ("E".to_string(), 9)]);
        assert_eq!(
            merge_lines(&into, &from, Currency::EUR, &available),
            vec![
                LineChange::SetQuantity { sku: "A".into(), quantity: 4 },
                // B is untouched: the customer keeps their 4 units although only 2 are left.
                LineChange::Insert(line("C", 3, 200)),
                // D is dropped (none available), E too (priced in another currency).
            ]
        );
    }
}
