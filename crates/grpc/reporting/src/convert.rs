//! The reporting contract's types and their wire form, both ways: `to_*` encodes, the plain-named
//! function decodes. Periods and filters travel as the caller gave them (a blank channel, a
//! period running backwards), so the module's own checks answer the same errors in both
//! topologies. Decoding what a peer sent fails as a bad request naming the field (a malformed
//! day, an unknown grouping, a missing amount), never a panic.

use chrono::NaiveDate;
use comptoir_contracts::reporting::{
    ConversionRow, RebuildReport, RefundRow, ReportQuery, SalesGrouping, SalesReport, SalesRow, StockValueQuery,
    StockValueRow,
};
use comptoir_grpc::convert::{currency, money, required, to_money};
use comptoir_kernel::{Error, Result};

use crate::pb;

/// How days are written on the wire.
const DAY: &str = "%Y-%m-%d";

fn day(value: &str, field: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(value, DAY)
        .map_err(|_| Error::bad_request(format!("{field}: `{value}` is not a day (YYYY-MM-DD)")))
}

/// `prefix.name`, or `name` at the top of a message.
fn path(prefix: &str, name: &str) -> String {
    if prefix.is_empty() { name.to_string() } else { format!("{prefix}.{name}") }
}

pub fn to_report_query(query: &ReportQuery) -> pb::ReportQuery {
    pb::ReportQuery {
        from: query.from.format(DAY).to_string(),
        to: query.to.format(DAY).to_string(),
        channel: query.channel.clone(),
    }
}

/// `prefix` names the message in the request (`query`), empty when it is the request.
pub fn report_query(value: pb::ReportQuery, prefix: &str) -> Result<ReportQuery> {
    Ok(ReportQuery {
        from: day(&value.from, &path(prefix, "from"))?,
        to: day(&value.to, &path(prefix, "to"))?,
        channel: value.channel,
    })
}

pub fn to_grouping(grouping: SalesGrouping) -> pb::SalesGrouping {
    match grouping {
        SalesGrouping::Day => pb::SalesGrouping::Day,
        SalesGrouping::Channel => pb::SalesGrouping::Channel,
        SalesGrouping::Product => pb::SalesGrouping::Product,
        SalesGrouping::Category => pb::SalesGrouping::Category,
        SalesGrouping::Seller => pb::SalesGrouping::Seller,
    }
}

pub fn grouping(value: i32, field: &str) -> Result<SalesGrouping> {
    match pb::SalesGrouping::try_from(value) {
        Ok(pb::SalesGrouping::Day) => Ok(SalesGrouping::Day),
        Ok(pb::SalesGrouping::Channel) => Ok(SalesGrouping::Channel),
        Ok(pb::SalesGrouping::Product) => Ok(SalesGrouping::Product),
        Ok(pb::SalesGrouping::Category) => Ok(SalesGrouping::Category),
        Ok(pb::SalesGrouping::Seller) => Ok(SalesGrouping::Seller),
        Ok(pb::SalesGrouping::Unspecified) | Err(_) => {
            Err(Error::bad_request(format!("{field}: `{value}` is not a known value")))
        }
    }
}

pub fn to_sales_request(query: &ReportQuery, grouping: SalesGrouping) -> pb::SalesRequest {
    pb::SalesRequest { query: Some(to_report_query(query)), grouping: to_grouping(grouping) as i32 }
}

pub fn sales_request(value: pb::SalesRequest) -> Result<(ReportQuery, SalesGrouping)> {
    let query = report_query(required(value.query, "query")?, "query")?;
    Ok((query, grouping(value.grouping, "grouping")?))
}

pub fn to_sales_row(row: &SalesRow) -> pb::SalesRow {
    pb::SalesRow {
        key: row.key.clone(),
        label: row.label.clone(),
        currency: row.currency.code().to_string(),
        orders: row.orders,
        units: row.units,
        net: Some(to_money(&row.net)),
        tax: Some(to_money(&row.tax)),
        gross: Some(to_money(&row.gross)),
        shipping: Some(to_money(&row.shipping)),
    }
}

