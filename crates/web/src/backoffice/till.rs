//! The till: staff holding `pos:sell` sell at a store. They scan SKUs into a basket, take cash or
//! a card, and land on the sale's receipt, where returns are taken too; the store's recent sales
//! are listed. Staff holding `pos:manage` set stores up.
//!
//! The basket lives in the page, not on the server: each form of the till carries its lines as
//! hidden `line` fields, so a till left open keeps no state anywhere and any number of tills can
//! sell side by side. The pay form carries an idempotency key made when it was drawn, so that
//! pressing Pay twice (or the browser sending the form again) rings the sale up once.

use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use comptoir_contracts::identity::{Permission, Principal};
use comptoir_contracts::inventory::LocationKind;
use comptoir_contracts::pos::{
    Cashier, MAX_SALE_LINES, NewSale, NewStoreReturn, STORE_CHANNEL, Sale, SaleFilter, SaleLineInput, SaleStatus,
    ScannedItem, Sell, Store, StoreInput, StoreReturn, TakeReturn, TenderInput, TenderMethod,
};
use comptoir_kernel::{Currency, Error, Money, PageRequest};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Chrome, staff};
use crate::form::{FormData, FormErrors, parse_amount};
use crate::present::{address_lines, capitalised, date_time};
use crate::session::{FlashKind, Session};
use crate::storefront::{AddressFields, Pager};
use crate::view::{PageError, redirect_with, render, render_status};
use crate::{PageResult, WebState};

const SECTION: &str = "/till";
const PER_PAGE: u32 = 25;
/// The most units of one SKU a line holds.
const MAX_QUANTITY: i64 = 9_999;
/// The card token the pay form offers (the payment module's test provider accepts it).
const DEFAULT_TOKEN: &str = "tok_visa";
/// The currency a new store's form offers.
const DEFAULT_CURRENCY: &str = "EUR";

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/till", get(till))
        .route("/till/scan", post(scan))
        .route("/till/remove", post(remove))
        .route("/till/pay", post(pay))
        .route("/till/sales", get(sales))
        .route("/till/sales/{id}", get(sale))
        .route("/till/sales/{id}/returns", post(take_return))
        .route("/till/stores", get(stores).post(save_store))
}

// ---- Reading what was typed ----------------------------------------------------------------

/// A module's message (`must cover the total`) as a sentence (`Must cover the total.`).
fn sentence(message: &str) -> String {
    let mut text = capitalised(message.trim());
    if !text.ends_with('.') {
        text.push('.');
    }
    text
}

/// Twenty of the currency as it is typed: `20.00` (euros), `20` (yen).
fn example(currency: Currency) -> String {
    let twenty = Money::new(20 * 10i64.pow(u32::from(currency.minor_digits())), currency);
    twenty.to_string().trim_end_matches(currency.code()).trim().to_string()
}

/// The cash handed over, typed in major units (`20`, `20.5`, `20,50`), in minor units of
/// `currency`. Read as digits and a decimal number, never a float; more decimals than the
/// currency has, a sign, an exponent or anything else is refused with what to type instead.
fn cash_tendered(value: &str, currency: Currency) -> Result<i64, String> {
    let value = value.trim().replace(',', ".");
    if value.is_empty() {
        return Err("Enter the cash the customer handed over.".into());
    }
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let shaped = match value.split_once('.') {
        Some((units, decimals)) => digits(units) && digits(decimals),
        None => digits(&value),
    };
    shaped
        .then(|| parse_amount(&value, currency))
        .flatten()
        .ok_or_else(|| format!("Enter the cash handed over as an amount such as {}.", example(currency)))
}

/// The units of a scan: 1 to [`MAX_QUANTITY`].
fn quantity(value: &str) -> Result<i64, String> {
    match value.trim().parse::<i64>() {
        Ok(n) if (1..=MAX_QUANTITY).contains(&n) => Ok(n),
        _ => Err(format!("Enter a number of units from 1 to {MAX_QUANTITY}.")),
    }
}

/// An idempotency key a form sent back: one this page made (a UUID), or at least nothing odd.
fn well_formed_key(key: &str) -> bool {
    (8..=100).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn fresh_key() -> String {
    Uuid::new_v4().to_string()
}

/// The staff member at the till, as receipts name them.
fn cashier(session: &Session) -> Result<Cashier, PageError> {
    match &session.principal {
        Some(Principal::Staff { id, email, .. }) => Ok(Cashier { id: *id, name: email.clone() }),
        _ => Err(PageError(Error::forbidden("only staff sell at the till"))),
    }
}

// ---- The basket ------------------------------------------------------------------------------

/// A line of the basket: what is sold and what its scan showed. The page carries it as one
/// hidden `line` field (JSON); only the SKU and quantity are sent to the till, which prices the
/// sale again when it is paid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct BasketLine {
    sku: String,
    quantity: i64,
    name: String,
    /// The variant's options as read (`colour: blue, size: M`).
    #[serde(default)]
    options: String,
    /// The store's price of one unit, as scanned.
    price: Money,
    /// Units on this store's shelves when last scanned.
    available: i64,
}

