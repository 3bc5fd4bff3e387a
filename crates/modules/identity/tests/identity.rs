//! Identity against a real database (SQLite, or PostgreSQL when COMPTOIR_TEST_BACKEND=postgres):
//! accounts, sessions and tokens, staff and permissions, tiers, addresses, sellers, API keys, the
//! events written to the outbox, and concurrent requests changing the same things.

use std::time::Duration;

use comptoir_contracts::identity::events;
use comptoir_contracts::identity::{
    AddressInput, AddressKind, Credentials, CustomerFilter, CustomerTier, IdentityPort, NewApiKey, NewSeller, NewStaff,
    Permission, Principal, RegisterCustomer, Role, SellerDirectory, TokenPair,
};
use comptoir_identity::{IdentityConfig, IdentityModule, MIGRATIONS};
use comptoir_kernel::{Error, EventEnvelope, PageRequest, RequestContext, new_id};
use comptoir_storage::{Db, outbox, testing};
use uuid::Uuid;

const SECRET: &str = "a-test-secret-that-is-long-enough-0123456789";
const PASSWORD: &str = "correct horse battery staple";

/// A fresh migrated database (kept alive by the first value) and the module on it.
async fn open_with(config: IdentityConfig) -> (testing::TestDb, Db, IdentityModule) {
    let database = testing::open("identity", &MIGRATIONS).await;
    let db = database.db.clone();
    let identity = IdentityModule::new(db.clone(), config);
    (database, db, identity)
}

async fn open() -> (testing::TestDb, Db, IdentityModule) {
    open_with(IdentityConfig::with_secret(SECRET)).await
}

fn ctx() -> RequestContext {
    RequestContext::system()
}

fn registration(email: &str) -> RegisterCustomer {
    RegisterCustomer {
        email: email.into(),
        password: PASSWORD.into(),
        first_name: Some("Ann".into()),
        last_name: Some("Smith".into()),
    }
}

fn credentials(email: &str, password: &str) -> Credentials {
    Credentials { email: email.into(), password: password.into() }
}

fn staff(email: &str, roles: Vec<Role>) -> NewStaff {
    NewStaff { email: email.into(), password: PASSWORD.into(), name: "Sam Staff".into(), roles }
}

/// Registers a customer and logs them in.
async fn customer(identity: &IdentityModule, email: &str) -> (Uuid, TokenPair) {
    let customer = identity.register_customer(&ctx(), registration(email)).await.unwrap();
    let (_, pair) = identity.login_customer(&ctx(), credentials(email, PASSWORD)).await.unwrap();
    (customer.id, pair)
}

async fn events_of_type(db: &Db, event_type: &str) -> Vec<EventEnvelope> {
    outbox::pending(db, 1000).await.unwrap().into_iter().filter(|e| e.event_type == event_type).collect()
}

fn field_names(e: &Error) -> Vec<&str> {
    e.field_errors().iter().map(|f| f.field.as_str()).collect()
}

fn session_of(principal: &Principal) -> Uuid {
    match principal {
        Principal::Customer { session_id, .. } | Principal::Staff { session_id, .. } => *session_id,
        Principal::App { .. } => panic!("an app has no session"),
    }
}

