//! Staff reports: sales by day, channel, product, category or seller (online orders and store
//! tills side by side), refunds, stock value per location and the conversion of carts into
//! orders; each as JSON or, with `format=csv`, as a CSV download.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use comptoir_contracts::identity::Permission;
use comptoir_contracts::reporting::{
    ConversionRow, RebuildReport, RefundRow, ReportQuery, SalesGrouping, SalesReport, StockValueQuery, StockValueRow,
};
use comptoir_kernel::Error;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::context::Caller;
use crate::csv_export;
use crate::extract::Query;
use crate::problem::{ApiResult, Problem};
use crate::state::ApiState;

pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(sales))
        .routes(routes!(refunds))
        .routes(routes!(stock_value))
        .routes(routes!(conversion))
        .routes(routes!(rebuild))
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum Format {
    #[default]
    Json,
    Csv,
}

/// The `format` parameter, for the documentation (read with the others).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct Output {
    /// `json` (default) or `csv` (a download, one row per line, amounts in major units).
    #[serde(default)]
    format: Format,
}

/// The `group_by` parameter, for the documentation (read with the others).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct Grouping {
    /// `day` (default), `channel`, `product`, `category` or `seller`.
    #[serde(default)]
    group_by: SalesGrouping,
}

/// The query of a period report; the format and grouping parameters are read apart.
#[derive(Deserialize)]
struct PeriodParams {
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    group_by: SalesGrouping,
    #[serde(default)]
    format: Format,
}

impl PeriodParams {
    fn query(&self) -> Result<ReportQuery, Error> {
        let query = ReportQuery { from: self.from, to: self.to, channel: self.channel.clone() };
        query.validate()?;
        Ok(query)
    }
}

/// The report as JSON, or as a CSV download named `name`.
fn answer<T: serde::Serialize>(
    format: Format,
    name: &str,
    report: T,
    csv: impl FnOnce(&T) -> Result<String, Error>,
) -> ApiResult<Response> {
    Ok(match format {
        Format::Json => axum::Json(report).into_response(),
        Format::Csv => csv_export::download(name, csv(&report)?),
    })
}

fn period_name(kind: &str, query: &ReportQuery) -> String {
    format!("{kind}-{}-{}", query.from, query.to)
}

#[utoipa::path(get, path = "/admin/reports/sales", tag = "admin: reports", security(("bearer" = []), ("api_key" = [])),
    params(ReportQuery, Grouping, Output),
    responses((status = 200, body = SalesReport, description = "Rows and per-currency totals; `format=csv` answers text/csv"),
              (status = 403, body = Problem), (status = 422, body = Problem, description = "A bad period names `to`")))]
async fn sales(
    State(state): State<ApiState>,
    caller: Caller,
    Query(params): Query<PeriodParams>,
) -> ApiResult<Response> {
    caller.require(Permission::ReportsRead)?;
    let query = params.query()?;
    let report = state.reporting.sales(&caller.ctx, query.clone(), params.group_by).await?;
    answer(params.format, &period_name("sales", &query), report, csv_export::sales)
}

#[utoipa::path(get, path = "/admin/reports/refunds", tag = "admin: reports", security(("bearer" = []), ("api_key" = [])),
    params(ReportQuery, Output),
    responses((status = 200, body = Vec<RefundRow>, description = "Per day, channel and currency, oldest first"),
              (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn refunds(
    State(state): State<ApiState>,
    caller: Caller,
    Query(params): Query<PeriodParams>,
) -> ApiResult<Response> {
    caller.require(Permission::ReportsRead)?;
    let query = params.query()?;
    let rows = state.reporting.refunds(&caller.ctx, query.clone()).await?;
    answer(params.format, &period_name("refunds", &query), rows, |rows| csv_export::refunds(rows))
}

#[derive(Deserialize)]
struct StockParams {
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    format: Format,
}

#[utoipa::path(get, path = "/admin/reports/stock-value", tag = "admin: reports", security(("bearer" = []), ("api_key" = [])),
    params(StockValueQuery, Output),
    responses((status = 200, body = Vec<StockValueRow>, description = "Units on hand valued at a channel's prices, per location and currency"),
              (status = 403, body = Problem), (status = 404, body = Problem, description = "Unknown location")))]
async fn stock_value(
    State(state): State<ApiState>,
    caller: Caller,
    Query(params): Query<StockParams>,
) -> ApiResult<Response> {
    caller.require(Permission::ReportsRead)?;
    let query = StockValueQuery { location: params.location, channel: params.channel };
    let rows = state.reporting.stock_value(&caller.ctx, query).await?;
    answer(params.format, "stock-value", rows, |rows| csv_export::stock_value(rows))
}

#[utoipa::path(get, path = "/admin/reports/conversion", tag = "admin: reports", security(("bearer" = []), ("api_key" = [])),
    params(ReportQuery, Output),
    responses((status = 200, body = Vec<ConversionRow>, description = "Carts started per day and channel, and how many became orders"),
              (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn conversion(
    State(state): State<ApiState>,
    caller: Caller,
    Query(params): Query<PeriodParams>,
) -> ApiResult<Response> {
    caller.require(Permission::ReportsRead)?;
    let query = params.query()?;
    let rows = state.reporting.conversion(&caller.ctx, query.clone()).await?;
    answer(params.format, &period_name("conversion", &query), rows, |rows| csv_export::conversion(rows))
}

#[utoipa::path(post, path = "/admin/reports/rebuild", tag = "admin: reports", security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = RebuildReport, description = "Recounted from ordering, the point of sale and the catalog"),
              (status = 403, body = Problem)))]
async fn rebuild(State(state): State<ApiState>, caller: Caller) -> ApiResult<axum::Json<RebuildReport>> {
    caller.require(Permission::ReportsRead)?;
    Ok(axum::Json(state.reporting.rebuild(&caller.ctx).await?))
}
