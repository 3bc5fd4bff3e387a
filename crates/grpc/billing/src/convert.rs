//! The billing contract's types and their wire form, both ways. Inputs keep what the caller built
//! (countries, regions, labels, channels stay strings; rates keep their decimal scale), so the
//! module validates them on the other side and names the same fields as in process. Decoding what
//! a peer sent fails as a bad request naming the field, never a panic.

use comptoir_contracts::billing::{
    ChannelTaxMode, CreditNote, Invoice, InvoiceLine, InvoiceStatus, LineTax, NewTaxRule, Party, TaxBreakdown,
    TaxRequest, TaxRule, TaxSummaryLine, TaxableLine,
};
use comptoir_grpc::convert::{
    address, all, currency, decimal, money, optional_timestamp, optional_uuid, required, required_address, timestamp,
    to_address, to_decimal, to_money, to_timestamp, uuid,
};
use comptoir_kernel::{Error, Result};

use crate::pb;

// ---- Tax rules and channels ---------------------------------------------------------------

pub fn to_tax_rule(rule: &TaxRule) -> pb::TaxRule {
    pb::TaxRule {
        id: rule.id.to_string(),
        country: rule.country.clone(),
        region: rule.region.clone(),
        rate: to_decimal(&rule.rate),
        label: rule.label.clone(),
        created_at: Some(to_timestamp(&rule.created_at)),
    }
}

pub fn tax_rule(value: pb::TaxRule) -> Result<TaxRule> {
    Ok(TaxRule {
        id: uuid(&value.id, "tax_rule.id")?,
        country: value.country,
        region: value.region,
        rate: decimal(&value.rate, "tax_rule.rate")?,
        label: value.label,
        created_at: timestamp(value.created_at, "tax_rule.created_at")?,
    })
}

pub fn to_create_tax_rule_request(input: NewTaxRule) -> pb::CreateTaxRuleRequest {
    pb::CreateTaxRuleRequest {
        country: input.country,
        region: input.region,
        rate: to_decimal(&input.rate),
        label: input.label,
    }
}

pub fn new_tax_rule(value: pb::CreateTaxRuleRequest) -> Result<NewTaxRule> {
    Ok(NewTaxRule {
        country: value.country,
        region: value.region,
        rate: decimal(&value.rate, "rate")?,
        label: value.label,
    })
}

pub fn to_channel_tax_mode(mode: &ChannelTaxMode) -> pb::ChannelTaxMode {
    pb::ChannelTaxMode { channel: mode.channel.clone(), prices_include_tax: mode.prices_include_tax }
}

pub fn channel_tax_mode(value: pb::ChannelTaxMode) -> ChannelTaxMode {
    ChannelTaxMode { channel: value.channel, prices_include_tax: value.prices_include_tax }
}

pub fn to_set_channel_tax_mode_request(mode: ChannelTaxMode) -> pb::SetChannelTaxModeRequest {
    pb::SetChannelTaxModeRequest { channel: mode.channel, prices_include_tax: mode.prices_include_tax }
}

pub fn new_channel_tax_mode(value: pb::SetChannelTaxModeRequest) -> ChannelTaxMode {
    ChannelTaxMode { channel: value.channel, prices_include_tax: value.prices_include_tax }
}

// ---- Tax computation ----------------------------------------------------------------------

pub fn to_compute_tax_request(request: TaxRequest) -> pb::ComputeTaxRequest {
    pb::ComputeTaxRequest {
        channel: request.channel,
        currency: request.currency.code().to_string(),
        destination: Some(to_address(&request.destination)),
        lines: request
            .lines
            .into_iter()
            .map(|line| pb::TaxableLine {
                sku: line.sku,
                quantity: line.quantity,
                unit_price: Some(to_money(&line.unit_price)),
            })
            .collect(),
        shipping: Some(to_money(&request.shipping)),
    }
}

