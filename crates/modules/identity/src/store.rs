//! The SQL of identity. Functions take any executor: the reader pool for plain reads, or the
//! connection of a unit of work (`&mut *uow`) for reads and writes inside a transaction.

use comptoir_contracts::identity::{
    Address, AddressKind, ApiKey, Customer, CustomerFilter, CustomerTier, Permission, Role, Seller, Staff,
};
use comptoir_kernel::time::{self, Timestamp};
use comptoir_kernel::{Error, PageRequest, Result};
use comptoir_storage::row::{flag, id, optional_text, optional_timestamp, text, timestamp};
use comptoir_storage::{AnyRow, db_error, is_unique_violation, uuid_from_db};
use sqlx::{Any, AssertSqlSafe, Executor};
use uuid::Uuid;

use crate::domain::{AddressFields, UserKind};

// ---- users ----

/// A user row: a customer (`tier` set) or a staff member (`name` and `roles` set).
#[derive(Debug, Clone)]
pub struct User {
    pub id: Uuid,
    pub kind: UserKind,
    pub email: String,
    pub password_hash: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub name: Option<String>,
    pub tier: CustomerTier,
    pub roles: Vec<Role>,
    pub created_at: Timestamp,
}

impl User {
    pub fn customer(&self) -> Customer {
        Customer {
            id: self.id,
            email: self.email.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            tier: self.tier,
            created_at: self.created_at,
        }
    }

    pub fn staff(&self) -> Staff {
        Staff {
            id: self.id,
            email: self.email.clone(),
            name: self.name.clone().unwrap_or_default(),
            roles: self.roles.clone(),
            created_at: self.created_at,
        }
    }
}

macro_rules! user_columns {
    () => {
        "id, kind, email, password_hash, first_name, last_name, name, tier, roles, created_at"
    };
}

pub async fn insert_user<'c>(ex: impl Executor<'c, Database = Any>, user: &User) -> Result<()> {
    let now = time::to_db(&user.created_at);
    let tier = (user.kind == UserKind::Customer).then(|| user.tier.as_str());
    let done = sqlx::query(
        "INSERT INTO users (id, kind, email, password_hash, first_name, last_name, name, tier, roles, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(user.id.to_string())
    .bind(user.kind.as_str())
    .bind(&user.email)
    .bind(&user.password_hash)
    .bind(user.first_name.as_deref())
    .bind(user.last_name.as_deref())
    .bind(user.name.as_deref())
    .bind(tier)
    .bind(to_json(&user.roles)?)
    .bind(&now)
    .bind(&now)
    .execute(ex)
    .await;
    match done {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => {
            Err(Error::conflict_on("duplicate-email", "email", "is already registered"))
        }
        Err(e) => Err(db_error(e)),
    }
}

pub async fn user_by_email<'c>(
    ex: impl Executor<'c, Database = Any>,
    kind: UserKind,
    email: &str,
) -> Result<Option<User>> {
    let row = sqlx::query(concat!("SELECT ", user_columns!(), " FROM users WHERE kind = $1 AND email = $2"))
        .bind(kind.as_str())
        .bind(email)
        .fetch_optional(ex)
        .await
        .map_err(db_error)?;
    row.as_ref().map(user_from_row).transpose()
}

pub async fn user_by_id<'c>(ex: impl Executor<'c, Database = Any>, kind: UserKind, id: Uuid) -> Result<Option<User>> {
    let row = sqlx::query(concat!("SELECT ", user_columns!(), " FROM users WHERE kind = $1 AND id = $2"))
        .bind(kind.as_str())
        .bind(id.to_string())
        .fetch_optional(ex)
        .await
        .map_err(db_error)?;
    row.as_ref().map(user_from_row).transpose()
}

pub async fn customer_exists<'c>(ex: impl Executor<'c, Database = Any>, id: Uuid) -> Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE kind = 'customer' AND id = $1")
        .bind(id.to_string())
        .fetch_one(ex)
        .await
        .map_err(db_error)?;
    Ok(n > 0)
}

