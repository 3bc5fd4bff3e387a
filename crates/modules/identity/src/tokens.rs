//! The secrets identity hands out: access tokens (HS256 JWTs), refresh tokens and API keys. Refresh
//! tokens and API keys are random and stored only as their SHA-256, so a copy of the database
//! lets nobody in.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use comptoir_contracts::identity::Role;
use comptoir_kernel::time::Timestamp;
use comptoir_kernel::{Error, Result, new_id};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::domain::UserKind;

/// What an access token says. Authorisation never trusts `roles` from here: the principal is
/// rebuilt from the database, so a role removed or a session revoked takes effect at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: Uuid,
    pub kind: UserKind,
    pub sid: Uuid,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<Role>,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
}

/// Signs and checks access tokens with the configured secret.
pub struct AccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    ttl: Duration,
    configured: bool,
}

impl AccessTokens {
    pub fn new(secret: &str, issuer: &str, ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        // Tokens are signed and checked by this module with one clock: no skew to allow for.
        validation.leeway = 0;
        AccessTokens {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            issuer: issuer.to_string(),
            ttl,
            configured: !secret.is_empty(),
        }
    }

    pub fn ttl_seconds(&self) -> u64 {
        self.ttl.as_secs()
    }

    pub fn issue(
        &self,
        user_id: Uuid,
        kind: UserKind,
        session_id: Uuid,
        roles: &[Role],
        now: Timestamp,
    ) -> Result<String> {
        self.require_secret()?;
        let iat = now.timestamp();
        let claims = AccessClaims {
            sub: user_id,
            kind,
            sid: session_id,
            roles: roles.to_vec(),
            iss: self.issuer.clone(),
            iat,
            exp: iat.saturating_add(i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX)),
            jti: new_id(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| Error::internal(format!("cannot sign access token: {e}")))
    }

    /// Checks signature, algorithm, issuer and expiry. Whether the session still holds is the
    /// caller's business.
    pub fn verify(&self, token: &str) -> Result<AccessClaims> {
        self.require_secret()?;
        jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation).map(|data| data.claims).map_err(
            |e| match e.kind() {
                ErrorKind::ExpiredSignature => Error::unauthorized("access token expired"),
                _ => Error::unauthorized("invalid access token"),
            },
        )
    }

    /// An empty secret would let anyone mint tokens: refuse to work rather than fail open.
    fn require_secret(&self) -> Result<()> {
        if self.configured { Ok(()) } else { Err(Error::internal("identity: jwt_secret is not configured")) }
    }
}

/// 32 random bytes, base64url without padding.
pub fn new_refresh_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

pub struct NewApiKey {
    /// `ck_<8 hex>_<43 base64url>`: given to the caller once.
    pub secret: String,
    /// `ck_<8 hex>`: kept, so that people can tell their keys apart.
    pub prefix: String,
}

pub fn new_api_key() -> NewApiKey {
    let prefix = format!("ck_{}", hex::encode(rand::random::<[u8; 4]>()));
    let secret = format!("{prefix}_{}", URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>()));
    NewApiKey { secret, prefix }
}

/// The stored form of a refresh token or API key: lowercase hex SHA-256. A fast hash is enough
/// because the secrets are 256 random bits, not something a person chose.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(secret: &str) -> AccessTokens {
        AccessTokens::new(secret, "comptoir", Duration::from_secs(900))
    }

    #[test]
    fn access_tokens_round_trip() {
        let t = tokens("a-secret-of-reasonable-length-0123456789");
        let (user, session) = (new_id(), new_id());
        let jwt = t.issue(user, UserKind::Staff, session, &[Role::Support], comptoir_kernel::time::now()).unwrap();
        let claims = t.verify(&jwt).unwrap();
        assert_eq!((claims.sub, claims.sid, claims.kind), (user, session, UserKind::Staff));
        assert_eq!(claims.roles, [Role::Support]);
        assert_eq!(claims.iss, "comptoir");
        assert_eq!(claims.exp - claims.iat, 900);
    }

    #[test]
    fn forged_expired_and_foreign_tokens_are_refused() {
        let t = tokens("the-real-secret-0123456789abcdef");
        let now = comptoir_kernel::time::now();
        let forged =
            tokens("another-secret-0123456789abcdef").issue(new_id(), UserKind::Customer, new_id(), &[], now).unwrap();
        assert_eq!(t.verify(&forged).unwrap_err().status(), 401);

        let old = now - chrono::TimeDelta::hours(1);
        let expired = t.issue(new_id(), UserKind::Customer, new_id(), &[], old).unwrap();
        assert_eq!(t.verify(&expired).unwrap_err().to_string(), "access token expired");

        let other_issuer = AccessTokens::new("the-real-secret-0123456789abcdef", "elsewhere", Duration::from_secs(900))
            .issue(new_id(), UserKind::Customer, new_id(), &[], now)
            .unwrap();
        assert_eq!(t.verify(&other_issuer).unwrap_err().status(), 401);
        assert_eq!(t.verify("not.a.jwt").unwrap_err().status(), 401);
    }

    #[test]
    fn an_empty_secret_fails_closed() {
        let t = tokens("");
        assert!(
            t.issue(new_id(), UserKind::Customer, new_id(), &[], comptoir_kernel::time::now())
                .unwrap_err()
                .is_internal()
        );
        assert!(t.verify("x.y.z").unwrap_err().is_internal());
    }

    #[test]
    fn secrets_have_the_documented_shape() {
        let refresh = new_refresh_token();
        assert_eq!(URL_SAFE_NO_PAD.decode(&refresh).unwrap().len(), 32);
        assert_ne!(refresh, new_refresh_token());

        let key = new_api_key();
        assert_eq!(key.prefix.len(), 11);
        assert!(key.prefix.starts_with("ck_") && key.prefix[3..].bytes().all(|b| b.is_ascii_hexdigit()));
        let random = key.secret.strip_prefix(&format!("{}_", key.prefix)).unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(random).unwrap().len(), 32);

        assert_eq!(digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
