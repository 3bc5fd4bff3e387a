//! The rules of the counts, without I/O: what an order, a till sale or a return adds to the
//! figures, the day it lands on, how an order's news moves it in or out of the sales, and how
//! labels read.

use std::collections::HashMap;

use comptoir_contracts::ordering::{Order, OrderLine, OrderSnapshot, OrderStatus};
use comptoir_contracts::pos::{Sale, StoreReturn};
use comptoir_kernel::time::Timestamp;
use comptoir_kernel::{Currency, Error, Result};
use uuid::Uuid;

/// The key of the rows of products without a category (and of sellers reporting never heard of).
pub const NONE_KEY: &str = "none";
/// The channel of refunds whose order reporting has not heard of yet.
pub const UNKNOWN_CHANNEL: &str = "unknown";
/// The channel stock is valued at unless told otherwise.
pub const DEFAULT_STOCK_CHANNEL: &str = "online";
/// Between the names of a category path: `Kitchen › Mugs`.
const PATH_SEPARATOR: &str = " › ";
/// Deeper than any real tree: a loop in the stored parents stops here instead of spinning.
const MAX_CATEGORY_DEPTH: usize = 32;

/// The UTC day of an instant, `YYYY-MM-DD`: the form days are stored, compared and shown in.
pub fn day_of(at: &Timestamp) -> String {
    at.format("%Y-%m-%d").to_string()
}

/// Where a sale or a refund comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// An online order (ordering).
    Order,
    /// A sale or a return at a store's till (the point of sale).
    Till,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Order => "order",
            Source::Till => "till",
        }
    }

    pub fn parse(value: &str) -> Result<Source> {
        match value {
            "order" => Ok(Source::Order),
            "till" => Ok(Source::Till),
            other => Err(Error::internal(format!("stored sale source {other:?} is unknown"))),
        }
    }
}

/// Where a sale stands in the figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaleState {
    /// Placed, not confirmed (yet): not a sale.
    Placed,
    /// In the figures.
    Counted,
    /// Cancelled: out of the figures for good.
    Cancelled,
}

impl SaleState {
    pub fn as_str(self) -> &'static str {
        match self {
            SaleState::Placed => "placed",
            SaleState::Counted => "counted",
            SaleState::Cancelled => "cancelled",
        }
    }

    pub fn parse(value: &str) -> Result<SaleState> {
        match value {
            "placed" => Ok(SaleState::Placed),
            "counted" => Ok(SaleState::Counted),
            "cancelled" => Ok(SaleState::Cancelled),
            other => Err(Error::internal(format!("stored sale state {other:?} is unknown"))),
        }
    }
}

/// What ordering said of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderNews {
    Placed,
    Confirmed,
    Cancelled,
}

/// Where an order stands after `news`, whatever order the news came in: a cancellation is final
/// (a late or redelivered confirmation never counts the order again), a confirmation counts it,
/// a placement alone does not.
pub fn next_state(current: Option<SaleState>, news: OrderNews) -> SaleState {
    match (current, news) {
        (Some(SaleState::Cancelled), _) | (_, OrderNews::Cancelled) => SaleState::Cancelled,
        (Some(SaleState::Counted), _) | (_, OrderNews::Confirmed) => SaleState::Counted,
        (None | Some(SaleState::Placed), OrderNews::Placed) => SaleState::Placed,
    }
}

/// What a sale adds to the figures of its day and channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleFacts {
    pub channel: String,
    pub currency: Currency,
    pub placed_at: Timestamp,
    pub units: i64,
    /// The goods: before tax, tax, tax included (shipping apart).
    pub net: i64,
    pub tax: i64,
    pub gross: i64,
    /// Shipping charged, tax included.
    pub shipping: i64,
    /// What the customer paid in all (goods and shipping).
    pub charged: i64,
}

impl SaleFacts {
    pub fn day(&self) -> String {
        day_of(&self.placed_at)
    }
}

/// A sale as stored: its facts are unknown while only a cancellation or refund was heard of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleRecord {
    pub id: Uuid,
    pub source: Source,
    pub state: SaleState,
    pub facts: Option<SaleFacts>,
}