impl BasketLine {
    fn field(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Basket {
    lines: Vec<BasketLine>,
}

impl Basket {
    /// The basket a form carries, its `line` fields in order; `None` when one of them cannot be
    /// read (a page from another version, or one tampered with).
    fn from_form(form: &FormData) -> Option<Basket> {
        let lines = form
            .pairs()
            .iter()
            .filter(|(name, _)| name == "line")
            .map(|(_, value)| {
                serde_json::from_str::<BasketLine>(value)
                    .ok()
                    .filter(|l| !l.sku.is_empty() && (1..=MAX_QUANTITY).contains(&l.quantity))
            })
            .collect::<Option<Vec<_>>>()?;
        (lines.len() <= MAX_SALE_LINES).then_some(Basket { lines })
    }

    /// The hidden fields that carry the basket.
    fn fields(&self) -> Vec<String> {
        self.lines.iter().map(BasketLine::field).collect()
    }

    /// Adds a scanned item: more units of a SKU already in the basket join its line (with the
    /// price and shelf count just read); a new SKU is a new line at the end. Refused with the
    /// field to say it beside when the line or the basket would be too long.
    fn add(&mut self, item: &ScannedItem, quantity: i64) -> Result<(), (&'static str, String)> {
        let options = item.options.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", ");
        if let Some(line) = self.lines.iter_mut().find(|l| l.sku == item.sku) {
            let total = line.quantity + quantity;
            if total > MAX_QUANTITY {
                return Err(("quantity", format!("A line holds {MAX_QUANTITY} units at most.")));
            }
            *line = BasketLine {
                quantity: total,
                name: item.product_name.clone(),
                options,
                price: item.price,
                available: item.available_here,
                sku: item.sku.clone(),
            };
            return Ok(());
        }
        if self.lines.len() >= MAX_SALE_LINES {
            return Err(("sku", format!("A sale holds {MAX_SALE_LINES} lines at most: take payment for these first.")));
        }
        self.lines.push(BasketLine {
            sku: item.sku.clone(),
            quantity,
            name: item.product_name.clone(),
            options,
            price: item.price,
            available: item.available_here,
        });
        Ok(())
    }

    fn remove(&mut self, sku: &str) {
        self.lines.retain(|l| l.sku != sku);
    }

    /// What the lines come to at the scanned prices; `None` for an empty basket, or lines priced
    /// in different currencies.
    fn total(&self) -> Option<Money> {
        let first = self.lines.first()?;
        self.lines
            .iter()
            .try_fold(Money::zero(first.price.currency), |sum, l| sum.checked_add(&l.price.times(l.quantity)?))
    }

    fn sale_lines(&self) -> Vec<SaleLineInput> {
        self.lines.iter().map(|l| SaleLineInput { sku: l.sku.clone(), quantity: l.quantity }).collect()
    }
}

// ---- What went wrong ---------------------------------------------------------------------------

/// The basket line a module's field names (`lines[2].quantity` → `line-2`).
fn line_index(field: &str) -> Option<usize> {
    field.strip_prefix("lines[")?.split_once(']')?.0.parse().ok()
}

/// Places a module's error on the form: beside the fields `field` names, the rest as the
/// general message (a conflict's message always, as it says what to do).
fn place(errors: &mut FormErrors, error: &Error, field: impl Fn(&str) -> Option<String>) {
    let mut unplaced = None;
    for problem in error.field_errors() {
        match field(&problem.field) {
            Some(name) => errors.add(&name, sentence(&problem.message)),
            None => unplaced = unplaced.or(Some(sentence(&problem.message))),
        }
    }
    if matches!(error, Error::Conflict { .. }) || error.field_errors().is_empty() {
        errors.set_general(sentence(&error.to_string()));
    } else if let Some(message) = unplaced {
        errors.set_general(message);
    }
}

/// Why a sale was not rung up, for the till page: the status to answer, what to show, and
/// whether the pay form keeps its idempotency key (when the sale may have gone through: paying
/// again then returns it rather than selling twice).
fn sale_refused(error: &Error) -> (StatusCode, FormErrors, bool) {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
    let mut errors = FormErrors::default();
    match error {
        Error::PaymentDeclined(reason) => {
            let reason = reason.trim_end_matches('.');
            errors.set_general(format!(
                "The card was declined: {reason}. Nothing was charged or sold; try another card, or cash."
            ));
            (status, errors, false)
        }
        error if error.is_internal() || error.status() >= 500 => {
            if error.is_internal() {
                tracing::error!(%error, "the till could not ring up a sale");
            }
            errors.set_general(
                "The sale could not be finished just now. Take the payment again: the same sale is never charged twice.",
            );
            (status, errors, true)
        }
        error => {
            place(&mut errors, error, |field| match field {
                "payment.tendered" => Some("tendered".into()),
                "payment.token" => Some("token".into()),
                field => line_index(field).map(|i| format!("line-{i}")),
            });
            (status, errors, false)
        }
    }
}

// ---- The till ----------------------------------------------------------------------------------

/// The store selling: the one asked for, else the only one there is.
fn chosen<'a>(stores: &'a [Store], asked: &str) -> Option<&'a Store> {
    match (asked, stores) {
        ("", [only]) => Some(only),
        ("", _) => None,
        (asked, stores) => stores.iter().find(|s| s.location == asked),
    }
}

struct LineView {
    sku: String,
    name: String,
    options: String,
    price: String,
    quantity: i64,
    amount: String,
    available: i64,
    /// More units in the basket than on the shelves when scanned.
    short: bool,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "backoffice/till.html")]
struct TillPage {
    chrome: Chrome,
    can_manage: bool,
    /// Every store: its code and name.
    stores: Vec<(String, String)>,
    /// The store selling: code, name, and what it sells in; empty code when none is chosen.
    location: String,
    store_name: String,
    store_terms: String,
    basket: Vec<LineView>,
    /// The hidden `line` fields carrying the basket.
    lines: Vec<String>,
    total: String,
    /// What the last scan added, for the cashier to check.
    scanned: Option<String>,
    sku: String,
    quantity: String,
    method: String,
    tendered: String,
    token: String,
    idempotency_key: String,
    errors: FormErrors,
}

impl TillPage {
    fn new(chrome: Chrome, can_manage: bool, stores: &[Store], store: Option<&Store>, basket: &Basket) -> TillPage {
        TillPage {
            chrome,
            can_manage,
            stores: stores.iter().map(|s| (s.location.clone(), s.name.clone())).collect(),
            location: store.map(|s| s.location.clone()).unwrap_or_default(),
            store_name: store.map(|s| s.name.clone()).unwrap_or_default(),
            store_terms: store.map(|s| format!("{} prices, in {}", s.channel, s.currency)).unwrap_or_default(),
            basket: basket
                .lines
                .iter()
                .map(|l| LineView {
                    sku: l.sku.clone(),
                    name: l.name.clone(),
                    options: l.options.clone(),
                    price: l.price.to_string(),
                    quantity: l.quantity,
                    amount: l.price.times(l.quantity).map(|m| m.to_string()).unwrap_or_default(),
                    available: l.available,
                    short: l.quantity > l.available,
                    error: None,
                })
                .collect(),
            lines: basket.fields(),
            total: basket.total().map(|m| m.to_string()).unwrap_or_default(),
            scanned: None,
            sku: String::new(),
            quantity: "1".into(),
            method: "cash".into(),
            tendered: String::new(),
            token: DEFAULT_TOKEN.into(),
            idempotency_key: fresh_key(),
            errors: FormErrors::default(),
        }
    }

    /// Shows `errors`, each basket line's beside it.
    fn with_errors(mut self, errors: FormErrors) -> TillPage {
        for (i, line) in self.basket.iter_mut().enumerate() {
            line.error = errors.of(&format!("line-{i}")).map(str::to_string);
        }
        self.errors = errors;
        self
    }
}

/// The store and basket a till's form posted; otherwise what to show instead (the store, if it
/// is one, and what is wrong).
fn posted<'a>(stores: &'a [Store], form: &FormData) -> Result<(&'a Store, Basket), (Option<&'a Store>, FormErrors)> {
    let mut errors = FormErrors::default();
    let Some(store) = stores.iter().find(|s| s.location == form.text("store")) else {
        errors.add("store", "Choose the store you are selling at.");
        return Err((None, errors));
    };
    match Basket::from_form(form) {
        Some(basket) => Ok((store, basket)),
        None => {
            errors.set_general("The basket on this page could not be read: scan the items again.");
            Err((Some(store), errors))
        }
    }
}

