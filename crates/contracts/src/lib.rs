//! The contracts between modules: one port (an async trait) per module, the types that cross it,
//! and the payloads of the events each module publishes.
//!
//! A module depends on this crate, never on another module. Each port has an in-process
//! implementation (the module itself) and, in distributed mode, a remote one; callers hold an
//! `Arc<dyn Port>` and cannot tell which.

pub mod address;
pub mod admin;
pub mod audit;
pub mod billing;
pub mod cart;
pub mod catalog;
pub mod identity;
pub mod inventory;
pub mod notification;
pub mod ordering;
pub mod payment;
pub mod pos;
pub mod recommendations;
pub mod reporting;
pub mod search;
pub mod shipping;
pub mod webhooks;

pub use comptoir_kernel as kernel;
