//! The identity module served over gRPC and driven through `IdentityClient`, on a real database
//! (SQLite, or PostgreSQL when COMPTOIR_TEST_BACKEND=postgres): every port method answers what the
//! module answers in process, and every error comes back with the same status, code and fields.

use std::sync::Arc;

use comptoir_contracts::identity::{
    AddressInput, AddressKind, Credentials, CustomerFilter, CustomerTier, IdentityPort, NewApiKey, NewSeller, NewStaff,
    Permission, Principal, RegisterCustomer, Role, SellerDirectory,
};
use comptoir_grpc::server::ServiceSet;
use comptoir_grpc::{Remote, RemoteSettings, from_status};
use comptoir_identity::{IdentityConfig, IdentityModule, MIGRATIONS};
use comptoir_identity_grpc::pb::identity_service_client::IdentityServiceClient;
use comptoir_identity_grpc::{IdentityClient, pb, service};
use comptoir_kernel::{Actor, Error, PageRequest, RequestContext, new_id};
use comptoir_storage::{outbox, testing};
use serde::Serialize;
use tokio::net::TcpListener;

const SECRET: &str = "a-test-secret-that-is-long-enough-0123456789";
const PASSWORD: &str = "correct horse battery staple";

/// The module in process (`local`) and the same module behind a gRPC server (`remote`).
struct Harness {
    database: testing::TestDb,
    local: IdentityModule,
    remote: IdentityClient,
    url: String,
}

async fn start() -> Harness {
    let database = testing::open("identity", &MIGRATIONS).await;
    let local = IdentityModule::new(database.db.clone(), IdentityConfig::with_secret(SECRET));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let services = ServiceSet::new().add(service(Arc::new(local.clone())));
    tokio::spawn(services.serve(listener, std::future::pending()));
    let remote = IdentityClient::new(Remote::connect("identity", &url, RemoteSettings::default()).unwrap());
    Harness { database, local, remote, url }
}

fn ctx() -> RequestContext {
    RequestContext::system()
}

/// Both sides serialise alike: every field crossed the wire intact. Compare reads with reads: a
/// write answers `created_at` in nanoseconds, while the database may keep microseconds.
fn assert_same<T: Serialize>(remote: &T, local: &T) {
    assert_eq!(serde_json::to_value(remote).unwrap(), serde_json::to_value(local).unwrap());
}

fn assert_same_error(remote: &Error, local: &Error) {
    assert_eq!(
        (remote.status(), remote.code(), remote.field_errors(), remote.to_string()),
        (local.status(), local.code(), local.field_errors(), local.to_string())
    );
}

/// Makes the same failing call on the module and through the client (`$call` is evaluated once
/// for each: bind generated ids first); both must fail alike. Answers the remote error.
macro_rules! fails_alike {
    ($harness:expr, |$port:ident| $call:expr) => {{
        let local = {
            let $port: &dyn IdentityPort = &$harness.local;
            $call.await.unwrap_err()
        };
        let remote = {
            let $port: &dyn IdentityPort = &$harness.remote;
            $call.await.unwrap_err()
        };
        assert_same_error(&remote, &local);
        remote
    }};
}

fn field_names(e: &Error) -> Vec<&str> {
    e.field_errors().iter().map(|f| f.field.as_str()).collect()
}

fn registration(email: &str) -> RegisterCustomer {
    RegisterCustomer { email: email.into(), password: PASSWORD.into(), first_name: Some("Ann".into()), last_name: None }
}

fn credentials(email: &str, password: &str) -> Credentials {
    Credentials { email: email.into(), password: password.into() }
}

fn address(kind: AddressKind, name: &str, is_default: bool) -> AddressInput {
    AddressInput {
        kind,
        name: name.into(),
        line1: "1 rue de la Paix".into(),
        line2: None,
        city: "Paris".into(),
        postal_code: "75002".into(),
        region: Some("Île-de-France".into()),
        country: "fr".into(),
        phone: Some("+33 1 23 45 67 89".into()),
        is_default,
    }
}

