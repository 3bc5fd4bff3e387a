//! The `ReportingPort` of a reporting service running elsewhere: callers holding an
//! `Arc<dyn ReportingPort>` get the same answers and the same errors as from the module in
//! process.
//!
//! Every rpc is retried when the request never reached the service: four are reads, and a rebuild
//! recounts everything from the owning modules and replaces what was there, so sending it twice
//! lands the same way.

use async_trait::async_trait;
use comptoir_contracts::reporting::{
    ConversionRow, RebuildReport, RefundRow, ReportQuery, ReportingPort, SalesGrouping, SalesReport, StockValueQuery,
    StockValueRow,
};
use comptoir_grpc::{Call, MAX_MESSAGE_BYTES, Remote};
use comptoir_kernel::{Error, RequestContext, Result};
use tonic::transport::Channel;

use crate::convert;
use crate::pb;
use crate::pb::reporting_service_client::ReportingServiceClient;

/// A rebuild reads every order, till sale and product through their services: minutes for a
/// large shop, not the seconds an ordinary call gets.
const REBUILD_DEADLINE: std::time::Duration = std::time::Duration::from_secs(600);

#[derive(Clone)]
pub struct ReportingClient {
    remote: Remote,
}

impl ReportingClient {
    pub fn new(remote: Remote) -> Self {
        ReportingClient { remote }
    }
}

fn grpc(channel: Channel) -> ReportingServiceClient<Channel> {
    ReportingServiceClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// A reply that does not decode is the service's fault, not the caller's: an internal error rather
/// than the bad request decoding reports on the server side.
fn decoded<T>(result: Result<T>) -> Result<T> {
    result.map_err(|e| Error::internal(format!("the reporting service sent a malformed reply: {e}")))
}

#[async_trait]
impl ReportingPort for ReportingClient {
    async fn sales(&self, ctx: &RequestContext, query: ReportQuery, grouping: SalesGrouping) -> Result<SalesReport> {
        let message = convert::to_sales_request(&query, grouping);
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "Sales", message, |channel, request| async move {
                grpc(channel).sales(request).await
            })
            .await?;
        decoded(convert::sales_report(reply))
    }

    async fn refunds(&self, ctx: &RequestContext, query: ReportQuery) -> Result<Vec<RefundRow>> {
        let message = convert::to_report_query(&query);
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "Refunds", message, |channel, request| async move {
                grpc(channel).refunds(request).await
            })
            .await?;
        decoded(convert::refund_list(reply))
    }

    async fn stock_value(&self, ctx: &RequestContext, query: StockValueQuery) -> Result<Vec<StockValueRow>> {
        let message = convert::to_stock_value_query(&query);
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "StockValue", message, |channel, request| async move {
                grpc(channel).stock_value(request).await
            })
            .await?;
        decoded(convert::stock_value_list(reply))
    }

    async fn conversion(&self, ctx: &RequestContext, query: ReportQuery) -> Result<Vec<ConversionRow>> {
        let message = convert::to_report_query(&query);
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "Conversion", message, |channel, request| async move {
                grpc(channel).conversion(request).await
            })
            .await?;
        Ok(convert::conversion_list(reply))
    }

    async fn rebuild(&self, ctx: &RequestContext) -> Result<RebuildReport> {
        let reply = self
            .remote
            .call_within(
                ctx,
                Call::Idempotent,
                "Rebuild",
                pb::RebuildRequest {},
                REBUILD_DEADLINE,
                |channel, request| async move { grpc(channel).rebuild(request).await },
            )
            .await?;
        Ok(convert::rebuild_report(reply))
    }
}
