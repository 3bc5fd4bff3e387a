//! The cart contract's types and their wire form, both ways. Inputs travel as the caller built them
//! (a channel code, a SKU with its spaces, a zero quantity): the module checks them on the other
//! side and refuses them with the same fields as in process. Decoding what a peer sent fails as a
//! bad request naming the field, never a panic.

use comptoir_contracts::cart::{AddLine, Cart, CartAccess, CartLine, CartStatus, NewCart, SetQuantity};
use comptoir_grpc::convert::{currency, money, optional_uuid, required, timestamp, to_money, to_timestamp, uuid};
use comptoir_kernel::{Error, Result};

use crate::pb;
use crate::pb::cart_access::Kind;

// ---- Carts -----------------------------------------------------------------------------------

pub fn to_cart_status(status: CartStatus) -> pb::CartStatus {
    match status {
        CartStatus::Active => pb::CartStatus::Active,
        CartStatus::Merged => pb::CartStatus::Merged,
        CartStatus::CheckedOut => pb::CartStatus::CheckedOut,
    }
}

/// An unspecified or unknown status is refused rather than guessed.
pub fn cart_status(value: i32, field: &str) -> Result<CartStatus> {
    match pb::CartStatus::try_from(value) {
        Ok(pb::CartStatus::Active) => Ok(CartStatus::Active),
        Ok(pb::CartStatus::Merged) => Ok(CartStatus::Merged),
        Ok(pb::CartStatus::CheckedOut) => Ok(CartStatus::CheckedOut),
        Ok(pb::CartStatus::Unspecified) | Err(_) => {
            Err(Error::bad_request(format!("{field}: {value} is not a cart status")))
        }
    }
}

pub fn to_line(line: &CartLine) -> pb::CartLine {
    pb::CartLine {
        sku: line.sku.clone(),
        product_id: line.product_id.to_string(),
        product_name: line.product_name.clone(),
        quantity: line.quantity,
        unit_price: Some(to_money(&line.unit_price)),
        line_total: Some(to_money(&line.line_total)),
    }
}

/// `field` is the line's path (`cart.lines[2]`), so that a bad value names its line.
pub fn line(value: pb::CartLine, field: &str) -> Result<CartLine> {
    Ok(CartLine {
        product_id: uuid(&value.product_id, &format!("{field}.product_id"))?,
        unit_price: money(value.unit_price, &format!("{field}.unit_price"))?,
        line_total: money(value.line_total, &format!("{field}.line_total"))?,
        sku: value.sku,
        product_name: value.product_name,
        quantity: value.quantity,
    })
}

pub fn to_cart(cart: &Cart) -> pb::Cart {
    pb::Cart {
        id: cart.id.to_string(),
        customer_id: cart.customer_id.map(|id| id.to_string()),
        channel: cart.channel.clone(),
        currency: cart.currency.code().to_string(),
        status: to_cart_status(cart.status).into(),
        lines: cart.lines.iter().map(to_line).collect(),
        item_count: cart.item_count,
        subtotal: Some(to_money(&cart.subtotal)),
        total: Some(to_money(&cart.total)),
        token: cart.token.clone(),
        created_at: Some(to_timestamp(&cart.created_at)),
        updated_at: Some(to_timestamp(&cart.updated_at)),
    }
}

pub fn cart(value: pb::Cart) -> Result<Cart> {
    let lines: Result<Vec<CartLine>> =
        value.lines.into_iter().enumerate().map(|(i, l)| line(l, &format!("cart.lines[{i}]"))).collect();
    Ok(Cart {
        id: uuid(&value.id, "cart.id")?,
        customer_id: optional_uuid(value.customer_id.as_deref(), "cart.customer_id")?,
        currency: currency(&value.currency, "cart.currency")?,
        status: cart_status(value.status, "cart.status")?,
        lines: lines?,
        subtotal: money(value.subtotal, "cart.subtotal")?,
        total: money(value.total, "cart.total")?,
        created_at: timestamp(value.created_at, "cart.created_at")?,
        updated_at: timestamp(value.updated_at, "cart.updated_at")?,
        channel: value.channel,
        item_count: value.item_count,
        token: value.token,
    })
}

pub fn optional_cart(value: Option<pb::Cart>) -> Result<Option<Cart>> {
    value.map(cart).transpose()
}

