//! The billing module against a real database (SQLite, or PostgreSQL when
//! COMPTOIR_TEST_BACKEND=postgres). Events from ordering and payment are
//! delivered by calling the consumers' handlers directly.
//!
//! PDF checks parse the document back with printpdf's own parser (`PdfDocument::parse` and
//! `extract_text`), which inflates the compressed content streams: no external tool is needed.

use std::str::FromStr;

use chrono::{Datelike, Utc};
use comptoir_billing::{
    BillingConfig, BillingModule, CANCELLATIONS, CREDIT_NOTES, INVOICE_DRAFTS, INVOICE_ISSUE, MIGRATIONS,
};
use comptoir_contracts::address::PostalAddress;
use comptoir_contracts::billing::events::{self, CreditNoteIssued, InvoiceEvent};
use comptoir_contracts::billing::{
    BillingPort, ChannelTaxMode, InvoiceStatus, NewTaxRule, Party, TaxBreakdown, TaxRequest, TaxableLine,
};
use comptoir_contracts::ordering::events::{self as ordering, OrderCancelled, OrderPlaced};
use comptoir_contracts::ordering::{OrderLine, OrderSnapshot, OrderTotals, ShippingChoice};
use comptoir_contracts::payment::events::{self as payment, RefundCompleted};
use comptoir_kernel::{Currency, Error, EventEnvelope, Money, PageRequest, RequestContext};
use comptoir_storage::outbox;
use comptoir_storage::testing::{self, TestDb};
use rust_decimal::Decimal;
use uuid::Uuid;

struct Shop {
    db: TestDb,
    billing: BillingModule,
}

fn seller() -> Party {
    Party {
        name: "Comptoir Paris".into(),
        email: Some("billing@comptoir.example".into()),
        address: Some(address("Comptoir Paris", "FR", None)),
    }
}

async fn open() -> Shop {
    let db = testing::open("billing", &MIGRATIONS).await;
    let billing = BillingModule::new(db.db.clone(), BillingConfig { seller: seller() });
    Shop { db, billing }
}

