//! The point of sale over gRPC: the contract (proto/comptoir/pos/v1/pos.proto), a server exposing
//! any `PosPort`, and a client that is a `PosPort` backed by a remote point-of-sale service.

pub mod client;
pub mod convert;
pub mod server;

/// Generated from proto/comptoir/pos/v1/pos.proto.
pub mod pb {
    tonic::include_proto!("comptoir.pos.v1");
}

pub use client::PosClient;
pub use server::{PosServer, service};
