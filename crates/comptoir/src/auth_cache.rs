//! Authentication where the identity module runs elsewhere (the gateway, or a monolith whose
//! identity was extracted): tokens are checked locally (signature, issuer, expiry) so forged and
//! expired ones never cost a remote call, and the identity service's answer for a session or an
//! API key is cached for a short while.
//!
//! Revocations reach every instance: one instance relays each `auth.session.revoked`,
//! `auth.apikey.revoked` and `auth.customer.tier_changed` as the broadcast `system.auth.revoked`,
//! which every instance's cache consumes. A logout through this instance forgets its session at
//! once. If a broadcast is ever lost, the cache's time to live bounds the staleness.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use comptoir_api::Authenticator;
use comptoir_contracts::identity::{IdentityPort, Principal, events as identity_events};
use comptoir_eventbus::{Consumer, EventBus, EventHandler};
use comptoir_identity::TokenVerifier;
use comptoir_kernel::{EventEnvelope, Result};
use comptoir_storage::Db;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The broadcast telling every instance to forget what it cached for a session, key or user.
pub const REVOKED: &str = "system.auth.revoked";
/// Entries kept at most; past it, expired entries go, then all if still full.
const CAPACITY: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Credential {
    Session(Uuid),
    ApiKey([u8; 32]),
}

struct Entry {
    principal: Principal,
    expires: Instant,
}

pub struct CachedAuthenticator {
    identity: Arc<dyn IdentityPort>,
    verifier: TokenVerifier,
    ttl: Duration,
    entries: Mutex<HashMap<Credential, Entry>>,
}

impl CachedAuthenticator {
    pub fn new(identity: Arc<dyn IdentityPort>, verifier: TokenVerifier, ttl: Duration) -> Arc<Self> {
        Arc::new(CachedAuthenticator { identity, verifier, ttl, entries: Mutex::new(HashMap::new()) })
    }

    fn cached(&self, credential: &Credential) -> Option<Principal> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(credential).filter(|e| e.expires > Instant::now()).map(|e| e.principal.clone())
    }

    fn remember(&self, credential: Credential, principal: &Principal) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CAPACITY {
            let now = Instant::now();
            entries.retain(|_, e| e.expires > now);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(credential, Entry { principal: principal.clone(), expires: Instant::now() + self.ttl });
    }

    /// Forgets every entry the revocation concerns.
    pub fn forget(&self, revoked: &Revoked) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|credential, entry| {
            let session = matches!(credential, Credential::Session(id) if Some(*id) == revoked.session_id);
            let (user, key) = match &entry.principal {
                Principal::Customer { id, .. } | Principal::Staff { id, .. } => (Some(*id), None),
                Principal::App { key_id, .. } => (None, Some(*key_id)),
            };
            let user = user.is_some() && user == revoked.user_id;
            let key = key.is_some() && key == revoked.key_id;
            !(session || user || key)
        });
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl Authenticator for CachedAuthenticator {
    async fn bearer(&self, token: &str) -> Result<Principal> {
        let verified = self.verifier.verify(token)?;
        let credential = Credential::Session(verified.session_id);
        if let Some(principal) = self.cached(&credential) {
            return Ok(principal);
        }
        let principal = self.identity.authenticate_token(token).await?;
        self.remember(credential, &principal);
        Ok(principal)
    }

    async fn api_key(&self, key: &str) -> Result<Principal> {
        let credential = Credential::ApiKey(Sha256::digest(key.as_bytes()).into());
        if let Some(principal) = self.cached(&credential) {
            return Ok(principal);
        }
        let principal = self.identity.authenticate_api_key(key).await?;
        self.remember(credential, &principal);
        Ok(principal)
    }

    fn forget_session(&self, session_id: Uuid) {
        self.forget(&Revoked { session_id: Some(session_id), ..Revoked::default() });
    }

    fn forget_api_key(&self, key_id: Uuid) {
        self.forget(&Revoked { key_id: Some(key_id), ..Revoked::default() });
    }

    fn forget_user(&self, user_id: Uuid) {
        self.forget(&Revoked { user_id: Some(user_id), ..Revoked::default() });
    }
}

/// What `system.auth.revoked` carries: any of a session, a user (tier or roles changed) or a key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Revoked {
    #[serde(default)]
    pub session_id: Option<Uuid>,
    #[serde(default)]
    pub user_id: Option<Uuid>,
    #[serde(default)]
    pub key_id: Option<Uuid>,
}

/// Turns identity's events into the broadcast (one instance of the consumer handles each).
struct RevocationRelay {
    bus: Arc<dyn EventBus>,
}

#[async_trait]
impl EventHandler for RevocationRelay {
    async fn handle(&self, event: &EventEnvelope) -> Result<()> {
        let field = |name: &str| event.data.get(name).and_then(|v| v.as_str()).and_then(|s| Uuid::parse_str(s).ok());
        let revoked = match event.event_type.as_str() {
            identity_events::SESSION_REVOKED => Revoked { session_id: field("session_id"), ..Revoked::default() },
            identity_events::API_KEY_REVOKED => Revoked { key_id: field("key_id"), ..Revoked::default() },
            identity_events::CUSTOMER_TIER_CHANGED => Revoked { user_id: field("customer_id"), ..Revoked::default() },
            _ => return Ok(()),
        };
        let data = serde_json::to_value(&revoked).map_err(|e| comptoir_kernel::Error::internal(e.to_string()))?;
        let ctx = comptoir_kernel::RequestContext::new(event.correlation_id.clone(), comptoir_kernel::Actor::system());
        self.bus.publish(&EventEnvelope::new(&ctx, "gateway", REVOKED, data)).await
    }
}

/// Every instance's cache listens to the broadcast.
struct RevocationListener {
    cache: Arc<CachedAuthenticator>,
}

#[async_trait]
impl EventHandler for RevocationListener {
    async fn handle(&self, event: &EventEnvelope) -> Result<()> {
        if event.event_type == REVOKED
            && let Ok(revoked) = serde_json::from_value::<Revoked>(event.data.clone())
        {
            self.cache.forget(&revoked);
            metrics::counter!("comptoir_auth_cache_revocations_total").increment(1);
        }
        Ok(())
    }
}

/// Subscribes the relay (shared by the instances) and this instance's listener.
pub async fn subscribe(bus: &Arc<dyn EventBus>, db: &Db, cache: Arc<CachedAuthenticator>) -> Result<()> {
    let patterns =
        [identity_events::SESSION_REVOKED, identity_events::API_KEY_REVOKED, identity_events::CUSTOMER_TIER_CHANGED];
    let relay = Arc::new(RevocationRelay { bus: bus.clone() });
    bus.subscribe(Consumer::new("gateway.auth-revocations", &patterns, db.clone(), relay)).await?;
    bus.subscribe(Consumer::broadcast("instance.auth-cache", db.clone(), Arc::new(RevocationListener { cache }))).await
}
