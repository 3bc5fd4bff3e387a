//! Identity's contract types and their wire form, both ways. Inputs (`to_*_request` on the client,
//! the plain-named decoders on the server) carry every field exactly as the caller built it, so
//! the module's own checks answer the same errors in both topologies. Decoding fails, naming the
//! field, on a malformed id, a missing message or an enum value that is unspecified or unknown.

use comptoir_contracts::identity::{
    Address, AddressInput, AddressKind, ApiKey, CreatedApiKey, Credentials, Customer, CustomerFilter, CustomerTier,
    NewApiKey, NewSeller, NewStaff, Permission, Principal, RegisterCustomer, Role, Seller, Staff, TokenPair,
};
use comptoir_grpc::convert::{optional_timestamp, required, timestamp, to_timestamp, uuid};
use comptoir_kernel::{Error, Result};

use crate::pb;

/// An enum number the contract does not define (or `*_UNSPECIFIED`, which means "not set").
fn unknown_enum(field: &str, value: i32) -> Error {
    Error::bad_request(format!("{field}: `{value}` is not a known value"))
}

// ---- Enums -------------------------------------------------------------------------------------

pub fn to_permission(permission: Permission) -> pb::Permission {
    match permission {
        Permission::CatalogRead => pb::Permission::CatalogRead,
        Permission::CatalogWrite => pb::Permission::CatalogWrite,
        Permission::InventoryRead => pb::Permission::InventoryRead,
        Permission::InventoryWrite => pb::Permission::InventoryWrite,
        Permission::CustomersRead => pb::Permission::CustomersRead,
        Permission::CustomersWrite => pb::Permission::CustomersWrite,
        Permission::CartsRead => pb::Permission::CartsRead,
        Permission::StaffManage => pb::Permission::StaffManage,
        Permission::SellersManage => pb::Permission::SellersManage,
        Permission::ApiKeysManage => pb::Permission::ApiKeysManage,
        Permission::EventsManage => pb::Permission::EventsManage,
        Permission::OrdersRead => pb::Permission::OrdersRead,
        Permission::OrdersWrite => pb::Permission::OrdersWrite,
        Permission::BillingManage => pb::Permission::BillingManage,
        Permission::ShippingManage => pb::Permission::ShippingManage,
        Permission::MessagesRead => pb::Permission::MessagesRead,
        Permission::SettingsManage => pb::Permission::SettingsManage,
        Permission::ReportsRead => pb::Permission::ReportsRead,
        Permission::PosSell => pb::Permission::PosSell,
        Permission::PosManage => pb::Permission::PosManage,
        Permission::AuditRead => pb::Permission::AuditRead,
    }
}

pub fn permission(value: i32, field: &str) -> Result<Permission> {
    Ok(match pb::Permission::try_from(value) {
        Ok(pb::Permission::CatalogRead) => Permission::CatalogRead,
        Ok(pb::Permission::CatalogWrite) => Permission::CatalogWrite,
        Ok(pb::Permission::InventoryRead) => Permission::InventoryRead,
        Ok(pb::Permission::InventoryWrite) => Permission::InventoryWrite,
        Ok(pb::Permission::CustomersRead) => Permission::CustomersRead,
        Ok(pb::Permission::CustomersWrite) => Permission::CustomersWrite,
        Ok(pb::Permission::CartsRead) => Permission::CartsRead,
        Ok(pb::Permission::StaffManage) => Permission::StaffManage,
        Ok(pb::Permission::SellersManage) => Permission::SellersManage,
        Ok(pb::Permission::ApiKeysManage) => Permission::ApiKeysManage,
        Ok(pb::Permission::EventsManage) => Permission::EventsManage,
        Ok(pb::Permission::OrdersRead) => Permission::OrdersRead,
        Ok(pb::Permission::OrdersWrite) => Permission::OrdersWrite,
        Ok(pb::Permission::BillingManage) => Permission::BillingManage,
        Ok(pb::Permission::ShippingManage) => Permission::ShippingManage,
        Ok(pb::Permission::MessagesRead) => Permission::MessagesRead,
        Ok(pb::Permission::SettingsManage) => Permission::SettingsManage,
        Ok(pb::Permission::ReportsRead) => Permission::ReportsRead,
        Ok(pb::Permission::PosSell) => Permission::PosSell,
        Ok(pb::Permission::PosManage) => Permission::PosManage,
        Ok(pb::Permission::AuditRead) => Permission::AuditRead,
        Ok(pb::Permission::Unspecified) | Err(_) => return Err(unknown_enum(field, value)),
    })
}