/// The till again, with an empty basket and what is wrong with the form it was sent.
fn unreadable(
    chrome: Chrome,
    can_manage: bool,
    stores: &[Store],
    store: Option<&Store>,
    errors: FormErrors,
) -> PageResult {
    let page = TillPage::new(chrome, can_manage, stores, store, &Basket::default()).with_errors(errors);
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

async fn till(State(state): State<WebState>, session: Session, RawQuery(raw): RawQuery) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::PosSell), SECTION).await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let asked = FormData::from_query(raw).text("store");
    let stores = state.pos.list_stores(&session.ctx).await?;
    let store = chosen(&stores, &asked);
    let page = TillPage::new(chrome, session.can(Permission::PosManage), &stores, store, &Basket::default());
    if store.is_none() && !asked.is_empty() {
        let mut errors = FormErrors::default();
        errors.add("store", "No store has this code.");
        return Ok(render_status(StatusCode::NOT_FOUND, &page.with_errors(errors)));
    }
    Ok(render(&page))
}

async fn scan(State(state): State<WebState>, session: Session, form: FormData) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::PosSell), SECTION).await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let can_manage = session.can(Permission::PosManage);
    let stores = state.pos.list_stores(&session.ctx).await?;
    let (store, mut basket) = match posted(&stores, &form) {
        Ok(posted) => posted,
        Err((store, errors)) => return unreadable(chrome, can_manage, &stores, store, errors),
    };
    let (sku, typed) = (form.text("sku"), form.text("quantity"));
    let mut errors = FormErrors::default();
    if sku.is_empty() {
        errors.add("sku", "Scan or type a SKU.");
    }
    let units = quantity(&typed).map_err(|message| errors.add("quantity", message)).ok();
    let mut scanned = None;
    if let (Some(units), true) = (units, errors.is_empty()) {
        match state.pos.scan(&session.ctx, &store.location, &sku).await {
            Ok(item) => match basket.add(&item, units) {
                Ok(()) => {
                    scanned = Some(format!(
                        "{units} × {} ({}) at {} each; {} on the shelves here.",
                        item.product_name, item.sku, item.price, item.available_here
                    ))
                }
                Err((field, message)) => errors.add(field, message),
            },
            Err(Error::NotFound { .. }) => errors.add("sku", "No product with this SKU is sold at this store."),
            Err(error) => errors.absorb(error, |_| "sku".to_string())?,
        }
    }
    let mut page = TillPage::new(chrome, can_manage, &stores, Some(store), &basket);
    if errors.is_empty() {
        page.scanned = scanned;
        return Ok(render(&page));
    }
    (page.sku, page.quantity) = (sku, typed);
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page.with_errors(errors)))
}

async fn remove(State(state): State<WebState>, session: Session, form: FormData) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::PosSell), SECTION).await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let can_manage = session.can(Permission::PosManage);
    let stores = state.pos.list_stores(&session.ctx).await?;
    let (store, mut basket) = match posted(&stores, &form) {
        Ok(posted) => posted,
        Err((store, errors)) => return unreadable(chrome, can_manage, &stores, store, errors),
    };
    basket.remove(&form.text("remove"));
    Ok(render(&TillPage::new(chrome, can_manage, &stores, Some(store), &basket)))
}

/// The payment the pay form asks for: the cash handed over, or a card's token.
fn tender(
    method: &str,
    tendered: &str,
    token: &str,
    currency: Currency,
    errors: &mut FormErrors,
) -> Option<TenderInput> {
    match method {
        "card" if token.is_empty() => {
            errors.add("token", "Enter the card's token.");
            None
        }
        "card" => Some(TenderInput::Card { token: token.to_string() }),
        _ => match cash_tendered(tendered, currency) {
            Ok(tendered) => Some(TenderInput::Cash { tendered }),
            Err(message) => {
                errors.add("tendered", message);
                None
            }
        },
    }
}

/// What the cashier reads once paid: for cash, the change to give back.
fn paid(sale: &Sale) -> String {
    match (sale.tender.method, sale.tender.change) {
        (TenderMethod::Cash, Some(change)) if change.amount > 0 => {
            format!("Sale {} paid in cash: give back {change} in change.", sale.number)
        }
        (TenderMethod::Cash, _) => format!("Sale {} paid in cash, with no change to give.", sale.number),
        (TenderMethod::Card, _) => format!("Sale {} paid by card.", sale.number),
    }
}

async fn pay(State(state): State<WebState>, session: Session, form: FormData) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::PosSell), SECTION).await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let cashier = cashier(&session)?;
    let can_manage = session.can(Permission::PosManage);
    let stores = state.pos.list_stores(&session.ctx).await?;
    let (store, basket) = match posted(&stores, &form) {
        Ok(posted) => posted,
        Err((store, errors)) => return unreadable(chrome, can_manage, &stores, store, errors),
    };
    let method = if form.text("method") == "card" { "card" } else { "cash" };
    let (tendered, token, key) = (form.text("tendered"), form.text("token"), form.text("idempotency_key"));
    let mut errors = FormErrors::default();
    let payment = tender(method, &tendered, &token, store.currency, &mut errors);
    if basket.lines.is_empty() {
        errors.set_general("The basket is empty: scan an item first.");
    } else if !well_formed_key(&key) {
        errors.set_general("This payment form is out of date: take the payment again.");
    }
    let (mut status, mut keep_key) = (StatusCode::UNPROCESSABLE_ENTITY, false);
    if let (Some(payment), true) = (payment, errors.is_empty()) {
        let sale = NewSale { location: store.location.clone(), lines: basket.sale_lines(), payment };
        match state.pos.sell(&session.ctx, Sell { idempotency_key: key.clone(), cashier, sale }).await {
            Ok(sale) => {
                let to = format!("{SECTION}/sales/{}", sale.id);
                return Ok(redirect_with(&session, &to, FlashKind::Success, &paid(&sale)));
            }
            Err(error) => (status, errors, keep_key) = sale_refused(&error),
        }
    }
    let mut page = TillPage::new(chrome, can_manage, &stores, Some(store), &basket);
    page.method = method.to_string();
    page.tendered = tendered;
    if !token.is_empty() {
        page.token = token;
    }
    if keep_key {
        page.idempotency_key = key;
    }
    Ok(render_status(status, &page.with_errors(errors)))
}

// ---- A sale, its receipt and its returns ------------------------------------------------------

fn sale_id(id: &str) -> Result<Uuid, PageError> {
    Uuid::parse_str(id).map_err(|_| PageError(Error::not_found("sale", id)))
}

/// A sale's status in words, and its badge.
fn sale_status(status: SaleStatus) -> (&'static str, &'static str) {
    match status {
        SaleStatus::Completed => ("Completed", "badge badge-good"),
        SaleStatus::PartlyReturned => ("Partly returned", "badge badge-waiting"),
        SaleStatus::Returned => ("Returned", "badge badge-stopped"),
    }
}

fn method_label(method: TenderMethod) -> &'static str {
    match method {
        TenderMethod::Cash => "Cash",
        TenderMethod::Card => "Card",
    }
}

/// `0.20` → `20 %`.
fn rate(rate: Decimal) -> String {
    format!("{} %", (rate * Decimal::from(100)).normalize())
}

struct SaleLineView {
    sku: String,
    name: String,
    quantity: i64,
    returned: i64,
    unit_price: String,
    tax_rate: String,
    gross: String,
}

