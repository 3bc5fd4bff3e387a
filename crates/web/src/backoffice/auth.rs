//! Staff sign-in and sign-out.

use askama::Template;
use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use comptoir_api::audit::AuditScope;
use comptoir_contracts::identity::Principal;
use comptoir_kernel::Error;

use crate::form::{FormData, FormErrors};
use crate::session::{FlashKind, Session, set_cookie};
use crate::storefront::local_path;
use crate::view::{redirect_with, render, render_status};
use crate::{PageResult, WebState};

#[derive(Template)]
#[template(path = "backoffice/login.html")]
struct LoginPage {
    shop_name: String,
    csrf: String,
    next: String,
    email: String,
    errors: FormErrors,
}

async fn shop_name(state: &WebState) -> String {
    state.shop_settings.current().await.map(|s| s.shop_name.clone()).unwrap_or_else(|| "Comptoir".into())
}

pub async fn login_page(State(state): State<WebState>, session: Session, RawQuery(raw): RawQuery) -> PageResult {
    let params = FormData::from_query(raw);
    let next = local_path(params.optional("next").as_deref(), "/");
    if session.principal.is_some() {
        return Ok(Redirect::to(&next).into_response());
    }
    Ok(render(&LoginPage {
        shop_name: shop_name(&state).await,
        csrf: session.csrf.clone(),
        next,
        email: String::new(),
        errors: FormErrors::default(),
    }))
}

pub async fn login(
    State(state): State<WebState>,
    scope: Option<Extension<AuditScope>>,
    session: Session,
    form: FormData,
) -> PageResult {
    let next = local_path(form.optional("next").as_deref(), "/");
    let mut errors = FormErrors::default();
    let credentials = form.credentials(&mut errors);
    if errors.is_empty() {
        match state.identity.login_staff(&session.ctx, credentials.clone()).await {
            Ok((staff, pair)) => {
                let mut response =
                    redirect_with(&session, &next, FlashKind::Success, &format!("Signed in as {}.", staff.name));
                for cookie in session.start_cookies(&pair, None) {
                    set_cookie(&mut response, &cookie);
                }
                return Ok(response);
            }
            Err(error) => {
                if let (Some(Extension(scope)), Error::Unauthorized(_)) = (&scope, &error) {
                    scope.login_failed(&credentials.email, "staff");
                }
                errors.absorb(error, str::to_string)?
            }
        }
    }
    let page = LoginPage {
        shop_name: shop_name(&state).await,
        csrf: session.csrf.clone(),
        next,
        email: credentials.email,
        errors,
    };
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

pub async fn logout(State(state): State<WebState>, session: Session) -> PageResult {
    if let Some(Principal::Staff { session_id, .. }) = &session.principal
        && let Err(error) = state.identity.logout(&session.ctx, *session_id).await
    {
        tracing::warn!(%error, "could not revoke a staff session at sign-out");
    }
    let mut response = redirect_with(&session, "/login", FlashKind::Success, "You are signed out.");
    for cookie in session.end_cookies() {
        set_cookie(&mut response, &cookie);
    }
    Ok(response)
}
