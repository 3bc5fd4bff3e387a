//! The identity port: each method parses its input with the domain rules, then reads, or writes
//! its change and the matching event in one unit of work.

use async_trait::async_trait;
use comptoir_contracts::identity::events::{self, AddressChange};
use comptoir_contracts::identity::{
    Address, AddressInput, ApiKey, CreatedApiKey, Credentials, Customer, CustomerFilter, CustomerTier, IdentityPort,
    NewApiKey, NewSeller, NewStaff, Principal, RegisterCustomer, Seller, SellerDirectory, Staff, TokenPair,
};
use comptoir_kernel::time::{self, Timestamp};
use comptoir_kernel::{Actor, Error, EventEnvelope, Page, PageRequest, RequestContext, Result, new_id};
use uuid::Uuid;

use crate::domain::{self, MAX_ADDRESSES_PER_CUSTOMER, UserKind};
use crate::store::{self, Session, User};
use crate::{IdentityModule, SOURCE, password, tokens};

/// The one answer to a failed login, whatever failed, so that it reveals nothing.
fn invalid_credentials() -> Error {
    Error::unauthorized("invalid email or password")
}

/// Longer than any token or key this module issues: refused without touching the database.
const LONGEST_SECRET: usize = 256;

/// How often a tier change is tried again after losing to a concurrent one.
const TIER_CHANGE_ATTEMPTS: usize = 3;

impl IdentityModule {
    async fn login(&self, ctx: &RequestContext, kind: UserKind, credentials: Credentials) -> Result<(User, TokenPair)> {
        let email = credentials.email.trim().to_lowercase();
        let user = store::user_by_email(self.db.reader(), kind, &email).await?;
        // Verified even when the account does not exist (against a dummy hash): same work, same time.
        let stored_hash = user.as_ref().map(|u| u.password_hash.clone());
        let matches = password::verify(credentials.password, stored_hash).await?;
        let user = match user {
            Some(user) if matches => user,
            _ => return Err(invalid_credentials()),
        };

        let now = time::now();
        let session = Session {
            id: new_id(),
            user_id: user.id,
            user_kind: kind,
            expires_at: now + self.refresh_ttl,
            revoked_at: None,
        };
        let (pair, refresh_hash) = self.token_pair(&user, session.id, now)?;

        let ctx = RequestContext { actor: Actor::user(user.id), ..ctx.clone() };
        let mut uow = self.db.begin().await?;
        store::insert_session(&mut *uow, &session, &refresh_hash, now).await?;
        uow.emit(&session_event(&ctx, events::SESSION_CREATED, &session)).await?;
        uow.commit().await?;
        Ok((user, pair))
    }

    /// A new access token and refresh token for a session, with the hash under which the refresh
    /// token is stored.
    fn token_pair(&self, user: &User, session_id: Uuid, now: Timestamp) -> Result<(TokenPair, String)> {
        let access_token = self.tokens.issue(user.id, user.kind, session_id, &user.roles, now)?;
        let refresh_token = tokens::new_refresh_token();
        let refresh_hash = tokens::digest(&refresh_token);
        let pair = TokenPair {
            access_token,
            refresh_token,
            token_type: "Bearer".to_string(),
            expires_in: self.tokens.ttl_seconds(),
        };
        Ok((pair, refresh_hash))
    }

    /// A refresh token already exchanged was presented: someone holds a copy. The session is
    /// revoked, which logs out both the thief and the owner.
    async fn revoke_after_reuse(&self, ctx: &RequestContext, session_id: Uuid) -> Result<()> {
        let mut uow = self.db.begin().await?;
        if let Some(session) = store::revoke_session(&mut *uow, session_id, time::now()).await? {
            uow.emit(&session_event(ctx, events::SESSION_REVOKED, &session)).await?;
            tracing::warn!(session_id = %session_id, user_id = %session.user_id, "refresh token reused: session revoked");
        }
        uow.commit().await
    }

