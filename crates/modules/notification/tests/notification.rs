//! The notification module against a real database (SQLite, or PostgreSQL when
//! COMPTOIR_TEST_BACKEND=postgres), with events delivered by calling the
//! consumers' handlers directly, and a minimal SMTP server for the real delivery path.

use std::sync::{Arc, Mutex};

use comptoir_contracts::address::PostalAddress;
use comptoir_contracts::admin::ShopSettings;
use comptoir_contracts::admin::events::{self as admin, SettingsUpdated};
use comptoir_contracts::identity::events::{self as identity, UserRegistered};
use comptoir_contracts::inventory::events::{self as inventory, StockLow};
use comptoir_contracts::notification::events::{self, MessageSent, PreferencesChanged};
use comptoir_contracts::notification::{Delivery, Message, MessageFilter, MessageKind, NotificationPort};
use comptoir_contracts::ordering::events::{self as ordering, OrderCancelled, OrderPlaced, OrderRefunded};
use comptoir_contracts::ordering::{OrderLine, OrderSnapshot, OrderTotals, ShippingChoice};
use comptoir_contracts::shipping::ShipmentStatus;
use comptoir_contracts::shipping::events::{self as shipping, ShipmentEvent};
use comptoir_contracts::webhooks::events::{self as webhooks, SubscriptionDisabled};
use comptoir_kernel::{Currency, Error, EventEnvelope, Money, PageRequest, RequestContext};
use comptoir_notification::{
    MIGRATIONS, NotificationConfig, NotificationModule, ORDERS, SHIPMENTS, SHOP_NAME, STOCK_ALERTS, SmtpConfig,
    WEBHOOK_ALERTS, WELCOME, templates,
};
use comptoir_storage::{outbox, query_scalar, testing};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use uuid::Uuid;

const MERCHANT: &str = "owner@comptoir.test";

struct Shop {
    db: testing::TestDb,
    notification: NotificationModule,
}

async fn open(smtp: Option<SmtpConfig>) -> Shop {
    let db = testing::open("notification", &MIGRATIONS).await;
    let config = NotificationConfig {
        shop_name: "Comptoir".into(),
        from: "Comptoir <shop@comptoir.test>".into(),
        merchant_email: MERCHANT.into(),
        smtp,
    };
    let notification = NotificationModule::new(db.clone(), config);
    Shop { db, notification }
}

fn ctx() -> RequestContext {
    RequestContext::system()
}

fn eur(amount: i64) -> Money {
    Money::new(amount, Currency::EUR)
}

impl Shop {
    /// Hands the event to the named consumer, as the bus would.
    async fn deliver(&self, consumer: &str, event: &EventEnvelope) -> Result<(), Error> {
        let consumers = self.notification.consumers();
        let consumer = consumers.iter().find(|c| c.name == consumer).expect("a consumer of that name");
        consumer.handler.handle(event).await
    }

    async fn mailbox(&self, filter: MessageFilter) -> Vec<Message> {
        self.notification.messages(&ctx(), filter, PageRequest::new(1, 100).unwrap()).await.unwrap().items
    }

    async fn all_messages(&self) -> Vec<Message> {
        self.mailbox(MessageFilter::default()).await
    }

    async fn by_template(&self, template: &str) -> Vec<Message> {
        self.mailbox(MessageFilter { to: None, template: Some(template.into()) }).await
    }

    async fn events(&self, event_type: &str) -> Vec<EventEnvelope> {
        outbox::pending(&self.db, 1000).await.unwrap().into_iter().filter(|e| e.event_type == event_type).collect()
    }

    async fn sent(&self) -> Vec<MessageSent> {
        self.events(events::MESSAGE_SENT).await.iter().map(|e| e.data_as().unwrap()).collect()
    }

    async fn inbox_claims(&self, consumer: &str) -> i64 {
        query_scalar("SELECT COUNT(*) FROM inbox WHERE consumer = $1")
            .bind(consumer)
            .fetch_one(self.db.reader())
            .await
            .unwrap()
    }
}