/// Customers in creation order, filtered by part of their email and by tier, with the total.
pub async fn list_customers(
    pool: &sqlx::AnyPool,
    filter: &CustomerFilter,
    page: PageRequest,
) -> Result<(Vec<User>, i64)> {
    // The SQL is assembled from fixed fragments only; every user-supplied value is bound.
    let mut condition = String::from("kind = 'customer'");
    let mut binds: Vec<String> = Vec::new();
    if let Some(email) = filter.email.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
        binds.push(format!("%{}%", escape_like(&email.to_lowercase())));
        condition.push_str(&format!(" AND email LIKE ${} ESCAPE '\\'", binds.len()));
    }
    if let Some(tier) = filter.tier {
        binds.push(tier.as_str().to_string());
        condition.push_str(&format!(" AND tier = ${}", binds.len()));
    }

    let sql = format!(
        "SELECT {} FROM users WHERE {condition} ORDER BY created_at, id LIMIT ${} OFFSET ${}",
        user_columns!(),
        binds.len() + 1,
        binds.len() + 2
    );
    let mut rows = sqlx::query(AssertSqlSafe(sql));
    for b in &binds {
        rows = rows.bind(b.as_str());
    }
    let rows = rows.bind(page.limit()).bind(page.offset()).fetch_all(pool).await.map_err(db_error)?;

    let mut count = sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) FROM users WHERE {condition}")));
    for b in &binds {
        count = count.bind(b.as_str());
    }
    let total: i64 = count.fetch_one(pool).await.map_err(db_error)?;
    Ok((rows.iter().map(user_from_row).collect::<Result<_>>()?, total))
}

/// `%` and `_` typed by a user are literal characters, not wildcards.
fn escape_like(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub async fn list_staff(pool: &sqlx::AnyPool, page: PageRequest) -> Result<(Vec<User>, i64)> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE kind = 'staff' ORDER BY created_at, id LIMIT $1 OFFSET $2"
    ))
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(pool)
    .await
    .map_err(db_error)?;
    let total = count_staff(pool).await?;
    Ok((rows.iter().map(user_from_row).collect::<Result<_>>()?, total))
}

pub async fn count_staff<'c>(ex: impl Executor<'c, Database = Any>) -> Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE kind = 'staff'").fetch_one(ex).await.map_err(db_error)
}

