//! Keeping the shop's machinery healthy: the dead letters (events a consumer kept failing on),
//! which can be replayed once the cause is fixed, and the mailbox of every message the shop sent.

use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::routing::{get, post};
use comptoir_contracts::identity::Permission;
use comptoir_contracts::notification::{Delivery, Message, MessageFilter, MessageKind};
use comptoir_eventbus::Filed;
use comptoir_kernel::{Error, PageRequest};
use uuid::Uuid;

use super::{Chrome, staff};
use crate::form::FormData;
use crate::present::date_time;
use crate::session::{FlashKind, Session};
use crate::storefront::Pager;
use crate::view::{PageError, redirect_with, render};
use crate::{PageResult, WebState};

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/dead-letters", get(dead_letters))
        .route("/dead-letters/replay-all", post(replay_all))
        .route("/dead-letters/{id}/replay", post(replay))
        .route("/mailbox", get(mailbox))
}

// ---- Dead letters --------------------------------------------------------------------------

const LETTERS_PER_PAGE: u32 = 20;

struct LetterView {
    id: String,
    module: String,
    event_type: String,
    event_id: String,
    source: String,
    consumer: String,
    error: String,
    attempts: i64,
    failed_at: String,
    /// The event's data, pretty-printed.
    payload: String,
}

impl LetterView {
    fn new(filed: &Filed) -> LetterView {
        let letter = &filed.letter;
        LetterView {
            id: letter.id.to_string(),
            module: filed.module.clone(),
            event_type: letter.event.event_type.clone(),
            event_id: letter.event.id.to_string(),
            source: letter.event.source.clone(),
            consumer: letter.consumer.clone(),
            error: letter.error.clone(),
            attempts: letter.attempts,
            failed_at: date_time(&letter.failed_at),
            payload: serde_json::to_string_pretty(&letter.event.data).unwrap_or_else(|_| letter.event.data.to_string()),
        }
    }
}

#[derive(Template)]
#[template(path = "backoffice/dead_letters.html")]
struct DeadLettersPage {
    chrome: Chrome,
    letters: Vec<LetterView>,
    total: u64,
    pager: Pager,
}

async fn dead_letters(State(state): State<WebState>, session: Session, RawQuery(raw): RawQuery) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::EventsManage), "/dead-letters").await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let page = FormData::from_query(raw).page_number();
    let found = state.dead_letters.list(PageRequest { page, per_page: LETTERS_PER_PAGE }).await?;
    Ok(render(&DeadLettersPage {
        chrome,
        letters: found.items.iter().map(LetterView::new).collect(),
        total: found.total,
        pager: Pager::new("/dead-letters", &[], page, LETTERS_PER_PAGE, found.total),
    }))
}

async fn replay(State(state): State<WebState>, session: Session, Path(id): Path<String>) -> PageResult {
    if let Err(response) = staff(&state, &session, Some(Permission::EventsManage), "/dead-letters").await {
        return Ok(response);
    }
    let id = Uuid::parse_str(&id).map_err(|_| PageError(Error::not_found("dead letter", &id)))?;
    match state.dead_letters.replay(id).await {
        Ok(()) => Ok(redirect_with(
            &session,
            "/dead-letters",
            FlashKind::Success,
            "Replayed: the consumer handled the event, and the dead letter is gone.",
        )),
        // Replayed meanwhile (a second click, another operator).
        Err(error) if error.status() == 404 => Ok(redirect_with(
            &session,
            "/dead-letters",
            FlashKind::Error,
            "That dead letter is no longer there: it was replayed already.",
        )),
        // The consumer failed again (409 `replay-failed`): the letter stays, with the reason.
        Err(error) if error.status() < 500 && !error.is_internal() => {
            Ok(redirect_with(&session, "/dead-letters", FlashKind::Error, &error.to_string()))
        }
        Err(error) => Err(error.into()),
    }
}

async fn replay_all(State(state): State<WebState>, session: Session) -> PageResult {
    if let Err(response) = staff(&state, &session, Some(Permission::EventsManage), "/dead-letters").await {
        return Ok(response);
    }
    let (replayed, failing) = state.dead_letters.replay_all().await?;
    let letters = |n: u64| if n == 1 { "1 dead letter".to_string() } else { format!("{n} dead letters") };
    let (kind, text) = match (replayed, failing) {
        (0, 0) => (FlashKind::Success, "There was nothing to replay.".to_string()),
        (n, 0) => (FlashKind::Success, format!("Replayed {}.", letters(n))),
        (n, f) => (FlashKind::Error, format!("Replayed {}; {} still failing and kept.", letters(n), letters(f))),
    };
    Ok(redirect_with(&session, "/dead-letters", kind, &text))
}

// ---- Mailbox -------------------------------------------------------------------------------

const MESSAGES_PER_PAGE: u32 = 25;

struct MessageView {
    to: String,
    subject: String,
    template: String,
    kind: &'static str,
    delivery: &'static str,
    delivery_class: &'static str,
    error: String,
    sent_at: String,
    body: String,
}

impl MessageView {
    fn new(message: &Message) -> MessageView {
        let (delivery, delivery_class) = match message.delivery {
            Delivery::Mailbox => ("Mailbox only", "badge badge-done"),
            Delivery::Smtp => ("Sent", "badge badge-good"),
            Delivery::Failed => ("Failed", "badge badge-stopped"),
            Delivery::Suppressed => ("Not sent (opted out)", "badge badge-waiting"),
        };
        MessageView {
            to: message.to.clone(),
            subject: message.subject.clone(),
            template: message.template.clone(),
            kind: match message.kind {
                MessageKind::Transactional => "transactional",
                MessageKind::Marketing => "marketing",
                MessageKind::Merchant => "to the merchant",
            },
            delivery,
            delivery_class,
            error: message.error.clone().unwrap_or_default(),
            sent_at: date_time(&message.created_at),
            body: message.body.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "backoffice/mailbox.html")]
struct MailboxPage {
    chrome: Chrome,
    messages: Vec<MessageView>,
    total: u64,
    pager: Pager,
    to: String,
    template: String,
}

async fn mailbox(State(state): State<WebState>, session: Session, RawQuery(raw): RawQuery) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::MessagesRead), "/mailbox").await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let params = FormData::from_query(raw);
    let page = params.page_number();
    let (to, template) = (params.text("to"), params.text("template"));
    let filter = MessageFilter { to: params.optional("to"), template: params.optional("template") };
    let found =
        state.notification.messages(&session.ctx, filter, PageRequest { page, per_page: MESSAGES_PER_PAGE }).await?;
    let query = [("to", to.clone()), ("template", template.clone())];
    Ok(render(&MailboxPage {
        chrome,
        messages: found.items.iter().map(MessageView::new).collect(),
        total: found.total,
        pager: Pager::new("/mailbox", &query, page, MESSAGES_PER_PAGE, found.total),
        to,
        template,
    }))
}
