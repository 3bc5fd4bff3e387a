//! Identity's events that are staff actions or security events, recorded as the audit module's
//! own entries (source `audit`). Each is written in one unit of work with its inbox claim, so a
//! redelivered event records nothing more.
//!
//! | event | category | target | detail |
//! |---|---|---|---|
//! | `auth.staff.created` | action | `staff:<id>` | staff id, e-mail, name, roles |
//! | `auth.seller.created` | action | `seller:<id>` | seller id, name, e-mail |
//! | `auth.apikey.created`, `.revoked` | security | `apikey:<id>` | key id, name, prefix, scopes |
//! | `auth.session.created`, `.revoked` (staff) | security | `staff:<id>` | session id |
//!
//! The actor is the envelope's (`metadata.actor_type`, `metadata.actor_id`): the staff member or
//! app that made the change, or the staff member signing in. Every detail also names the event
//! (`event_id`), to trace an entry back to it.
//!
//! **Customer sessions are not recorded.** A customer signing in or out is neither a staff action
//! nor a threat to the back office, and on a busy shop it would drown the staff's entries; their
//! events are skipped without a write (not even an inbox claim). Failed sign-ins, of customers and
//! staff alike, are recorded by the front-ends, which alone see them.
//!
//! **Never stored:** an API key's secret or hash, a password, a token. The events carry none of
//! them; the key's prefix (shown in the back office to tell keys apart) is not a secret.

use async_trait::async_trait;
use comptoir_contracts::audit::{AuditCategory, AuditOutcome, NewAuditEntry};
use comptoir_contracts::identity::events::{
    API_KEY_CREATED, API_KEY_REVOKED, ApiKeyEvent, SELLER_CREATED, SESSION_CREATED, SESSION_REVOKED, STAFF_CREATED,
    SellerCreated, SessionEvent, StaffCreated,
};
use comptoir_eventbus::EventHandler;
use comptoir_kernel::{EventEnvelope, Result};
use serde_json::{Value, json};

use crate::service::stamped;
use crate::{AuditModule, domain, store};

/// The consumer of identity's events.
pub const IDENTITY: &str = "audit.identity";

/// The events [`IDENTITY`] subscribes to.
pub(crate) const IDENTITY_EVENTS: &[&str] =
    &[STAFF_CREATED, SELLER_CREATED, API_KEY_CREATED, API_KEY_REVOKED, SESSION_CREATED, SESSION_REVOKED];

/// The `source` of the entries this module records itself.
pub const SOURCE: &str = "audit";

/// `SessionEvent::user_kind` of a staff member's session.
const STAFF: &str = "staff";

pub struct Handlers {
    pub(crate) module: AuditModule,
}

#[async_trait]
impl EventHandler for Handlers {
    async fn handle(&self, event: &EventEnvelope) -> Result<()> {
        match entry_for(event)? {
            Some(entry) => self.module.record_event(event, entry).await,
            None => Ok(()),
        }
    }
}

/// The entry an event stands for, or none for an event that is not audited.
fn entry_for(event: &EventEnvelope) -> Result<Option<NewAuditEntry>> {
    let (category, target, mut detail) = match event.event_type.as_str() {
        STAFF_CREATED => {
            let staff: StaffCreated = event.data_as()?;
            let detail = json!({
                "staff_id": staff.staff_id, "email": staff.email, "name": staff.name, "roles": staff.roles,
            });
            (AuditCategory::Action, format!("staff:{}", staff.staff_id), detail)
        }
        SELLER_CREATED => {
            let seller: SellerCreated = event.data_as()?;
            let detail = json!({ "seller_id": seller.seller_id, "name": seller.name, "email": seller.email });
            (AuditCategory::Action, format!("seller:{}", seller.seller_id), detail)
        }
        API_KEY_CREATED | API_KEY_REVOKED => {
            let key: ApiKeyEvent = event.data_as()?;
            let detail = json!({ "key_id": key.key_id, "name": key.name, "prefix": key.prefix, "scopes": key.scopes });
            (AuditCategory::Security, format!("apikey:{}", key.key_id), detail)
        }
        SESSION_CREATED | SESSION_REVOKED => {
            let session: SessionEvent = event.data_as()?;
            if session.user_kind != STAFF {
                return Ok(None);
            }
            // The staff member is the target, not the session: an admin reads who signed in or
            // was signed out (a revocation may come from another staff member, or from the
            // system when a stolen refresh token is replayed).
            (AuditCategory::Security, format!("staff:{}", session.user_id), json!({ "session_id": session.session_id }))
        }
        _ => return Ok(None),
    };
    if let Value::Object(map) = &mut detail {
        map.insert("event_id".into(), json!(event.id));
    }
    Ok(Some(NewAuditEntry {
        occurred_at: event.timestamp,
        category,
        action: event.event_type.clone(),
        outcome: AuditOutcome::Success,
        actor_type: event.metadata.actor_type,
        actor_id: event.metadata.actor_id.clone(),
        // Events name the actor by id only; the front-ends' entries carry the labels.
        actor_label: None,
        target: Some(target),
        status: None,
        // Envelopes always carry one; an empty one (a foreign publisher) falls back to the event
        // id rather than leaving the event dead-lettered for good.
        correlation_id: if event.correlation_id.trim().is_empty() {
            event.id.to_string()
        } else {
            event.correlation_id.clone()
        },
        ip: None,
        source: SOURCE.to_string(),
        detail,
    }))
}

impl AuditModule {
    /// Checks and writes the entry with the event's inbox claim; nothing if it was handled before.
    async fn record_event(&self, event: &EventEnvelope, entry: NewAuditEntry) -> Result<()> {
        let checked = domain::entries(vec![entry])?;
        let mut uow = self.db.begin().await?;
        if !uow.claim_inbox(IDENTITY, event.id).await? {
            return Ok(());
        }
        store::insert(&mut uow, &stamped(checked)).await?;
        uow.commit().await
    }
}