fn registered(email: &str, first_name: Option<&str>) -> (Uuid, EventEnvelope) {
    let user_id = Uuid::now_v7();
    let data = UserRegistered { user_id, email: email.into(), first_name: first_name.map(String::from) };
    (user_id, EventEnvelope::new(&ctx(), "identity", identity::USER_REGISTERED, data))
}

fn address() -> PostalAddress {
    PostalAddress {
        name: "Ann Martin".into(),
        line1: "1 rue de Rivoli".into(),
        line2: None,
        city: "Paris".into(),
        postal_code: "75001".into(),
        region: None,
        country: "FR".into(),
        phone: None,
    }
}

fn snapshot(customer_id: Option<Uuid>) -> OrderSnapshot {
    OrderSnapshot {
        order_id: Uuid::now_v7(),
        number: "CO-000042".into(),
        customer_id,
        email: "ann@example.com".into(),
        channel: "web".into(),
        currency: Currency::EUR,
        prices_include_tax: true,
        lines: vec![
            OrderLine {
                sku: "TEE-M".into(),
                product_id: Uuid::now_v7(),
                product_name: "Blue tee".into(),
                quantity: 2,
                unit_price: eur(1999),
                tax_rate: Default::default(),
                net: eur(3332),
                tax: eur(666),
                gross: eur(3998),
                weight_grams: Some(200),
            },
            OrderLine {
                sku: "MUG".into(),
                product_id: Uuid::now_v7(),
                product_name: "Mug".into(),
                quantity: 1,
                unit_price: eur(1200),
                tax_rate: Default::default(),
                net: eur(1000),
                tax: eur(200),
                gross: eur(1200),
                weight_grams: Some(400),
            },
        ],
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
        totals: OrderTotals { net: eur(4740), tax: eur(948), gross: eur(5688) },
        placed_at: comptoir_kernel::time::now(),
    }
}

fn order_event(event_type: &str, order: &OrderSnapshot) -> EventEnvelope {
    let data = OrderPlaced { order: order.clone(), cart_id: None, reservation_id: None, payment_id: None };
    EventEnvelope::new(&ctx(), "ordering", event_type, data)
}

fn shipped(order: &OrderSnapshot) -> EventEnvelope {
    let data = ShipmentEvent {
        shipment_id: Uuid::now_v7(),
        order_id: order.order_id,
        order_number: order.number.clone(),
        carrier: "Colissimo".into(),
        tracking_number: "6A12345678901".into(),
        status: ShipmentStatus::Shipped,
    };
    EventEnvelope::new(&ctx(), "shipping", shipping::SHIPMENT_SHIPPED, data)
}

fn stock_low(sku: &str, available: i64) -> EventEnvelope {
    let data = StockLow { sku: sku.into(), available, threshold: 5 };
    EventEnvelope::new(&ctx(), "inventory", inventory::STOCK_LOW, data)
}

#[tokio::test]
async fn a_new_customer_is_welcomed_once() {
    let shop = open(None).await;
    let (user_id, event) = registered("Ann@Example.com", Some("Ann"));
    shop.deliver(WELCOME, &event).await.unwrap();

    let messages = shop.all_messages().await;
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!((m.to.as_str(), m.template.as_str()), ("ann@example.com", templates::WELCOME));
    assert_eq!((m.kind, m.delivery, m.error.as_deref()), (MessageKind::Marketing, Delivery::Mailbox, None));
    assert_eq!((m.event_id, m.customer_id), (event.id, Some(user_id)));
    assert_eq!(m.subject, "Welcome to Comptoir");
    assert!(m.body.starts_with("Hello Ann,") && m.body.contains("Welcome to Comptoir!"), "{}", m.body);

    let sent = shop.sent().await;
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].message_id, sent[0].delivery, sent[0].event_id), (m.id, Delivery::Mailbox, event.id));

    // The bus may deliver the same event again: nothing new is written or announced.
    shop.deliver(WELCOME, &event).await.unwrap();
    assert_eq!(shop.all_messages().await.len(), 1);
    assert_eq!(shop.sent().await.len(), 1);
    assert_eq!(shop.inbox_claims(WELCOME).await, 1);
}