pub fn tax_request(value: pb::ComputeTaxRequest) -> Result<TaxRequest> {
    Ok(TaxRequest {
        channel: value.channel,
        currency: currency(&value.currency, "currency")?,
        destination: required_address(value.destination, "destination")?,
        lines: all(value.lines, |line| {
            Ok(TaxableLine {
                sku: line.sku,
                quantity: line.quantity,
                unit_price: money(line.unit_price, "lines.unit_price")?,
            })
        })?,
        shipping: money(value.shipping, "shipping")?,
    })
}

fn to_line_tax(line: &LineTax) -> pb::LineTax {
    pb::LineTax {
        sku: line.sku.clone(),
        rate: to_decimal(&line.rate),
        net: Some(to_money(&line.net)),
        tax: Some(to_money(&line.tax)),
        gross: Some(to_money(&line.gross)),
    }
}

fn line_tax(value: pb::LineTax, field: &str) -> Result<LineTax> {
    Ok(LineTax {
        sku: value.sku,
        rate: decimal(&value.rate, &format!("{field}.rate"))?,
        net: money(value.net, &format!("{field}.net"))?,
        tax: money(value.tax, &format!("{field}.tax"))?,
        gross: money(value.gross, &format!("{field}.gross"))?,
    })
}

fn to_summary_line(line: &TaxSummaryLine) -> pb::TaxSummaryLine {
    pb::TaxSummaryLine {
        label: line.label.clone(),
        rate: to_decimal(&line.rate),
        base: Some(to_money(&line.base)),
        tax: Some(to_money(&line.tax)),
    }
}

fn summary_line(value: pb::TaxSummaryLine) -> Result<TaxSummaryLine> {
    Ok(TaxSummaryLine {
        label: value.label,
        rate: decimal(&value.rate, "summary.rate")?,
        base: money(value.base, "summary.base")?,
        tax: money(value.tax, "summary.tax")?,
    })
}

fn to_summary(summary: &[TaxSummaryLine]) -> Vec<pb::TaxSummaryLine> {
    summary.iter().map(to_summary_line).collect()
}

pub fn to_tax_breakdown(breakdown: &TaxBreakdown) -> pb::TaxBreakdown {
    pb::TaxBreakdown {
        prices_include_tax: breakdown.prices_include_tax,
        lines: breakdown.lines.iter().map(to_line_tax).collect(),
        shipping: Some(to_line_tax(&breakdown.shipping)),
        summary: to_summary(&breakdown.summary),
        net: Some(to_money(&breakdown.net)),
        tax: Some(to_money(&breakdown.tax)),
        gross: Some(to_money(&breakdown.gross)),
    }
}

pub fn tax_breakdown(value: pb::TaxBreakdown) -> Result<TaxBreakdown> {
    Ok(TaxBreakdown {
        prices_include_tax: value.prices_include_tax,
        lines: all(value.lines, |line| line_tax(line, "lines"))?,
        shipping: line_tax(required(value.shipping, "shipping")?, "shipping")?,
        summary: all(value.summary, summary_line)?,
        net: money(value.net, "net")?,
        tax: money(value.tax, "tax")?,
        gross: money(value.gross, "gross")?,
    })
}

// ---- Invoices and credit notes ------------------------------------------------------------

fn to_invoice_status(status: InvoiceStatus) -> pb::InvoiceStatus {
    match status {
        InvoiceStatus::Draft => pb::InvoiceStatus::Draft,
        InvoiceStatus::Issued => pb::InvoiceStatus::Issued,
    }
}

/// Unspecified or a number this build does not know is the peer's mistake, not a status to guess.
fn invoice_status(value: i32) -> Result<InvoiceStatus> {
    match pb::InvoiceStatus::try_from(value) {
        Ok(pb::InvoiceStatus::Draft) => Ok(InvoiceStatus::Draft),
        Ok(pb::InvoiceStatus::Issued) => Ok(InvoiceStatus::Issued),
        _ => Err(Error::bad_request(format!("invoice.status: {value} is not an invoice status"))),
    }
}