fn ctx() -> RequestContext {
    RequestContext::system()
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn eur(amount: i64) -> Money {
    Money::new(amount, Currency::EUR)
}

fn year() -> i32 {
    Utc::now().year()
}

fn address(name: &str, country: &str, region: Option<&str>) -> PostalAddress {
    PostalAddress {
        name: name.into(),
        line1: "12 rue des Martyrs".into(),
        line2: None,
        city: "Paris".into(),
        postal_code: "75009".into(),
        region: region.map(Into::into),
        country: country.into(),
        phone: None,
    }
}

/// Net of a gross price at 20 % included, rounded half away from zero: gross × 5/6.
fn net_of(gross: i64) -> i64 {
    (gross * 10 + 6) / 12
}

/// An order at 20 % VAT, prices tax included: `(name, quantity, unit price)` lines and shipping.
fn order_of(number: &str, lines: &[(&str, i64, i64)], shipping: i64) -> OrderSnapshot {
    let lines: Vec<OrderLine> = lines
        .iter()
        .enumerate()
        .map(|(i, (name, quantity, unit))| {
            let gross = unit * quantity;
            OrderLine {
                sku: format!("SKU-{i}"),
                product_id: Uuid::now_v7(),
                product_name: name.to_string(),
                quantity: *quantity,
                unit_price: eur(*unit),
                tax_rate: dec("0.20"),
                net: eur(net_of(gross)),
                tax: eur(gross - net_of(gross)),
                gross: eur(gross),
                weight_grams: Some(200),
            }
        })
        .collect();
    let shipping = ShippingChoice {
        method: "standard".into(),
        name: "Standard delivery".into(),
        carrier: "La Poste".into(),
        net: eur(net_of(shipping)),
        tax: eur(shipping - net_of(shipping)),
        gross: eur(shipping),
    };
    let sum = |f: fn(&OrderLine) -> i64| lines.iter().map(f).sum::<i64>();
    let totals = OrderTotals {
        net: eur(sum(|l| l.net.amount) + shipping.net.amount),
        tax: eur(sum(|l| l.tax.amount) + shipping.tax.amount),
        gross: eur(sum(|l| l.gross.amount) + shipping.gross.amount),
    };
    OrderSnapshot {
        order_id: Uuid::now_v7(),
        number: number.into(),
        customer_id: Some(Uuid::now_v7()),
        email: "ann@example.com".into(),
        channel: "online".into(),
        currency: Currency::EUR,
        prices_include_tax: true,
        lines,
        shipping,
        shipping_address: address("Ann Martin", "FR", None),
        billing_address: address("Ann Martin", "FR", None),
        totals,
        placed_at: Utc::now(),
    }
}

/// Two tees at 25.00 and 4.99 shipping: 54.99 in all, of which 9.16 VAT.
fn tee_order() -> OrderSnapshot {
    order_of("CO-000001", &[("Organic cotton tee", 2, 2500)], 499)
}

fn order_event(event_type: &str, order: &OrderSnapshot) -> EventEnvelope {
    let data = OrderPlaced { order: order.clone(), cart_id: None, reservation_id: None, payment_id: None };
    EventEnvelope::new(&ctx(), "ordering", event_type, data)
}

fn refund_event(order: &OrderSnapshot, refund_id: Uuid, amount: i64) -> EventEnvelope {
    let data = RefundCompleted {
        payment_id: Uuid::nil(),
        order_id: order.order_id,
        refund_id,
        amount: eur(amount),
        fully_refunded: false,
    };
    EventEnvelope::new(&ctx(), "payment", payment::REFUND_COMPLETED, data)
}

impl Shop {
    async fn deliver(&self, consumer: &str, event: &EventEnvelope) -> Result<(), Error> {
        let consumers = self.billing.consumers();
        let c = consumers.iter().find(|c| c.name == consumer).expect("consumer exists");
        c.handler.handle(event).await
    }

    async fn place(&self, order: &OrderSnapshot) {
        self.deliver(INVOICE_DRAFTS, &order_event(ordering::ORDER_PLACED, order)).await.unwrap();
    }

    async fn complete(&self, order: &OrderSnapshot) {
        self.deliver(INVOICE_ISSUE, &order_event(ordering::CHECKOUT_COMPLETED, order)).await.unwrap();
    }

    async fn rule(&self, country: &str, region: Option<&str>, rate: &str, label: &str) {
        let input = NewTaxRule {
            country: country.into(),
            region: region.map(Into::into),
            rate: dec(rate),
            label: label.into(),
        };
        self.billing.create_tax_rule(&ctx(), input).await.unwrap();
    }

    async fn tax(
        &self,
        channel: &str,
        country: &str,
        region: Option<&str>,
        lines: &[i64],
        shipping: i64,
    ) -> TaxBreakdown {
        let request = TaxRequest {
            channel: channel.into(),
            currency: Currency::EUR,
            destination: address("Ann", country, region),
            lines: lines
                .iter()
                .enumerate()
                .map(|(i, unit)| TaxableLine { sku: format!("SKU-{i}"), quantity: 1, unit_price: eur(*unit) })
                .collect(),
            shipping: eur(shipping),
        };
        self.billing.compute_tax(&ctx(), request).await.unwrap()
    }

    async fn events(&self, event_type: &str) -> Vec<EventEnvelope> {
        let all = outbox::pending(&self.db, 10_000).await.unwrap();
        all.into_iter().filter(|e| e.event_type == event_type).collect()
    }
}

fn amounts(b: &TaxBreakdown) -> Vec<(i64, i64, i64)> {
    b.lines.iter().chain([&b.shipping]).map(|l| (l.net.amount, l.tax.amount, l.gross.amount)).collect()
}

fn assert_adds_up(b: &TaxBreakdown) {
    for (net, tax, gross) in amounts(b) {
        assert_eq!(net + tax, gross);
    }
    let sum = |f: fn(&(i64, i64, i64)) -> i64| amounts(b).iter().map(f).sum::<i64>();
    assert_eq!((b.net.amount, b.tax.amount, b.gross.amount), (sum(|a| a.0), sum(|a| a.1), sum(|a| a.2)));
    assert_eq!(b.net.amount + b.tax.amount, b.gross.amount);
    let summary_tax: i64 = b.summary.iter().map(|s| s.tax.amount).sum();
    let summary_base: i64 = b.summary.iter().map(|s| s.base.amount).sum();
    assert_eq!((summary_base, summary_tax), (b.net.amount, b.tax.amount));
}

fn pdf_text(bytes: &[u8]) -> String {
    let doc = printpdf::PdfDocument::parse(bytes, &printpdf::PdfParseOptions::default(), &mut Vec::new())
        .expect("the PDF parses");
    doc.extract_text().into_iter().flatten().collect::<Vec<_>>().join("\n")
}

fn pdf_pages(bytes: &[u8]) -> usize {
    printpdf::PdfDocument::parse(bytes, &printpdf::PdfParseOptions::default(), &mut Vec::new()).unwrap().pages.len()
}

// ---- Tax --------------------------------------------------------------------------------------

#[tokio::test]
async fn prices_including_tax_are_split_and_rounded_per_line() {
    let shop = open().await;
    shop.rule("FR", None, "0.2", "TVA 20%").await;
    // 9.99 / 1.2 = 8.325 → 8.33 (half away from zero); 10.00 → 8.33; 4.99 → 4.16.
    let b = shop.tax("online", "FR", None, &[999, 1000, 1], 499).await;
    assert!(b.prices_include_tax, "online shows prices tax included by default");
    assert_eq!(amounts(&b), [(833, 166, 999), (833, 167, 1000), (1, 0, 1), (416, 83, 499)]);
    assert_eq!((b.net.amount, b.tax.amount, b.gross.amount), (2083, 416, 2499));
    assert_eq!(b.summary.len(), 1);
    assert_eq!((b.summary[0].label.as_str(), b.summary[0].rate), ("TVA 20%", dec("0.2")));
    assert_adds_up(&b);
}

#[tokio::test]
async fn prices_excluding_tax_get_the_rounded_tax_added() {
    let shop = open().await;
    shop.rule("DE", None, "0.19", "MwSt 19%").await;
    let mode = ChannelTaxMode { channel: "b2b".into(), prices_include_tax: false };
    shop.billing.set_channel_tax_mode(&ctx(), mode).await.unwrap();
    // 2.50 × 19 % = 0.475 → 0.48 (a midpoint, away from zero); 10.01 → 1.9019 → 1.90; 5.00 → 0.95.
    let b = shop.tax("b2b", "de", None, &[250, 1001], 500).await;
    assert!(!b.prices_include_tax);
    assert_eq!(amounts(&b), [(250, 48, 298), (1001, 190, 1191), (500, 95, 595)]);
    assert_eq!((b.net.amount, b.tax.amount, b.gross.amount), (1751, 333, 2084));
    assert_adds_up(&b);
}

#[tokio::test]
async fn a_regions_rule_wins_over_its_countrys() {
    let shop = open().await;
    shop.rule("ES", None, "0.21", "IVA 21%").await;
    shop.rule("ES", Some("Canarias"), "0.07", "IGIC 7%").await;
    let islands = shop.tax("online", "ES", Some("canarias"), &[1070], 0).await;
    assert_eq!(islands.lines[0].rate, dec("0.07"));
    assert_eq!(amounts(&islands)[0], (1000, 70, 1070));
    assert_eq!(islands.summary[0].label, "IGIC 7%");
    let madrid = shop.tax("online", "ES", Some("Madrid"), &[1210], 0).await;
    assert_eq!(madrid.lines[0].rate, dec("0.21"));
    assert_eq!(amounts(&madrid)[0], (1000, 210, 1210));
    let mainland = shop.tax("online", "ES", None, &[1210], 0).await;
    assert_eq!(mainland.summary[0].label, "IVA 21%");
}

#[tokio::test]
async fn a_destination_without_a_rule_is_taxed_at_zero() {
    let shop = open().await;
    shop.rule("FR", None, "0.2", "TVA 20%").await;
    let b = shop.tax("online", "US", Some("CA"), &[1999], 500).await;
    assert_eq!(amounts(&b), [(1999, 0, 1999), (500, 0, 500)]);
    assert_eq!(b.summary[0].rate, Decimal::ZERO);
    assert_eq!(b.summary[0].label, "No tax");
    assert_adds_up(&b);
}

#[tokio::test]
async fn tax_rules_are_validated_unique_listed_and_deleted() {
    let shop = open().await;
    let bad = NewTaxRule { country: "XX".into(), region: None, rate: dec("1.5"), label: " ".into() };
    let e = shop.billing.create_tax_rule(&ctx(), bad).await.unwrap_err();
    assert_eq!(e.status(), 422);
    let fields: Vec<_> = e.field_errors().iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["country", "rate", "label"]);
    let negative = NewTaxRule { country: "FR".into(), region: None, rate: dec("-0.1"), label: "TVA".into() };
    assert_eq!(shop.billing.create_tax_rule(&ctx(), negative).await.unwrap_err().field_errors()[0].field, "rate");

    shop.rule("FR", None, "0.2", "TVA 20%").await;
    shop.rule("FR", Some("Corse"), "0.1", "TVA Corse").await;
    shop.rule("FR", Some("Guadeloupe"), "0.085", "TVA DOM").await;
    for (region, field) in [(None, "country"), (Some("CORSE"), "region")] {
        let again =
            NewTaxRule { country: "fr".into(), region: region.map(Into::into), rate: dec("0.055"), label: "x".into() };
        let e = shop.billing.create_tax_rule(&ctx(), again).await.unwrap_err();
        assert_eq!((e.status(), e.code()), (409, "duplicate-tax-rule"));
        assert_eq!(e.field_errors()[0].field, field);
    }

    let page = shop.billing.list_tax_rules(&ctx(), PageRequest::new(1, 2).unwrap()).await.unwrap();
    assert_eq!(page.total, 3);
    assert_eq!(page.items.len(), 2);
    assert_eq!(page.items[0].region, None, "country-wide rule first");
    assert_eq!(page.items[0].rate.to_string(), "0.2", "the rate keeps its decimal form");

    let corse = page.items[1].id;
    shop.billing.delete_tax_rule(&ctx(), corse).await.unwrap();
    assert_eq!(shop.billing.delete_tax_rule(&ctx(), corse).await.unwrap_err().status(), 404);
    let b = shop.tax("online", "FR", Some("Corse"), &[1200], 0).await;
    assert_eq!(b.lines[0].rate, dec("0.2"), "with its region's rule gone the country's applies");
    assert!(shop.billing.list_tax_rules(&ctx(), PageRequest { page: 0, per_page: 20 }).await.is_err());
}

