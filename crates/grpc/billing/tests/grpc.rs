//! The billing module served over gRPC and driven through `BillingClient`, against a real
//! database (SQLite, or PostgreSQL when COMPTOIR_TEST_BACKEND=postgres). Every port method goes
//! through the client; answers and errors are compared with the module's own, called in process.
//! Invoices and credit notes come from billing's event consumers, whose handlers are called
//! directly, as the module's own tests do.

use std::str::FromStr;
use std::sync::Arc;

use chrono::Utc;
use comptoir_billing::{BillingConfig, BillingModule, CREDIT_NOTES, INVOICE_DRAFTS, INVOICE_ISSUE, MIGRATIONS};
use comptoir_billing_grpc::{BillingClient, pb, service};
use comptoir_contracts::address::PostalAddress;
use comptoir_contracts::billing::{
    BillingPort, ChannelTaxMode, InvoiceStatus, NewTaxRule, Party, TaxRequest, TaxableLine,
};
use comptoir_contracts::ordering::events::{self as ordering, OrderPlaced};
use comptoir_contracts::ordering::{OrderLine, OrderSnapshot, OrderTotals, ShippingChoice};
use comptoir_contracts::payment::events::{self as payment, RefundCompleted};
use comptoir_grpc::server::ServiceSet;
use comptoir_grpc::{MAX_MESSAGE_BYTES, Remote, RemoteSettings, from_status};
use comptoir_kernel::{Actor, Currency, Error, EventEnvelope, Money, PageRequest, RequestContext, Result};
use comptoir_storage::testing::{self, TestDb};
use rust_decimal::Decimal;
use tokio::net::TcpListener;
use uuid::Uuid;

/// The module in process, and the same module behind a gRPC server.
struct Billing {
    _db: TestDb,
    local: BillingModule,
    remote: Arc<dyn BillingPort>,
    url: String,
}

async fn start() -> Billing {
    let db = testing::open("billing", &MIGRATIONS).await;
    let local = BillingModule::new(db.db.clone(), BillingConfig { seller: seller() });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let services = ServiceSet::new().add(service(Arc::new(local.clone())));
    tokio::spawn(services.serve(listener, std::future::pending()));
    let remote = Remote::connect("billing", &url, RemoteSettings::default()).unwrap();
    Billing { _db: db, local, remote: Arc::new(BillingClient::new(remote)), url }
}

impl Billing {
    async fn deliver(&self, consumer: &str, event: &EventEnvelope) {
        let consumers = self.local.consumers();
        let c = consumers.iter().find(|c| c.name == consumer).expect("consumer exists");
        c.handler.handle(event).await.unwrap();
    }

    async fn place(&self, order: &OrderSnapshot) {
        self.deliver(INVOICE_DRAFTS, &order_event(ordering::ORDER_PLACED, order)).await;
    }

    async fn complete(&self, order: &OrderSnapshot) {
        self.deliver(INVOICE_ISSUE, &order_event(ordering::CHECKOUT_COMPLETED, order)).await;
    }

    async fn refund(&self, order: &OrderSnapshot, amount: i64) {
        let data = RefundCompleted {
            payment_id: Uuid::now_v7(),
            order_id: order.order_id,
            refund_id: Uuid::now_v7(),
            amount: eur(amount),
            fully_refunded: false,
        };
        self.deliver(CREDIT_NOTES, &EventEnvelope::new(&ctx(), "payment", payment::REFUND_COMPLETED, data)).await;
    }
}