pub fn to_permissions(permissions: &[Permission]) -> Vec<i32> {
    permissions.iter().map(|p| to_permission(*p).into()).collect()
}

pub fn permissions(values: &[i32], field: &str) -> Result<Vec<Permission>> {
    values.iter().map(|v| permission(*v, field)).collect()
}

pub fn to_role(role: Role) -> pb::Role {
    match role {
        Role::Admin => pb::Role::Admin,
        Role::CatalogManager => pb::Role::CatalogManager,
        Role::StockManager => pb::Role::StockManager,
        Role::Support => pb::Role::Support,
        Role::Cashier => pb::Role::Cashier,
    }
}

pub fn role(value: i32, field: &str) -> Result<Role> {
    Ok(match pb::Role::try_from(value) {
        Ok(pb::Role::Admin) => Role::Admin,
        Ok(pb::Role::CatalogManager) => Role::CatalogManager,
        Ok(pb::Role::StockManager) => Role::StockManager,
        Ok(pb::Role::Support) => Role::Support,
        Ok(pb::Role::Cashier) => Role::Cashier,
        Ok(pb::Role::Unspecified) | Err(_) => return Err(unknown_enum(field, value)),
    })
}

pub fn to_roles(roles: &[Role]) -> Vec<i32> {
    roles.iter().map(|r| to_role(*r).into()).collect()
}

pub fn roles(values: &[i32], field: &str) -> Result<Vec<Role>> {
    values.iter().map(|v| role(*v, field)).collect()
}

pub fn to_tier(tier: CustomerTier) -> pb::CustomerTier {
    match tier {
        CustomerTier::Standard => pb::CustomerTier::Standard,
        CustomerTier::Vip => pb::CustomerTier::Vip,
    }
}

pub fn tier(value: i32, field: &str) -> Result<CustomerTier> {
    match pb::CustomerTier::try_from(value) {
        Ok(pb::CustomerTier::Standard) => Ok(CustomerTier::Standard),
        Ok(pb::CustomerTier::Vip) => Ok(CustomerTier::Vip),
        Ok(pb::CustomerTier::Unspecified) | Err(_) => Err(unknown_enum(field, value)),
    }
}

pub fn to_address_kind(kind: AddressKind) -> pb::AddressKind {
    match kind {
        AddressKind::Shipping => pb::AddressKind::Shipping,
        AddressKind::Billing => pb::AddressKind::Billing,
    }
}

pub fn address_kind(value: i32, field: &str) -> Result<AddressKind> {
    match pb::AddressKind::try_from(value) {
        Ok(pb::AddressKind::Shipping) => Ok(AddressKind::Shipping),
        Ok(pb::AddressKind::Billing) => Ok(AddressKind::Billing),
        Ok(pb::AddressKind::Unspecified) | Err(_) => Err(unknown_enum(field, value)),
    }
}

// ---- Accounts and sessions ---------------------------------------------------------------------

pub fn to_customer(customer: &Customer) -> pb::Customer {
    pb::Customer {
        id: customer.id.to_string(),
        email: customer.email.clone(),
        first_name: customer.first_name.clone(),
        last_name: customer.last_name.clone(),
        tier: to_tier(customer.tier).into(),
        created_at: Some(to_timestamp(&customer.created_at)),
    }
}

pub fn customer(message: pb::Customer) -> Result<Customer> {
    Ok(Customer {
        id: uuid(&message.id, "customer.id")?,
        email: message.email,
        first_name: message.first_name,
        last_name: message.last_name,
        tier: tier(message.tier, "customer.tier")?,
        created_at: timestamp(message.created_at, "customer.created_at")?,
    })
}

pub fn to_staff(staff: &Staff) -> pb::Staff {
    pb::Staff {
        id: staff.id.to_string(),
        email: staff.email.clone(),
        name: staff.name.clone(),
        roles: to_roles(&staff.roles),
        created_at: Some(to_timestamp(&staff.created_at)),
    }
}

