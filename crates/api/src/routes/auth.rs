//! Registration, login, token refresh and logout, for customers and staff.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use comptoir_contracts::cart::Cart;
use comptoir_contracts::identity::{Credentials, Customer, RegisterCustomer, Staff, TokenPair};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::audit::AuditScope;
use crate::context::Caller;
use crate::extract::Json;
use crate::problem::{ApiResult, Problem};
use crate::state::ApiState;

pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(staff_login))
}

#[utoipa::path(post, path = "/auth/register", tag = "auth", request_body = RegisterCustomer,
    responses((status = 201, body = Customer), (status = 409, body = Problem, description = "Email already registered"),
              (status = 422, body = Problem)))]
async fn register(
    State(state): State<ApiState>,
    caller: Caller,
    Json(input): Json<RegisterCustomer>,
) -> ApiResult<(StatusCode, axum::Json<Customer>)> {
    let customer = state.identity.register_customer(&caller.ctx, input).await?;
    Ok((StatusCode::CREATED, axum::Json(customer)))
}

/// An anonymous cart to merge into the customer's cart at login.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CartToMerge {
    id: Uuid,
    token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    email: String,
    password: String,
    /// An anonymous cart to merge into the customer's.
    #[serde(default)]
    cart: Option<CartToMerge>,
}

#[derive(Debug, Serialize, ToSchema)]
struct CustomerLogin {
    customer: Customer,
    #[serde(flatten)]
    tokens: TokenPair,
    /// The customer's cart after merging the anonymous one, when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    cart: Option<Cart>,
}

#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = CustomerLogin), (status = 401, body = Problem, description = "Wrong email or password")))]
async fn login(
    State(state): State<ApiState>,
    scope: Option<Extension<AuditScope>>,
    caller: Caller,
    Json(input): Json<LoginRequest>,
) -> ApiResult<axum::Json<CustomerLogin>> {
    let credentials = Credentials { email: input.email, password: input.password };
    let email = credentials.email.clone();
    let (customer, tokens) = state
        .identity
        .login_customer(&caller.ctx, credentials)
        .await
        .inspect_err(|e| audit_failure(&scope, e, &email, "customer"))?;
    let cart = match input.cart {
        Some(anonymous) => Some(state.cart.merge(&caller.ctx, anonymous.id, &anonymous.token, customer.id).await?),
        None => None,
    };
    Ok(axum::Json(CustomerLogin { customer, tokens, cart }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RefreshRequest {
    refresh_token: String,
}

#[utoipa::path(post, path = "/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenPair), (status = 401, body = Problem)))]
async fn refresh(
    State(state): State<ApiState>,
    caller: Caller,
    Json(input): Json<RefreshRequest>,
) -> ApiResult<axum::Json<TokenPair>> {
    Ok(axum::Json(state.identity.refresh(&caller.ctx, &input.refresh_token).await?))
}

#[utoipa::path(post, path = "/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "The session is revoked"), (status = 401, body = Problem)))]
async fn logout(State(state): State<ApiState>, caller: Caller) -> ApiResult<StatusCode> {
    let session = caller.session_id()?;
    state.identity.logout(&caller.ctx, session).await?;
    state.authenticator.forget_session(session);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
struct StaffLogin {
    staff: Staff,
    #[serde(flatten)]
    tokens: TokenPair,
}

#[utoipa::path(post, path = "/staff/auth/login", tag = "auth", request_body = Credentials,
    responses((status = 200, body = StaffLogin), (status = 401, body = Problem)))]
async fn staff_login(
    State(state): State<ApiState>,
    scope: Option<Extension<AuditScope>>,
    caller: Caller,
    Json(input): Json<Credentials>,
) -> ApiResult<axum::Json<StaffLogin>> {
    let email = input.email.clone();
    let (staff, tokens) = state
        .identity
        .login_staff(&caller.ctx, input)
        .await
        .inspect_err(|e| audit_failure(&scope, e, &email, "staff"))?;
    Ok(axum::Json(StaffLogin { staff, tokens }))
}

/// Wrong credentials are a security event; other failures (bad input, an outage) are not.
fn audit_failure(
    scope: &Option<Extension<AuditScope>>,
    error: &comptoir_kernel::Error,
    email: &str,
    account: &'static str,
) {
    if let (Some(Extension(scope)), comptoir_kernel::Error::Unauthorized(_)) = (scope, error) {
        scope.login_failed(email, account);
    }
}
