//! Serves a `ReportingPort` (the module itself) to remote callers: each rpc reads the caller's
//! context from metadata, decodes the message (a bad request if it is malformed), calls the port
//! and encodes its answer; the port's errors (a period refused naming `to`, an unknown location)
//! travel as statuses the client turns back into the same errors.

use std::sync::Arc;

use comptoir_contracts::reporting::ReportingPort;
use comptoir_grpc::server::{RpcResult, reply};
use comptoir_grpc::{MAX_MESSAGE_BYTES, incoming_context, to_status};
use comptoir_kernel::Result;
use tonic::{Request, Status};

use crate::convert;
use crate::pb;
use crate::pb::reporting_service_server::{ReportingService, ReportingServiceServer};

pub struct ReportingServer {
    port: Arc<dyn ReportingPort>,
}

/// The generated service around `port`, ready to add to a `ServiceSet`.
pub fn service(port: Arc<dyn ReportingPort>) -> ReportingServiceServer<ReportingServer> {
    ReportingServiceServer::new(ReportingServer { port })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// A request that does not decode is answered as the bad request it is, before the port is called.
fn decoded<T>(result: Result<T>) -> std::result::Result<T, Status> {
    result.map_err(to_status)
}

#[tonic::async_trait]
impl ReportingService for ReportingServer {
    async fn sales(&self, request: Request<pb::SalesRequest>) -> RpcResult<pb::SalesReport> {
        let ctx = incoming_context(&request);
        let (query, grouping) = decoded(convert::sales_request(request.into_inner()))?;
        reply(self.port.sales(&ctx, query, grouping).await.map(|report| convert::to_sales_report(&report)))
    }

    async fn refunds(&self, request: Request<pb::ReportQuery>) -> RpcResult<pb::RefundList> {
        let ctx = incoming_context(&request);
        let query = decoded(convert::report_query(request.into_inner(), ""))?;
        reply(self.port.refunds(&ctx, query).await.map(|rows| convert::to_refund_list(&rows)))
    }

    async fn stock_value(&self, request: Request<pb::StockValueQuery>) -> RpcResult<pb::StockValueList> {
        let ctx = incoming_context(&request);
        let query = convert::stock_value_query(request.into_inner());
        reply(self.port.stock_value(&ctx, query).await.map(|rows| convert::to_stock_value_list(&rows)))
    }

    async fn conversion(&self, request: Request<pb::ReportQuery>) -> RpcResult<pb::ConversionList> {
        let ctx = incoming_context(&request);
        let query = decoded(convert::report_query(request.into_inner(), ""))?;
        reply(self.port.conversion(&ctx, query).await.map(|rows| convert::to_conversion_list(&rows)))
    }

    async fn rebuild(&self, request: Request<pb::RebuildRequest>) -> RpcResult<pb::RebuildReport> {
        let ctx = incoming_context(&request);
        reply(self.port.rebuild(&ctx).await.map(|report| convert::to_rebuild_report(&report)))
    }
}