#[tokio::test]
async fn orders_are_confirmed_cancelled_and_refunded_to_the_customer() {
    let shop = open(None).await;
    let customer_id = Uuid::now_v7();
    let order = snapshot(Some(customer_id));

    // A placed order is only remembered: the customer hears when checkout completes.
    shop.deliver(ORDERS, &order_event(ordering::ORDER_PLACED, &order)).await.unwrap();
    assert!(shop.all_messages().await.is_empty());

    let completed = order_event(ordering::CHECKOUT_COMPLETED, &order);
    shop.deliver(ORDERS, &completed).await.unwrap();
    shop.deliver(ORDERS, &completed).await.unwrap();
    let confirmations = shop.by_template(templates::ORDER_CONFIRMATION).await;
    assert_eq!(confirmations.len(), 1, "a redelivered checkout is confirmed once");
    let m = &confirmations[0];
    assert_eq!(
        (m.to.as_str(), m.kind, m.customer_id),
        ("ann@example.com", MessageKind::Transactional, Some(customer_id))
    );
    assert_eq!(m.subject, "Comptoir: order CO-000042 confirmed");
    for expected in [
        "Thank you for your order CO-000042 at Comptoir",
        "2 x Blue tee (TEE-M) at 19.99 EUR: 39.98 EUR",
        "1 x Mug (MUG) at 12.00 EUR: 12.00 EUR",
        "Shipping, Standard (Colissimo): 4.90 EUR",
        "Total before tax: 47.40 EUR",
        "Tax: 9.48 EUR",
        "Total: 56.88 EUR",
        "  1 rue de Rivoli\n  75001 Paris\n  FR\n",
    ] {
        assert!(m.body.contains(expected), "missing {expected:?} in\n{}", m.body);
    }

    let cancelled = OrderCancelled {
        order_id: order.order_id,
        number: order.number.clone(),
        email: order.email.clone(),
        customer_id: Some(customer_id),
        reason: "payment declined: insufficient funds".into(),
        reservation_id: None,
        before_confirmation: true,
    };
    shop.deliver(ORDERS, &EventEnvelope::new(&ctx(), "ordering", ordering::ORDER_CANCELLED, cancelled)).await.unwrap();
    let m = &shop.by_template(templates::ORDER_CANCELLED).await[0];
    assert_eq!((m.to.as_str(), m.subject.as_str()), ("ann@example.com", "Comptoir: order CO-000042 cancelled"));
    assert!(m.body.contains("Reason: payment declined: insufficient funds"), "{}", m.body);

    let refunded = OrderRefunded {
        order_id: order.order_id,
        number: order.number.clone(),
        email: order.email.clone(),
        amount: eur(1200),
        restock: vec![],
        reservation_id: None,
        reason: Some("mug arrived broken".into()),
    };
    shop.deliver(ORDERS, &EventEnvelope::new(&ctx(), "ordering", ordering::ORDER_REFUNDED, refunded)).await.unwrap();
    let m = &shop.by_template(templates::ORDER_REFUNDED).await[0];
    assert_eq!(m.subject, "Comptoir: refund of 12.00 EUR for order CO-000042");
    assert!(m.body.contains("We have refunded 12.00 EUR") && m.body.contains("mug arrived broken"), "{}", m.body);
    assert_eq!(m.customer_id, Some(customer_id), "the refund's customer comes from the remembered order");

    assert_eq!(shop.all_messages().await.len(), 3);
    assert_eq!(shop.sent().await.len(), 3);
}

