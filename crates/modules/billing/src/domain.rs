//! Billing rules without I/O: reading tax rules, choosing the rule for a destination, computing tax
//! per line with exact rounding, turning an order snapshot into invoice lines, crediting a refund
//! pro rata, and the shape of document numbers.
//!
//! Amounts are `i64` minor units and rates are `Decimal`s; there is no floating point here. Every
//! sum is checked, and every line satisfies `net + tax = gross` exactly, so the totals do too.

use std::str::FromStr;

use comptoir_contracts::billing::{
    InvoiceLine, LineTax, NewTaxRule, TaxBreakdown, TaxRule, TaxSummaryLine, TaxableLine,
};
use comptoir_contracts::ordering::OrderSnapshot;
use comptoir_kernel::country::is_iso_alpha2;
use comptoir_kernel::validate::Problems;
use comptoir_kernel::{Currency, Error, Money, Result, validate};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

const MAX_REGION_LEN: usize = 100;
const MAX_LABEL_LEN: usize = 100;
const MAX_SKU_LEN: usize = 120;
/// A tax request is a cart or an order; this bounds the work, it is not a business rule.
pub const MAX_TAX_LINES: usize = 500;

/// Whether a channel without a setting shows prices tax included, as B2C shops (`online`,
/// `store`) do.
pub const DEFAULT_PRICES_INCLUDE_TAX: bool = true;

/// Series of the two gap-free numbering sequences.
pub const INVOICE_SERIES: &str = "INV";
pub const CREDIT_NOTE_SERIES: &str = "CN";

// ---- Tax rules ------------------------------------------------------------------------------

/// A country code as stored: trimmed, upper case, ISO 3166-1 alpha-2.
pub fn country(field: &str, value: &str) -> Result<String> {
    let code = value.trim().to_ascii_uppercase();
    if is_iso_alpha2(&code) {
        Ok(code)
    } else {
        Err(Error::validation(field, "must be an ISO 3166-1 alpha-2 country code such as FR or DE"))
    }
}

fn region(field: &str, value: Option<&str>) -> Result<Option<String>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => validate::required_text(field, v, MAX_REGION_LEN).map(Some),
    }
}

/// Regions match without regard to case (`Corse`, `CORSE`); the country-wide rule has key `""`.
pub fn region_key(region: Option<&str>) -> String {
    region.map(|r| r.trim().to_uppercase()).unwrap_or_default()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxRuleDraft {
    pub country: String,
    pub region: Option<String>,
    pub region_key: String,
    pub rate: Decimal,
    pub label: String,
}

pub fn parse_new_tax_rule(input: NewTaxRule) -> Result<TaxRuleDraft> {
    let mut p = Problems::default();
    let country = p.check(country("country", &input.country));
    let region = p.check(region("region", input.region.as_deref()));
    let rate = if input.rate < Decimal::ZERO || input.rate > Decimal::ONE {
        p.add("rate", "must be between 0 and 1 (0.2 for 20%)");
        None
    } else {
        Some(input.rate.normalize())
    };
    let label = p.check(validate::required_text("label", &input.label, MAX_LABEL_LEN));
    p.finish((|| {
        let region = region?;
        Some(TaxRuleDraft {
            country: country?,
            region_key: region_key(region.as_deref()),
            region,
            rate: rate?,
            label: label?,
        })
    })())
}

/// The rate applied to a destination and the label printed for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedRate {
    pub rate: Decimal,
    pub label: String,
}

/// Label of the tax where no rule matches the destination.
pub const NO_TAX_LABEL: &str = "No tax";
/// Label of a rate on an invoice that is not the destination rule's (the rule changed since).
const TAX_LABEL: &str = "Tax";

/// The rule for a destination among its country's rules: the region's own rule wins over the
/// country-wide one; with neither, the destination is taxed at 0.
pub fn applied_rate(country_rules: &[TaxRule], region: Option<&str>) -> AppliedRate {
    let key = region_key(region);
    let regional = (!key.is_empty()).then(|| country_rules.iter().find(|r| region_key(r.region.as_deref()) == key));
    match regional.flatten().or_else(|| country_rules.iter().find(|r| r.region.is_none())) {
        Some(rule) => AppliedRate { rate: rule.rate, label: rule.label.clone() },
        None => AppliedRate { rate: Decimal::ZERO, label: NO_TAX_LABEL.to_string() },
    }
}