    async fn require_customer(&self, customer_id: Uuid) -> Result<()> {
        if store::customer_exists(self.db.reader(), customer_id).await? {
            Ok(())
        } else {
            Err(Error::not_found("customer", customer_id))
        }
    }
}

fn session_event(ctx: &RequestContext, event_type: &str, session: &Session) -> EventEnvelope {
    EventEnvelope::new(
        ctx,
        SOURCE,
        event_type,
        events::SessionEvent {
            session_id: session.id,
            user_id: session.user_id,
            user_kind: session.user_kind.as_str().to_string(),
        },
    )
}

fn address_event(ctx: &RequestContext, customer_id: Uuid, address: &Address, change: AddressChange) -> EventEnvelope {
    EventEnvelope::new(
        ctx,
        SOURCE,
        events::ADDRESS_CHANGED,
        events::AddressChanged {
            customer_id,
            address_id: address.id,
            kind: address.kind,
            change,
            is_default: address.is_default,
        },
    )
}

fn api_key_event(ctx: &RequestContext, event_type: &str, key: &ApiKey) -> EventEnvelope {
    EventEnvelope::new(
        ctx,
        SOURCE,
        event_type,
        events::ApiKeyEvent {
            key_id: key.id,
            name: key.name.clone(),
            prefix: key.prefix.clone(),
            scopes: key.scopes.clone(),
        },
    )
}

fn stored_address(id: Uuid, a: domain::AddressFields) -> Address {
    Address {
        id,
        kind: a.kind,
        name: a.name,
        line1: a.line1,
        line2: a.line2,
        city: a.city,
        postal_code: a.postal_code,
        region: a.region,
        country: a.country,
        phone: a.phone,
        is_default: a.is_default,
    }
}

#[async_trait]
impl IdentityPort for IdentityModule {
    #[tracing::instrument(name = "identity.register_customer", skip_all, fields(module = "identity", correlation_id = %ctx.correlation_id))]
    async fn register_customer(&self, ctx: &RequestContext, input: RegisterCustomer) -> Result<Customer> {
        let registration = domain::parse_registration(&input)?;
        let password_hash = password::hash(input.password).await?;
        let user = User {
            id: new_id(),
            kind: UserKind::Customer,
            email: registration.email,
            password_hash,
            first_name: registration.first_name,
            last_name: registration.last_name,
            name: None,
            tier: CustomerTier::default(),
            roles: vec![],
            created_at: time::now(),
        };

        let ctx = RequestContext { actor: Actor::user(user.id), ..ctx.clone() };
        let mut uow = self.db.begin().await?;
        store::insert_user(&mut *uow, &user).await?;
        let registered =
            events::UserRegistered { user_id: user.id, email: user.email.clone(), first_name: user.first_name.clone() };
        uow.emit(&EventEnvelope::new(&ctx, SOURCE, events::USER_REGISTERED, registered)).await?;
        uow.commit().await?;
        Ok(user.customer())
    }

    #[tracing::instrument(name = "identity.login_customer", skip_all, fields(module = "identity", correlation_id = %ctx.correlation_id))]
    async fn login_customer(&self, ctx: &RequestContext, credentials: Credentials) -> Result<(Customer, TokenPair)> {
        let (user, pair) = self.login(ctx, UserKind::Customer, credentials).await?;
        Ok((user.customer(), pair))
    }

    #[tracing::instrument(name = "identity.login_staff", skip_all, fields(module = "identity", correlation_id = %ctx.correlation_id))]
    async fn login_staff(&self, ctx: &RequestContext, credentials: Credentials) -> Result<(Staff, TokenPair)> {
        let (user, pair) = self.login(ctx, UserKind::Staff, credentials).await?;
        Ok((user.staff(), pair))
    }