/// One product of one sale (its SKUs added up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineRecord {
    pub sale_id: Uuid,
    pub product_id: Uuid,
    pub product_name: String,
    pub units: i64,
    pub net: i64,
    pub tax: i64,
    pub gross: i64,
}

/// Money that went back to a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRecord {
    pub id: String,
    pub sale_id: Uuid,
    pub source: Source,
    pub day: String,
    pub channel: Option<String>,
    pub currency: Currency,
    pub amount: i64,
}

/// The facts of an online order, from the snapshot its events carry.
pub fn order_facts(order: &OrderSnapshot) -> SaleFacts {
    online_facts(&order.channel, order.currency, order.placed_at, &order.lines, order.shipping.gross.amount)
        .with_charged(order.totals.gross.amount)
}

/// The facts of an online order, as ordering lists it (a rebuild).
pub fn listed_order_facts(order: &Order) -> SaleFacts {
    online_facts(&order.channel, order.currency, order.created_at, &order.lines, order.shipping.gross.amount)
        .with_charged(order.totals.gross.amount)
}

fn online_facts(
    channel: &str,
    currency: Currency,
    placed_at: Timestamp,
    lines: &[OrderLine],
    shipping: i64,
) -> SaleFacts {
    SaleFacts {
        channel: channel.to_string(),
        currency,
        placed_at,
        units: lines.iter().map(|l| l.quantity).sum(),
        net: lines.iter().map(|l| l.net.amount).sum(),
        tax: lines.iter().map(|l| l.tax.amount).sum(),
        gross: lines.iter().map(|l| l.gross.amount).sum(),
        shipping,
        charged: 0,
    }
}

impl SaleFacts {
    fn with_charged(self, charged: i64) -> SaleFacts {
        SaleFacts { charged, ..self }
    }
}

/// An online order's products, in the order of its lines.
pub fn order_lines(order_id: Uuid, lines: &[OrderLine]) -> Vec<LineRecord> {
    by_product(
        order_id,
        lines.iter().map(|l| (l.product_id, &l.product_name, l.quantity, l.net.amount, l.tax.amount, l.gross.amount)),
    )
}

/// A till sale's facts: no shipping, and it counts on the day it was rung up.
pub fn till_facts(sale: &Sale) -> SaleFacts {
    SaleFacts {
        channel: sale.channel.clone(),
        currency: sale.totals.gross.currency,
        placed_at: sale.created_at,
        units: sale.lines.iter().map(|l| l.quantity).sum(),
        net: sale.lines.iter().map(|l| l.net.amount).sum(),
        tax: sale.lines.iter().map(|l| l.tax.amount).sum(),
        gross: sale.lines.iter().map(|l| l.gross.amount).sum(),
        shipping: 0,
        charged: sale.totals.gross.amount,
    }
}

pub fn till_lines(sale: &Sale) -> Vec<LineRecord> {
    by_product(
        sale.id,
        sale.lines
            .iter()
            .map(|l| (l.product_id, &l.product_name, l.quantity, l.net.amount, l.tax.amount, l.gross.amount)),
    )
}

/// Lines added up per product (two sizes of one shirt are one product's sale), first seen first.
fn by_product<'a>(
    sale_id: Uuid,
    lines: impl Iterator<Item = (Uuid, &'a String, i64, i64, i64, i64)>,
) -> Vec<LineRecord> {
    let mut out: Vec<LineRecord> = Vec::new();
    for (product_id, name, units, net, tax, gross) in lines {
        match out.iter_mut().find(|l| l.product_id == product_id) {
            Some(line) => {
                line.units += units;
                line.net += net;
                line.tax += tax;
                line.gross += gross;
            }
            None => out.push(LineRecord { sale_id, product_id, product_name: name.clone(), units, net, tax, gross }),
        }
    }
    out
}