/// Changes a customer's tier only if it is still `previous`; false if a concurrent change came first.
pub async fn set_tier<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: Uuid,
    previous: CustomerTier,
    tier: CustomerTier,
    now: Timestamp,
) -> Result<bool> {
    let done =
        sqlx::query("UPDATE users SET tier = $1, updated_at = $2 WHERE kind = 'customer' AND id = $3 AND tier = $4")
            .bind(tier.as_str())
            .bind(time::to_db(&now))
            .bind(id.to_string())
            .bind(previous.as_str())
            .execute(ex)
            .await
            .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

/// Locks a customer's row until the unit of work ends, so that changes to one customer's addresses
/// (their number, which one is the default) happen one after the other. SQLite serialises writers
/// anyway; PostgreSQL does not, and has no portable `SELECT ... FOR UPDATE`: a no-op UPDATE takes
/// the same row lock. False if there is no such customer.
pub async fn lock_customer<'c>(ex: impl Executor<'c, Database = Any>, id: Uuid) -> Result<bool> {
    let done = sqlx::query("UPDATE users SET updated_at = updated_at WHERE kind = 'customer' AND id = $1")
        .bind(id.to_string())
        .execute(ex)
        .await
        .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

fn user_from_row(row: &AnyRow) -> Result<User> {
    let kind = text(row, "kind")?;
    let tier = optional_text(row, "tier")?;
    Ok(User {
        id: id(row, "id")?,
        kind: UserKind::parse(&kind).ok_or_else(|| corrupt("users.kind", &kind))?,
        email: text(row, "email")?,
        password_hash: text(row, "password_hash")?,
        first_name: optional_text(row, "first_name")?,
        last_name: optional_text(row, "last_name")?,
        name: optional_text(row, "name")?,
        tier: match tier {
            None => CustomerTier::default(),
            Some(t) => CustomerTier::parse(&t).ok_or_else(|| corrupt("users.tier", &t))?,
        },
        roles: from_json(&text(row, "roles")?, "users.roles")?,
        created_at: timestamp(row, "created_at")?,
    })
}

// ---- sessions ----

#[derive(Debug, Clone)]
pub struct Session {
    pub id: Uuid,
    pub user_id: Uuid,
    pub user_kind: UserKind,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

pub async fn insert_session<'c>(
    ex: impl Executor<'c, Database = Any>,
    session: &Session,
    refresh_token_hash: &str,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (id, user_id, user_kind, refresh_token_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(session.id.to_string())
    .bind(session.user_id.to_string())
    .bind(session.user_kind.as_str())
    .bind(refresh_token_hash)
    .bind(time::to_db(&now))
    .bind(time::to_db(&session.expires_at))
    .execute(ex)
    .await
    .map_err(db_error)?;
    Ok(())
}

macro_rules! session_columns {
    () => {
        "id, user_id, user_kind, expires_at, revoked_at"
    };
}

/// The session whose current refresh token has this hash.
pub async fn session_by_refresh_hash<'c>(ex: impl Executor<'c, Database = Any>, hash: &str) -> Result<Option<Session>> {
    let row = sqlx::query(concat!("SELECT ", session_columns!(), " FROM sessions WHERE refresh_token_hash = $1"))
        .bind(hash)
        .fetch_optional(ex)
        .await
        .map_err(db_error)?;
    row.as_ref().map(session_from_row).transpose()
}

/// The session a refresh token belonged to before it was exchanged.
pub async fn session_of_retired_token<'c>(ex: impl Executor<'c, Database = Any>, hash: &str) -> Result<Option<Uuid>> {
    let id: Option<String> = sqlx::query_scalar("SELECT session_id FROM retired_refresh_tokens WHERE token_hash = $1")
        .bind(hash)
        .fetch_optional(ex)
        .await
        .map_err(db_error)?;
    id.as_deref().map(uuid_from_db).transpose()
}

/// Replaces the refresh token of a live session, only if `old_hash` is still the current one: of
/// two concurrent refreshes with the same token, one wins.
pub async fn rotate_refresh_token<'c>(
    ex: impl Executor<'c, Database = Any>,
    session_id: Uuid,
    old_hash: &str,
    new_hash: &str,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE sessions SET refresh_token_hash = $1, refreshed_at = $2, expires_at = $3 \
         WHERE id = $4 AND refresh_token_hash = $5 AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(new_hash)
    .bind(time::to_db(&now))
    .bind(time::to_db(&expires_at))
    .bind(session_id.to_string())
    .bind(old_hash)
    .execute(ex)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

pub async fn retire_refresh_token<'c>(
    ex: impl Executor<'c, Database = Any>,
    hash: &str,
    session_id: Uuid,
    now: Timestamp,
) -> Result<()> {
    sqlx::query("INSERT INTO retired_refresh_tokens (token_hash, session_id, retired_at) VALUES ($1, $2, $3)")
        .bind(hash)
        .bind(session_id.to_string())
        .bind(time::to_db(&now))
        .execute(ex)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Revokes a session that is not revoked yet; `None` if it was already revoked or does not exist.
pub async fn revoke_session<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: Uuid,
    now: Timestamp,
) -> Result<Option<Session>> {
    let row = sqlx::query(concat!(
        "UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING ",
        session_columns!()
    ))
    .bind(time::to_db(&now))
    .bind(id.to_string())
    .fetch_optional(ex)
    .await
    .map_err(db_error)?;
    row.as_ref().map(session_from_row).transpose()
}

pub async fn session_exists<'c>(ex: impl Executor<'c, Database = Any>, id: Uuid) -> Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE id = $1")
        .bind(id.to_string())
        .fetch_one(ex)
        .await
        .map_err(db_error)?;
    Ok(n > 0)
}

