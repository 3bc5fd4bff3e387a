//! The reports: sales (online orders and store tills side by side), refunds, the value of the
//! stock per location and the conversion of carts into orders. Each is a page with a table, the
//! same rows as a CSV download, and links to the other three; sales grouped by day are also drawn
//! as a chart on the server (inline SVG, no script), one bar per channel side by side each day.
//!
//! The figures come from the reporting module's read model, counted by its database; the pages
//! only lay them out. Amounts stay per currency: a table never adds euros to dollars. Days are UTC
//! days.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use askama::Template;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use chrono::{Duration, NaiveDate, Utc};
use comptoir_api::csv_export;
use comptoir_contracts::identity::Permission;
use comptoir_contracts::inventory::LocationKind;
use comptoir_contracts::reporting::{
    ConversionRow, MAX_REPORT_DAYS, RefundRow, ReportQuery, SalesGrouping, SalesReport, SalesRow, StockValueQuery,
    StockValueRow,
};
use comptoir_kernel::{Currency, Error, Money, PageRequest, RequestContext};
use rust_decimal::Decimal;

use super::{Chrome, staff};
use crate::form::{FormData, FormErrors};
use crate::session::Session;
use crate::view::{PageError, render, render_status};
use crate::{PageResult, WebState};

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/reports/sales", get(sales))
        .route("/reports/sales.csv", get(sales_csv))
        .route("/reports/refunds", get(refunds))
        .route("/reports/refunds.csv", get(refunds_csv))
        .route("/reports/stock-value", get(stock_value))
        .route("/reports/stock-value.csv", get(stock_value_csv))
        .route("/reports/conversion", get(conversion))
        .route("/reports/conversion.csv", get(conversion_csv))
}

/// The navigation entry of every report.
const SECTION: &str = "/reports/sales";
/// The longest period a report covers.
const MAX_DAYS: i64 = MAX_REPORT_DAYS;
/// The period shown when none is asked for.
const DEFAULT_DAYS: i64 = 30;

// ---- Today, for the dashboard --------------------------------------------------------------

/// Today's sales in one currency.
pub(super) struct Sale {
    pub currency: Currency,
    /// Online orders and till sales.
    pub orders: u64,
    /// What the customers were charged, tax and shipping included, in minor units.
    pub gross: i64,
}

/// Today's sales, one per currency.
pub(super) struct Sales {
    pub sales: Vec<Sale>,
}

/// Today's sales (UTC), for the dashboard: the sales report's totals of the day.
pub(super) async fn today(state: &WebState, ctx: &RequestContext) -> Result<Sales, Error> {
    let today = Utc::now().date_naive();
    let query = ReportQuery { from: today, to: today, channel: None };
    let report = state.reporting.sales(ctx, query, SalesGrouping::Channel).await?;
    Ok(Sales {
        sales: report
            .totals
            .iter()
            .map(|total| Sale {
                currency: total.currency,
                orders: total.orders,
                gross: total.gross.amount.saturating_add(total.shipping.amount),
            })
            .collect(),
    })
}

// ---- The chart ---------------------------------------------------------------------------

/// One colour per channel, in the order of their names; told apart by people with the common
/// colour-vision deficiencies (Okabe–Ito), and dark enough on white.
const PALETTE: [&str; 8] = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#332288", "#7f7f7f"];

const WIDTH: f64 = 800.0;
const HEIGHT: f64 = 360.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 16.0;
const BOTTOM: f64 = 40.0;
const LEGEND_PER_ROW: usize = 5;
const LEGEND_ROW: f64 = 20.0;
const INK: &str = "#1d2330";
const MUTED: &str = "#5b6475";
const GRID: &str = "#d9dde5";
const FONT: &str = "system-ui, -apple-system, Segoe UI, Roboto, sans-serif";

/// A bar of a day: one channel's sales that day, beside the other channels'.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub day: NaiveDate,
    pub channel: String,
    pub gross: i64,
    pub orders: u64,
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

/// A channel of the chart: its colour and its totals over the period.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub channel: String,
    pub colour: &'static str,
    pub gross: i64,
    pub orders: u64,
}

/// A chart laid out: what it shows and where; [`Chart::svg`] draws it.
#[derive(Debug, Clone)]
pub struct Chart {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub currency: Currency,
    pub bars: Vec<Bar>,
    /// The channels by name, each with its colour.
    pub series: Vec<Series>,
    /// The value at the top of the vertical axis, in minor units: four round steps.
    pub scale_max: i64,
    /// Where the plot starts (below the legend) and how tall it is, in SVG units.
    pub top: f64,
    pub plot_height: f64,
}

/// Text for SVG/HTML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// At most `max` characters, with an ellipsis when cut.
fn shortened(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// The smallest of 1, 2, 2.5, 5 × 10ⁿ at or above `raw` (at least 1).
fn nice_step(raw: i64) -> i64 {
    let raw = raw.max(1);
    let mut power: i64 = 1;
    while power.saturating_mul(10) < raw {
        power = power.saturating_mul(10);
    }
    // `power` < raw <= 10 × power, or raw == 1.
    [1, 2, 5, 10]
        .iter()
        .map(|m| power.saturating_mul(*m))
        .chain(if power >= 10 { Some(power / 2 * 5) } else { None }) // 2.5 × 10ⁿ
        .filter(|step| *step >= raw)
        .min()
        .unwrap_or(raw)
}

/// An amount in major units without trailing zeros (`25000` EUR → `250`, `250` → `2.5`).
fn tick_label(minor: i64, currency: Currency) -> String {
    Decimal::new(minor, currency.minor_digits() as u32).normalize().to_string()
}

fn day_label(day: NaiveDate) -> String {
    day.format("%-d %b").to_string()
}

fn long_day(day: NaiveDate) -> String {
    day.format("%-d %b %Y").to_string()
}

fn orders_text(n: u64) -> String {
    if n == 1 { "1 order".to_string() } else { format!("{n} orders") }
}

/// One channel's sales on one day, as the chart draws them.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub day: NaiveDate,
    pub channel: String,
    pub currency: Currency,
    /// Gross sales of the goods, tax included, in minor units.
    pub gross: i64,
    pub orders: u64,
}

