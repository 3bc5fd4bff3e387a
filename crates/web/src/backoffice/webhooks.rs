//! Webhooks for third-party apps: the subscriptions (a new one shows its signing secret once),
//! each one's delivery log with the endpoint's answers, redelivery, enabling and disabling,
//! rotating the secret and unsubscribing.

use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use comptoir_contracts::identity::Permission;
use comptoir_contracts::webhooks::{
    Delivery, DeliveryDetail, DeliveryFilter, DeliveryStatus, NewSubscription, Subscription, SubscriptionPatch,
};
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
const SECTION: &str = "/webhooks";

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/webhooks", get(list).post(create))
        .route("/webhooks/{id}", get(show))
        .route("/webhooks/{id}/enable", post(enable))
        .route("/webhooks/{id}/disable", post(disable))
        .route("/webhooks/{id}/rotate", post(rotate))
        .route("/webhooks/{id}/delete", post(delete))
        .route("/webhook-deliveries/{id}", get(delivery))
        .route("/webhook-deliveries/{id}/redeliver", post(redeliver))
}

struct SubscriptionRow {
    id: String,
    url: String,
    patterns: String,
    description: String,
    enabled: bool,
    disabled_reason: String,
    failures: u32,
    secret_hint: String,
    created: String,
}

impl SubscriptionRow {
    fn new(s: &Subscription) -> SubscriptionRow {
        SubscriptionRow {
            id: s.id.to_string(),
            url: s.url.clone(),
            patterns: s.patterns.join(" "),
            description: s.description.clone(),
            enabled: s.enabled,
            disabled_reason: s.disabled_reason.clone().unwrap_or_default(),
            failures: s.consecutive_failures,
            secret_hint: s.secret_hint.clone(),
            created: date_time(&s.created_at),
        }
    }
}

struct DeliveryRow {
    id: String,
    event_type: String,
    status: &'static str,
    attempts: u32,
    last_code: String,
    last_error: String,
    created: String,
}

fn status_label(status: DeliveryStatus) -> &'static str {
    match status {
        DeliveryStatus::Pending => "Pending",
        DeliveryStatus::Delivered => "Delivered",
        DeliveryStatus::Failed => "Failed",
    }
}

impl DeliveryRow {
    fn new(d: &Delivery) -> DeliveryRow {
        DeliveryRow {
            id: d.id.to_string(),
            event_type: d.event_type.clone(),
            status: status_label(d.status),
            attempts: d.attempts,
            last_code: d.last_response_code.map(|c| c.to_string()).unwrap_or_else(|| "–".into()),
            last_error: d.last_error.clone().unwrap_or_default(),
            created: date_time(&d.created_at),
        }
    }
}

/// A secret just made: the one time it is shown.
struct Secret {
    url: String,
    secret: String,
}

#[derive(Template)]
#[template(path = "backoffice/webhooks.html")]
struct WebhooksPage {
    chrome: Chrome,
    subscriptions: Vec<SubscriptionRow>,
    total: u64,
    pager: Pager,
    created: Option<Secret>,
    url: String,
    patterns: String,
    description: String,
    errors: FormErrors,
}

async fn webhooks_page(
    state: &WebState,
    session: &Session,
    chrome: Chrome,
    page: u32,
) -> Result<WebhooksPage, PageError> {
    let found = state.webhooks.subscriptions(&session.ctx, PageRequest { page, per_page: PER_PAGE }).await?;
    Ok(WebhooksPage {
        chrome,
        subscriptions: found.items.iter().map(SubscriptionRow::new).collect(),
        total: found.total,
        pager: Pager::new(SECTION, &[], page, PER_PAGE, found.total),
        created: None,
        url: String::new(),
        patterns: String::new(),
        description: String::new(),
        errors: FormErrors::default(),
    })
}

/// The secret must not stay in any cache, nor be offered again by the browser's history.
fn not_stored(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn list(State(state): State<WebState>, session: Session, RawQuery(raw): RawQuery) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::EventsManage), SECTION).await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let page = FormData::from_query(raw).page_number();
    Ok(render(&webhooks_page(&state, &session, chrome, page).await?))
}