/// A line with units that can still come back, and the return form's field for it.
struct ReturnableLine {
    sku: String,
    name: String,
    left: i64,
    /// `return-<sku>`.
    field: String,
    value: String,
    error: Option<String>,
}

struct ReturnView {
    when: String,
    lines: String,
    amount: String,
    reason: String,
    restocked: bool,
    cashier: String,
}

#[derive(Template)]
#[template(path = "backoffice/till_sale.html")]
struct SalePage {
    chrome: Chrome,
    id: String,
    number: String,
    when: String,
    location: String,
    channel: String,
    cashier: String,
    status: &'static str,
    status_class: &'static str,
    method: &'static str,
    net: String,
    tax: String,
    gross: String,
    tendered: String,
    change: String,
    refunded: String,
    lines: Vec<SaleLineView>,
    /// The receipt as the till prints it: plain text, 40 columns.
    receipt: String,
    returns: Vec<ReturnView>,
    returnable: Vec<ReturnableLine>,
    reason: String,
    restock: bool,
    idempotency_key: String,
    errors: FormErrors,
}

fn return_field(sku: &str) -> String {
    format!("return-{sku}")
}

fn sale_page(chrome: Chrome, sale: &Sale, receipt: String, returns: &[StoreReturn]) -> SalePage {
    let (status, status_class) = sale_status(sale.status);
    let shown = |money: Option<Money>| money.map(|m| m.to_string()).unwrap_or_default();
    SalePage {
        chrome,
        id: sale.id.to_string(),
        number: sale.number.clone(),
        when: date_time(&sale.created_at),
        location: sale.location.clone(),
        channel: sale.channel.clone(),
        cashier: sale.cashier.name.clone(),
        status,
        status_class,
        method: method_label(sale.tender.method),
        net: sale.totals.net.to_string(),
        tax: sale.totals.tax.to_string(),
        gross: sale.totals.gross.to_string(),
        tendered: shown(sale.tender.tendered),
        change: shown(sale.tender.change),
        refunded: shown(Some(sale.refunded).filter(|m| m.amount != 0)),
        lines: sale
            .lines
            .iter()
            .map(|l| SaleLineView {
                sku: l.sku.clone(),
                name: l.product_name.clone(),
                quantity: l.quantity,
                returned: l.returned,
                unit_price: l.unit_price.to_string(),
                tax_rate: rate(l.tax_rate),
                gross: l.gross.to_string(),
            })
            .collect(),
        receipt,
        returns: returns
            .iter()
            .map(|r| ReturnView {
                when: date_time(&r.created_at),
                lines: r.lines.iter().map(|l| format!("{} × {}", l.quantity, l.sku)).collect::<Vec<_>>().join(", "),
                amount: r.amount.to_string(),
                reason: r.reason.clone(),
                restocked: r.restocked,
                cashier: r.cashier.name.clone(),
            })
            .collect(),
        returnable: sale
            .lines
            .iter()
            .filter(|l| l.quantity > l.returned)
            .map(|l| ReturnableLine {
                sku: l.sku.clone(),
                name: l.product_name.clone(),
                left: l.quantity - l.returned,
                field: return_field(&l.sku),
                value: "0".into(),
                error: None,
            })
            .collect(),
        reason: String::new(),
        restock: true,
        idempotency_key: fresh_key(),
        errors: FormErrors::default(),
    }
}

async fn load_sale(state: &WebState, session: &Session, chrome: Chrome, id: Uuid) -> Result<SalePage, PageError> {
    let ctx = &session.ctx;
    let (sale, receipt, returns) =
        tokio::join!(state.pos.get_sale(ctx, id), state.pos.receipt(ctx, id), state.pos.returns_for_sale(ctx, id));
    Ok(sale_page(chrome, &sale?, receipt?, &returns?))
}

async fn sale(State(state): State<WebState>, session: Session, Path(id): Path<String>) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::PosSell), SECTION).await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    Ok(render(&load_sale(&state, &session, chrome, sale_id(&id)?).await?))
}

/// `return-<sku>` fields: units of each SKU coming back (empty or 0 for none).
fn return_lines(form: &FormData, errors: &mut FormErrors) -> Vec<SaleLineInput> {
    let mut lines = Vec::new();
    for (name, value) in form.pairs().iter().filter(|(n, _)| n.starts_with("return-")) {
        let sku = name["return-".len()..].to_string();
        match value.trim() {
            "" => {}
            value => match value.parse::<i64>() {
                Ok(0) => {}
                Ok(quantity) if (1..=MAX_QUANTITY).contains(&quantity) => lines.push(SaleLineInput { sku, quantity }),
                _ => errors.add(name, "Enter a number of units, 0 or more."),
            },
        }
    }
    lines
}

async fn take_return(
    State(state): State<WebState>,
    session: Session,
    Path(id): Path<String>,
    form: FormData,
) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::PosSell), SECTION).await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let cashier = cashier(&session)?;
    let id = sale_id(&id)?;
    let mut errors = FormErrors::default();
    let lines = return_lines(&form, &mut errors);
    let (reason, restock, key) = (form.text("reason"), form.checked("restock"), form.text("idempotency_key"));
    if errors.is_empty() && lines.is_empty() {
        errors.set_general("Enter the units coming back.");
    } else if !well_formed_key(&key) {
        errors.set_general("This return form is out of date: take the return again.");
    }
    let (mut status, mut keep_key) = (StatusCode::UNPROCESSABLE_ENTITY, false);
    if errors.is_empty() {
        let input = NewStoreReturn {
            lines: lines.clone(),
            reason: if reason.is_empty() { "returned at the till".into() } else { reason.clone() },
            restock,
        };
        let take = TakeReturn { idempotency_key: key.clone(), cashier, sale_id: id, input };
        match state.pos.take_return(&session.ctx, take).await {
            Ok(taken) => {
                let shelf = if taken.restocked { " The units are back on the shelf." } else { "" };
                let text = format!("Return taken: {} refunded the way the sale was paid.{shelf}", taken.amount);
                return Ok(redirect_with(&session, &format!("{SECTION}/sales/{id}"), FlashKind::Success, &text));
            }
            Err(error) => {
                status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
                if error.is_internal() || error.status() >= 500 {
                    if error.is_internal() {
                        tracing::error!(%error, "the till could not take a return");
                    }
                    errors.set_general(
                        "The return could not be finished just now. Take it again: it is never refunded twice.",
                    );
                    keep_key = true;
                } else {
                    place(&mut errors, &error, |field| {
                        line_index(field).and_then(|i| lines.get(i)).map(|l| return_field(&l.sku))
                    });
                }
            }
        }
    }
    let mut page = load_sale(&state, &session, chrome, id).await?;
    for line in &mut page.returnable {
        line.value = form.text(&line.field);
        line.error = errors.of(&line.field).map(str::to_string);
    }
    (page.reason, page.restock) = (reason, restock);
    if keep_key {
        page.idempotency_key = key;
    }
    page.errors = errors;
    Ok(render_status(status, &page))
}