fn to_invoice_line(line: &InvoiceLine) -> pb::InvoiceLine {
    pb::InvoiceLine {
        description: line.description.clone(),
        sku: line.sku.clone(),
        quantity: line.quantity,
        rate: to_decimal(&line.rate),
        net: Some(to_money(&line.net)),
        tax: Some(to_money(&line.tax)),
        gross: Some(to_money(&line.gross)),
    }
}

fn invoice_line(value: pb::InvoiceLine) -> Result<InvoiceLine> {
    Ok(InvoiceLine {
        description: value.description,
        sku: value.sku,
        quantity: value.quantity,
        rate: decimal(&value.rate, "invoice.lines.rate")?,
        net: money(value.net, "invoice.lines.net")?,
        tax: money(value.tax, "invoice.lines.tax")?,
        gross: money(value.gross, "invoice.lines.gross")?,
    })
}

fn to_party(party: &Party) -> pb::Party {
    pb::Party { name: party.name.clone(), email: party.email.clone(), address: party.address.as_ref().map(to_address) }
}

fn party(value: Option<pb::Party>, field: &str) -> Result<Party> {
    let value = required(value, field)?;
    Ok(Party { name: value.name, email: value.email, address: value.address.map(address) })
}

pub fn to_invoice(invoice: &Invoice) -> pb::Invoice {
    pb::Invoice {
        id: invoice.id.to_string(),
        number: invoice.number.clone(),
        order_id: invoice.order_id.to_string(),
        order_number: invoice.order_number.clone(),
        customer_id: invoice.customer_id.map(|id| id.to_string()),
        status: to_invoice_status(invoice.status).into(),
        seller: Some(to_party(&invoice.seller)),
        buyer: Some(to_party(&invoice.buyer)),
        lines: invoice.lines.iter().map(to_invoice_line).collect(),
        summary: to_summary(&invoice.summary),
        net: Some(to_money(&invoice.net)),
        tax: Some(to_money(&invoice.tax)),
        gross: Some(to_money(&invoice.gross)),
        issued_at: invoice.issued_at.as_ref().map(to_timestamp),
        created_at: Some(to_timestamp(&invoice.created_at)),
    }
}

pub fn invoice(value: pb::Invoice) -> Result<Invoice> {
    Ok(Invoice {
        id: uuid(&value.id, "invoice.id")?,
        number: value.number,
        order_id: uuid(&value.order_id, "invoice.order_id")?,
        order_number: value.order_number,
        customer_id: optional_uuid(value.customer_id.as_deref(), "invoice.customer_id")?,
        status: invoice_status(value.status)?,
        seller: party(value.seller, "invoice.seller")?,
        buyer: party(value.buyer, "invoice.buyer")?,
        lines: all(value.lines, invoice_line)?,
        summary: all(value.summary, summary_line)?,
        net: money(value.net, "invoice.net")?,
        tax: money(value.tax, "invoice.tax")?,
        gross: money(value.gross, "invoice.gross")?,
        issued_at: optional_timestamp(value.issued_at, "invoice.issued_at")?,
        created_at: timestamp(value.created_at, "invoice.created_at")?,
    })
}

pub fn to_credit_note(note: &CreditNote) -> pb::CreditNote {
    pb::CreditNote {
        id: note.id.to_string(),
        number: note.number.clone(),
        invoice_id: note.invoice_id.to_string(),
        order_id: note.order_id.to_string(),
        gross: Some(to_money(&note.gross)),
        tax: Some(to_money(&note.tax)),
        reason: note.reason.clone(),
        issued_at: Some(to_timestamp(&note.issued_at)),
    }
}

