//! What every module's gRPC adapter shares.
//!
//! Each module has a crate `comptoir-<module>-grpc` with its `.proto` contract (under `proto/`),
//! a server that exposes the module's port, and a client that implements the same port over the
//! network. This crate gives them one way to:
//! - carry the [`RequestContext`](comptoir_kernel::RequestContext) in metadata ([`context`]);
//! - turn an [`Error`](comptoir_kernel::Error) into a gRPC status and back, losslessly ([`status`]);
//! - convert the kernel's values (money, ids, instants, pages, addresses) ([`convert`]);
//! - call another service with a deadline, bounded retries for idempotent calls and a circuit
//!   breaker ([`client`]);
//! - host services with the gRPC health protocol ([`server`]).

pub mod client;
pub mod context;
pub mod convert;
pub mod operations;
pub mod server;
pub mod status;

/// The messages of `comptoir.common.v1`, shared by every contract.
pub mod pb {
    tonic::include_proto!("comptoir.common.v1");
}

pub use client::{Call, Remote, RemoteSettings};
pub use context::{incoming_context, outgoing_request};
pub use status::{from_status, to_status};

/// Largest message a service accepts or sends (PDF documents travel as bytes).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