pub fn staff(message: pb::Staff) -> Result<Staff> {
    Ok(Staff {
        id: uuid(&message.id, "staff.id")?,
        email: message.email,
        name: message.name,
        roles: roles(&message.roles, "staff.roles")?,
        created_at: timestamp(message.created_at, "staff.created_at")?,
    })
}

pub fn to_token_pair(pair: TokenPair) -> pb::TokenPair {
    pb::TokenPair {
        access_token: pair.access_token,
        refresh_token: pair.refresh_token,
        token_type: pair.token_type,
        expires_in: pair.expires_in,
    }
}

pub fn token_pair(message: pb::TokenPair) -> TokenPair {
    TokenPair {
        access_token: message.access_token,
        refresh_token: message.refresh_token,
        token_type: message.token_type,
        expires_in: message.expires_in,
    }
}

pub fn to_register_customer_request(input: RegisterCustomer) -> pb::RegisterCustomerRequest {
    pb::RegisterCustomerRequest {
        email: input.email,
        password: input.password,
        first_name: input.first_name,
        last_name: input.last_name,
    }
}

pub fn register_customer(message: pb::RegisterCustomerRequest) -> RegisterCustomer {
    RegisterCustomer {
        email: message.email,
        password: message.password,
        first_name: message.first_name,
        last_name: message.last_name,
    }
}

pub fn to_login_customer_request(credentials: Credentials) -> pb::LoginCustomerRequest {
    pb::LoginCustomerRequest { email: credentials.email, password: credentials.password }
}

pub fn customer_credentials(message: pb::LoginCustomerRequest) -> Credentials {
    Credentials { email: message.email, password: message.password }
}

pub fn to_login_staff_request(credentials: Credentials) -> pb::LoginStaffRequest {
    pb::LoginStaffRequest { email: credentials.email, password: credentials.password }
}

pub fn staff_credentials(message: pb::LoginStaffRequest) -> Credentials {
    Credentials { email: message.email, password: message.password }
}

pub fn to_login_customer_response((customer, pair): (Customer, TokenPair)) -> pb::LoginCustomerResponse {
    pb::LoginCustomerResponse { customer: Some(to_customer(&customer)), tokens: Some(to_token_pair(pair)) }
}

pub fn login_customer_response(message: pb::LoginCustomerResponse) -> Result<(Customer, TokenPair)> {
    Ok((customer(required(message.customer, "customer")?)?, required(message.tokens, "tokens").map(token_pair)?))
}

pub fn to_login_staff_response((staff, pair): (Staff, TokenPair)) -> pb::LoginStaffResponse {
    pb::LoginStaffResponse { staff: Some(to_staff(&staff)), tokens: Some(to_token_pair(pair)) }
}

pub fn login_staff_response(message: pb::LoginStaffResponse) -> Result<(Staff, TokenPair)> {
    Ok((staff(required(message.staff, "staff")?)?, required(message.tokens, "tokens").map(token_pair)?))
}

// ---- Principals --------------------------------------------------------------------------------

pub fn to_principal(principal: &Principal) -> pb::Principal {
    use pb::principal::Kind;
    let kind = match principal {
        Principal::Customer { id, email, tier, session_id } => Kind::Customer(pb::CustomerPrincipal {
            id: id.to_string(),
            email: email.clone(),
            tier: to_tier(*tier).into(),
            session_id: session_id.to_string(),
        }),
        Principal::Staff { id, email, roles, session_id } => Kind::Staff(pb::StaffPrincipal {
            id: id.to_string(),
            email: email.clone(),
            roles: to_roles(roles),
            session_id: session_id.to_string(),
        }),
        Principal::App { key_id, name, scopes } => Kind::App(pb::AppPrincipal {
            key_id: key_id.to_string(),
            name: name.clone(),
            scopes: to_permissions(scopes),
        }),
    };
    pb::Principal { kind: Some(kind) }
}

