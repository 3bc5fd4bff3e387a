//! The webhooks module over gRPC: the contract (proto/comptoir/webhooks/v1/webhooks.proto), a
//! server exposing any `WebhooksPort`, and a client that is a `WebhooksPort` backed by a remote
//! webhooks service.

pub mod client;
pub mod convert;
pub mod server;

/// Generated from proto/comptoir/webhooks/v1/webhooks.proto.
pub mod pb {
    tonic::include_proto!("comptoir.webhooks.v1");
}

pub use client::WebhooksClient;
pub use server::{WebhooksServer, service};
