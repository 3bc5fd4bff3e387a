//! Identity: customers, staff, sessions, roles and permissions, addresses, tiers, sellers, API keys.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use comptoir_kernel::{Error, Page, PageRequest, RequestContext, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// What a principal may do. Staff get permissions through roles; API keys through scopes, which
/// are permissions by another name (`catalog:write`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum Permission {
    #[serde(rename = "catalog:read")]
    CatalogRead,
    #[serde(rename = "catalog:write")]
    CatalogWrite,
    #[serde(rename = "inventory:read")]
    InventoryRead,
    #[serde(rename = "inventory:write")]
    InventoryWrite,
    #[serde(rename = "customers:read")]
    CustomersRead,
    #[serde(rename = "customers:write")]
    CustomersWrite,
    #[serde(rename = "carts:read")]
    CartsRead,
    #[serde(rename = "staff:manage")]
    StaffManage,
    #[serde(rename = "sellers:manage")]
    SellersManage,
    #[serde(rename = "apikeys:manage")]
    ApiKeysManage,
    #[serde(rename = "events:manage")]
    EventsManage,
    #[serde(rename = "orders:read")]
    OrdersRead,
    /// Cancel, refund, receive returns.
    #[serde(rename = "orders:write")]
    OrdersWrite,
    /// Tax rules and channel tax modes.
    #[serde(rename = "billing:manage")]
    BillingManage,
    /// Zones, methods, tracking.
    #[serde(rename = "shipping:manage")]
    ShippingManage,
    /// The notification mailbox.
    #[serde(rename = "messages:read")]
    MessagesRead,
    /// Shop settings and maintenance mode.
    #[serde(rename = "settings:manage")]
    SettingsManage,
    /// Sales, stock value, refunds and conversion reports.
    #[serde(rename = "reports:read")]
    ReportsRead,
    /// Ring up sales and take returns at a store's till.
    #[serde(rename = "pos:sell")]
    PosSell,
    /// Store set-up for the point of sale (address, price list).
    #[serde(rename = "pos:manage")]
    PosManage,
    /// The audit log of staff actions and security events.
    #[serde(rename = "audit:read")]
    AuditRead,
}

impl Permission {
    pub const ALL: &'static [Permission] = &[
        Permission::CatalogRead,
        Permission::CatalogWrite,
        Permission::InventoryRead,
        Permission::InventoryWrite,
        Permission::CustomersRead,
        Permission::CustomersWrite,
        Permission::CartsRead,
        Permission::StaffManage,
        Permission::SellersManage,
        Permission::ApiKeysManage,
        Permission::EventsManage,
        Permission::OrdersRead,
        Permission::OrdersWrite,
        Permission::BillingManage,
        Permission::ShippingManage,
        Permission::MessagesRead,
        Permission::SettingsManage,
        Permission::ReportsRead,
        Permission::PosSell,
        Permission::PosManage,
        Permission::AuditRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::CatalogRead => "catalog:read",
            Permission::CatalogWrite => "catalog:write",
            Permission::InventoryRead => "inventory:read",
            Permission::InventoryWrite => "inventory:write",
            Permission::CustomersRead => "customers:read",
            Permission::CustomersWrite => "customers:write",
            Permission::CartsRead => "carts:read",
            Permission::StaffManage => "staff:manage",
            Permission::SellersManage => "sellers:manage",
            Permission::ApiKeysManage => "apikeys:manage",
            Permission::EventsManage => "events:manage",
            Permission::OrdersRead => "orders:read",
            Permission::OrdersWrite => "orders:write",
            Permission::BillingManage => "billing:manage",
            Permission::ShippingManage => "shipping:manage",
            Permission::MessagesRead => "messages:read",
            Permission::SettingsManage => "settings:manage",
            Permission::ReportsRead => "reports:read",
            Permission::PosSell => "pos:sell",
            Permission::PosManage => "pos:manage",
            Permission::AuditRead => "audit:read",
        }
    }

    pub fn parse(value: &str) -> Option<Permission> {
        Permission::ALL.iter().copied().find(|p| p.as_str() == value)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    CatalogManager,
    StockManager,
    Support,
    /// Sells at a store's till: scans, takes payment, takes returns.
    Cashier,
}