/// Gross sales per day from `from` to `to` (inclusive) as a bar chart: each day one bar per
/// channel, side by side, one colour per channel (a channel keeps its place every day). Points of
/// another currency or outside the period are ignored; points of the same day and channel add up.
pub fn sales_chart(from: NaiveDate, to: NaiveDate, currency: Currency, points: &[Point]) -> Chart {
    let to = to.max(from);
    let days = (to - from).num_days() + 1;
    // (day, channel) → (gross, orders), ordered by day then channel.
    let mut cells: BTreeMap<(NaiveDate, &str), (i64, u64)> = BTreeMap::new();
    for point in points.iter().filter(|p| p.currency == currency && (from..=to).contains(&p.day)) {
        let cell = cells.entry((point.day, point.channel.as_str())).or_default();
        cell.0 = cell.0.saturating_add(point.gross.max(0));
        cell.1 += point.orders;
    }
    let mut series: Vec<Series> = Vec::new();
    for ((_, channel), (gross, orders)) in &cells {
        match series.iter_mut().find(|s| s.channel == *channel) {
            Some(s) => {
                s.gross = s.gross.saturating_add(*gross);
                s.orders += orders;
            }
            None => series.push(Series { channel: channel.to_string(), colour: "", gross: *gross, orders: *orders }),
        }
    }
    series.sort_by(|a, b| a.channel.cmp(&b.channel));
    for (i, s) in series.iter_mut().enumerate() {
        s.colour = PALETTE[i % PALETTE.len()];
    }

    let highest = cells.values().map(|(gross, _)| *gross).max().unwrap_or(0);
    let scale_max = nice_step(highest / 4 + i64::from(highest % 4 != 0)).saturating_mul(4);

    let legend_rows = series.len().div_ceil(LEGEND_PER_ROW).max(1);
    let top = 16.0 + LEGEND_ROW * legend_rows as f64 + 12.0;
    let plot_height = HEIGHT - top - BOTTOM;
    let slot = (WIDTH - LEFT - RIGHT) / days as f64;
    // The day's bars share 80% of its slot, centred; the rest keeps the days apart.
    let group = slot * 0.8;
    let bar_width = group / series.len().max(1) as f64;
    let baseline = top + plot_height;

    let mut bars = Vec::new();
    for ((day, channel), (gross, orders)) in &cells {
        if *gross <= 0 {
            continue;
        }
        let index = (*day - from).num_days() as f64;
        let place = series.iter().position(|s| s.channel == *channel).unwrap_or(0) as f64;
        let height = *gross as f64 / scale_max as f64 * plot_height;
        bars.push(Bar {
            day: *day,
            channel: channel.to_string(),
            gross: *gross,
            orders: *orders,
            x: LEFT + index * slot + (slot - group) / 2.0 + place * bar_width,
            y: baseline - height,
            width: bar_width,
            height,
        });
    }
    Chart { from, to, currency, bars, series, scale_max, top, plot_height }
}

impl Chart {
    fn days(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }

    fn colour(&self, channel: &str) -> &'static str {
        self.series.iter().find(|s| s.channel == channel).map_or(PALETTE[0], |s| s.colour)
    }

    /// What a screen reader announces: the period and each channel's total.
    fn summary(&self) -> String {
        let mut summary =
            format!("Gross sales per day in {}, from {} to {}", self.currency, long_day(self.from), long_day(self.to));
        if self.series.is_empty() {
            summary.push_str(": no sales.");
        } else {
            let totals: Vec<String> = self
                .series
                .iter()
                .map(|s| format!("{} {} ({})", s.channel, Money::new(s.gross, self.currency), orders_text(s.orders)))
                .collect();
            let _ = write!(summary, ": {}.", totals.join("; "));
        }
        summary
    }

    /// The chart as inline SVG. Only presentation attributes are used (the page's
    /// Content-Security-Policy forbids inline styles), every text is escaped, and each bar
    /// carries a `<title>` shown on hover and read by screen readers.
    pub fn svg(&self) -> String {
        let currency = self.currency;
        let baseline = self.top + self.plot_height;
        let plot_width = WIDTH - LEFT - RIGHT;
        let slot = plot_width / self.days() as f64;
        let mut svg = String::with_capacity(4096 + self.bars.len() * 200);
        let _ = write!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{label}" font-family="{FONT}" font-size="12"><title>{label}</title>"#,
            label = escape(&self.summary()),
        );

        // Legend.
        for (i, s) in self.series.iter().enumerate() {
            let x = LEFT + (i % LEGEND_PER_ROW) as f64 * 140.0;
            let y = 16.0 + (i / LEGEND_PER_ROW) as f64 * LEGEND_ROW;
            let _ = write!(
                svg,
                r#"<g><rect x="{x:.1}" y="{:.1}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{:.1}" fill="{INK}">{}</text><title>{}</title></g>"#,
                y - 10.0,
                s.colour,
                x + 17.0,
                y,
                escape(&shortened(&s.channel, 18)),
                escape(&s.channel),
            );
        }

        // Vertical axis: the currency, gridlines and amounts.
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="{MUTED}" font-size="11">{currency}</text>"#,
            LEFT - 8.0,
            self.top - 8.0,
        );
        let step = self.scale_max / 4;
        for k in 0..=4 {
            let y = baseline - self.plot_height * k as f64 / 4.0;
            let _ = write!(
                svg,
                r#"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{GRID}" stroke-width="1"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="{MUTED}" font-size="11">{}</text>"#,
                WIDTH - RIGHT,
                LEFT - 8.0,
                y + 4.0,
                tick_label(step * k, currency),
            );
        }

        // Bars, each with its figures on hover.
        for bar in &self.bars {
            let title = format!(
                "{}, {}: {} from {}",
                long_day(bar.day),
                bar.channel,
                Money::new(bar.gross, currency),
                orders_text(bar.orders)
            );
            let _ = write!(
                svg,
                r#"<rect x="{:.2}" y="{:.2}" width="{:.2}" height="{:.2}" fill="{}"><title>{}</title></rect>"#,
                bar.x,
                bar.y,
                bar.width,
                bar.height,
                self.colour(&bar.channel),
                escape(&title),
            );
        }

        // Horizontal axis: the baseline and about ten day labels.
        let _ = write!(
            svg,
            r#"<line x1="{LEFT}" y1="{baseline:.1}" x2="{:.1}" y2="{baseline:.1}" stroke="{MUTED}" stroke-width="1"/>"#,
            WIDTH - RIGHT,
        );
        let every = ((self.days() + 9) / 10).max(1);
        for i in (0..self.days()).step_by(every as usize) {
            let x = LEFT + i as f64 * slot + slot / 2.0;
            let _ = write!(
                svg,
                r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="{MUTED}" font-size="11">{}</text>"#,
                baseline + 18.0,
                escape(&day_label(self.from + Duration::days(i))),
            );
        }
        if self.bars.is_empty() {
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="{MUTED}" font-size="14">No sales in this period</text>"#,
                LEFT + plot_width / 2.0,
                self.top + self.plot_height / 2.0,
            );
        }
        svg.push_str("</svg>");
        svg
    }
}

// ---- What the pages are asked ----------------------------------------------------------------

/// The period and channel asked for, read from the query string.
struct Period {
    from: String,
    to: String,
    channel: String,
    /// The first and last day, when both are dates and the period is one a report covers.
    days: Option<(NaiveDate, NaiveDate)>,
    errors: FormErrors,
}

fn read_day(value: &str, field: &str, errors: &mut FormErrors) -> Option<NaiveDate> {
    match NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        Ok(day) => Some(day),
        Err(_) => {
            errors.add(field, "Enter a date as YYYY-MM-DD.");
            None
        }
    }
}

/// `from` and `to` (inclusive, `YYYY-MM-DD`), the last 30 days when absent; `channel`, all
/// channels when empty.
fn period(query: &FormData, today: NaiveDate) -> Period {
    let mut errors = FormErrors::default();
    let to = query.optional("to").unwrap_or_else(|| today.to_string());
    let to_day = read_day(&to, "to", &mut errors);
    let from = query
        .optional("from")
        .unwrap_or_else(|| (to_day.unwrap_or(today) - Duration::days(DEFAULT_DAYS - 1)).to_string());
    let from_day = read_day(&from, "from", &mut errors);
    let days = match (from_day, to_day) {
        (Some(first), Some(last)) if first > last => {
            errors.add("to", "The end must be on or after the start.");
            None
        }
        (Some(first), Some(last)) if (last - first).num_days() >= MAX_DAYS => {
            errors.add("from", format!("A report covers {MAX_DAYS} days at most."));
            None
        }
        (Some(first), Some(last)) => Some((first, last)),
        _ => None,
    };
    Period { from, to, channel: query.text("channel"), days, errors }
}

