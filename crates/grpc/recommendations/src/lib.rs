//! The recommendations module over gRPC: the contract
//! (proto/comptoir/recommendations/v1/recommendations.proto), a server exposing any
//! `RecommendationsPort`, and a client that is a `RecommendationsPort` backed by a remote
//! recommendations service.

pub mod client;
pub mod convert;
pub mod server;

/// Generated from proto/comptoir/recommendations/v1/recommendations.proto.
pub mod pb {
    tonic::include_proto!("comptoir.recommendations.v1");
}

pub use client::RecommendationsClient;
pub use server::{RecommendationsServer, service};