/// The user behind a live session, as they are now: one query per authenticated request.
pub async fn live_session_user<'c>(
    ex: impl Executor<'c, Database = Any>,
    session_id: Uuid,
    user_id: Uuid,
    now: Timestamp,
) -> Result<Option<User>> {
    let row = sqlx::query(
        "SELECT u.id, u.kind, u.email, u.password_hash, u.first_name, u.last_name, u.name, u.tier, u.roles, u.created_at \
         FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL AND s.expires_at > $3",
    )
    .bind(session_id.to_string())
    .bind(user_id.to_string())
    .bind(time::to_db(&now))
    .fetch_optional(ex)
    .await
    .map_err(db_error)?;
    row.as_ref().map(user_from_row).transpose()
}

fn session_from_row(row: &AnyRow) -> Result<Session> {
    let kind = text(row, "user_kind")?;
    Ok(Session {
        id: id(row, "id")?,
        user_id: id(row, "user_id")?,
        user_kind: UserKind::parse(&kind).ok_or_else(|| corrupt("sessions.user_kind", &kind))?,
        expires_at: timestamp(row, "expires_at")?,
        revoked_at: optional_timestamp(row, "revoked_at")?,
    })
}

// ---- addresses ----

macro_rules! address_columns {
    () => {
        // sqlx's Any driver reads SQLite's BOOLEAN only once cast to an integer; `flag` reads the
        // cast on both backends.
        "id, kind, name, line1, line2, city, postal_code, region, country, phone, CAST(is_default AS INTEGER) AS is_default"
    };
}

pub async fn count_addresses<'c>(ex: impl Executor<'c, Database = Any>, customer_id: Uuid) -> Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM addresses WHERE customer_id = $1")
        .bind(customer_id.to_string())
        .fetch_one(ex)
        .await
        .map_err(db_error)
}

pub async fn list_addresses(pool: &sqlx::AnyPool, customer_id: Uuid, page: PageRequest) -> Result<(Vec<Address>, i64)> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        address_columns!(),
        " FROM addresses WHERE customer_id = $1 ORDER BY created_at, id LIMIT $2 OFFSET $3"
    ))
    .bind(customer_id.to_string())
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(pool)
    .await
    .map_err(db_error)?;
    let total = count_addresses(pool, customer_id).await?;
    Ok((rows.iter().map(address_from_row).collect::<Result<_>>()?, total))
}

/// Makes the customer's other addresses of this kind non-default, before one becomes the default.
pub async fn clear_default_addresses<'c>(
    ex: impl Executor<'c, Database = Any>,
    customer_id: Uuid,
    kind: AddressKind,
    except: Uuid,
) -> Result<()> {
    sqlx::query(
        "UPDATE addresses SET is_default = $1 WHERE customer_id = $2 AND kind = $3 AND id <> $4 AND is_default = $5",
    )
    .bind(false)
    .bind(customer_id.to_string())
    .bind(address_kind(kind))
    .bind(except.to_string())
    .bind(true)
    .execute(ex)
    .await
    .map_err(db_error)?;
    Ok(())
}

