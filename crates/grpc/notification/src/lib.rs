//! The notification module over gRPC: the contract
//! (proto/comptoir/notification/v1/notification.proto), a server exposing any `NotificationPort`,
//! and a client that is a `NotificationPort` backed by a remote notification service.

pub mod client;
pub mod convert;
pub mod server;

/// Generated from proto/comptoir/notification/v1/notification.proto.
pub mod pb {
    tonic::include_proto!("comptoir.notification.v1");
}

pub use client::NotificationClient;
pub use server::{NotificationServer, service};