pub fn sales_row(value: pb::SalesRow, path: &str) -> Result<SalesRow> {
    Ok(SalesRow {
        currency: currency(&value.currency, &format!("{path}.currency"))?,
        orders: value.orders,
        units: value.units,
        net: money(value.net, &format!("{path}.net"))?,
        tax: money(value.tax, &format!("{path}.tax"))?,
        gross: money(value.gross, &format!("{path}.gross"))?,
        shipping: money(value.shipping, &format!("{path}.shipping"))?,
        key: value.key,
        label: value.label,
    })
}

/// Each element named by its list and index (`rows[1]`) so that an error points at it.
fn each<A, B>(values: Vec<A>, list: &str, decode: impl Fn(A, &str) -> Result<B>) -> Result<Vec<B>> {
    values.into_iter().enumerate().map(|(i, v)| decode(v, &format!("{list}[{i}]"))).collect()
}

pub fn to_sales_report(report: &SalesReport) -> pb::SalesReport {
    pb::SalesReport {
        grouping: to_grouping(report.grouping) as i32,
        rows: report.rows.iter().map(to_sales_row).collect(),
        totals: report.totals.iter().map(to_sales_row).collect(),
    }
}

pub fn sales_report(value: pb::SalesReport) -> Result<SalesReport> {
    Ok(SalesReport {
        grouping: grouping(value.grouping, "grouping")?,
        rows: each(value.rows, "rows", sales_row)?,
        totals: each(value.totals, "totals", sales_row)?,
    })
}

pub fn to_refund_list(rows: &[RefundRow]) -> pb::RefundList {
    pb::RefundList {
        rows: rows
            .iter()
            .map(|r| pb::RefundRow {
                day: r.day.clone(),
                channel: r.channel.clone(),
                currency: r.currency.code().to_string(),
                refunds: r.refunds,
                amount: Some(to_money(&r.amount)),
            })
            .collect(),
    }
}

pub fn refund_list(value: pb::RefundList) -> Result<Vec<RefundRow>> {
    each(value.rows, "rows", |r, path| {
        Ok(RefundRow {
            currency: currency(&r.currency, &format!("{path}.currency"))?,
            refunds: r.refunds,
            amount: money(r.amount, &format!("{path}.amount"))?,
            day: r.day,
            channel: r.channel,
        })
    })
}

pub fn to_stock_value_query(query: &StockValueQuery) -> pb::StockValueQuery {
    pb::StockValueQuery { location: query.location.clone(), channel: query.channel.clone() }
}

pub fn stock_value_query(value: pb::StockValueQuery) -> StockValueQuery {
    StockValueQuery { location: value.location, channel: value.channel }
}

pub fn to_stock_value_list(rows: &[StockValueRow]) -> pb::StockValueList {
    pb::StockValueList {
        rows: rows
            .iter()
            .map(|r| pb::StockValueRow {
                location: r.location.clone(),
                currency: r.currency.code().to_string(),
                skus: r.skus,
                units: r.units,
                value: Some(to_money(&r.value)),
                unpriced_skus: r.unpriced_skus,
            })
            .collect(),
    }
}

pub fn stock_value_list(value: pb::StockValueList) -> Result<Vec<StockValueRow>> {
    each(value.rows, "rows", |r, path| {
        Ok(StockValueRow {
            currency: currency(&r.currency, &format!("{path}.currency"))?,
            skus: r.skus,
            units: r.units,
            value: money(r.value, &format!("{path}.value"))?,
            unpriced_skus: r.unpriced_skus,
            location: r.location,
        })
    })
}

pub fn to_conversion_list(rows: &[ConversionRow]) -> pb::ConversionList {
    pb::ConversionList {
        rows: rows
            .iter()
            .map(|r| pb::ConversionRow {
                day: r.day.clone(),
                channel: r.channel.clone(),
                carts: r.carts,
                ordered: r.ordered,
                rate: r.rate,
            })
            .collect(),
    }
}

pub fn conversion_list(value: pb::ConversionList) -> Vec<ConversionRow> {
    value
        .rows
        .into_iter()
        .map(|r| ConversionRow { day: r.day, channel: r.channel, carts: r.carts, ordered: r.ordered, rate: r.rate })
        .collect()
}

pub fn to_rebuild_report(report: &RebuildReport) -> pb::RebuildReport {
    pb::RebuildReport {
        orders: report.orders,
        store_sales: report.store_sales,
        products: report.products,
        took_ms: report.took_ms,
    }
}

pub fn rebuild_report(value: pb::RebuildReport) -> RebuildReport {
    RebuildReport {
        orders: value.orders,
        store_sales: value.store_sales,
        products: value.products,
        took_ms: value.took_ms,
    }
}

