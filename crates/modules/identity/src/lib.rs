//! Identity: who may do what in Comptoir.
//!
//! The module owns customer and staff accounts (argon2id password hashes, an email unique per kind
//! of account), login sessions with short-lived JWT access tokens and single-use, rotating refresh
//! tokens, staff roles (and through them permissions), customers' tiers and addresses, sellers,
//! and API keys for third-party applications. It implements [`IdentityPort`] and
//! [`SellerDirectory`].
//!
//! It publishes `auth.user.registered`, `auth.session.created`, `auth.session.revoked` (logout, or a
//! refresh token presented twice), `auth.staff.created`, `auth.customer.tier_changed`,
//! `auth.address.changed`, `auth.seller.created`, `auth.apikey.created` and `auth.apikey.revoked`.
//! No event ever carries a password, a hash or a token. It consumes no events.
//!
//! [`IdentityPort`]: comptoir_contracts::identity::IdentityPort
//! [`SellerDirectory`]: comptoir_contracts::identity::SellerDirectory

mod domain;
mod password;
mod service;
mod store;
mod tokens;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use comptoir_kernel::Result;
use comptoir_storage::{Db, Migrations};

use uuid::Uuid;

use crate::tokens::AccessTokens;

/// The schema is plain enough to be the same SQL on SQLite and PostgreSQL.
const SCHEMA: &[(i64, &str, &str)] = &[(1, "identity", include_str!("../migrations/portable/0001_identity.sql"))];

pub const MIGRATIONS: Migrations = Migrations { sqlite: SCHEMA, postgres: SCHEMA };

/// The name identity's events carry as their source.
const SOURCE: &str = "identity";

/// A cap on `refresh_ttl`, so that expiry dates stay within what timestamps can hold.
const LONGEST_SESSION: Duration = Duration::from_secs(10 * 366 * 24 * 60 * 60);

#[derive(Clone)]
pub struct IdentityConfig {
    /// Signs access tokens (HS256). Use at least 32 random bytes; with an empty secret no token is
    /// issued or accepted.
    pub jwt_secret: String,
    /// Lifetime of an access token.
    pub access_ttl: Duration,
    /// How long a session lives without being refreshed; each refresh extends it.
    pub refresh_ttl: Duration,
    /// The `iss` claim written into and required from access tokens.
    pub issuer: String,
}

impl IdentityConfig {
    /// The defaults with the given secret.
    pub fn with_secret(jwt_secret: impl Into<String>) -> Self {
        IdentityConfig { jwt_secret: jwt_secret.into(), ..Self::default() }
    }
}

/// Everything but the secret, which has no sensible default.
impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            jwt_secret: String::new(),
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 60 * 60),
            issuer: "comptoir".to_string(),
        }
    }
}

/// Shows everything but the secret, so that configuration can be logged.
impl fmt::Debug for IdentityConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityConfig")
            .field("jwt_secret", &if self.jwt_secret.is_empty() { "<empty>" } else { "<redacted>" })
            .field("access_ttl", &self.access_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .field("issuer", &self.issuer)
            .finish()
    }
}

/// The identity module; cheap to clone.
#[derive(Clone)]
pub struct IdentityModule {
    db: Db,
    tokens: Arc<AccessTokens>,
    refresh_ttl: chrono::TimeDelta,
}

impl IdentityModule {
    pub fn new(db: Db, config: IdentityConfig) -> Self {
        if config.jwt_secret.len() < 32 {
            tracing::warn!(
                bytes = config.jwt_secret.len(),
                "identity: jwt_secret is shorter than 32 bytes; tokens are weak (or, if empty, refused)"
            );
        }
        IdentityModule {
            db,
            tokens: Arc::new(AccessTokens::new(&config.jwt_secret, &config.issuer, config.access_ttl)),
            refresh_ttl: chrono::TimeDelta::from_std(config.refresh_ttl.min(LONGEST_SESSION))
                .unwrap_or(chrono::TimeDelta::days(30)),
        }
    }

    /// How many staff accounts exist; the CLI offers to create the first admin when there are none.
    pub async fn staff_count(&self) -> Result<i64> {
        store::count_staff(self.db.reader()).await
    }
}

/// Checks an access token's signature, issuer and expiry without a database, so that a gateway in
/// front of the identity service turns forged and expired tokens away itself. Whether the session
/// still holds is the identity port's answer (which a gateway may cache).
pub struct TokenVerifier(AccessTokens);

/// Who an access token was issued to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedToken {
    pub user_id: Uuid,
    pub session_id: Uuid,
}

impl TokenVerifier {
    pub fn new(config: &IdentityConfig) -> Self {
        TokenVerifier(AccessTokens::new(&config.jwt_secret, &config.issuer, config.access_ttl))
    }

    pub fn verify(&self, token: &str) -> Result<VerifiedToken> {
        let claims = self.0.verify(token)?;
        Ok(VerifiedToken { user_id: claims.sub, session_id: claims.sid })
    }
}