/// A return at a till, on its day; none for a return of nothing.
pub fn return_refund(r: &StoreReturn) -> Option<RefundRecord> {
    (r.amount.amount > 0).then(|| RefundRecord {
        id: r.id.to_string(),
        sale_id: r.sale_id,
        source: Source::Till,
        day: day_of(&r.created_at),
        channel: Some(r.channel.clone()),
        currency: r.amount.currency,
        amount: r.amount.amount,
    })
}

/// Where an order listed by ordering stands in the figures (a rebuild). Confirmed or further
/// along is a sale, refunded orders included (their refunds are counted apart, as ordering's
/// daily sales do); a cancelled order is out of them whenever it was cancelled; the rest is
/// placed, not sold (yet).
pub fn listed_order_state(order: &Order) -> SaleState {
    match order.status {
        OrderStatus::Confirmed
        | OrderStatus::Shipped
        | OrderStatus::Delivered
        | OrderStatus::PartiallyRefunded
        | OrderStatus::Refunded => SaleState::Counted,
        OrderStatus::Cancelled => SaleState::Cancelled,
        OrderStatus::Pending | OrderStatus::StockReserved | OrderStatus::Paid => SaleState::Placed,
    }
}

/// The refunds of an order listed by ordering, each on the day it was made, read from the
/// order's timeline: each refund is a step to `partially_refunded` or `refunded` whose cause
/// ordering writes as `refunded 12.00 EUR[: reason]`. What the causes do not account for of
/// `order.refunded` (the refund of a cancellation, which is no step of its own, or a cause that
/// does not read that way) lands on the cancellation's day, else on the last refund's, else on
/// the day the order last changed.
pub fn listed_order_refunds(order: &Order) -> Vec<RefundRecord> {
    let total = order.refunded.amount;
    if total <= 0 {
        return Vec::new();
    }
    let mut steps: Vec<(Timestamp, Option<i64>)> = Vec::new();
    let mut cancelled_at = None;
    for step in &order.timeline {
        match step.to {
            OrderStatus::PartiallyRefunded | OrderStatus::Refunded => {
                steps.push((step.at, refunded_amount(&step.cause, order.currency)))
            }
            OrderStatus::Cancelled => cancelled_at = Some(step.at),
            _ => {}
        }
    }
    let mut left = total;
    let mut made: Vec<(Timestamp, i64)> = Vec::new();
    for (at, amount) in &steps {
        if let Some(amount) = amount.map(|a| a.min(left)).filter(|a| *a > 0) {
            made.push((*at, amount));
            left -= amount;
        }
    }
    if left > 0 {
        let at = cancelled_at
            .or_else(|| steps.iter().rev().find(|(_, amount)| amount.is_none()).map(|(at, _)| *at))
            .or_else(|| steps.last().map(|(at, _)| *at))
            .unwrap_or(order.updated_at);
        made.push((at, left));
    }
    made.into_iter()
        .enumerate()
        .map(|(i, (at, amount))| RefundRecord {
            id: format!("{}#{}", order.id, i + 1),
            sale_id: order.id,
            source: Source::Order,
            day: day_of(&at),
            channel: Some(order.channel.clone()),
            currency: order.currency,
            amount,
        })
        .collect()
}

/// The amount of `refunded 12.00 EUR: reason`, in minor units of `currency`; None when the text
/// does not read that way or names another currency.
pub fn refunded_amount(cause: &str, currency: Currency) -> Option<i64> {
    let mut words = cause.strip_prefix("refunded ")?.split(' ');
    let number = words.next()?;
    let code = words.next()?.trim_end_matches(':');
    if code != currency.code() {
        return None;
    }
    minor_units(number, currency.minor_digits())
}

/// `12.30` as 1230 with two digits: exactly `digits` decimals (as money is written), no sign.
fn minor_units(number: &str, digits: u8) -> Option<i64> {
    let (whole, fraction) = match number.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (number, ""),
    };
    if whole.is_empty() || fraction.len() != digits as usize {
        return None;
    }
    if !whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let fraction: i64 = if fraction.is_empty() { 0 } else { fraction.parse().ok()? };
    whole.checked_mul(10i64.checked_pow(digits as u32)?)?.checked_add(fraction)
}

