//! The audit port: record a batch (all or none), search with filters, read one entry. Nothing here
//! changes or deletes an entry.

use async_trait::async_trait;
use comptoir_contracts::audit::{AuditEntry, AuditFilter, AuditPort, NewAuditEntry};
use comptoir_kernel::{Error, Page, PageRequest, RequestContext, Result, new_id};
use comptoir_storage::db_error;
use uuid::Uuid;

use crate::{AuditModule, domain, store};

const ENTRY: &str = "audit entry";

#[async_trait]
impl AuditPort for AuditModule {
    #[tracing::instrument(name = "audit.record", skip_all, fields(module = "audit", correlation_id = %ctx.correlation_id, entries = entries.len()))]
    async fn record(&self, ctx: &RequestContext, entries: Vec<NewAuditEntry>) -> Result<()> {
        // Checked before the unit of work begins: a refused batch takes no write lock.
        let entries = domain::entries(entries)?;
        if entries.is_empty() {
            return Ok(());
        }
        self.insert(entries).await
    }

    #[tracing::instrument(name = "audit.search", skip_all, fields(module = "audit", correlation_id = %_ctx.correlation_id))]
    async fn search(&self, _ctx: &RequestContext, filter: AuditFilter, page: PageRequest) -> Result<Page<AuditEntry>> {
        let query = domain::query(filter, page)?;
        let mut reader = self.db.reader().acquire().await.map_err(db_error)?;
        let (items, total) = store::search(&mut reader, &query, page).await?;
        Ok(Page::new(items, page, total))
    }

    #[tracing::instrument(name = "audit.get", skip_all, fields(module = "audit", correlation_id = %_ctx.correlation_id))]
    async fn get(&self, _ctx: &RequestContext, id: Uuid) -> Result<AuditEntry> {
        let mut reader = self.db.reader().acquire().await.map_err(db_error)?;
        store::get(&mut reader, id).await?.ok_or_else(|| Error::not_found(ENTRY, id))
    }
}

/// Checked entries as they are written: each with a new id, all with the same recording time.
pub(crate) fn stamped(entries: Vec<NewAuditEntry>) -> Vec<AuditEntry> {
    let recorded_at = domain::now();
    entries.into_iter().map(|entry| AuditEntry { id: new_id(), recorded_at, entry }).collect()
}

impl AuditModule {
    /// Writes checked entries in one unit of work: all or none.
    async fn insert(&self, entries: Vec<NewAuditEntry>) -> Result<()> {
        let mut uow = self.db.begin().await?;
        store::insert(&mut uow, &stamped(entries)).await?;
        uow.commit().await
    }
}