pub async fn insert_address<'c>(
    ex: impl Executor<'c, Database = Any>,
    customer_id: Uuid,
    id: Uuid,
    a: &AddressFields,
    now: Timestamp,
) -> Result<()> {
    let now = time::to_db(&now);
    sqlx::query(
        "INSERT INTO addresses (id, customer_id, kind, name, line1, line2, city, postal_code, region, country, phone, \
         is_default, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(id.to_string())
    .bind(customer_id.to_string())
    .bind(address_kind(a.kind))
    .bind(&a.name)
    .bind(&a.line1)
    .bind(a.line2.as_deref())
    .bind(&a.city)
    .bind(&a.postal_code)
    .bind(a.region.as_deref())
    .bind(&a.country)
    .bind(a.phone.as_deref())
    .bind(a.is_default)
    .bind(&now)
    .bind(&now)
    .execute(ex)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// False if the customer has no such address.
pub async fn update_address<'c>(
    ex: impl Executor<'c, Database = Any>,
    customer_id: Uuid,
    id: Uuid,
    a: &AddressFields,
    now: Timestamp,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE addresses SET kind = $1, name = $2, line1 = $3, line2 = $4, city = $5, postal_code = $6, region = $7, \
         country = $8, phone = $9, is_default = $10, updated_at = $11 WHERE customer_id = $12 AND id = $13",
    )
    .bind(address_kind(a.kind))
    .bind(&a.name)
    .bind(&a.line1)
    .bind(a.line2.as_deref())
    .bind(&a.city)
    .bind(&a.postal_code)
    .bind(a.region.as_deref())
    .bind(&a.country)
    .bind(a.phone.as_deref())
    .bind(a.is_default)
    .bind(time::to_db(&now))
    .bind(customer_id.to_string())
    .bind(id.to_string())
    .execute(ex)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

/// Deletes an address of this customer and returns it; `None` if there was none (or a concurrent
/// delete came first).
pub async fn delete_address<'c>(
    ex: impl Executor<'c, Database = Any>,
    customer_id: Uuid,
    id: Uuid,
) -> Result<Option<Address>> {
    let row =
        sqlx::query(concat!("DELETE FROM addresses WHERE customer_id = $1 AND id = $2 RETURNING ", address_columns!()))
            .bind(customer_id.to_string())
            .bind(id.to_string())
            .fetch_optional(ex)
            .await
            .map_err(db_error)?;
    row.as_ref().map(address_from_row).transpose()
}

fn address_kind(kind: AddressKind) -> &'static str {
    match kind {
        AddressKind::Shipping => "shipping",
        AddressKind::Billing => "billing",
    }
}

fn address_from_row(row: &AnyRow) -> Result<Address> {
    let kind = text(row, "kind")?;
    Ok(Address {
        id: id(row, "id")?,
        kind: match kind.as_str() {
            "shipping" => AddressKind::Shipping,
            "billing" => AddressKind::Billing,
            other => return Err(corrupt("addresses.kind", other)),
        },
        name: text(row, "name")?,
        line1: text(row, "line1")?,
        line2: optional_text(row, "line2")?,
        city: text(row, "city")?,
        postal_code: text(row, "postal_code")?,
        region: optional_text(row, "region")?,
        country: text(row, "country")?,
        phone: optional_text(row, "phone")?,
        is_default: flag(row, "is_default")?,
    })
}

// ---- sellers ----

pub async fn insert_seller<'c>(ex: impl Executor<'c, Database = Any>, seller: &Seller) -> Result<()> {
    sqlx::query("INSERT INTO sellers (id, name, email, created_at) VALUES ($1, $2, $3, $4)")
        .bind(seller.id.to_string())
        .bind(&seller.name)
        .bind(seller.email.as_deref())
        .bind(time::to_db(&seller.created_at))
        .execute(ex)
        .await
        .map_err(db_error)?;
    Ok(())
}

pub async fn seller<'c>(ex: impl Executor<'c, Database = Any>, id: Uuid) -> Result<Option<Seller>> {
    let row = sqlx::query("SELECT id, name, email, created_at FROM sellers WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(ex)
        .await
        .map_err(db_error)?;
    row.as_ref().map(seller_from_row).transpose()
}

pub async fn list_sellers(pool: &sqlx::AnyPool, page: PageRequest) -> Result<(Vec<Seller>, i64)> {
    let rows =
        sqlx::query("SELECT id, name, email, created_at FROM sellers ORDER BY created_at, id LIMIT $1 OFFSET $2")
            .bind(page.limit())
            .bind(page.offset())
            .fetch_all(pool)
            .await
            .map_err(db_error)?;
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sellers").fetch_one(pool).await.map_err(db_error)?;
    Ok((rows.iter().map(seller_from_row).collect::<Result<_>>()?, total))
}

fn seller_from_row(row: &AnyRow) -> Result<Seller> {
    Ok(Seller {
        id: id(row, "id")?,
        name: text(row, "name")?,
        email: optional_text(row, "email")?,
        created_at: timestamp(row, "created_at")?,
    })
}

// ---- API keys ----

#[derive(Debug, Clone)]
pub struct StoredApiKey {
    pub key: ApiKey,
    pub revoked_at: Option<Timestamp>,
}

macro_rules! api_key_columns {
    () => {
        "id, name, prefix, scopes, created_at, last_used_at, revoked_at"
    };
}

pub async fn insert_api_key<'c>(ex: impl Executor<'c, Database = Any>, key: &ApiKey, key_hash: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO api_keys (id, name, prefix, key_hash, scopes, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(key.id.to_string())
    .bind(&key.name)
    .bind(&key.prefix)
    .bind(key_hash)
    .bind(to_json(&key.scopes)?)
    .bind(time::to_db(&key.created_at))
    .execute(ex)
    .await
    .map_err(db_error)?;
    Ok(())
}

pub async fn api_key_by_hash<'c>(
    ex: impl Executor<'c, Database = Any>,
    key_hash: &str,
) -> Result<Option<StoredApiKey>> {
    let row = sqlx::query(concat!("SELECT ", api_key_columns!(), " FROM api_keys WHERE key_hash = $1"))
        .bind(key_hash)
        .fetch_optional(ex)
        .await
        .map_err(db_error)?;
    row.as_ref().map(api_key_from_row).transpose()
}