    #[tracing::instrument(name = "identity.refresh", skip_all, fields(module = "identity", correlation_id = %ctx.correlation_id))]
    async fn refresh(&self, ctx: &RequestContext, refresh_token: &str) -> Result<TokenPair> {
        let invalid = || Error::unauthorized("invalid refresh token");
        if refresh_token.is_empty() || refresh_token.len() > LONGEST_SECRET {
            return Err(invalid());
        }
        let presented_hash = tokens::digest(refresh_token);

        let Some(session) = store::session_by_refresh_hash(self.db.reader(), &presented_hash).await? else {
            if let Some(session_id) = store::session_of_retired_token(self.db.reader(), &presented_hash).await? {
                self.revoke_after_reuse(ctx, session_id).await?;
                return Err(Error::unauthorized("refresh token already used; the session is revoked"));
            }
            return Err(invalid());
        };
        let now = time::now();
        if session.revoked_at.is_some() || session.expires_at <= now {
            return Err(Error::unauthorized("session expired or revoked"));
        }
        let user =
            store::user_by_id(self.db.reader(), session.user_kind, session.user_id).await?.ok_or_else(invalid)?;
        let (pair, new_hash) = self.token_pair(&user, session.id, now)?;

        let mut uow = self.db.begin().await?;
        let expires_at = now + self.refresh_ttl;
        // Conditional on the presented token still being current: a concurrent refresh with the
        // same token may have won since it was read.
        if !store::rotate_refresh_token(&mut *uow, session.id, &presented_hash, &new_hash, now, expires_at).await? {
            return Err(invalid());
        }
        store::retire_refresh_token(&mut *uow, &presented_hash, session.id, now).await?;
        uow.commit().await?;
        Ok(pair)
    }

    #[tracing::instrument(name = "identity.logout", skip_all, fields(module = "identity", correlation_id = %ctx.correlation_id))]
    async fn logout(&self, ctx: &RequestContext, session_id: Uuid) -> Result<()> {
        let mut uow = self.db.begin().await?;
        match store::revoke_session(&mut *uow, session_id, time::now()).await? {
            Some(session) => {
                uow.emit(&session_event(ctx, events::SESSION_REVOKED, &session)).await?;
                uow.commit().await
            }
            // Logging out twice is fine; logging out of a session that never was is not.
            None if store::session_exists(&mut *uow, session_id).await? => Ok(()),
            None => Err(Error::not_found("session", session_id)),
        }
    }

    #[tracing::instrument(name = "identity.authenticate_token", skip_all, fields(module = "identity"))]
    async fn authenticate_token(&self, token: &str) -> Result<Principal> {
        let claims = self.tokens.verify(token)?;
        let user = store::live_session_user(self.db.reader(), claims.sid, claims.sub, time::now())
            .await?
            .filter(|user| user.kind == claims.kind)
            .ok_or_else(|| Error::unauthorized("session expired or revoked"))?;
        Ok(match user.kind {
            UserKind::Customer => {
                Principal::Customer { id: user.id, email: user.email, tier: user.tier, session_id: claims.sid }
            }
            UserKind::Staff => {
                Principal::Staff { id: user.id, email: user.email, roles: user.roles, session_id: claims.sid }
            }
        })
    }

    #[tracing::instrument(name = "identity.authenticate_api_key", skip_all, fields(module = "identity"))]
    async fn authenticate_api_key(&self, key: &str) -> Result<Principal> {
        let invalid = || Error::unauthorized("invalid API key");
        if !key.starts_with("ck_") || key.len() > LONGEST_SECRET {
            return Err(invalid());
        }
        let stored = store::api_key_by_hash(self.db.reader(), &tokens::digest(key)).await?.ok_or_else(invalid)?;
        if stored.revoked_at.is_some() {
            return Err(Error::unauthorized("API key revoked"));
        }
        let now = time::now();
        if domain::should_record_key_use(stored.key.last_used_at, now) {
            // Bookkeeping only: a busy database must not turn a valid key away.
            let recorded = async {
                let mut uow = self.db.begin().await?;
                store::record_api_key_use(&mut *uow, stored.key.id, now).await?;
                uow.commit().await
            };
            if let Err(e) = recorded.await {
                tracing::warn!(key_id = %stored.key.id, error = %e, "could not record API key use");
            }
        }
        Ok(Principal::App { key_id: stored.key.id, name: stored.key.name, scopes: stored.key.scopes })
    }

