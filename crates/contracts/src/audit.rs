//! Audit: who did what, when, under which correlation id. Every staff action (a change made
//! through the API or the back office by a staff member or an API key) and every security event
//! (a failed login, a permission denied, an API key used, a bad credential) is recorded, and
//! admins read the log with filters. Entries are never changed or deleted through the port.
//!
//! The front-ends record what they see (they alone know the outcome of a request); identity's
//! events (staff created, API keys created and revoked, sessions) are recorded by the audit
//! module itself as it consumes them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use comptoir_kernel::{ActorType, Page, PageRequest, RequestContext, Result};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The most entries one `record` call takes.
pub const MAX_BATCH: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditCategory {
    /// A change made by staff or an app.
    Action,
    /// Authentication and authorisation: failed logins, denials, API key use, credentials.
    Security,
}

impl AuditCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditCategory::Action => "action",
            AuditCategory::Security => "security",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    Success,
    /// Refused for bad input or a conflict (a 4xx other than 401 and 403), or failed (5xx).
    Failure,
    /// Refused for missing or bad credentials or a missing permission.
    Denied,
}

impl AuditOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Success => "success",
            AuditOutcome::Failure => "failure",
            AuditOutcome::Denied => "denied",
        }
    }

    /// The outcome an HTTP status code stands for.
    pub fn of_status(status: u16) -> Self {
        match status {
            401 | 403 => AuditOutcome::Denied,
            s if s < 400 => AuditOutcome::Success,
            _ => AuditOutcome::Failure,
        }
    }
}

/// Well-known actions; front-ends name staff actions after their route
/// (`POST /admin/products/{id}/publish`).
pub mod actions {
    pub const LOGIN_FAILED: &str = "auth.login.failed";
    pub const LOGIN_SUCCEEDED: &str = "auth.login.succeeded";
    pub const PERMISSION_DENIED: &str = "auth.permission.denied";
    pub const CREDENTIALS_REJECTED: &str = "auth.credentials.rejected";
    pub const API_KEY_USED: &str = "auth.apikey.used";
}

/// An entry to record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NewAuditEntry {
    /// When it happened (the front-end's clock), not when it was written.
    pub occurred_at: DateTime<Utc>,
    pub category: AuditCategory,
    /// `auth.login.failed`, `POST /admin/products/{id}/publish`, `auth.apikey.created`, ...
    pub action: String,
    pub outcome: AuditOutcome,
    pub actor_type: ActorType,
    /// A staff member's or customer's id, an API key's id; none for an anonymous caller.
    pub actor_id: Option<String>,
    /// What people read for the actor: an e-mail address, an API key's name.
    pub actor_label: Option<String>,
    /// What was acted on: the request's path, or the resource (`product:6f1c…`).
    pub target: Option<String>,
    /// The HTTP status answered, for what came through a front-end.
    pub status: Option<u16>,
    pub correlation_id: String,
    /// The client's address as the front-end saw it.
    pub ip: Option<String>,
    /// Which front-end or module recorded it: `api`, `backoffice`, `audit` (from events).
    pub source: String,
    /// Anything else worth keeping (the e-mail a failed login tried, the permission missing).
    /// Never a password, a token or a key.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// A recorded entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    pub id: Uuid,
    pub recorded_at: DateTime<Utc>,
    #[serde(flatten)]
    pub entry: NewAuditEntry,
}

/// Which entries to read, newest first. Every filter given must hold.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    pub category: Option<AuditCategory>,
    pub outcome: Option<AuditOutcome>,
    pub actor_id: Option<String>,
    /// Actions starting with this (`auth.`, `POST /admin/products`).
    pub action: Option<String>,
    pub correlation_id: Option<String>,
    /// Occurred at or after.
    pub from: Option<DateTime<Utc>>,
    /// Occurred before.
    pub to: Option<DateTime<Utc>>,
    /// Words found in the actor's label, the action or the target.
    pub q: Option<String>,
}

#[async_trait]
pub trait AuditPort: Send + Sync {
    /// Records entries, all or none; at most [`MAX_BATCH`] per call. An entry without an action
    /// or correlation id is 422 naming it (`entries[3].action`).
    async fn record(&self, ctx: &RequestContext, entries: Vec<NewAuditEntry>) -> Result<()>;
    async fn search(&self, ctx: &RequestContext, filter: AuditFilter, page: PageRequest) -> Result<Page<AuditEntry>>;
    async fn get(&self, ctx: &RequestContext, id: Uuid) -> Result<AuditEntry>;
}