fn session_of(principal: &Principal) -> uuid::Uuid {
    match principal {
        Principal::Customer { session_id, .. } | Principal::Staff { session_id, .. } => *session_id,
        Principal::App { .. } => panic!("an app has no session"),
    }
}

#[tokio::test]
async fn customers_register_log_in_refresh_and_log_out_remotely() {
    let h = start().await;
    let registered = h.remote.register_customer(&ctx(), registration(" Ann@Example.COM ")).await.unwrap();
    assert_eq!(registered.email, "ann@example.com", "the module normalised what the caller typed");
    assert_eq!((registered.first_name.as_deref(), registered.last_name.as_deref()), (Some("Ann"), None));
    let read = h.remote.get_customer(&ctx(), registered.id).await.unwrap();
    assert_same(&read, &h.local.get_customer(&ctx(), registered.id).await.unwrap());

    let (customer, pair) = h.remote.login_customer(&ctx(), credentials("ann@example.com", PASSWORD)).await.unwrap();
    assert_eq!(customer.id, registered.id);
    assert_eq!((pair.token_type.as_str(), pair.expires_in), ("Bearer", 15 * 60));

    let principal = h.remote.authenticate_token(&pair.access_token).await.unwrap();
    assert_eq!(principal, h.local.authenticate_token(&pair.access_token).await.unwrap());
    let Principal::Customer { id, tier, .. } = &principal else { panic!("{principal:?}") };
    assert_eq!((*id, *tier), (registered.id, CustomerTier::Standard));

    let rotated = h.remote.refresh(&ctx(), &pair.refresh_token).await.unwrap();
    assert_ne!(rotated.refresh_token, pair.refresh_token);
    let same_session = h.remote.authenticate_token(&rotated.access_token).await.unwrap();
    assert_eq!(session_of(&same_session), session_of(&principal));

    h.remote.logout(&ctx(), session_of(&principal)).await.unwrap();
    h.remote.logout(&ctx(), session_of(&principal)).await.unwrap();
    let e = fails_alike!(h, |port| port.authenticate_token(&rotated.access_token));
    assert_eq!(e.status(), 401);
    fails_alike!(h, |port| port.refresh(&ctx(), &rotated.refresh_token));
    fails_alike!(h, |port| port.refresh(&ctx(), "garbage"));
    let unknown = new_id();
    let e = fails_alike!(h, |port| port.logout(&ctx(), unknown));
    assert!(matches!(e, Error::NotFound { resource: "session", .. }), "{e:?}");
    fails_alike!(h, |port| port.authenticate_token("not a token"));

    let e = fails_alike!(h, |port| port.login_customer(&ctx(), credentials("ann@example.com", "wrong password")));
    assert_eq!((e.status(), e.to_string().as_str()), (401, "invalid email or password"));
    let e = fails_alike!(h, |port| port.register_customer(&ctx(), registration("not an email")));
    assert_eq!((e.status(), field_names(&e)), (422, vec!["email"]));
    let short = RegisterCustomer { password: "short".into(), first_name: Some("x".repeat(1000)), ..registration("") };
    let e = fails_alike!(h, |port| port.register_customer(&ctx(), short.clone()));
    assert_eq!(field_names(&e), ["email", "password", "first_name"]);
    let e = fails_alike!(h, |port| port.register_customer(&ctx(), registration("ANN@example.com")));
    assert_eq!((e.status(), e.code(), field_names(&e)), (409, "duplicate-email", vec!["email"]));
}

