//! The dead letters of every module database seen as one list, for operators (API and CLI).

use std::sync::Arc;

use comptoir_kernel::{Error, Page, PageRequest, Result};
use comptoir_storage::Db;
use comptoir_storage::dead_letters::{self, DeadLetter};
use uuid::Uuid;

use crate::EventBus;

#[derive(Clone)]
pub struct DeadLetterOffice {
    stores: Vec<Db>,
    bus: Arc<dyn EventBus>,
}

/// A dead letter and the module database that holds it.
#[derive(Debug, Clone)]
pub struct Filed {
    pub module: &'static str,
    pub letter: DeadLetter,
}

impl DeadLetterOffice {
    pub fn new(stores: Vec<Db>, bus: Arc<dyn EventBus>) -> Self {
        DeadLetterOffice { stores, bus }
    }

    /// Newest first across all modules.
    pub async fn list(&self, page: PageRequest) -> Result<Page<Filed>> {
        // Each store gives its newest `offset + limit`; merging them yields the requested page.
        let wanted = (page.offset() + page.limit()) as usize;
        let mut all = Vec::new();
        let mut total = 0;
        for db in &self.stores {
            let found = dead_letters::list_window(db, wanted as i64).await?;
            total += dead_letters::count(db).await? as u64;
            all.extend(found.into_iter().map(|letter| Filed { module: db.module(), letter }));
        }
        all.sort_by(|a, b| b.letter.failed_at.cmp(&a.letter.failed_at).then(a.letter.id.cmp(&b.letter.id)));
        let items = all.into_iter().skip(page.offset() as usize).take(page.limit() as usize).collect();
        Ok(Page::new(items, page, total))
    }

    pub async fn get(&self, id: Uuid) -> Result<Filed> {
        for db in &self.stores {
            if let Some(letter) = dead_letters::get(db, id).await? {
                return Ok(Filed { module: db.module(), letter });
            }
        }
        Err(Error::not_found("dead letter", id))
    }

    /// Hands the event to its consumer again; removed from the store on success.
    pub async fn replay(&self, id: Uuid) -> Result<()> {
        let filed = self.get(id).await?;
        self.bus.replay(&filed.letter.consumer, id).await
    }

    /// Replays every dead letter; returns (replayed, still failing).
    pub async fn replay_all(&self) -> Result<(u64, u64)> {
        let (mut replayed, mut failing) = (0, 0);
        for db in &self.stores {
            for letter in dead_letters::list_window(db, i64::MAX).await? {
                match self.bus.replay(&letter.consumer, letter.id).await {
                    Ok(()) => replayed += 1,
                    Err(e) => {
                        tracing::warn!(dead_letter = %letter.id, error = %e, "replay failed");
                        failing += 1;
                    }
                }
            }
        }
        Ok((replayed, failing))
    }

    pub async fn count(&self) -> Result<u64> {
        let mut total = 0;
        for db in &self.stores {
            total += dead_letters::count(db).await? as u64;
        }
        Ok(total)
    }
}
