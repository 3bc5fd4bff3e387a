//! Identifiers are UUID v7: unique without coordination and ordered by creation time, which keeps
//! B-tree indexes compact and lets the outbox relay events in the order they were written.

use uuid::Uuid;

/// A new time-ordered identifier.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}
