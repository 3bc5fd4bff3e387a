//! The ordering module over gRPC: the contract (`proto/comptoir/ordering/v1/ordering.proto`), a
//! server exposing an [`OrderingPort`](comptoir_contracts::ordering::OrderingPort) and a client
//! implementing the same port remotely, so that callers cannot tell the two topologies apart.

pub mod client;
pub mod convert;
pub mod server;

/// Generated from proto/comptoir/ordering/v1/ordering.proto.
pub mod pb {
    tonic::include_proto!("comptoir.ordering.v1");
}

pub use client::OrderingClient;
pub use server::{OrderingServer, service};
