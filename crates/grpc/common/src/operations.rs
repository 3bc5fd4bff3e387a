//! The `Operations` service every service answers: its dead letters, listed, found, replayed and
//! purged from the gateway as if they were local, and its outbox backlog.

use std::sync::Arc;

use async_trait::async_trait;
use comptoir_eventbus::{DeadLetterOffice, DeadLetterSource, Filed, ModuleOutbox};
use comptoir_kernel::{Error, RequestContext, Result};
use comptoir_storage::dead_letters::DeadLetter;
use comptoir_storage::outbox::OutboxStatus;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::client::{Call, Remote};
use crate::convert::{self, to_timestamp};
use crate::pb::operations_client::OperationsClient;
use crate::pb::operations_server::{Operations, OperationsServer};
use crate::{pb, to_status};

/// Serves the dead letters of the module databases of this process.
pub fn service(office: DeadLetterOffice) -> OperationsServer<OperationsService> {
    OperationsServer::new(OperationsService { office })
}

pub struct OperationsService {
    office: DeadLetterOffice,
}

#[tonic::async_trait]
impl Operations for OperationsService {
    async fn newest_dead_letters(
        &self,
        request: Request<pb::NewestDeadLettersRequest>,
    ) -> Result<Response<pb::DeadLetterList>, Status> {
        let limit = request.into_inner().limit.max(0);
        let (items, total) = self.office.newest(limit).await.map_err(to_status)?;
        let items = items.iter().map(to_message).collect::<Result<_>>().map_err(to_status)?;
        Ok(Response::new(pb::DeadLetterList { items, total }))
    }

    async fn find_dead_letter(
        &self,
        request: Request<pb::DeadLetterId>,
    ) -> Result<Response<pb::FoundDeadLetter>, Status> {
        let id = convert::uuid(&request.into_inner().id, "id").map_err(to_status)?;
        let letter = match self.office.get(id).await {
            Ok(filed) => Some(to_message(&filed).map_err(to_status)?),
            Err(Error::NotFound { .. }) => None,
            Err(e) => return Err(to_status(e)),
        };
        Ok(Response::new(pb::FoundDeadLetter { letter }))
    }

    async fn replay_dead_letter(&self, request: Request<pb::DeadLetterId>) -> Result<Response<pb::Empty>, Status> {
        let id = convert::uuid(&request.into_inner().id, "id").map_err(to_status)?;
        self.office.replay(id).await.map_err(to_status)?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn purge_dead_letter(
        &self,
        request: Request<pb::DeadLetterId>,
    ) -> Result<Response<pb::PurgedDeadLetters>, Status> {
        let id = convert::uuid(&request.into_inner().id, "id").map_err(to_status)?;
        let purged = match self.office.purge(id).await {
            Ok(_) => 1,
            Err(Error::NotFound { .. }) => 0,
            Err(e) => return Err(to_status(e)),
        };
        Ok(Response::new(pb::PurgedDeadLetters { purged }))
    }

    async fn purge_dead_letters(
        &self,
        request: Request<pb::PurgeDeadLettersRequest>,
    ) -> Result<Response<pb::PurgedDeadLetters>, Status> {
        let consumer = request.into_inner().consumer;
        let purged = self.office.purge_all(consumer.as_deref()).await.map_err(to_status)?;
        Ok(Response::new(pb::PurgedDeadLetters { purged }))
    }

    async fn outbox_backlog(&self, _request: Request<pb::Empty>) -> Result<Response<pb::OutboxBacklogList>, Status> {
        let modules = self.office.outboxes().await.map_err(to_status)?;
        let modules = modules
            .into_iter()
            .map(|m| pb::ModuleOutbox {
                module: m.module,
                pending: m.status.pending,
                oldest_pending_at: m.status.oldest_pending_at.as_ref().map(to_timestamp),
                published_kept: m.status.published_kept,
            })
            .collect();
        Ok(Response::new(pb::OutboxBacklogList { modules }))
    }
}

/// Another service's dead letters, for the gateway's (or a monolith's) dead-letter office.
pub struct RemoteDeadLetters {
    remote: Remote,
}

impl RemoteDeadLetters {
    pub fn new(remote: Remote) -> Arc<Self> {
        Arc::new(RemoteDeadLetters { remote })
    }
}

#[async_trait]
impl DeadLetterSource for RemoteDeadLetters {
    async fn newest(&self, limit: i64) -> Result<(Vec<Filed>, u64)> {
        let request = pb::NewestDeadLettersRequest { limit };
        let list = self
            .remote
            .call(
                &RequestContext::system(),
                Call::Idempotent,
                "NewestDeadLetters",
                request,
                |channel, request| async move { OperationsClient::new(channel).newest_dead_letters(request).await },
            )
            .await?;
        Ok((list.items.into_iter().map(from_message).collect::<Result<_>>()?, list.total))
    }