    #[tracing::instrument(name = "identity.get_customer", skip_all, fields(module = "identity", correlation_id = %_ctx.correlation_id))]
    async fn get_customer(&self, _ctx: &RequestContext, id: Uuid) -> Result<Customer> {
        store::user_by_id(self.db.reader(), UserKind::Customer, id)
            .await?
            .map(|u| u.customer())
            .ok_or_else(|| Error::not_found("customer", id))
    }

    #[tracing::instrument(name = "identity.list_customers", skip_all, fields(module = "identity", correlation_id = %_ctx.correlation_id))]
    async fn list_customers(
        &self,
        _ctx: &RequestContext,
        filter: CustomerFilter,
        page: PageRequest,
    ) -> Result<Page<Customer>> {
        page.validate()?;
        let (users, total) = store::list_customers(self.db.reader(), &filter, page).await?;
        Ok(Page::new(users.iter().map(User::customer).collect(), page, total as u64))
    }

    #[tracing::instrument(name = "identity.set_customer_tier", skip_all, fields(module = "identity", correlation_id = %ctx.correlation_id))]
    async fn set_customer_tier(&self, ctx: &RequestContext, id: Uuid, tier: CustomerTier) -> Result<Customer> {
        let mut uow = self.db.begin().await?;
        // The change is conditional on the tier just read, so that concurrent changes (PostgreSQL
        // does not serialise writers) each report the tier they really replaced; one that lost
        // reads the tier again.
        for _ in 0..TIER_CHANGE_ATTEMPTS {
            let mut user = store::user_by_id(&mut *uow, UserKind::Customer, id)
                .await?
                .ok_or_else(|| Error::not_found("customer", id))?;
            if user.tier == tier {
                return Ok(user.customer());
            }
            if store::set_tier(&mut *uow, id, user.tier, tier, time::now()).await? {
                let changed = events::CustomerTierChanged { customer_id: id, previous_tier: user.tier, tier };
                uow.emit(&EventEnvelope::new(ctx, SOURCE, events::CUSTOMER_TIER_CHANGED, changed)).await?;
                uow.commit().await?;
                user.tier = tier;
                return Ok(user.customer());
            }
        }
        Err(Error::conflict_on("concurrent-change", "tier", "was being changed by another request; try again"))
    }

    #[tracing::instrument(name = "identity.list_addresses", skip_all, fields(module = "identity", correlation_id = %_ctx.correlation_id))]
    async fn list_addresses(
        &self,
        _ctx: &RequestContext,
        customer_id: Uuid,
        page: PageRequest,
    ) -> Result<Page<Address>> {
        page.validate()?;
        self.require_customer(customer_id).await?;
        let (addresses, total) = store::list_addresses(self.db.reader(), customer_id, page).await?;
        Ok(Page::new(addresses, page, total as u64))
    }

    #[tracing::instrument(name = "identity.add_address", skip_all, fields(module = "identity", correlation_id = %ctx.correlation_id))]
    async fn add_address(&self, ctx: &RequestContext, customer_id: Uuid, input: AddressInput) -> Result<Address> {
        let fields = domain::parse_address(&input)?;
        let id = new_id();
        let now = time::now();

        let mut uow = self.db.begin().await?;
        // Held until commit: the count and the default below stay true while this one is added.
        if !store::lock_customer(&mut *uow, customer_id).await? {
            return Err(Error::not_found("customer", customer_id));
        }
        if store::count_addresses(&mut *uow, customer_id).await? >= MAX_ADDRESSES_PER_CUSTOMER {
            return Err(Error::validation(
                "addresses",
                format!("a customer can keep at most {MAX_ADDRESSES_PER_CUSTOMER} addresses"),
            ));
        }
        if fields.is_default {
            store::clear_default_addresses(&mut *uow, customer_id, fields.kind, id).await?;
        }
        store::insert_address(&mut *uow, customer_id, id, &fields, now).await?;
        let address = stored_address(id, fields);
        uow.emit(&address_event(ctx, customer_id, &address, AddressChange::Added)).await?;
        uow.commit().await?;
        Ok(address)
    }

