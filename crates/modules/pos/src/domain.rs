//! Point-of-sale rules without I/O: reading and checking requests, pricing a sale from the
//! catalog's offers and billing's tax, the change given for cash, sale numbers, what a return
//! refunds, and the records the store keeps for sales and returns.

use std::collections::HashMap;

use comptoir_contracts::address::PostalAddress;
use comptoir_contracts::billing::TaxBreakdown;
use comptoir_contracts::catalog::SkuOffer;
use comptoir_contracts::pos::{
    Cashier, MAX_SALE_LINES, ReturnedLine, STORE_CHANNEL, Sale, SaleLine, SaleLineInput, SaleStatus, SaleTotals, Sell,
    Store, StoreInput, StoreReturn, TakeReturn, Tender as TenderRecord, TenderInput, TenderMethod,
};
use comptoir_kernel::time::Timestamp;
use comptoir_kernel::validate::{self, Problems};
use comptoir_kernel::{Currency, Error, Money, Result};
use uuid::Uuid;

const MAX_KEY_LEN: usize = 200;
const MAX_NAME_LEN: usize = 200;
const MAX_CASHIER_LEN: usize = 100;
const MAX_SKU_LEN: usize = 120;
/// Inventory's location codes are at most this long.
const MAX_CODE_LEN: usize = 64;
const MAX_REASON_LEN: usize = 500;
const MAX_TOKEN_LEN: usize = 200;
/// Inventory never moves more units of a SKU in one request.
const MAX_UNITS: i64 = 1_000_000;
/// Cash handed over, in minor units: bounds the arithmetic, not a business rule.
const MAX_TENDERED: i64 = 1_000_000_000_000;

fn idempotency_key(p: &mut Problems, value: &str) -> Option<String> {
    p.check(validate::required_text("idempotency_key", value, MAX_KEY_LEN))
}

fn cashier(p: &mut Problems, cashier: Cashier) -> Option<Cashier> {
    let name = p.check(validate::required_text("cashier.name", &cashier.name, MAX_CASHIER_LEN))?;
    Some(Cashier { id: cashier.id, name })
}

fn location(p: &mut Problems, value: &str) -> Option<String> {
    p.check(validate::required_text("location", value, MAX_CODE_LEN))
}

// ---- Stores ----------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreDraft {
    pub location: String,
    pub name: String,
    pub address: PostalAddress,
    pub channel: String,
    /// `None`: the channel's currency.
    pub currency: Option<Currency>,
}

pub fn parse_store(input: StoreInput) -> Result<StoreDraft> {
    let mut p = Problems::default();
    let location = location(&mut p, &input.location);
    let name = p.check(validate::required_text("name", &input.name, MAX_NAME_LEN));
    let address = p.check(input.address.validated("address"));
    let channel =
        p.check(validate::required_text("channel", input.channel.as_deref().unwrap_or(STORE_CHANNEL), MAX_CODE_LEN));
    p.finish((|| {
        Some(StoreDraft {
            location: location?,
            name: name?,
            address: address?,
            channel: channel?,
            currency: input.currency,
        })
    })())
}

// ---- Sales -----------------------------------------------------------------------------------

/// One SKU of a request. `index` is the first request line that named it, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedLine {
    pub index: usize,
    pub sku: String,
    pub quantity: i64,
}

/// The lines of a sale or a return, checked, one per SKU (lines naming the same SKU are summed,
/// as when an item is scanned twice), in the order first scanned.
fn wanted_lines(p: &mut Problems, lines: &[SaleLineInput]) -> Vec<WantedLine> {
    if lines.is_empty() {
        p.add("lines", "must not be empty");
    }
    if lines.len() > MAX_SALE_LINES {
        p.add("lines", format!("at most {MAX_SALE_LINES} lines"));
        return Vec::new();
    }
    let mut wanted: Vec<WantedLine> = Vec::with_capacity(lines.len());
    let mut by_sku: HashMap<String, usize> = HashMap::new();
    for (index, line) in lines.iter().enumerate() {
        let sku = p.check(validate::required_text(&format!("lines[{index}].sku"), &line.sku, MAX_SKU_LEN));
        let quantity = p.check(validate::positive_quantity(&format!("lines[{index}].quantity"), line.quantity));
        let (Some(sku), Some(quantity)) = (sku, quantity) else { continue };
        match by_sku.get(&sku) {
            Some(&at) => {
                let total = wanted[at].quantity + quantity;
                if total > MAX_UNITS {
                    p.add(format!("lines[{index}].quantity"), format!("{sku} totals more than {MAX_UNITS}"));
                }
                wanted[at].quantity = total;
            }
            None => {
                by_sku.insert(sku.clone(), wanted.len());
                wanted.push(WantedLine { index, sku, quantity });
            }
        }
    }
    wanted
}

/// How the customer pays, checked. The card token goes to the payment module and nowhere else.
#[derive(Clone, PartialEq, Eq)]
pub enum Tender {
    Cash { tendered: i64 },
    Card { token: String },
}

impl std::fmt::Debug for Tender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tender::Cash { tendered } => f.debug_struct("Cash").field("tendered", tendered).finish(),
            Tender::Card { .. } => f.write_str("Card"),
        }
    }
}

