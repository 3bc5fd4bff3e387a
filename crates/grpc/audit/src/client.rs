//! The `AuditPort` of an audit service running elsewhere: callers holding an `Arc<dyn AuditPort>`
//! get the same answers and the same errors as from the module in process.
//!
//! Searches and reads are retried when the request never reached the service. Recording is sent
//! once: the service gives each entry its id, so a batch sent twice would be recorded twice, and a
//! lost answer is reported rather than guessed.

use async_trait::async_trait;
use comptoir_contracts::audit::{AuditEntry, AuditFilter, AuditPort, NewAuditEntry};
use comptoir_grpc::convert::page;
use comptoir_grpc::{Call, MAX_MESSAGE_BYTES, Remote};
use comptoir_kernel::{Error, Page, PageRequest, RequestContext, Result};
use tonic::transport::Channel;
use uuid::Uuid;

use crate::convert;
use crate::pb;
use crate::pb::audit_service_client::AuditServiceClient;

#[derive(Clone)]
pub struct AuditClient {
    remote: Remote,
}

impl AuditClient {
    pub fn new(remote: Remote) -> Self {
        AuditClient { remote }
    }
}

fn grpc(channel: Channel) -> AuditServiceClient<Channel> {
    AuditServiceClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// A reply that does not decode is the service's fault, not the caller's: an internal error rather
/// than the bad request decoding reports on the server side.
fn decoded<T>(result: Result<T>) -> Result<T> {
    result.map_err(|e| Error::internal(format!("the audit service sent a malformed reply: {e}")))
}

#[async_trait]
impl AuditPort for AuditClient {
    async fn record(&self, ctx: &RequestContext, entries: Vec<NewAuditEntry>) -> Result<()> {
        self.remote
            .call(ctx, Call::Once, "Record", convert::to_record(&entries), |channel, request| async move {
                grpc(channel).record(request).await
            })
            .await?;
        Ok(())
    }

    async fn search(
        &self,
        ctx: &RequestContext,
        filter: AuditFilter,
        page_request: PageRequest,
    ) -> Result<Page<AuditEntry>> {
        let message = convert::to_search(&filter, &page_request);
        let reply = self
            .remote
            .call(ctx, Call::Idempotent, "Search", message, |channel, request| async move {
                grpc(channel).search(request).await
            })
            .await?;
        decoded(convert::entries(reply.entries).and_then(|items| page(items, reply.page)))
    }

    async fn get(&self, ctx: &RequestContext, id: Uuid) -> Result<AuditEntry> {
        let message = pb::EntryId { id: id.to_string() };
        let reply =
            self.remote
                .call(ctx, Call::Idempotent, "Get", message, |channel, request| async move {
                    grpc(channel).get(request).await
                })
                .await?;
        decoded(convert::entry(reply, "entry"))
    }
}