#[tokio::test]
async fn staff_are_created_listed_and_recognised_remotely() {
    let h = start().await;
    let input = NewStaff {
        email: "cat@shop.test".into(),
        password: PASSWORD.into(),
        name: "Cat Manager".into(),
        roles: vec![Role::CatalogManager, Role::Support],
    };
    let created = h.remote.create_staff(&ctx(), input.clone()).await.unwrap();
    assert_eq!(created.roles, [Role::CatalogManager, Role::Support]);

    let listed = h.remote.list_staff(&ctx(), PageRequest::default()).await.unwrap();
    assert_eq!(listed.total, 1);
    assert_same(&listed, &h.local.list_staff(&ctx(), PageRequest::default()).await.unwrap());
    assert_eq!((listed.items[0].id, &listed.items[0].roles), (created.id, &created.roles));

    let (staff, pair) = h.remote.login_staff(&ctx(), credentials("cat@shop.test", PASSWORD)).await.unwrap();
    assert_eq!((staff.id, staff.name.as_str()), (created.id, "Cat Manager"));
    let principal = h.remote.authenticate_token(&pair.access_token).await.unwrap();
    assert!(matches!(&principal, Principal::Staff { roles, .. } if roles == &created.roles));
    assert!(principal.has(Permission::SellersManage) && !principal.has(Permission::StaffManage));

    let e = fails_alike!(h, |port| port.create_staff(&ctx(), input.clone()));
    assert_eq!((e.code(), field_names(&e)), ("duplicate-email", vec!["email"]));
    let nobody = NewStaff { email: "x".into(), password: "".into(), name: " ".into(), roles: vec![] };
    let e = fails_alike!(h, |port| port.create_staff(&ctx(), nobody.clone()));
    assert_eq!((e.status(), field_names(&e)), (422, vec!["email", "password", "name", "roles"]));
    fails_alike!(h, |port| port.login_staff(&ctx(), credentials("cat@shop.test", "wrong password")));
    fails_alike!(h, |port| port.list_staff(&ctx(), PageRequest { page: 1, per_page: 0 }));
}

#[tokio::test]
async fn customers_are_read_listed_and_moved_between_tiers_remotely() {
    let h = start().await;
    let mut ids = vec![];
    for email in ["ann@example.com", "bob@example.com", "carl@other.test"] {
        ids.push(h.remote.register_customer(&ctx(), registration(email)).await.unwrap().id);
    }
    assert_same(
        &h.remote.get_customer(&ctx(), ids[0]).await.unwrap(),
        &h.local.get_customer(&ctx(), ids[0]).await.unwrap(),
    );

    let vip = h.remote.set_customer_tier(&ctx(), ids[1], CustomerTier::Vip).await.unwrap();
    assert_eq!(vip.tier, CustomerTier::Vip);
    let again = h.remote.set_customer_tier(&ctx(), ids[1], CustomerTier::Vip).await.unwrap();
    assert_same(&again, &vip);

    let first_two = PageRequest::new(1, 2).unwrap();
    let page = h.remote.list_customers(&ctx(), CustomerFilter::default(), first_two).await.unwrap();
    assert_eq!((page.total, page.page, page.per_page), (3, 1, 2));
    assert_eq!(page.items.iter().map(|c| c.id).collect::<Vec<_>>(), ids[..2]);
    assert_same(&page, &h.local.list_customers(&ctx(), CustomerFilter::default(), first_two).await.unwrap());
    let vip_at_example = CustomerFilter { email: Some("EXAMPLE".into()), tier: Some(CustomerTier::Vip) };
    let found = h.remote.list_customers(&ctx(), vip_at_example, PageRequest::default()).await.unwrap();
    assert_eq!(found.items.iter().map(|c| c.id).collect::<Vec<_>>(), [ids[1]]);
    let standard = CustomerFilter { email: None, tier: Some(CustomerTier::Standard) };
    assert_eq!(h.remote.list_customers(&ctx(), standard, PageRequest::default()).await.unwrap().total, 2);

    let unknown = new_id();
    let e = fails_alike!(h, |port| port.get_customer(&ctx(), unknown));
    assert!(matches!(e, Error::NotFound { resource: "customer", .. }), "{e:?}");
    fails_alike!(h, |port| port.set_customer_tier(&ctx(), unknown, CustomerTier::Vip));
    let bad_page = PageRequest { page: 0, per_page: 20 };
    let e = fails_alike!(h, |port| port.list_customers(&ctx(), CustomerFilter::default(), bad_page));
    assert_eq!((e.status(), field_names(&e)), (422, vec!["page"]));
}