impl Tender {
    pub fn method(&self) -> TenderMethod {
        match self {
            Tender::Cash { .. } => TenderMethod::Cash,
            Tender::Card { .. } => TenderMethod::Card,
        }
    }
}

fn tender(p: &mut Problems, input: TenderInput) -> Option<Tender> {
    match input {
        TenderInput::Cash { tendered } if tendered < 0 => {
            p.add("payment.tendered", "must not be negative");
            None
        }
        TenderInput::Cash { tendered } if tendered > MAX_TENDERED => {
            p.add("payment.tendered", format!("must be at most {MAX_TENDERED} minor units"));
            None
        }
        TenderInput::Cash { tendered } => Some(Tender::Cash { tendered }),
        TenderInput::Card { token } => {
            let token = p.check(validate::required_text("payment.token", &token, MAX_TOKEN_LEN))?;
            Some(Tender::Card { token })
        }
    }
}

/// A sale request, checked.
#[derive(Debug, Clone)]
pub struct SaleDraft {
    pub key: String,
    pub cashier: Cashier,
    pub location: String,
    pub lines: Vec<WantedLine>,
    pub tender: Tender,
}

impl SaleDraft {
    /// What the request asks for, to tell a retry from another sale reusing its key. The card
    /// token is left out: it is never stored.
    pub fn fingerprint(&self) -> String {
        let lines: Vec<(&str, i64)> = self.lines.iter().map(|l| (l.sku.as_str(), l.quantity)).collect();
        let tendered = match self.tender {
            Tender::Cash { tendered } => Some(tendered),
            Tender::Card { .. } => None,
        };
        serde_json::json!([self.location, lines, method_to_db(self.tender.method()), tendered]).to_string()
    }
}

pub fn parse_sale(sell: Sell) -> Result<SaleDraft> {
    let mut p = Problems::default();
    let key = idempotency_key(&mut p, &sell.idempotency_key);
    let cashier = cashier(&mut p, sell.cashier);
    let location = location(&mut p, &sell.sale.location);
    let lines = wanted_lines(&mut p, &sell.sale.lines);
    let tender = tender(&mut p, sell.sale.payment);
    p.finish((|| Some(SaleDraft { key: key?, cashier: cashier?, location: location?, lines, tender: tender? }))())
}

/// A sale's lines and totals as the till charges them.
#[derive(Debug, Clone, PartialEq)]
pub struct PricedSale {
    pub lines: Vec<SaleLine>,
    pub totals: SaleTotals,
}

/// The lines priced from the store channel's offers (one per wanted line, in order) and taxed by
/// billing (one taxed line per wanted line, in order), like ordering prices an order: the unit
/// price as the channel shows it, net, tax and gross as billing split them. The totals are the
/// lines' sums, so the receipt always adds up.
pub fn price_sale(
    wanted: &[WantedLine],
    offers: &[SkuOffer],
    tax: &TaxBreakdown,
    currency: Currency,
) -> Result<PricedSale> {
    if offers.len() != wanted.len() || tax.lines.len() != wanted.len() {
        return Err(Error::internal(format!(
            "{} lines priced and {} taxed for a sale of {} lines",
            offers.len(),
            tax.lines.len(),
            wanted.len()
        )));
    }
    let mut totals = (0i64, 0i64, 0i64);
    let mut lines = Vec::with_capacity(wanted.len());
    for ((line, offer), taxed) in wanted.iter().zip(offers).zip(&tax.lines) {
        if offer.sku != line.sku || taxed.sku != line.sku {
            return Err(Error::internal(format!(
                "{} was priced as {} and taxed as {}",
                line.sku, offer.sku, taxed.sku
            )));
        }
        if [taxed.net, taxed.tax, taxed.gross].iter().any(|m| m.currency != currency) {
            return Err(Error::internal(format!("billing taxed {} in another currency than {currency}", line.sku)));
        }
        let too_large = || Error::validation(format!("lines[{}].quantity", line.index), "the sale is too large");
        totals.0 = totals.0.checked_add(taxed.net.amount).ok_or_else(too_large)?;
        totals.1 = totals.1.checked_add(taxed.tax.amount).ok_or_else(too_large)?;
        totals.2 = totals.2.checked_add(taxed.gross.amount).ok_or_else(too_large)?;
        lines.push(SaleLine {
            sku: line.sku.clone(),
            product_id: offer.product_id,
            product_name: offer.product_name.clone(),
            quantity: line.quantity,
            unit_price: offer.price,
            tax_rate: taxed.rate,
            net: taxed.net,
            tax: taxed.tax,
            gross: taxed.gross,
            returned: 0,
        });
    }
    if totals.2 <= 0 {
        return Err(Error::validation("lines", "the sale comes to nothing: there is no amount to take"));
    }
    let money = |amount| Money::new(amount, currency);
    Ok(PricedSale { lines, totals: SaleTotals { net: money(totals.0), tax: money(totals.1), gross: money(totals.2) } })
}

/// The change given back when `tendered` pays `gross`; 422 on `payment.tendered` when it does not
/// cover it.
pub fn cash_change(tendered: i64, gross: Money) -> Result<i64> {
    if tendered < gross.amount {
        return Err(Error::validation(
            "payment.tendered",
            format!("{} does not cover the total of {gross}", Money::new(tendered, gross.currency)),
        ));
    }
    Ok(tendered - gross.amount)
}

