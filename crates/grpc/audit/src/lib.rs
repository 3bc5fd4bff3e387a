//! The audit module over gRPC: the contract (proto/comptoir/audit/v1/audit.proto), a server
//! exposing any `AuditPort`, and a client that is an `AuditPort` backed by a remote audit service.

pub mod client;
pub mod convert;
pub mod server;

/// Generated from proto/comptoir/audit/v1/audit.proto.
pub mod pb {
    tonic::include_proto!("comptoir.audit.v1");
}

pub use client::AuditClient;
pub use server::{AuditServer, service};
