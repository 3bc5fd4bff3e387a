//! The cart module over gRPC: the contract (proto/comptoir/cart/v1/cart.proto), a server exposing
//! any `CartPort`, and a client that is a `CartPort` backed by a remote cart service.

pub mod client;
pub mod convert;
pub mod server;

/// Generated from proto/comptoir/cart/v1/cart.proto.
pub mod pb {
    tonic::include_proto!("comptoir.cart.v1");
}

pub use client::CartClient;
pub use server::{CartServer, service};