fn shop_renamed(name: &str, version: i64) -> EventEnvelope {
    let settings = ShopSettings {
        shop_name: name.into(),
        default_channel: "online".into(),
        default_currency: "EUR".into(),
        maintenance_mode: false,
        maintenance_message: String::new(),
        maintenance_retry_after_secs: 300,
        version,
        updated_at: comptoir_kernel::time::now(),
        updated_by: Some("staff-1".into()),
    };
    let data = SettingsUpdated { settings, changed: vec!["shop_name".into()] };
    EventEnvelope::new(&ctx(), "admin", admin::SETTINGS_UPDATED, data)
}

#[tokio::test]
async fn messages_are_signed_with_the_name_staff_last_gave_the_shop() {
    let shop = open(None).await;
    shop.deliver(SHOP_NAME, &shop_renamed("Chez Ann", 3)).await.unwrap();
    // An older change arriving late does not bring the old name back.
    shop.deliver(SHOP_NAME, &shop_renamed("Old Name", 2)).await.unwrap();
    let (_, event) = registered("bob@example.com", Some("Bob"));
    shop.deliver(WELCOME, &event).await.unwrap();
    let messages = shop.all_messages().await;
    assert_eq!(messages[0].subject, "Welcome to Chez Ann");

    shop.deliver(SHOP_NAME, &shop_renamed("Chez Bob", 4)).await.unwrap();
    shop.deliver(
        STOCK_ALERTS,
        &EventEnvelope::new(
            &ctx(),
            "inventory",
            inventory::STOCK_LOW,
            StockLow { sku: "MUG".into(), available: 1, threshold: 5 },
        ),
    )
    .await
    .unwrap();
    let alert = &shop.all_messages().await[0];
    assert!(alert.subject.contains("Chez Bob"), "{}", alert.subject);
}