pub fn principal(message: pb::Principal) -> Result<Principal> {
    use pb::principal::Kind;
    Ok(match required(message.kind, "principal.kind")? {
        Kind::Customer(c) => Principal::Customer {
            id: uuid(&c.id, "principal.customer.id")?,
            email: c.email,
            tier: tier(c.tier, "principal.customer.tier")?,
            session_id: uuid(&c.session_id, "principal.customer.session_id")?,
        },
        Kind::Staff(s) => Principal::Staff {
            id: uuid(&s.id, "principal.staff.id")?,
            email: s.email,
            roles: roles(&s.roles, "principal.staff.roles")?,
            session_id: uuid(&s.session_id, "principal.staff.session_id")?,
        },
        Kind::App(a) => Principal::App {
            key_id: uuid(&a.key_id, "principal.app.key_id")?,
            name: a.name,
            scopes: permissions(&a.scopes, "principal.app.scopes")?,
        },
    })
}

// ---- Customers ---------------------------------------------------------------------------------

pub fn to_customer_filter(filter: CustomerFilter) -> pb::CustomerFilter {
    pb::CustomerFilter { email: filter.email, tier: filter.tier.map(|t| to_tier(t).into()) }
}

/// An absent filter lists everyone, as `CustomerFilter::default()` does.
pub fn customer_filter(message: Option<pb::CustomerFilter>) -> Result<CustomerFilter> {
    let Some(filter) = message else {
        return Ok(CustomerFilter::default());
    };
    Ok(CustomerFilter { email: filter.email, tier: filter.tier.map(|t| tier(t, "filter.tier")).transpose()? })
}

// ---- Addresses ---------------------------------------------------------------------------------

pub fn to_address_input(input: AddressInput) -> pb::AddressInput {
    pb::AddressInput {
        kind: to_address_kind(input.kind).into(),
        name: input.name,
        line1: input.line1,
        line2: input.line2,
        city: input.city,
        postal_code: input.postal_code,
        region: input.region,
        country: input.country,
        phone: input.phone,
        is_default: input.is_default,
    }
}

pub fn address_input(message: Option<pb::AddressInput>) -> Result<AddressInput> {
    let input = required(message, "address")?;
    Ok(AddressInput {
        kind: address_kind(input.kind, "address.kind")?,
        name: input.name,
        line1: input.line1,
        line2: input.line2,
        city: input.city,
        postal_code: input.postal_code,
        region: input.region,
        country: input.country,
        phone: input.phone,
        is_default: input.is_default,
    })
}

pub fn to_address(address: &Address) -> pb::Address {
    pb::Address {
        id: address.id.to_string(),
        kind: to_address_kind(address.kind).into(),
        name: address.name.clone(),
        line1: address.line1.clone(),
        line2: address.line2.clone(),
        city: address.city.clone(),
        postal_code: address.postal_code.clone(),
        region: address.region.clone(),
        country: address.country.clone(),
        phone: address.phone.clone(),
        is_default: address.is_default,
    }
}

pub fn address(message: pb::Address) -> Result<Address> {
    Ok(Address {
        id: uuid(&message.id, "address.id")?,
        kind: address_kind(message.kind, "address.kind")?,
        name: message.name,
        line1: message.line1,
        line2: message.line2,
        city: message.city,
        postal_code: message.postal_code,
        region: message.region,
        country: message.country,
        phone: message.phone,
        is_default: message.is_default,
    })
}

// ---- Staff -------------------------------------------------------------------------------------

pub fn to_create_staff_request(input: NewStaff) -> pb::CreateStaffRequest {
    pb::CreateStaffRequest {
        email: input.email,
        password: input.password,
        name: input.name,
        roles: to_roles(&input.roles),
    }
}

pub fn new_staff(message: pb::CreateStaffRequest) -> Result<NewStaff> {
    Ok(NewStaff {
        roles: roles(&message.roles, "roles")?,
        email: message.email,
        password: message.password,
        name: message.name,
    })
}

// ---- Sellers -----------------------------------------------------------------------------------

pub fn to_seller(seller: &Seller) -> pb::Seller {
    pb::Seller {
        id: seller.id.to_string(),
        name: seller.name.clone(),
        email: seller.email.clone(),
        created_at: Some(to_timestamp(&seller.created_at)),
    }
}

