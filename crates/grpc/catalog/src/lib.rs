//! The catalog module over gRPC: the contract (proto/comptoir/catalog/v1/catalog.proto), a server
//! exposing any `CatalogPort`, and a client that is a `CatalogPort` backed by a remote catalog
//! service.

pub mod client;
pub mod convert;
pub mod server;

/// Generated from proto/comptoir/catalog/v1/catalog.proto.
pub mod pb {
    tonic::include_proto!("comptoir.catalog.v1");
}

pub use client::CatalogClient;
pub use server::{CatalogServer, service};