#[tokio::test]
async fn opting_out_suppresses_the_welcome_but_not_an_order_confirmation() {
    let shop = open(None).await;
    let (user_id, welcome) = registered("ann@example.com", None);

    let prefs = shop.notification.preferences(&ctx(), user_id).await.unwrap();
    assert!(!prefs.marketing_opt_out, "customers are opted in until they say otherwise");
    let prefs = shop.notification.set_marketing_opt_out(&ctx(), user_id, true).await.unwrap();
    assert!(prefs.marketing_opt_out);
    assert!(shop.notification.preferences(&ctx(), user_id).await.unwrap().marketing_opt_out);

    shop.deliver(WELCOME, &welcome).await.unwrap();
    let m = &shop.by_template(templates::WELCOME).await[0];
    assert_eq!((m.delivery, m.customer_id), (Delivery::Suppressed, Some(user_id)));
    assert!(shop.sent().await.is_empty(), "a suppressed message is not announced as sent");

    shop.deliver(ORDERS, &order_event(ordering::CHECKOUT_COMPLETED, &snapshot(Some(user_id)))).await.unwrap();
    let m = &shop.by_template(templates::ORDER_CONFIRMATION).await[0];
    assert_eq!(m.delivery, Delivery::Mailbox, "messages about the customer's own orders are always sent");

    // Only real changes are announced.
    shop.notification.set_marketing_opt_out(&ctx(), user_id, true).await.unwrap();
    shop.notification.set_marketing_opt_out(&ctx(), user_id, false).await.unwrap();
    let changes: Vec<PreferencesChanged> =
        shop.events(events::PREFERENCES_CHANGED).await.iter().map(|e| e.data_as().unwrap()).collect();
    let changes: Vec<_> = changes.iter().map(|c| (c.customer_id, c.marketing_opt_out)).collect();
    assert_eq!(changes, [(user_id, true), (user_id, false)]);
    assert!(!shop.notification.preferences(&ctx(), user_id).await.unwrap().marketing_opt_out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_opt_out_asked_concurrently_is_announced_once() {
    let shop = open(None).await;
    let user_id = Uuid::now_v7();
    let requests = (0..8).map(|_| {
        let notification = shop.notification.clone();
        tokio::spawn(async move { notification.set_marketing_opt_out(&ctx(), user_id, true).await })
    });
    for request in requests.collect::<Vec<_>>() {
        assert!(request.await.unwrap().unwrap().marketing_opt_out);
    }
    assert_eq!(shop.events(events::PREFERENCES_CHANGED).await.len(), 1);
    assert!(shop.notification.preferences(&ctx(), user_id).await.unwrap().marketing_opt_out);
}

#[tokio::test]
async fn a_shipment_waits_for_its_order_to_be_known() {
    let shop = open(None).await;
    let order = snapshot(None);
    let event = shipped(&order);

    let e = shop.deliver(SHIPMENTS, &event).await.unwrap_err();
    assert!(matches!(e, Error::Unavailable(_)), "{e:?}");
    assert!(shop.all_messages().await.is_empty());
    assert_eq!(shop.inbox_claims(SHIPMENTS).await, 0, "the failed attempt left no claim, so a retry is handled");

    shop.deliver(ORDERS, &order_event(ordering::ORDER_PLACED, &order)).await.unwrap();
    shop.deliver(SHIPMENTS, &event).await.unwrap();
    shop.deliver(SHIPMENTS, &event).await.unwrap();

    let messages = shop.by_template(templates::SHIPMENT_SHIPPED).await;
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!((m.to.as_str(), m.kind, m.customer_id), ("ann@example.com", MessageKind::Transactional, None));
    assert_eq!(m.subject, "Comptoir: order CO-000042 has shipped");
    assert!(m.body.contains("with Colissimo") && m.body.contains("Tracking number: 6A12345678901"), "{}", m.body);
}

#[tokio::test]
async fn low_stock_alerts_go_to_the_merchant() {
    let shop = open(None).await;
    let event = stock_low("TEE-M", 2);
    shop.deliver(STOCK_ALERTS, &event).await.unwrap();
    shop.deliver(STOCK_ALERTS, &event).await.unwrap();

    let messages = shop.all_messages().await;
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!((m.to.as_str(), m.template.as_str()), (MERCHANT, templates::LOW_STOCK));
    assert_eq!((m.kind, m.delivery, m.customer_id), (MessageKind::Merchant, Delivery::Mailbox, None));
    assert_eq!(m.subject, "[Comptoir] Low stock: TEE-M (2 left)");
    assert!(m.body.contains("2 unit(s) available") && m.body.contains("alert threshold 5"), "{}", m.body);
}

#[tokio::test]
async fn a_disabled_webhook_is_reported_to_the_merchant_once() {
    let shop = open(None).await;
    let data = SubscriptionDisabled {
        subscription_id: Uuid::now_v7(),
        url: "https://erp.example.com/hooks".into(),
        reason: "20 consecutive failed delivery attempts".into(),
        failures: 20,
        failing_since: None,
    };
    let event = EventEnvelope::new(&ctx(), "webhooks", webhooks::SUBSCRIPTION_DISABLED, data.clone());
    shop.deliver(WEBHOOK_ALERTS, &event).await.unwrap();
    shop.deliver(WEBHOOK_ALERTS, &event).await.unwrap();

    let messages = shop.by_template(templates::WEBHOOK_DISABLED).await;
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!((m.to.as_str(), m.kind, m.delivery), (MERCHANT, MessageKind::Merchant, Delivery::Mailbox));
    assert_eq!(m.subject, "[Comptoir] Webhook disabled: https://erp.example.com/hooks");
    assert!(m.body.contains("20 consecutive failed delivery attempts"), "{}", m.body);
    assert!(m.body.contains(&data.subscription_id.to_string()), "{}", m.body);
}

#[tokio::test]
async fn the_mailbox_lists_newest_first_with_filters() {
    let shop = open(None).await;
    let (_, ann) = registered("ann@example.com", None);
    let (_, bob) = registered("bob@example.com", None);
    shop.deliver(WELCOME, &ann).await.unwrap();
    shop.deliver(STOCK_ALERTS, &stock_low("MUG", 1)).await.unwrap();
    shop.deliver(WELCOME, &bob).await.unwrap();

    let all = shop.all_messages().await;
    let recipients: Vec<_> = all.iter().map(|m| m.to.as_str()).collect();
    assert_eq!(recipients, ["bob@example.com", MERCHANT, "ann@example.com"]);

    let to_ann = shop.mailbox(MessageFilter { to: Some(" ANN@example.com ".into()), template: None }).await;
    assert_eq!(to_ann.len(), 1);
    assert_eq!(to_ann[0].event_id, ann.id);
    assert_eq!(shop.by_template(templates::WELCOME).await.len(), 2);
    assert!(shop.by_template(templates::ORDER_REFUNDED).await.is_empty());

    let page = shop.notification.messages(&ctx(), MessageFilter::default(), PageRequest::new(2, 2).unwrap()).await;
    let page = page.unwrap();
    assert_eq!((page.total, page.items.len()), (3, 1));
    assert_eq!(page.items[0].to, "ann@example.com");

    let filter = MessageFilter { to: None, template: Some("newsletter".into()) };
    let e = shop.notification.messages(&ctx(), filter, PageRequest::default()).await.unwrap_err();
    assert_eq!((e.status(), e.field_errors()[0].field.as_str()), (422, "template"));
    let bad_page = PageRequest { page: 0, per_page: 20 };
    let e = shop.notification.messages(&ctx(), MessageFilter::default(), bad_page).await.unwrap_err();
    assert_eq!(e.field_errors()[0].field, "page");
}

#[tokio::test]
async fn an_event_with_unexpected_data_is_refused_without_a_trace() {
    let shop = open(None).await;
    let event = EventEnvelope::new(&ctx(), "identity", identity::USER_REGISTERED, serde_json::json!({"nope": 1}));
    let e = shop.deliver(WELCOME, &event).await.unwrap_err();
    assert!(e.is_internal(), "{e:?}");
    assert!(shop.all_messages().await.is_empty());
    assert_eq!(shop.inbox_claims(WELCOME).await, 0);
}

// ---- SMTP ----------------------------------------------------------------------------------

/// A minimal SMTP server on 127.0.0.1: enough of the protocol for one client at a time. It keeps
/// each received message (envelope commands and data) as one text.
struct FakeSmtp {
    port: u16,
    received: Arc<Mutex<Vec<String>>>,
    server: tokio::task::JoinHandle<()>,
}

impl FakeSmtp {
    async fn start(reject_recipients: bool) -> FakeSmtp {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let kept = received.clone();
        let server = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                // One session at a time is all a test needs; a broken session only ends itself.
                let _ = smtp_session(socket, &kept, reject_recipients).await;
            }
        });
        FakeSmtp { port, received, server }
    }

    fn config(&self) -> SmtpConfig {
        SmtpConfig { host: "127.0.0.1".into(), port: self.port, username: None, password: None }
    }

    fn received(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }

    /// Stops listening: the port refuses connections from now on.
    async fn stop(self) {
        self.server.abort();
        let _ = self.server.await;
    }
}