    async fn find(&self, id: Uuid) -> Result<Option<Filed>> {
        let request = pb::DeadLetterId { id: id.to_string() };
        let found = self
            .remote
            .call(
                &RequestContext::system(),
                Call::Idempotent,
                "FindDeadLetter",
                request,
                |channel, request| async move { OperationsClient::new(channel).find_dead_letter(request).await },
            )
            .await?;
        found.letter.map(from_message).transpose()
    }

    async fn replay(&self, filed: &Filed) -> Result<()> {
        let request = pb::DeadLetterId { id: filed.letter.id.to_string() };
        self.remote
            .call(&RequestContext::system(), Call::Once, "ReplayDeadLetter", request, |channel, request| async move {
                OperationsClient::new(channel).replay_dead_letter(request).await
            })
            .await?;
        Ok(())
    }

    async fn purge(&self, filed: &Filed) -> Result<bool> {
        let request = pb::DeadLetterId { id: filed.letter.id.to_string() };
        // Deleting by id twice deletes once: safe to retry.
        let done = self
            .remote
            .call(
                &RequestContext::system(),
                Call::Idempotent,
                "PurgeDeadLetter",
                request,
                |channel, request| async move { OperationsClient::new(channel).purge_dead_letter(request).await },
            )
            .await?;
        Ok(done.purged > 0)
    }

    async fn purge_all(&self, consumer: Option<&str>) -> Result<u64> {
        let request = pb::PurgeDeadLettersRequest { consumer: consumer.map(str::to_string) };
        let done = self
            .remote
            .call(
                &RequestContext::system(),
                Call::Idempotent,
                "PurgeDeadLetters",
                request,
                |channel, request| async move { OperationsClient::new(channel).purge_dead_letters(request).await },
            )
            .await?;
        Ok(done.purged)
    }

    async fn outboxes(&self) -> Result<Vec<ModuleOutbox>> {
        let list = self
            .remote
            .call(
                &RequestContext::system(),
                Call::Idempotent,
                "OutboxBacklog",
                pb::Empty {},
                |channel, request| async move { OperationsClient::new(channel).outbox_backlog(request).await },
            )
            .await?;
        list.modules
            .into_iter()
            .map(|m| {
                Ok(ModuleOutbox {
                    module: m.module,
                    status: OutboxStatus {
                        pending: m.pending,
                        oldest_pending_at: convert::optional_timestamp(m.oldest_pending_at, "oldest_pending_at")?,
                        published_kept: m.published_kept,
                    },
                })
            })
            .collect()
    }
}

fn to_message(filed: &Filed) -> Result<pb::DeadLetter> {
    let l = &filed.letter;
    Ok(pb::DeadLetter {
        id: l.id.to_string(),
        module: filed.module.clone(),
        consumer: l.consumer.clone(),
        event_json: serde_json::to_string(&l.event).map_err(|e| Error::internal(e.to_string()))?,
        error: l.error.clone(),
        attempts: l.attempts,
        failed_at: Some(to_timestamp(&l.failed_at)),
    })
}

fn from_message(m: pb::DeadLetter) -> Result<Filed> {
    let event = serde_json::from_str(&m.event_json)
        .map_err(|e| Error::internal(format!("a service sent a dead letter whose event is not an envelope: {e}")))?;
    Ok(Filed {
        module: m.module,
        letter: DeadLetter {
            id: convert::uuid(&m.id, "id")?,
            consumer: m.consumer,
            event,
            error: m.error,
            attempts: m.attempts,
            failed_at: convert::timestamp(m.failed_at, "failed_at")?,
        },
    })
}
