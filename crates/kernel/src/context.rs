//! Who is acting and under which correlation id. Every port call takes a [`RequestContext`] so that
//! events, logs and remote calls carry the same correlation id as the request that caused them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorType {
    /// A customer or a staff member.
    User,
    /// A third-party application using an API key.
    App,
    /// Comptoir itself: background jobs, event handlers, the CLI.
    System,
}

impl ActorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorType::User => "user",
            ActorType::App => "app",
            ActorType::System => "system",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub id: Option<String>,
    pub kind: ActorType,
}

impl Actor {
    pub fn system() -> Self {
        Actor { id: None, kind: ActorType::System }
    }
    pub fn user(id: impl ToString) -> Self {
        Actor { id: Some(id.to_string()), kind: ActorType::User }
    }
    pub fn app(id: impl ToString) -> Self {
        Actor { id: Some(id.to_string()), kind: ActorType::App }
    }
}

#[derive(Debug, Clone)]
pub struct RequestContext {
    pub correlation_id: String,
    pub actor: Actor,
    pub shop_id: String,
}

/// The shop every request belongs to until multi-shop arrives.
pub const DEFAULT_SHOP: &str = "default";

impl RequestContext {
    pub fn new(correlation_id: impl Into<String>, actor: Actor) -> Self {
        RequestContext { correlation_id: correlation_id.into(), actor, shop_id: DEFAULT_SHOP.to_string() }
    }

    /// A context for work Comptoir starts itself, with a fresh correlation id.
    pub fn system() -> Self {
        Self::new(new_correlation_id(), Actor::system())
    }

    /// The same correlation id, acting as the system (an event handler continuing a request's work).
    pub fn as_system(&self) -> Self {
        RequestContext {
            correlation_id: self.correlation_id.clone(),
            actor: Actor::system(),
            shop_id: self.shop_id.clone(),
        }
    }
}

pub fn new_correlation_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Whether a client-supplied correlation id is safe to echo and log: 1 to 128 characters of
/// letters, digits, `-`, `_`, `.` and `:`.
pub fn is_valid_correlation_id(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 128
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_ids_are_checked_before_they_are_echoed() {
        assert!(is_valid_correlation_id("req-42_a.b:c"));
        assert!(!is_valid_correlation_id(""));
        assert!(!is_valid_correlation_id("has space"));
        assert!(!is_valid_correlation_id("line\nbreak"));
        assert!(!is_valid_correlation_id(&"x".repeat(129)));
    }
}