fn ctx() -> RequestContext {
    RequestContext::new("grpc-billing-test", Actor::user("staff-1"))
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn eur(amount: i64) -> Money {
    Money::new(amount, Currency::EUR)
}

/// Compares values whose contract types have no `PartialEq` (tax rules, pages) by their full
/// `Debug` form.
fn debug(value: &impl std::fmt::Debug) -> String {
    format!("{value:?}")
}

/// The remote error is the very error the module returned in process.
#[track_caller]
fn same_error<T: std::fmt::Debug>(remote: Result<T>, local: Result<T>) -> Error {
    let (remote, local) = (remote.unwrap_err(), local.unwrap_err());
    assert_eq!(
        (remote.status(), remote.code(), remote.field_errors(), remote.to_string()),
        (local.status(), local.code(), local.field_errors(), local.to_string())
    );
    remote
}

/// The text of a PDF document (rendering stamps each document, so bytes differ between two
/// renderings of the same invoice; the text does not).
fn pdf_text(bytes: &[u8]) -> String {
    let doc = printpdf::PdfDocument::parse(bytes, &printpdf::PdfParseOptions::default(), &mut Vec::new())
        .expect("the PDF parses");
    doc.extract_text().into_iter().flatten().collect::<Vec<_>>().join("\n")
}

fn fields(error: &Error) -> Vec<&str> {
    error.field_errors().iter().map(|f| f.field.as_str()).collect()
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
        phone: Some("+33 1 23 45 67 89".into()),
    }
}

fn seller() -> Party {
    Party {
        name: "Comptoir Paris".into(),
        email: Some("billing@comptoir.example".into()),
        address: Some(address("Comptoir Paris", "FR", None)),
    }
}

fn tax_rule(country: &str, region: Option<&str>, rate: &str, label: &str) -> NewTaxRule {
    NewTaxRule { country: country.into(), region: region.map(Into::into), rate: dec(rate), label: label.into() }
}

fn tax_request(country: &str, lines: Vec<TaxableLine>, shipping: Money) -> TaxRequest {
    TaxRequest {
        channel: "b2b".into(),
        currency: Currency::EUR,
        destination: address("Ann", country, None),
        lines,
        shipping,
    }
}

/// Net of a gross price at 20 % included, rounded half away from zero: gross × 5/6.
fn net_of(gross: i64) -> i64 {
    (gross * 10 + 6) / 12
}

/// An order at 20 % VAT, prices tax included: `quantity` tees at 25.00 and 4.99 shipping.
fn tee_order(number: &str, quantity: i64) -> OrderSnapshot {
    let gross = 2500 * quantity;
    let line = OrderLine {
        sku: "TEE-M".into(),
        product_id: Uuid::now_v7(),
        product_name: "Organic cotton tee".into(),
        quantity,
        unit_price: eur(2500),
        tax_rate: dec("0.20"),
        net: eur(net_of(gross)),
        tax: eur(gross - net_of(gross)),
        gross: eur(gross),
        weight_grams: Some(200),
    };
    let shipping = ShippingChoice {
        method: "standard".into(),
        name: "Standard delivery".into(),
        carrier: "La Poste".into(),
        net: eur(net_of(499)),
        tax: eur(499 - net_of(499)),
        gross: eur(499),
    };
    let totals = OrderTotals {
        net: eur(line.net.amount + shipping.net.amount),
        tax: eur(line.tax.amount + shipping.tax.amount),
        gross: eur(gross + 499),
    };
    OrderSnapshot {
        order_id: Uuid::now_v7(),
        number: number.into(),
        customer_id: Some(Uuid::now_v7()),
        email: "ann@example.com".into(),
        channel: "online".into(),
        currency: Currency::EUR,
        prices_include_tax: true,
        lines: vec![line],
        shipping,
        shipping_address: address("Ann Martin", "FR", None),
        billing_address: address("Ann Martin", "FR", None),
        totals,
        placed_at: Utc::now(),
    }
}

fn order_event(event_type: &str, order: &OrderSnapshot) -> EventEnvelope {
    let data = OrderPlaced { order: order.clone(), cart_id: None, reservation_id: None, payment_id: None };
    EventEnvelope::new(&ctx(), "ordering", event_type, data)
}

// ---- Tax rules and channels -------------------------------------------------------------------

