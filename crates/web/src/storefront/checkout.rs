//! Checkout: the shipping address, a shipping method from live quotes, payment with the test
//! provider, then the confirmation page.
//!
//! The form carries an idempotency key made when it was shown, so a double click or a reload of
//! the post places one order and charges once. A declined card is shown on the form again, with
//! nothing ordered and nothing charged, and a new key for the next attempt.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use comptoir_contracts::address::PostalAddress;
use comptoir_contracts::cart::{Cart, CartAccess};
use comptoir_contracts::identity::AddressKind;
use comptoir_contracts::ordering::{CartEstimate, Checkout, CheckoutRequest, EstimateRequest};
use comptoir_contracts::payment::{PaymentMethodInput, test_cards};
use comptoir_kernel::{Error, Money, PageRequest};
use uuid::Uuid;

use super::account::{order_page, to_postal};
use super::{AddressFields, Chrome, chrome, current_cart, to_login};
use crate::form::{FormData, FormErrors};
use crate::session::{FlashKind, Session};
use crate::view::{redirect_with, render, render_status};
use crate::{PageResult, WebState};

/// The test provider's cards a shopper can pick (this shop takes no real cards).
const CARDS: [(&str, &str); 3] = [
    (test_cards::APPROVED, "Test card: approved"),
    (test_cards::DECLINED_INSUFFICIENT_FUNDS, "Test card: declined (insufficient funds)"),
    (test_cards::DECLINED_STOLEN, "Test card: declined (reported stolen)"),
];

pub struct MethodChoice {
    pub code: String,
    pub label: String,
    pub price: Money,
    pub days: Option<i64>,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "storefront/checkout.html")]
struct CheckoutPage {
    chrome: Chrome,
    address: AddressFields,
    cart: Cart,
    estimate: Option<CartEstimate>,
    methods: Vec<MethodChoice>,
    cards: Vec<(&'static str, &'static str, bool)>,
    save_address: bool,
    idempotency_key: String,
    errors: FormErrors,
}

struct Choices {
    method: Option<String>,
    card: String,
    save_address: bool,
    idempotency_key: String,
}

async fn checkout_page(
    state: &WebState,
    session: &Session,
    cart: &Cart,
    address: AddressFields,
    choices: Choices,
    mut errors: FormErrors,
) -> Result<CheckoutPage, crate::view::PageError> {
    let customer = session.customer_id().unwrap_or_default();
    let mut estimate = None;
    if comptoir_kernel::country::is_iso_alpha2(&address.country) {
        let request = EstimateRequest {
            country: address.country.clone(),
            region: Some(address.region.clone()).filter(|r| !r.is_empty()),
            shipping_method: choices.method.clone(),
        };
        match state.ordering.estimate(&session.ctx, cart.id, &CartAccess::Customer(customer), request).await {
            Ok(found) => estimate = Some(found),
            Err(error) => errors.absorb(error, |field| match field {
                "country" | "shipping_method" => field.to_string(),
                _ => "country".to_string(),
            })?,
        }
    }
    let chosen = estimate.as_ref().map(|e| e.shipping.method.clone());
    let methods = estimate
        .iter()
        .flat_map(|e| e.shipping_options.iter())
        .map(|q| MethodChoice {
            code: q.method.clone(),
            label: format!("{} ({})", q.name, q.carrier),
            price: q.price,
            days: q.delivery_days,
            selected: Some(&q.method) == chosen.as_ref(),
        })
        .collect();
    Ok(CheckoutPage {
        chrome: chrome(state, session).await?,
        address,
        cart: cart.clone(),
        estimate,
        methods,
        cards: CARDS.iter().map(|(token, label)| (*token, *label, *token == choices.card)).collect(),
        save_address: choices.save_address,
        idempotency_key: choices.idempotency_key,
        errors,
    })
}

/// The customer's open cart with something in it.
async fn cart_to_order(state: &WebState, session: &Session) -> Option<Cart> {
    current_cart(state, session).await.filter(|c| !c.lines.is_empty())
}

