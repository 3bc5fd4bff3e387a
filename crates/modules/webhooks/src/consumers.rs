//! The one consumer: every event becomes a pending delivery for each enabled subscription that
//! wants it, recorded in the unit of work that claims the event.

use async_trait::async_trait;
use comptoir_eventbus::EventHandler;
use comptoir_kernel::{EventEnvelope, Result, new_id, time};
use comptoir_storage::db_error;

use crate::domain::{self, Payload};
use crate::{WebhooksModule, store};

pub const DELIVERIES: &str = "webhooks.deliveries";

pub struct Deliveries {
    pub(crate) module: WebhooksModule,
}

#[async_trait]
impl EventHandler for Deliveries {
    async fn handle(&self, event: &EventEnvelope) -> Result<()> {
        let db = &self.module.db;
        // Most events interest no subscription: a read decides that without taking the writer.
        // A subscription made after this read does not receive the event, as if made after it.
        let subscriptions = store::enabled_subscriptions(&mut *db.reader().acquire().await.map_err(db_error)?).await?;
        if !subscriptions.iter().any(|(_, patterns)| domain::wants(patterns, &event.event_type)) {
            return Ok(());
        }

        let mut uow = db.begin().await?;
        if !uow.claim_inbox(DELIVERIES, event.id).await? {
            return Ok(());
        }
        let payload = Payload::of(event).to_json()?;
        let now = time::now();
        let mut recorded = 0;
        // Read again under the writer: a subscription disabled meanwhile gets nothing.
        for (subscription_id, patterns) in store::enabled_subscriptions(&mut uow).await? {
            if domain::wants(&patterns, &event.event_type)
                && store::insert_delivery(
                    &mut uow,
                    new_id(),
                    subscription_id,
                    event.id,
                    &event.event_type,
                    &payload,
                    &now,
                )
                .await?
            {
                recorded += 1;
            }
        }
        uow.commit().await?;
        if recorded > 0 {
            self.module.wake.notify_one();
        }
        Ok(())
    }
}
