//! The webhooks port: staff manage subscriptions and read and redeliver deliveries. Every change
//! is written with its event in one unit of work; a refused input writes nothing.

use async_trait::async_trait;
use comptoir_contracts::webhooks::events::{self, SubscriptionChanged, SubscriptionDeleted};
use comptoir_contracts::webhooks::{
    Delivery, DeliveryDetail, DeliveryFilter, NewSubscription, Subscription, SubscriptionPatch, SubscriptionWithSecret,
    WebhooksPort,
};
use comptoir_kernel::validate::Problems;
use comptoir_kernel::{Error, EventEnvelope, Page, PageRequest, RequestContext, Result, new_id, time};
use comptoir_storage::{UnitOfWork, db_error};
use sqlx::pool::PoolConnection;
use uuid::Uuid;

use crate::WebhooksModule;
use crate::dispatcher::Trigger;
use crate::domain;
use crate::store::{self, StoredSubscription};

pub(crate) const SOURCE: &str = "webhooks";
const SUBSCRIPTION: &str = "webhook subscription";
const DELIVERY: &str = "webhook delivery";

fn changed_event(ctx: &RequestContext, event_type: &str, s: &Subscription, changed: Vec<String>) -> EventEnvelope {
    let data = SubscriptionChanged {
        subscription_id: s.id,
        url: s.url.clone(),
        patterns: s.patterns.clone(),
        description: s.description.clone(),
        enabled: s.enabled,
        changed,
    };
    EventEnvelope::new(ctx, SOURCE, event_type, data)
}

/// Now, to the microsecond the database keeps: what a change answers equals what a read returns.
fn now() -> time::Timestamp {
    use chrono::Timelike;
    let now = time::now();
    now.with_nanosecond(now.nanosecond() / 1000 * 1000).unwrap_or(now)
}

fn with_secret(stored: StoredSubscription) -> SubscriptionWithSecret {
    SubscriptionWithSecret { subscription: stored.subscription, secret: stored.secret }
}

impl WebhooksModule {
    async fn reader(&self) -> Result<PoolConnection<sqlx::Any>> {
        self.db.reader().acquire().await.map_err(db_error)
    }

    /// Locks and reads a subscription in `uow`, or answers not found.
    async fn locked(&self, uow: &mut UnitOfWork, id: Uuid) -> Result<StoredSubscription> {
        if !store::lock_subscription(uow, id).await? {
            return Err(Error::not_found(SUBSCRIPTION, id));
        }
        store::subscription(uow, id).await?.ok_or_else(|| Error::not_found(SUBSCRIPTION, id))
    }

    async fn detail(&self, id: Uuid) -> Result<DeliveryDetail> {
        let mut c = self.reader().await?;
        let (stored, payload) = store::delivery(&mut c, id).await?.ok_or_else(|| Error::not_found(DELIVERY, id))?;
        let attempts = store::attempts(&mut c, id).await?;
        let payload = serde_json::from_str(&payload)
            .map_err(|e| Error::internal(format!("stored webhook payload of {id} is not JSON: {e}")))?;
        Ok(DeliveryDetail { delivery: stored.delivery, payload, attempts })
    }
}

#[async_trait]
impl WebhooksPort for WebhooksModule {
    #[tracing::instrument(name = "webhooks.create_subscription", skip_all, fields(module = "webhooks", correlation_id = %ctx.correlation_id))]
    async fn create_subscription(&self, ctx: &RequestContext, new: NewSubscription) -> Result<SubscriptionWithSecret> {
        let mut problems = Problems::default();
        let url = problems.check(domain::url("url", &new.url, self.url_policy()));
        let patterns = problems.check(domain::patterns("patterns", &new.patterns));
        let description = problems.check(domain::description("description", &new.description));
        let (url, patterns, description) = problems.finish((|| Some((url?, patterns?, description?)))())?;

        let now = now();
        let secret = domain::new_secret();
        let stored = StoredSubscription {
            subscription: Subscription {
                id: new_id(),
                url,
                patterns,
                description,
                enabled: new.enabled,
                secret_hint: domain::secret_hint(&secret),
                consecutive_failures: 0,
                failing_since: None,
                disabled_reason: (!new.enabled).then(|| "disabled by staff".to_string()),
                created_at: now,
                updated_at: now,
            },
            secret,
            previous_secret: None,
            previous_secret_expires_at: None,
        };
        let mut uow = self.db.begin().await?;
        store::insert_subscription(&mut uow, &stored).await?;
        uow.emit(&changed_event(ctx, events::SUBSCRIPTION_CREATED, &stored.subscription, vec![])).await?;
        uow.commit().await?;
        Ok(with_secret(stored))
    }

    #[tracing::instrument(name = "webhooks.subscriptions", skip_all, fields(module = "webhooks", correlation_id = %_ctx.correlation_id))]
    async fn subscriptions(&self, _ctx: &RequestContext, page: PageRequest) -> Result<Page<Subscription>> {
        page.validate()?;
        let (items, total) = store::subscriptions(&mut *self.reader().await?, page).await?;
        Ok(Page::new(items, page, total))
    }

    #[tracing::instrument(name = "webhooks.subscription", skip_all, fields(module = "webhooks", correlation_id = %_ctx.correlation_id))]
    async fn subscription(&self, _ctx: &RequestContext, id: Uuid) -> Result<Subscription> {
        let stored = store::subscription(&mut *self.reader().await?, id).await?;
        stored.map(|s| s.subscription).ok_or_else(|| Error::not_found(SUBSCRIPTION, id))
    }