    #[tracing::instrument(name = "identity.update_address", skip_all, fields(module = "identity", correlation_id = %ctx.correlation_id))]
    async fn update_address(
        &self,
        ctx: &RequestContext,
        customer_id: Uuid,
        address_id: Uuid,
        input: AddressInput,
    ) -> Result<Address> {
        let fields = domain::parse_address(&input)?;
        let mut uow = self.db.begin().await?;
        // Held until commit, so that a concurrent change cannot make a second default. An unknown
        // customer has no such address; an unknown address rolls the cleared defaults back.
        if !store::lock_customer(&mut *uow, customer_id).await? {
            return Err(Error::not_found("address", address_id));
        }
        if fields.is_default {
            store::clear_default_addresses(&mut *uow, customer_id, fields.kind, address_id).await?;
        }
        if !store::update_address(&mut *uow, customer_id, address_id, &fields, time::now()).await? {
            return Err(Error::not_found("address", address_id));
        }
        let address = stored_address(address_id, fields);
        uow.emit(&address_event(ctx, customer_id, &address, AddressChange::Updated)).await?;
        uow.commit().await?;
        Ok(address)
    }

    #[tracing::instrument(name = "identity.delete_address", skip_all, fields(module = "identity", correlation_id = %ctx.correlation_id))]
    async fn delete_address(&self, ctx: &RequestContext, customer_id: Uuid, address_id: Uuid) -> Result<()> {
        let mut uow = self.db.begin().await?;
        let address = store::delete_address(&mut *uow, customer_id, address_id)
            .await?
            .ok_or_else(|| Error::not_found("address", address_id))?;
        uow.emit(&address_event(ctx, customer_id, &address, AddressChange::Deleted)).await?;
        uow.commit().await
    }

    #[tracing::instrument(name = "identity.create_staff", skip_all, fields(module = "identity", correlation_id = %ctx.correlation_id))]
    async fn create_staff(&self, ctx: &RequestContext, input: NewStaff) -> Result<Staff> {
        let account = domain::parse_new_staff(&input)?;
        let password_hash = password::hash(input.password).await?;
        let user = User {
            id: new_id(),
            kind: UserKind::Staff,
            email: account.email,
            password_hash,
            first_name: None,
            last_name: None,
            name: Some(account.name),
            tier: CustomerTier::default(),
            roles: account.roles,
            created_at: time::now(),
        };
        let staff = user.staff();

        let mut uow = self.db.begin().await?;
        store::insert_user(&mut *uow, &user).await?;
        let created = events::StaffCreated {
            staff_id: staff.id,
            email: staff.email.clone(),
            name: staff.name.clone(),
            roles: staff.roles.clone(),
        };
        uow.emit(&EventEnvelope::new(ctx, SOURCE, events::STAFF_CREATED, created)).await?;
        uow.commit().await?;
        Ok(staff)
    }

    #[tracing::instrument(name = "identity.list_staff", skip_all, fields(module = "identity", correlation_id = %_ctx.correlation_id))]
    async fn list_staff(&self, _ctx: &RequestContext, page: PageRequest) -> Result<Page<Staff>> {
        page.validate()?;
        let (users, total) = store::list_staff(self.db.reader(), page).await?;
        Ok(Page::new(users.iter().map(User::staff).collect(), page, total as u64))
    }

