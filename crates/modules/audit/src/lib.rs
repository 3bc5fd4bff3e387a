//! Audit: who did what, when, under which correlation id. An append-only log in the module's own
//! database, written through [`AuditPort::record`](comptoir_contracts::audit::AuditPort::record)
//! and read by admins through `search` (filters, newest first, paginated) and `get`.
//!
//! **What is recorded, and by whom.**
//! - The front-ends (the REST API, the back office) record what they alone see: every staff
//!   action (a change made by a staff member or an API key, with the HTTP status it got) and every
//!   security event at their door (a failed login, a permission denied, an API key used, bad
//!   credentials), in batches of at most [`MAX_BATCH`](comptoir_contracts::audit::MAX_BATCH).
//! - The module itself records identity's events as it consumes them (consumer [`IDENTITY`],
//!   source `audit`): staff and sellers created (category `action`), API keys created and revoked,
//!   staff sessions opened and closed (category `security`). Customer sessions are skipped: a
//!   customer signing in is no staff action and no threat to the back office, and would drown
//!   the staff's entries (failed sign-ins of anyone are recorded by the front-ends).
//!
//! **Checks.** A batch is written all or none, in one unit of work; one bad entry refuses it with
//! a 422 naming every bad field (`entries[3].action`). An entry needs an action (at most 200
//! characters), a correlation id and a source; the actor's label and the target hold at most 500
//! characters; no text may hold control characters; the detail is a JSON object (null is kept as
//! `{}`) of at most 8 KiB and 32 levels. Text is kept trimmed, blank optional text as absent, and
//! instants to the microsecond.
//!
//! **Reading.** Every filter given must hold: category, outcome, actor id and correlation id
//! exactly, the action by prefix (case-sensitive), `from` (inclusive) and `to` (exclusive) on when
//! it occurred, and each word of `q` somewhere in the actor's label, the action or the target,
//! ignoring case, `%` and `_` matching themselves. Newest first (`occurred_at`, then id); the
//! indexes serve the whole log and the actor, correlation id and category filters in that order.
//!
//! **Retention.** Entries are never changed, nor deleted through the port.
//! [`AuditModule::prune_older_than`] deletes those that occurred more than so many days ago, for
//! the operator's schedule to call; nothing prunes by itself.
//!
//! **Never stored:** passwords, tokens, API key secrets or hashes. The module cannot tell a secret
//! in a recorder's detail from any other text, so the recorders must leave them out; its own
//! entries hold none (identity's events carry none).
//!
//! Consumes `auth.staff.created`, `auth.seller.created`, `auth.apikey.created|revoked` and
//! `auth.session.created|revoked` (consumer `audit.identity`). Publishes nothing.

mod consumers;
mod domain;
mod service;
mod store;

use std::sync::Arc;

use comptoir_eventbus::Consumer;
use comptoir_kernel::{Error, Result};
use comptoir_storage::{Db, Migrations};

pub use consumers::{IDENTITY, SOURCE};

const SCHEMA: &[(i64, &str, &str)] = &[(1, "audit", include_str!("../migrations/portable/0001_audit.sql"))];

pub const MIGRATIONS: Migrations = Migrations { sqlite: SCHEMA, postgres: SCHEMA };

/// Entries deleted per unit of work when pruning: each batch is a short write, so recorders never
/// wait long behind a large prune (SQLite has one writer).
const PRUNE_BATCH: i64 = 5_000;

/// The audit module; cheap to clone.
#[derive(Clone)]
pub struct AuditModule {
    db: Db,
}

impl AuditModule {
    pub fn new(db: Db) -> Self {
        AuditModule { db }
    }

    /// The event consumers to subscribe on the bus.
    pub fn consumers(&self) -> Vec<Consumer> {
        let handler = Arc::new(consumers::Handlers { module: self.clone() });
        vec![Consumer::new(IDENTITY, consumers::IDENTITY_EVENTS, self.db.clone(), handler)]
    }

    /// Deletes the entries that occurred more than `days` days ago (at least 1), oldest first, in
    /// short units of work; answers how many. Not part of the port: an operator's retention
    /// schedule calls it, no recorder or reader can.
    #[tracing::instrument(name = "audit.prune", skip(self), fields(module = "audit"))]
    pub async fn prune_older_than(&self, days: u32) -> Result<u64> {
        if days == 0 {
            return Err(Error::validation("days", "must be 1 or more"));
        }
        let Some(before) = domain::now().checked_sub_signed(chrono::Duration::days(i64::from(days))) else {
            return Ok(0);
        };
        // Older than the first instant an entry may hold: nothing to delete.
        let Ok(before) = domain::instant("days", before) else {
            return Ok(0);
        };
        let mut pruned = 0;
        loop {
            let mut uow = self.db.begin().await?;
            let deleted = store::prune(&mut uow, &before, PRUNE_BATCH).await?;
            uow.commit().await?;
            pruned += deleted;
            if deleted < PRUNE_BATCH as u64 {
                break;
            }
        }
        tracing::info!(pruned, days, "audit entries pruned");
        Ok(pruned)
    }
}
