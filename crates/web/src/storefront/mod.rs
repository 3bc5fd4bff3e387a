//! The storefront (port 9000): browse, search, cart, checkout, account.

mod account;
mod cart;
mod catalog;
mod checkout;

pub use account::pdf_download;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use comptoir_contracts::address::PostalAddress;
use comptoir_contracts::admin::ShopSettings;
use comptoir_contracts::cart::{Cart, CartAccess, CartStatus};
use comptoir_contracts::catalog::Category;
use comptoir_contracts::identity::{AddressInput, AddressKind};
use comptoir_kernel::{Currency, Error};

use crate::WebState;
use crate::form::FormData;
use crate::session::{Flash, Session};
use crate::view::{self, PageError};

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/", get(catalog::home))
        .route("/c/{slug}", get(catalog::category))
        .route("/collections/{slug}", get(catalog::collection))
        .route("/search", get(catalog::search))
        .route("/search/suggest", get(catalog::suggest))
        .route("/p/{slug}", get(catalog::product))
        .route("/cart", get(cart::show))
        .route("/cart/add", post(cart::add))
        .route("/cart/update", post(cart::update))
        .route("/cart/remove", post(cart::remove))
        .route("/login", get(account::login_page).post(account::login))
        .route("/register", get(account::register_page).post(account::register))
        .route("/logout", post(account::logout))
        .route("/checkout", get(checkout::page).post(checkout::submit))
        .route("/checkout/confirmation/{id}", get(checkout::confirmation))
        .route("/account", get(account::overview))
        .route("/account/addresses", post(account::add_address))
        .route("/account/addresses/{id}/delete", post(account::delete_address))
        .route("/account/orders", get(account::orders))
        .route("/account/orders/{id}", get(account::order))
        .route("/account/orders/{id}/cancel", post(account::cancel_order))
        .route("/account/orders/{id}/invoice", get(account::invoice))
}

/// The address part of the form, as typed.
#[derive(Default, Clone)]
pub struct AddressFields {
    pub name: String,
    pub line1: String,
    pub line2: String,
    pub city: String,
    pub postal_code: String,
    pub region: String,
    pub country: String,
    pub phone: String,
}

impl AddressFields {
    pub fn from_form(form: &FormData) -> Self {
        AddressFields {
            name: form.text("name"),
            line1: form.text("line1"),
            line2: form.text("line2"),
            city: form.text("city"),
            postal_code: form.text("postal_code"),
            region: form.text("region"),
            country: form.text("country").to_ascii_uppercase(),
            phone: form.text("phone"),
        }
    }

    pub fn from_address(a: &PostalAddress) -> Self {
        AddressFields {
            name: a.name.clone(),
            line1: a.line1.clone(),
            line2: a.line2.clone().unwrap_or_default(),
            city: a.city.clone(),
            postal_code: a.postal_code.clone(),
            region: a.region.clone().unwrap_or_default(),
            country: a.country.clone(),
            phone: a.phone.clone().unwrap_or_default(),
        }
    }

    /// For the customer's address book.
    pub fn input(&self, kind: AddressKind, is_default: bool) -> AddressInput {
        let PostalAddress { name, line1, line2, city, postal_code, region, country, phone } = self.postal();
        AddressInput { kind, name, line1, line2, city, postal_code, region, country, phone, is_default }
    }

    pub fn postal(&self) -> PostalAddress {
        let optional = |s: &String| Some(s.clone()).filter(|s| !s.is_empty());
        PostalAddress {
            name: self.name.clone(),
            line1: self.line1.clone(),
            line2: optional(&self.line2),
            city: self.city.clone(),
            postal_code: self.postal_code.clone(),
            region: optional(&self.region),
            country: self.country.clone(),
            phone: optional(&self.phone),
        }
    }
}

/// What every storefront page shows around its content.
pub struct Chrome {
    pub shop_name: String,
    pub csrf: String,
    pub email: Option<String>,
    pub cart_count: i64,
    pub flash: Option<Flash>,
    pub categories: Vec<Category>,
    /// The search box's text.
    pub query: String,
}

/// The shop's settings as the storefront acts on them: its name, channel and currency.
pub struct Shop {
    pub settings: Arc<ShopSettings>,
    pub currency: Currency,
}

impl Shop {
    pub fn channel(&self) -> &str {
        &self.settings.default_channel
    }
}