impl Period {
    /// What the reporting module is asked; `None` when the period cannot be read.
    fn query(&self) -> Option<ReportQuery> {
        let (from, to) = self.days?;
        Some(ReportQuery { from, to, channel: Some(self.channel.clone()).filter(|c| !c.is_empty()) })
    }

    /// `from=…&to=…&channel=…`, to link to the same period.
    fn query_string(&self) -> String {
        query_string(&[("from", &self.from), ("to", &self.to), ("channel", &self.channel)])
    }

    /// `1 Mar 2025 to 7 Mar 2025`; empty when the period cannot be read.
    fn described(&self) -> String {
        self.days.map(|(first, last)| format!("{} to {}", long_day(first), long_day(last))).unwrap_or_default()
    }
}

/// A query string of the pairs with a value.
fn query_string(pairs: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs.iter().filter(|(_, value)| !value.is_empty()) {
        query.append_pair(name, value);
    }
    query.finish()
}

/// The groupings of the sales report: how `group_by` spells them, and the table's first heading.
const GROUPINGS: [(SalesGrouping, &str, &str); 5] = [
    (SalesGrouping::Day, "day", "Day"),
    (SalesGrouping::Channel, "channel", "Channel"),
    (SalesGrouping::Product, "product", "Product"),
    (SalesGrouping::Category, "category", "Category"),
    (SalesGrouping::Seller, "seller", "Seller"),
];

/// `group_by`: by day when absent or not a grouping.
fn grouping(value: &str) -> SalesGrouping {
    GROUPINGS.iter().find(|(_, code, _)| *code == value).map_or(SalesGrouping::Day, |(grouping, _, _)| *grouping)
}

fn grouping_code(grouping: SalesGrouping) -> &'static str {
    GROUPINGS.iter().find(|(g, _, _)| *g == grouping).map_or("day", |(_, code, _)| code)
}

fn grouping_heading(grouping: SalesGrouping) -> &'static str {
    GROUPINGS.iter().find(|(g, _, _)| *g == grouping).map_or("Day", |(_, _, heading)| heading)
}

/// A link of the reports' own navigation.
struct Tab {
    href: String,
    label: &'static str,
    current: bool,
}

/// The reports; those over a period open on the period being looked at.
const REPORTS: [(&str, &str, bool); 4] = [
    ("/reports/sales", "Sales", true),
    ("/reports/refunds", "Refunds", true),
    ("/reports/stock-value", "Stock value", false),
    ("/reports/conversion", "Carts to orders", true),
];

fn tabs(current: &str, period: &str) -> Vec<Tab> {
    REPORTS
        .iter()
        .map(|(href, label, over_a_period)| Tab {
            href: if *over_a_period && !period.is_empty() { format!("{href}?{period}") } else { href.to_string() },
            label,
            current: *href == current,
        })
        .collect()
}

/// Places what the reporting module refused beside the period's fields; failures on its side
/// stay errors (an error page).
fn refused(errors: &mut FormErrors, error: Error) -> Result<(), PageError> {
    errors
        .absorb(error, |field| match field {
            "from" | "channel" => field.to_string(),
            _ => "to".to_string(),
        })
        .map_err(PageError)
}

/// Whether the module refused what it was asked (rather than failed).
fn is_refusal(error: &Error) -> bool {
    !error.is_internal() && error.status() < 500
}

fn money(minor: i64, currency: Currency) -> String {
    Money::new(minor, currency).to_string()
}

// ---- Sales -------------------------------------------------------------------------------------

/// A row of the sales table as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SalesLine {
    label: String,
    orders: u64,
    units: i64,
    net: String,
    tax: String,
    gross: String,
    shipping: String,
}

impl SalesLine {
    fn new(row: &SalesRow, grouping: SalesGrouping) -> SalesLine {
        let label = match grouping {
            SalesGrouping::Day => {
                NaiveDate::parse_from_str(&row.key, "%Y-%m-%d").map(long_day).unwrap_or_else(|_| row.label.clone())
            }
            _ => row.label.clone(),
        };
        SalesLine {
            label,
            orders: row.orders,
            units: row.units,
            net: row.net.to_string(),
            tax: row.tax.to_string(),
            gross: row.gross.to_string(),
            shipping: row.shipping.to_string(),
        }
    }
}

/// The sales of one currency: its rows in the report's order, its totals, and for sales by day
/// the chart.
struct SalesSection {
    currency: String,
    rows: Vec<SalesLine>,
    total: Option<SalesLine>,
    svg: Option<String>,
}

/// Splits the report per currency. `chart` is the period and each channel's sales per day, for
/// sales grouped by day.
fn sales_sections(report: &SalesReport, chart: Option<((NaiveDate, NaiveDate), &[Point])>) -> Vec<SalesSection> {
    let mut currencies: BTreeMap<&str, (Currency, Vec<&SalesRow>, Option<&SalesRow>)> = BTreeMap::new();
    for row in &report.rows {
        currencies.entry(row.currency.code()).or_insert((row.currency, Vec::new(), None)).1.push(row);
    }
    for total in &report.totals {
        currencies.entry(total.currency.code()).or_insert((total.currency, Vec::new(), None)).2 = Some(total);
    }
    currencies
        .into_values()
        .filter(|(_, rows, total)| !rows.is_empty() || total.is_some_and(|t| t.orders > 0))
        .map(|(currency, rows, total)| SalesSection {
            currency: currency.code().to_string(),
            rows: rows.iter().map(|row| SalesLine::new(row, report.grouping)).collect(),
            total: total.map(|row| SalesLine::new(row, report.grouping)),
            svg: chart.map(|((first, last), points)| sales_chart(first, last, currency, points).svg()),
        })
        .collect()
}

/// A channel's rows by day as the chart's points.
fn points(channel: &str, rows: &[SalesRow]) -> Vec<Point> {
    rows.iter()
        .filter_map(|row| {
            Some(Point {
                day: NaiveDate::parse_from_str(&row.key, "%Y-%m-%d").ok()?,
                channel: channel.to_string(),
                currency: row.currency,
                gross: row.gross.amount,
                orders: row.orders,
            })
        })
        .collect()
}

/// The sales report, and for sales by day each channel's days for the chart: the channels that
/// sold in the period, then each one's report by day (one report per channel, however many days).
async fn sales_figures(
    state: &WebState,
    ctx: &RequestContext,
    query: ReportQuery,
    grouping: SalesGrouping,
) -> Result<(SalesReport, Option<Vec<Point>>), Error> {
    let report = state.reporting.sales(ctx, query.clone(), grouping).await?;
    if grouping != SalesGrouping::Day {
        return Ok((report, None));
    }
    if let Some(channel) = &query.channel {
        let points = points(channel, &report.rows);
        return Ok((report, Some(points)));
    }
    let channels = state.reporting.sales(ctx, query.clone(), SalesGrouping::Channel).await?;
    let mut codes: Vec<&str> = channels.rows.iter().map(|row| row.key.as_str()).collect();
    codes.sort_unstable();
    codes.dedup();
    let asked = codes.into_iter().map(|code| {
        let query = ReportQuery { channel: Some(code.to_string()), ..query.clone() };
        async move { state.reporting.sales(ctx, query, SalesGrouping::Day).await.map(|r| points(code, &r.rows)) }
    });
    let days = futures::future::try_join_all(asked).await?;
    Ok((report, Some(days.into_iter().flatten().collect())))
}

