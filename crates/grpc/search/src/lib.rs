//! The search module over gRPC: the contract (proto/comptoir/search/v1/search.proto), a server
//! exposing any `SearchPort`, and a client that is a `SearchPort` backed by a remote search
//! service.

pub mod client;
pub mod convert;
pub mod server;

/// Generated from proto/comptoir/search/v1/search.proto.
pub mod pb {
    tonic::include_proto!("comptoir.search.v1");
}

pub use client::SearchClient;
pub use server::{SearchServer, service};
