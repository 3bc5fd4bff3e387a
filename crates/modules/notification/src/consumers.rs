//! The events notification writes messages for. Each handler claims the event in its inbox, stores
//! what it learnt and the message in the same unit of work, commits, and only then sends by SMTP.

use async_trait::async_trait;
use comptoir_contracts::admin::events::SettingsUpdated;
use comptoir_contracts::identity::events::UserRegistered;
use comptoir_contracts::inventory::events::StockLow;
use comptoir_contracts::ordering::events::{self as ordering, OrderCancelled, OrderPlaced, OrderRefunded};
use comptoir_contracts::shipping::events::ShipmentEvent;
use comptoir_contracts::webhooks::events::SubscriptionDisabled;
use comptoir_eventbus::EventHandler;
use comptoir_kernel::{Error, EventEnvelope, Result};

use crate::domain::KnownOrder;
use crate::{NotificationModule, store, templates};

pub const WELCOME: &str = "notification.welcome";
pub const ORDERS: &str = "notification.orders";
pub const SHIPMENTS: &str = "notification.shipments";
pub const STOCK_ALERTS: &str = "notification.stock-alerts";
pub const SHOP_NAME: &str = "notification.shop";
pub const WEBHOOK_ALERTS: &str = "notification.webhook-alerts";

/// Welcomes a newly registered customer (a marketing message: opting out suppresses it).
pub struct Welcome {
    pub(crate) module: NotificationModule,
}

#[async_trait]
impl EventHandler for Welcome {
    async fn handle(&self, event: &EventEnvelope) -> Result<()> {
        let user: UserRegistered = event.data_as()?;
        let mut uow = self.module.db.begin().await?;
        if !uow.claim_inbox(WELCOME, event.id).await? {
            return Ok(());
        }
        let draft = templates::welcome(&self.module.shop_name(&mut uow).await?, &user);
        self.module.deliver(uow, event, draft).await
    }
}

/// Confirms, cancels and refunds orders to the customer, and remembers each order's addressee for
/// the shipping messages.
pub struct Orders {
    pub(crate) module: NotificationModule,
}

impl Orders {
    async fn handle_placed(&self, event: &EventEnvelope, completed: bool) -> Result<()> {
        let placed: OrderPlaced = event.data_as()?;
        let order = &placed.order;
        let mut uow = self.module.db.begin().await?;
        if !uow.claim_inbox(ORDERS, event.id).await? {
            return Ok(());
        }
        let known = KnownOrder {
            order_id: order.order_id,
            number: order.number.clone(),
            email: order.email.clone(),
            customer_id: order.customer_id,
        };
        store::upsert_order(&mut uow, &known).await?;
        if !completed {
            // A placed order is not confirmed yet: the customer hears when checkout completes.
            return uow.commit().await;
        }
        let draft = templates::order_confirmation(&self.module.shop_name(&mut uow).await?, order);
        self.module.deliver(uow, event, draft).await
    }

    async fn handle_cancelled(&self, event: &EventEnvelope) -> Result<()> {
        let cancelled: OrderCancelled = event.data_as()?;
        let mut uow = self.module.db.begin().await?;
        if !uow.claim_inbox(ORDERS, event.id).await? {
            return Ok(());
        }
        let draft = templates::order_cancelled(&self.module.shop_name(&mut uow).await?, &cancelled);
        self.module.deliver(uow, event, draft).await
    }

    async fn handle_refunded(&self, event: &EventEnvelope) -> Result<()> {
        let refund: OrderRefunded = event.data_as()?;
        let mut uow = self.module.db.begin().await?;
        if !uow.claim_inbox(ORDERS, event.id).await? {
            return Ok(());
        }
        // The refund is addressed by its own email; the customer id, for the mailbox, is ours.
        let customer_id = store::order(&mut uow, refund.order_id).await?.and_then(|o| o.customer_id);
        let draft = templates::order_refunded(&self.module.shop_name(&mut uow).await?, &refund, customer_id);
        self.module.deliver(uow, event, draft).await
    }
}

#[async_trait]
impl EventHandler for Orders {
    async fn handle(&self, event: &EventEnvelope) -> Result<()> {
        match event.event_type.as_str() {
            ordering::ORDER_PLACED => self.handle_placed(event, false).await,
            ordering::CHECKOUT_COMPLETED => self.handle_placed(event, true).await,
            ordering::ORDER_CANCELLED => self.handle_cancelled(event).await,
            ordering::ORDER_REFUNDED => self.handle_refunded(event).await,
            _ => Ok(()),
        }
    }
}

/// Tells the customer their order has shipped, with the carrier and tracking number.
pub struct Shipments {
    pub(crate) module: NotificationModule,
}

#[async_trait]
impl EventHandler for Shipments {
    async fn handle(&self, event: &EventEnvelope) -> Result<()> {
        let shipment: ShipmentEvent = event.data_as()?;
        let mut uow = self.module.db.begin().await?;
        if !uow.claim_inbox(SHIPMENTS, event.id).await? {
            return Ok(());
        }
        // The shipment names no addressee. If the order's own event has not been handled yet, fail
        // (rolling back the claim) so that the bus retries once it has.
        let Some(order) = store::order(&mut uow, shipment.order_id).await? else {
            return Err(Error::unavailable(format!(
                "order {} ({}) is not known to notification yet; waiting for its order event",
                shipment.order_number, shipment.order_id
            )));
        };
        let draft = templates::shipment_shipped(&self.module.shop_name(&mut uow).await?, &shipment, &order);
        self.module.deliver(uow, event, draft).await
    }
}

/// Alerts the merchant when a SKU's available stock falls to its threshold.
pub struct StockAlerts {
    pub(crate) module: NotificationModule,
}

#[async_trait]
impl EventHandler for StockAlerts {
    async fn handle(&self, event: &EventEnvelope) -> Result<()> {
        let low: StockLow = event.data_as()?;
        let mut uow = self.module.db.begin().await?;
        if !uow.claim_inbox(STOCK_ALERTS, event.id).await? {
            return Ok(());
        }
        let draft = templates::low_stock(&self.module.shop_name(&mut uow).await?, self.module.merchant_email(), &low);
        self.module.deliver(uow, event, draft).await
    }
}

/// Tells the merchant a webhook subscription was disabled because its endpoint kept failing.
pub struct WebhookAlerts {
    pub(crate) module: NotificationModule,
}

#[async_trait]
impl EventHandler for WebhookAlerts {
    async fn handle(&self, event: &EventEnvelope) -> Result<()> {
        let disabled: SubscriptionDisabled = event.data_as()?;
        let mut uow = self.module.db.begin().await?;
        if !uow.claim_inbox(WEBHOOK_ALERTS, event.id).await? {
            return Ok(());
        }
        let shop = self.module.shop_name(&mut uow).await?;
        let draft = templates::webhook_disabled(&shop, self.module.merchant_email(), &disabled);
        self.module.deliver(uow, event, draft).await
    }
}

/// Keeps the shop's name as staff set it in the admin settings, to sign the next messages with.
pub struct ShopName {
    pub(crate) module: NotificationModule,
}

#[async_trait]
impl EventHandler for ShopName {
    async fn handle(&self, event: &EventEnvelope) -> Result<()> {
        let updated: SettingsUpdated = event.data_as()?;
        let mut uow = self.module.db.begin().await?;
        if !uow.claim_inbox(SHOP_NAME, event.id).await? {
            return Ok(());
        }
        store::set_shop_name(&mut uow, &updated.settings.shop_name, updated.settings.version).await?;
        uow.commit().await
    }
}
