//! The billing module over gRPC: the contract (proto/comptoir/billing/v1/billing.proto), a server
//! exposing any `BillingPort`, and a client that is a `BillingPort` backed by a remote billing
//! service.

pub mod client;
pub mod convert;
pub mod server;

/// Generated from proto/comptoir/billing/v1/billing.proto.
pub mod pb {
    tonic::include_proto!("comptoir.billing.v1");
}

pub use client::BillingClient;
pub use server::{BillingServer, service};
