//! The shared kernel of Comptoir: the few types every module agrees on.
//!
//! It holds identifiers, money, the error vocabulary shared by ports and adapters, the domain event
//! envelope, the request context that carries the correlation id and the actor, and pagination.
//! It does no I/O, so every crate can depend on it and it compiles in seconds.

pub mod context;
pub mod country;
pub mod error;
pub mod event;
pub mod id;
pub mod money;
pub mod page;
pub mod time;
pub mod validate;

pub use context::{Actor, ActorType, RequestContext};
pub use error::{Error, FieldError, Result};
pub use event::{EventEnvelope, EventMetadata};
pub use id::new_id;
pub use money::{Currency, Money};
pub use page::{Page, PageRequest};
