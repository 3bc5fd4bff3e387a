//! The identity module over gRPC: the contract (proto/comptoir/identity/v1/identity.proto), a
//! server exposing any `IdentityPort`, and a client that is both an `IdentityPort` and a
//! `SellerDirectory` backed by a remote identity service.

pub mod client;
pub mod convert;
pub mod server;

/// Generated from proto/comptoir/identity/v1/identity.proto.
pub mod pb {
    tonic::include_proto!("comptoir.identity.v1");
}

pub use client::IdentityClient;
pub use server::{IdentityServer, service};