/// `20%`, `5.5%`: a rate as people read it.
pub fn percent(rate: Decimal) -> String {
    match rate.checked_mul(Decimal::ONE_HUNDRED) {
        Some(p) => format!("{}%", p.normalize()),
        None => format!("{rate}"),
    }
}

/// The label printed for a rate on an invoice: the destination rule's own label when the rate is
/// that rule's, else a plain word (the invoice prints the rate beside it).
pub fn label_for(rate: Decimal, destination: &AppliedRate) -> String {
    if rate == destination.rate {
        destination.label.clone()
    } else if rate.is_zero() {
        NO_TAX_LABEL.to_string()
    } else {
        TAX_LABEL.to_string()
    }
}

pub fn parse_rate(text: &str) -> Result<Decimal> {
    Decimal::from_str(text).map_err(|e| Error::internal(format!("stored rate {text:?} is not a decimal: {e}")))
}

// ---- Tax computation ------------------------------------------------------------------------

/// Net, tax and gross of one amount, in minor units; `net + tax = gross` always.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    pub net: i64,
    pub tax: i64,
    pub gross: i64,
}

/// Rounds minor units to a whole minor unit, half away from zero.
fn round_minor(value: Decimal) -> Option<i64> {
    value.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero).to_i64()
}

/// Splits an amount shown to the customer into net and tax at `rate`. With prices that include
/// tax the amount is the gross and the net is derived from it; otherwise the amount is the net.
/// `None` only when the result does not fit in an `i64`.
pub fn split(amount: i64, rate: Decimal, prices_include_tax: bool) -> Option<Split> {
    let value = Decimal::from(amount);
    if prices_include_tax {
        let net = round_minor(value.checked_div(Decimal::ONE.checked_add(rate)?)?)?;
        Some(Split { net, tax: amount.checked_sub(net)?, gross: amount })
    } else {
        let tax = round_minor(value.checked_mul(rate)?)?;
        Some(Split { net: amount, tax, gross: amount.checked_add(tax)? })
    }
}

/// Validated input of `compute_tax`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxInput {
    pub country: String,
    pub region: Option<String>,
    /// `(sku, amount of the line as the channel shows it)`.
    pub lines: Vec<(String, i64)>,
    pub shipping: i64,
}

pub fn parse_tax_request(
    currency: Currency,
    country_code: &str,
    region_name: Option<&str>,
    lines: &[TaxableLine],
    shipping: Money,
) -> Result<TaxInput> {
    let mut p = Problems::default();
    let country = p.check(country("destination.country", country_code));
    let region = p.check(region("destination.region", region_name));
    if lines.len() > MAX_TAX_LINES {
        p.add("lines", format!("must have at most {MAX_TAX_LINES} lines"));
    }
    let mut parsed = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        // The SKU comes back as given: callers match the taxed lines to theirs by it.
        let sku = p
            .check(validate::required_text(&format!("lines[{i}].sku"), &line.sku, MAX_SKU_LEN))
            .map(|_| line.sku.clone());
        let quantity = p.check(validate::positive_quantity(&format!("lines[{i}].quantity"), line.quantity));
        if line.unit_price.currency != currency {
            p.add(format!("lines[{i}].unit_price.currency"), format!("must be {currency}, the request's currency"));
        } else if line.unit_price.amount < 0 {
            p.add(format!("lines[{i}].unit_price.amount"), "must not be negative");
        } else if let (Some(sku), Some(quantity)) = (sku, quantity) {
            match line.unit_price.times(quantity) {
                Some(total) => parsed.push((sku, total.amount)),
                None => p.add(format!("lines[{i}].quantity"), "makes the line total too large"),
            }
        }
    }
    if shipping.currency != currency {
        p.add("shipping.currency", format!("must be {currency}, the request's currency"));
    } else if shipping.amount < 0 {
        p.add("shipping.amount", "must not be negative");
    }
    p.finish((|| Some(TaxInput { country: country?, region: region?, lines: parsed, shipping: shipping.amount }))())
}

fn too_large(field: &str) -> Error {
    Error::validation(field, "is too large to tax")
}