async fn smtp_session(socket: TcpStream, kept: &Mutex<Vec<String>>, reject_recipients: bool) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut reader = BufReader::new(read);
    write.write_all(b"220 fake.smtp ESMTP ready\r\n").await?;
    let mut transcript = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_ascii_uppercase();
        let reply: &[u8] = if command.starts_with("EHLO") || command.starts_with("HELO") {
            b"250 fake.smtp\r\n"
        } else if command.starts_with("RCPT") && reject_recipients {
            b"550 5.1.1 no such mailbox\r\n"
        } else if command.starts_with("MAIL") || command.starts_with("RCPT") {
            transcript.push_str(&line);
            b"250 OK\r\n"
        } else if command == "DATA" {
            write.write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n").await?;
            let mut data = String::new();
            while !data.ends_with("\r\n.\r\n") {
                if reader.read_line(&mut data).await? == 0 {
                    return Ok(());
                }
            }
            transcript.push_str(&data);
            kept.lock().unwrap().push(std::mem::take(&mut transcript));
            b"250 OK queued\r\n"
        } else if command == "QUIT" {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else if command == "RSET" || command == "NOOP" {
            b"250 OK\r\n"
        } else {
            b"502 command not implemented\r\n"
        };
        write.write_all(reply).await?;
    }
}

