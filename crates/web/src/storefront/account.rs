//! Signing in and up, and the customer's account: addresses, orders, cancellation, invoices.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use comptoir_contracts::identity::{Address, AddressKind, Credentials, Customer, RegisterCustomer};
use comptoir_contracts::ordering::{CancelInput, OrderAccess};
use comptoir_kernel::{Actor, Error, PageRequest, RequestContext};
use uuid::Uuid;

use super::{AddressFields, Chrome, Pager, chrome, local_path, to_login};
use crate::form::{FormData, FormErrors};
use crate::present::{OrderView, ShipmentView, address_lines};
use crate::session::{CART_COOKIE, FlashKind, Session, set_cookie};
use crate::view::{PageError, redirect_with, render, render_status};
use crate::{PageResult, WebState};

/// How long a customer stays signed in without coming back (the refresh token may end sooner).
const REMEMBER_SECS: i64 = 30 * 24 * 3600;

#[derive(Template)]
#[template(path = "storefront/login.html")]
struct LoginPage {
    chrome: Chrome,
    next: String,
    email: String,
    errors: FormErrors,
}

pub async fn login_page(State(state): State<WebState>, session: Session, RawQuery(raw): RawQuery) -> PageResult {
    let next = local_path(FormData::from_query(raw).optional("next").as_deref(), "/account");
    if session.customer_id().is_some() {
        return Ok(Redirect::to(&next).into_response());
    }
    let chrome = chrome(&state, &session).await?;
    Ok(render(&LoginPage { chrome, next, email: String::new(), errors: FormErrors::default() }))
}

