//! The notification port, and the two steps every consumer goes through: write the message in the
//! consumer's unit of work, then, once it has committed, hand it to SMTP and record the outcome.

use async_trait::async_trait;
use comptoir_contracts::notification::events::{self, MessageSent, PreferencesChanged};
use comptoir_contracts::notification::{Delivery, Message, MessageFilter, MessageKind, NotificationPort, Preferences};
use comptoir_kernel::{EventEnvelope, Page, PageRequest, RequestContext, Result, new_id, time};
use comptoir_storage::{UnitOfWork, db_error};
use sqlx::pool::PoolConnection;
use uuid::Uuid;

use crate::NotificationModule;
use crate::domain::{self, Draft, Route};
use crate::store;

const SOURCE: &str = "notification";

fn sent_event(ctx: &RequestContext, message: &Message) -> EventEnvelope {
    let sent = MessageSent {
        message_id: message.id,
        to: message.to.clone(),
        template: message.template.clone(),
        kind: message.kind,
        delivery: message.delivery,
        event_id: message.event_id,
        customer_id: message.customer_id,
    };
    EventEnvelope::new(ctx, SOURCE, events::MESSAGE_SENT, sent)
}

impl NotificationModule {
    async fn reader(&self) -> Result<PoolConnection<sqlx::Any>> {
        self.db.reader().acquire().await.map_err(db_error)
    }

    /// The name to sign with: the one admin last announced, or the configured one.
    pub(crate) async fn shop_name(&self, c: &mut sqlx::AnyConnection) -> Result<String> {
        Ok(store::shop_name(c).await?.unwrap_or_else(|| self.config.shop_name.clone()))
    }

    pub(crate) fn merchant_email(&self) -> &str {
        &self.config.merchant_email
    }

    /// The end of every consumer: stores the message `event` caused in the consumer's unit of work
    /// (which holds its inbox claim), commits, and only then sends it by SMTP, so that no
    /// transaction is held open across network I/O.
    pub(crate) async fn deliver(&self, mut uow: UnitOfWork, event: &EventEnvelope, draft: Draft) -> Result<()> {
        let ctx = event.context();
        let outgoing = self.write(&mut uow, &ctx, event.id, draft).await?;
        uow.commit().await?;
        if let Some(message) = outgoing {
            self.send(&ctx, message).await;
        }
        Ok(())
    }

    /// Stores a message; returns it when it is still to be sent by SMTP.
    async fn write(
        &self,
        uow: &mut UnitOfWork,
        ctx: &RequestContext,
        event_id: Uuid,
        draft: Draft,
    ) -> Result<Option<Message>> {
        let opted_out = match (draft.kind, draft.customer_id) {
            (MessageKind::Marketing, Some(customer_id)) => {
                store::marketing_opt_out(uow, customer_id).await?.unwrap_or(false)
            }
            _ => false,
        };
        let route = domain::route(draft.kind, opted_out, self.mailer.is_some());
        let message = Message {
            id: new_id(),
            to: draft.to,
            subject: draft.subject,
            body: draft.body,
            template: draft.template.to_string(),
            kind: draft.kind,
            delivery: route.stored_as(),
            error: None,
            event_id,
            customer_id: draft.customer_id,
            created_at: time::now(),
        };
        store::insert_message(uow, &message).await?;
        match route {
            Route::Suppress => Ok(None),
            Route::Mailbox => {
                uow.emit(&sent_event(ctx, &message)).await?;
                Ok(None)
            }
            Route::Smtp => Ok(Some(message)),
        }
    }

    /// Sends a stored message by SMTP and records `smtp` or `failed` with the reason. It never
    /// fails: the event that caused the message is handled, and retrying the handler would not
    /// send it again (its inbox claim has committed). A refused message stays in the mailbox,
    /// marked failed with the error, where staff can read it and act.
    async fn send(&self, ctx: &RequestContext, mut message: Message) {
        let Some(mailer) = &self.mailer else { return };
        let outcome = mailer.send(&message).await;
        if let Err(error) = &outcome {
            tracing::warn!(
                message_id = %message.id,
                template = %message.template,
                correlation_id = %ctx.correlation_id,
                %error,
                "sending a message by SMTP failed; it is kept in the mailbox"
            );
        }
        let (delivery, error) = match outcome {
            Ok(()) => (Delivery::Smtp, None),
            Err(error) => (Delivery::Failed, Some(error)),
        };
        message.delivery = delivery;
        message.error = error;
        if let Err(error) = self.record_delivery(ctx, &message).await {
            tracing::warn!(
                message_id = %message.id,
                correlation_id = %ctx.correlation_id,
                %error,
                "recording the SMTP outcome of a message failed; the mailbox shows it undelivered"
            );
        }
    }

    async fn record_delivery(&self, ctx: &RequestContext, message: &Message) -> Result<()> {
        let mut uow = self.db.begin().await?;
        store::set_delivery(&mut uow, message.id, message.delivery, message.error.as_deref()).await?;
        if message.delivery == Delivery::Smtp {
            uow.emit(&sent_event(ctx, message)).await?;
        }
        uow.commit().await
    }
}

#[async_trait]
impl NotificationPort for NotificationModule {
    #[tracing::instrument(name = "notification.messages", skip_all, fields(module = "notification", correlation_id = %_ctx.correlation_id))]
    async fn messages(&self, _ctx: &RequestContext, filter: MessageFilter, page: PageRequest) -> Result<Page<Message>> {
        page.validate()?;
        let filter = domain::parse_filter(filter)?;
        let (items, total) = store::messages(&mut *self.reader().await?, &filter, page).await?;
        Ok(Page::new(items, page, total))
    }

    #[tracing::instrument(name = "notification.preferences", skip_all, fields(module = "notification", correlation_id = %_ctx.correlation_id))]
    async fn preferences(&self, _ctx: &RequestContext, customer_id: Uuid) -> Result<Preferences> {
        let opted_out = store::marketing_opt_out(&mut *self.reader().await?, customer_id).await?;
        Ok(Preferences { customer_id, marketing_opt_out: opted_out.unwrap_or(false) })
    }

    #[tracing::instrument(name = "notification.set_marketing_opt_out", skip_all, fields(module = "notification", correlation_id = %ctx.correlation_id))]
    async fn set_marketing_opt_out(
        &self,
        ctx: &RequestContext,
        customer_id: Uuid,
        opt_out: bool,
    ) -> Result<Preferences> {
        let mut uow = self.db.begin().await?;
        if store::set_marketing_opt_out(&mut uow, customer_id, opt_out).await? {
            let changed = PreferencesChanged { customer_id, marketing_opt_out: opt_out };
            uow.emit(&EventEnvelope::new(ctx, SOURCE, events::PREFERENCES_CHANGED, changed)).await?;
        }
        uow.commit().await?;
        Ok(Preferences { customer_id, marketing_opt_out: opt_out })
    }
}