    #[tracing::instrument(name = "webhooks.update_subscription", skip_all, fields(module = "webhooks", correlation_id = %ctx.correlation_id))]
    async fn update_subscription(
        &self,
        ctx: &RequestContext,
        id: Uuid,
        patch: SubscriptionPatch,
    ) -> Result<Subscription> {
        let mut problems = Problems::default();
        let url = patch.url.as_deref().map(|url| problems.check(domain::url("url", url, self.url_policy())));
        let patterns = patch.patterns.as_deref().map(|p| problems.check(domain::patterns("patterns", p)));
        let description = patch.description.as_deref().map(|d| problems.check(domain::description("description", d)));
        problems.finish(Some(()))?;

        let mut uow = self.db.begin().await?;
        let mut stored = self.locked(&mut uow, id).await?;
        let now = now();
        let s = &mut stored.subscription;
        let mut changed = Vec::new();
        if let Some(Some(url)) = url
            && url != s.url
        {
            s.url = url;
            changed.push("url".to_string());
        }
        if let Some(Some(patterns)) = patterns
            && patterns != s.patterns
        {
            s.patterns = patterns;
            changed.push("patterns".to_string());
        }
        if let Some(Some(description)) = description
            && description != s.description
        {
            s.description = description;
            changed.push("description".to_string());
        }
        match patch.enabled {
            Some(true) if !s.enabled => {
                // A fresh start: the failures that disabled it are history.
                s.enabled = true;
                s.consecutive_failures = 0;
                s.failing_since = None;
                s.disabled_reason = None;
                changed.push("enabled".to_string());
            }
            Some(false) if s.enabled => {
                s.enabled = false;
                s.disabled_reason = Some("disabled by staff".to_string());
                store::fail_pending(&mut uow, id, "the subscription was disabled by staff", &now).await?;
                changed.push("enabled".to_string());
            }
            _ => {}
        }
        if changed.is_empty() {
            return Ok(stored.subscription);
        }
        stored.subscription.updated_at = now;
        store::save_subscription(&mut uow, &stored).await?;
        uow.emit(&changed_event(ctx, events::SUBSCRIPTION_UPDATED, &stored.subscription, changed)).await?;
        uow.commit().await?;
        Ok(stored.subscription)
    }

    #[tracing::instrument(name = "webhooks.delete_subscription", skip_all, fields(module = "webhooks", correlation_id = %ctx.correlation_id))]
    async fn delete_subscription(&self, ctx: &RequestContext, id: Uuid) -> Result<()> {
        let mut uow = self.db.begin().await?;
        let stored = self.locked(&mut uow, id).await?;
        store::delete_subscription(&mut uow, id).await?;
        let deleted = SubscriptionDeleted { subscription_id: id, url: stored.subscription.url };
        uow.emit(&EventEnvelope::new(ctx, SOURCE, events::SUBSCRIPTION_DELETED, deleted)).await?;
        uow.commit().await
    }

    #[tracing::instrument(name = "webhooks.rotate_secret", skip_all, fields(module = "webhooks", correlation_id = %ctx.correlation_id))]
    async fn rotate_secret(&self, ctx: &RequestContext, id: Uuid) -> Result<SubscriptionWithSecret> {
        let mut uow = self.db.begin().await?;
        let mut stored = self.locked(&mut uow, id).await?;
        let now = now();
        let grace = chrono::TimeDelta::from_std(self.config.secret_grace).unwrap_or(chrono::TimeDelta::MAX);
        let keep_previous = !self.config.secret_grace.is_zero();
        let previous = std::mem::replace(&mut stored.secret, domain::new_secret());
        stored.previous_secret = keep_previous.then_some(previous);
        stored.previous_secret_expires_at = keep_previous.then(|| now.checked_add_signed(grace).unwrap_or(now));
        stored.subscription.secret_hint = domain::secret_hint(&stored.secret);
        stored.subscription.updated_at = now;
        store::save_subscription(&mut uow, &stored).await?;
        let event = changed_event(ctx, events::SUBSCRIPTION_UPDATED, &stored.subscription, vec!["secret".into()]);
        uow.emit(&event).await?;
        uow.commit().await?;
        Ok(with_secret(stored))
    }

    #[tracing::instrument(name = "webhooks.deliveries", skip_all, fields(module = "webhooks", correlation_id = %_ctx.correlation_id))]
    async fn deliveries(
        &self,
        _ctx: &RequestContext,
        subscription_id: Uuid,
        filter: DeliveryFilter,
        page: PageRequest,
    ) -> Result<Page<Delivery>> {
        page.validate()?;
        let mut c = self.reader().await?;
        if store::subscription(&mut c, subscription_id).await?.is_none() {
            return Err(Error::not_found(SUBSCRIPTION, subscription_id));
        }
        let (items, total) = store::deliveries(&mut c, subscription_id, filter.status, page).await?;
        Ok(Page::new(items, page, total))
    }

    #[tracing::instrument(name = "webhooks.delivery", skip_all, fields(module = "webhooks", correlation_id = %_ctx.correlation_id))]
    async fn delivery(&self, _ctx: &RequestContext, id: Uuid) -> Result<DeliveryDetail> {
        self.detail(id).await
    }

    #[tracing::instrument(name = "webhooks.redeliver", skip_all, fields(module = "webhooks", correlation_id = %ctx.correlation_id))]
    async fn redeliver(&self, ctx: &RequestContext, id: Uuid) -> Result<DeliveryDetail> {
        if store::delivery(&mut *self.reader().await?, id).await?.is_none() {
            return Err(Error::not_found(DELIVERY, id));
        }
        let token = new_id();
        if !self.claim(id, token, Trigger::Manual).await? {
            return Err(Error::conflict(
                "delivery-in-progress",
                "the delivery is being sent right now; look at it again in a moment",
            ));
        }
        if let Err(error) = self.attempt(ctx, id, token, Trigger::Manual).await {
            self.release(id, token).await;
            return Err(error);
        }
        self.detail(id).await
    }
}