#[tokio::test]
async fn channels_include_tax_unless_told_otherwise() {
    let shop = open().await;
    for channel in ["online", "store", "marketplace"] {
        assert!(shop.billing.channel_tax_mode(&ctx(), channel).await.unwrap().prices_include_tax, "{channel}");
    }
    let b2b = ChannelTaxMode { channel: "b2b".into(), prices_include_tax: false };
    shop.billing.set_channel_tax_mode(&ctx(), b2b).await.unwrap();
    assert!(!shop.billing.channel_tax_mode(&ctx(), "b2b").await.unwrap().prices_include_tax);
    let back = ChannelTaxMode { channel: "b2b".into(), prices_include_tax: true };
    shop.billing.set_channel_tax_mode(&ctx(), back).await.unwrap();
    assert!(shop.billing.channel_tax_mode(&ctx(), "b2b").await.unwrap().prices_include_tax);
    let bad = ChannelTaxMode { channel: "Not A Channel".into(), prices_include_tax: true };
    assert_eq!(shop.billing.set_channel_tax_mode(&ctx(), bad).await.unwrap_err().field_errors()[0].field, "channel");
}

#[tokio::test]
async fn a_bad_tax_request_names_its_fields() {
    let shop = open().await;
    let request = TaxRequest {
        channel: "online".into(),
        currency: Currency::EUR,
        destination: address("Ann", "Narnia", None),
        lines: vec![
            TaxableLine { sku: "A".into(), quantity: -1, unit_price: eur(100) },
            TaxableLine { sku: "B".into(), quantity: 1, unit_price: Money::new(100, Currency::USD) },
        ],
        shipping: eur(-5),
    };
    let e = shop.billing.compute_tax(&ctx(), request).await.unwrap_err();
    assert_eq!(e.status(), 422);
    let fields: Vec<_> = e.field_errors().iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["destination.country", "lines[0].quantity", "lines[1].unit_price.currency", "shipping.amount"]);
}