#[cfg(test)]
mod tests {
    use comptoir_kernel::{Currency, Money};

    use super::*;

    fn eur(amount: i64) -> Money {
        Money::new(amount, Currency::EUR)
    }

    fn sales_row_of(key: &str) -> SalesRow {
        SalesRow {
            key: key.into(),
            label: "Kitchen › Mugs".into(),
            currency: Currency::EUR,
            orders: 3,
            units: -2,
            net: eur(1000),
            tax: eur(200),
            gross: eur(1200),
            shipping: eur(0),
        }
    }

    #[test]
    fn every_value_survives_the_round_trip() {
        let query = ReportQuery {
            from: "2026-03-01".parse().unwrap(),
            to: "2026-03-31".parse().unwrap(),
            channel: Some(" ".into()),
        };
        for g in [
            SalesGrouping::Day,
            SalesGrouping::Channel,
            SalesGrouping::Product,
            SalesGrouping::Category,
            SalesGrouping::Seller,
        ] {
            assert_eq!(sales_request(to_sales_request(&query, g)).unwrap(), (query.clone(), g));
            let report =
                SalesReport { grouping: g, rows: vec![sales_row_of("a"), sales_row_of("none")], totals: vec![] };
            assert_eq!(sales_report(to_sales_report(&report)).unwrap(), report);
        }
        let everywhere = ReportQuery { channel: None, ..query.clone() };
        assert_eq!(report_query(to_report_query(&everywhere), "").unwrap(), everywhere);

        let refunds = vec![RefundRow {
            day: "2026-03-03".into(),
            channel: "store".into(),
            currency: Currency::USD,
            refunds: 2,
            amount: Money::new(600, Currency::USD),
        }];
        assert_eq!(refund_list(to_refund_list(&refunds)).unwrap(), refunds);
        let stock = vec![StockValueRow {
            location: "paris-wh".into(),
            currency: Currency::EUR,
            skus: 4,
            units: 36,
            value: eur(34800),
            unpriced_skus: 1,
        }];
        assert_eq!(stock_value_list(to_stock_value_list(&stock)).unwrap(), stock);
        let filter = StockValueQuery { location: Some("paris-wh".into()), channel: None };
        assert_eq!(stock_value_query(to_stock_value_query(&filter)), filter);
        let conversion = vec![ConversionRow {
            day: "2026-03-02".into(),
            channel: "online".into(),
            carts: 3,
            ordered: 2,
            rate: 0.6667,
        }];
        assert_eq!(conversion_list(to_conversion_list(&conversion)), conversion);
        let report = RebuildReport { orders: 3, store_sales: 2, products: 3, took_ms: 12 };
        assert_eq!(rebuild_report(to_rebuild_report(&report)), report);
    }

    #[test]
    fn a_malformed_message_names_its_field() {
        fn bad<T: std::fmt::Debug>(result: Result<T>) -> String {
            match result {
                Err(e @ Error::BadRequest { .. }) => e.to_string(),
                other => panic!("expected a bad request, got {other:?}"),
            }
        }
        let query = pb::ReportQuery { from: "2026-03-01".into(), to: "March".into(), channel: None };
        let request = pb::SalesRequest { query: Some(query), grouping: pb::SalesGrouping::Day as i32 };
        assert!(bad(sales_request(request)).contains("query.to"));
        let request = pb::SalesRequest { query: None, grouping: pb::SalesGrouping::Day as i32 };
        assert!(bad(sales_request(request)).contains("query"));
        let query = pb::ReportQuery { from: "2026-03-01".into(), to: "2026-03-02".into(), channel: None };
        let request = pb::SalesRequest { query: Some(query), grouping: 0 };
        assert!(bad(sales_request(request)).contains("grouping"));

        let mut report = to_sales_report(&SalesReport { grouping: SalesGrouping::Day, rows: vec![], totals: vec![] });
        report.totals.push(pb::SalesRow { currency: "EUR".into(), ..Default::default() });
        assert!(bad(sales_report(report)).contains("totals[0].net"));
        let list =
            pb::StockValueList { rows: vec![pb::StockValueRow { currency: "XXX".into(), ..Default::default() }] };
        assert!(bad(stock_value_list(list)).contains("rows[0].currency"));
    }
}