// ---- Access ----------------------------------------------------------------------------------

/// The token travels as given: the module alone decides whether it opens the cart.
pub fn to_access(access: &CartAccess) -> pb::CartAccess {
    let kind = match access {
        CartAccess::Token(token) => Kind::Token(token.clone()),
        CartAccess::Customer(id) => Kind::CustomerId(id.to_string()),
        CartAccess::Staff => Kind::Staff(comptoir_grpc::pb::Empty {}),
    };
    pb::CartAccess { kind: Some(kind) }
}

pub fn access(value: Option<pb::CartAccess>) -> Result<CartAccess> {
    Ok(match required(required(value, "access")?.kind, "access")? {
        Kind::Token(token) => CartAccess::Token(token),
        Kind::CustomerId(id) => CartAccess::Customer(uuid(&id, "access.customer_id")?),
        Kind::Staff(_) => CartAccess::Staff,
    })
}

// ---- Inputs ----------------------------------------------------------------------------------

/// `None` (the default channel) and `Some("")` (refused by the module) stay apart.
pub fn to_new_cart(input: NewCart) -> pb::NewCart {
    pb::NewCart { channel: input.channel }
}

pub fn new_cart(value: Option<pb::NewCart>) -> Result<NewCart> {
    Ok(NewCart { channel: required(value, "cart")?.channel })
}

pub fn to_add_line(input: AddLine) -> pb::AddLine {
    pb::AddLine { sku: input.sku, quantity: input.quantity }
}

pub fn add_line(value: Option<pb::AddLine>) -> Result<AddLine> {
    let value = required(value, "line")?;
    Ok(AddLine { sku: value.sku, quantity: value.quantity })
}

pub fn to_set_quantity(input: SetQuantity) -> pb::SetQuantity {
    pb::SetQuantity { quantity: input.quantity }
}

pub fn set_quantity(value: Option<pb::SetQuantity>) -> Result<SetQuantity> {
    Ok(SetQuantity { quantity: required(value, "input")?.quantity })
}

#[cfg(test)]
mod tests {
    use comptoir_kernel::{Currency, Money};
    use uuid::Uuid;

    use super::*;

    fn sample_cart() -> Cart {
        let eur = |amount| Money::new(amount, Currency::EUR);
        let now = comptoir_kernel::time::now();
        Cart {
            id: Uuid::now_v7(),
            customer_id: None,
            channel: "online".into(),
            currency: Currency::EUR,
            status: CartStatus::Merged,
            lines: vec![CartLine {
                sku: "MUG".into(),
                product_id: Uuid::now_v7(),
                product_name: "Mug".into(),
                quantity: 2,
                unit_price: eur(1250),
                line_total: eur(2500),
            }],
            item_count: 2,
            subtotal: eur(2500),
            total: eur(2500),
            token: Some(String::new()),
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn a_cart_survives_the_trip() {
        let sent = sample_cart();
        let back = cart(to_cart(&sent)).unwrap();
        assert_eq!(serde_json::to_value(&back).unwrap(), serde_json::to_value(&sent).unwrap());
        assert_eq!(back.token, Some(String::new()), "an empty token is not an absent one");
    }

    #[test]
    fn accesses_survive_the_trip() {
        let customer = Uuid::now_v7();
        for sent in [CartAccess::Token(" tok ".into()), CartAccess::Customer(customer), CartAccess::Staff] {
            let back = access(Some(to_access(&sent))).unwrap();
            assert_eq!(format!("{back:?}"), format!("{sent:?}"));
        }
    }

    #[test]
    fn malformed_values_name_their_field() {
        let e = access(Some(pb::CartAccess { kind: None })).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.to_string().contains("access"), "{e}");
        let e = access(Some(pb::CartAccess { kind: Some(Kind::CustomerId("nope".into())) })).unwrap_err();
        assert!(e.to_string().contains("access.customer_id"), "{e}");

        let mut wire = to_cart(&sample_cart());
        wire.lines[0].unit_price = None;
        assert!(cart(wire).unwrap_err().to_string().contains("cart.lines[0].unit_price"));
        for status in [0, 99] {
            let mut wire = to_cart(&sample_cart());
            wire.status = status;
            let e = cart(wire).unwrap_err();
            assert_eq!(e.status(), 400);
            assert!(e.to_string().contains("cart.status"), "{e}");
        }
    }
}