// ---- Invoices ---------------------------------------------------------------------------------

#[tokio::test]
async fn a_placed_order_gets_a_draft_invoice() {
    let shop = open().await;
    shop.rule("FR", None, "0.2", "TVA 20%").await;
    let order = tee_order();
    let e = shop.billing.invoice_for_order(&ctx(), order.order_id).await.unwrap_err();
    assert_eq!(e.status(), 404);

    let placed = order_event(ordering::ORDER_PLACED, &order);
    shop.deliver(INVOICE_DRAFTS, &placed).await.unwrap();
    let invoice = shop.billing.invoice_for_order(&ctx(), order.order_id).await.unwrap();
    assert_eq!(invoice.status, InvoiceStatus::Draft);
    assert_eq!((invoice.number.clone(), invoice.issued_at), (None, None));
    assert_eq!((invoice.order_number.as_str(), invoice.customer_id), ("CO-000001", order.customer_id));
    assert_eq!(invoice.seller, seller());
    assert_eq!(invoice.buyer.name, "Ann Martin");
    assert_eq!(invoice.buyer.email.as_deref(), Some("ann@example.com"));
    assert_eq!(invoice.buyer.address.as_ref(), Some(&order.billing_address));

    assert_eq!(invoice.lines.len(), 2, "one line per order line, then the shipping");
    let tee = &invoice.lines[0];
    assert_eq!((tee.description.as_str(), tee.sku.as_deref(), tee.quantity), ("Organic cotton tee", Some("SKU-0"), 2));
    assert_eq!((tee.rate, tee.net.amount, tee.tax.amount, tee.gross.amount), (dec("0.2"), 4167, 833, 5000));
    let shipping = &invoice.lines[1];
    assert_eq!((shipping.description.as_str(), shipping.sku.as_deref()), ("Shipping: Standard delivery", None));
    assert_eq!((shipping.rate, shipping.net.amount, shipping.tax.amount), (dec("0.2"), 416, 83));
    assert_eq!(invoice.summary.len(), 1);
    assert_eq!(invoice.summary[0].label, "TVA 20%");
    assert_eq!((invoice.summary[0].base.amount, invoice.summary[0].tax.amount), (4583, 916));
    assert_eq!((invoice.net, invoice.tax, invoice.gross), (order.totals.net, order.totals.tax, order.totals.gross));

    let drafted = shop.events(events::INVOICE_DRAFTED).await;
    assert_eq!(drafted.len(), 1);
    let data: InvoiceEvent = drafted[0].data_as().unwrap();
    assert_eq!(
        (data.invoice_id, data.order_id, data.number, data.gross),
        (invoice.id, order.order_id, None, eur(5499))
    );
    assert_eq!(drafted[0].correlation_id, placed.correlation_id, "the event continues the order's correlation");

    // The same event again, and the same order announced under a new event: still one invoice.
    shop.deliver(INVOICE_DRAFTS, &placed).await.unwrap();
    shop.place(&order).await;
    assert_eq!(shop.billing.list_invoices(&ctx(), PageRequest::default()).await.unwrap().total, 1);
    assert_eq!(shop.events(events::INVOICE_DRAFTED).await.len(), 1);
    assert_eq!(shop.billing.invoice_for_order(&ctx(), order.order_id).await.unwrap(), invoice);

    let e = shop.billing.invoice_pdf(&ctx(), invoice.id).await.unwrap_err();
    assert_eq!((e.status(), e.code()), (409, "invoice-not-issued"));
}