/// `ordered / carts` to 4 decimals; 0 without carts. The only float of the reports: a ratio,
/// never money.
pub fn conversion_rate(ordered: u64, carts: u64) -> f64 {
    if carts == 0 {
        return 0.0;
    }
    (ordered as f64 / carts as f64 * 10_000.0).round() / 10_000.0
}

/// A category's names from the root down, `Kitchen › Mugs`; its id when reporting does not know
/// it. `tree` maps each category id to its parent and name.
pub fn category_path(id: &str, tree: &HashMap<String, (Option<String>, String)>) -> String {
    let mut names = Vec::new();
    let mut next = Some(id.to_string());
    while let Some(current) = next.take() {
        let Some((parent, name)) = tree.get(&current) else { break };
        names.push(name.clone());
        if names.len() >= MAX_CATEGORY_DEPTH {
            break;
        }
        next = parent.clone();
    }
    if names.is_empty() {
        return id.to_string();
    }
    names.reverse();
    names.join(PATH_SEPARATOR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancellation_is_final_and_a_confirmation_counts_whatever_the_order_of_the_news() {
        use SaleState::{Cancelled, Counted, Placed};
        assert_eq!(next_state(None, OrderNews::Placed), Placed);
        assert_eq!(next_state(Some(Placed), OrderNews::Confirmed), Counted);
        assert_eq!(next_state(None, OrderNews::Confirmed), Counted);
        assert_eq!(next_state(Some(Counted), OrderNews::Placed), Counted, "a late placement");
        assert_eq!(next_state(Some(Counted), OrderNews::Cancelled), Cancelled);
        assert_eq!(next_state(None, OrderNews::Cancelled), Cancelled);
        assert_eq!(next_state(Some(Cancelled), OrderNews::Confirmed), Cancelled, "a late confirmation");
    }

    #[test]
    fn amounts_are_read_from_refund_causes_as_ordering_writes_them() {
        let eur = Currency::EUR;
        assert_eq!(refunded_amount("refunded 12.30 EUR", eur), Some(1230));
        assert_eq!(refunded_amount("refunded 0.05 EUR: broken handle", eur), Some(5));
        assert_eq!(refunded_amount("refunded 1200 JPY", "JPY".parse().unwrap()), Some(1200));
        assert_eq!(refunded_amount("refunded 12.30 USD", eur), None, "another currency");
        for unreadable in ["refunded", "refunded 12.3 EUR", "refunded -1.00 EUR", "refunded x.00 EUR", "paid"] {
            assert_eq!(refunded_amount(unreadable, eur), None, "{unreadable}");
        }
        assert_eq!(refunded_amount("refunded 99999999999999999999.00 EUR", eur), None, "no overflow");
    }

    #[test]
    fn rates_have_four_decimals_and_no_carts_is_zero() {
        assert_eq!(conversion_rate(1, 3), 0.3333);
        assert_eq!(conversion_rate(2, 3), 0.6667);
        assert_eq!(conversion_rate(3, 3), 1.0);
        assert_eq!(conversion_rate(0, 0), 0.0);
    }

    #[test]
    fn a_category_reads_as_its_path_from_the_root() {
        let tree: HashMap<String, (Option<String>, String)> = [
            ("k".to_string(), (None, "Kitchen".to_string())),
            ("m".to_string(), (Some("k".to_string()), "Mugs".to_string())),
            ("loop".to_string(), (Some("loop".to_string()), "Loop".to_string())),
        ]
        .into();
        assert_eq!(category_path("m", &tree), "Kitchen › Mugs");
        assert_eq!(category_path("k", &tree), "Kitchen");
        assert_eq!(category_path("gone", &tree), "gone");
        assert!(category_path("loop", &tree).starts_with("Loop › Loop"), "a loop ends");
    }

    #[test]
    fn days_are_utc() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-03-01T23:30:00-02:00").unwrap().to_utc();
        assert_eq!(day_of(&at), "2026-03-02");
    }
}