/// Groups taxed amounts by rate and label, as printed at the bottom of an invoice.
pub fn summarise(currency: Currency, items: &[(Decimal, String, Split)]) -> Result<Vec<TaxSummaryLine>> {
    let mut groups: Vec<(Decimal, String, i64, i64)> = Vec::new();
    for (rate, label, amounts) in items {
        let overflow = || Error::validation("lines", "the totals are too large");
        match groups.iter_mut().find(|g| g.0 == *rate && g.1 == *label) {
            Some(g) => {
                g.2 = g.2.checked_add(amounts.net).ok_or_else(overflow)?;
                g.3 = g.3.checked_add(amounts.tax).ok_or_else(overflow)?;
            }
            None => groups.push((*rate, label.clone(), amounts.net, amounts.tax)),
        }
    }
    groups.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    Ok(groups
        .into_iter()
        .map(|(rate, label, base, tax)| TaxSummaryLine {
            label,
            rate,
            base: Money::new(base, currency),
            tax: Money::new(tax, currency),
        })
        .collect())
}

fn add_up(splits: impl IntoIterator<Item = Split>) -> Option<Split> {
    splits.into_iter().try_fold(Split { net: 0, tax: 0, gross: 0 }, |sum, s| {
        Some(Split {
            net: sum.net.checked_add(s.net)?,
            tax: sum.tax.checked_add(s.tax)?,
            gross: sum.gross.checked_add(s.gross)?,
        })
    })
}

/// Taxes every line and the shipping at the destination's rate, rounding each line on its own.
pub fn compute(
    input: &TaxInput,
    currency: Currency,
    applied: &AppliedRate,
    prices_include_tax: bool,
) -> Result<TaxBreakdown> {
    let money = |amount| Money::new(amount, currency);
    let line_tax = |sku: &str, s: Split| LineTax {
        sku: sku.to_string(),
        rate: applied.rate,
        net: money(s.net),
        tax: money(s.tax),
        gross: money(s.gross),
    };
    let mut splits = Vec::with_capacity(input.lines.len() + 1);
    let mut lines = Vec::with_capacity(input.lines.len());
    for (i, (sku, amount)) in input.lines.iter().enumerate() {
        let s = split(*amount, applied.rate, prices_include_tax).ok_or_else(|| too_large(&format!("lines[{i}]")))?;
        lines.push(line_tax(sku, s));
        splits.push(s);
    }
    let shipping = split(input.shipping, applied.rate, prices_include_tax).ok_or_else(|| too_large("shipping"))?;
    splits.push(shipping);
    let total = add_up(splits.iter().copied()).ok_or_else(|| too_large("lines"))?;
    let items: Vec<_> = splits.into_iter().map(|s| (applied.rate, applied.label.clone(), s)).collect();
    Ok(TaxBreakdown {
        prices_include_tax,
        lines,
        shipping: line_tax("shipping", shipping),
        summary: summarise(currency, &items)?,
        net: money(total.net),
        tax: money(total.tax),
        gross: money(total.gross),
    })
}

// ---- Invoices -------------------------------------------------------------------------------

/// What an invoice says, before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct InvoiceContent {
    pub lines: Vec<InvoiceLine>,
    pub summary: Vec<TaxSummaryLine>,
    pub net: Money,
    pub tax: Money,
    pub gross: Money,
}

/// The rate the shipping was taxed at. The snapshot gives the shipping's amounts but not its
/// rate: it is the candidate rate (the destination's, then the lines') that reproduces the
/// shipping's tax, or failing that the effective rate.
pub fn shipping_rate(net: i64, tax: i64, gross: i64, prices_include_tax: bool, candidates: &[Decimal]) -> Decimal {
    if net == 0 && gross == 0 {
        // Free shipping is consistent with any rate: it takes the destination's, so that it
        // joins the lines' group in the tax summary.
        return candidates.first().copied().unwrap_or(Decimal::ZERO);
    }
    if tax == 0 {
        return candidates.iter().copied().find(Decimal::is_zero).unwrap_or(Decimal::ZERO);
    }
    let shown = if prices_include_tax { gross } else { net };
    let reproduces = |rate: &Decimal| split(shown, *rate, prices_include_tax) == Some(Split { net, tax, gross });
    match candidates.iter().find(|r| reproduces(r)) {
        Some(rate) => *rate,
        None if net != 0 => (Decimal::from(tax) / Decimal::from(net)).round_dp(4).normalize(),
        None => Decimal::ZERO,
    }
}