#[derive(Template)]
#[template(path = "backoffice/sales_report.html")]
struct SalesReportPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    from: String,
    to: String,
    channel: String,
    group_by: &'static str,
    groupings: Vec<(&'static str, &'static str)>,
    /// The first column's heading: `Day`, `Product`...
    heading: &'static str,
    /// Whether the rows carry shipping (days and channels do).
    shipping: bool,
    errors: FormErrors,
    /// `from=…&to=…&channel=…&group_by=…`, for the CSV link.
    query: String,
    /// `from=…&to=…&channel=…`, for links to the other reports of the period.
    period_query: String,
    /// Empty when the period could not be read.
    period: String,
    sections: Vec<SalesSection>,
}

impl SalesReportPage {
    fn new(chrome: Chrome, period: Period, grouping: SalesGrouping) -> SalesReportPage {
        let period_query = period.query_string();
        let group_by = grouping_code(grouping);
        SalesReportPage {
            chrome,
            tabs: tabs("/reports/sales", &period_query),
            query: query_string(&[
                ("from", &period.from),
                ("to", &period.to),
                ("channel", &period.channel),
                ("group_by", group_by),
            ]),
            period_query,
            from: period.from,
            to: period.to,
            channel: period.channel,
            group_by,
            groupings: GROUPINGS.iter().map(|(_, code, heading)| (*code, *heading)).collect(),
            heading: grouping_heading(grouping),
            shipping: matches!(grouping, SalesGrouping::Day | SalesGrouping::Channel),
            errors: period.errors,
            period: String::new(),
            sections: Vec::new(),
        }
    }
}

async fn sales(State(state): State<WebState>, session: Session, RawQuery(raw): RawQuery) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::ReportsRead), SECTION).await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let asked = FormData::from_query(raw);
    let period = period(&asked, Utc::now().date_naive());
    let grouping = grouping(&asked.text("group_by"));
    let (query, described) = (period.query(), period.described());
    let mut page = SalesReportPage::new(chrome, period, grouping);
    let Some(query) = query else {
        return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page));
    };
    let days = (query.from, query.to);
    match sales_figures(&state, &session.ctx, query, grouping).await {
        Ok((report, points)) => {
            page.sections = sales_sections(&report, points.as_deref().map(|points| (days, points)));
            page.period = described;
            Ok(render(&page))
        }
        Err(error) => {
            refused(&mut page.errors, error)?;
            Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
    }
}

async fn sales_csv(State(state): State<WebState>, session: Session, RawQuery(raw): RawQuery) -> PageResult {
    if let Err(response) = staff(&state, &session, Some(Permission::ReportsRead), SECTION).await {
        return Ok(response);
    }
    let asked = FormData::from_query(raw.clone());
    let grouping = grouping(&asked.text("group_by"));
    let Some(query) = period(&asked, Utc::now().date_naive()).query() else {
        // The page says what is wrong with the period, beside the fields.
        return sales(State(state), session, RawQuery(raw)).await;
    };
    let name = format!("sales-by-{}-{}-{}", grouping_code(grouping), query.from, query.to);
    match state.reporting.sales(&session.ctx, query, grouping).await {
        Ok(report) => Ok(csv_export::download(&name, csv_export::sales(&report)?)),
        Err(error) if is_refusal(&error) => sales(State(state), session, RawQuery(raw)).await,
        Err(error) => Err(PageError(error)),
    }
}

// ---- Refunds -----------------------------------------------------------------------------------

struct RefundLine {
    day: String,
    channel: String,
    refunds: u64,
    amount: String,
}

/// The refunds of one currency, oldest day first, and their total.
struct RefundSection {
    currency: String,
    rows: Vec<RefundLine>,
    refunds: u64,
    amount: String,
}

fn refund_sections(rows: &[RefundRow]) -> Vec<RefundSection> {
    let mut currencies: BTreeMap<&str, (Currency, Vec<&RefundRow>)> = BTreeMap::new();
    for row in rows {
        currencies.entry(row.currency.code()).or_insert((row.currency, Vec::new())).1.push(row);
    }
    currencies
        .into_values()
        .map(|(currency, rows)| RefundSection {
            currency: currency.code().to_string(),
            refunds: rows.iter().map(|r| r.refunds).sum(),
            amount: money(rows.iter().fold(0i64, |sum, r| sum.saturating_add(r.amount.amount)), currency),
            rows: rows
                .iter()
                .map(|r| RefundLine {
                    day: NaiveDate::parse_from_str(&r.day, "%Y-%m-%d").map(long_day).unwrap_or_else(|_| r.day.clone()),
                    channel: r.channel.clone(),
                    refunds: r.refunds,
                    amount: r.amount.to_string(),
                })
                .collect(),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "backoffice/refunds_report.html")]
struct RefundsReportPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    from: String,
    to: String,
    channel: String,
    errors: FormErrors,
    /// `from=…&to=…&channel=…`, for the CSV link.
    query: String,
    period: String,
    sections: Vec<RefundSection>,
}

impl RefundsReportPage {
    fn new(chrome: Chrome, period: Period) -> RefundsReportPage {
        let query = period.query_string();
        RefundsReportPage {
            chrome,
            tabs: tabs("/reports/refunds", &query),
            query,
            from: period.from,
            to: period.to,
            channel: period.channel,
            errors: period.errors,
            period: String::new(),
            sections: Vec::new(),
        }
    }
}

async fn refunds(State(state): State<WebState>, session: Session, RawQuery(raw): RawQuery) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::ReportsRead), SECTION).await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let period = period(&FormData::from_query(raw), Utc::now().date_naive());
    let (query, described) = (period.query(), period.described());
    let mut page = RefundsReportPage::new(chrome, period);
    let Some(query) = query else {
        return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page));
    };
    match state.reporting.refunds(&session.ctx, query).await {
        Ok(rows) => {
            page.sections = refund_sections(&rows);
            page.period = described;
            Ok(render(&page))
        }
        Err(error) => {
            refused(&mut page.errors, error)?;
            Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
    }
}

async fn refunds_csv(State(state): State<WebState>, session: Session, RawQuery(raw): RawQuery) -> PageResult {
    if let Err(response) = staff(&state, &session, Some(Permission::ReportsRead), SECTION).await {
        return Ok(response);
    }
    let Some(query) = period(&FormData::from_query(raw.clone()), Utc::now().date_naive()).query() else {
        return refunds(State(state), session, RawQuery(raw)).await;
    };
    let name = format!("refunds-{}-{}", query.from, query.to);
    match state.reporting.refunds(&session.ctx, query).await {
        Ok(rows) => Ok(csv_export::download(&name, csv_export::refunds(&rows)?)),
        Err(error) if is_refusal(&error) => refunds(State(state), session, RawQuery(raw)).await,
        Err(error) => Err(PageError(error)),
    }
}

// ---- Stock value -------------------------------------------------------------------------------

