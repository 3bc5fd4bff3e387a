//! The cart: for anonymous visitors (a cookie holds its id and token) and for customers (theirs,
//! merged with the anonymous one when they sign in).

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use comptoir_contracts::cart::{AddLine, Cart, CartAccess, NewCart, SetQuantity};
use comptoir_contracts::search::SearchHit;
use uuid::Uuid;

use super::catalog::ProductCard;
use super::{Chrome, chrome, current_cart, shop};
use crate::form::{FormData, FormErrors};
use crate::session::{CART_COOKIE, FlashKind, Session, set_cookie};
use crate::view::{redirect_with, render};
use crate::{PageResult, WebState};

#[derive(Template)]
#[template(path = "storefront/cart.html")]
struct CartPage {
    chrome: Chrome,
    cart: Option<Cart>,
    /// Products like those in the cart, not in it.
    suggestions: Vec<ProductCard>,
    /// Products often bought with the cart's: name and link.
    bought_together: Vec<(String, String)>,
}

pub async fn show(State(state): State<WebState>, session: Session) -> PageResult {
    let (chrome, cart) = tokio::join!(chrome(&state, &session), current_cart(&state, &session));
    let cart = cart.filter(|c| !c.lines.is_empty());
    let (suggestions, bought_together) = match &cart {
        Some(cart) => tokio::join!(suggestions(&state, &session, cart), bought_together(&state, &session, cart)),
        None => (Vec::new(), Vec::new()),
    };
    Ok(render(&CartPage { chrome: chrome?, cart, suggestions, bought_together }))
}

/// Products often in the same orders as the cart's, none of them.
async fn bought_together(state: &WebState, session: &Session, cart: &Cart) -> Vec<(String, String)> {
    let mut products: Vec<Uuid> = cart.lines.iter().map(|l| l.product_id).collect();
    products.dedup();
    match state.recommendations.for_cart(&session.ctx, products, 4).await {
        Ok(found) => found.into_iter().map(|r| (r.product_name, format!("/p/{}", r.product_id))).collect(),
        Err(error) => {
            tracing::warn!(%error, "products bought together unavailable for the cart");
            Vec::new()
        }
    }
}

/// Up to four products like the cart's first three, best match first, none already in the cart.
/// A cart page without suggestions is better than no cart page: failures are only logged.
async fn suggestions(state: &WebState, session: &Session, cart: &Cart) -> Vec<ProductCard> {
    let mut in_cart: Vec<Uuid> = cart.lines.iter().map(|l| l.product_id).collect();
    in_cart.dedup();
    let asked = in_cart.iter().take(3).map(|id| state.search.similar(&session.ctx, *id, 4));
    let mut found: Vec<SearchHit> = Vec::new();
    for answer in futures::future::join_all(asked).await {
        match answer {
            Ok(hits) => found.extend(hits),
            Err(error) => tracing::warn!(%error, "similar products unavailable for the cart"),
        }
    }
    found.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut cards = Vec::new();
    for hit in found {
        if !in_cart.contains(&hit.product_id) && cards.len() < 4 {
            in_cart.push(hit.product_id);
            cards.push(ProductCard::from(hit));
        }
    }
    cards
}

/// Who may change the visitor's cart.
fn access(session: &Session, cart: &Cart) -> CartAccess {
    match (session.customer_id(), &session.anonymous_cart) {
        (Some(customer), _) => CartAccess::Customer(customer),
        (None, Some((_, token))) => CartAccess::Token(token.clone()),
        // A cart just created for this visitor carries its token.
        (None, None) => CartAccess::Token(cart.token.clone().unwrap_or_default()),
    }
}

/// Where the visitor came from, to go back there (a product page), else the cart.
fn back(form: &FormData) -> String {
    super::local_path(form.optional("back").as_deref(), "/cart")
}

pub async fn add(State(state): State<WebState>, session: Session, form: FormData) -> PageResult {
    let back = back(&form);
    let mut errors = FormErrors::default();
    let sku = form.text("sku");
    let quantity = form.integer("quantity", "a quantity", &mut errors).unwrap_or(0);
    if sku.is_empty() {
        return Ok(redirect_with(&session, &back, FlashKind::Error, "Choose a variant first."));
    }
    if !errors.is_empty() || quantity < 1 {
        return Ok(redirect_with(&session, &back, FlashKind::Error, "Enter a quantity of 1 or more."));
    }
    let shop = shop(&state).await?;
    let (cart, created) = match current_cart(&state, &session).await {
        Some(cart) => (cart, false),
        None => {
            let new = NewCart { channel: Some(shop.channel().to_string()) };
            (state.cart.create_cart(&session.ctx, session.customer_id(), new).await?, true)
        }
    };
    let access = access(&session, &cart);
    let result = state.cart.add_line(&session.ctx, cart.id, &access, AddLine { sku, quantity }).await;
    let mut response = match result {
        Ok(_) => redirect_with(&session, "/cart", FlashKind::Success, "Added to your cart."),
        Err(error) if error.status() < 500 => redirect_with(&session, &back, FlashKind::Error, &error.to_string()),
        Err(error) => return Err(error.into()),
    };
    if created && session.customer_id().is_none() {
        remember_anonymous_cart(&session, &cart, &mut response);
    }
    Ok(response)
}

/// The anonymous cart's cookie, kept for a month.
fn remember_anonymous_cart(session: &Session, cart: &Cart, response: &mut Response) {
    if let Some(token) = &cart.token {
        let cookie = session.cookie(CART_COOKIE, format!("{}:{token}", cart.id), Some(30 * 24 * 3600));
        set_cookie(response, &cookie);
    }
}

pub async fn update(State(state): State<WebState>, session: Session, form: FormData) -> PageResult {
    let mut errors = FormErrors::default();
    let sku = form.text("sku");
    let quantity = form.integer("quantity", "a quantity", &mut errors);
    let Some(cart) = current_cart(&state, &session).await else {
        return Ok(redirect_with(&session, "/cart", FlashKind::Error, "Your cart is empty."));
    };
    let Some(quantity) = quantity.filter(|q| *q >= 0) else {
        return Ok(redirect_with(&session, "/cart", FlashKind::Error, "Enter a quantity of 0 or more."));
    };
    let access = access(&session, &cart);
    let result = match quantity {
        0 => state.cart.remove_line(&session.ctx, cart.id, &access, &sku).await,
        _ => state.cart.set_quantity(&session.ctx, cart.id, &access, &sku, SetQuantity { quantity }).await,
    };
    match result {
        Ok(_) => Ok(redirect_with(&session, "/cart", FlashKind::Success, "Your cart is updated.")),
        Err(error) if error.status() < 500 => {
            Ok(redirect_with(&session, "/cart", FlashKind::Error, &error.to_string()))
        }
        Err(error) => Err(error.into()),
    }
}

pub async fn remove(State(state): State<WebState>, session: Session, form: FormData) -> PageResult {
    let Some(cart) = current_cart(&state, &session).await else {
        return Ok(redirect_with(&session, "/cart", FlashKind::Error, "Your cart is empty."));
    };
    let access = access(&session, &cart);
    match state.cart.remove_line(&session.ctx, cart.id, &access, &form.text("sku")).await {
        Ok(_) => Ok(redirect_with(&session, "/cart", FlashKind::Success, "Removed from your cart.")),
        Err(error) if error.status() < 500 => {
            Ok(redirect_with(&session, "/cart", FlashKind::Error, &error.to_string()))
        }
        Err(error) => Err(error.into()),
    }
}