#[tokio::test]
async fn a_customer_registers_logs_in_and_is_recognised() {
    let (_database, db, identity) = open().await;
    let customer = identity.register_customer(&ctx(), registration(" Ann@Example.COM ")).await.unwrap();
    assert_eq!(customer.email, "ann@example.com");
    assert_eq!(customer.tier, CustomerTier::Standard);
    assert_eq!(identity.get_customer(&ctx(), customer.id).await.unwrap().email, "ann@example.com");

    let (logged_in, pair) = identity.login_customer(&ctx(), credentials("ANN@example.com", PASSWORD)).await.unwrap();
    assert_eq!(logged_in.id, customer.id);
    assert_eq!(pair.token_type, "Bearer");
    assert_eq!(pair.expires_in, 15 * 60);

    let principal = identity.authenticate_token(&pair.access_token).await.unwrap();
    let Principal::Customer { id, email, tier, .. } = &principal else { panic!("{principal:?}") };
    assert_eq!((*id, email.as_str(), *tier), (customer.id, "ann@example.com", CustomerTier::Standard));
    assert!(!principal.has(Permission::CatalogRead), "customers hold no back-office permission");

    let registered = events_of_type(&db, events::USER_REGISTERED).await;
    assert_eq!(registered.len(), 1);
    assert_eq!(registered[0].source, "identity");
    let data: events::UserRegistered = registered[0].data_as().unwrap();
    assert_eq!((data.user_id, data.email.as_str()), (customer.id, "ann@example.com"));
    let created = events_of_type(&db, events::SESSION_CREATED).await;
    assert_eq!(created.len(), 1);
    let session: events::SessionEvent = created[0].data_as().unwrap();
    assert_eq!((session.session_id, session.user_id), (session_of(&principal), customer.id));
    assert_eq!(session.user_kind, "customer");
    assert_eq!(created[0].metadata.actor_id, Some(customer.id.to_string()));
}

#[tokio::test]
async fn registration_rejects_bad_input_and_duplicate_emails() {
    let (_database, db, identity) = open().await;
    let short = RegisterCustomer { password: "too short".into(), ..registration("ann@example.com") };
    let e = identity.register_customer(&ctx(), short).await.unwrap_err();
    assert_eq!((e.status(), field_names(&e)), (422, vec!["password"]));
    let e = identity.register_customer(&ctx(), registration("not an email")).await.unwrap_err();
    assert_eq!(field_names(&e), ["email"]);

    identity.register_customer(&ctx(), registration("ann@example.com")).await.unwrap();
    let e = identity.register_customer(&ctx(), registration("ANN@example.com")).await.unwrap_err();
    assert_eq!((e.status(), e.code(), field_names(&e)), (409, "duplicate-email", vec!["email"]));
    assert_eq!(e.field_errors()[0].message, "is already registered");
    assert_eq!(events_of_type(&db, events::USER_REGISTERED).await.len(), 1, "nothing written for the duplicate");

    // The same email may belong to a staff account: uniqueness is per kind of account.
    identity.create_staff(&ctx(), staff("ann@example.com", vec![Role::Support])).await.unwrap();
}

#[tokio::test]
async fn failed_logins_all_look_the_same() {
    let (_database, db, identity) = open().await;
    identity.register_customer(&ctx(), registration("ann@example.com")).await.unwrap();

    let wrong_password =
        identity.login_customer(&ctx(), credentials("ann@example.com", "not the password")).await.unwrap_err();
    let unknown_email = identity.login_customer(&ctx(), credentials("bob@example.com", PASSWORD)).await.unwrap_err();
    let customer_on_staff_login =
        identity.login_staff(&ctx(), credentials("ann@example.com", PASSWORD)).await.unwrap_err();
    for e in [&wrong_password, &unknown_email, &customer_on_staff_login] {
        assert_eq!(e.status(), 401);
        assert_eq!(e.to_string(), "invalid email or password");
    }
    assert!(events_of_type(&db, events::SESSION_CREATED).await.is_empty());
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_token_revokes_the_session() {
    let (_database, db, identity) = open().await;
    let (_, first) = customer(&identity, "ann@example.com").await;
    let session = session_of(&identity.authenticate_token(&first.access_token).await.unwrap());

    let second = identity.refresh(&ctx(), &first.refresh_token).await.unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_ne!(second.access_token, first.access_token);
    assert_eq!(session_of(&identity.authenticate_token(&second.access_token).await.unwrap()), session, "same session");

    let third = identity.refresh(&ctx(), &second.refresh_token).await.unwrap();
    assert!(identity.authenticate_token(&third.access_token).await.is_ok());

    // The first token was exchanged already: whoever presents it again holds a stolen copy.
    let e = identity.refresh(&ctx(), &first.refresh_token).await.unwrap_err();
    assert_eq!(e.status(), 401);
    assert_eq!(identity.refresh(&ctx(), &third.refresh_token).await.unwrap_err().status(), 401, "session revoked");
    assert_eq!(identity.authenticate_token(&third.access_token).await.unwrap_err().status(), 401);

    let revoked = events_of_type(&db, events::SESSION_REVOKED).await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].data_as::<events::SessionEvent>().unwrap().session_id, session);

    for garbage in ["", "nope", &"x".repeat(1000)] {
        assert_eq!(identity.refresh(&ctx(), garbage).await.unwrap_err().to_string(), "invalid refresh token");
    }
}