pub fn seller(message: pb::Seller) -> Result<Seller> {
    Ok(Seller {
        id: uuid(&message.id, "seller.id")?,
        name: message.name,
        email: message.email,
        created_at: timestamp(message.created_at, "seller.created_at")?,
    })
}

pub fn to_create_seller_request(input: NewSeller) -> pb::CreateSellerRequest {
    pb::CreateSellerRequest { name: input.name, email: input.email }
}

pub fn new_seller(message: pb::CreateSellerRequest) -> NewSeller {
    NewSeller { name: message.name, email: message.email }
}

// ---- API keys ----------------------------------------------------------------------------------

pub fn to_api_key(key: &ApiKey) -> pb::ApiKey {
    pb::ApiKey {
        id: key.id.to_string(),
        name: key.name.clone(),
        prefix: key.prefix.clone(),
        scopes: to_permissions(&key.scopes),
        created_at: Some(to_timestamp(&key.created_at)),
        last_used_at: key.last_used_at.as_ref().map(to_timestamp),
        revoked: key.revoked,
    }
}

pub fn api_key(message: pb::ApiKey) -> Result<ApiKey> {
    Ok(ApiKey {
        id: uuid(&message.id, "key.id")?,
        scopes: permissions(&message.scopes, "key.scopes")?,
        created_at: timestamp(message.created_at, "key.created_at")?,
        last_used_at: optional_timestamp(message.last_used_at, "key.last_used_at")?,
        name: message.name,
        prefix: message.prefix,
        revoked: message.revoked,
    })
}

pub fn to_created_api_key(created: &CreatedApiKey) -> pb::CreatedApiKey {
    pb::CreatedApiKey { key: Some(to_api_key(&created.key)), secret: created.secret.clone() }
}

pub fn created_api_key(message: pb::CreatedApiKey) -> Result<CreatedApiKey> {
    Ok(CreatedApiKey { key: api_key(required(message.key, "key")?)?, secret: message.secret })
}

pub fn to_create_api_key_request(input: NewApiKey) -> pb::CreateApiKeyRequest {
    pb::CreateApiKeyRequest { name: input.name, scopes: to_permissions(&input.scopes) }
}

pub fn new_api_key(message: pb::CreateApiKeyRequest) -> Result<NewApiKey> {
    Ok(NewApiKey { scopes: permissions(&message.scopes, "scopes")?, name: message.name })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_enum_value_survives_the_trip() {
        for p in Permission::ALL {
            assert_eq!(permission(to_permission(*p).into(), "p").unwrap(), *p);
        }
        for r in Role::ALL {
            assert_eq!(role(to_role(*r).into(), "r").unwrap(), *r);
        }
        for t in [CustomerTier::Standard, CustomerTier::Vip] {
            assert_eq!(tier(to_tier(t).into(), "t").unwrap(), t);
        }
        for k in [AddressKind::Shipping, AddressKind::Billing] {
            assert_eq!(address_kind(to_address_kind(k).into(), "k").unwrap(), k);
        }
    }

    #[test]
    fn unspecified_and_unknown_enum_values_are_bad_requests_naming_the_field() {
        for value in [0, 99, -1] {
            let e = role(value, "roles").unwrap_err();
            assert_eq!(e.status(), 400);
            assert!(e.to_string().starts_with("roles:"), "{e}");
            assert_eq!(permission(value, "scopes").unwrap_err().status(), 400);
            assert_eq!(tier(value, "tier").unwrap_err().status(), 400);
            assert_eq!(address_kind(value, "address.kind").unwrap_err().status(), 400);
        }
    }

    #[test]
    fn absent_and_empty_optional_text_stay_distinct() {
        let input = RegisterCustomer {
            email: " Ann@Example.COM ".into(),
            password: "pw".into(),
            first_name: Some(String::new()),
            last_name: None,
        };
        let back = register_customer(to_register_customer_request(input));
        assert_eq!(back.email, " Ann@Example.COM ", "sent as typed");
        assert_eq!((back.first_name, back.last_name), (Some(String::new()), None));
    }

    #[test]
    fn a_principal_without_a_kind_does_not_decode() {
        let e = principal(pb::Principal { kind: None }).unwrap_err();
        assert!(e.to_string().contains("principal.kind"), "{e}");
    }
}