#[tokio::test]
async fn messages_are_sent_by_smtp_and_failures_are_kept_for_staff() {
    let server = FakeSmtp::start(false).await;
    let shop = open(Some(server.config())).await;

    let (_, welcome) = registered("ann@example.com", Some("Ann"));
    shop.deliver(WELCOME, &welcome).await.unwrap();
    let received = server.received();
    assert_eq!(received.len(), 1);
    let mail = &received[0];
    for expected in [
        "MAIL FROM:<shop@comptoir.test>",
        "RCPT TO:<ann@example.com>",
        "Subject: Welcome to Comptoir\r\n",
        "From: Comptoir <shop@comptoir.test>\r\n",
        "To: ann@example.com\r\n",
        "Hello Ann,",
    ] {
        assert!(mail.contains(expected), "missing {expected:?} in\n{mail}");
    }
    let m = &shop.all_messages().await[0];
    assert_eq!((m.delivery, m.error.as_deref()), (Delivery::Smtp, None));
    assert!(mail.contains(&format!("Message-ID: <{}@comptoir.test>", m.id)), "{mail}");
    let sent = shop.sent().await;
    assert_eq!((sent.len(), sent[0].delivery), (1, Delivery::Smtp));

    // Accented names are encoded for a server that only speaks 7-bit.
    let mut order = snapshot(None);
    order.lines[0].product_name = "Café crème".into();
    shop.deliver(ORDERS, &order_event(ordering::CHECKOUT_COMPLETED, &order)).await.unwrap();
    let m = &shop.by_template(templates::ORDER_CONFIRMATION).await[0];
    assert_eq!((m.delivery, m.error.as_deref()), (Delivery::Smtp, None));
    let received = server.received();
    assert_eq!(received.len(), 2);
    assert!(received[1].is_ascii() && received[1].contains("Subject: Comptoir: order CO-000042 confirmed"));

    // With the server gone, the handler still succeeds: the message is kept, marked failed.
    server.stop().await;
    shop.deliver(STOCK_ALERTS, &stock_low("TEE-M", 1)).await.unwrap();
    let m = &shop.by_template(templates::LOW_STOCK).await[0];
    assert_eq!(m.delivery, Delivery::Failed);
    assert!(m.error.as_deref().is_some_and(|e| e.starts_with("SMTP delivery failed")), "{:?}", m.error);
    assert_eq!(shop.sent().await.len(), 2, "a failed message is not announced as sent");
    assert_eq!(shop.inbox_claims(STOCK_ALERTS).await, 1);
}

#[tokio::test]
async fn a_refused_recipient_is_recorded_with_the_servers_answer() {
    let server = FakeSmtp::start(true).await;
    let shop = open(Some(server.config())).await;
    shop.deliver(ORDERS, &order_event(ordering::CHECKOUT_COMPLETED, &snapshot(None))).await.unwrap();

    let m = &shop.all_messages().await[0];
    assert_eq!(m.delivery, Delivery::Failed);
    assert!(m.error.as_deref().is_some_and(|e| e.contains("no such mailbox")), "{:?}", m.error);
    assert!(server.received().is_empty());

    // Suppressed messages never reach the server at all.
    let (user_id, welcome) = registered("bob@example.com", None);
    shop.notification.set_marketing_opt_out(&ctx(), user_id, true).await.unwrap();
    shop.deliver(WELCOME, &welcome).await.unwrap();
    let m = &shop.by_template(templates::WELCOME).await[0];
    assert_eq!((m.delivery, m.error.as_deref()), (Delivery::Suppressed, None));
    server.stop().await;
}