#[tokio::test]
async fn tax_rules_are_created_listed_and_deleted_remotely() {
    let billing = start().await;
    let (remote, local) = (&billing.remote, &billing.local);

    let france = remote.create_tax_rule(&ctx(), tax_rule("fr", None, "0.20", "TVA 20%")).await.unwrap();
    assert_eq!((france.country.as_str(), france.region.as_deref()), ("FR", None));
    assert_eq!((france.rate, france.label.as_str()), (dec("0.2"), "TVA 20%"));
    let corse = remote.create_tax_rule(&ctx(), tax_rule("FR", Some("Corse"), "0.1", "TVA Corse")).await.unwrap();
    assert_eq!(corse.region.as_deref(), Some("Corse"));
    remote.create_tax_rule(&ctx(), tax_rule("FR", Some("Guadeloupe"), "0.085", "TVA DOM")).await.unwrap();

    let first = remote.list_tax_rules(&ctx(), PageRequest::new(1, 2).unwrap()).await.unwrap();
    assert_eq!((first.total, first.items.len()), (3, 2));
    assert_eq!(first.items[0].id, france.id, "country-wide rule first");
    let second = remote.list_tax_rules(&ctx(), PageRequest::new(2, 2).unwrap()).await.unwrap();
    assert_eq!(second.items[0].rate.to_string(), "0.085", "the rate keeps its decimal form");
    for page in [PageRequest::new(1, 2).unwrap(), PageRequest::new(2, 2).unwrap()] {
        let in_process = local.list_tax_rules(&ctx(), page).await.unwrap();
        assert_eq!(debug(&remote.list_tax_rules(&ctx(), page).await.unwrap()), debug(&in_process));
    }

    remote.delete_tax_rule(&ctx(), corse.id).await.unwrap();
    assert_eq!(remote.list_tax_rules(&ctx(), PageRequest::default()).await.unwrap().total, 2);

    // Errors: a deleted rule, a bad page, bad input and a duplicate, as in process.
    let e = same_error(remote.delete_tax_rule(&ctx(), corse.id).await, local.delete_tax_rule(&ctx(), corse.id).await);
    assert!(matches!(&e, Error::NotFound { resource: "tax_rule", id } if *id == corse.id.to_string()), "{e:?}");
    let bad_page = PageRequest { page: 0, per_page: 20 };
    let e = same_error(remote.list_tax_rules(&ctx(), bad_page).await, local.list_tax_rules(&ctx(), bad_page).await);
    assert_eq!((e.status(), fields(&e)), (422, vec!["page"]));

    let bad = tax_rule("XX", None, "1.5", " ");
    let e = same_error(remote.create_tax_rule(&ctx(), bad.clone()).await, local.create_tax_rule(&ctx(), bad).await);
    assert_eq!((e.status(), fields(&e)), (422, vec!["country", "rate", "label"]));
    let again = tax_rule("fr", None, "0.055", "TVA réduite");
    let e = same_error(remote.create_tax_rule(&ctx(), again.clone()).await, local.create_tax_rule(&ctx(), again).await);
    assert_eq!((e.status(), e.code(), fields(&e)), (409, "duplicate-tax-rule", vec!["country"]));
}

#[tokio::test]
async fn channel_tax_modes_are_set_and_read_remotely() {
    let billing = start().await;
    let (remote, local) = (&billing.remote, &billing.local);

    let online = remote.channel_tax_mode(&ctx(), "online").await.unwrap();
    assert_eq!((online.channel.as_str(), online.prices_include_tax), ("online", true));

    let b2b = ChannelTaxMode { channel: "b2b".into(), prices_include_tax: false };
    let stored = remote.set_channel_tax_mode(&ctx(), b2b).await.unwrap();
    assert_eq!((stored.channel.as_str(), stored.prices_include_tax), ("b2b", false));
    assert!(!remote.channel_tax_mode(&ctx(), "b2b").await.unwrap().prices_include_tax);
    assert!(!local.channel_tax_mode(&ctx(), "b2b").await.unwrap().prices_include_tax);
    let back = ChannelTaxMode { channel: "b2b".into(), prices_include_tax: true };
    assert!(remote.set_channel_tax_mode(&ctx(), back).await.unwrap().prices_include_tax);

    let bad = ChannelTaxMode { channel: "Not A Channel".into(), prices_include_tax: true };
    let e = same_error(
        remote.set_channel_tax_mode(&ctx(), bad.clone()).await,
        local.set_channel_tax_mode(&ctx(), bad).await,
    );
    assert_eq!((e.status(), fields(&e)), (422, vec!["channel"]));
}

