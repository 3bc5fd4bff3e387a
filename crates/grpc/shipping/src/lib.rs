//! The shipping module over gRPC: the contract (proto/comptoir/shipping/v1/shipping.proto), a
//! server exposing any `ShippingPort`, and a client that is a `ShippingPort` backed by a remote
//! shipping service.

pub mod client;
pub mod convert;
pub mod server;

/// Generated from proto/comptoir/shipping/v1/shipping.proto.
pub mod pb {
    tonic::include_proto!("comptoir.shipping.v1");
}

pub use client::ShippingClient;
pub use server::{ShippingServer, service};