/// `PARIS-STORE-000042`: the store's code and its sales counted from one.
pub fn sale_number(location: &str, sequence: i64) -> String {
    format!("{}-{sequence:06}", location.to_uppercase())
}

/// Where an attempt to ring up a sale stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaleState {
    /// Recorded; nothing taken yet.
    Pending,
    /// Units held at the store (the reservation is recorded).
    Reserved,
    /// Found stale: what it took is being given back.
    Abandoning,
    Completed,
    PartlyReturned,
    Returned,
    /// Refused (stock, payment, input) or abandoned; `failure` says why.
    Failed,
}

/// The states of an attempt a retry resumes.
pub const IN_FLIGHT: [SaleState; 2] = [SaleState::Pending, SaleState::Reserved];
/// The states of a completed sale, returned or not.
pub const SOLD: [SaleState; 3] = [SaleState::Completed, SaleState::PartlyReturned, SaleState::Returned];

impl SaleState {
    pub fn to_db(self) -> &'static str {
        match self {
            SaleState::Pending => "pending",
            SaleState::Reserved => "reserved",
            SaleState::Abandoning => "abandoning",
            SaleState::Completed => "completed",
            SaleState::PartlyReturned => "partly_returned",
            SaleState::Returned => "returned",
            SaleState::Failed => "failed",
        }
    }

    pub fn from_db(value: &str) -> Result<SaleState> {
        Ok(match value {
            "pending" => SaleState::Pending,
            "reserved" => SaleState::Reserved,
            "abandoning" => SaleState::Abandoning,
            "completed" => SaleState::Completed,
            "partly_returned" => SaleState::PartlyReturned,
            "returned" => SaleState::Returned,
            "failed" => SaleState::Failed,
            other => return Err(Error::internal(format!("unknown sale status {other:?} in the database"))),
        })
    }

    /// The status of a sale in this state; `None` for an attempt that is not (yet) a sale.
    pub fn sale_status(self) -> Option<SaleStatus> {
        match self {
            SaleState::Completed => Some(SaleStatus::Completed),
            SaleState::PartlyReturned => Some(SaleStatus::PartlyReturned),
            SaleState::Returned => Some(SaleStatus::Returned),
            _ => None,
        }
    }
}

pub fn method_to_db(method: TenderMethod) -> &'static str {
    match method {
        TenderMethod::Cash => "cash",
        TenderMethod::Card => "card",
    }
}

pub fn method_from_db(value: &str) -> Result<TenderMethod> {
    match value {
        "cash" => Ok(TenderMethod::Cash),
        "card" => Ok(TenderMethod::Card),
        other => Err(Error::internal(format!("unknown tender method {other:?} in the database"))),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    InsufficientStock,
    PaymentDeclined,
    /// Another module refused the input (a card token the provider cannot use).
    Invalid,
    /// Not completed in time and rolled back.
    Abandoned,
}

impl FailureKind {
    pub fn to_db(self) -> &'static str {
        match self {
            FailureKind::InsufficientStock => "insufficient_stock",
            FailureKind::PaymentDeclined => "payment_declined",
            FailureKind::Invalid => "invalid",
            FailureKind::Abandoned => "abandoned",
        }
    }

    pub fn from_db(value: &str) -> Result<FailureKind> {
        Ok(match value {
            "insufficient_stock" => FailureKind::InsufficientStock,
            "payment_declined" => FailureKind::PaymentDeclined,
            "invalid" => FailureKind::Invalid,
            "abandoned" => FailureKind::Abandoned,
            other => return Err(Error::internal(format!("unknown sale failure {other:?} in the database"))),
        })
    }
}

/// Why an attempt failed, kept so that a retry with the same key gets the same answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    pub field: Option<String>,
    pub message: String,
}

impl Failure {
    pub fn declined(reason: Option<&str>) -> Failure {
        let reason = reason.map(str::trim).filter(|r| !r.is_empty()).unwrap_or("no reason given");
        Failure { kind: FailureKind::PaymentDeclined, field: None, message: format!("payment declined: {reason}") }
    }

    /// Inventory's refusal to reserve, naming the sale's request line: its `lines[j]` is the
    /// sale's j-th SKU, first scanned at request line `lines[j].index`. A SKU inventory never
    /// heard of is simply not on this store's shelves. `None` for any other error.
    pub fn from_stock_error(e: &Error, lines: &[WantedLine], location: &str) -> Option<Failure> {
        let request_line = |field: &str| -> Option<String> {
            let j: usize = field.strip_prefix("lines[")?.strip_suffix("].quantity")?.parse().ok()?;
            lines.get(j).map(|l| format!("lines[{}].quantity", l.index))
        };
        match e {
            Error::Conflict { code: "insufficient-stock", message, errors } => Some(Failure {
                kind: FailureKind::InsufficientStock,
                field: errors.first().and_then(|f| request_line(&f.field)),
                message: message.clone(),
            }),
            Error::NotFound { resource: "sku", id } => Some(Failure {
                kind: FailureKind::InsufficientStock,
                field: lines.iter().find(|l| &l.sku == id).map(|l| format!("lines[{}].quantity", l.index)),
                message: format!("only 0 available for SKU {id} at {location}"),
            }),
            _ => None,
        }
    }