pub async fn api_key<'c>(ex: impl Executor<'c, Database = Any>, id: Uuid) -> Result<Option<StoredApiKey>> {
    let row = sqlx::query(concat!("SELECT ", api_key_columns!(), " FROM api_keys WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(ex)
        .await
        .map_err(db_error)?;
    row.as_ref().map(api_key_from_row).transpose()
}

pub async fn list_api_keys(pool: &sqlx::AnyPool, page: PageRequest) -> Result<(Vec<ApiKey>, i64)> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        api_key_columns!(),
        " FROM api_keys ORDER BY created_at, id LIMIT $1 OFFSET $2"
    ))
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(pool)
    .await
    .map_err(db_error)?;
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_keys").fetch_one(pool).await.map_err(db_error)?;
    let keys = rows.iter().map(|r| api_key_from_row(r).map(|k| k.key)).collect::<Result<_>>()?;
    Ok((keys, total))
}

/// Revokes a key not revoked yet; false if it already was (perhaps by a concurrent request).
pub async fn revoke_api_key<'c>(ex: impl Executor<'c, Database = Any>, id: Uuid, now: Timestamp) -> Result<bool> {
    let done = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(time::to_db(&now))
        .bind(id.to_string())
        .execute(ex)
        .await
        .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

/// Records a use unless one was recorded in the last minute (concurrent requests write once).
pub async fn record_api_key_use<'c>(ex: impl Executor<'c, Database = Any>, id: Uuid, now: Timestamp) -> Result<()> {
    let a_minute_ago = now - chrono::TimeDelta::minutes(1);
    sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at <= $3)")
        .bind(time::to_db(&now))
        .bind(id.to_string())
        .bind(time::to_db(&a_minute_ago))
        .execute(ex)
        .await
        .map_err(db_error)?;
    Ok(())
}

fn api_key_from_row(row: &AnyRow) -> Result<StoredApiKey> {
    let revoked_at = optional_timestamp(row, "revoked_at")?;
    let scopes: Vec<Permission> = from_json(&text(row, "scopes")?, "api_keys.scopes")?;
    Ok(StoredApiKey {
        key: ApiKey {
            id: id(row, "id")?,
            name: text(row, "name")?,
            prefix: text(row, "prefix")?,
            scopes,
            created_at: timestamp(row, "created_at")?,
            last_used_at: optional_timestamp(row, "last_used_at")?,
            revoked: revoked_at.is_some(),
        },
        revoked_at,
    })
}

// ---- row helpers ----

fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::internal(format!("cannot encode JSON column: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str, column: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::internal(format!("{column} holds unexpected JSON: {e}")))
}

fn corrupt(column: &str, value: &str) -> Error {
    Error::internal(format!("{column} holds an unexpected value {value:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_typed_by_users_are_literal() {
        assert_eq!(escape_like("a_b%c\\d"), "a\\_b\\%c\\\\d");
        assert_eq!(escape_like("ann@example"), "ann@example");
    }
}
