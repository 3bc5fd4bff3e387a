//! API keys for third-party apps: the list, a new key with the scopes it may use (its secret is
//! shown once, on the page that answers the creation, and never again), and revocation.

use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use comptoir_contracts::identity::{ApiKey, NewApiKey, Permission};
use comptoir_kernel::{Error, PageRequest};
use uuid::Uuid;

use super::{Chrome, staff};
use crate::form::{FormData, FormErrors};
use crate::present::date_time;
use crate::session::{FlashKind, Session};
use crate::storefront::Pager;
use crate::view::{PageError, redirect_with, render, render_status};
use crate::{PageResult, WebState};

const PER_PAGE: u32 = 50;

pub fn routes() -> Router<WebState> {
    Router::new().route("/api-keys", get(list).post(create)).route("/api-keys/{id}/revoke", post(revoke))
}

struct KeyRow {
    id: String,
    name: String,
    prefix: String,
    scopes: String,
    created: String,
    last_used: String,
    revoked: bool,
}

impl KeyRow {
    fn new(key: &ApiKey) -> KeyRow {
        KeyRow {
            id: key.id.to_string(),
            name: key.name.clone(),
            prefix: key.prefix.clone(),
            scopes: key.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
            created: date_time(&key.created_at),
            last_used: key.last_used_at.as_ref().map(date_time).unwrap_or_else(|| "never".into()),
            revoked: key.revoked,
        }
    }
}

/// A scope checkbox: its value, what it allows, whether it is ticked.
struct ScopeChoice {
    value: &'static str,
    label: &'static str,
    checked: bool,
}

fn scope_label(permission: Permission) -> &'static str {
    match permission {
        Permission::CatalogRead => "Read the catalog",
        Permission::CatalogWrite => "Change the catalog",
        Permission::InventoryRead => "Read stock",
        Permission::InventoryWrite => "Change stock",
        Permission::CustomersRead => "Read customers",
        Permission::CustomersWrite => "Change customers",
        Permission::CartsRead => "Read carts",
        Permission::StaffManage => "Manage staff",
        Permission::SellersManage => "Manage sellers",
        Permission::ApiKeysManage => "Manage API keys",
        Permission::EventsManage => "Manage events and dead letters",
        Permission::OrdersRead => "Read orders",
        Permission::OrdersWrite => "Cancel and refund orders",
        Permission::BillingManage => "Manage tax rules",
        Permission::ShippingManage => "Manage shipping",
        Permission::MessagesRead => "Read the mailbox",
        Permission::SettingsManage => "Manage shop settings",
        Permission::ReportsRead => "Read reports",
        Permission::PosSell => "Sell at a store's till",
        Permission::PosManage => "Set up stores for the till",
        Permission::AuditRead => "Read the audit log",
    }
}

fn scope_choices(ticked: &[String]) -> Vec<ScopeChoice> {
    Permission::ALL
        .iter()
        .map(|p| ScopeChoice {
            value: p.as_str(),
            label: scope_label(*p),
            checked: ticked.iter().any(|t| t == p.as_str()),
        })
        .collect()
}

/// A key just created: the one time its secret is shown.
struct Created {
    name: String,
    secret: String,
}

#[derive(Template)]
#[template(path = "backoffice/api_keys.html")]
struct ApiKeysPage {
    chrome: Chrome,
    keys: Vec<KeyRow>,
    total: u64,
    pager: Pager,
    created: Option<Created>,
    name: String,
    scopes: Vec<ScopeChoice>,
    errors: FormErrors,
}

/// The list's page `page`, with an empty form.
async fn keys_page(state: &WebState, session: &Session, chrome: Chrome, page: u32) -> Result<ApiKeysPage, PageError> {
    let found = state.identity.list_api_keys(&session.ctx, PageRequest { page, per_page: PER_PAGE }).await?;
    Ok(ApiKeysPage {
        chrome,
        keys: found.items.iter().map(KeyRow::new).collect(),
        total: found.total,
        pager: Pager::new("/api-keys", &[], page, PER_PAGE, found.total),
        created: None,
        name: String::new(),
        scopes: scope_choices(&[]),
        errors: FormErrors::default(),
    })
}

async fn list(State(state): State<WebState>, session: Session, RawQuery(raw): RawQuery) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::ApiKeysManage), "/api-keys").await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let page = FormData::from_query(raw).page_number();
    Ok(render(&keys_page(&state, &session, chrome, page).await?))
}

/// The secret must not stay in any cache, nor be offered again by the browser's history.
fn not_stored(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn create(State(state): State<WebState>, session: Session, form: FormData) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::ApiKeysManage), "/api-keys").await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let name = form.text("name");
    let ticked = form.all("scope");
    let mut errors = FormErrors::default();
    if name.is_empty() {
        errors.add("name", "Enter a name that says which app uses the key.");
    }
    let scopes: Vec<Permission> = ticked.iter().filter_map(|s| Permission::parse(s)).collect();
    if ticked.is_empty() {
        errors.add("scope", "Tick at least one thing the key may do.");
    } else if scopes.len() != ticked.len() {
        errors.add("scope", "Tick only the scopes listed.");
    }
    if errors.is_empty() {
        match state.identity.create_api_key(&session.ctx, NewApiKey { name: name.clone(), scopes }).await {
            Ok(created) => {
                // Shown on this answer only: a redirect would have to carry the secret along.
                let mut page = keys_page(&state, &session, chrome, 1).await?;
                page.created = Some(Created { name: created.key.name, secret: created.secret });
                return Ok(not_stored(render(&page)));
            }
            Err(error) => errors.absorb(error, |field| {
                if field.starts_with("scopes") { "scope".to_string() } else { field.to_string() }
            })?,
        }
    }
    let mut page = keys_page(&state, &session, chrome, 1).await?;
    page.name = name;
    page.scopes = scope_choices(&ticked);
    page.errors = errors;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

async fn revoke(State(state): State<WebState>, session: Session, Path(id): Path<String>) -> PageResult {
    if let Err(response) = staff(&state, &session, Some(Permission::ApiKeysManage), "/api-keys").await {
        return Ok(response);
    }
    let id = Uuid::parse_str(&id).map_err(|_| PageError(Error::not_found("API key", &id)))?;
    let key = state.identity.revoke_api_key(&session.ctx, id).await?;
    let text = format!("The key “{}” is revoked: apps using it are refused from now on.", key.name);
    Ok(redirect_with(&session, "/api-keys", FlashKind::Success, &text))
}