// ---- Recent sales ------------------------------------------------------------------------------

struct SaleRow {
    id: String,
    number: String,
    when: String,
    location: String,
    cashier: String,
    /// The list filtered on this cashier.
    cashier_link: String,
    status: &'static str,
    status_class: &'static str,
    method: &'static str,
    gross: String,
    refunded: String,
}

fn query_string(pairs: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs.iter().filter(|(_, value)| !value.is_empty()) {
        query.append_pair(name, value);
    }
    query.finish()
}

impl SaleRow {
    fn new(sale: &Sale, store: &str) -> SaleRow {
        let (status, status_class) = sale_status(sale.status);
        let cashier_id = sale.cashier.id.to_string();
        SaleRow {
            id: sale.id.to_string(),
            number: sale.number.clone(),
            when: date_time(&sale.created_at),
            location: sale.location.clone(),
            cashier: sale.cashier.name.clone(),
            cashier_link: format!("{SECTION}/sales?{}", query_string(&[("store", store), ("cashier", &cashier_id)])),
            status,
            status_class,
            method: method_label(sale.tender.method),
            gross: sale.totals.gross.to_string(),
            refunded: if sale.refunded.amount == 0 { String::new() } else { sale.refunded.to_string() },
        }
    }
}

/// The list's filters: a store's code and a cashier's id (a bad id said beside its field).
fn sale_filter(store: &str, cashier: &str, errors: &mut FormErrors) -> SaleFilter {
    let cashier_id = match cashier {
        "" => None,
        cashier => match Uuid::parse_str(cashier) {
            Ok(id) => Some(id),
            Err(_) => {
                errors.add("cashier", "Choose a cashier from the list.");
                None
            }
        },
    };
    SaleFilter { location: Some(store.to_string()).filter(|s| !s.is_empty()), cashier_id, from: None, to: None }
}

/// The cashiers to filter on: anyone, the staff member looking, those of the sales shown, and
/// the one filtered on.
fn cashier_options(me: &Cashier, sales: &[Sale], current: &str) -> Vec<(String, String)> {
    let mut options = vec![(String::new(), "Anyone".to_string()), (me.id.to_string(), format!("Me ({})", me.name))];
    let mut others: Vec<(String, String)> = sales
        .iter()
        .filter(|s| s.cashier.id != me.id)
        .map(|s| (s.cashier.id.to_string(), s.cashier.name.clone()))
        .collect();
    others.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    others.dedup();
    options.extend(others);
    if !current.is_empty() && !options.iter().any(|(id, _)| id == current) {
        options.push((current.to_string(), current.to_string()));
    }
    options
}

#[derive(Template)]
#[template(path = "backoffice/till_sales.html")]
struct SalesPage {
    chrome: Chrome,
    stores: Vec<(String, String)>,
    store: String,
    cashier: String,
    cashiers: Vec<(String, String)>,
    sales: Vec<SaleRow>,
    total: u64,
    pager: Pager,
    errors: FormErrors,
}

async fn sales(State(state): State<WebState>, session: Session, RawQuery(raw): RawQuery) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::PosSell), SECTION).await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let me = cashier(&session)?;
    let query = FormData::from_query(raw);
    let page = query.page_number();
    let (store, cashier) = (query.text("store"), query.text("cashier"));
    let mut errors = FormErrors::default();
    let filter = sale_filter(&store, &cashier, &mut errors);
    let ctx = &session.ctx;
    let (stores, found) = tokio::join!(
        state.pos.list_stores(ctx),
        state.pos.list_sales(ctx, filter, PageRequest { page, per_page: PER_PAGE })
    );
    let found = found?;
    let pairs = [("store", store.clone()), ("cashier", cashier.clone())];
    let view = SalesPage {
        chrome,
        stores: stores?.into_iter().map(|s| (s.location, s.name)).collect(),
        cashiers: cashier_options(&me, &found.items, &cashier),
        sales: found.items.iter().map(|s| SaleRow::new(s, &store)).collect(),
        total: found.total,
        pager: Pager::new(&format!("{SECTION}/sales"), &pairs, page, PER_PAGE, found.total),
        store,
        cashier,
        errors,
    };
    let code = if view.errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok(render_status(code, &view))
}

// ---- Stores ------------------------------------------------------------------------------------

/// The store form as typed. The store's name is also the name on its address.
#[derive(Default, Clone)]
struct StoreForm {
    location: String,
    name: String,
    address: AddressFields,
    channel: String,
    currency: String,
}

impl StoreForm {
    fn blank() -> StoreForm {
        StoreForm { channel: STORE_CHANNEL.into(), currency: DEFAULT_CURRENCY.into(), ..StoreForm::default() }
    }

    fn of(store: &Store) -> StoreForm {
        StoreForm {
            location: store.location.clone(),
            name: store.name.clone(),
            address: AddressFields::from_address(&store.address),
            channel: store.channel.clone(),
            currency: store.currency.to_string(),
        }
    }

    fn read(form: &FormData) -> StoreForm {
        StoreForm {
            location: form.text("location"),
            name: form.text("name"),
            address: AddressFields::from_form(form),
            channel: form.text("channel"),
            currency: form.text("currency").to_ascii_uppercase(),
        }
    }

    /// What the point of sale is sent; `None` with errors beside the fields when something
    /// required is missing (the address itself is checked by the point of sale).
    fn input(&self, errors: &mut FormErrors) -> Option<StoreInput> {
        if self.location.is_empty() {
            errors.add("location", "Enter the code of the store's stock location.");
        }
        if self.name.is_empty() {
            errors.add("name", "Enter the store's name, as receipts print it.");
        }
        let currency = match self.currency.as_str() {
            "" => None,
            code => match code.parse::<Currency>() {
                Ok(currency) => Some(currency),
                Err(_) => {
                    errors.add("currency", "Enter a currency code such as EUR.");
                    None
                }
            },
        };
        if !errors.is_empty() {
            return None;
        }
        Some(StoreInput {
            location: self.location.clone(),
            name: self.name.clone(),
            address: self.address.postal(),
            channel: Some(self.channel.clone()).filter(|c| !c.is_empty()),
            currency,
        })
    }
}

/// The form's name for a field the point of sale names (`address.city` → `city`).
fn store_field(field: &str) -> String {
    field.strip_prefix("address.").unwrap_or(field).to_string()
}

struct StoreRow {
    location: String,
    name: String,
    address: Vec<String>,
    channel: String,
    currency: String,
    updated: String,
    edit_link: String,
}

#[derive(Template)]
#[template(path = "backoffice/till_stores.html")]
struct StoresPage {
    chrome: Chrome,
    stores: Vec<StoreRow>,
    /// Stock locations of kind store: code and name, offered as the code is typed.
    locations: Vec<(String, String)>,
    form: StoreForm,
    /// Whether the form changes a store already set up.
    editing: bool,
    errors: FormErrors,
}