#[tokio::test]
async fn addresses_are_added_listed_updated_and_deleted_remotely() {
    let h = start().await;
    let ann = h.remote.register_customer(&ctx(), registration("ann@example.com")).await.unwrap().id;

    let home = h.remote.add_address(&ctx(), ann, address(AddressKind::Shipping, "Home", true)).await.unwrap();
    assert_eq!(
        (home.country.as_str(), home.region.as_deref(), home.line2.as_deref()),
        ("FR", Some("Île-de-France"), None)
    );
    let billing = h.remote.add_address(&ctx(), ann, address(AddressKind::Billing, "Billing", true)).await.unwrap();
    assert_eq!(billing.kind, AddressKind::Billing);

    let mut input = address(AddressKind::Shipping, "Home, updated", false);
    input.line2 = Some("Bâtiment B".into());
    input.phone = None;
    let updated = h.remote.update_address(&ctx(), ann, home.id, input).await.unwrap();
    assert_eq!(
        (updated.line2.as_deref(), updated.phone.as_deref(), updated.is_default),
        (Some("Bâtiment B"), None, false)
    );

    let listed = h.remote.list_addresses(&ctx(), ann, PageRequest::default()).await.unwrap();
    assert_eq!(listed.total, 2);
    assert_same(&listed, &h.local.list_addresses(&ctx(), ann, PageRequest::default()).await.unwrap());
    assert_same(&listed.items[0], &updated);

    h.remote.delete_address(&ctx(), ann, billing.id).await.unwrap();
    let e = fails_alike!(h, |port| port.delete_address(&ctx(), ann, billing.id));
    assert!(matches!(e, Error::NotFound { resource: "address", .. }), "{e:?}");
    let stranger = new_id();
    fails_alike!(h, |port| port.update_address(&ctx(), stranger, home.id, address(AddressKind::Billing, "X", false)));
    fails_alike!(h, |port| port.list_addresses(&ctx(), stranger, PageRequest::default()));
    fails_alike!(h, |port| port.add_address(&ctx(), stranger, address(AddressKind::Billing, "X", false)));

    let mut bad = address(AddressKind::Shipping, " ", false);
    bad.country = "XX".into();
    bad.phone = Some("call me".into());
    bad.line2 = Some(String::new());
    let e = fails_alike!(h, |port| port.add_address(&ctx(), ann, bad.clone()));
    assert_eq!((e.status(), field_names(&e)), (422, vec!["name", "country", "phone"]));
    fails_alike!(h, |port| port.update_address(&ctx(), ann, home.id, bad.clone()));
}

#[tokio::test]
async fn sellers_are_created_read_and_known_to_the_directory_remotely() {
    let h = start().await;
    let caller = RequestContext::new("corr-seller-1", Actor::user(new_id()));
    let acme = h
        .remote
        .create_seller(&caller, NewSeller { name: "Acme".into(), email: Some("sales@acme.test".into()) })
        .await
        .unwrap();
    let bare = h.remote.create_seller(&ctx(), NewSeller { name: "Bare".into(), email: None }).await.unwrap();
    assert_eq!(bare.email, None);
    let read = h.remote.get_seller(&ctx(), acme.id).await.unwrap();
    assert_eq!((read.name.as_str(), read.email.as_deref()), ("Acme", Some("sales@acme.test")));
    assert_same(&read, &h.local.get_seller(&ctx(), acme.id).await.unwrap());

    // The caller's context reached the module: the event it wrote carries it.
    let events = outbox::pending(&h.database.db, 100).await.unwrap();
    let created = events.iter().find(|e| e.data["seller_id"] == acme.id.to_string()).unwrap();
    assert_eq!(created.correlation_id, "corr-seller-1");
    assert_eq!(created.metadata.actor_id, caller.actor.id);

    let listed = h.remote.list_sellers(&ctx(), PageRequest::default()).await.unwrap();
    assert_eq!(listed.total, 2);
    assert_same(&listed, &h.local.list_sellers(&ctx(), PageRequest::default()).await.unwrap());

    let directory: &dyn SellerDirectory = &h.remote;
    assert!(directory.seller_exists(&ctx(), acme.id).await.unwrap());
    let unknown = new_id();
    assert!(!directory.seller_exists(&ctx(), unknown).await.unwrap());

    let e = fails_alike!(h, |port| port.get_seller(&ctx(), unknown));
    assert!(matches!(e, Error::NotFound { resource: "seller", .. }), "{e:?}");
    let invalid = NewSeller { name: "".into(), email: Some("nope".into()) };
    let e = fails_alike!(h, |port| port.create_seller(&ctx(), invalid.clone()));
    assert_eq!((e.status(), field_names(&e)), (422, vec!["name", "email"]));
}