    /// A module's refusal of the input (4xx other than a conflict); `None` for anything else.
    pub fn from_refusal(e: &Error) -> Option<Failure> {
        match e {
            Error::Validation { message, errors } | Error::BadRequest { message, errors } => Some(Failure {
                kind: FailureKind::Invalid,
                field: errors.first().map(|f| f.field.clone()),
                message: errors.first().map(|f| f.message.clone()).unwrap_or_else(|| message.clone()),
            }),
            _ => None,
        }
    }

    pub fn abandoned(reason: &str) -> Failure {
        Failure { kind: FailureKind::Abandoned, field: None, message: reason.to_string() }
    }

    pub fn to_error(&self) -> Error {
        match (self.kind, &self.field) {
            (FailureKind::PaymentDeclined, _) => Error::PaymentDeclined(self.message.clone()),
            (FailureKind::InsufficientStock, Some(field)) => {
                Error::conflict_on("insufficient-stock", field.clone(), self.message.clone())
            }
            (FailureKind::InsufficientStock, None) => Error::conflict("insufficient-stock", self.message.clone()),
            (FailureKind::Invalid, field) => {
                Error::validation(field.clone().unwrap_or_else(|| "payment".into()), self.message.clone())
            }
            (FailureKind::Abandoned, _) => Error::conflict("sale-abandoned", self.message.clone()),
        }
    }
}

/// A sale line with the units and amount returns hold on it (completed or in flight).
#[derive(Debug, Clone, PartialEq)]
pub struct LineRecord {
    pub line: SaleLine,
    pub taken_units: i64,
    pub taken_amount: i64,
}

/// A sale as kept: the attempt behind it from the first try to its end.
#[derive(Debug, Clone, PartialEq)]
pub struct SaleRecord {
    pub id: Uuid,
    pub key: String,
    pub fingerprint: String,
    pub number: Option<String>,
    pub location: String,
    pub channel: String,
    pub currency: Currency,
    pub cashier: Cashier,
    pub state: SaleState,
    pub method: TenderMethod,
    pub tendered: Option<i64>,
    pub change: Option<i64>,
    pub lines: Vec<LineRecord>,
    pub totals: SaleTotals,
    pub refunded: i64,
    pub reservation_id: Option<Uuid>,
    pub payment_id: Option<Uuid>,
    pub failure: Option<Failure>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub completed_at: Option<Timestamp>,
}

/// A new attempt, `pending`, for a priced sale at `store`.
pub fn new_attempt(
    id: Uuid,
    draft: &SaleDraft,
    store: &Store,
    priced: PricedSale,
    change: Option<i64>,
    at: Timestamp,
) -> SaleRecord {
    let tendered = match draft.tender {
        Tender::Cash { tendered } => Some(tendered),
        Tender::Card { .. } => None,
    };
    SaleRecord {
        id,
        key: draft.key.clone(),
        fingerprint: draft.fingerprint(),
        number: None,
        location: store.location.clone(),
        channel: store.channel.clone(),
        currency: store.currency,
        cashier: draft.cashier.clone(),
        state: SaleState::Pending,
        method: draft.tender.method(),
        tendered,
        change,
        lines: priced.lines.into_iter().map(|line| LineRecord { line, taken_units: 0, taken_amount: 0 }).collect(),
        totals: priced.totals,
        refunded: 0,
        reservation_id: None,
        payment_id: None,
        failure: None,
        created_at: at,
        updated_at: at,
        completed_at: None,
    }
}

impl SaleRecord {
    /// The sale as the port shows it; only a completed sale (returned or not) is one.
    pub fn to_sale(&self) -> Result<Sale> {
        let (Some(status), Some(number), Some(payment_id), Some(completed_at)) =
            (self.state.sale_status(), &self.number, self.payment_id, self.completed_at)
        else {
            return Err(Error::internal(format!("sale {} is not completed", self.id)));
        };
        let money = |amount| Money::new(amount, self.currency);
        Ok(Sale {
            id: self.id,
            number: number.clone(),
            location: self.location.clone(),
            channel: self.channel.clone(),
            cashier: self.cashier.clone(),
            status,
            lines: self.lines.iter().map(|l| l.line.clone()).collect(),
            totals: self.totals.clone(),
            tender: TenderRecord {
                method: self.method,
                amount: self.totals.gross,
                tendered: self.tendered.map(money),
                change: self.change.map(money),
                payment_id,
            },
            refunded: money(self.refunded),
            // A sale dates from its completion: what the receipt prints and reports count.
            created_at: completed_at,
        })
    }

    /// What a retry of the attempt is answered when it is over: the sale, or why there is none.
    /// `None` while it is in flight (the retry resumes it).
    pub fn answer(&self) -> Option<Result<Sale>> {
        match self.state {
            SaleState::Pending | SaleState::Reserved => None,
            SaleState::Failed => Some(Err(self
                .failure
                .as_ref()
                .map(Failure::to_error)
                .unwrap_or_else(|| Error::conflict("sale-abandoned", "the sale did not complete")))),
            SaleState::Abandoning => {
                Some(Err(Error::conflict("sale-abandoned", "the sale did not complete in time and is rolled back")))
            }
            SaleState::Completed | SaleState::PartlyReturned | SaleState::Returned => Some(self.to_sale()),
        }
    }
}