#[tokio::test]
async fn a_completed_checkout_issues_the_invoice() {
    let shop = open().await;
    let order = tee_order();
    shop.place(&order).await;
    let draft = shop.billing.invoice_for_order(&ctx(), order.order_id).await.unwrap();
    shop.complete(&order).await;

    let issued = shop.billing.invoice_for_order(&ctx(), order.order_id).await.unwrap();
    assert_eq!(issued.status, InvoiceStatus::Issued);
    assert_eq!(issued.number, Some(format!("INV-{}-000001", year())));
    assert!(issued.issued_at.is_some());
    assert_eq!(
        (issued.id, &issued.lines, &issued.summary, issued.gross),
        (draft.id, &draft.lines, &draft.summary, draft.gross)
    );

    let events = shop.events(events::INVOICE_ISSUED).await;
    assert_eq!(events.len(), 1);
    let data: InvoiceEvent = events[0].data_as().unwrap();
    assert_eq!((data.invoice_id, data.number), (issued.id, issued.number.clone()));
}

#[tokio::test]
async fn a_completed_checkout_without_a_draft_drafts_then_issues() {
    let shop = open().await;
    let order = tee_order();
    shop.complete(&order).await;
    let invoice = shop.billing.invoice_for_order(&ctx(), order.order_id).await.unwrap();
    assert_eq!(invoice.status, InvoiceStatus::Issued);
    assert_eq!(invoice.lines.len(), 2);
    assert_eq!(invoice.gross, eur(5499));
    assert_eq!(shop.events(events::INVOICE_DRAFTED).await.len(), 1);
    assert_eq!(shop.events(events::INVOICE_ISSUED).await.len(), 1);

    // The late placed event finds the invoice issued and leaves it alone.
    shop.place(&order).await;
    assert_eq!(shop.billing.invoice_for_order(&ctx(), order.order_id).await.unwrap(), invoice);
    assert_eq!(shop.events(events::INVOICE_DRAFTED).await.len(), 1);
}

