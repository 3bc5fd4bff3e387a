//! Reports as CSV, for spreadsheets: one header line, amounts in major units with the currency's
//! decimals (`1234.50`, `Money::major_units`) and the currency in its own column, so that a column
//! adds up.
//!
//! A cell a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`) gets a leading
//! apostrophe: a product or seller named `=HYPERLINK(...)` stays text (CSV injection).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use comptoir_contracts::reporting::{ConversionRow, RefundRow, SalesReport, StockValueRow};
use comptoir_kernel::Error;

/// A CSV download named `name.csv`, never cached (the API's and the back office's reports).
pub fn download(name: &str, body: String) -> Response {
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}.csv\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment; filename=\"report.csv\""));
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8")),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}

/// A text cell that cannot start a formula.
pub fn text_cell(value: &str) -> String {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}"),
        _ => value.to_string(),
    }
}

fn write<R>(header: &[&str], rows: impl Iterator<Item = R>, cells: impl Fn(R) -> Vec<String>) -> Result<String, Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let failed = |e: csv::Error| Error::internal(format!("writing CSV: {e}"));
    out.write_record(header).map_err(failed)?;
    for row in rows {
        out.write_record(cells(row)).map_err(failed)?;
    }
    let bytes = out.into_inner().map_err(|e| Error::internal(format!("writing CSV: {e}")))?;
    String::from_utf8(bytes).map_err(|e| Error::internal(format!("writing CSV: {e}")))
}

pub fn sales(report: &SalesReport) -> Result<String, Error> {
    write(
        &["key", "label", "currency", "orders", "units", "net", "tax", "gross", "shipping"],
        report.rows.iter(),
        |r| {
            vec![
                text_cell(&r.key),
                text_cell(&r.label),
                r.currency.to_string(),
                r.orders.to_string(),
                r.units.to_string(),
                r.net.major_units(),
                r.tax.major_units(),
                r.gross.major_units(),
                r.shipping.major_units(),
            ]
        },
    )
}

pub fn refunds(rows: &[RefundRow]) -> Result<String, Error> {
    write(&["day", "channel", "currency", "refunds", "amount"], rows.iter(), |r| {
        vec![
            r.day.clone(),
            text_cell(&r.channel),
            r.currency.to_string(),
            r.refunds.to_string(),
            r.amount.major_units(),
        ]
    })
}

pub fn stock_value(rows: &[StockValueRow]) -> Result<String, Error> {
    write(&["location", "currency", "skus", "units", "value", "unpriced_skus"], rows.iter(), |r| {
        vec![
            text_cell(&r.location),
            r.currency.to_string(),
            r.skus.to_string(),
            r.units.to_string(),
            r.value.major_units(),
            r.unpriced_skus.to_string(),
        ]
    })
}

pub fn conversion(rows: &[ConversionRow]) -> Result<String, Error> {
    write(&["day", "channel", "carts", "ordered", "rate"], rows.iter(), |r| {
        vec![r.day.clone(), text_cell(&r.channel), r.carts.to_string(), r.ordered.to_string(), format!("{:.4}", r.rate)]
    })
}

#[cfg(test)]
mod tests {
    use comptoir_contracts::reporting::{SalesGrouping, SalesRow};
    use comptoir_kernel::{Currency, Money};

    use super::*;

    #[test]
    fn names_that_look_like_formulas_stay_text_and_commas_are_quoted() {
        let eur = |amount| Money::new(amount, Currency::EUR);
        let row = SalesRow {
            key: "p1".into(),
            label: "=HYPERLINK(\"x\"), mug".into(),
            currency: Currency::EUR,
            orders: 2,
            units: 3,
            net: eur(1000),
            tax: eur(200),
            gross: eur(1200),
            shipping: eur(0),
        };
        let report = SalesReport { grouping: SalesGrouping::Product, rows: vec![row.clone()], totals: vec![row] };
        let csv = sales(&report).unwrap();
        let mut lines = csv.lines();
        assert_eq!(lines.next(), Some("key,label,currency,orders,units,net,tax,gross,shipping"));
        assert_eq!(lines.next(), Some("p1,\"'=HYPERLINK(\"\"x\"\"), mug\",EUR,2,3,10.00,2.00,12.00,0.00"));
    }
}
