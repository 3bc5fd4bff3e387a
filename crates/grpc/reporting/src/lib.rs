//! The reporting module over gRPC: the contract (proto/comptoir/reporting/v1/reporting.proto), a
//! server exposing any `ReportingPort`, and a client that is a `ReportingPort` backed by a remote
//! reporting service.

pub mod client;
pub mod convert;
pub mod server;

/// Generated from proto/comptoir/reporting/v1/reporting.proto.
pub mod pb {
    tonic::include_proto!("comptoir.reporting.v1");
}

pub use client::ReportingClient;
pub use server::{ReportingServer, service};
