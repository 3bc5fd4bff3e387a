//! The composition root of Comptoir. The binary (`main.rs`) is a thin shell over this library, so
//! that tests can start the same application the binary starts.

pub mod app;
pub mod auth_cache;
pub mod backup;
pub mod cli;
pub mod config;
pub mod demo;
pub mod events;
pub mod extraction;
pub mod operations;
pub mod remote;
pub mod serve;
pub mod topology;
