//! The inventory module over gRPC: the contract (proto/comptoir/inventory/v1/inventory.proto), a
//! server exposing any `InventoryPort`, and a client that is an `InventoryPort` backed by a remote
//! inventory service.

pub mod client;
pub mod convert;
pub mod server;

/// Generated from proto/comptoir/inventory/v1/inventory.proto.
pub mod pb {
    tonic::include_proto!("comptoir.inventory.v1");
}

pub use client::InventoryClient;
pub use server::{InventoryServer, service};