#[tokio::test]
async fn fifty_concurrent_checkouts_get_fifty_consecutive_numbers() {
    let shop = open().await;
    let orders: Vec<OrderSnapshot> =
        (1..=50).map(|i| order_of(&format!("CO-{i:06}"), &[("Mug", i, 1200)], 499)).collect();
    // Half of them were drafted before; the others are drafted by the completion itself.
    for order in orders.iter().step_by(2) {
        shop.place(order).await;
    }
    let consumer = shop.billing.consumers().into_iter().find(|c| c.name == INVOICE_ISSUE).unwrap();
    let tasks: Vec<_> = orders
        .iter()
        .map(|order| {
            let handler = consumer.handler.clone();
            let event = order_event(ordering::CHECKOUT_COMPLETED, order);
            tokio::spawn(async move { handler.handle(&event).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }

    let mut numbers = Vec::new();
    for order in &orders {
        let invoice = shop.billing.invoice_for_order(&ctx(), order.order_id).await.unwrap();
        assert_eq!(invoice.status, InvoiceStatus::Issued);
        numbers.push(invoice.number.unwrap());
    }
    numbers.sort();
    let expected: Vec<String> = (1..=50).map(|n| format!("INV-{}-{n:06}", year())).collect();
    assert_eq!(numbers, expected, "no gap, no duplicate");
    assert_eq!(shop.events(events::INVOICE_ISSUED).await.len(), 50);

    let first = shop.billing.list_invoices(&ctx(), PageRequest::new(1, 20).unwrap()).await.unwrap();
    assert_eq!((first.total, first.items.len()), (50, 20));
    assert!(first.items.windows(2).all(|w| w[0].created_at >= w[1].created_at), "newest first");
    assert!(first.items.iter().all(|i| i.lines.len() == 2 && !i.summary.is_empty()));
    let last = shop.billing.list_invoices(&ctx(), PageRequest::new(3, 20).unwrap()).await.unwrap();
    assert_eq!(last.items.len(), 10);
    assert!(last.items[0].created_at <= first.items[19].created_at);
}

#[tokio::test]
async fn placed_and_completed_at_once_make_one_invoice() {
    let shop = open().await;
    let orders: Vec<OrderSnapshot> =
        (1..=20).map(|i| order_of(&format!("CO-{i:06}"), &[("Mug", i, 1200)], 0)).collect();
    let consumers = shop.billing.consumers();
    let handler = |name: &str| consumers.iter().find(|c| c.name == name).unwrap().handler.clone();
    let mut tasks = Vec::new();
    for order in &orders {
        // Both events of an order race, through their own consumers.
        for (consumer, event_type) in
            [(INVOICE_DRAFTS, ordering::ORDER_PLACED), (INVOICE_ISSUE, ordering::CHECKOUT_COMPLETED)]
        {
            let handler = handler(consumer);
            let event = order_event(event_type, order);
            tasks.push(tokio::spawn(async move { handler.handle(&event).await }));
        }
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    for order in &orders {
        let invoice = shop.billing.invoice_for_order(&ctx(), order.order_id).await.unwrap();
        assert_eq!((invoice.status, invoice.lines.len()), (InvoiceStatus::Issued, 2));
    }
    assert_eq!(shop.events(events::INVOICE_DRAFTED).await.len(), 20, "one draft per order");
    assert_eq!(shop.events(events::INVOICE_ISSUED).await.len(), 20);
}

#[tokio::test]
async fn an_issued_invoice_never_changes() {
    let shop = open().await;
    let order = tee_order();
    let completed = order_event(ordering::CHECKOUT_COMPLETED, &order);
    shop.deliver(INVOICE_ISSUE, &completed).await.unwrap();
    let issued = shop.billing.invoice_for_order(&ctx(), order.order_id).await.unwrap();

    // Redelivered, then announced again under a new event id, even with different contents.
    shop.deliver(INVOICE_ISSUE, &completed).await.unwrap();
    let mut changed = order.clone();
    changed.lines[0].product_name = "Renamed".into();
    changed.billing_address.name = "Someone Else".into();
    shop.complete(&changed).await;
    shop.place(&changed).await;

    assert_eq!(shop.billing.invoice_for_order(&ctx(), order.order_id).await.unwrap(), issued);
    assert_eq!(shop.events(events::INVOICE_ISSUED).await.len(), 1);

    // The next order takes the next number: issuing twice consumed none.
    let next = order_of("CO-000002", &[("Cap", 1, 1500)], 0);
    shop.complete(&next).await;
    let second = shop.billing.invoice_for_order(&ctx(), next.order_id).await.unwrap();
    assert_eq!(second.number, Some(format!("INV-{}-000002", year())));
}

#[tokio::test]
async fn an_order_that_does_not_add_up_is_not_invoiced() {
    let shop = open().await;
    let mut order = tee_order();
    order.totals.gross = eur(order.totals.gross.amount + 1);
    let e = shop.deliver(INVOICE_DRAFTS, &order_event(ordering::ORDER_PLACED, &order)).await.unwrap_err();
    assert!(e.is_internal());
    assert_eq!(shop.billing.invoice_for_order(&ctx(), order.order_id).await.unwrap_err().status(), 404);
    assert!(outbox::pending(&shop.db, 10).await.unwrap().is_empty(), "nothing half-written");
}

// ---- Credit notes -----------------------------------------------------------------------------

#[tokio::test]
async fn refunds_are_credited_pro_rata_with_their_own_numbers() {
    let shop = open().await;
    let order = tee_order();
    shop.complete(&order).await;
    let invoice = shop.billing.invoice_for_order(&ctx(), order.order_id).await.unwrap();
    assert_eq!((invoice.gross.amount, invoice.tax.amount), (5499, 916));

    // 10.00 of 54.99 with 9.16 tax: 10.00 × 916 / 5499 = 1.6657... → 1.67.
    let first = Uuid::now_v7();
    let event = refund_event(&order, first, 1000);
    shop.deliver(CREDIT_NOTES, &event).await.unwrap();
    let notes = shop.billing.credit_notes_for_order(&ctx(), order.order_id).await.unwrap();
    assert_eq!(notes.len(), 1);
    let note = &notes[0];
    assert_eq!(note.number, format!("CN-{}-000001", year()));
    assert_eq!(
        (note.invoice_id, note.order_id, note.gross, note.tax),
        (invoice.id, order.order_id, eur(1000), eur(167))
    );

    // Redelivered, and the same refund under a new event id: nothing new.
    shop.deliver(CREDIT_NOTES, &event).await.unwrap();
    shop.deliver(CREDIT_NOTES, &refund_event(&order, first, 1000)).await.unwrap();
    assert_eq!(shop.billing.credit_notes_for_order(&ctx(), order.order_id).await.unwrap().len(), 1);

    // The rest of the invoice: the last credit takes the remaining tax, so 9.16 in all.
    shop.deliver(CREDIT_NOTES, &refund_event(&order, Uuid::now_v7(), 4499)).await.unwrap();
    let notes = shop.billing.credit_notes_for_order(&ctx(), order.order_id).await.unwrap();
    assert_eq!(notes.len(), 2);
    assert_eq!(notes[1].number, format!("CN-{}-000002", year()));
    assert_eq!((notes[1].gross, notes[1].tax), (eur(4499), eur(749)));
    assert_eq!(notes.iter().map(|n| n.tax.amount).sum::<i64>(), invoice.tax.amount);

    // Nothing is left to credit.
    let e = shop.deliver(CREDIT_NOTES, &refund_event(&order, Uuid::now_v7(), 1)).await.unwrap_err();
    assert_eq!(e.code(), "credit-exceeds-invoice");

    let issued = shop.events(events::CREDIT_NOTE_ISSUED).await;
    assert_eq!(issued.len(), 2);
    let data: CreditNoteIssued = issued[0].data_as().unwrap();
    assert_eq!(
        (data.credit_note_id, data.invoice_id, data.number.as_str(), data.gross),
        (note.id, invoice.id, note.number.as_str(), eur(1000))
    );

    // Invoices and credit notes number independently.
    let invoice_number = invoice.number.unwrap();
    assert!(invoice_number.ends_with("-000001"));
    assert_eq!(shop.billing.invoice_for_order(&ctx(), order.order_id).await.unwrap().number, Some(invoice_number));
}

#[tokio::test]
async fn concurrent_refunds_never_credit_more_than_the_invoice() {
    let shop = open().await;
    let order = tee_order();
    shop.complete(&order).await;
    let invoice = shop.billing.invoice_for_order(&ctx(), order.order_id).await.unwrap();
    assert_eq!(invoice.gross, eur(5499));

    // Twelve refunds of 5.00 against 54.99, plus one of them delivered twice under new event
    // ids: ten fit, two do not.
    let handler = shop.billing.consumers().into_iter().find(|c| c.name == CREDIT_NOTES).unwrap().handler;
    let refunds: Vec<Uuid> = (0..12).map(|_| Uuid::now_v7()).collect();
    let events: Vec<EventEnvelope> =
        refunds.iter().chain([&refunds[0], &refunds[0]]).map(|refund| refund_event(&order, *refund, 500)).collect();
    let tasks: Vec<_> = events
        .into_iter()
        .map(|event| {
            let handler = handler.clone();
            tokio::spawn(async move { handler.handle(&event).await })
        })
        .collect();
    let mut refused = 0;
    for task in tasks {
        if let Err(e) = task.await.unwrap() {
            assert_eq!(e.code(), "credit-exceeds-invoice", "{e}");
            refused += 1;
        }
    }

    let notes = shop.billing.credit_notes_for_order(&ctx(), order.order_id).await.unwrap();
    let refunded = |note: &comptoir_contracts::billing::CreditNote| note.gross.amount;
    assert_eq!((notes.len(), notes.iter().map(refunded).sum::<i64>()), (10, 5000));
    assert!(refused >= 2, "the eleventh and twelfth refunds exceed the invoice");
    let mut numbers: Vec<String> = notes.iter().map(|n| n.number.clone()).collect();
    numbers.sort();
    let expected: Vec<String> = (1..=10).map(|n| format!("CN-{}-{n:06}", year())).collect();
    assert_eq!(numbers, expected, "no gap, no duplicate");
    // Each credit is pro rata (5.00 × 916 / 5499 = 0.8329 → 0.83): no credit took the remainder.
    assert!(notes.iter().all(|n| n.tax == eur(83)));
    assert_eq!(shop.events(events::CREDIT_NOTE_ISSUED).await.len(), 10);
}

#[tokio::test]
async fn a_refund_before_the_invoice_is_issued_is_retried_later() {
    let shop = open().await;
    let order = tee_order();
    let refund = refund_event(&order, Uuid::now_v7(), 1000);
    let e = shop.deliver(CREDIT_NOTES, &refund).await.unwrap_err();
    assert_eq!(e.status(), 503, "retryable");
    shop.place(&order).await;
    assert_eq!(shop.deliver(CREDIT_NOTES, &refund).await.unwrap_err().status(), 503, "a draft is not credited");
    assert!(shop.events(events::CREDIT_NOTE_ISSUED).await.is_empty());

    // The failed attempts did not claim the event: once issued, the same delivery succeeds.
    shop.complete(&order).await;
    shop.deliver(CREDIT_NOTES, &refund).await.unwrap();
    let notes = shop.billing.credit_notes_for_order(&ctx(), order.order_id).await.unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].number, format!("CN-{}-000001", year()), "the failed attempts took no number");
}

fn cancelled_event(order: &OrderSnapshot, before_confirmation: bool) -> EventEnvelope {
    let data = OrderCancelled {
        order_id: order.order_id,
        number: order.number.clone(),
        email: order.email.clone(),
        customer_id: order.customer_id,
        reason: "checkout did not complete in time".into(),
        reservation_id: None,
        before_confirmation,
    };
    EventEnvelope::new(&ctx(), "ordering", ordering::ORDER_CANCELLED, data)
}

#[tokio::test]
async fn refunding_an_order_cancelled_before_confirmation_needs_no_credit_note() {
    // Paid, then abandoned: ordering cancels the order, then payment refunds it.
    let shop = open().await;
    let order = tee_order();
    shop.place(&order).await;
    shop.deliver(CANCELLATIONS, &cancelled_event(&order, true)).await.unwrap();
    shop.deliver(CREDIT_NOTES, &refund_event(&order, Uuid::now_v7(), 1000)).await.unwrap();
    assert!(shop.billing.credit_notes_for_order(&ctx(), order.order_id).await.unwrap().is_empty());
    assert!(shop.events(events::CREDIT_NOTE_ISSUED).await.is_empty());

    // A cancellation after confirmation says nothing of the kind: its refund waits for the invoice.
    let confirmed = order_of("CO-000043", &[("Espresso cup", 1, 2900)], 0);
    shop.place(&confirmed).await;
    shop.deliver(CANCELLATIONS, &cancelled_event(&confirmed, false)).await.unwrap();
    let refund = refund_event(&confirmed, Uuid::now_v7(), 2900);
    assert_eq!(shop.deliver(CREDIT_NOTES, &refund).await.unwrap_err().status(), 503);
    shop.complete(&confirmed).await;
    shop.deliver(CREDIT_NOTES, &refund).await.unwrap();
    assert_eq!(shop.billing.credit_notes_for_order(&ctx(), confirmed.order_id).await.unwrap().len(), 1);
}

// ---- PDF --------------------------------------------------------------------------------------

#[tokio::test]
async fn an_issued_invoice_renders_as_a_pdf() {
    let shop = open().await;
    shop.rule("FR", None, "0.2", "TVA 20%").await;
    let order = order_of("CO-000042", &[("Organic cotton tee", 2, 2500), ("Espresso cup", 40, 2900)], 499);
    shop.complete(&order).await;
    let invoice = shop.billing.invoice_for_order(&ctx(), order.order_id).await.unwrap();
    let bytes = shop.billing.invoice_pdf(&ctx(), invoice.id).await.unwrap();
    assert!(bytes.starts_with(b"%PDF-"));

    let text = pdf_text(&bytes);
    let number = invoice.number.unwrap();
    for expected in [
        "Invoice",
        number.as_str(),
        "CO-000042",
        "Comptoir Paris",
        "billing@comptoir.example",
        "Ann Martin",
        "ann@example.com",
        "12 rue des Martyrs",
        "Organic cotton tee",
        "Espresso cup",
        "Shipping: Standard delivery",
        "TVA 20%",
        "Total due",
        "1,214.99 EUR",
        "202.49 EUR",
        "1,012.50 EUR",
        "page 1 of 1",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
    }
    assert_eq!(invoice.gross, eur(121_499));

    assert_eq!(shop.billing.invoice_pdf(&ctx(), Uuid::now_v7()).await.unwrap_err().status(), 404);
}

#[tokio::test]
async fn a_long_invoice_continues_on_further_pages() {
    let shop = open().await;
    let lines: Vec<(String, i64, i64)> =
        (0..80).map(|i| (format!("Hand-thrown stoneware bowl, glazed in colour number {i}"), 1, 1000 + i)).collect();
    let refs: Vec<(&str, i64, i64)> = lines.iter().map(|(n, q, u)| (n.as_str(), *q, *u)).collect();
    let order = order_of("CO-000099", &refs, 0);
    shop.complete(&order).await;
    let invoice = shop.billing.invoice_for_order(&ctx(), order.order_id).await.unwrap();
    let bytes = shop.billing.invoice_pdf(&ctx(), invoice.id).await.unwrap();
    let pages = pdf_pages(&bytes);
    assert!(pages > 1, "80 lines need more than one A4 page");
    let text = pdf_text(&bytes);
    assert!(text.contains("number 79") && text.contains("SKU SKU-79"), "the last line is there");
    assert!(text.contains(&format!("page {pages} of {pages}")));
    assert!(text.contains("(continued)"));
    assert!(text.contains(&format!("{} EUR", pdf_amount(invoice.gross.amount))));
}

fn pdf_amount(minor: i64) -> String {
    let whole = (minor / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{grouped}.{:02}", minor % 100)
}

#[tokio::test]
async fn a_credit_note_renders_as_a_pdf() {
    let shop = open().await;
    let order = tee_order();
    shop.complete(&order).await;
    shop.deliver(CREDIT_NOTES, &refund_event(&order, Uuid::now_v7(), 1000)).await.unwrap();
    let note = shop.billing.credit_notes_for_order(&ctx(), order.order_id).await.unwrap().remove(0);
    let bytes = shop.billing.credit_note_pdf(&ctx(), note.id).await.unwrap();
    assert!(bytes.starts_with(b"%PDF-"));
    let text = pdf_text(&bytes);
    for expected in [
        "Credit note",
        note.number.as_str(),
        &format!("INV-{}-000001", year()),
        "Ann Martin",
        "Total credited",
        "10.00 EUR",
        "1.67 EUR",
        "8.33 EUR",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
    }
    assert_eq!(shop.billing.credit_note_pdf(&ctx(), Uuid::now_v7()).await.unwrap_err().status(), 404);
}