async fn create(State(state): State<WebState>, session: Session, form: FormData) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::EventsManage), SECTION).await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let (url, patterns, description) = (form.text("url"), form.text("patterns"), form.text("description"));
    let mut errors = FormErrors::default();
    let list: Vec<String> =
        patterns.split([' ', ',', '\n']).filter(|p| !p.trim().is_empty()).map(|p| p.trim().to_string()).collect();
    let input = NewSubscription { url: url.clone(), patterns: list, description: description.clone(), enabled: true };
    match state.webhooks.create_subscription(&session.ctx, input).await {
        Ok(created) => {
            // Shown on this answer only: a redirect would have to carry the secret along.
            let mut page = webhooks_page(&state, &session, chrome, 1).await?;
            page.created = Some(Secret { url: created.subscription.url, secret: created.secret });
            return Ok(not_stored(render(&page)));
        }
        Err(error) => errors.absorb(error, |field| {
            if field.starts_with("patterns") { "patterns".to_string() } else { field.to_string() }
        })?,
    }
    let mut page = webhooks_page(&state, &session, chrome, 1).await?;
    (page.url, page.patterns, page.description, page.errors) = (url, patterns, description, errors);
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

fn subscription_id(id: &str) -> Result<Uuid, PageError> {
    Uuid::parse_str(id).map_err(|_| PageError(Error::not_found("webhook subscription", id)))
}

#[derive(Template)]
#[template(path = "backoffice/webhook.html")]
struct SubscriptionPage {
    chrome: Chrome,
    subscription: SubscriptionRow,
    deliveries: Vec<DeliveryRow>,
    total: u64,
    status: String,
    pager: Pager,
    rotated: Option<Secret>,
}

async fn subscription_page(
    state: &WebState,
    session: &Session,
    chrome: Chrome,
    id: Uuid,
    status: &str,
    page: u32,
) -> Result<SubscriptionPage, PageError> {
    let filter = DeliveryFilter {
        status: match status {
            "pending" => Some(DeliveryStatus::Pending),
            "delivered" => Some(DeliveryStatus::Delivered),
            "failed" => Some(DeliveryStatus::Failed),
            _ => None,
        },
    };
    let request = PageRequest { page, per_page: PER_PAGE };
    let (subscription, deliveries) = tokio::join!(
        state.webhooks.subscription(&session.ctx, id),
        state.webhooks.deliveries(&session.ctx, id, filter.clone(), request)
    );
    let (subscription, deliveries) = (subscription?, deliveries?);
    let base = format!("{SECTION}/{id}");
    let status = filter.status.map(|s| status_label(s).to_lowercase()).unwrap_or_default();
    Ok(SubscriptionPage {
        chrome,
        subscription: SubscriptionRow::new(&subscription),
        deliveries: deliveries.items.iter().map(DeliveryRow::new).collect(),
        total: deliveries.total,
        pager: Pager::new(&base, &[("status", status.clone())], page, PER_PAGE, deliveries.total),
        status,
        rotated: None,
    })
}

async fn show(
    State(state): State<WebState>,
    session: Session,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::EventsManage), SECTION).await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let query = FormData::from_query(raw);
    let id = subscription_id(&id)?;
    Ok(render(&subscription_page(&state, &session, chrome, id, &query.text("status"), query.page_number()).await?))
}

async fn set_enabled(state: WebState, session: Session, id: String, enabled: bool) -> PageResult {
    if let Err(response) = staff(&state, &session, Some(Permission::EventsManage), SECTION).await {
        return Ok(response);
    }
    let id = subscription_id(&id)?;
    let patch = SubscriptionPatch { enabled: Some(enabled), ..SubscriptionPatch::default() };
    let subscription = state.webhooks.update_subscription(&session.ctx, id, patch).await?;
    let text = match enabled {
        true => format!("{} receives events again; its failure count starts from zero.", subscription.url),
        false => format!("{} receives no events until it is enabled again.", subscription.url),
    };
    Ok(redirect_with(&session, &format!("{SECTION}/{id}"), FlashKind::Success, &text))
}

