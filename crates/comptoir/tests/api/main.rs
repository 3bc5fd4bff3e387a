//! API tests over real HTTP: each test starts the whole application (every module, the event bus,
//! the relays) on its own data directory and a free port, exactly as `comptoir serve` does.

mod shop;
mod support;

mod admin;
mod audit;
mod auth;
mod cart;
mod catalog;
mod checkout;
mod faults;
mod inventory;
mod metrics;
mod operations;
mod outbound_webhooks;
mod platform;
mod recommendations;
mod robustness;
mod search;
mod store_sales;
