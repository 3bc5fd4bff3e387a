//! The sales report: orders and gross sales per day and per channel over a period, as a chart
//! drawn on the server (inline SVG, no script) with the same figures in a table beneath, and as a
//! CSV download.
//!
//! The figures come from ordering's daily sales, counted by its database per day, channel and
//! currency (one call whatever the number of orders). Orders count once paid; cancelled orders are
//! left out and counted apart; refunded amounts are shown beside the gross they were taken from.
//! Days are UTC days.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use askama::Template;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{Duration, NaiveDate, Utc};
use comptoir_contracts::identity::Permission;
use comptoir_contracts::ordering::{MAX_SALES_DAYS, SalesQuery};
use comptoir_kernel::{Currency, Error, Money, RequestContext};
use rust_decimal::Decimal;

use super::{Chrome, staff};
use crate::form::{FormData, FormErrors};
use crate::session::Session;
use crate::view::{PageError, render, render_status};
use crate::{PageResult, WebState};

pub fn routes() -> Router<WebState> {
    Router::new().route("/reports/sales", get(sales)).route("/reports/sales.csv", get(sales_csv))
}

/// The longest period a report covers.
const MAX_DAYS: i64 = MAX_SALES_DAYS;
/// The period shown when none is asked for.
const DEFAULT_DAYS: i64 = 30;

// ---- Reading the orders ------------------------------------------------------------------

/// The orders of one day, channel and currency that count as sales.
#[derive(Debug, Clone)]
pub(super) struct Sale {
    pub day: NaiveDate,
    pub channel: String,
    pub currency: Currency,
    pub orders: u64,
    /// What the customers paid, tax included, in minor units.
    pub gross: i64,
    /// Refunded so far, in minor units.
    pub refunded: i64,
}

/// The sales of a period.
pub(super) struct Sales {
    pub sales: Vec<Sale>,
    /// Cancelled orders, left out of the figures.
    pub cancelled: u64,
}

/// The sales of the UTC days `first..=last`, in one channel or all (`channel` empty).
pub(super) async fn collect_sales(
    state: &WebState,
    ctx: &RequestContext,
    (first, last): (NaiveDate, NaiveDate),
    channel: &str,
) -> Result<Sales, Error> {
    let midnight = |day: NaiveDate| day.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    let (Some(from), Some(to)) = (midnight(first), last.succ_opt().and_then(midnight)) else {
        return Err(Error::validation("to", "is out of range"));
    };
    let query = SalesQuery { from, to, channel: Some(channel.to_string()).filter(|c| !c.is_empty()) };
    let days = state.ordering.daily_sales(ctx, query).await?;
    let mut result = Sales { sales: Vec::new(), cancelled: 0 };
    for day in days {
        result.cancelled += day.cancelled.max(0) as u64;
        let Ok(date) = NaiveDate::parse_from_str(&day.day, "%Y-%m-%d") else {
            return Err(Error::internal(format!("ordering answered a day that is not a date: {}", day.day)));
        };
        if day.orders > 0 {
            result.sales.push(Sale {
                day: date,
                channel: day.channel,
                currency: day.gross.currency,
                orders: day.orders as u64,
                gross: day.gross.amount,
                refunded: day.refunded.amount,
            });
        }
    }
    Ok(result)
}

// ---- Figures -----------------------------------------------------------------------------

/// The figures of one day and channel, or of a channel or the whole period when `day` is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figures {
    pub day: Option<NaiveDate>,
    pub channel: String,
    pub orders: u64,
    pub gross: i64,
    pub refunded: i64,
}

/// The sales of one currency: per day and channel (by day, then channel), per channel, in all.
#[derive(Debug, Clone)]
pub struct Tally {
    pub currency: Currency,
    pub rows: Vec<Figures>,
    pub channels: Vec<Figures>,
    pub total: Figures,
}

