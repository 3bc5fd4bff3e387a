//! Customers: the list, narrowed by part of the email and by tier, and the tier of each customer
//! (standard or VIP), which staff holding `customers:write` can change.

use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use comptoir_contracts::identity::{Customer, CustomerFilter, CustomerTier, Permission};
use comptoir_kernel::{Error, PageRequest};
use uuid::Uuid;

use super::{Chrome, staff};
use crate::form::{FormData, FormErrors};
use crate::present::date;
use crate::session::{FlashKind, Session};
use crate::storefront::{Pager, local_path};
use crate::view::{PageError, redirect_with, render, render_status};
use crate::{PageResult, WebState};

const PER_PAGE: u32 = 25;

pub fn routes() -> Router<WebState> {
    Router::new().route("/customers", get(list)).route("/customers/{id}/tier", post(set_tier))
}

/// The tiers, as the form sends them and as people read them.
const TIERS: [(CustomerTier, &str); 2] = [(CustomerTier::Standard, "Standard"), (CustomerTier::Vip, "VIP")];

fn tier_label(tier: CustomerTier) -> &'static str {
    TIERS.iter().find(|(t, _)| *t == tier).map_or("Standard", |(_, label)| label)
}

/// A customer as a row of the list.
struct CustomerRow {
    id: String,
    email: String,
    name: String,
    tier: &'static str,
    tier_label: &'static str,
    vip: bool,
    since: String,
}

impl CustomerRow {
    fn new(c: &Customer) -> CustomerRow {
        let name =
            [c.first_name.as_deref(), c.last_name.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ");
        CustomerRow {
            id: c.id.to_string(),
            email: c.email.clone(),
            name,
            tier: c.tier.as_str(),
            tier_label: tier_label(c.tier),
            vip: c.tier == CustomerTier::Vip,
            since: date(&c.created_at),
        }
    }

    /// The id of the tier select of this row (unique on the page).
    fn field(&self) -> String {
        format!("tier-{}", self.id)
    }
}

#[derive(Template)]
#[template(path = "backoffice/customers.html")]
struct CustomersPage {
    chrome: Chrome,
    customers: Vec<CustomerRow>,
    total: u64,
    pager: Pager,
    /// The filters as typed.
    email: String,
    tier: String,
    tiers: Vec<(&'static str, &'static str)>,
    can_write: bool,
    /// This list's address, for the tier forms to come back to.
    here: String,
    errors: FormErrors,
}

/// The list for the query string `raw` (`email=ann&tier=vip&page=2`).
async fn customers_page(
    state: &WebState,
    session: &Session,
    chrome: Chrome,
    raw: Option<String>,
    errors: FormErrors,
) -> Result<CustomersPage, PageError> {
    let params = FormData::from_query(raw);
    let page = params.page_number();
    let email = params.text("email");
    let tier = CustomerTier::parse(&params.text("tier"));
    let filter = CustomerFilter { email: Some(email.clone()).filter(|e| !e.is_empty()), tier };
    let found = state.identity.list_customers(&session.ctx, filter, PageRequest { page, per_page: PER_PAGE }).await?;
    let tier = tier.map(|t| t.as_str().to_string()).unwrap_or_default();
    let query = [("email", email.clone()), ("tier", tier.clone())];
    let mut here = form_urlencoded::Serializer::new(String::new());
    for (name, value) in query.iter().filter(|(_, v)| !v.is_empty()) {
        here.append_pair(name, value);
    }
    if page > 1 {
        here.append_pair("page", &page.to_string());
    }
    let here = match here.finish() {
        q if q.is_empty() => "/customers".to_string(),
        q => format!("/customers?{q}"),
    };
    Ok(CustomersPage {
        chrome,
        customers: found.items.iter().map(CustomerRow::new).collect(),
        total: found.total,
        pager: Pager::new("/customers", &query, page, PER_PAGE, found.total),
        email,
        tier,
        tiers: TIERS.iter().map(|(t, label)| (t.as_str(), *label)).collect(),
        can_write: session.can(Permission::CustomersWrite),
        here,
        errors,
    })
}

async fn list(State(state): State<WebState>, session: Session, RawQuery(raw): RawQuery) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::CustomersRead), "/customers").await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    Ok(render(&customers_page(&state, &session, chrome, raw, FormErrors::default()).await?))
}

async fn set_tier(
    State(state): State<WebState>,
    session: Session,
    Path(id): Path<String>,
    form: FormData,
) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::CustomersWrite), "/customers").await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let customer_id = Uuid::parse_str(&id).map_err(|_| PageError(Error::not_found("customer", &id)))?;
    let back = local_path(form.optional("back").as_deref(), "/customers");
    let back = if back.starts_with("/customers") { back } else { "/customers".to_string() };
    let field = format!("tier-{customer_id}");
    let mut errors = FormErrors::default();
    match CustomerTier::parse(&form.text("tier")) {
        None => errors.add(&field, "Choose standard or VIP."),
        Some(tier) => match state.identity.set_customer_tier(&session.ctx, customer_id, tier).await {
            Ok(customer) => {
                let text = format!("{} is now {}.", customer.email, tier_label(customer.tier));
                return Ok(redirect_with(&session, &back, FlashKind::Success, &text));
            }
            Err(error) if error.status() == 404 => return Err(error.into()),
            Err(error) => errors.absorb(error, |_| field.clone())?,
        },
    }
    let raw = back.split_once('?').map(|(_, query)| query.to_string());
    let page = customers_page(&state, &session, chrome, raw, errors).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}