    #[tracing::instrument(name = "identity.create_seller", skip_all, fields(module = "identity", correlation_id = %ctx.correlation_id))]
    async fn create_seller(&self, ctx: &RequestContext, input: NewSeller) -> Result<Seller> {
        let fields = domain::parse_new_seller(&input)?;
        let seller = Seller { id: new_id(), name: fields.name, email: fields.email, created_at: time::now() };

        let mut uow = self.db.begin().await?;
        store::insert_seller(&mut *uow, &seller).await?;
        let created =
            events::SellerCreated { seller_id: seller.id, name: seller.name.clone(), email: seller.email.clone() };
        uow.emit(&EventEnvelope::new(ctx, SOURCE, events::SELLER_CREATED, created)).await?;
        uow.commit().await?;
        Ok(seller)
    }

    #[tracing::instrument(name = "identity.get_seller", skip_all, fields(module = "identity", correlation_id = %_ctx.correlation_id))]
    async fn get_seller(&self, _ctx: &RequestContext, id: Uuid) -> Result<Seller> {
        store::seller(self.db.reader(), id).await?.ok_or_else(|| Error::not_found("seller", id))
    }

    #[tracing::instrument(name = "identity.list_sellers", skip_all, fields(module = "identity", correlation_id = %_ctx.correlation_id))]
    async fn list_sellers(&self, _ctx: &RequestContext, page: PageRequest) -> Result<Page<Seller>> {
        page.validate()?;
        let (sellers, total) = store::list_sellers(self.db.reader(), page).await?;
        Ok(Page::new(sellers, page, total as u64))
    }

    #[tracing::instrument(name = "identity.create_api_key", skip_all, fields(module = "identity", correlation_id = %ctx.correlation_id))]
    async fn create_api_key(&self, ctx: &RequestContext, input: NewApiKey) -> Result<CreatedApiKey> {
        let fields = domain::parse_new_api_key(&input)?;
        let generated = tokens::new_api_key();
        let key = ApiKey {
            id: new_id(),
            name: fields.name,
            prefix: generated.prefix,
            scopes: fields.scopes,
            created_at: time::now(),
            last_used_at: None,
            revoked: false,
        };

        let mut uow = self.db.begin().await?;
        store::insert_api_key(&mut *uow, &key, &tokens::digest(&generated.secret)).await?;
        uow.emit(&api_key_event(ctx, events::API_KEY_CREATED, &key)).await?;
        uow.commit().await?;
        Ok(CreatedApiKey { key, secret: generated.secret })
    }

    #[tracing::instrument(name = "identity.list_api_keys", skip_all, fields(module = "identity", correlation_id = %_ctx.correlation_id))]
    async fn list_api_keys(&self, _ctx: &RequestContext, page: PageRequest) -> Result<Page<ApiKey>> {
        page.validate()?;
        let (keys, total) = store::list_api_keys(self.db.reader(), page).await?;
        Ok(Page::new(keys, page, total as u64))
    }

    #[tracing::instrument(name = "identity.revoke_api_key", skip_all, fields(module = "identity", correlation_id = %ctx.correlation_id))]
    async fn revoke_api_key(&self, ctx: &RequestContext, id: Uuid) -> Result<ApiKey> {
        let mut uow = self.db.begin().await?;
        let mut key = store::api_key(&mut *uow, id).await?.ok_or_else(|| Error::not_found("api key", id))?.key;
        if key.revoked {
            return Ok(key);
        }
        key.revoked = true;
        // Of concurrent revocations, only the one that changed the row reports it.
        if !store::revoke_api_key(&mut *uow, id, time::now()).await? {
            return Ok(key);
        }
        uow.emit(&api_key_event(ctx, events::API_KEY_REVOKED, &key)).await?;
        uow.commit().await?;
        Ok(key)
    }
}

#[async_trait]
impl SellerDirectory for IdentityModule {
    #[tracing::instrument(name = "identity.seller_exists", skip_all, fields(module = "identity", correlation_id = %_ctx.correlation_id))]
    async fn seller_exists(&self, _ctx: &RequestContext, id: Uuid) -> Result<bool> {
        Ok(store::seller(self.db.reader(), id).await?.is_some())
    }
}