pub async fn shop(state: &WebState) -> Result<Shop, PageError> {
    let settings = state
        .shop_settings
        .current()
        .await
        .ok_or_else(|| PageError(Error::unavailable("the shop's settings cannot be read")))?;
    let currency = settings.default_currency.parse().map_err(|e: String| PageError(Error::internal(e)))?;
    Ok(Shop { settings, currency })
}

/// The frame of a page: the shop's name, the visitor, their cart's size, the top categories.
pub async fn chrome(state: &WebState, session: &Session) -> Result<Chrome, PageError> {
    let shop = shop(state).await?;
    let (categories, cart) = tokio::join!(state.catalog.category_tree(&session.ctx), current_cart(state, session));
    Ok(Chrome {
        shop_name: shop.settings.shop_name.clone(),
        csrf: session.csrf.clone(),
        email: session.email().map(str::to_string),
        cart_count: cart.map(|c| c.item_count).unwrap_or(0),
        flash: session.flash.clone(),
        categories: categories.map_err(PageError)?.into_iter().map(|node| node.category).collect(),
        query: String::new(),
    })
}

/// The visitor's open cart: the customer's, or the anonymous one their cookie names.
pub async fn current_cart(state: &WebState, session: &Session) -> Option<Cart> {
    let cart = match session.customer_id() {
        Some(customer) => state.cart.customer_cart(&session.ctx, customer).await.ok().flatten(),
        None => {
            let (id, token) = session.anonymous_cart.clone()?;
            state.cart.get_cart(&session.ctx, id, &CartAccess::Token(token)).await.ok()
        }
    };
    cart.filter(|c| c.status == CartStatus::Active)
}

/// During maintenance the storefront shows the shop's message (503 with `Retry-After`); the back
/// office keeps working.
pub async fn maintenance(State(state): State<WebState>, req: Request, next: Next) -> Response {
    match state.shop_settings.current().await {
        Some(settings) if settings.maintenance_mode => {
            let mut response = view::message_page(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("{} is closed for maintenance", settings.shop_name),
                &settings.maintenance_message,
            );
            if let Ok(value) = HeaderValue::from_str(&settings.maintenance_retry_after_secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        _ => next.run(req).await,
    }
}

/// Where to send a visitor who must sign in first, coming back to `next` afterwards.
pub fn to_login(next: &str) -> Response {
    let next: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
    Redirect::to(&format!("/login?next={next}")).into_response()
}

/// A path of this site to go to next (after login, back to a product), else `default`: never
/// another site (`//evil.example`, `https://...`).
pub fn local_path(candidate: Option<&str>, default: &str) -> String {
    match candidate {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => path.to_string(),
        _ => default.to_string(),
    }
}

/// Links to the previous and next page of a list, keeping its other query parameters.
pub struct Pager {
    pub page: u32,
    pub pages: u32,
    pub previous: Option<String>,
    pub next: Option<String>,
}

impl Pager {
    pub fn new(base: &str, query: &[(&str, String)], page: u32, per_page: u32, total: u64) -> Pager {
        let pages = total.div_ceil(per_page as u64).max(1) as u32;
        let link = |p: u32| {
            let mut serializer = form_urlencoded::Serializer::new(String::new());
            for (name, value) in query.iter().filter(|(_, v)| !v.is_empty()) {
                serializer.append_pair(name, value);
            }
            serializer.append_pair("page", &p.to_string());
            format!("{base}?{}", serializer.finish())
        };
        Pager {
            page,
            pages,
            previous: (page > 1).then(|| link(page - 1)),
            next: (page < pages).then(|| link(page + 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(local_path(Some("/checkout"), "/account"), "/checkout");
        assert_eq!(local_path(Some("//evil.example/x"), "/account"), "/account");
        assert_eq!(local_path(Some("https://evil.example"), "/account"), "/account");
        assert_eq!(local_path(Some("/\\evil.example"), "/account"), "/account");
        assert_eq!(local_path(None, "/cart"), "/cart");
    }

    #[test]
    fn pages_link_to_their_neighbours() {
        let pager = Pager::new("/search", &[("q", "mug".into()), ("category", String::new())], 2, 24, 60);
        assert_eq!(pager.pages, 3);
        assert_eq!(pager.previous.as_deref(), Some("/search?q=mug&page=1"));
        assert_eq!(pager.next.as_deref(), Some("/search?q=mug&page=3"));
    }
}