#[tokio::test]
async fn logout_revokes_the_session() {
    let (_database, db, identity) = open().await;
    let (_, pair) = customer(&identity, "ann@example.com").await;
    let session = session_of(&identity.authenticate_token(&pair.access_token).await.unwrap());

    identity.logout(&ctx(), session).await.unwrap();
    let e = identity.authenticate_token(&pair.access_token).await.unwrap_err();
    assert_eq!(e.status(), 401);
    assert_eq!(identity.refresh(&ctx(), &pair.refresh_token).await.unwrap_err().status(), 401);

    identity.logout(&ctx(), session).await.unwrap();
    assert_eq!(events_of_type(&db, events::SESSION_REVOKED).await.len(), 1, "a second logout changes nothing");
    assert_eq!(identity.logout(&ctx(), new_id()).await.unwrap_err().status(), 404);

    // Other sessions of the same customer are untouched.
    let (_, other) = identity.login_customer(&ctx(), credentials("ann@example.com", PASSWORD)).await.unwrap();
    assert!(identity.authenticate_token(&other.access_token).await.is_ok());
}

fn sign(claims: serde_json::Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn expired_forged_and_foreign_tokens_are_refused() {
    let (_database, _db, identity) = open().await;
    let (customer_id, pair) = customer(&identity, "ann@example.com").await;
    let session = session_of(&identity.authenticate_token(&pair.access_token).await.unwrap());
    let now = chrono::Utc::now().timestamp();
    let claims = |iss: &str, iat: i64, exp: i64| {
        serde_json::json!({
            "sub": customer_id, "kind": "customer", "sid": session, "iss": iss,
            "iat": iat, "exp": exp, "jti": new_id(),
        })
    };

    assert!(identity.authenticate_token(&sign(claims("comptoir", now, now + 60), SECRET)).await.is_ok(), "sanity");

    let expired =
        identity.authenticate_token(&sign(claims("comptoir", now - 120, now - 60), SECRET)).await.unwrap_err();
    assert_eq!((expired.status(), expired.to_string().as_str()), (401, "access token expired"));

    let forged = sign(claims("comptoir", now, now + 60), "someone-else's-secret-0123456789abcdef");
    assert_eq!(identity.authenticate_token(&forged).await.unwrap_err().status(), 401);

    let foreign = sign(claims("elsewhere", now, now + 60), SECRET);
    assert_eq!(identity.authenticate_token(&foreign).await.unwrap_err().status(), 401);

    let mut tampered = claims("comptoir", now, now + 60);
    tampered["kind"] = "staff".into();
    assert_eq!(identity.authenticate_token(&sign(tampered, SECRET)).await.unwrap_err().status(), 401);

    let unknown_session = sign(
        serde_json::json!({"sub": customer_id, "kind": "customer", "sid": new_id(), "iss": "comptoir",
                           "iat": now, "exp": now + 60, "jti": new_id()}),
        SECRET,
    );
    assert_eq!(identity.authenticate_token(&unknown_session).await.unwrap_err().status(), 401);
    assert_eq!(identity.authenticate_token("garbage").await.unwrap_err().status(), 401);
}

#[tokio::test]
async fn a_short_access_ttl_expires_tokens() {
    let config = IdentityConfig { access_ttl: Duration::from_secs(1), ..IdentityConfig::with_secret(SECRET) };
    let (_database, _db, identity) = open_with(config).await;
    let (_, pair) = customer(&identity, "ann@example.com").await;
    assert_eq!(pair.expires_in, 1);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let e = identity.authenticate_token(&pair.access_token).await.unwrap_err();
    assert_eq!(e.to_string(), "access token expired");
    // The session itself lives on: the refresh token gets a fresh access token.
    let fresh = identity.refresh(&ctx(), &pair.refresh_token).await.unwrap();
    assert!(identity.authenticate_token(&fresh.access_token).await.is_ok());
}

#[tokio::test]
async fn an_expired_session_ends_its_tokens() {
    let config = IdentityConfig { refresh_ttl: Duration::ZERO, ..IdentityConfig::with_secret(SECRET) };
    let (_database, _db, identity) = open_with(config).await;
    let (_, pair) = customer(&identity, "ann@example.com").await;
    assert_eq!(identity.authenticate_token(&pair.access_token).await.unwrap_err().status(), 401);
    assert_eq!(identity.refresh(&ctx(), &pair.refresh_token).await.unwrap_err().status(), 401);
}

#[tokio::test]
async fn without_a_secret_no_token_is_issued() {
    let (_database, _db, identity) = open_with(IdentityConfig::default()).await;
    identity.register_customer(&ctx(), registration("ann@example.com")).await.unwrap();
    let e = identity.login_customer(&ctx(), credentials("ann@example.com", PASSWORD)).await.unwrap_err();
    assert!(e.is_internal());
}

#[tokio::test]
async fn staff_roles_become_permissions() {
    let (_database, db, identity) = open().await;
    assert_eq!(identity.staff_count().await.unwrap(), 0);
    let e = identity.create_staff(&ctx(), staff("cat@shop.test", vec![])).await.unwrap_err();
    assert_eq!((e.status(), field_names(&e)), (422, vec!["roles"]));
    let e = identity
        .create_staff(&ctx(), NewStaff { name: " ".into(), password: "short".into(), ..staff("x", vec![Role::Admin]) })
        .await
        .unwrap_err();
    assert_eq!(field_names(&e), ["email", "password", "name"]);

    let created = identity.create_staff(&ctx(), staff("Cat@Shop.test", vec![Role::CatalogManager])).await.unwrap();
    assert_eq!((created.email.as_str(), created.roles.as_slice()), ("cat@shop.test", &[Role::CatalogManager][..]));
    identity.create_staff(&ctx(), staff("admin@shop.test", vec![Role::Admin])).await.unwrap();
    let e = identity.create_staff(&ctx(), staff("cat@shop.test", vec![Role::Support])).await.unwrap_err();
    assert_eq!(e.code(), "duplicate-email");
    assert_eq!(identity.staff_count().await.unwrap(), 2);
    let listed = identity.list_staff(&ctx(), PageRequest::default()).await.unwrap();
    assert_eq!(listed.total, 2);
    assert_eq!(listed.items[0].id, created.id, "in creation order");

    let (logged_in, pair) = identity.login_staff(&ctx(), credentials("cat@shop.test", PASSWORD)).await.unwrap();
    assert_eq!(logged_in.id, created.id);
    let principal = identity.authenticate_token(&pair.access_token).await.unwrap();
    assert!(matches!(&principal, Principal::Staff { roles, .. } if roles == &[Role::CatalogManager]));
    assert!(principal.has(Permission::CatalogWrite));
    assert!(principal.has(Permission::SellersManage));
    assert!(!principal.has(Permission::StaffManage));
    assert_eq!(principal.require(Permission::ApiKeysManage).unwrap_err().status(), 403);

    // Staff credentials do not open the storefront.
    let e = identity.login_customer(&ctx(), credentials("cat@shop.test", PASSWORD)).await.unwrap_err();
    assert_eq!(e.to_string(), "invalid email or password");

    let created_events = events_of_type(&db, events::STAFF_CREATED).await;
    assert_eq!(created_events.len(), 2);
    let data: events::StaffCreated = created_events[0].data_as().unwrap();
    assert_eq!((data.staff_id, data.roles), (created.id, vec![Role::CatalogManager]));
}

#[tokio::test]
async fn a_tier_change_shows_in_the_next_request() {
    let (_database, db, identity) = open().await;
    let (id, pair) = customer(&identity, "ann@example.com").await;
    let vip = identity.set_customer_tier(&ctx(), id, CustomerTier::Vip).await.unwrap();
    assert_eq!(vip.tier, CustomerTier::Vip);

    // The same access token, issued before the change, now carries the new tier.
    let principal = identity.authenticate_token(&pair.access_token).await.unwrap();
    assert!(matches!(principal, Principal::Customer { tier: CustomerTier::Vip, .. }));

    identity.set_customer_tier(&ctx(), id, CustomerTier::Vip).await.unwrap();
    let changed = events_of_type(&db, events::CUSTOMER_TIER_CHANGED).await;
    assert_eq!(changed.len(), 1, "setting the same tier again is no change");
    let data: events::CustomerTierChanged = changed[0].data_as().unwrap();
    assert_eq!((data.customer_id, data.previous_tier, data.tier), (id, CustomerTier::Standard, CustomerTier::Vip));

    assert_eq!(identity.set_customer_tier(&ctx(), new_id(), CustomerTier::Vip).await.unwrap_err().status(), 404);
    assert_eq!(identity.get_customer(&ctx(), new_id()).await.unwrap_err().status(), 404);
}

#[tokio::test]
async fn customers_are_listed_filtered_and_paginated() {
    let (_database, _db, identity) = open().await;
    let mut ids = vec![];
    for email in ["ann@example.com", "bob@example.com", "carl@other.test", "a_b@other.test"] {
        ids.push(identity.register_customer(&ctx(), registration(email)).await.unwrap().id);
    }
    identity.set_customer_tier(&ctx(), ids[1], CustomerTier::Vip).await.unwrap();

    let all =
        identity.list_customers(&ctx(), CustomerFilter::default(), PageRequest::new(1, 3).unwrap()).await.unwrap();
    assert_eq!((all.total, all.items.len()), (4, 3));
    assert_eq!(all.items.iter().map(|c| c.id).collect::<Vec<_>>(), ids[..3], "in creation order");
    let second =
        identity.list_customers(&ctx(), CustomerFilter::default(), PageRequest::new(2, 3).unwrap()).await.unwrap();
    assert_eq!(second.items.iter().map(|c| c.id).collect::<Vec<_>>(), [ids[3]]);

    let by_email = CustomerFilter { email: Some("EXAMPLE".into()), tier: None };
    assert_eq!(identity.list_customers(&ctx(), by_email, PageRequest::default()).await.unwrap().total, 2);
    let literal_underscore = CustomerFilter { email: Some("a_b".into()), tier: None };
    let found = identity.list_customers(&ctx(), literal_underscore, PageRequest::default()).await.unwrap();
    assert_eq!(found.items.iter().map(|c| c.id).collect::<Vec<_>>(), [ids[3]], "_ is not a wildcard");
    let vip = CustomerFilter { email: Some("example".into()), tier: Some(CustomerTier::Vip) };
    let found = identity.list_customers(&ctx(), vip, PageRequest::default()).await.unwrap();
    assert_eq!(found.items.iter().map(|c| c.id).collect::<Vec<_>>(), [ids[1]]);

    let bad_page = PageRequest { page: 0, per_page: 20 };
    assert_eq!(identity.list_customers(&ctx(), CustomerFilter::default(), bad_page).await.unwrap_err().status(), 422);
}

fn address(kind: AddressKind, name: &str, is_default: bool) -> AddressInput {
    AddressInput {
        kind,
        name: name.into(),
        line1: "1 rue de la Paix".into(),
        line2: None,
        city: "Paris".into(),
        postal_code: "75002".into(),
        region: None,
        country: "FR".into(),
        phone: None,
        is_default,
    }
}

#[tokio::test]
async fn addresses_switch_defaults_and_stay_private() {
    let (_database, db, identity) = open().await;
    let ann = identity.register_customer(&ctx(), registration("ann@example.com")).await.unwrap().id;
    let bob = identity.register_customer(&ctx(), registration("bob@example.com")).await.unwrap().id;

    let home = identity.add_address(&ctx(), ann, address(AddressKind::Shipping, "Home", true)).await.unwrap();
    let billing = identity.add_address(&ctx(), ann, address(AddressKind::Billing, "Billing", true)).await.unwrap();
    let work = identity.add_address(&ctx(), ann, address(AddressKind::Shipping, "Work", true)).await.unwrap();
    assert!(work.is_default);

    let defaults = |page: comptoir_kernel::Page<comptoir_contracts::identity::Address>| {
        page.items.iter().filter(|a| a.is_default).map(|a| a.name.clone()).collect::<Vec<_>>()
    };
    let listed = identity.list_addresses(&ctx(), ann, PageRequest::default()).await.unwrap();
    assert_eq!(listed.total, 3);
    assert_eq!(defaults(listed), ["Billing", "Work"], "one default per kind; billing untouched");

    // Making the home address the default again takes it from work.
    let mut input = address(AddressKind::Shipping, "Home, updated", true);
    input.phone = Some("+33 1 23 45 67 89".into());
    let updated = identity.update_address(&ctx(), ann, home.id, input).await.unwrap();
    assert_eq!(updated.phone.as_deref(), Some("+33 1 23 45 67 89"));
    let listed = identity.list_addresses(&ctx(), ann, PageRequest::default()).await.unwrap();
    assert_eq!(defaults(listed), ["Home, updated", "Billing"]);

    // Bob can neither change nor delete Ann's address, nor learn that it exists.
    let e =
        identity.update_address(&ctx(), bob, home.id, address(AddressKind::Shipping, "Mine", false)).await.unwrap_err();
    assert_eq!(e.status(), 404);
    assert_eq!(identity.delete_address(&ctx(), bob, billing.id).await.unwrap_err().status(), 404);
    assert_eq!(identity.list_addresses(&ctx(), bob, PageRequest::default()).await.unwrap().total, 0);

    identity.delete_address(&ctx(), ann, work.id).await.unwrap();
    assert_eq!(identity.delete_address(&ctx(), ann, work.id).await.unwrap_err().status(), 404);
    assert_eq!(identity.list_addresses(&ctx(), ann, PageRequest::default()).await.unwrap().total, 2);

    let changes: Vec<events::AddressChanged> =
        events_of_type(&db, events::ADDRESS_CHANGED).await.iter().map(|e| e.data_as().unwrap()).collect();
    let kinds: Vec<_> = changes.iter().map(|c| c.change).collect();
    use events::AddressChange::*;
    assert_eq!(kinds, [Added, Added, Added, Updated, Deleted]);
    assert!(changes.iter().all(|c| c.customer_id == ann));
}

#[tokio::test]
async fn addresses_are_validated_and_limited() {
    let (_database, _db, identity) = open().await;
    let ann = identity.register_customer(&ctx(), registration("ann@example.com")).await.unwrap().id;

    let mut bad = address(AddressKind::Shipping, "", false);
    bad.country = "UK".into();
    bad.postal_code = " ".into();
    let e = identity.add_address(&ctx(), ann, bad).await.unwrap_err();
    assert_eq!((e.status(), field_names(&e)), (422, vec!["name", "postal_code", "country"]));

    let mut lowercase = address(AddressKind::Billing, "Ann", false);
    lowercase.country = "de".into();
    assert_eq!(identity.add_address(&ctx(), ann, lowercase).await.unwrap().country, "DE");

    let unknown = new_id();
    let e = identity.add_address(&ctx(), unknown, address(AddressKind::Shipping, "X", false)).await.unwrap_err();
    assert_eq!(e.status(), 404);
    assert_eq!(identity.list_addresses(&ctx(), unknown, PageRequest::default()).await.unwrap_err().status(), 404);

    for n in 1..20 {
        identity.add_address(&ctx(), ann, address(AddressKind::Shipping, &format!("A{n}"), false)).await.unwrap();
    }
    let e = identity.add_address(&ctx(), ann, address(AddressKind::Shipping, "One too many", false)).await.unwrap_err();
    assert_eq!((e.status(), field_names(&e)), (422, vec!["addresses"]));
    assert_eq!(identity.list_addresses(&ctx(), ann, PageRequest::default()).await.unwrap().total, 20);
}

#[tokio::test]
async fn sellers_are_created_and_found() {
    let (_database, db, identity) = open().await;
    let e =
        identity.create_seller(&ctx(), NewSeller { name: " ".into(), email: Some("bad".into()) }).await.unwrap_err();
    assert_eq!(field_names(&e), ["name", "email"]);

    let acme = identity
        .create_seller(&ctx(), NewSeller { name: "Acme".into(), email: Some("Sales@Acme.test".into()) })
        .await
        .unwrap();
    assert_eq!(acme.email.as_deref(), Some("sales@acme.test"));
    identity.create_seller(&ctx(), NewSeller { name: "Zeta".into(), email: None }).await.unwrap();

    assert_eq!(identity.get_seller(&ctx(), acme.id).await.unwrap().name, "Acme");
    assert_eq!(identity.get_seller(&ctx(), new_id()).await.unwrap_err().status(), 404);
    let listed = identity.list_sellers(&ctx(), PageRequest::new(1, 1).unwrap()).await.unwrap();
    assert_eq!((listed.total, listed.items[0].id), (2, acme.id));
    assert!(identity.seller_exists(&ctx(), acme.id).await.unwrap());
    assert!(!identity.seller_exists(&ctx(), new_id()).await.unwrap());

    let created = events_of_type(&db, events::SELLER_CREATED).await;
    assert_eq!(created.len(), 2);
    assert_eq!(created[0].data_as::<events::SellerCreated>().unwrap().seller_id, acme.id);
}

#[tokio::test]
async fn api_keys_are_created_used_and_revoked() {
    let (_database, db, identity) = open().await;
    let e = identity.create_api_key(&ctx(), NewApiKey { name: "erp".into(), scopes: vec![] }).await.unwrap_err();
    assert_eq!(field_names(&e), ["scopes"]);

    let scopes = vec![Permission::CatalogRead, Permission::InventoryWrite];
    let created =
        identity.create_api_key(&ctx(), NewApiKey { name: "erp".into(), scopes: scopes.clone() }).await.unwrap();
    let secret = created.secret.clone();
    assert!(secret.starts_with(&format!("{}_", created.key.prefix)));
    assert_eq!(created.key.prefix.len(), "ck_".len() + 8);
    assert!(!created.key.revoked && created.key.last_used_at.is_none());

    let principal = identity.authenticate_api_key(&secret).await.unwrap();
    assert_eq!(principal, Principal::App { key_id: created.key.id, name: "erp".into(), scopes: scopes.clone() });
    assert!(principal.has(Permission::InventoryWrite));
    assert!(!principal.has(Permission::CatalogWrite));
    identity.authenticate_api_key(&secret).await.unwrap();

    let listed = identity.list_api_keys(&ctx(), PageRequest::default()).await.unwrap();
    assert_eq!(listed.total, 1);
    assert!(listed.items[0].last_used_at.is_some(), "use recorded");

    let e = identity.authenticate_api_key(&format!("{}x", secret)).await.unwrap_err();
    assert_eq!((e.status(), e.to_string().as_str()), (401, "invalid API key"));
    assert_eq!(identity.authenticate_api_key("not-a-key").await.unwrap_err().status(), 401);

    let revoked = identity.revoke_api_key(&ctx(), created.key.id).await.unwrap();
    assert!(revoked.revoked);
    let e = identity.authenticate_api_key(&secret).await.unwrap_err();
    assert_eq!((e.status(), e.to_string().as_str()), (401, "API key revoked"));
    assert!(identity.revoke_api_key(&ctx(), created.key.id).await.unwrap().revoked, "revoking twice is fine");
    assert_eq!(identity.revoke_api_key(&ctx(), new_id()).await.unwrap_err().status(), 404);

    assert_eq!(events_of_type(&db, events::API_KEY_CREATED).await.len(), 1);
    let revoked_events = events_of_type(&db, events::API_KEY_REVOKED).await;
    assert_eq!(revoked_events.len(), 1, "the second revocation changed nothing");
    assert_eq!(revoked_events[0].data_as::<events::ApiKeyEvent>().unwrap().key_id, created.key.id);
}

#[tokio::test]
async fn events_never_carry_secrets() {
    let (_database, db, identity) = open().await;
    let (id, pair) = customer(&identity, "ann@example.com").await;
    let refreshed = identity.refresh(&ctx(), &pair.refresh_token).await.unwrap();
    identity.refresh(&ctx(), &pair.refresh_token).await.unwrap_err();
    identity.create_staff(&ctx(), staff("admin@shop.test", vec![Role::Admin])).await.unwrap();
    identity.add_address(&ctx(), id, address(AddressKind::Shipping, "Home", true)).await.unwrap();
    let key = identity
        .create_api_key(&ctx(), NewApiKey { name: "erp".into(), scopes: vec![Permission::CatalogRead] })
        .await
        .unwrap();
    identity.revoke_api_key(&ctx(), key.key.id).await.unwrap();

    let all = outbox::pending(&db, 1000).await.unwrap();
    let types: std::collections::BTreeSet<_> = all.iter().map(|e| e.event_type.as_str()).collect();
    for expected in [
        events::USER_REGISTERED,
        events::SESSION_CREATED,
        events::SESSION_REVOKED,
        events::STAFF_CREATED,
        events::ADDRESS_CHANGED,
        events::API_KEY_CREATED,
        events::API_KEY_REVOKED,
    ] {
        assert!(types.contains(expected), "{expected} missing from {types:?}");
    }
    let text = serde_json::to_string(&all).unwrap();
    for secret in [PASSWORD, "argon2", &pair.access_token, &pair.refresh_token, &refreshed.refresh_token, &key.secret] {
        assert!(!text.contains(secret), "an event carries {secret}");
    }
}

/// Runs `n` copies of `task` at once and collects their results.
async fn all_at_once<T, F, Fut>(n: usize, task: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = (0..n).map(|i| tokio::spawn(task(i))).collect();
    let mut results = Vec::with_capacity(n);
    for handle in handles {
        results.push(handle.await.unwrap());
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_changes_happen_once() {
    let (_database, db, identity) = open().await;
    let (ann, pair) = customer(&identity, "ann@example.com").await;

    // The same email registered at once: one account, the others are told it exists.
    let results = all_at_once(8, |_| {
        let identity = identity.clone();
        async move { identity.register_customer(&ctx(), registration("bob@example.com")).await }
    })
    .await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(results.iter().filter_map(|r| r.as_ref().err()).all(|e| e.code() == "duplicate-email"));

    // One refresh token presented at once: one new pair.
    let results = all_at_once(8, |_| {
        let (identity, token) = (identity.clone(), pair.refresh_token.clone());
        async move { identity.refresh(&ctx(), &token).await }
    })
    .await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);

    // The same tier change at once: one change, one event.
    let results = all_at_once(8, |_| {
        let identity = identity.clone();
        async move { identity.set_customer_tier(&ctx(), ann, CustomerTier::Vip).await }
    })
    .await;
    assert!(results.iter().all(|r| r.as_ref().unwrap().tier == CustomerTier::Vip));
    assert_eq!(events_of_type(&db, events::CUSTOMER_TIER_CHANGED).await.len(), 1);

    // Default addresses added at once: the limit holds and one stays the default.
    let results = all_at_once(30, |n| {
        let identity = identity.clone();
        async move { identity.add_address(&ctx(), ann, address(AddressKind::Shipping, &format!("A{n}"), true)).await }
    })
    .await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 20);
    assert!(results.iter().filter_map(|r| r.as_ref().err()).all(|e| field_names(e) == ["addresses"]));
    let listed = identity.list_addresses(&ctx(), ann, PageRequest::new(1, 50).unwrap()).await.unwrap();
    assert_eq!(listed.total, 20);
    assert_eq!(listed.items.iter().filter(|a| a.is_default).count(), 1, "one default shipping address");

    // A key revoked at once: one revocation event.
    let erp = NewApiKey { name: "erp".into(), scopes: vec![Permission::CatalogRead] };
    let key = identity.create_api_key(&ctx(), erp).await.unwrap().key.id;
    let results = all_at_once(8, |_| {
        let identity = identity.clone();
        async move { identity.revoke_api_key(&ctx(), key).await }
    })
    .await;
    assert!(results.iter().all(|r| r.as_ref().unwrap().revoked));
    assert_eq!(events_of_type(&db, events::API_KEY_REVOKED).await.len(), 1);
}
