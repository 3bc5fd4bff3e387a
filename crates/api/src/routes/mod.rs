pub mod account;
pub mod admin_catalog;
pub mod admin_identity;
pub mod admin_inventory;
pub mod admin_operations;
pub mod auth;
pub mod carts;
pub mod catalog;