/// The invoice lines of an order: one per order line, then the shipping. The amounts are the
/// snapshot's (what the customer agreed to pay); they are checked to add up before anything is
/// written, since an invoice that does not add up must never exist.
pub fn invoice_content(order: &OrderSnapshot, destination: &AppliedRate) -> Result<InvoiceContent> {
    let currency = order.currency;
    let inconsistent = |what: String| Error::internal(format!("order {} cannot be invoiced: {what}", order.order_id));
    let check = |what: &str, net: Money, tax: Money, gross: Money| -> Result<Split> {
        if [net.currency, tax.currency, gross.currency].iter().any(|c| *c != currency) {
            return Err(inconsistent(format!("{what} is not in {currency}")));
        }
        if net.amount.checked_add(tax.amount) != Some(gross.amount) {
            return Err(inconsistent(format!("{what}: net plus tax is not gross")));
        }
        Ok(Split { net: net.amount, tax: tax.amount, gross: gross.amount })
    };

    let mut lines = Vec::with_capacity(order.lines.len() + 1);
    let mut items = Vec::with_capacity(order.lines.len() + 1);
    for (i, line) in order.lines.iter().enumerate() {
        let s = check(&format!("line {i}"), line.net, line.tax, line.gross)?;
        if line.quantity <= 0 {
            return Err(inconsistent(format!("line {i} has quantity {}", line.quantity)));
        }
        let rate = line.tax_rate.normalize();
        lines.push(InvoiceLine {
            description: line.product_name.clone(),
            sku: Some(line.sku.clone()),
            quantity: line.quantity,
            rate,
            net: line.net,
            tax: line.tax,
            gross: line.gross,
        });
        items.push((rate, label_for(rate, destination), s));
    }

    let shipping = &order.shipping;
    let s = check("shipping", shipping.net, shipping.tax, shipping.gross)?;
    let mut candidates = vec![destination.rate];
    candidates.extend(lines.iter().map(|l| l.rate));
    let rate = shipping_rate(s.net, s.tax, s.gross, order.prices_include_tax, &candidates).normalize();
    lines.push(InvoiceLine {
        description: format!("Shipping: {}", shipping.name),
        sku: None,
        quantity: 1,
        rate,
        net: shipping.net,
        tax: shipping.tax,
        gross: shipping.gross,
    });
    items.push((rate, label_for(rate, destination), s));

    let total = add_up(items.iter().map(|i| i.2)).ok_or_else(|| inconsistent("totals overflow".into()))?;
    let stated = check("totals", order.totals.net, order.totals.tax, order.totals.gross)?;
    if total != stated {
        return Err(inconsistent(format!(
            "its lines add up to {}/{}/{} (net/tax/gross) but its totals say {}/{}/{}",
            total.net, total.tax, total.gross, stated.net, stated.tax, stated.gross
        )));
    }
    Ok(InvoiceContent {
        lines,
        summary: summarise(currency, &items)?,
        net: Money::new(total.net, currency),
        tax: Money::new(total.tax, currency),
        gross: Money::new(total.gross, currency),
    })
}

/// `INV-2026-000042`.
pub fn document_number(series: &str, year: i32, sequence: i64) -> String {
    format!("{series}-{year}-{sequence:06}")
}

// ---- Credit notes ---------------------------------------------------------------------------

/// `numerator / denominator` rounded half away from zero, exactly.
fn div_round(numerator: i128, denominator: i128) -> Option<i128> {
    let quotient = numerator.checked_div(denominator)?;
    let remainder = numerator.checked_rem(denominator)?;
    if remainder.unsigned_abs().checked_mul(2)? >= denominator.unsigned_abs() {
        let away = if (numerator < 0) == (denominator < 0) { 1 } else { -1 };
        quotient.checked_add(away)
    } else {
        Some(quotient)
    }
}