/// Sums the sales per currency (amounts of different currencies are never added together), then
/// per day and channel.
fn tally(sales: &[Sale]) -> Vec<Tally> {
    let mut by_currency: BTreeMap<&str, Vec<&Sale>> = BTreeMap::new();
    for sale in sales {
        by_currency.entry(sale.currency.code()).or_default().push(sale);
    }
    by_currency
        .into_values()
        .map(|sales| {
            let currency = sales[0].currency;
            let mut rows: BTreeMap<(NaiveDate, &str), Figures> = BTreeMap::new();
            let mut channels: BTreeMap<&str, Figures> = BTreeMap::new();
            let blank = |day: Option<NaiveDate>, channel: &str| Figures {
                day,
                channel: channel.to_string(),
                orders: 0,
                gross: 0,
                refunded: 0,
            };
            let mut total = blank(None, "");
            for sale in sales {
                let row = rows
                    .entry((sale.day, sale.channel.as_str()))
                    .or_insert_with(|| blank(Some(sale.day), &sale.channel));
                let channel = channels.entry(sale.channel.as_str()).or_insert_with(|| blank(None, &sale.channel));
                for figures in [row, channel, &mut total] {
                    figures.orders += sale.orders;
                    figures.gross = figures.gross.saturating_add(sale.gross);
                    figures.refunded = figures.refunded.saturating_add(sale.refunded);
                }
            }
            Tally { currency, rows: rows.into_values().collect(), channels: channels.into_values().collect(), total }
        })
        .collect()
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

/// A stacked segment of a day's bar: one channel's sales that day.
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

/// Gross sales per day from `from` to `to` (inclusive) as a bar chart, one stacked bar per day and
/// one colour per channel. `sales` has one entry per order: its day, channel and gross in minor
/// units of `currency`; entries outside the period are ignored.
pub fn sales_chart(from: NaiveDate, to: NaiveDate, currency: Currency, sales: &[(NaiveDate, String, i64)]) -> Chart {
    let to = to.max(from);
    let days = (to - from).num_days() + 1;
    // (day, channel) → (gross, orders), ordered by day then channel.
    let mut cells: BTreeMap<(NaiveDate, &str), (i64, u64)> = BTreeMap::new();
    for (day, channel, gross) in sales.iter().filter(|(day, _, _)| (from..=to).contains(day)) {
        let cell = cells.entry((*day, channel.as_str())).or_default();
        cell.0 = cell.0.saturating_add((*gross).max(0));
        cell.1 += 1;
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

    let mut per_day: BTreeMap<NaiveDate, i64> = BTreeMap::new();
    for ((day, _), (gross, _)) in &cells {
        let total = per_day.entry(*day).or_default();
        *total = total.saturating_add(*gross);
    }
    let highest = per_day.values().copied().max().unwrap_or(0);
    let scale_max = nice_step(highest / 4 + i64::from(highest % 4 != 0)).saturating_mul(4);

    let legend_rows = series.len().div_ceil(LEGEND_PER_ROW).max(1);
    let top = 16.0 + LEGEND_ROW * legend_rows as f64 + 12.0;
    let plot_height = HEIGHT - top - BOTTOM;
    let slot = (WIDTH - LEFT - RIGHT) / days as f64;
    let bar_width = (slot * 0.8).max(0.5);
    let baseline = top + plot_height;

    let mut bars = Vec::new();
    let mut stacked: BTreeMap<NaiveDate, f64> = BTreeMap::new();
    for ((day, channel), (gross, orders)) in &cells {
        if *gross <= 0 {
            continue;
        }
        let index = (*day - from).num_days() as f64;
        let height = *gross as f64 / scale_max as f64 * plot_height;
        let bottom = stacked.entry(*day).or_insert(baseline);
        let y = *bottom - height;
        *bottom = y;
        bars.push(Bar {
            day: *day,
            channel: channel.to_string(),
            gross: *gross,
            orders: *orders,
            x: LEFT + index * slot + (slot - bar_width) / 2.0,
            y,
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

// ---- The page ----------------------------------------------------------------------------

/// The period and channel asked for, read from the query string.
struct Params {
    from: String,
    to: String,
    channel: String,
    period: Option<(NaiveDate, NaiveDate)>,
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

/// `from` and `to` (inclusive, `YYYY-MM-DD`), the last 30 days when absent.
fn params(raw: Option<String>, today: NaiveDate) -> Params {
    let query = FormData::from_query(raw);
    let mut errors = FormErrors::default();
    let to = query.optional("to").unwrap_or_else(|| today.to_string());
    let to_day = read_day(&to, "to", &mut errors);
    let from = query
        .optional("from")
        .unwrap_or_else(|| (to_day.unwrap_or(today) - Duration::days(DEFAULT_DAYS - 1)).to_string());
    let from_day = read_day(&from, "from", &mut errors);
    let period = match (from_day, to_day) {
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
    Params { from, to, channel: query.text("channel"), period, errors }
}

/// A line of the table as shown.
struct Line {
    day: String,
    channel: String,
    colour: &'static str,
    orders: u64,
    gross: String,
    refunded: String,
}

struct CurrencySection {
    currency: String,
    svg: String,
    lines: Vec<Line>,
    channels: Vec<Line>,
    total: Line,
}

impl CurrencySection {
    fn new(tally: &Tally, first: NaiveDate, last: NaiveDate, sales: &[Sale]) -> CurrencySection {
        let points: Vec<(NaiveDate, String, i64)> = sales
            .iter()
            .filter(|s| s.currency == tally.currency)
            .map(|s| (s.day, s.channel.clone(), s.gross))
            .collect();
        let chart = sales_chart(first, last, tally.currency, &points);
        let line = |f: &Figures| Line {
            day: f.day.map(long_day).unwrap_or_default(),
            channel: f.channel.clone(),
            colour: chart.colour(&f.channel),
            orders: f.orders,
            gross: Money::new(f.gross, tally.currency).to_string(),
            refunded: if f.refunded == 0 { String::new() } else { Money::new(f.refunded, tally.currency).to_string() },
        };
        CurrencySection {
            currency: tally.currency.code().to_string(),
            lines: tally.rows.iter().map(line).collect(),
            channels: tally.channels.iter().map(line).collect(),
            total: line(&tally.total),
            svg: chart.svg(),
        }
    }
}

#[derive(Template)]
#[template(path = "backoffice/sales_report.html")]
struct SalesReportPage {
    chrome: Chrome,
    from: String,
    to: String,
    channel: String,
    errors: FormErrors,
    /// `from=…&to=…&channel=…`, for the CSV link.
    query: String,
    /// Empty when the period could not be read.
    period: String,
    sections: Vec<CurrencySection>,
    cancelled: u64,
}

fn query_string(params: &Params) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("from", &params.from).append_pair("to", &params.to);
    if !params.channel.is_empty() {
        query.append_pair("channel", &params.channel);
    }
    query.finish()
}

async fn sales(State(state): State<WebState>, session: Session, RawQuery(raw): RawQuery) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::OrdersRead), "/reports/sales").await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let params = params(raw, Utc::now().date_naive());
    let mut page = SalesReportPage {
        chrome,
        query: query_string(&params),
        from: params.from.clone(),
        to: params.to.clone(),
        channel: params.channel.clone(),
        errors: params.errors.clone(),
        period: String::new(),
        sections: Vec::new(),
        cancelled: 0,
    };
    let Some((first, last)) = params.period else {
        return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page));
    };
    let found = collect_sales(&state, &session.ctx, (first, last), &params.channel).await?;
    page.period = format!("{} to {}", long_day(first), long_day(last));
    page.sections = tally(&found.sales).iter().map(|t| CurrencySection::new(t, first, last, &found.sales)).collect();
    page.cancelled = found.cancelled;
    Ok(render(&page))
}

/// A CSV field: quoted when it holds a separator, a quote or a line break; a leading `=`, `+`,
/// `-` or `@` is defused so that a spreadsheet never reads the text as a formula.
fn csv_field(value: &str) -> String {
    let value =
        if value.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{value}") } else { value.to_string() };
    if value.contains([',', '"', '\n', '\r']) { format!("\"{}\"", value.replace('"', "\"\"")) } else { value }
}

/// The table as CSV: one line per day and channel, amounts in major units.
fn sales_csv_text(tallies: &[Tally]) -> String {
    let mut out = String::from("date,channel,currency,orders,gross,refunded\r\n");
    for tally in tallies {
        let amount = |minor: i64| Decimal::new(minor, tally.currency.minor_digits() as u32).to_string();
        for row in &tally.rows {
            let _ = write!(
                out,
                "{},{},{},{},{},{}\r\n",
                row.day.map(|d| d.to_string()).unwrap_or_default(),
                csv_field(&row.channel),
                tally.currency,
                row.orders,
                amount(row.gross),
                amount(row.refunded),
            );
        }
    }
    out
}

async fn sales_csv(State(state): State<WebState>, session: Session, RawQuery(raw): RawQuery) -> PageResult {
    if let Err(response) = staff(&state, &session, Some(Permission::OrdersRead), "/reports/sales").await {
        return Ok(response);
    }
    let params = params(raw.clone(), Utc::now().date_naive());
    let Some((first, last)) = params.period else {
        // The page says what is wrong with the dates, beside the fields.
        return sales(State(state), session, RawQuery(raw)).await;
    };
    let found = collect_sales(&state, &session.ctx, (first, last), &params.channel).await?;
    let mut response: Response = sales_csv_text(&tally(&found.sales)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    let disposition = format!("attachment; filename=\"sales-{first}-{last}.csv\"");
    let disposition = HeaderValue::from_str(&disposition).map_err(|e| PageError(Error::internal(e.to_string())))?;
    headers.insert(header::CONTENT_DISPOSITION, disposition);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Today's sales (UTC), for the dashboard.
pub(super) async fn today(state: &WebState, ctx: &RequestContext) -> Result<Sales, Error> {
    let today = Utc::now().date_naive();
    collect_sales(state, ctx, (today, today), "").await
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

    fn sale(d: u32, channel: &str, gross: i64) -> (NaiveDate, String, i64) {
        (day(d), channel.to_string(), gross)
    }

    #[test]
    fn one_bar_segment_per_day_and_channel_with_sales() {
        let sales = [
            sale(1, "web", 1000),
            sale(1, "web", 500),
            sale(1, "store", 2000),
            sale(3, "web", 4000),
            sale(9, "web", 999), // outside the period
        ];
        let chart = sales_chart(day(1), day(7), eur(), &sales);
        assert_eq!(chart.bars.len(), 3);
        let svg = chart.svg();
        assert_eq!(svg.matches("<rect").count(), 3 + 2, "three bars and two legend swatches");
        let series: Vec<(&str, i64, u64)> =
            chart.series.iter().map(|s| (s.channel.as_str(), s.gross, s.orders)).collect();
        assert_eq!(series, [("store", 2000, 1), ("web", 5500, 3)]);
        assert_ne!(chart.series[0].colour, chart.series[1].colour, "a colour per channel");
        let web_first = chart.bars.iter().find(|b| b.day == day(1) && b.channel == "web").unwrap();
        assert_eq!((web_first.gross, web_first.orders), (1500, 2));
        assert!(svg.contains(r##"fill="#e69f00"><title>1 Mar 2025, web: 15.00 EUR from 2 orders</title></rect>"##));
        assert!(svg.contains(r#"role="img""#));
        assert!(svg.contains("aria-label=\"Gross sales per day in EUR, from 1 Mar 2025 to 7 Mar 2025: store 20.00 EUR (1 order); web 55.00 EUR (3 orders).\""));
        assert!(!svg.contains("style"), "no inline styles under the CSP");
    }

    #[test]
    fn heights_are_proportional_and_bars_stack_on_the_baseline() {
        let sales = [sale(1, "web", 1000), sale(2, "web", 2000), sale(2, "store", 500), sale(3, "web", 4000)];
        let chart = sales_chart(day(1), day(3), eur(), &sales);
        let height = |d: u32, channel: &str| {
            chart.bars.iter().find(|b| b.day == day(d) && b.channel == channel).map(|b| b.height).unwrap()
        };
        assert!((height(2, "web") / height(1, "web") - 2.0).abs() < 1e-9);
        assert!((height(3, "web") / height(2, "store") - 8.0).abs() < 1e-9);
        // The axis goes to a round amount at or above the highest day: 4 × 10.00 EUR here.
        assert_eq!(chart.scale_max, 4000);
        assert!((height(3, "web") - chart.plot_height).abs() < 1e-9, "the highest day fills the plot");
        // On day 2 the two segments touch: one stands on the other.
        let (store, web) = (
            chart.bars.iter().find(|b| b.day == day(2) && b.channel == "store").unwrap(),
            chart.bars.iter().find(|b| b.day == day(2) && b.channel == "web").unwrap(),
        );
        assert!((store.y + store.height - web.y).abs() < 1e-9 || (web.y + web.height - store.y).abs() < 1e-9);
        assert!(chart.bars.iter().all(|b| b.x >= LEFT && b.x + b.width <= WIDTH - RIGHT));
    }

    #[test]
    fn channel_names_are_escaped_everywhere() {
        let sales = [sale(2, "<script>alert('x')</script> & \"co\"", 1234)];
        let chart = sales_chart(day(1), day(2), eur(), &sales);
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
    fn sales_are_summed_per_currency_day_and_channel() {
        let s = |d: u32, channel: &str, currency: &str, gross: i64, refunded: i64| Sale {
            day: day(d),
            channel: channel.into(),
            currency: currency.parse().unwrap(),
            orders: 1,
            gross,
            refunded,
        };
        let sales = [
            Sale { orders: 2, ..s(1, "web", "EUR", 1500, 500) },
            s(2, "store", "EUR", 700, 0),
            s(1, "web", "USD", 900, 0),
        ];
        let tallies = tally(&sales);
        assert_eq!(tallies.len(), 2);
        let eur = &tallies[0];
        assert_eq!(eur.currency, Currency::EUR);
        assert_eq!(
            eur.rows,
            [
                Figures { day: Some(day(1)), channel: "web".into(), orders: 2, gross: 1500, refunded: 500 },
                Figures { day: Some(day(2)), channel: "store".into(), orders: 1, gross: 700, refunded: 0 },
            ]
        );
        assert_eq!(
            eur.channels.iter().map(|f| (f.channel.as_str(), f.gross)).collect::<Vec<_>>(),
            [("store", 700), ("web", 1500)]
        );
        assert_eq!((eur.total.orders, eur.total.gross, eur.total.refunded), (3, 2200, 500));
        assert_eq!(tallies[1].total.gross, 900);

        let csv = sales_csv_text(&tallies);
        assert_eq!(
            csv,
            "date,channel,currency,orders,gross,refunded\r\n\
             2025-03-01,web,EUR,2,15.00,5.00\r\n\
             2025-03-02,store,EUR,1,7.00,0.00\r\n\
             2025-03-01,web,USD,1,9.00,0.00\r\n"
        );
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn the_period_defaults_to_the_last_30_days_and_is_checked() {
        let today = NaiveDate::from_ymd_opt(2025, 3, 31).unwrap();
        let p = params(None, today);
        assert_eq!((p.from.as_str(), p.to.as_str()), ("2025-03-02", "2025-03-31"));
        assert_eq!(p.period, Some((day(2), day(31))));
        let p = params(Some("from=2025-03-10&to=2025-03-01".into()), today);
        assert!(p.period.is_none());
        assert!(p.errors.of("to").is_some());
        let p = params(Some("from=yesterday".into()), today);
        assert_eq!(p.errors.of("from"), Some("Enter a date as YYYY-MM-DD."));
        let p = params(Some("from=2023-01-01&to=2025-03-01".into()), today);
        assert!(p.errors.of("from").is_some());
    }

    #[test]
    fn the_page_embeds_the_chart_as_markup_without_inline_styles() {
        let s = |d: u32, channel: &str, gross: i64| Sale {
            day: day(d),
            channel: channel.into(),
            currency: Currency::EUR,
            orders: 1,
            gross,
            refunded: 0,
        };
        let sales = [s(1, "web", 1000), s(2, "<b>pos</b>", 2500)];
        let sections: Vec<CurrencySection> =
            tally(&sales).iter().map(|t| CurrencySection::new(t, day(1), day(7), &sales)).collect();
        let page = SalesReportPage {
            chrome: Chrome {
                shop_name: "Shop".into(),
                csrf: "token".into(),
                email: "ann@example.com".into(),
                nav: Vec::new(),
                flash: None,
            },
            from: "2025-03-01".into(),
            to: "2025-03-07".into(),
            channel: String::new(),
            errors: FormErrors::default(),
            query: "from=2025-03-01&to=2025-03-07".into(),
            period: "1 Mar 2025 to 7 Mar 2025".into(),
            sections,
            cancelled: 1,
        };
        let html = page.render().unwrap();
        assert!(html.contains(r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart""#));
        assert!(!html.contains(" style="), "no inline style attribute");
        assert!(!html.contains("<style"), "no style element");
        assert!(!html.contains("<b>pos</b>"), "channel names escaped in the chart and the table");
        assert!(html.contains("&lt;b&gt;pos&lt;/b&gt;"));
        assert!(html.contains("(1 in this period)"), "cancelled orders are counted apart");
        assert!(html.contains(r#"href="/reports/sales.csv?from=2025-03-01&#38;to=2025-03-07""#));
    }

    #[test]
    fn the_back_office_routes_do_not_clash() {
        // Overlapping routes make axum panic while the router is built.
        let _ = super::super::routes();
    }
}
