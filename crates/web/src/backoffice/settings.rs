//! The shop's settings: its name, default channel, maintenance mode. Admins only.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use comptoir_contracts::admin::{SettingsUpdate, ShopSettings};
use comptoir_contracts::catalog::Channel;
use comptoir_contracts::identity::Permission;

use super::{Chrome, staff};
use crate::form::{FormData, FormErrors};
use crate::session::{FlashKind, Session};
use crate::view::{redirect_with, render, render_status};
use crate::{PageResult, WebState};

pub fn routes() -> Router<WebState> {
    Router::new().route("/settings", get(show).post(update))
}

#[derive(Template)]
#[template(path = "backoffice/settings.html")]
struct SettingsPage {
    chrome: Chrome,
    settings: ShopSettings,
    channels: Vec<Channel>,
    errors: FormErrors,
}

async fn show(State(state): State<WebState>, session: Session) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::SettingsManage), "/settings").await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let (settings, channels) =
        tokio::join!(state.admin.settings(&session.ctx), state.catalog.list_channels(&session.ctx));
    Ok(render(&SettingsPage { chrome, settings: settings?, channels: channels?, errors: FormErrors::default() }))
}

async fn update(State(state): State<WebState>, session: Session, form: FormData) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::SettingsManage), "/settings").await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let mut errors = FormErrors::default();
    let retry_after = form.integer("maintenance_retry_after_secs", "a number of seconds", &mut errors);
    let update = SettingsUpdate {
        shop_name: Some(form.text("shop_name")),
        default_channel: Some(form.text("default_channel")),
        default_currency: None,
        maintenance_mode: Some(form.checked("maintenance_mode")),
        maintenance_message: Some(form.text("maintenance_message")),
        maintenance_retry_after_secs: retry_after.and_then(|s| u32::try_from(s).ok()),
        expected_version: form.text("version").parse().ok(),
    };
    let mut status = StatusCode::UNPROCESSABLE_ENTITY;
    if errors.is_empty() {
        match state.admin.update_settings(&session.ctx, update).await {
            Ok(saved) => {
                state.shop_settings.remember(saved);
                return Ok(redirect_with(&session, "/settings", FlashKind::Success, "Settings saved."));
            }
            Err(error) => {
                status = StatusCode::from_u16(error.status()).unwrap_or(status);
                if error.status() == 409 {
                    errors.set_general(
                        "Someone changed the settings meanwhile: here they are now. Make your change again.",
                    );
                } else {
                    errors.absorb(error, str::to_string)?;
                }
            }
        }
    }
    let (settings, channels) =
        tokio::join!(state.admin.settings(&session.ctx), state.catalog.list_channels(&session.ctx));
    Ok(render_status(status, &SettingsPage { chrome, settings: settings?, channels: channels?, errors }))
}