impl Role {
    pub const ALL: &'static [Role] =
        &[Role::Admin, Role::CatalogManager, Role::StockManager, Role::Support, Role::Cashier];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::CatalogManager => "catalog_manager",
            Role::StockManager => "stock_manager",
            Role::Support => "support",
            Role::Cashier => "cashier",
        }
    }

    pub fn parse(value: &str) -> Option<Role> {
        Role::ALL.iter().copied().find(|r| r.as_str() == value)
    }

    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Role::Admin => Permission::ALL,
            Role::CatalogManager => &[CatalogRead, CatalogWrite, InventoryRead, SellersManage],
            Role::StockManager => {
                &[CatalogRead, InventoryRead, InventoryWrite, OrdersRead, ShippingManage, ReportsRead]
            }
            Role::Support => {
                &[CatalogRead, InventoryRead, CustomersRead, CartsRead, OrdersRead, OrdersWrite, MessagesRead]
            }
            Role::Cashier => &[CatalogRead, InventoryRead, PosSell],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum CustomerTier {
    #[default]
    Standard,
    Vip,
}

impl CustomerTier {
    pub fn as_str(self) -> &'static str {
        match self {
            CustomerTier::Standard => "standard",
            CustomerTier::Vip => "vip",
        }
    }
    pub fn parse(value: &str) -> Option<CustomerTier> {
        match value {
            "standard" => Some(CustomerTier::Standard),
            "vip" => Some(CustomerTier::Vip),
            _ => None,
        }
    }
}

/// Who is calling, as established from a bearer token or an API key.
#[derive(Debug, Clone, PartialEq)]
pub enum Principal {
    Customer { id: Uuid, email: String, tier: CustomerTier, session_id: Uuid },
    Staff { id: Uuid, email: String, roles: Vec<Role>, session_id: Uuid },
    App { key_id: Uuid, name: String, scopes: Vec<Permission> },
}

impl Principal {
    pub fn has(&self, permission: Permission) -> bool {
        match self {
            Principal::Customer { .. } => false,
            Principal::Staff { roles, .. } => roles.iter().any(|r| r.permissions().contains(&permission)),
            Principal::App { scopes, .. } => scopes.contains(&permission),
        }
    }

    /// `Ok` if the principal holds `permission`, otherwise 403 naming it.
    pub fn require(&self, permission: Permission) -> Result<()> {
        if self.has(permission) {
            Ok(())
        } else {
            Err(Error::forbidden(format!("this action needs the {} permission", permission.as_str())))
        }
    }

    pub fn customer_id(&self) -> Option<Uuid> {
        match self {
            Principal::Customer { id, .. } => Some(*id),
            _ => None,
        }
    }