async fn enable(State(state): State<WebState>, session: Session, Path(id): Path<String>) -> PageResult {
    set_enabled(state, session, id, true).await
}

async fn disable(State(state): State<WebState>, session: Session, Path(id): Path<String>) -> PageResult {
    set_enabled(state, session, id, false).await
}

async fn rotate(State(state): State<WebState>, session: Session, Path(id): Path<String>) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::EventsManage), SECTION).await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let id = subscription_id(&id)?;
    let rotated = state.webhooks.rotate_secret(&session.ctx, id).await?;
    let mut page = subscription_page(&state, &session, chrome, id, "", 1).await?;
    page.rotated = Some(Secret { url: rotated.subscription.url, secret: rotated.secret });
    Ok(not_stored(render(&page)))
}

async fn delete(State(state): State<WebState>, session: Session, Path(id): Path<String>) -> PageResult {
    if let Err(response) = staff(&state, &session, Some(Permission::EventsManage), SECTION).await {
        return Ok(response);
    }
    let id = subscription_id(&id)?;
    let subscription = state.webhooks.subscription(&session.ctx, id).await?;
    state.webhooks.delete_subscription(&session.ctx, id).await?;
    let text = format!("{} is unsubscribed; its delivery log is gone with it.", subscription.url);
    Ok(redirect_with(&session, SECTION, FlashKind::Success, &text))
}

struct AttemptRow {
    number: u32,
    manual: bool,
    at: String,
    duration_ms: u64,
    code: String,
    body: String,
    error: String,
    succeeded: bool,
}

#[derive(Template)]
#[template(path = "backoffice/webhook_delivery.html")]
struct DeliveryPage {
    chrome: Chrome,
    delivery: DeliveryRow,
    subscription_id: String,
    payload: String,
    attempts: Vec<AttemptRow>,
}

fn delivery_id(id: &str) -> Result<Uuid, PageError> {
    Uuid::parse_str(id).map_err(|_| PageError(Error::not_found("webhook delivery", id)))
}

fn delivery_page(chrome: Chrome, detail: DeliveryDetail) -> DeliveryPage {
    DeliveryPage {
        chrome,
        delivery: DeliveryRow::new(&detail.delivery),
        subscription_id: detail.delivery.subscription_id.to_string(),
        payload: serde_json::to_string_pretty(&detail.payload).unwrap_or_default(),
        attempts: detail
            .attempts
            .iter()
            .map(|a| AttemptRow {
                number: a.number,
                manual: a.manual,
                at: date_time(&a.attempted_at),
                duration_ms: a.duration_ms,
                code: a.response_code.map(|c| c.to_string()).unwrap_or_else(|| "–".into()),
                body: a.response_body.clone().unwrap_or_default(),
                error: a.error.clone().unwrap_or_default(),
                succeeded: a.succeeded,
            })
            .collect(),
    }
}

async fn delivery(State(state): State<WebState>, session: Session, Path(id): Path<String>) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::EventsManage), SECTION).await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let detail = state.webhooks.delivery(&session.ctx, delivery_id(&id)?).await?;
    Ok(render(&delivery_page(chrome, detail)))
}

async fn redeliver(State(state): State<WebState>, session: Session, Path(id): Path<String>) -> PageResult {
    if let Err(response) = staff(&state, &session, Some(Permission::EventsManage), SECTION).await {
        return Ok(response);
    }
    let id = delivery_id(&id)?;
    let back = format!("/webhook-deliveries/{id}");
    match state.webhooks.redeliver(&session.ctx, id).await {
        Ok(detail) if detail.delivery.status == DeliveryStatus::Delivered => {
            Ok(redirect_with(&session, &back, FlashKind::Success, "Sent again: the endpoint accepted it."))
        }
        Ok(detail) => {
            let why = detail.delivery.last_error.unwrap_or_else(|| "it did not accept it".into());
            Ok(redirect_with(&session, &back, FlashKind::Error, &format!("Sent again, and refused: {why}.")))
        }
        Err(Error::Conflict { message, .. }) => Ok(redirect_with(&session, &back, FlashKind::Error, &message)),
        Err(error) => Err(PageError(error)),
    }
}