async fn stores_page(state: &WebState, session: &Session, chrome: Chrome) -> Result<StoresPage, PageError> {
    let ctx = &session.ctx;
    let (stores, locations) = tokio::join!(
        state.pos.list_stores(ctx),
        state.inventory.list_locations(ctx, PageRequest { page: 1, per_page: 100 })
    );
    Ok(StoresPage {
        chrome,
        stores: stores?
            .iter()
            .map(|s| StoreRow {
                location: s.location.clone(),
                name: s.name.clone(),
                address: address_lines(&s.address),
                channel: s.channel.clone(),
                currency: s.currency.to_string(),
                updated: date_time(&s.updated_at),
                edit_link: format!("{SECTION}/stores?{}", query_string(&[("location", &s.location)])),
            })
            .collect(),
        // Only a help for typing: the page stands without it.
        locations: locations
            .map(|found| {
                found.items.into_iter().filter(|l| l.kind == LocationKind::Store).map(|l| (l.code, l.name)).collect()
            })
            .unwrap_or_default(),
        form: StoreForm::blank(),
        editing: false,
        errors: FormErrors::default(),
    })
}

async fn stores(State(state): State<WebState>, session: Session, RawQuery(raw): RawQuery) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::PosManage), SECTION).await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let asked = FormData::from_query(raw).text("location");
    let mut page = stores_page(&state, &session, chrome).await?;
    if !asked.is_empty() {
        let stores = state.pos.list_stores(&session.ctx).await?;
        match stores.iter().find(|s| s.location == asked) {
            Some(store) => (page.form, page.editing) = (StoreForm::of(store), true),
            None => page.form.location = asked,
        }
    }
    Ok(render(&page))
}

