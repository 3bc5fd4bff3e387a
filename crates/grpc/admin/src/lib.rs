//! The admin module over gRPC: the contract (proto/comptoir/admin/v1/admin.proto), a server
//! exposing any `AdminPort`, and a client that is an `AdminPort` backed by a remote admin service.

pub mod client;
pub mod convert;
pub mod server;

/// Generated from proto/comptoir/admin/v1/admin.proto.
pub mod pb {
    tonic::include_proto!("comptoir.admin.v1");
}

pub use client::AdminClient;
pub use server::{AdminServer, service};