/// The refusal of a key reused for another request.
pub fn key_reused(what: &str) -> Error {
    Error::conflict_on(
        "idempotency-key-reused",
        "idempotency_key",
        format!("was already used for another {what}; use a new key for a new one"),
    )
}

// ---- Returns ---------------------------------------------------------------------------------

/// A return request, checked.
#[derive(Debug, Clone)]
pub struct ReturnDraft {
    pub key: String,
    pub cashier: Cashier,
    pub sale_id: Uuid,
    pub lines: Vec<WantedLine>,
    pub reason: String,
    pub restock: bool,
}

impl ReturnDraft {
    pub fn fingerprint(&self) -> String {
        let lines: Vec<(&str, i64)> = self.lines.iter().map(|l| (l.sku.as_str(), l.quantity)).collect();
        serde_json::json!([self.sale_id, lines, self.restock]).to_string()
    }
}

pub fn parse_return(input: TakeReturn) -> Result<ReturnDraft> {
    let mut p = Problems::default();
    let key = idempotency_key(&mut p, &input.idempotency_key);
    let cashier = cashier(&mut p, input.cashier);
    let lines = wanted_lines(&mut p, &input.input.lines);
    let reason = p.check(validate::required_text("reason", &input.input.reason, MAX_REASON_LEN));
    p.finish((|| {
        Some(ReturnDraft {
            key: key?,
            cashier: cashier?,
            sale_id: input.sale_id,
            lines,
            reason: reason?,
            restock: input.input.restock,
        })
    })())
}

/// What a line refunds for `units` more units when returns already hold `taken_units` of its
/// `quantity` and `taken_amount` of its `gross`: the line's gross spread over its units in integer
/// arithmetic, each unit's share rounded down and the remainder going to the last units, so that
/// the units returned so far are always owed `gross × units ÷ quantity` rounded down, and all of
/// them exactly `gross`.
pub fn return_amount(gross: i64, quantity: i64, taken_units: i64, taken_amount: i64, units: i64) -> i64 {
    if quantity <= 0 {
        return 0;
    }
    let after = (taken_units + units).min(quantity);
    let owed = (i128::from(gross) * i128::from(after) / i128::from(quantity)) as i64;
    (owed - taken_amount).max(0)
}

/// Units of one sale line to take back, and what they refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedLine {
    /// The sale line's position.
    pub position: usize,
    pub sku: String,
    pub product_id: Uuid,
    pub quantity: i64,
    pub amount: i64,
}

/// The return's lines against the sale: every SKU must have been sold in it (422 on
/// `lines[i].sku`), and no more units returned than were sold and not yet taken back by another
/// return (422 on `lines[i].quantity`). All problems are reported together.
pub fn plan_return(wanted: &[WantedLine], sale: &SaleRecord) -> Result<Vec<PlannedLine>> {
    let mut p = Problems::default();
    let number = sale.number.as_deref().unwrap_or("this sale");
    let mut planned = Vec::with_capacity(wanted.len());
    for line in wanted {
        let Some((position, sold)) = sale.lines.iter().enumerate().find(|(_, l)| l.line.sku == line.sku) else {
            p.add(format!("lines[{}].sku", line.index), format!("{} was not sold in {number}", line.sku));
            continue;
        };
        let left = sold.line.quantity - sold.taken_units;
        if line.quantity > left {
            let message = match left {
                0 => format!("every unit of {} sold in {number} was already returned", line.sku),
                left => {
                    format!("at most {left} of {} can be returned: {} sold in {number}", line.sku, sold.line.quantity)
                }
            };
            p.add(format!("lines[{}].quantity", line.index), message);
            continue;
        }
        planned.push(PlannedLine {
            position,
            sku: line.sku.clone(),
            product_id: sold.line.product_id,
            quantity: line.quantity,
            amount: return_amount(
                sold.line.gross.amount,
                sold.line.quantity,
                sold.taken_units,
                sold.taken_amount,
                line.quantity,
            ),
        });
    }
    p.finish(Some(planned))
}

/// A sale's state once its completed returns hold `returned` units of each line.
pub fn state_after_returns(lines: &[LineRecord]) -> SaleState {
    if lines.iter().all(|l| l.line.returned >= l.line.quantity) {
        SaleState::Returned
    } else if lines.iter().any(|l| l.line.returned > 0) {
        SaleState::PartlyReturned
    } else {
        SaleState::Completed
    }
}

/// A return as kept, pending until its refund and restock are done.
#[derive(Debug, Clone, PartialEq)]
pub struct ReturnRecord {
    pub id: Uuid,
    pub key: String,
    pub fingerprint: String,
    pub sale_id: Uuid,
    pub cashier: Cashier,
    pub completed: bool,
    pub amount: i64,
    pub reason: String,
    pub restock: bool,
    pub lines: Vec<PlannedLine>,
    pub created_at: Timestamp,
    pub completed_at: Option<Timestamp>,
}

pub fn new_return(id: Uuid, draft: &ReturnDraft, lines: Vec<PlannedLine>, at: Timestamp) -> ReturnRecord {
    ReturnRecord {
        id,
        key: draft.key.clone(),
        fingerprint: draft.fingerprint(),
        sale_id: draft.sale_id,
        cashier: draft.cashier.clone(),
        completed: false,
        amount: lines.iter().map(|l| l.amount).sum(),
        reason: draft.reason.clone(),
        restock: draft.restock,
        lines,
        created_at: at,
        completed_at: None,
    }
}