async fn save_store(State(state): State<WebState>, session: Session, form: FormData) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::PosManage), SECTION).await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let typed = StoreForm::read(&form);
    let mut errors = FormErrors::default();
    if let Some(input) = typed.input(&mut errors) {
        match state.pos.upsert_store(&session.ctx, input).await {
            Ok(store) => {
                let text = format!(
                    "{} is set up: its till sells at {} prices, in {}.",
                    store.name, store.channel, store.currency
                );
                return Ok(redirect_with(&session, &format!("{SECTION}/stores"), FlashKind::Success, &text));
            }
            Err(Error::NotFound { .. }) => {
                errors.add("location", "No stock location has this code: add it under Stock first, as a store.")
            }
            Err(error) => errors.absorb(error, store_field)?,
        }
    }
    let mut page = stores_page(&state, &session, chrome).await?;
    page.editing = page.stores.iter().any(|s| s.location == typed.location);
    (page.form, page.errors) = (typed, errors);
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::{DateTime, Utc};
    use comptoir_contracts::address::PostalAddress;
    use comptoir_contracts::pos::{ReturnedLine, SaleLine, SaleTotals, Tender};
    use comptoir_kernel::FieldError;

    use super::*;

    fn eur(amount: i64) -> Money {
        Money::new(amount, Currency::EUR)
    }

    fn at() -> DateTime<Utc> {
        "2026-03-01T10:00:00Z".parse().unwrap()
    }

    fn chrome() -> Chrome {
        Chrome {
            shop_name: "Shop".into(),
            csrf: "token".into(),
            email: "ann@example.com".into(),
            nav: Vec::new(),
            flash: None,
        }
    }

    fn store(location: &str) -> Store {
        Store {
            location: location.into(),
            name: format!("Store {location}"),
            address: PostalAddress {
                name: "Paris store".into(),
                line1: "1 rue de Rivoli".into(),
                line2: None,
                city: "Paris".into(),
                postal_code: "75001".into(),
                region: None,
                country: "FR".into(),
                phone: None,
            },
            channel: STORE_CHANNEL.into(),
            currency: Currency::EUR,
            created_at: at(),
            updated_at: at(),
        }
    }

    fn item(sku: &str, price: i64, available: i64) -> ScannedItem {
        ScannedItem {
            sku: sku.into(),
            product_id: Uuid::nil(),
            product_name: format!("Product {sku}"),
            options: BTreeMap::from([("size".to_string(), "M".to_string())]),
            price: eur(price),
            available_here: available,
        }
    }

    fn form(pairs: &[(&str, &str)]) -> FormData {
        FormData::from_pairs(pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect())
    }

    /// A form carrying `basket` the way the page does, with `extra` fields.
    fn carrying(basket: &Basket, extra: &[(&str, &str)]) -> FormData {
        let mut pairs: Vec<(String, String)> = vec![("csrf_token".into(), "token".into())];
        pairs.extend(basket.fields().into_iter().map(|line| ("line".to_string(), line)));
        pairs.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        FormData::from_pairs(pairs)
    }

    fn sale() -> Sale {
        let line = |sku: &str, quantity: i64, returned: i64, unit: i64| SaleLine {
            sku: sku.into(),
            product_id: Uuid::nil(),
            product_name: format!("<i>{sku}</i>"),
            quantity,
            unit_price: eur(unit),
            tax_rate: Decimal::new(20, 2),
            net: eur(unit * quantity * 5 / 6),
            tax: eur(unit * quantity - unit * quantity * 5 / 6),
            gross: eur(unit * quantity),
            returned,
        };
        Sale {
            id: Uuid::nil(),
            number: "PARIS-000042".into(),
            location: "paris store".into(),
            channel: STORE_CHANNEL.into(),
            cashier: Cashier { id: Uuid::nil(), name: "bob@example.com".into() },
            status: SaleStatus::PartlyReturned,
            lines: vec![line("MUG", 2, 1, 1250), line("CUP", 1, 1, 800)],
            totals: SaleTotals { net: eur(2750), tax: eur(550), gross: eur(3300) },
            tender: Tender {
                method: TenderMethod::Cash,
                amount: eur(3300),
                tendered: Some(eur(4000)),
                change: Some(eur(700)),
                payment_id: Uuid::nil(),
            },
            refunded: eur(2050),
            created_at: at(),
        }
    }

    #[test]
    fn cash_is_read_in_major_units_without_floats() {
        for (typed, minor) in
            [("20", 2000), ("20.5", 2050), ("20.50", 2050), ("20,50", 2050), (" 7 ", 700), ("0.01", 1)]
        {
            assert_eq!(cash_tendered(typed, Currency::EUR), Ok(minor), "{typed}");
        }
        // Exact however large: no float rounds the cents away.
        assert_eq!(cash_tendered("1234567.89", Currency::EUR), Ok(123_456_789));
        assert_eq!(cash_tendered("0.29", Currency::EUR), Ok(29));
        let refused = "Enter the cash handed over as an amount such as 20.00.";
        for typed in ["20.505", "-1", "abc", "+5", "1e3", "20.5.0", "20.", ".5", "2 0", "99999999999999999999"] {
            assert_eq!(cash_tendered(typed, Currency::EUR), Err(refused.to_string()), "{typed}");
        }
        assert_eq!(cash_tendered("  ", Currency::EUR), Err("Enter the cash the customer handed over.".to_string()));
        let yen: Currency = "JPY".parse().unwrap();
        assert_eq!(cash_tendered("500", yen), Ok(500));
        assert_eq!(cash_tendered("20.5", yen), Err("Enter the cash handed over as an amount such as 20.".to_string()));
    }

    #[test]
    fn the_pay_form_asks_for_cash_or_a_token() {
        let mut errors = FormErrors::default();
        let cash = tender("cash", "50", "tok_visa", Currency::EUR, &mut errors);
        assert!(matches!(cash, Some(TenderInput::Cash { tendered: 5000 })));
        let card = tender("card", "", "tok_visa", Currency::EUR, &mut errors);
        assert!(matches!(card, Some(TenderInput::Card { token }) if token == "tok_visa"));
        assert!(errors.is_empty(), "the cash field is not read for a card");
        assert!(tender("card", "20", "", Currency::EUR, &mut errors).is_none());
        assert!(tender("cash", "20.505", "tok_visa", Currency::EUR, &mut errors).is_none());
        assert_eq!(errors.of("token"), Some("Enter the card's token."));
        assert!(errors.of("tendered").is_some());
    }

    #[test]
    fn the_basket_goes_round_in_hidden_fields() {
        let mut basket = Basket::default();
        basket.add(&item("MUG", 1250, 7), 2).unwrap();
        basket.add(&item("TEA \"<Earl>\" & co", 450, 0), 1).unwrap();
        let sent = carrying(&basket, &[("sku", "X"), ("store", "paris")]);
        assert_eq!(Basket::from_form(&sent), Some(basket.clone()));
        assert_eq!(basket.lines[0].options, "size: M");
        assert_eq!(basket.total(), Some(eur(2950)));
        let lines = basket.sale_lines();
        assert_eq!((lines[1].sku.as_str(), lines[1].quantity), ("TEA \"<Earl>\" & co", 1));

        assert_eq!(Basket::from_form(&form(&[])), Some(Basket::default()));
        assert_eq!(Basket::default().total(), None);
        for tampered in ["{", r#"{"sku":"MUG"}"#, &basket.lines[0].field().replace("\"quantity\":2", "\"quantity\":0")]
        {
            assert_eq!(Basket::from_form(&form(&[("line", tampered)])), None, "{tampered}");
        }
    }

    #[test]
    fn scanning_again_adds_to_the_line_and_lines_can_go() {
        let mut basket = Basket::default();
        basket.add(&item("MUG", 1250, 7), 2).unwrap();
        basket.add(&item("CUP", 800, 3), 1).unwrap();
        basket.add(&item("MUG", 1300, 6), 3).unwrap();
        assert_eq!(basket.lines.len(), 2);
        assert_eq!((basket.lines[0].quantity, basket.lines[0].price, basket.lines[0].available), (5, eur(1300), 6));
        assert_eq!(basket.add(&item("MUG", 1300, 6), MAX_QUANTITY).unwrap_err().0, "quantity");
        basket.remove("MUG");
        assert_eq!(basket.lines.iter().map(|l| l.sku.as_str()).collect::<Vec<_>>(), ["CUP"]);
        let mut full = Basket::default();
        for i in 0..MAX_SALE_LINES {
            full.add(&item(&format!("SKU-{i}"), 100, 1), 1).unwrap();
        }
        assert_eq!(full.add(&item("ONE-MORE", 100, 1), 1).unwrap_err().0, "sku");
    }

    #[test]
    fn quantities_and_keys_are_checked() {
        assert_eq!(quantity("3"), Ok(3));
        for bad in ["", "0", "-2", "x", "10000", "1.5"] {
            assert!(quantity(bad).is_err(), "{bad}");
        }
        assert!(well_formed_key(&fresh_key()));
        assert_ne!(fresh_key(), fresh_key());
        assert!(!well_formed_key("") && !well_formed_key("a b c d e f") && !well_formed_key(&"k".repeat(101)));
    }

    #[test]
    fn a_store_is_chosen_or_asked_for() {
        let one = [store("paris")];
        let two = [store("paris"), store("lyon")];
        assert_eq!(chosen(&one, "").map(|s| s.location.as_str()), Some("paris"));
        assert_eq!(chosen(&two, "").map(|s| s.location.as_str()), None);
        assert_eq!(chosen(&two, "lyon").map(|s| s.location.as_str()), Some("lyon"));
        assert!(chosen(&two, "nice").is_none() && chosen(&[], "").is_none());

        let basket = Basket::default();
        let (found, _) = posted(&two, &carrying(&basket, &[("store", "lyon")])).unwrap();
        assert_eq!(found.location, "lyon");
        let (store, errors) = posted(&two, &carrying(&basket, &[("store", "nice")])).unwrap_err();
        assert!(store.is_none() && errors.of("store").is_some());
        let (store, errors) = posted(&two, &form(&[("store", "lyon"), ("line", "nope")])).unwrap_err();
        assert!(store.is_some() && errors.general().is_some());
    }

    #[test]
    fn a_refused_sale_is_told_on_the_till() {
        let (status, errors, keep) = sale_refused(&Error::PaymentDeclined("insufficient funds".into()));
        assert_eq!((status, keep), (StatusCode::PAYMENT_REQUIRED, false));
        assert_eq!(
            errors.general(),
            Some("The card was declined: insufficient funds. Nothing was charged or sold; try another card, or cash.")
        );

        let short =
            Error::conflict_on("insufficient-stock", "lines[1].quantity", "only 2 units of CUP are on the shelves");
        let (status, errors, keep) = sale_refused(&short);
        assert_eq!((status, keep), (StatusCode::CONFLICT, false));
        assert_eq!(errors.of("line-1"), Some("Only 2 units of CUP are on the shelves."));
        assert_eq!(errors.general(), Some("Only 2 units of CUP are on the shelves."));

        let (status, errors, _) =
            sale_refused(&Error::validation("payment.tendered", "must cover the total of 33.00 EUR"));
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(errors.of("tendered"), Some("Must cover the total of 33.00 EUR."));
        assert_eq!(errors.general(), None);

        let unknown =
            Error::validation_many(vec![FieldError { field: "location".into(), message: "is not a store".into() }]);
        assert_eq!(sale_refused(&unknown).1.general(), Some("Is not a store."));

        let (status, errors, keep) = sale_refused(&Error::unavailable("payment is not answering"));
        assert_eq!(
            (status, keep),
            (StatusCode::SERVICE_UNAVAILABLE, true),
            "the same key, so paying again never sells twice"
        );
        assert!(errors.general().unwrap().contains("never charged twice"));
        assert!(!sale_refused(&Error::internal("db down")).1.general().unwrap().contains("db"));
    }

    #[test]
    fn return_quantities_are_read_per_sku() {
        let mut errors = FormErrors::default();
        let lines = return_lines(
            &form(&[
                ("return-MUG", "1"),
                ("return-CUP", "0"),
                ("return-TEA", ""),
                ("return-BAD", "-1"),
                ("reason", "x"),
            ]),
            &mut errors,
        );
        assert_eq!(lines.iter().map(|l| (l.sku.as_str(), l.quantity)).collect::<Vec<_>>(), [("MUG", 1)]);
        assert_eq!(errors.of("return-BAD"), Some("Enter a number of units, 0 or more."));
        assert_eq!(line_index("lines[12].quantity"), Some(12));
        assert_eq!(line_index("lines.quantity"), None);
    }

    #[test]
    fn sales_are_filtered_by_store_and_cashier() {
        let mut errors = FormErrors::default();
        let me = Uuid::from_u128(7);
        let filter = sale_filter("paris", &me.to_string(), &mut errors);
        assert_eq!((filter.location.as_deref(), filter.cashier_id), (Some("paris"), Some(me)));
        assert!(errors.is_empty());
        let filter = sale_filter("", "bob", &mut errors);
        assert!(filter.location.is_none() && filter.cashier_id.is_none());
        assert_eq!(errors.of("cashier"), Some("Choose a cashier from the list."));

        let cashier = Cashier { id: me, name: "ann@example.com".into() };
        let options = cashier_options(&cashier, &[sale(), sale()], "");
        let labels: Vec<&str> = options.iter().map(|(_, label)| label.as_str()).collect();
        assert_eq!(labels, ["Anyone", "Me (ann@example.com)", "bob@example.com"]);
        let row = SaleRow::new(&sale(), "paris store");
        assert_eq!(row.cashier_link, format!("/till/sales?store=paris+store&cashier={}", Uuid::nil()));
        assert_eq!((row.status, row.refunded.as_str()), ("Partly returned", "20.50 EUR"));
    }

    #[test]
    fn the_store_form_becomes_a_store() {
        let typed = StoreForm::read(&form(&[
            ("location", "paris-store"),
            ("name", "Paris"),
            ("line1", "1 rue de Rivoli"),
            ("city", "Paris"),
            ("postal_code", "75001"),
            ("country", "fr"),
            ("channel", ""),
            ("currency", "usd"),
        ]));
        let mut errors = FormErrors::default();
        let input = typed.input(&mut errors).unwrap();
        assert_eq!(
            (input.location.as_str(), input.address.name.as_str(), input.address.country.as_str()),
            ("paris-store", "Paris", "FR")
        );
        assert_eq!((input.channel, input.currency), (None, Some("USD".parse().unwrap())));
        let mut errors = FormErrors::default();
        assert!(StoreForm::read(&form(&[("currency", "euros")])).input(&mut errors).is_none());
        assert!(errors.of("location").is_some() && errors.of("name").is_some());
        assert_eq!(errors.of("currency"), Some("Enter a currency code such as EUR."));
        assert_eq!(store_field("address.postal_code"), "postal_code");
        let blank = StoreForm::blank();
        assert_eq!((blank.channel.as_str(), blank.currency.as_str()), ("store", "EUR"));
        assert_eq!(StoreForm::of(&store("lyon")).address.city, "Paris");
    }

    #[test]
    fn the_till_carries_its_basket_and_escapes_it() {
        let mut basket = Basket::default();
        basket.add(&item("<script>alert(1)</script>", 1250, 1), 2).unwrap();
        let stores = [store("paris"), store("lyon")];
        let mut errors = FormErrors::default();
        errors.add("line-0", "Only 1 unit is on the shelves.");
        let page = TillPage::new(chrome(), false, &stores, Some(&stores[0]), &basket).with_errors(errors);
        let key = page.idempotency_key.clone();
        let html = page.render().unwrap();
        assert!(!html.contains("<script>"));
        assert_eq!(
            html.matches(r#"<input type="hidden" name="line" value="{&#34;sku&#34;:&#34;&#60;script&#62;"#).count(),
            3,
            "the scan, basket and pay forms each carry the basket"
        );
        assert_eq!(html.matches(r#"<input type="hidden" name="store" value="paris">"#).count(), 3);
        assert_eq!(html.matches(r#"name="csrf_token" value="token""#).count(), 4, "every form, sign-out included");
        assert!(html.contains(&format!(r#"<input type="hidden" name="idempotency_key" value="{key}">"#)));
        assert!(html.contains(r#"<span class="stock-out">1</span>"#), "more in the basket than on the shelves");
        assert!(html.contains("Only 1 unit is on the shelves."));
        assert!(html.contains("Take payment of 25.00 EUR"));
        assert!(html.contains(r#"<input id="token" name="token" type="text" value="tok_visa""#));

        let html = TillPage::new(chrome(), true, &[], None, &Basket::default()).render().unwrap();
        assert!(html.contains(r#"<a href="/till/stores">Set up a store</a>"#));
        let html = TillPage::new(chrome(), false, &[], None, &Basket::default()).render().unwrap();
        assert!(html.contains("No store is set up for selling yet.") && html.contains("pos:manage"));
        let html = TillPage::new(chrome(), false, &stores, None, &Basket::default()).render().unwrap();
        assert!(html.contains(r#"<select id="store" name="store">"#) && !html.contains("Take payment"));
    }

    #[test]
    fn the_sale_page_shows_the_receipt_and_takes_returns() {
        let returned = StoreReturn {
            id: Uuid::nil(),
            sale_id: Uuid::nil(),
            sale_number: "PARIS-000042".into(),
            location: "paris store".into(),
            channel: STORE_CHANNEL.into(),
            cashier: Cashier { id: Uuid::nil(), name: "bob@example.com".into() },
            lines: vec![ReturnedLine { sku: "MUG".into(), product_id: Uuid::nil(), quantity: 1, amount: eur(1250) }],
            amount: eur(1250),
            reason: "chipped".into(),
            restocked: false,
            created_at: at(),
        };
        let page = sale_page(chrome(), &sale(), "  SHOP <&>\nTOTAL  33.00".into(), &[returned]);
        assert_eq!(page.returnable.len(), 1, "the cup came back already");
        assert_eq!((page.returnable[0].field.as_str(), page.returnable[0].left), ("return-MUG", 1));
        assert_eq!(page.lines[0].tax_rate, "20 %");
        assert_eq!((page.tendered.as_str(), page.change.as_str()), ("40.00 EUR", "7.00 EUR"));
        let html = page.render().unwrap();
        assert!(html.contains("<pre class=\"receipt\">  SHOP &#60;&#38;&#62;\nTOTAL  33.00</pre>"));
        assert!(!html.contains("<i>MUG</i>"));
        assert!(html.contains(
            r#"<form method="post" action="/till/sales/00000000-0000-0000-0000-000000000000/returns" novalidate>"#
        ));
        assert!(html.contains(r#"name="return-MUG" type="number" min="0" max="1" value="0""#));
        assert!(html.contains(r#"<input type="checkbox" id="restock" name="restock" value="yes" checked>"#));
        assert!(html.contains(r#"href="/till?store=paris%20store""#));
        assert!(html.contains("1 × MUG") && html.contains("chipped"));
        assert_eq!(paid(&sale()), "Sale PARIS-000042 paid in cash: give back 7.00 EUR in change.");
    }
}