/// The location and price list asked for.
struct StockParams {
    location: String,
    channel: String,
}

impl StockParams {
    fn read(query: &FormData) -> StockParams {
        StockParams { location: query.text("location"), channel: query.text("channel") }
    }

    fn query(&self) -> StockValueQuery {
        let given = |value: &str| Some(value.to_string()).filter(|v| !v.is_empty());
        StockValueQuery { location: given(&self.location), channel: given(&self.channel) }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct StockLine {
    location: String,
    skus: u64,
    units: i64,
    value: String,
    unpriced: u64,
}

/// The stock valued in one currency, per location, and in all.
struct StockSection {
    currency: String,
    rows: Vec<StockLine>,
    total: StockLine,
}

fn stock_sections(rows: &[StockValueRow]) -> Vec<StockSection> {
    let mut currencies: BTreeMap<&str, (Currency, Vec<&StockValueRow>)> = BTreeMap::new();
    for row in rows {
        currencies.entry(row.currency.code()).or_insert((row.currency, Vec::new())).1.push(row);
    }
    currencies
        .into_values()
        .map(|(currency, rows)| StockSection {
            currency: currency.code().to_string(),
            total: StockLine {
                location: String::new(),
                skus: rows.iter().map(|r| r.skus).sum(),
                units: rows.iter().fold(0i64, |sum, r| sum.saturating_add(r.units)),
                value: money(rows.iter().fold(0i64, |sum, r| sum.saturating_add(r.value.amount)), currency),
                unpriced: rows.iter().map(|r| r.unpriced_skus).sum(),
            },
            rows: rows
                .iter()
                .map(|r| StockLine {
                    location: r.location.clone(),
                    skus: r.skus,
                    units: r.units,
                    value: r.value.to_string(),
                    unpriced: r.unpriced_skus,
                })
                .collect(),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "backoffice/stock_value_report.html")]
struct StockValueReportPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    location: String,
    channel: String,
    /// The stock locations' codes and names, offered as the location is typed.
    locations: Vec<(String, String)>,
    errors: FormErrors,
    /// `location=…&channel=…`, for the CSV link.
    query: String,
    /// Whether the figures could be read.
    shown: bool,
    sections: Vec<StockSection>,
}

/// Places what the reporting module refused: an unknown location beside its field.
fn stock_refused(errors: &mut FormErrors, params: &StockParams, error: Error) -> Result<(), PageError> {
    if matches!(error, Error::NotFound { .. }) && !params.location.is_empty() {
        errors.add("location", "No stock location has this code.");
        return Ok(());
    }
    errors.absorb(error, str::to_string).map_err(PageError)
}

async fn stock_value(State(state): State<WebState>, session: Session, RawQuery(raw): RawQuery) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::ReportsRead), SECTION).await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let params = StockParams::read(&FormData::from_query(raw));
    let ctx = &session.ctx;
    let (figures, locations) = tokio::join!(
        state.reporting.stock_value(ctx, params.query()),
        state.inventory.list_locations(ctx, PageRequest { page: 1, per_page: 100 }),
    );
    let mut page = StockValueReportPage {
        chrome,
        tabs: tabs("/reports/stock-value", ""),
        query: query_string(&[("location", &params.location), ("channel", &params.channel)]),
        location: params.location.clone(),
        channel: params.channel.clone(),
        // Only a help for typing: the report stands without it.
        locations: locations
            .map(|found| {
                let mut locations = found.items;
                locations.sort_by_key(|l| l.kind != LocationKind::Store);
                locations.into_iter().map(|l| (l.code, l.name)).collect()
            })
            .unwrap_or_default(),
        errors: FormErrors::default(),
        shown: false,
        sections: Vec::new(),
    };
    match figures {
        Ok(rows) => {
            page.sections = stock_sections(&rows);
            page.shown = true;
            Ok(render(&page))
        }
        Err(error) => {
            stock_refused(&mut page.errors, &params, error)?;
            Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
    }
}

async fn stock_value_csv(State(state): State<WebState>, session: Session, RawQuery(raw): RawQuery) -> PageResult {
    if let Err(response) = staff(&state, &session, Some(Permission::ReportsRead), SECTION).await {
        return Ok(response);
    }
    let params = StockParams::read(&FormData::from_query(raw.clone()));
    let name = match &params.location {
        location if location.is_empty() => "stock-value".to_string(),
        location => format!("stock-value-{}", file_part(location)),
    };
    match state.reporting.stock_value(&session.ctx, params.query()).await {
        Ok(rows) => Ok(csv_export::download(&name, csv_export::stock_value(&rows)?)),
        Err(error) if is_refusal(&error) => stock_value(State(state), session, RawQuery(raw)).await,
        Err(error) => Err(PageError(error)),
    }
}

/// A code as part of a file name: letters, digits, `-` and `_` only.
fn file_part(code: &str) -> String {
    code.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' }).take(60).collect()
}

// ---- Carts to orders ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
struct ConversionLine {
    day: String,
    channel: String,
    carts: u64,
    ordered: u64,
    rate: String,
}

/// Carts started per day and channel, per channel over the period, and in all.
struct ConversionTable {
    rows: Vec<ConversionLine>,
    channels: Vec<ConversionLine>,
    total: ConversionLine,
}

/// `part` out of `whole` as a percentage with one decimal (`37.5 %`), rounded half up, counted
/// in whole numbers; a dash when there is nothing to divide.
fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "–".to_string();
    }
    let tenths = (u128::from(part) * 1000 + u128::from(whole) / 2) / u128::from(whole);
    format!("{}.{} %", tenths / 10, tenths % 10)
}

fn conversion_table(rows: &[ConversionRow]) -> ConversionTable {
    let line = |day: String, channel: &str, carts: u64, ordered: u64| ConversionLine {
        day,
        channel: channel.to_string(),
        carts,
        ordered,
        rate: percent(ordered, carts),
    };
    let mut channels: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for row in rows {
        let channel = channels.entry(row.channel.as_str()).or_default();
        channel.0 += row.carts;
        channel.1 += row.ordered;
    }
    let (carts, ordered) = channels.values().fold((0, 0), |(c, o), (carts, ordered)| (c + carts, o + ordered));
    ConversionTable {
        rows: rows
            .iter()
            .map(|r| {
                let day = NaiveDate::parse_from_str(&r.day, "%Y-%m-%d").map(long_day).unwrap_or_else(|_| r.day.clone());
                line(day, &r.channel, r.carts, r.ordered)
            })
            .collect(),
        channels: channels
            .iter()
            .map(|(channel, (carts, ordered))| line(String::new(), channel, *carts, *ordered))
            .collect(),
        total: line(String::new(), "", carts, ordered),
    }
}

#[derive(Template)]
#[template(path = "backoffice/conversion_report.html")]
struct ConversionReportPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    from: String,
    to: String,
    channel: String,
    errors: FormErrors,
    /// `from=…&to=…&channel=…`, for the CSV link.
    query: String,
    period: String,
    table: Option<ConversionTable>,
}

impl ConversionReportPage {
    fn new(chrome: Chrome, period: Period) -> ConversionReportPage {
        let query = period.query_string();
        ConversionReportPage {
            chrome,
            tabs: tabs("/reports/conversion", &query),
            query,
            from: period.from,
            to: period.to,
            channel: period.channel,
            errors: period.errors,
            period: String::new(),
            table: None,
        }
    }
}