#[tokio::test]
async fn api_keys_are_created_used_listed_and_revoked_remotely() {
    let h = start().await;
    let scopes = vec![Permission::CatalogRead, Permission::OrdersWrite, Permission::MessagesRead];
    let created =
        h.remote.create_api_key(&ctx(), NewApiKey { name: "erp".into(), scopes: scopes.clone() }).await.unwrap();
    assert!(created.secret.starts_with(&created.key.prefix));
    assert_eq!(
        (created.key.scopes.as_slice(), created.key.last_used_at, created.key.revoked),
        (&scopes[..], None, false)
    );

    let principal = h.remote.authenticate_api_key(&created.secret).await.unwrap();
    assert_eq!(principal, Principal::App { key_id: created.key.id, name: "erp".into(), scopes: scopes.clone() });

    let listed = h.remote.list_api_keys(&ctx(), PageRequest::default()).await.unwrap();
    assert_eq!(listed.total, 1);
    assert!(listed.items[0].last_used_at.is_some(), "the use was recorded");
    assert_same(&listed, &h.local.list_api_keys(&ctx(), PageRequest::default()).await.unwrap());

    let revoked = h.remote.revoke_api_key(&ctx(), created.key.id).await.unwrap();
    assert!(revoked.revoked);
    assert_same(&h.remote.revoke_api_key(&ctx(), created.key.id).await.unwrap(), &revoked);
    let e = fails_alike!(h, |port| port.authenticate_api_key(&created.secret));
    assert_eq!((e.status(), e.to_string().as_str()), (401, "API key revoked"));
    fails_alike!(h, |port| port.authenticate_api_key("not-a-key"));

    let unknown = new_id();
    let e = fails_alike!(h, |port| port.revoke_api_key(&ctx(), unknown));
    assert!(matches!(e, Error::NotFound { resource: "api key", .. }), "{e:?}");
    let e = fails_alike!(h, |port| port.create_api_key(&ctx(), NewApiKey { name: " ".into(), scopes: vec![] }));
    assert_eq!((e.status(), field_names(&e)), (422, vec!["name", "scopes"]));
}

#[tokio::test]
async fn malformed_messages_are_bad_requests_naming_the_field() {
    let h = start().await;
    let mut raw = IdentityServiceClient::connect(h.url.clone()).await.unwrap();
    let bad = |status: tonic::Status| from_status("identity", &status);

    let e = bad(raw.get_customer(pb::GetCustomerRequest { id: "nope".into() }).await.unwrap_err());
    assert_eq!(e.status(), 400);
    assert!(e.to_string().starts_with("id:"), "{e}");

    let unspecified = pb::SetCustomerTierRequest { id: new_id().to_string(), tier: 0 };
    let e = bad(raw.set_customer_tier(unspecified).await.unwrap_err());
    assert_eq!(e.status(), 400);
    assert!(e.to_string().starts_with("tier:"), "{e}");

    let unknown_role = pb::CreateStaffRequest { roles: vec![pb::Role::Admin.into(), 42], ..Default::default() };
    let e = bad(raw.create_staff(unknown_role).await.unwrap_err());
    assert!(e.to_string().starts_with("roles:"), "{e}");

    let no_address = pb::AddAddressRequest { customer_id: new_id().to_string(), address: None };
    let e = bad(raw.add_address(no_address).await.unwrap_err());
    assert!(e.to_string().starts_with("address:"), "{e}");
}

#[tokio::test]
async fn a_down_identity_service_is_unavailable_fast() {
    let remote = Remote::connect("identity", "http://127.0.0.1:1", RemoteSettings::default()).unwrap();
    let e = IdentityClient::new(remote).authenticate_token("any").await.unwrap_err();
    assert_eq!(e.status(), 503);
    assert!(e.to_string().contains("identity service is unavailable"), "{e}");
}