// ---- Tax computation --------------------------------------------------------------------------

#[tokio::test]
async fn tax_is_computed_remotely_as_in_process() {
    let billing = start().await;
    let (remote, local) = (&billing.remote, &billing.local);
    remote.create_tax_rule(&ctx(), tax_rule("DE", None, "0.19", "MwSt 19%")).await.unwrap();
    let b2b = ChannelTaxMode { channel: "b2b".into(), prices_include_tax: false };
    remote.set_channel_tax_mode(&ctx(), b2b).await.unwrap();

    let line = |sku: &str, unit: i64| TaxableLine { sku: sku.into(), quantity: 1, unit_price: eur(unit) };
    let request = tax_request("de", vec![line("MUG", 250), line("CAP", 1001)], eur(500));
    let breakdown = remote.compute_tax(&ctx(), request.clone()).await.unwrap();
    assert_eq!(breakdown, local.compute_tax(&ctx(), request).await.unwrap());
    assert!(!breakdown.prices_include_tax);
    let amounts: Vec<_> = breakdown.lines.iter().chain([&breakdown.shipping]).map(|l| (l.net, l.tax)).collect();
    assert_eq!(amounts, [(eur(250), eur(48)), (eur(1001), eur(190)), (eur(500), eur(95))]);
    assert_eq!((breakdown.net, breakdown.tax, breakdown.gross), (eur(1751), eur(333), eur(2084)));
    assert_eq!((breakdown.summary[0].label.as_str(), breakdown.summary[0].rate), ("MwSt 19%", dec("0.19")));

    // Invalid input reaches the module as built and is refused with the same fields.
    let bad_lines = vec![
        TaxableLine { sku: "A".into(), quantity: -1, unit_price: eur(100) },
        TaxableLine { sku: "B".into(), quantity: 1, unit_price: Money::new(100, Currency::USD) },
    ];
    let bad = tax_request("Narnia", bad_lines, eur(-5));
    let e = same_error(remote.compute_tax(&ctx(), bad.clone()).await, local.compute_tax(&ctx(), bad).await);
    assert_eq!(
        (e.status(), fields(&e)),
        (422, vec!["destination.country", "lines[0].quantity", "lines[1].unit_price.currency", "shipping.amount"])
    );
}

// ---- Invoices and credit notes ----------------------------------------------------------------

