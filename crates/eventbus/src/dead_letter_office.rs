//! The dead letters of every module, seen as one list, for operators (API and CLI): those in the
//! module databases of this process and, in a distributed topology, those the other services hold.
//! The office also reports each module's outbox backlog, reaching the same places.

use std::sync::Arc;

use async_trait::async_trait;
use comptoir_kernel::{Error, Page, PageRequest, Result};
use comptoir_storage::Db;
use comptoir_storage::dead_letters::{self, DeadLetter, Purged};
use comptoir_storage::outbox::{self, OutboxStatus};
use uuid::Uuid;

use crate::EventBus;

/// A dead letter and the module database that holds it.
#[derive(Debug, Clone)]
pub struct Filed {
    pub module: String,
    pub letter: DeadLetter,
}

/// One module's outbox, as operators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleOutbox {
    /// The module database (or role database, `api`) holding it.
    pub module: String,
    pub status: OutboxStatus,
}

/// Where dead letters are kept: one module database here, or another service. Each source is also
/// asked for the outboxes it holds, as operators watch both together.
#[async_trait]
pub trait DeadLetterSource: Send + Sync {
    /// The newest `limit`, newest first, and how many there are in all.
    async fn newest(&self, limit: i64) -> Result<(Vec<Filed>, u64)>;
    async fn find(&self, id: Uuid) -> Result<Option<Filed>>;
    /// Hands the event to its consumer again; removed on success.
    async fn replay(&self, filed: &Filed) -> Result<()>;
    /// Deletes the dead letter without replaying it; false if it was gone already.
    async fn purge(&self, filed: &Filed) -> Result<bool>;
    /// Deletes every dead letter here (those of `consumer` only, when given) without replaying
    /// them; returns how many.
    async fn purge_all(&self, consumer: Option<&str>) -> Result<u64>;
    /// The outbox of each module database here.
    async fn outboxes(&self) -> Result<Vec<ModuleOutbox>>;
}

/// The dead letters of one module database of this process.
pub struct LocalDeadLetters {
    db: Db,
    bus: Arc<dyn EventBus>,
}

#[async_trait]
impl DeadLetterSource for LocalDeadLetters {
    async fn newest(&self, limit: i64) -> Result<(Vec<Filed>, u64)> {
        let found = dead_letters::list_window(&self.db, limit).await?;
        let total = dead_letters::count(&self.db).await? as u64;
        Ok((found.into_iter().map(|letter| Filed { module: self.db.module().to_string(), letter }).collect(), total))
    }

    async fn find(&self, id: Uuid) -> Result<Option<Filed>> {
        Ok(dead_letters::get(&self.db, id).await?.map(|letter| Filed { module: self.db.module().to_string(), letter }))
    }

    async fn replay(&self, filed: &Filed) -> Result<()> {
        self.bus.replay(&filed.letter.consumer, filed.letter.id).await
    }

    async fn purge(&self, filed: &Filed) -> Result<bool> {
        let purged = dead_letters::purge(&self.db, filed.letter.id).await?;
        if let Some(purged) = &purged {
            log_purge(self.db.module(), purged);
        }
        Ok(purged.is_some())
    }

    async fn purge_all(&self, consumer: Option<&str>) -> Result<u64> {
        let purged = dead_letters::purge_all(&self.db, consumer).await?;
        for letter in &purged {
            log_purge(self.db.module(), letter);
        }
        Ok(purged.len() as u64)
    }

    async fn outboxes(&self) -> Result<Vec<ModuleOutbox>> {
        let status = outbox::status(&self.db).await?;
        Ok(vec![ModuleOutbox { module: self.db.module().to_string(), status }])
    }
}

/// Operators' record of what was thrown away: which letter, whose, what kind of event; never the
/// event's data, which may hold personal details.
fn log_purge(module: &str, purged: &Purged) {
    tracing::info!(
        dead_letter = %purged.id,
        module,
        consumer = %purged.consumer,
        event_type = %purged.event_type,
        "dead letter purged without replay"
    );
}

