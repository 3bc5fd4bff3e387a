-- One database per module, and those of the gateway, the storefront and the back office (their
-- idempotency keys and event consumers' inboxes). Run once by the postgres image when its volume
-- is empty (docker-entrypoint-initdb.d), as the POSTGRES_USER, who owns them.
CREATE DATABASE comptoir_identity;
CREATE DATABASE comptoir_catalog;
CREATE DATABASE comptoir_inventory;
CREATE DATABASE comptoir_cart;
CREATE DATABASE comptoir_ordering;
CREATE DATABASE comptoir_payment;
CREATE DATABASE comptoir_billing;
CREATE DATABASE comptoir_shipping;
CREATE DATABASE comptoir_notification;
CREATE DATABASE comptoir_admin;
CREATE DATABASE comptoir_search;
CREATE DATABASE comptoir_webhooks;
CREATE DATABASE comptoir_recommendations;
CREATE DATABASE comptoir_pos;
CREATE DATABASE comptoir_reporting;
CREATE DATABASE comptoir_audit;
CREATE DATABASE comptoir_api;
CREATE DATABASE comptoir_storefront;
CREATE DATABASE comptoir_backoffice;
