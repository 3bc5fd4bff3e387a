//! The message templates: one function per template, each writing a plain-text subject and body
//! signed with the shop's name. Amounts are written with `Money`'s display (`19.99 EUR`).

use comptoir_contracts::address::PostalAddress;
use comptoir_contracts::identity::events::UserRegistered;
use comptoir_contracts::inventory::events::StockLow;
use comptoir_contracts::notification::MessageKind;
use comptoir_contracts::ordering::OrderSnapshot;
use comptoir_contracts::ordering::events::{OrderCancelled, OrderRefunded};
use comptoir_contracts::shipping::events::ShipmentEvent;
use comptoir_contracts::webhooks::events::SubscriptionDisabled;

use crate::domain::{Draft, KnownOrder};

pub const WELCOME: &str = "welcome";
pub const ORDER_CONFIRMATION: &str = "order_confirmation";
pub const ORDER_CANCELLED: &str = "order_cancelled";
pub const ORDER_REFUNDED: &str = "order_refunded";
pub const SHIPMENT_SHIPPED: &str = "shipment_shipped";
pub const LOW_STOCK: &str = "low_stock";
pub const WEBHOOK_DISABLED: &str = "webhook_disabled";

/// Every template name, as the mailbox filter accepts them.
pub const ALL: &[&str] =
    &[WELCOME, ORDER_CONFIRMATION, ORDER_CANCELLED, ORDER_REFUNDED, SHIPMENT_SHIPPED, LOW_STOCK, WEBHOOK_DISABLED];

fn greeting(name: Option<&str>) -> String {
    match name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => format!("Hello {name},"),
        None => "Hello,".to_string(),
    }
}

fn signature(shop: &str) -> String {
    format!("\n-- \n{shop}\n")
}

pub(crate) fn welcome(shop: &str, user: &UserRegistered) -> Draft {
    let body = format!(
        "{}\n\nWelcome to {shop}! Your account is ready: sign in with {} to follow your orders \
         and check out faster.\n{}",
        greeting(user.first_name.as_deref()),
        user.email,
        signature(shop)
    );
    Draft::new(WELCOME, MessageKind::Marketing, &user.email, Some(user.user_id), format!("Welcome to {shop}"), body)
}

fn postal_address(a: &PostalAddress) -> Vec<String> {
    let mut lines = vec![a.name.clone(), a.line1.clone()];
    lines.extend(a.line2.clone());
    lines.push(format!("{} {}", a.postal_code, a.city));
    lines.extend(a.region.clone());
    lines.push(a.country.clone());
    lines.into_iter().map(|line| format!("  {line}")).collect()
}

pub(crate) fn order_confirmation(shop: &str, order: &OrderSnapshot) -> Draft {
    let mut body = vec![
        greeting(Some(&order.billing_address.name)),
        String::new(),
        format!(
            "Thank you for your order {} at {shop}. We have received your payment and are preparing your parcel.",
            order.number
        ),
        String::new(),
    ];
    body.extend(order.lines.iter().map(|line| {
        format!("  {} x {} ({}) at {}: {}", line.quantity, line.product_name, line.sku, line.unit_price, line.gross)
    }));
    let (shipping, totals) = (&order.shipping, &order.totals);
    body.push(format!("  Shipping, {} ({}): {}", shipping.name, shipping.carrier, shipping.gross));
    body.extend([
        String::new(),
        format!("Total before tax: {}", totals.net),
        format!("Tax: {}", totals.tax),
        format!("Total: {}", totals.gross),
        String::new(),
        "Shipping to:".to_string(),
    ]);
    body.extend(postal_address(&order.shipping_address));
    body.extend([String::new(), "We will write again when your order ships.".to_string()]);
    Draft::new(
        ORDER_CONFIRMATION,
        MessageKind::Transactional,
        &order.email,
        order.customer_id,
        format!("{shop}: order {} confirmed", order.number),
        format!("{}\n{}", body.join("\n"), signature(shop)),
    )
}

pub(crate) fn order_cancelled(shop: &str, cancelled: &OrderCancelled) -> Draft {
    let body = format!(
        "{}\n\nYour order {} at {shop} has been cancelled.\n\nReason: {}\n\nYou can place a new \
         order at any time; reply to this message if you have a question.\n{}",
        greeting(None),
        cancelled.number,
        cancelled.reason,
        signature(shop)
    );
    Draft::new(
        ORDER_CANCELLED,
        MessageKind::Transactional,
        &cancelled.email,
        cancelled.customer_id,
        format!("{shop}: order {} cancelled", cancelled.number),
        body,
    )
}

/// `customer_id` comes from the local order projection: the refund event does not carry it.
pub(crate) fn order_refunded(shop: &str, refund: &OrderRefunded, customer_id: Option<uuid::Uuid>) -> Draft {
    let reason = refund.reason.as_deref().map(|r| format!("\nReason: {r}\n")).unwrap_or_default();
    let body = format!(
        "{}\n\nWe have refunded {} for your order {} at {shop}. Depending on your bank, it can \
         take a few days to appear on your statement.\n{reason}{}",
        greeting(None),
        refund.amount,
        refund.number,
        signature(shop)
    );
    Draft::new(
        ORDER_REFUNDED,
        MessageKind::Transactional,
        &refund.email,
        customer_id,
        format!("{shop}: refund of {} for order {}", refund.amount, refund.number),
        body,
    )
}

pub(crate) fn shipment_shipped(shop: &str, shipment: &ShipmentEvent, order: &KnownOrder) -> Draft {
    let body = format!(
        "{}\n\nYour order {} from {shop} is on its way with {}.\n\nTracking number: {}\n\n\
         The carrier's tracking may take a few hours to show the parcel.\n{}",
        greeting(None),
        order.number,
        shipment.carrier,
        shipment.tracking_number,
        signature(shop)
    );
    Draft::new(
        SHIPMENT_SHIPPED,
        MessageKind::Transactional,
        &order.email,
        order.customer_id,
        format!("{shop}: order {} has shipped", order.number),
        body,
    )
}