#[derive(Clone)]
pub struct DeadLetterOffice {
    sources: Vec<Arc<dyn DeadLetterSource>>,
}

impl DeadLetterOffice {
    /// Over the given module databases of this process.
    pub fn new(stores: Vec<Db>, bus: Arc<dyn EventBus>) -> Self {
        let sources = stores
            .into_iter()
            .map(|db| Arc::new(LocalDeadLetters { db, bus: bus.clone() }) as Arc<dyn DeadLetterSource>)
            .collect();
        DeadLetterOffice { sources }
    }

    /// Also over `source` (another service's dead letters).
    pub fn with_source(mut self, source: Arc<dyn DeadLetterSource>) -> Self {
        self.sources.push(source);
        self
    }

    /// Newest first across all sources.
    pub async fn list(&self, page: PageRequest) -> Result<Page<Filed>> {
        // Each source gives its newest `offset + limit`; merging them yields the requested page.
        let wanted = page.offset() + page.limit();
        let (mut all, total) = self.newest(wanted).await?;
        all.sort_by(|a, b| b.letter.failed_at.cmp(&a.letter.failed_at).then(a.letter.id.cmp(&b.letter.id)));
        let items = all.into_iter().skip(page.offset() as usize).take(page.limit() as usize).collect();
        Ok(Page::new(items, page, total))
    }

    /// The newest `limit` of each source (unsorted across sources) and the total.
    pub async fn newest(&self, limit: i64) -> Result<(Vec<Filed>, u64)> {
        let (mut all, mut total) = (Vec::new(), 0);
        for source in &self.sources {
            let (found, count) = source.newest(limit).await?;
            total += count;
            all.extend(found);
        }
        Ok((all, total))
    }

    pub async fn get(&self, id: Uuid) -> Result<Filed> {
        for source in &self.sources {
            if let Some(filed) = source.find(id).await? {
                return Ok(filed);
            }
        }
        Err(Error::not_found("dead letter", id))
    }

    /// Hands the event to its consumer again; removed from the store on success.
    pub async fn replay(&self, id: Uuid) -> Result<()> {
        for source in &self.sources {
            if let Some(filed) = source.find(id).await? {
                return source.replay(&filed).await;
            }
        }
        Err(Error::not_found("dead letter", id))
    }

    /// Replays every dead letter; returns (replayed, still failing).
    pub async fn replay_all(&self) -> Result<(u64, u64)> {
        let (mut replayed, mut failing) = (0, 0);
        for source in &self.sources {
            for filed in source.newest(i64::MAX).await?.0 {
                match source.replay(&filed).await {
                    Ok(()) => replayed += 1,
                    Err(e) => {
                        tracing::warn!(dead_letter = %filed.letter.id, error = %e, "replay failed");
                        failing += 1;
                    }
                }
            }
        }
        Ok((replayed, failing))
    }

    /// Deletes the dead letter without replaying it; returns what it was.
    pub async fn purge(&self, id: Uuid) -> Result<Filed> {
        for source in &self.sources {
            if let Some(filed) = source.find(id).await? {
                // Gone between the look-up and the delete: replayed or purged by someone else.
                if source.purge(&filed).await? {
                    return Ok(filed);
                }
                break;
            }
        }
        Err(Error::not_found("dead letter", id))
    }

    /// Deletes every dead letter (of `consumer` only, when given) without replaying them; returns
    /// how many.
    pub async fn purge_all(&self, consumer: Option<&str>) -> Result<u64> {
        let mut purged = 0;
        for source in &self.sources {
            purged += source.purge_all(consumer).await?;
        }
        Ok(purged)
    }

    /// Every module's outbox, by module name.
    pub async fn outboxes(&self) -> Result<Vec<ModuleOutbox>> {
        let mut all = Vec::new();
        for source in &self.sources {
            all.extend(source.outboxes().await?);
        }
        all.sort_by(|a, b| a.module.cmp(&b.module));
        Ok(all)
    }

    pub async fn count(&self) -> Result<u64> {
        Ok(self.newest(0).await?.1)
    }
}