impl ReturnRecord {
    pub fn to_contract(&self, sale: &SaleRecord) -> StoreReturn {
        let money = |amount| Money::new(amount, sale.currency);
        StoreReturn {
            id: self.id,
            sale_id: sale.id,
            sale_number: sale.number.clone().unwrap_or_default(),
            location: sale.location.clone(),
            channel: sale.channel.clone(),
            cashier: self.cashier.clone(),
            lines: self
                .lines
                .iter()
                .map(|l| ReturnedLine {
                    sku: l.sku.clone(),
                    product_id: l.product_id,
                    quantity: l.quantity,
                    amount: money(l.amount),
                })
                .collect(),
            amount: money(self.amount),
            reason: self.reason.clone(),
            restocked: self.restock,
            // A return dates from its completion, like a sale.
            created_at: self.completed_at.unwrap_or(self.created_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use comptoir_contracts::billing::LineTax;
    use comptoir_contracts::pos::NewSale;
    use rust_decimal::Decimal;

    use super::*;

    fn fields(e: &Error) -> Vec<&str> {
        e.field_errors().iter().map(|f| f.field.as_str()).collect()
    }

    fn eur(amount: i64) -> Money {
        Money::new(amount, Currency::EUR)
    }

    fn sell(lines: &[(&str, i64)], payment: TenderInput) -> Sell {
        Sell {
            idempotency_key: "till-1-0001".into(),
            cashier: Cashier { id: Uuid::nil(), name: " Ann ".into() },
            sale: NewSale {
                location: "paris-store".into(),
                lines: lines
                    .iter()
                    .map(|(sku, quantity)| SaleLineInput { sku: sku.to_string(), quantity: *quantity })
                    .collect(),
                payment,
            },
        }
    }

    fn cash(tendered: i64) -> TenderInput {
        TenderInput::Cash { tendered }
    }

    #[test]
    fn a_sale_is_checked_and_the_same_sku_is_summed() {
        let draft = parse_sale(sell(&[("TEE", 1), ("MUG", 2), ("TEE", 3)], cash(5000))).unwrap();
        assert_eq!(draft.cashier.name, "Ann");
        assert_eq!(
            draft.lines,
            vec![
                WantedLine { index: 0, sku: "TEE".into(), quantity: 4 },
                WantedLine { index: 1, sku: "MUG".into(), quantity: 2 }
            ]
        );
        assert_eq!(draft.tender, Tender::Cash { tendered: 5000 });

        let e = parse_sale(sell(&[], cash(-1))).unwrap_err();
        assert_eq!((e.status(), fields(&e)), (422, vec!["lines", "payment.tendered"]));
        let e = parse_sale(sell(&[("TEE", 0), (" ", 1)], TenderInput::Card { token: " ".into() })).unwrap_err();
        assert_eq!(fields(&e), ["lines[0].quantity", "lines[1].sku", "payment.token"]);
        let many: Vec<(&str, i64)> = vec![("TEE", 1); MAX_SALE_LINES + 1];
        assert_eq!(fields(&parse_sale(sell(&many, cash(1))).unwrap_err()), ["lines"]);
        let mut bad = sell(&[("TEE", 1)], cash(1));
        bad.idempotency_key = " ".into();
        bad.cashier.name = String::new();
        bad.sale.location = String::new();
        assert_eq!(fields(&parse_sale(bad).unwrap_err()), ["idempotency_key", "cashier.name", "location"]);
    }

    #[test]
    fn a_card_token_never_shows_and_the_fingerprint_tells_sales_apart() {
        let card = parse_sale(sell(&[("TEE", 1)], TenderInput::Card { token: "tok_secret".into() })).unwrap();
        assert!(!format!("{card:?}").contains("tok_secret"));
        assert!(!card.fingerprint().contains("tok_secret"));
        let other_card = parse_sale(sell(&[("TEE", 1)], TenderInput::Card { token: "tok_visa".into() })).unwrap();
        assert_eq!(card.fingerprint(), other_card.fingerprint());
        let more = parse_sale(sell(&[("TEE", 2)], TenderInput::Card { token: "tok_visa".into() })).unwrap();
        assert_ne!(card.fingerprint(), more.fingerprint());
        let cash = parse_sale(sell(&[("TEE", 1)], cash(100))).unwrap();
        assert_ne!(card.fingerprint(), cash.fingerprint());
    }

    fn offer(sku: &str, price: i64) -> SkuOffer {
        SkuOffer {
            sku: sku.into(),
            product_id: Uuid::nil(),
            product_name: format!("Product {sku}"),
            options: Default::default(),
            channel: "store".into(),
            price: eur(price),
        }
    }

    fn taxed(sku: &str, net: i64, tax: i64) -> LineTax {
        LineTax { sku: sku.into(), rate: Decimal::new(20, 2), net: eur(net), tax: eur(tax), gross: eur(net + tax) }
    }

    fn breakdown(lines: Vec<LineTax>) -> TaxBreakdown {
        TaxBreakdown {
            prices_include_tax: true,
            lines,
            shipping: taxed("shipping", 0, 0),
            summary: vec![],
            net: eur(0),
            tax: eur(0),
            gross: eur(0),
        }
    }

    #[test]
    fn a_sale_is_priced_as_billing_taxed_it_and_adds_up() {
        let wanted = [
            WantedLine { index: 0, sku: "TEE".into(), quantity: 2 },
            WantedLine { index: 2, sku: "MUG".into(), quantity: 1 },
        ];
        let tax = breakdown(vec![taxed("TEE", 4000, 800), taxed("MUG", 1042, 208)]);
        let priced = price_sale(&wanted, &[offer("TEE", 2400), offer("MUG", 1250)], &tax, Currency::EUR).unwrap();
        assert_eq!(priced.totals, SaleTotals { net: eur(5042), tax: eur(1008), gross: eur(6050) });
        let tee = &priced.lines[0];
        assert_eq!(
            (tee.quantity, tee.unit_price, tee.gross, tee.tax_rate),
            (2, eur(2400), eur(4800), Decimal::new(20, 2))
        );
        assert_eq!(priced.lines[1].product_name, "Product MUG");

        let e = price_sale(&wanted, &[offer("MUG", 1), offer("TEE", 1)], &tax, Currency::EUR).unwrap_err();
        assert!(e.is_internal(), "{e:?}");
        let free = breakdown(vec![taxed("TEE", 0, 0)]);
        let e = price_sale(&wanted[..1], &[offer("TEE", 0)], &free, Currency::EUR).unwrap_err();
        assert_eq!(fields(&e), ["lines"]);
    }

    #[test]
    fn cash_must_cover_the_total_and_the_change_is_the_rest() {
        assert_eq!(cash_change(7000, eur(6050)).unwrap(), 950);
        assert_eq!(cash_change(6050, eur(6050)).unwrap(), 0);
        let e = cash_change(6049, eur(6050)).unwrap_err();
        assert_eq!((e.status(), fields(&e)), (422, vec!["payment.tendered"]));
        assert_eq!(e.field_errors()[0].message, "60.49 EUR does not cover the total of 60.50 EUR");
    }

    #[test]
    fn sale_numbers_carry_the_store_code() {
        assert_eq!(sale_number("paris-store", 42), "PARIS-STORE-000042");
        assert_eq!(sale_number("lyon", 1_234_567), "LYON-1234567");
    }

    #[test]
    fn failures_answer_retries_with_the_same_error() {
        let lines = [
            WantedLine { index: 0, sku: "TEE".into(), quantity: 4 },
            WantedLine { index: 3, sku: "MUG".into(), quantity: 1 },
        ];
        let refused = Error::conflict_on("insufficient-stock", "lines[1].quantity", "only 0 available for SKU MUG");
        let failure = Failure::from_stock_error(&refused, &lines, "paris-store").unwrap();
        let e = failure.to_error();
        assert_eq!((e.status(), e.code(), fields(&e)), (409, "insufficient-stock", vec!["lines[3].quantity"]));
        let unknown = Error::not_found("sku", "MUG");
        let e = Failure::from_stock_error(&unknown, &lines, "paris-store").unwrap().to_error();
        assert_eq!(
            (fields(&e), e.to_string()),
            (vec!["lines[3].quantity"], "only 0 available for SKU MUG at paris-store".into())
        );
        assert!(Failure::from_stock_error(&Error::unavailable("down"), &lines, "x").is_none());

        let e = Failure::declined(Some("insufficient funds")).to_error();
        assert_eq!((e.status(), e.to_string()), (402, "payment declined: insufficient funds".to_string()));
        assert_eq!(Failure::declined(Some(" ")).message, "payment declined: no reason given");
        let e = Failure::from_refusal(&Error::validation("payment.token", "is required")).unwrap().to_error();
        assert_eq!((e.status(), fields(&e)), (422, vec!["payment.token"]));
        assert!(Failure::from_refusal(&Error::internal("x")).is_none());
        assert_eq!(Failure::abandoned("late").to_error().code(), "sale-abandoned");
        for kind in
            [FailureKind::InsufficientStock, FailureKind::PaymentDeclined, FailureKind::Invalid, FailureKind::Abandoned]
        {
            assert_eq!(FailureKind::from_db(kind.to_db()).unwrap(), kind);
        }
    }

    #[test]
    fn states_survive_the_database_and_only_sold_ones_are_sales() {
        use SaleState::*;
        for state in [Pending, Reserved, Abandoning, Completed, PartlyReturned, Returned, Failed] {
            assert_eq!(SaleState::from_db(state.to_db()).unwrap(), state);
            assert_eq!(state.sale_status().is_some(), SOLD.contains(&state));
        }
        assert!(SaleState::from_db("lost").is_err());
    }

    #[test]
    fn returned_units_share_their_line_gross_and_the_last_get_the_remainder() {
        // 10.00 over 3 units: 3.33, 3.33, 3.34.
        assert_eq!(return_amount(1000, 3, 0, 0, 1), 333);
        assert_eq!(return_amount(1000, 3, 1, 333, 1), 333);
        assert_eq!(return_amount(1000, 3, 2, 666, 1), 334);
        assert_eq!(return_amount(1000, 3, 0, 0, 2), 666);
        assert_eq!(return_amount(1000, 3, 2, 666, 1) + 666, 1000);
        assert_eq!(return_amount(1000, 3, 0, 0, 3), 1000);
        // Whatever the steps, returning everything refunds exactly the gross.
        for steps in [vec![1, 1, 1, 1, 1, 1, 1], vec![3, 4], vec![2, 2, 3], vec![7]] {
            let (mut units, mut amount) = (0, 0);
            for k in steps {
                amount += return_amount(999, 7, units, amount, k);
                units += k;
            }
            assert_eq!(amount, 999);
        }
        // Huge amounts do not overflow.
        assert_eq!(return_amount(i64::MAX, 1_000_000, 0, 0, 1_000_000), i64::MAX);
    }

    fn sold(lines: &[(&str, i64, i64, i64)]) -> SaleRecord {
        let draft = parse_sale(sell(&[("TEE", 1)], cash(1))).unwrap();
        let store = Store {
            location: "paris-store".into(),
            name: "Paris".into(),
            address: PostalAddress {
                name: "Paris".into(),
                line1: "1 rue".into(),
                line2: None,
                city: "Paris".into(),
                postal_code: "75001".into(),
                region: None,
                country: "FR".into(),
                phone: None,
            },
            channel: "store".into(),
            currency: Currency::EUR,
            created_at: comptoir_kernel::time::now(),
            updated_at: comptoir_kernel::time::now(),
        };
        let priced = PricedSale {
            lines: lines
                .iter()
                .map(|(sku, quantity, gross, _)| SaleLine {
                    sku: sku.to_string(),
                    product_id: Uuid::nil(),
                    product_name: sku.to_string(),
                    quantity: *quantity,
                    unit_price: eur(gross / quantity),
                    tax_rate: Decimal::ZERO,
                    net: eur(*gross),
                    tax: eur(0),
                    gross: eur(*gross),
                    returned: 0,
                })
                .collect(),
            totals: SaleTotals { net: eur(0), tax: eur(0), gross: eur(0) },
        };
        let mut record = new_attempt(Uuid::nil(), &draft, &store, priced, None, comptoir_kernel::time::now());
        for (line, (_, _, _, taken)) in record.lines.iter_mut().zip(lines) {
            line.taken_units = *taken;
            line.line.returned = *taken;
        }
        record.number = Some("PARIS-STORE-000001".into());
        record
    }

    fn wanted(lines: &[(usize, &str, i64)]) -> Vec<WantedLine> {
        lines
            .iter()
            .map(|(index, sku, quantity)| WantedLine { index: *index, sku: sku.to_string(), quantity: *quantity })
            .collect()
    }

    #[test]
    fn a_return_takes_back_only_what_was_sold_and_not_returned() {
        let sale = sold(&[("TEE", 3, 1000, 1), ("MUG", 1, 500, 0)]);
        let plan = plan_return(&wanted(&[(0, "MUG", 1), (1, "TEE", 2)]), &sale).unwrap();
        let got: Vec<(usize, &str, i64, i64)> =
            plan.iter().map(|l| (l.position, l.sku.as_str(), l.quantity, l.amount)).collect();
        assert_eq!(got, [(1, "MUG", 1, 500), (0, "TEE", 2, 1000)]);

        let e = plan_return(&wanted(&[(0, "TEE", 3), (1, "CAP", 1)]), &sale).unwrap_err();
        assert_eq!((e.status(), fields(&e)), (422, vec!["lines[0].quantity", "lines[1].sku"]));
        assert_eq!(e.field_errors()[0].message, "at most 2 of TEE can be returned: 3 sold in PARIS-STORE-000001");
        let all_back = sold(&[("TEE", 3, 1000, 3)]);
        let e = plan_return(&wanted(&[(0, "TEE", 1)]), &all_back).unwrap_err();
        assert!(e.field_errors()[0].message.contains("already returned"), "{e:?}");
    }

    #[test]
    fn the_sale_state_follows_its_returns() {
        let mut sale = sold(&[("TEE", 3, 1000, 0), ("MUG", 1, 500, 0)]);
        assert_eq!(state_after_returns(&sale.lines), SaleState::Completed);
        sale.lines[0].line.returned = 3;
        assert_eq!(state_after_returns(&sale.lines), SaleState::PartlyReturned);
        sale.lines[1].line.returned = 1;
        assert_eq!(state_after_returns(&sale.lines), SaleState::Returned);
    }

    #[test]
    fn stores_are_checked_and_default_to_the_store_channel() {
        let input = |name: &str, channel: Option<&str>| StoreInput {
            location: " paris-store ".into(),
            name: name.into(),
            address: PostalAddress {
                name: "Comptoir Paris".into(),
                line1: "1 rue de Rivoli".into(),
                line2: None,
                city: "Paris".into(),
                postal_code: "75001".into(),
                region: None,
                country: "fr".into(),
                phone: None,
            },
            channel: channel.map(str::to_string),
            currency: None,
        };
        let draft = parse_store(input("Paris", None)).unwrap();
        assert_eq!(
            (draft.location.as_str(), draft.channel.as_str(), draft.address.country.as_str()),
            ("paris-store", "store", "FR")
        );
        let mut bad = input(" ", Some(" "));
        bad.address.city = String::new();
        assert_eq!(fields(&parse_store(bad).unwrap_err()), ["name", "address.city", "channel"]);
    }
}