/// The tax part of a credit of `amount` (tax included) against an invoice, pro rata of the
/// invoice's tax to its gross. The credit that brings the credited total to the invoice's gross
/// takes the remaining tax, so a full refund in parts credits exactly the invoice's tax.
pub fn credit_tax(
    amount: i64,
    invoice_gross: i64,
    invoice_tax: i64,
    credited_gross: i64,
    credited_tax: i64,
) -> Result<i64> {
    if amount <= 0 {
        return Err(Error::internal(format!("a refund of {amount} minor units cannot be credited")));
    }
    let after = credited_gross.checked_add(amount).ok_or_else(|| Error::internal("credited total overflows"))?;
    if after > invoice_gross {
        return Err(Error::conflict_on(
            "credit-exceeds-invoice",
            "amount",
            format!(
                "crediting {amount} would bring the credited total to {after}, above the invoice's {invoice_gross}"
            ),
        ));
    }
    if after == invoice_gross {
        return invoice_tax.checked_sub(credited_tax).ok_or_else(|| Error::internal("credited tax overflows"));
    }
    div_round(i128::from(amount) * i128::from(invoice_tax), i128::from(invoice_gross))
        .and_then(|t| i64::try_from(t).ok())
        .ok_or_else(|| Error::internal("credit note tax does not fit"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use comptoir_contracts::address::PostalAddress;
    use comptoir_contracts::ordering::{OrderLine, OrderTotals, ShippingChoice};
    use uuid::Uuid;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn rule(country: &str, region: Option<&str>, rate: &str, label: &str) -> TaxRule {
        TaxRule {
            id: Uuid::nil(),
            country: country.into(),
            region: region.map(Into::into),
            rate: dec(rate),
            label: label.into(),
            created_at: Utc::now(),
        }
    }

    fn new_rule(country: &str, region: Option<&str>, rate: &str, label: &str) -> NewTaxRule {
        NewTaxRule { country: country.into(), region: region.map(Into::into), rate: dec(rate), label: label.into() }
    }

    #[test]
    fn rules_are_normalised() {
        let r = parse_new_tax_rule(new_rule(" fr ", Some(" Corse "), "0.200", " VAT 20% ")).unwrap();
        assert_eq!(
            r,
            TaxRuleDraft {
                country: "FR".into(),
                region: Some("Corse".into()),
                region_key: "CORSE".into(),
                rate: dec("0.2"),
                label: "VAT 20%".into()
            }
        );
        assert_eq!(parse_new_tax_rule(new_rule("DE", Some("  "), "1", "x")).unwrap().region, None);
        assert!(parse_new_tax_rule(new_rule("DE", None, "0", "Zero")).is_ok());
    }

    #[test]
    fn every_bad_field_is_named() {
        let e = parse_new_tax_rule(new_rule("XX", None, "1.01", " ")).unwrap_err();
        let fields: Vec<_> = e.field_errors().iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["country", "rate", "label"]);
        let e = parse_new_tax_rule(new_rule("FR", None, "-0.01", "VAT")).unwrap_err();
        assert_eq!(e.field_errors()[0].field, "rate");
        assert!(parse_new_tax_rule(new_rule("FRA", None, "0.2", "VAT")).is_err());
    }

    #[test]
    fn the_regions_rule_wins_over_the_countrys() {
        let rules = [rule("FR", None, "0.2", "TVA 20%"), rule("FR", Some("Corse"), "0.1", "TVA Corse")];
        assert_eq!(applied_rate(&rules, Some("corse")).label, "TVA Corse");
        assert_eq!(applied_rate(&rules, Some("Bretagne")).rate, dec("0.2"));
        assert_eq!(applied_rate(&rules, None).rate, dec("0.2"));
        let regional_only = [rule("US", Some("CA"), "0.0725", "Sales tax")];
        assert_eq!(
            applied_rate(&regional_only, Some("NY")),
            AppliedRate { rate: Decimal::ZERO, label: "No tax".into() }
        );
        assert_eq!(applied_rate(&[], Some("CA")).rate, Decimal::ZERO);
    }

    #[test]
    fn inclusive_prices_derive_the_net_and_round_half_away_from_zero() {
        // 10.00 at 20% included: 8.333.. net → 8.33, tax 1.67.
        assert_eq!(split(1000, dec("0.2"), true), Some(Split { net: 833, tax: 167, gross: 1000 }));
        // 1.05 / 1.1 = 0.954545 → 95; 0.15 / 1.5 = exactly 0.10 → 10.
        assert_eq!(split(105, dec("0.1"), true).unwrap().net, 95);
        assert_eq!(split(15, dec("0.5"), true).unwrap().net, 10);
        // 0.05 / 1.0 ... a midpoint: 5 / 2 = 2.5 → 3 (away from zero), tax 2.
        assert_eq!(split(5, dec("1"), true), Some(Split { net: 3, tax: 2, gross: 5 }));
        assert_eq!(split(0, dec("0.2"), true), Some(Split { net: 0, tax: 0, gross: 0 }));
    }

    #[test]
    fn exclusive_prices_add_the_rounded_tax() {
        // 0.25 × 0.1 = 0.025 minor... in minor units: 25 × 0.1 = 2.5 → 3.
        assert_eq!(split(25, dec("0.1"), false), Some(Split { net: 25, tax: 3, gross: 28 }));
        // 24 × 0.1 = 2.4 → 2.
        assert_eq!(split(24, dec("0.1"), false), Some(Split { net: 24, tax: 2, gross: 26 }));
        assert_eq!(split(999, dec("0.055"), false), Some(Split { net: 999, tax: 55, gross: 1054 }));
        assert_eq!(split(i64::MAX, dec("0.2"), false), None, "overflow is refused, not wrapped");
    }

    #[test]
    fn totals_add_up_line_by_line() {
        let input = TaxInput {
            country: "FR".into(),
            region: None,
            lines: vec![("A".into(), 1000), ("B".into(), 1000), ("C".into(), 1)],
            shipping: 499,
        };
        let applied = AppliedRate { rate: dec("0.2"), label: "VAT".into() };
        let b = compute(&input, Currency::EUR, &applied, true).unwrap();
        assert_eq!(b.gross.amount, 2500);
        assert_eq!(b.net.amount + b.tax.amount, b.gross.amount);
        let line_sum: i64 = b.lines.iter().map(|l| l.tax.amount).sum::<i64>() + b.shipping.tax.amount;
        assert_eq!(line_sum, b.tax.amount, "the total tax is the sum of the rounded line taxes");
        assert_eq!(b.summary.len(), 1);
        assert_eq!((b.summary[0].base.amount, b.summary[0].tax.amount), (b.net.amount, b.tax.amount));
    }

    #[test]
    fn tax_requests_are_checked_field_by_field() {
        let lines = [
            TaxableLine { sku: "A".into(), quantity: 0, unit_price: Money::new(100, Currency::EUR) },
            TaxableLine { sku: "B".into(), quantity: 1, unit_price: Money::new(100, Currency::USD) },
            TaxableLine { sku: "C".into(), quantity: 3, unit_price: Money::new(i64::MAX, Currency::EUR) },
        ];
        let e = parse_tax_request(Currency::EUR, "ZZ", None, &lines, Money::new(-1, Currency::EUR)).unwrap_err();
        let fields: Vec<_> = e.field_errors().iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "destination.country",
                "lines[0].quantity",
                "lines[1].unit_price.currency",
                "lines[2].quantity",
                "shipping.amount"
            ]
        );
    }

    #[test]
    fn percentages_and_numbers_read_well() {
        assert_eq!(percent(dec("0.20")), "20%");
        assert_eq!(percent(dec("0.055")), "5.5%");
        assert_eq!(percent(Decimal::ZERO), "0%");
        assert_eq!(document_number("INV", 2026, 1), "INV-2026-000001");
        assert_eq!(document_number("CN", 2026, 1_234_567), "CN-2026-1234567");
    }

    #[test]
    fn labels_come_from_the_destinations_rule() {
        let vat = AppliedRate { rate: dec("0.2"), label: "VAT 20%".into() };
        assert_eq!(label_for(dec("0.20"), &vat), "VAT 20%");
        assert_eq!(label_for(dec("0.1"), &vat), "Tax");
        assert_eq!(label_for(Decimal::ZERO, &vat), "No tax");
    }

    #[test]
    fn the_shipping_rate_is_the_one_that_reproduces_its_tax() {
        let candidates = [dec("0.2"), dec("0.055")];
        assert_eq!(shipping_rate(416, 83, 499, true, &candidates), dec("0.2"));
        assert_eq!(shipping_rate(1000, 55, 1055, false, &candidates), dec("0.055"));
        assert_eq!(shipping_rate(0, 0, 0, true, &candidates), dec("0.2"), "free shipping joins the destination's rate");
        assert_eq!(shipping_rate(500, 0, 500, true, &candidates), Decimal::ZERO);
        assert_eq!(shipping_rate(1000, 70, 1070, false, &candidates), dec("0.07"), "effective rate as a last resort");
    }

    #[test]
    fn pro_rata_credit_tax_and_the_last_credit_takes_the_rest() {
        // Invoice 120.00 with 20.00 tax: refunding 10.00 credits 1.67 of tax.
        assert_eq!(credit_tax(1000, 12000, 2000, 0, 0).unwrap(), 167);
        // 3 × 40.00: 6.67 + 6.67 + the remaining 6.66 = 20.00 exactly.
        assert_eq!(credit_tax(4000, 12000, 2000, 0, 0).unwrap(), 667);
        assert_eq!(credit_tax(4000, 12000, 2000, 8000, 1334).unwrap(), 666);
        let e = credit_tax(4001, 12000, 2000, 8000, 1334).unwrap_err();
        assert_eq!(e.code(), "credit-exceeds-invoice");
        assert!(credit_tax(0, 12000, 2000, 0, 0).is_err());
        assert_eq!(credit_tax(500, 500, 0, 0, 0).unwrap(), 0, "an untaxed invoice credits no tax");
    }

    #[test]
    fn rounding_of_exact_halves_is_away_from_zero() {
        assert_eq!(div_round(5, 2), Some(3));
        assert_eq!(div_round(-5, 2), Some(-3));
        assert_eq!(div_round(4, 3), Some(1));
        assert_eq!(div_round(1, 0), None);
    }

    fn address() -> PostalAddress {
        PostalAddress {
            name: "Ann".into(),
            line1: "1 rue de Rivoli".into(),
            line2: None,
            city: "Paris".into(),
            postal_code: "75001".into(),
            region: None,
            country: "FR".into(),
            phone: None,
        }
    }

    fn order(line_gross: i64, shipping_gross: i64) -> OrderSnapshot {
        let eur = |a| Money::new(a, Currency::EUR);
        let l = split(line_gross, dec("0.2"), true).unwrap();
        let s = split(shipping_gross, dec("0.2"), true).unwrap();
        OrderSnapshot {
            order_id: Uuid::nil(),
            number: "CO-000001".into(),
            customer_id: None,
            email: "ann@example.com".into(),
            channel: "online".into(),
            currency: Currency::EUR,
            prices_include_tax: true,
            lines: vec![OrderLine {
                sku: "TEE-M".into(),
                product_id: Uuid::nil(),
                product_name: "Tee".into(),
                quantity: 2,
                unit_price: eur(line_gross / 2),
                tax_rate: dec("0.20"),
                net: eur(l.net),
                tax: eur(l.tax),
                gross: eur(l.gross),
                weight_grams: None,
            }],
            shipping: ShippingChoice {
                method: "standard".into(),
                name: "Standard".into(),
                carrier: "post".into(),
                net: eur(s.net),
                tax: eur(s.tax),
                gross: eur(s.gross),
            },
            shipping_address: address(),
            billing_address: address(),
            totals: OrderTotals { net: eur(l.net + s.net), tax: eur(l.tax + s.tax), gross: eur(l.gross + s.gross) },
            placed_at: Utc::now(),
        }
    }

    #[test]
    fn an_order_becomes_invoice_lines_with_a_summary() {
        let vat = AppliedRate { rate: dec("0.2"), label: "VAT 20%".into() };
        let content = invoice_content(&order(2000, 499), &vat).unwrap();
        assert_eq!(content.lines.len(), 2);
        assert_eq!(content.lines[1].description, "Shipping: Standard");
        assert_eq!(content.lines[1].rate, dec("0.2"));
        assert_eq!(content.gross.amount, 2499);
        assert_eq!(content.summary.len(), 1);
        assert_eq!(content.summary[0].label, "VAT 20%");
        assert_eq!(content.summary[0].tax, content.tax);
    }

    #[test]
    fn an_order_that_does_not_add_up_is_not_invoiced() {
        let vat = AppliedRate { rate: dec("0.2"), label: "VAT".into() };
        let mut o = order(2000, 499);
        o.totals.gross.amount += 1;
        assert!(invoice_content(&o, &vat).unwrap_err().is_internal());
        let mut o = order(2000, 499);
        o.lines[0].tax.amount += 1;
        assert!(invoice_content(&o, &vat).is_err());
    }
}