async fn conversion(State(state): State<WebState>, session: Session, RawQuery(raw): RawQuery) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::ReportsRead), SECTION).await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let period = period(&FormData::from_query(raw), Utc::now().date_naive());
    let (query, described) = (period.query(), period.described());
    let mut page = ConversionReportPage::new(chrome, period);
    let Some(query) = query else {
        return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page));
    };
    match state.reporting.conversion(&session.ctx, query).await {
        Ok(rows) => {
            page.table = Some(conversion_table(&rows));
            page.period = described;
            Ok(render(&page))
        }
        Err(error) => {
            refused(&mut page.errors, error)?;
            Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
    }
}

async fn conversion_csv(State(state): State<WebState>, session: Session, RawQuery(raw): RawQuery) -> PageResult {
    if let Err(response) = staff(&state, &session, Some(Permission::ReportsRead), SECTION).await {
        return Ok(response);
    }
    let Some(query) = period(&FormData::from_query(raw.clone()), Utc::now().date_naive()).query() else {
        return conversion(State(state), session, RawQuery(raw)).await;
    };
    let name = format!("conversion-{}-{}", query.from, query.to);
    match state.reporting.conversion(&session.ctx, query).await {
        Ok(rows) => Ok(csv_export::download(&name, csv_export::conversion(&rows)?)),
        Err(error) if is_refusal(&error) => conversion(State(state), session, RawQuery(raw)).await,
        Err(error) => Err(PageError(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 3, d).unwrap()
    }

    fn eur() -> Currency {
        Currency::EUR
    }

    fn point(d: u32, channel: &str, gross: i64, orders: u64) -> Point {
        Point { day: day(d), channel: channel.to_string(), currency: eur(), gross, orders }
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

    fn query(pairs: &str) -> FormData {
        FormData::from_query(Some(pairs.to_string()))
    }

    fn row(key: &str, label: &str, currency: Currency, orders: u64, gross: i64) -> SalesRow {
        let m = |amount| Money::new(amount, currency);
        SalesRow {
            key: key.into(),
            label: label.into(),
            currency,
            orders,
            units: orders as i64 * 2,
            net: m(gross * 5 / 6),
            tax: m(gross - gross * 5 / 6),
            gross: m(gross),
            shipping: m(0),
        }
    }

    #[test]
    fn one_bar_per_day_and_channel_with_sales() {
        let points = [
            point(1, "online", 1000, 1),
            point(1, "online", 500, 1), // the same day and channel adds up
            point(1, "store", 2000, 1),
            point(3, "online", 4000, 1),
            point(9, "online", 999, 1), // outside the period
            Point { currency: "USD".parse().unwrap(), ..point(2, "online", 700, 1) }, // another currency
        ];
        let chart = sales_chart(day(1), day(7), eur(), &points);
        assert_eq!(chart.bars.len(), 3);
        let svg = chart.svg();
        assert_eq!(svg.matches("<rect").count(), 3 + 2, "three bars and two legend swatches");
        let series: Vec<(&str, i64, u64)> =
            chart.series.iter().map(|s| (s.channel.as_str(), s.gross, s.orders)).collect();
        assert_eq!(series, [("online", 5500, 3), ("store", 2000, 1)]);
        assert_ne!(chart.series[0].colour, chart.series[1].colour, "a colour per channel");
        let online = chart.bars.iter().find(|b| b.day == day(1) && b.channel == "online").unwrap();
        assert_eq!((online.gross, online.orders), (1500, 2));
        assert!(svg.contains(r##"fill="#0072b2"><title>1 Mar 2025, online: 15.00 EUR from 2 orders</title></rect>"##));
        assert!(svg.contains(r#"role="img""#));
        assert!(svg.contains("aria-label=\"Gross sales per day in EUR, from 1 Mar 2025 to 7 Mar 2025: online 55.00 EUR (3 orders); store 20.00 EUR (1 order).\""));
        assert!(!svg.contains("style"), "no inline styles under the CSP");
    }

    #[test]
    fn channels_stand_side_by_side_with_heights_in_proportion() {
        let points = [
            point(1, "online", 1000, 1),
            point(2, "online", 2000, 2),
            point(2, "store", 500, 1),
            point(3, "online", 4000, 3),
        ];
        let chart = sales_chart(day(1), day(3), eur(), &points);
        let bar = |d: u32, channel: &str| chart.bars.iter().find(|b| b.day == day(d) && b.channel == channel).unwrap();
        assert!((bar(2, "online").height / bar(1, "online").height - 2.0).abs() < 1e-9);
        assert!((bar(3, "online").height / bar(2, "store").height - 8.0).abs() < 1e-9);
        // The axis goes to a round amount at or above the highest bar: 4 × 10.00 EUR here.
        assert_eq!(chart.scale_max, 4000);
        assert!((bar(3, "online").height - chart.plot_height).abs() < 1e-9, "the highest bar fills the plot");
        // Every bar stands on the baseline; on day 2 the store's bar is right of the online one,
        // touching it, and both keep their places on the other days.
        let baseline = chart.top + chart.plot_height;
        assert!(chart.bars.iter().all(|b| (b.y + b.height - baseline).abs() < 1e-9));
        let (online, store) = (bar(2, "online"), bar(2, "store"));
        assert!((online.x + online.width - store.x).abs() < 1e-9);
        assert!((online.width - store.width).abs() < 1e-9);
        let slot = (WIDTH - LEFT - RIGHT) / 3.0;
        assert!((bar(3, "online").x - online.x - slot).abs() < 1e-9, "the online bar's place is the same each day");
        assert!(chart.bars.iter().all(|b| b.x >= LEFT && b.x + b.width <= WIDTH - RIGHT));
    }

    #[test]
    fn channel_names_are_escaped_everywhere() {
        let points = [point(2, "<script>alert('x')</script> & \"co\"", 1234, 1)];
        let chart = sales_chart(day(1), day(2), eur(), &points);
        let svg = chart.svg();
        assert!(!svg.contains("<script>"));
        assert!(!svg.contains("'x'"));
        assert!(svg.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;co&quot;"));
        assert_eq!(chart.bars.len(), 1);
    }

    #[test]
    fn an_empty_period_draws_axes_and_says_so() {
        let chart = sales_chart(day(1), day(30), eur(), &[]);
        assert!(chart.bars.is_empty());
        let svg = chart.svg();
        assert!(svg.contains("No sales in this period"));
        assert!(svg.contains("aria-label=\"Gross sales per day in EUR, from 1 Mar 2025 to 30 Mar 2025: no sales.\""));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        let day_labels = svg.matches(r##"text-anchor="middle" fill="#5b6475" font-size="11""##).count();
        assert_eq!(day_labels, 10, "one day label in three");
    }

    #[test]
    fn axis_steps_are_round_numbers() {
        assert_eq!(nice_step(0), 1);
        assert_eq!(nice_step(1), 1);
        assert_eq!(nice_step(3), 5);
        assert_eq!(nice_step(11), 20);
        assert_eq!(nice_step(240), 250);
        assert_eq!(nice_step(251), 500);
        assert_eq!(nice_step(1000), 1000);
        assert_eq!(nice_step(1001), 2000);
        assert_eq!(tick_label(25000, eur()), "250");
        assert_eq!(tick_label(250, eur()), "2.5");
    }

    #[test]
    fn the_period_defaults_to_the_last_30_days_and_is_checked() {
        let today = NaiveDate::from_ymd_opt(2025, 3, 31).unwrap();
        let p = period(&query(""), today);
        assert_eq!((p.from.as_str(), p.to.as_str()), ("2025-03-02", "2025-03-31"));
        assert_eq!(p.days, Some((day(2), day(31))));
        assert_eq!(p.query(), Some(ReportQuery { from: day(2), to: day(31), channel: None }));
        let p = period(&query("from=2025-03-10&to=2025-03-01"), today);
        assert!(p.days.is_none() && p.query().is_none());
        assert_eq!(p.errors.of("to"), Some("The end must be on or after the start."));
        let p = period(&query("from=yesterday"), today);
        assert_eq!(p.errors.of("from"), Some("Enter a date as YYYY-MM-DD."));
        let p = period(&query("to=2025-02-30"), today);
        assert_eq!(p.errors.of("to"), Some("Enter a date as YYYY-MM-DD."));
        // A year and a day at most, as the reporting module has it.
        let p = period(&query("from=2024-01-01&to=2024-12-31"), today);
        assert!(p.errors.is_empty(), "366 days (a leap year) are one report");
        let p = period(&query("from=2024-01-01&to=2025-01-01"), today);
        assert_eq!(p.errors.of("from"), Some("A report covers 366 days at most."));
        let p = period(&query("from=2025-03-01&to=2025-03-07&channel=+store+"), today);
        assert_eq!(p.query().unwrap().channel.as_deref(), Some("store"));
        assert_eq!(p.query_string(), "from=2025-03-01&to=2025-03-07&channel=store");
        assert_eq!(p.described(), "1 Mar 2025 to 7 Mar 2025");
    }

    #[test]
    fn the_grouping_is_read_leniently() {
        assert_eq!(grouping("product"), SalesGrouping::Product);
        assert_eq!(grouping("seller"), SalesGrouping::Seller);
        assert_eq!(grouping(""), SalesGrouping::Day);
        assert_eq!(grouping("<b>"), SalesGrouping::Day);
        for (g, code, heading) in GROUPINGS {
            assert_eq!(grouping(code), g);
            assert_eq!((grouping_code(g), grouping_heading(g)), (code, heading));
        }
    }

    #[test]
    fn the_reports_link_to_each_other_keeping_the_period() {
        let tabs = tabs("/reports/refunds", "from=2025-03-01&to=2025-03-07");
        let links: Vec<(&str, bool)> = tabs.iter().map(|t| (t.href.as_str(), t.current)).collect();
        assert_eq!(
            links,
            [
                ("/reports/sales?from=2025-03-01&to=2025-03-07", false),
                ("/reports/refunds?from=2025-03-01&to=2025-03-07", true),
                ("/reports/stock-value", false),
                ("/reports/conversion?from=2025-03-01&to=2025-03-07", false),
            ]
        );
        assert_eq!(super::tabs("/reports/stock-value", "")[0].href, "/reports/sales");
    }

    #[test]
    fn refusals_land_beside_the_fields_and_failures_stay_errors() {
        let mut errors = FormErrors::default();
        refused(&mut errors, Error::validation("to", "a report covers at most 366 days")).unwrap();
        refused(&mut errors, Error::validation("channel", "must not be blank")).unwrap();
        assert_eq!(errors.of("to"), Some("A report covers at most 366 days."));
        assert_eq!(errors.of("channel"), Some("Must not be blank."));
        assert!(refused(&mut errors, Error::unavailable("reporting is down")).is_err());
        let mut errors = FormErrors::default();
        let params = StockParams { location: "nowhere".into(), channel: String::new() };
        stock_refused(&mut errors, &params, Error::not_found("location", "nowhere")).unwrap();
        assert_eq!(errors.of("location"), Some("No stock location has this code."));
        let mut errors = FormErrors::default();
        let params = StockParams { location: String::new(), channel: "nope".into() };
        stock_refused(&mut errors, &params, Error::not_found("channel", "nope")).unwrap();
        assert_eq!((errors.of("location"), errors.general()), (None, Some("channel nope not found")));
        assert!(is_refusal(&Error::validation("to", "bad")) && !is_refusal(&Error::internal("boom")));
    }

    #[test]
    fn sales_are_shown_per_currency_in_the_reports_order() {
        let usd: Currency = "USD".parse().unwrap();
        let report = SalesReport {
            grouping: SalesGrouping::Day,
            rows: vec![
                row("2025-03-01", "2025-03-01", eur(), 2, 1500),
                row("2025-03-01", "2025-03-01", usd, 1, 900),
                row("2025-03-02", "2025-03-02", eur(), 1, 700),
            ],
            totals: vec![row("total", "Total", eur(), 3, 2200), row("total", "Total", usd, 1, 900)],
        };
        let points = [point(1, "online", 1500, 2), point(2, "store", 700, 1)];
        let sections = sales_sections(&report, Some(((day(1), day(7)), &points)));
        assert_eq!(sections.iter().map(|s| s.currency.as_str()).collect::<Vec<_>>(), ["EUR", "USD"]);
        let eur_rows: Vec<(&str, u64, &str)> =
            sections[0].rows.iter().map(|r| (r.label.as_str(), r.orders, r.gross.as_str())).collect();
        assert_eq!(eur_rows, [("1 Mar 2025", 2, "15.00 EUR"), ("2 Mar 2025", 1, "7.00 EUR")]);
        let total = sections[0].total.as_ref().unwrap();
        assert_eq!((total.orders, total.units, total.gross.as_str()), (3, 6, "22.00 EUR"));
        let svg = sections[0].svg.as_deref().unwrap();
        assert_eq!(svg.matches("<title>").count(), 1 + 2 + 2, "the chart, two legend entries, two bars");
        assert!(sections[1].svg.as_deref().unwrap().contains("No sales in this period"), "no USD points");

        // Other groupings keep the module's labels and order (best first), without a chart.
        let report = SalesReport {
            grouping: SalesGrouping::Product,
            rows: vec![row("p2", "Teapot", eur(), 1, 3000), row("p1", "Mug", eur(), 4, 1200)],
            totals: vec![row("total", "Total", eur(), 4, 4200)],
        };
        let sections = sales_sections(&report, None);
        assert_eq!(sections[0].rows.iter().map(|r| r.label.as_str()).collect::<Vec<_>>(), ["Teapot", "Mug"]);
        assert!(sections[0].svg.is_none());
        assert!(
            sales_sections(&SalesReport { grouping: SalesGrouping::Day, rows: vec![], totals: vec![] }, None)
                .is_empty()
        );
    }

    #[test]
    fn a_channels_days_become_the_charts_points() {
        let rows = [row("2025-03-01", "2025-03-01", eur(), 2, 1500), row("not a day", "x", eur(), 1, 1)];
        assert_eq!(points("store", &rows), [point(1, "store", 1500, 2)]);
    }

    #[test]
    fn refunds_and_stock_value_add_up_per_currency() {
        let usd: Currency = "USD".parse().unwrap();
        let refund = |d: &str, channel: &str, currency: Currency, refunds: u64, amount: i64| RefundRow {
            day: d.into(),
            channel: channel.into(),
            currency,
            refunds,
            amount: Money::new(amount, currency),
        };
        let sections = refund_sections(&[
            refund("2025-03-01", "online", eur(), 2, 1500),
            refund("2025-03-01", "online", usd, 1, 100),
            refund("2025-03-02", "store", eur(), 1, 250),
        ]);
        assert_eq!(sections.len(), 2);
        assert_eq!((sections[0].refunds, sections[0].amount.as_str()), (3, "17.50 EUR"));
        assert_eq!(sections[0].rows[1].day, "2 Mar 2025");
        assert_eq!(sections[1].amount, "1.00 USD");

        let stock = |location: &str, skus: u64, units: i64, value: i64, unpriced: u64| StockValueRow {
            location: location.into(),
            currency: eur(),
            skus,
            units,
            value: Money::new(value, eur()),
            unpriced_skus: unpriced,
        };
        let sections = stock_sections(&[stock("paris-store", 3, 10, 12000, 1), stock("wh", 5, 100, 99900, 0)]);
        assert_eq!(
            sections[0].total,
            StockLine { location: String::new(), skus: 8, units: 110, value: "1119.00 EUR".into(), unpriced: 1 }
        );
        assert_eq!(sections[0].rows[0].value, "120.00 EUR");
        let query = StockParams { location: String::new(), channel: "store".into() }.query();
        assert_eq!(query, StockValueQuery { location: None, channel: Some("store".into()) });
        assert_eq!(file_part("paris store/1"), "paris-store-1");
    }

    #[test]
    fn conversion_rates_are_counted_in_whole_numbers() {
        assert_eq!(percent(1, 3), "33.3 %");
        assert_eq!(percent(2, 3), "66.7 %");
        assert_eq!(percent(1, 8), "12.5 %");
        assert_eq!(percent(3, 3), "100.0 %");
        assert_eq!(percent(0, 0), "–");
        let row = |d: &str, channel: &str, carts: u64, ordered: u64| ConversionRow {
            day: d.into(),
            channel: channel.into(),
            carts,
            ordered,
            rate: if carts == 0 { 0.0 } else { ordered as f64 / carts as f64 },
        };
        let table = conversion_table(&[
            row("2025-03-01", "online", 4, 1),
            row("2025-03-02", "online", 4, 2),
            row("2025-03-02", "store", 2, 2),
        ]);
        assert_eq!(table.rows[0].day, "1 Mar 2025");
        assert_eq!(table.rows[0].rate, "25.0 %");
        assert_eq!(
            table
                .channels
                .iter()
                .map(|c| (c.channel.as_str(), c.carts, c.ordered, c.rate.as_str()))
                .collect::<Vec<_>>(),
            [("online", 8, 3, "37.5 %"), ("store", 2, 2, "100.0 %")]
        );
        assert_eq!((table.total.carts, table.total.ordered, table.total.rate.as_str()), (10, 5, "50.0 %"));
    }

    #[test]
    fn the_sales_page_embeds_the_chart_as_markup_without_inline_styles() {
        let today = day(31);
        let report = SalesReport {
            grouping: SalesGrouping::Day,
            rows: vec![
                row("2025-03-01", "2025-03-01", eur(), 1, 1000),
                row("2025-03-02", "2025-03-02", eur(), 1, 2500),
            ],
            totals: vec![row("total", "Total", eur(), 2, 3500)],
        };
        let points = [point(1, "online", 1000, 1), point(2, "<b>pos</b>", 2500, 1)];
        let period = period(&query("from=2025-03-01&to=2025-03-07&group_by=day"), today);
        let described = period.described();
        let mut page = SalesReportPage::new(chrome(), period, SalesGrouping::Day);
        page.sections = sales_sections(&report, Some(((day(1), day(7)), &points)));
        page.period = described;
        let html = page.render().unwrap();
        assert!(html.contains(r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart""#));
        assert!(!html.contains(" style="), "no inline style attribute");
        assert!(!html.contains("<style"), "no style element");
        assert!(!html.contains("<b>pos</b>"), "channel names escaped in the chart");
        assert!(html.contains("&lt;b&gt;pos&lt;/b&gt;"));
        assert!(html.contains(r#"href="/reports/sales.csv?from=2025-03-01&#38;to=2025-03-07&#38;group_by=day""#));
        assert!(html.contains(r#"<option value="day" selected>"#));
        assert!(
            html.contains(
                r#"<a href="/reports/sales?from=2025-03-01&#38;to=2025-03-07" aria-current="page">Sales</a>"#
            )
        );
        assert!(html.contains("<th scope=\"col\" class=\"num\">Shipping</th>"));
        assert!(html.contains("35.00 EUR"));
    }

    #[test]
    fn a_bad_period_is_shown_beside_its_field_without_figures() {
        let period = period(&query("from=2025-03-10&to=2025-03-01&group_by=product"), day(31));
        let html = SalesReportPage::new(chrome(), period, SalesGrouping::Product).render().unwrap();
        assert!(html.contains(r#"<p class="field-error" id="to-error">The end must be on or after the start.</p>"#));
        assert!(!html.contains("Download CSV"), "no download of a period that cannot be read");
        assert!(html.contains(r#"<option value="product" selected>"#));
    }

    #[test]
    fn the_other_reports_render_their_tables_escaped() {
        let refunds = RefundsReportPage {
            sections: refund_sections(&[RefundRow {
                day: "2025-03-01".into(),
                channel: "<i>web</i>".into(),
                currency: eur(),
                refunds: 1,
                amount: Money::new(500, eur()),
            }]),
            period: "1 Mar 2025 to 7 Mar 2025".into(),
            ..RefundsReportPage::new(chrome(), period(&query("from=2025-03-01&to=2025-03-07"), day(31)))
        };
        let html = refunds.render().unwrap();
        assert!(html.contains("&#60;i&#62;web&#60;/i&#62;") && !html.contains("<i>web</i>"));
        assert!(html.contains(r#"href="/reports/refunds.csv?from=2025-03-01&#38;to=2025-03-07""#));
        assert!(html.contains("5.00 EUR"));

        let stock = StockValueReportPage {
            chrome: chrome(),
            tabs: tabs("/reports/stock-value", ""),
            location: "\"><script>".into(),
            channel: String::new(),
            locations: vec![("paris-store".into(), "Paris <store>".into())],
            errors: FormErrors::default(),
            query: "location=paris-store".into(),
            shown: true,
            sections: Vec::new(),
        };
        let html = stock.render().unwrap();
        assert!(!html.contains("<script>") && html.contains("Paris &#60;store&#62;"));
        assert!(html.contains(r#"href="/reports/stock-value.csv?location=paris-store""#));

        let mut conversion = ConversionReportPage::new(chrome(), period(&query(""), day(31)));
        conversion.table = Some(conversion_table(&[ConversionRow {
            day: "2025-03-30".into(),
            channel: "online".into(),
            carts: 3,
            ordered: 1,
            rate: 0.3333,
        }]));
        conversion.period = "x".into();
        let html = conversion.render().unwrap();
        assert!(html.contains("33.3 %"));
        assert!(html.contains(r#"href="/reports/conversion.csv?from=2025-03-02&#38;to=2025-03-31""#));
    }

    #[test]
    fn the_back_office_routes_do_not_clash() {
        // Overlapping routes make axum panic while the router is built.
        let _ = super::super::routes();
    }
}
