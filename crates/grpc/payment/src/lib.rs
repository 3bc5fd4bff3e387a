//! The payment module over gRPC: the contract (proto/comptoir/payment/v1/payment.proto), a server
//! exposing any `PaymentPort`, and a client that is a `PaymentPort` backed by a remote payment
//! service.

pub mod client;
pub mod convert;
pub mod server;

/// Generated from proto/comptoir/payment/v1/payment.proto.
pub mod pb {
    tonic::include_proto!("comptoir.payment.v1");
}

pub use client::PaymentClient;
pub use server::{PaymentServer, service};