#[tokio::test]
async fn invoices_credit_notes_and_their_pdfs_come_through() {
    let billing = start().await;
    let (remote, local) = (&billing.remote, &billing.local);
    remote.create_tax_rule(&ctx(), tax_rule("FR", None, "0.20", "TVA 20%")).await.unwrap();
    let order = tee_order("CO-000001", 2);

    let e = same_error(
        remote.invoice_for_order(&ctx(), order.order_id).await,
        local.invoice_for_order(&ctx(), order.order_id).await,
    );
    assert_eq!(e.status(), 404);

    // A draft: no number, no issue date, no PDF yet.
    billing.place(&order).await;
    let draft = remote.invoice_for_order(&ctx(), order.order_id).await.unwrap();
    assert_eq!(draft, local.invoice_for_order(&ctx(), order.order_id).await.unwrap());
    assert_eq!((draft.status, draft.number.as_deref(), draft.issued_at), (InvoiceStatus::Draft, None, None));
    assert_eq!((draft.seller.clone(), draft.customer_id), (seller(), order.customer_id));
    assert_eq!(draft.buyer.address.as_ref(), Some(&order.billing_address));
    assert_eq!(draft.lines[1].sku, None, "the shipping line has no SKU");
    assert_eq!((draft.lines[0].rate, draft.gross), (dec("0.2"), eur(5499)));
    let e = same_error(remote.invoice_pdf(&ctx(), draft.id).await, local.invoice_pdf(&ctx(), draft.id).await);
    assert_eq!((e.status(), e.code()), (409, "invoice-not-issued"));

    // Issued, with a second order to page through.
    billing.complete(&order).await;
    let invoice = remote.invoice_for_order(&ctx(), order.order_id).await.unwrap();
    assert_eq!(invoice, local.invoice_for_order(&ctx(), order.order_id).await.unwrap());
    assert_eq!(invoice.status, InvoiceStatus::Issued);
    assert!(invoice.number.is_some() && invoice.issued_at.is_some());
    let other = tee_order("CO-000002", 1);
    billing.complete(&other).await;
    let page = remote.list_invoices(&ctx(), PageRequest::new(1, 1).unwrap()).await.unwrap();
    assert_eq!((page.total, page.page, page.per_page), (2, 1, 1));
    let all = remote.list_invoices(&ctx(), PageRequest::default()).await.unwrap();
    let in_process = local.list_invoices(&ctx(), PageRequest::default()).await.unwrap();
    assert_eq!((all.items.len(), &all.items), (2, &in_process.items));
    let bad_page = PageRequest { page: 1, per_page: 500 };
    let e = same_error(remote.list_invoices(&ctx(), bad_page).await, local.list_invoices(&ctx(), bad_page).await);
    assert_eq!(fields(&e), ["per_page"]);

    let pdf = remote.invoice_pdf(&ctx(), invoice.id).await.unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let text = pdf_text(&pdf);
    assert_eq!(text, pdf_text(&local.invoice_pdf(&ctx(), invoice.id).await.unwrap()));
    assert!(text.contains(invoice.number.as_deref().unwrap()) && text.contains("CO-000001"), "{text}");
    let missing = Uuid::now_v7();
    same_error(remote.invoice_pdf(&ctx(), missing).await, local.invoice_pdf(&ctx(), missing).await);

    // Credit notes, none until a refund.
    assert!(remote.credit_notes_for_order(&ctx(), order.order_id).await.unwrap().is_empty());
    billing.refund(&order, 1000).await;
    billing.refund(&order, 499).await;
    let notes = remote.credit_notes_for_order(&ctx(), order.order_id).await.unwrap();
    assert_eq!(notes, local.credit_notes_for_order(&ctx(), order.order_id).await.unwrap());
    assert_eq!(notes.len(), 2);
    assert_eq!(
        (notes[0].invoice_id, notes[0].gross, notes[0].tax, notes[0].reason.as_deref()),
        (invoice.id, eur(1000), eur(167), None)
    );
    let pdf = remote.credit_note_pdf(&ctx(), notes[0].id).await.unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let text = pdf_text(&pdf);
    assert_eq!(text, pdf_text(&local.credit_note_pdf(&ctx(), notes[0].id).await.unwrap()));
    assert!(text.contains(&notes[0].number) && text.contains("10.00 EUR"), "{text}");
    let e = same_error(remote.credit_note_pdf(&ctx(), missing).await, local.credit_note_pdf(&ctx(), missing).await);
    assert!(matches!(&e, Error::NotFound { resource: "credit_note", .. }), "{e:?}");
}

// ---- Malformed messages -----------------------------------------------------------------------

#[tokio::test]
async fn malformed_messages_are_bad_requests_naming_the_field() {
    let billing = start().await;
    let mut raw = pb::billing_service_client::BillingServiceClient::connect(billing.url.clone())
        .await
        .unwrap()
        .max_decoding_message_size(MAX_MESSAGE_BYTES);

    let status = raw.invoice_for_order(pb::InvoiceForOrderRequest { order_id: "nope".into() }).await.unwrap_err();
    let e = from_status("billing", &status);
    assert_eq!(e.status(), 400);
    assert!(e.to_string().contains("order_id"), "{e}");

    let rule = pb::CreateTaxRuleRequest { country: "FR".into(), region: None, rate: "20%".into(), label: "TVA".into() };
    let e = from_status("billing", &raw.create_tax_rule(rule).await.unwrap_err());
    assert_eq!(e.status(), 400);
    assert!(e.to_string().contains("rate"), "{e}");

    let tax = pb::ComputeTaxRequest { channel: "online".into(), currency: "EUR".into(), ..Default::default() };
    let e = from_status("billing", &raw.compute_tax(tax).await.unwrap_err());
    assert_eq!(e.status(), 400);
    assert!(e.to_string().contains("destination"), "{e}");
}