pub(crate) fn low_stock(shop: &str, merchant_email: &str, low: &StockLow) -> Draft {
    let body = format!(
        "{} is running low: {} unit(s) available across all locations (alert threshold {}).\n\n\
         Receive more stock to keep selling it.\n{}",
        low.sku,
        low.available,
        low.threshold,
        signature(shop)
    );
    Draft::new(
        LOW_STOCK,
        MessageKind::Merchant,
        merchant_email,
        None,
        format!("[{shop}] Low stock: {} ({} left)", low.sku, low.available),
        body,
    )
}

pub(crate) fn webhook_disabled(shop: &str, merchant_email: &str, disabled: &SubscriptionDisabled) -> Draft {
    let body = format!(
        "The webhook subscription to {} ({}) was disabled: {}.\n\n\
         Its pending deliveries were stopped. Once the endpoint works again, re-enable the \
         subscription in the back office; failed deliveries can be sent again one by one.\n{}",
        disabled.url,
        disabled.subscription_id,
        disabled.reason,
        signature(shop)
    );
    Draft::new(
        WEBHOOK_DISABLED,
        MessageKind::Merchant,
        merchant_email,
        None,
        format!("[{shop}] Webhook disabled: {}", disabled.url),
        body,
    )
}

#[cfg(test)]
mod tests {
    use comptoir_contracts::ordering::{OrderLine, OrderTotals, ShippingChoice};
    use comptoir_kernel::{Currency, Money};
    use uuid::Uuid;

    use super::*;

    fn eur(amount: i64) -> Money {
        Money::new(amount, Currency::EUR)
    }

    fn address() -> PostalAddress {
        PostalAddress {
            name: "Ann Martin".into(),
            line1: "1 rue de Rivoli".into(),
            line2: Some("Apt 4".into()),
            city: "Paris".into(),
            postal_code: "75001".into(),
            region: None,
            country: "FR".into(),
            phone: None,
        }
    }

    fn order() -> OrderSnapshot {
        OrderSnapshot {
            order_id: Uuid::now_v7(),
            number: "CO-000042".into(),
            customer_id: Some(Uuid::now_v7()),
            email: "ann@example.com".into(),
            channel: "web".into(),
            currency: Currency::EUR,
            prices_include_tax: true,
            lines: vec![OrderLine {
                sku: "TEE-M".into(),
                product_id: Uuid::now_v7(),
                product_name: "Blue tee".into(),
                quantity: 2,
                unit_price: eur(1999),
                tax_rate: Default::default(),
                net: eur(3332),
                tax: eur(666),
                gross: eur(3998),
                weight_grams: None,
            }],
            shipping: ShippingChoice {
                method: "standard".into(),
                name: "Standard".into(),
                carrier: "Colissimo".into(),
                net: eur(408),
                tax: eur(82),
                gross: eur(490),
            },
            shipping_address: address(),
            billing_address: address(),
            totals: OrderTotals { net: eur(3740), tax: eur(748), gross: eur(4488) },
            placed_at: comptoir_kernel::time::now(),
        }
    }

    #[test]
    fn the_order_confirmation_lists_lines_totals_and_address() {
        let draft = order_confirmation("Comptoir", &order());
        assert_eq!(draft.subject, "Comptoir: order CO-000042 confirmed");
        assert_eq!((draft.kind, draft.to.as_str()), (MessageKind::Transactional, "ann@example.com"));
        for expected in [
            "Hello Ann Martin,",
            "2 x Blue tee (TEE-M) at 19.99 EUR: 39.98 EUR",
            "Shipping, Standard (Colissimo): 4.90 EUR",
            "Total: 44.88 EUR",
            "Tax: 7.48 EUR",
            "  Apt 4\n  75001 Paris\n  FR\n",
            "-- \nComptoir\n",
        ] {
            assert!(draft.body.contains(expected), "missing {expected:?} in\n{}", draft.body);
        }
    }

    #[test]
    fn the_welcome_greets_by_first_name_when_known() {
        let mut user = UserRegistered { user_id: Uuid::now_v7(), email: "ann@example.com".into(), first_name: None };
        assert!(welcome("Comptoir", &user).body.starts_with("Hello,\n"));
        user.first_name = Some("Ann".into());
        let draft = welcome("Comptoir", &user);
        assert!(draft.body.starts_with("Hello Ann,\n"));
        assert_eq!((draft.kind, draft.customer_id), (MessageKind::Marketing, Some(user.user_id)));
    }

    #[test]
    fn refunds_and_low_stock_show_their_figures() {
        let refund = OrderRefunded {
            order_id: Uuid::now_v7(),
            number: "CO-7".into(),
            email: "ann@example.com".into(),
            amount: eur(1250),
            restock: vec![],
            reservation_id: None,
            reason: None,
        };
        let draft = order_refunded("Comptoir", &refund, None);
        assert_eq!(draft.subject, "Comptoir: refund of 12.50 EUR for order CO-7");
        assert!(!draft.body.contains("Reason:"));

        let low = StockLow { sku: "TEE-M".into(), available: 2, threshold: 5 };
        let draft = low_stock("Comptoir", "Owner@Example.com", &low);
        assert_eq!((draft.to.as_str(), draft.kind), ("owner@example.com", MessageKind::Merchant));
        assert_eq!(draft.subject, "[Comptoir] Low stock: TEE-M (2 left)");
        assert!(draft.body.contains("alert threshold 5"));
    }
}