pub async fn page(State(state): State<WebState>, session: Session) -> PageResult {
    let Some(customer_id) = session.customer_id() else { return Ok(to_login("/checkout")) };
    let Some(cart) = cart_to_order(&state, &session).await else {
        return Ok(redirect_with(&session, "/cart", FlashKind::Error, "Your cart is empty."));
    };
    let addresses =
        state.identity.list_addresses(&session.ctx, customer_id, PageRequest { page: 1, per_page: 50 }).await?;
    let shipping: Vec<_> = addresses.items.iter().filter(|a| a.kind == AddressKind::Shipping).collect();
    let known = shipping.iter().find(|a| a.is_default).or(shipping.first());
    let address = match known {
        Some(a) => AddressFields::from_address(&to_postal(a)),
        None => AddressFields { country: "FR".into(), ..AddressFields::default() },
    };
    let choices = Choices {
        method: None,
        card: test_cards::APPROVED.into(),
        save_address: known.is_none(),
        idempotency_key: Uuid::new_v4().to_string(),
    };
    Ok(render(&checkout_page(&state, &session, &cart, address, choices, FormErrors::default()).await?))
}

pub async fn submit(State(state): State<WebState>, session: Session, form: FormData) -> PageResult {
    let Some(customer_id) = session.customer_id() else { return Ok(to_login("/checkout")) };
    let Some(cart) = cart_to_order(&state, &session).await else {
        return Ok(redirect_with(&session, "/cart", FlashKind::Error, "Your cart is empty."));
    };
    let address = AddressFields::from_form(&form);
    let mut choices = Choices {
        method: form.optional("shipping_method"),
        card: form.text("card"),
        save_address: form.checked("save_address"),
        idempotency_key: form.text("idempotency_key"),
    };
    if Uuid::parse_str(&choices.idempotency_key).is_err() {
        choices.idempotency_key = Uuid::new_v4().to_string();
    }
    let mut errors = FormErrors::default();
    if form.text("action") == "quote" {
        return Ok(render(&checkout_page(&state, &session, &cart, address, choices, errors).await?));
    }
    let shipping_address = match address.postal().validated("shipping_address") {
        Ok(valid) => Some(valid),
        Err(error) => {
            errors.absorb(error, |f| f.trim_start_matches("shipping_address.").to_string())?;
            None
        }
    };
    if choices.method.is_none() {
        errors.add("shipping_method", "Choose how to ship your order.");
    }
    if !CARDS.iter().any(|(token, _)| *token == choices.card) {
        errors.add("card", "Choose a card.");
    }
    let (Some(shipping_address), Some(method), true) = (shipping_address, choices.method.clone(), errors.is_empty())
    else {
        let page = checkout_page(&state, &session, &cart, address, choices, errors).await?;
        return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page));
    };
    let checkout = Checkout {
        customer_id,
        email: session.email().unwrap_or_default().to_string(),
        idempotency_key: format!("storefront:{}", choices.idempotency_key),
        request: CheckoutRequest {
            cart_id: cart.id,
            shipping_address: shipping_address.clone(),
            billing_address: None,
            shipping_method: method,
            payment: PaymentMethodInput { provider: "test".into(), token: Some(choices.card.clone()) },
        },
    };
    let status = match state.ordering.checkout(&session.ctx, checkout).await {
        Ok(order) => {
            if choices.save_address {
                save_address(&state, &session, customer_id, &shipping_address).await;
            }
            return Ok(Redirect::to(&format!("/checkout/confirmation/{}", order.id)).into_response());
        }
        Err(Error::PaymentDeclined(reason)) => {
            errors.set_general(format!(
                "Your payment was declined: {reason}. No order was placed and nothing was charged; \
                 choose another card to try again."
            ));
            StatusCode::PAYMENT_REQUIRED
        }
        Err(error) => {
            let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            errors.absorb(error, |f| match f.strip_prefix("shipping_address.") {
                Some(field) => field.to_string(),
                None if f.starts_with("payment") => "card".to_string(),
                None => f.to_string(),
            })?;
            status
        }
    };
    // The next attempt is a new checkout: the key of a refused one would return its refusal.
    choices.idempotency_key = Uuid::new_v4().to_string();
    let cart = cart_to_order(&state, &session).await.unwrap_or(cart);
    let page = checkout_page(&state, &session, &cart, address, choices, errors).await?;
    Ok(render_status(status, &page))
}

/// Keeps the address the customer just used for next time (a failure here loses nothing).
async fn save_address(state: &WebState, session: &Session, customer_id: Uuid, address: &PostalAddress) {
    let input = AddressFields::from_address(address).input(AddressKind::Shipping, true);
    if let Err(error) = state.identity.add_address(&session.ctx, customer_id, input).await {
        tracing::warn!(%error, "could not keep the checkout address in the customer's address book");
    }
}

pub async fn confirmation(State(state): State<WebState>, session: Session, Path(id): Path<String>) -> PageResult {
    let Some(customer_id) = session.customer_id() else {
        return Ok(to_login(&format!("/account/orders/{id}")));
    };
    Ok(render(&order_page(&state, &session, customer_id, &id, true).await?))
}