pub fn credit_note(value: pb::CreditNote) -> Result<CreditNote> {
    Ok(CreditNote {
        id: uuid(&value.id, "credit_note.id")?,
        number: value.number,
        invoice_id: uuid(&value.invoice_id, "credit_note.invoice_id")?,
        order_id: uuid(&value.order_id, "credit_note.order_id")?,
        gross: money(value.gross, "credit_note.gross")?,
        tax: money(value.tax, "credit_note.tax")?,
        reason: value.reason,
        issued_at: timestamp(value.issued_at, "credit_note.issued_at")?,
    })
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use comptoir_contracts::address::PostalAddress;
    use comptoir_kernel::{Currency, Money, time};
    use rust_decimal::Decimal;
    use uuid::Uuid;

    use super::*;

    fn eur(amount: i64) -> Money {
        Money::new(amount, Currency::EUR)
    }

    fn paris() -> PostalAddress {
        PostalAddress {
            name: "Ann Martin".into(),
            line1: "12 rue des Martyrs".into(),
            line2: Some(String::new()),
            city: "Paris".into(),
            postal_code: "75009".into(),
            region: None,
            country: "FR".into(),
            phone: None,
        }
    }

    fn invoice_of(status: InvoiceStatus) -> Invoice {
        let rate = Decimal::from_str("0.20").unwrap();
        Invoice {
            id: Uuid::now_v7(),
            number: (status == InvoiceStatus::Issued).then(|| "INV-2026-000001".into()),
            order_id: Uuid::now_v7(),
            order_number: "CO-000001".into(),
            customer_id: None,
            status,
            seller: Party { name: "Comptoir".into(), email: None, address: None },
            buyer: Party { name: "Ann".into(), email: Some(String::new()), address: Some(paris()) },
            lines: vec![InvoiceLine {
                description: "Shipping".into(),
                sku: None,
                quantity: 0,
                rate,
                net: eur(0),
                tax: eur(0),
                gross: eur(0),
            }],
            summary: vec![TaxSummaryLine { label: "TVA".into(), rate, base: eur(1), tax: eur(0) }],
            net: eur(1),
            tax: eur(0),
            gross: eur(1),
            issued_at: (status == InvoiceStatus::Issued).then(time::now),
            created_at: time::now(),
        }
    }

    #[test]
    fn invoices_survive_the_trip_with_absent_and_empty_kept_apart() {
        for status in [InvoiceStatus::Draft, InvoiceStatus::Issued] {
            let sent = invoice_of(status);
            let back = invoice(to_invoice(&sent)).unwrap();
            assert_eq!(back, sent);
            assert_eq!(back.lines[0].rate.to_string(), "0.20", "the rate keeps its scale");
        }
    }

    #[test]
    fn an_unspecified_or_unknown_status_is_refused() {
        for status in [pb::InvoiceStatus::Unspecified as i32, 42] {
            let mut message = to_invoice(&invoice_of(InvoiceStatus::Draft));
            message.status = status;
            let e = invoice(message).unwrap_err();
            assert_eq!(e.status(), 400);
            assert!(e.to_string().contains("invoice.status"), "{e}");
        }
    }

    #[test]
    fn a_rate_that_is_not_a_decimal_names_its_field() {
        let request =
            pb::CreateTaxRuleRequest { country: "FR".into(), region: None, rate: "20%".into(), label: "".into() };
        let e = new_tax_rule(request).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.to_string().contains("rate"), "{e}");
    }

    #[test]
    fn a_tax_request_arrives_as_built() {
        let request = TaxRequest {
            channel: " Not A Channel ".into(),
            currency: Currency::EUR,
            destination: PostalAddress { country: "Narnia".into(), region: Some(String::new()), ..paris() },
            lines: vec![TaxableLine { sku: "".into(), quantity: -1, unit_price: Money::new(-5, Currency::USD) }],
            shipping: eur(0),
        };
        let back = tax_request(to_compute_tax_request(request.clone())).unwrap();
        assert_eq!(
            (back.channel, back.currency, back.destination),
            (request.channel, request.currency, request.destination)
        );
        let (line, sent) = (&back.lines[0], &request.lines[0]);
        assert_eq!((&line.sku, line.quantity, line.unit_price), (&sent.sku, sent.quantity, sent.unit_price));
        assert_eq!(back.shipping, request.shipping);
    }
}