pub async fn login(State(state): State<WebState>, session: Session, form: FormData) -> PageResult {
    let next = local_path(form.optional("next").as_deref(), "/account");
    let mut errors = FormErrors::default();
    let credentials = form.credentials(&mut errors);
    if errors.is_empty() {
        match state.identity.login_customer(&session.ctx, credentials.clone()).await {
            Ok((customer, pair)) => {
                let mut response = redirect_with(&session, &next, FlashKind::Success, "Welcome back.");
                sign_in(&state, &session, &customer, &pair, &mut response).await;
                return Ok(response);
            }
            Err(error) => errors.absorb(error, str::to_string)?,
        }
    }
    let chrome = chrome(&state, &session).await?;
    let page = LoginPage { chrome, next, email: credentials.email, errors };
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

/// Starts the session, and brings the anonymous cart's lines into the customer's cart.
async fn sign_in(
    state: &WebState,
    session: &Session,
    customer: &Customer,
    pair: &comptoir_contracts::identity::TokenPair,
    response: &mut Response,
) {
    for cookie in session.start_cookies(pair, Some(REMEMBER_SECS)) {
        set_cookie(response, &cookie);
    }
    if let Some((cart_id, token)) = &session.anonymous_cart {
        let ctx = RequestContext::new(session.ctx.correlation_id.clone(), Actor::user(customer.id));
        if let Err(error) = state.cart.merge(&ctx, *cart_id, token, customer.id).await {
            // A cart already merged or checked out has nothing left to bring.
            tracing::info!(%error, %cart_id, "the anonymous cart was not merged at sign-in");
        }
        set_cookie(response, &session.removal(CART_COOKIE));
    }
}

#[derive(Template)]
#[template(path = "storefront/register.html")]
struct RegisterPage {
    chrome: Chrome,
    next: String,
    email: String,
    first_name: String,
    last_name: String,
    errors: FormErrors,
}

pub async fn register_page(State(state): State<WebState>, session: Session, RawQuery(raw): RawQuery) -> PageResult {
    let next = local_path(FormData::from_query(raw).optional("next").as_deref(), "/account");
    let chrome = chrome(&state, &session).await?;
    Ok(render(&RegisterPage {
        chrome,
        next,
        email: String::new(),
        first_name: String::new(),
        last_name: String::new(),
        errors: FormErrors::default(),
    }))
}

pub async fn register(State(state): State<WebState>, session: Session, form: FormData) -> PageResult {
    let next = local_path(form.optional("next").as_deref(), "/account");
    let input = RegisterCustomer {
        email: form.text("email"),
        password: form.text("password"),
        first_name: form.optional("first_name"),
        last_name: form.optional("last_name"),
    };
    let mut errors = FormErrors::default();
    if form.text("password") != form.text("password_confirmation") {
        errors.add("password_confirmation", "The two passwords differ.");
    }
    if errors.is_empty() {
        match state.identity.register_customer(&session.ctx, input.clone()).await {
            Ok(_) => {
                let credentials = Credentials { email: input.email.clone(), password: input.password.clone() };
                let (customer, pair) = state.identity.login_customer(&session.ctx, credentials).await?;
                let mut response =
                    redirect_with(&session, &next, FlashKind::Success, "Your account is ready. Welcome!");
                sign_in(&state, &session, &customer, &pair, &mut response).await;
                return Ok(response);
            }
            Err(error) => errors.absorb(error, str::to_string)?,
        }
    }
    let chrome = chrome(&state, &session).await?;
    let page = RegisterPage {
        chrome,
        next,
        email: input.email,
        first_name: input.first_name.unwrap_or_default(),
        last_name: input.last_name.unwrap_or_default(),
        errors,
    };
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

pub async fn logout(State(state): State<WebState>, session: Session) -> PageResult {
    if let Some(comptoir_contracts::identity::Principal::Customer { session_id, .. }) = &session.principal
        && let Err(error) = state.identity.logout(&session.ctx, *session_id).await
    {
        tracing::warn!(%error, "could not revoke a session at sign-out");
    }
    let mut response = redirect_with(&session, "/", FlashKind::Success, "You are signed out.");
    for cookie in session.end_cookies() {
        set_cookie(&mut response, &cookie);
    }
    Ok(response)
}

#[derive(Template)]
#[template(path = "storefront/account.html")]
struct AccountPage {
    chrome: Chrome,
    customer: Customer,
    addresses: Vec<(Address, Vec<String>)>,
    orders: Vec<OrderView>,
    /// The address form as typed, and whether it is for shipping or billing.
    form: AddressFields,
    kind: String,
    errors: FormErrors,
}

async fn account_page(
    state: &WebState,
    session: &Session,
    customer_id: Uuid,
    (form, kind): (AddressFields, String),
    errors: FormErrors,
) -> Result<AccountPage, PageError> {
    let ctx = &session.ctx;
    let (chrome, customer, addresses, orders) = tokio::join!(
        chrome(state, session),
        state.identity.get_customer(ctx, customer_id),
        state.identity.list_addresses(ctx, customer_id, PageRequest { page: 1, per_page: 50 }),
        state.ordering.customer_orders(ctx, customer_id, PageRequest { page: 1, per_page: 5 }),
    );
    Ok(AccountPage {
        chrome: chrome?,
        customer: customer?,
        addresses: addresses?.items.into_iter().map(|a| (a.clone(), address_lines(&to_postal(&a)))).collect(),
        orders: orders?.items.into_iter().map(OrderView::new).collect(),
        form,
        kind,
        errors,
    })
}

pub fn to_postal(a: &Address) -> comptoir_contracts::address::PostalAddress {
    comptoir_contracts::address::PostalAddress {
        name: a.name.clone(),
        line1: a.line1.clone(),
        line2: a.line2.clone(),
        city: a.city.clone(),
        postal_code: a.postal_code.clone(),
        region: a.region.clone(),
        country: a.country.clone(),
        phone: a.phone.clone(),
    }
}

pub async fn overview(State(state): State<WebState>, session: Session) -> PageResult {
    let Some(customer_id) = session.customer_id() else { return Ok(to_login("/account")) };
    let form = (AddressFields::default(), "shipping".to_string());
    Ok(render(&account_page(&state, &session, customer_id, form, FormErrors::default()).await?))
}

pub async fn add_address(State(state): State<WebState>, session: Session, form: FormData) -> PageResult {
    let Some(customer_id) = session.customer_id() else { return Ok(to_login("/account")) };
    let values = AddressFields::from_form(&form);
    let mut errors = FormErrors::default();
    let kind = match form.text("kind").as_str() {
        "billing" => AddressKind::Billing,
        "shipping" => AddressKind::Shipping,
        _ => {
            errors.add("kind", "Choose whether this is a shipping or a billing address.");
            AddressKind::Shipping
        }
    };
    if errors.is_empty() {
        let input = values.input(kind, form.checked("is_default"));
        match state.identity.add_address(&session.ctx, customer_id, input).await {
            Ok(_) => return Ok(redirect_with(&session, "/account", FlashKind::Success, "Address saved.")),
            Err(error) => errors.absorb(error, str::to_string)?,
        }
    }
    let page = account_page(&state, &session, customer_id, (values, form.text("kind")), errors).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

pub async fn delete_address(State(state): State<WebState>, session: Session, Path(id): Path<String>) -> PageResult {
    let Some(customer_id) = session.customer_id() else { return Ok(to_login("/account")) };
    let id = Uuid::parse_str(&id).map_err(|_| PageError(Error::not_found("address", &id)))?;
    state.identity.delete_address(&session.ctx, customer_id, id).await?;
    Ok(redirect_with(&session, "/account", FlashKind::Success, "Address removed."))
}

#[derive(Template)]
#[template(path = "storefront/orders.html")]
struct OrdersPage {
    chrome: Chrome,
    orders: Vec<OrderView>,
    pager: Pager,
}

pub async fn orders(State(state): State<WebState>, session: Session, RawQuery(raw): RawQuery) -> PageResult {
    let Some(customer_id) = session.customer_id() else { return Ok(to_login("/account/orders")) };
    let page = FormData::from_query(raw).page_number();
    let (chrome, orders) = tokio::join!(
        chrome(&state, &session),
        state.ordering.customer_orders(&session.ctx, customer_id, PageRequest { page, per_page: 20 })
    );
    let orders = orders?;
    let pager = Pager::new("/account/orders", &[], page, 20, orders.total);
    Ok(render(&OrdersPage { chrome: chrome?, orders: orders.items.into_iter().map(OrderView::new).collect(), pager }))
}

#[derive(Template)]
#[template(path = "storefront/order.html")]
pub struct OrderPage {
    pub chrome: Chrome,
    pub order: OrderView,
    pub shipment: Option<ShipmentView>,
    /// The invoice's number once issued.
    pub invoice: Option<String>,
    /// Shown on the page right after checkout.
    pub just_placed: bool,
}

/// The customer's order with its shipment and invoice; 404 for anyone else's.
pub async fn order_page(
    state: &WebState,
    session: &Session,
    customer_id: Uuid,
    id: &str,
    just_placed: bool,
) -> Result<OrderPage, PageError> {
    let id = Uuid::parse_str(id).map_err(|_| PageError(Error::not_found("order", id)))?;
    let ctx = &session.ctx;
    let order = state.ordering.get_order(ctx, id, OrderAccess::Customer(customer_id)).await?;
    let (chrome, shipment, invoice) = tokio::join!(
        chrome(state, session),
        state.shipping.shipment_for_order(ctx, id),
        state.billing.invoice_for_order(ctx, id)
    );
    Ok(OrderPage {
        chrome: chrome?,
        order: OrderView::new(order),
        shipment: shipment.ok().as_ref().map(ShipmentView::new),
        invoice: invoice.ok().and_then(|i| i.number),
        just_placed,
    })
}

pub async fn order(State(state): State<WebState>, session: Session, Path(id): Path<String>) -> PageResult {
    let Some(customer_id) = session.customer_id() else { return Ok(to_login(&format!("/account/orders/{id}"))) };
    Ok(render(&order_page(&state, &session, customer_id, &id, false).await?))
}

pub async fn cancel_order(
    State(state): State<WebState>,
    session: Session,
    Path(id): Path<String>,
    form: FormData,
) -> PageResult {
    let here = format!("/account/orders/{id}");
    let Some(customer_id) = session.customer_id() else { return Ok(to_login(&here)) };
    let order_id = Uuid::parse_str(&id).map_err(|_| PageError(Error::not_found("order", &id)))?;
    let input = CancelInput { reason: form.optional("reason").or(Some("cancelled by the customer".into())) };
    match state.ordering.cancel(&session.ctx, order_id, OrderAccess::Customer(customer_id), input).await {
        Ok(_) => {
            Ok(redirect_with(&session, &here, FlashKind::Success, "Your order is cancelled; any payment is refunded."))
        }
        Err(error) if error.status() < 500 && error.status() != 404 => {
            Ok(redirect_with(&session, &here, FlashKind::Error, &error.to_string()))
        }
        Err(error) => Err(error.into()),
    }
}

/// The order's invoice as a PDF download; a page saying so while it is still being issued.
pub async fn invoice(State(state): State<WebState>, session: Session, Path(id): Path<String>) -> PageResult {
    let here = format!("/account/orders/{id}");
    let Some(customer_id) = session.customer_id() else { return Ok(to_login(&here)) };
    let order_id = Uuid::parse_str(&id).map_err(|_| PageError(Error::not_found("order", &id)))?;
    let ctx = &session.ctx;
    // Only the order's owner gets past this line.
    state.ordering.get_order(ctx, order_id, OrderAccess::Customer(customer_id)).await?;
    let invoice = match state.billing.invoice_for_order(ctx, order_id).await {
        Ok(invoice) if invoice.number.is_some() => invoice,
        Ok(_) | Err(Error::NotFound { .. }) => {
            return Ok(redirect_with(
                &session,
                &here,
                FlashKind::Error,
                "Your invoice is being prepared; it will be ready in a moment.",
            ));
        }
        Err(error) => return Err(error.into()),
    };
    let pdf = state.billing.invoice_pdf(ctx, invoice.id).await?;
    Ok(pdf_download(pdf, &format!("{}.pdf", invoice.number.unwrap_or_default())))
}

pub fn pdf_download(pdf: Vec<u8>, filename: &str) -> Response {
    let mut response = pdf.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/pdf"));
    let safe: String = filename.chars().filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).collect();
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    response
}