    pub fn actor(&self) -> comptoir_kernel::Actor {
        match self {
            Principal::Customer { id, .. } | Principal::Staff { id, .. } => comptoir_kernel::Actor::user(id),
            Principal::App { key_id, .. } => comptoir_kernel::Actor::app(key_id),
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterCustomer {
    pub email: String,
    /// At least 10 characters.
    pub password: String,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenPair {
    /// A short-lived JWT to send as `Authorization: Bearer ...`.
    pub access_token: String,
    /// Exchanged for a new pair at `/auth/refresh`; single use.
    pub refresh_token: String,
    pub token_type: String,
    /// Lifetime of the access token in seconds.
    pub expires_in: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Customer {
    pub id: Uuid,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub tier: CustomerTier,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Staff {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub roles: Vec<Role>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStaff {
    pub email: String,
    pub password: String,
    pub name: String,
    pub roles: Vec<Role>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AddressKind {
    Shipping,
    Billing,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressInput {
    pub kind: AddressKind,
    pub name: String,
    pub line1: String,
    #[serde(default)]
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    #[serde(default)]
    pub region: Option<String>,
    /// ISO 3166-1 alpha-2 (`FR`, `DE`).
    pub country: String,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub is_default: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Address {
    pub id: Uuid,
    pub kind: AddressKind,
    pub name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    pub region: Option<String>,
    pub country: String,
    pub phone: Option<String>,
    pub is_default: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Seller {
    pub id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSeller {
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    /// The first characters of the key, to recognise it; the key itself is never stored.
    pub prefix: String,
    pub scopes: Vec<Permission>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked: bool,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    pub name: String,
    pub scopes: Vec<Permission>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key: ApiKey,
    /// Shown once: send it as `X-Api-Key`.
    pub secret: String,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CustomerFilter {
    /// Part of the email address.
    pub email: Option<String>,
    pub tier: Option<CustomerTier>,
}

#[async_trait]
pub trait IdentityPort: Send + Sync {
    async fn register_customer(&self, ctx: &RequestContext, input: RegisterCustomer) -> Result<Customer>;
    /// Wrong email or password both answer 401 with the same message.
    async fn login_customer(&self, ctx: &RequestContext, credentials: Credentials) -> Result<(Customer, TokenPair)>;
    async fn login_staff(&self, ctx: &RequestContext, credentials: Credentials) -> Result<(Staff, TokenPair)>;
    /// Rotates a refresh token: the old one stops working.
    async fn refresh(&self, ctx: &RequestContext, refresh_token: &str) -> Result<TokenPair>;
    /// Revokes the session: its access and refresh tokens stop working.
    async fn logout(&self, ctx: &RequestContext, session_id: Uuid) -> Result<()>;
    /// Resolves a bearer access token (JWT) to its principal; 401 if forged, expired or revoked.
    async fn authenticate_token(&self, token: &str) -> Result<Principal>;
    /// Resolves an API key to its app principal; 401 if unknown or revoked.
    async fn authenticate_api_key(&self, key: &str) -> Result<Principal>;

    async fn get_customer(&self, ctx: &RequestContext, id: Uuid) -> Result<Customer>;
    async fn list_customers(
        &self,
        ctx: &RequestContext,
        filter: CustomerFilter,
        page: PageRequest,
    ) -> Result<Page<Customer>>;
    async fn set_customer_tier(&self, ctx: &RequestContext, id: Uuid, tier: CustomerTier) -> Result<Customer>;

    async fn list_addresses(&self, ctx: &RequestContext, customer_id: Uuid, page: PageRequest)
    -> Result<Page<Address>>;
    async fn add_address(&self, ctx: &RequestContext, customer_id: Uuid, input: AddressInput) -> Result<Address>;
    async fn update_address(
        &self,
        ctx: &RequestContext,
        customer_id: Uuid,
        address_id: Uuid,
        input: AddressInput,
    ) -> Result<Address>;
    async fn delete_address(&self, ctx: &RequestContext, customer_id: Uuid, address_id: Uuid) -> Result<()>;

    async fn create_staff(&self, ctx: &RequestContext, input: NewStaff) -> Result<Staff>;
    async fn list_staff(&self, ctx: &RequestContext, page: PageRequest) -> Result<Page<Staff>>;

    async fn create_seller(&self, ctx: &RequestContext, input: NewSeller) -> Result<Seller>;
    async fn get_seller(&self, ctx: &RequestContext, id: Uuid) -> Result<Seller>;
    async fn list_sellers(&self, ctx: &RequestContext, page: PageRequest) -> Result<Page<Seller>>;

    async fn create_api_key(&self, ctx: &RequestContext, input: NewApiKey) -> Result<CreatedApiKey>;
    async fn list_api_keys(&self, ctx: &RequestContext, page: PageRequest) -> Result<Page<ApiKey>>;
    async fn revoke_api_key(&self, ctx: &RequestContext, id: Uuid) -> Result<ApiKey>;
}

/// The one thing other modules ask identity about sellers: whether one exists. Catalog checks it
/// before a product is given to a seller.
#[async_trait]
pub trait SellerDirectory: Send + Sync {
    async fn seller_exists(&self, ctx: &RequestContext, id: Uuid) -> Result<bool>;
}

/// Event types and payloads published by identity (source `identity`).
pub mod events {
    use super::*;

    pub const USER_REGISTERED: &str = "auth.user.registered";
    pub const SESSION_CREATED: &str = "auth.session.created";
    pub const SESSION_REVOKED: &str = "auth.session.revoked";
    pub const STAFF_CREATED: &str = "auth.staff.created";
    pub const CUSTOMER_TIER_CHANGED: &str = "auth.customer.tier_changed";
    pub const ADDRESS_CHANGED: &str = "auth.address.changed";
    pub const SELLER_CREATED: &str = "auth.seller.created";
    pub const API_KEY_CREATED: &str = "auth.apikey.created";
    pub const API_KEY_REVOKED: &str = "auth.apikey.revoked";

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct UserRegistered {
        pub user_id: Uuid,
        pub email: String,
        pub first_name: Option<String>,
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct SessionEvent {
        pub session_id: Uuid,
        pub user_id: Uuid,
        /// `customer` or `staff`.
        pub user_kind: String,
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct StaffCreated {
        pub staff_id: Uuid,
        pub email: String,
        pub name: String,
        pub roles: Vec<Role>,
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct CustomerTierChanged {
        pub customer_id: Uuid,
        pub previous_tier: CustomerTier,
        pub tier: CustomerTier,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum AddressChange {
        Added,
        Updated,
        Deleted,
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct AddressChanged {
        pub customer_id: Uuid,
        pub address_id: Uuid,
        pub kind: AddressKind,
        pub change: AddressChange,
        pub is_default: bool,
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct SellerCreated {
        pub seller_id: Uuid,
        pub name: String,
        pub email: Option<String>,
    }

    /// For `auth.apikey.created` and `auth.apikey.revoked`. Never carries the secret.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct ApiKeyEvent {
        pub key_id: Uuid,
        pub name: String,
        pub prefix: String,
        pub scopes: Vec<Permission>,
    }
}
