//! Sending deliveries: claim the due ones (a lease, so that two dispatchers never send the same
//! delivery at once), POST each signed, then record the attempt, the delivery's next state and the
//! subscription's failure record in one unit of work — disabling the subscription there when its
//! endpoint has failed for too long.

use std::time::Duration;

use comptoir_contracts::webhooks::events::{self, SubscriptionDisabled};
use comptoir_contracts::webhooks::{DeliveryAttempt, DeliveryStatus};
use comptoir_kernel::time::Timestamp;
use comptoir_kernel::{EventEnvelope, RequestContext, Result, new_id, time};
use comptoir_storage::{UnitOfWork, db_error};
use futures::StreamExt;
use uuid::Uuid;

use crate::domain::{self, DisablePolicy, RetrySchedule};
use crate::sender::{Outcome, Request};
use crate::service::SOURCE;
use crate::store::{self, StoredDelivery};
use crate::{WebhooksModule, store::FailureRecord};

/// The shortest pause between two rounds, so that a delivery that is due but cannot be claimed
/// (another dispatcher holds it) never makes the loop spin.
const MIN_PAUSE: Duration = Duration::from_millis(5);

fn delta(d: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(d).unwrap_or(chrono::TimeDelta::MAX)
}

/// Whether an attempt was scheduled or asked for by staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    Scheduled,
    Manual,
}

impl WebhooksModule {
    /// Sends due deliveries until the process stops: at once when the consumer records new ones,
    /// when the next retry falls due, and every `poll` in any case (deliveries recorded by another
    /// instance, a missed wake-up). Several dispatchers, in one process or many, may run together.
    pub async fn run_dispatcher(self, poll: Duration) {
        let poll = poll.max(MIN_PAUSE);
        loop {
            let claimed = match self.dispatch_due().await {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(%error, "sending due webhook deliveries failed; trying again at the next poll");
                    0
                }
            };
            if claimed >= self.batch() {
                // A full batch: more may be due already.
                continue;
            }
            let wait = match self.next_due_in().await {
                Ok(Some(wait)) => wait.clamp(MIN_PAUSE, poll),
                Ok(None) => poll,
                Err(error) => {
                    tracing::debug!(%error, "could not read when the next webhook delivery is due");
                    poll
                }
            };
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    fn batch(&self) -> usize {
        self.config.concurrency.max(1)
    }

    /// How long a claimed delivery stays with its dispatcher: well past the attempt's deadline,
    /// so that it is only taken over from a dispatcher that died.
    fn lease(&self) -> Duration {
        self.config.timeout * 2 + Duration::from_secs(30)
    }

    fn schedule(&self) -> RetrySchedule {
        RetrySchedule { delays: self.config.retry_delays.clone() }
    }

    fn disable_policy(&self) -> DisablePolicy {
        DisablePolicy {
            after_failures: self.config.disable_after_failures,
            after_failing_for: self.config.disable_after_failing_for,
        }
    }

    async fn next_due_in(&self) -> Result<Option<Duration>> {
        let due = store::next_due(&mut *self.db.reader().acquire().await.map_err(db_error)?).await?;
        Ok(due.map(|due| (due - time::now()).to_std().unwrap_or(Duration::ZERO)))
    }

    /// One round: claims up to `concurrency` due deliveries and sends them together. Answers how
    /// many it claimed.
    pub async fn dispatch_due(&self) -> Result<usize> {
        let now = time::now();
        let candidates =
            store::due(&mut *self.db.reader().acquire().await.map_err(db_error)?, &now, self.batch() as i64).await?;
        let mut claimed = Vec::with_capacity(candidates.len());
        for id in candidates {
            let token = new_id();
            if self.claim(id, token, Trigger::Scheduled).await? {
                claimed.push((id, token));
            }
        }
        let count = claimed.len();
        futures::stream::iter(claimed)
            .for_each_concurrent(self.batch(), |(id, token)| async move {
                let ctx = RequestContext::system();
                if let Err(error) = self.attempt(&ctx, id, token, Trigger::Scheduled).await {
                    tracing::warn!(
                        delivery_id = %id,
                        correlation_id = %ctx.correlation_id,
                        %error,
                        "recording a webhook delivery attempt failed; it is retried once its lease ends"
                    );
                }
            })
            .await;
        Ok(count)
    }

    pub(crate) async fn claim(&self, id: Uuid, token: Uuid, trigger: Trigger) -> Result<bool> {
        let now = time::now();
        let until = now + delta(self.lease());
        let mut c = self.db.write_pool().acquire().await.map_err(db_error)?;
        store::claim(&mut c, id, token, &now, &until, trigger == Trigger::Scheduled).await
    }

    /// Gives back a lease whose attempt was never made.
    pub(crate) async fn release(&self, id: Uuid, token: Uuid) {
        let released = async {
            let mut c = self.db.write_pool().acquire().await.map_err(db_error)?;
            store::release(&mut c, id, token).await
        };
        if let Err(error) = released.await {
            tracing::debug!(delivery_id = %id, %error, "could not release a webhook delivery's lease; it expires");
        }
    }

    /// Makes one attempt at a delivery this dispatcher has leased with `token`, and records it.
    pub(crate) async fn attempt(&self, ctx: &RequestContext, id: Uuid, token: Uuid, trigger: Trigger) -> Result<()> {
        let outgoing = store::outgoing(&mut *self.db.reader().acquire().await.map_err(db_error)?, id).await?;
        let Some(outgoing) = outgoing else {
            return Ok(()); // deleted with its subscription meanwhile
        };
        let attempted_at = time::now();
        let mut secrets = vec![outgoing.secret.as_str()];
        if let (Some(previous), Some(until)) = (&outgoing.previous_secret, outgoing.previous_secret_expires_at)
            && until > attempted_at
        {
            secrets.push(previous);
        }
        let delivery = &outgoing.delivery.delivery;
        let number = delivery.attempts + 1;
        let request = Request {
            url: &outgoing.url,
            body: &outgoing.payload,
            delivery_id: delivery.id.to_string(),
            event_id: delivery.event_id.to_string(),
            event_type: &delivery.event_type,
            attempt: number,
            signature: domain::signature_header(&secrets, attempted_at.timestamp(), &outgoing.payload),
        };
        let outcome = self.sender.send(request).await;
        metrics::histogram!("comptoir_webhook_delivery_seconds").record(outcome.duration.as_secs_f64());
        let label = self.record(ctx, outgoing.delivery, token, trigger, attempted_at, &outcome).await?;
        metrics::counter!("comptoir_webhook_deliveries_total", "outcome" => label).increment(1);
        if !outcome.succeeded() {
            tracing::info!(
                delivery_id = %id,
                attempt = number,
                outcome = label,
                error = outcome.error.as_deref().unwrap_or(""),
                correlation_id = %ctx.correlation_id,
                "a webhook delivery attempt failed"
            );
        }
        Ok(())
    }

    /// Records an attempt and what follows from it; answers the metric's outcome label.
    async fn record(
        &self,
        ctx: &RequestContext,
        mut stored: StoredDelivery,
        token: Uuid,
        trigger: Trigger,
        attempted_at: Timestamp,
        outcome: &Outcome,
    ) -> Result<&'static str> {
        let succeeded = outcome.succeeded();
        let subscription_id = stored.delivery.subscription_id;
        let mut uow = self.db.begin().await?;
        let now = time::now();
        // Locks the subscription first, as staff changes do, so that the two never deadlock.
        let Some(record) = store::count_outcome(&mut uow, subscription_id, succeeded, &now).await? else {
            return Ok("discarded"); // the subscription was deleted meanwhile
        };
        let mut enabled = record.enabled;
        if !succeeded
            && enabled
            && let Some(reason) = self.disable_policy().reason(record.consecutive_failures, record.failing_since, now)
        {
            disable(&mut uow, ctx, subscription_id, &record, &reason, &now).await?;
            enabled = false;
        }

        let number = stored.delivery.attempts + 1;
        let delivery = &mut stored.delivery;
        delivery.attempts = number;
        delivery.last_response_code = outcome.response_code;
        delivery.last_error = outcome.error.clone();
        let label = if succeeded {
            delivery.status = DeliveryStatus::Delivered;
            delivery.next_attempt_at = None;
            delivery.delivered_at = Some(now);
            "delivered"
        } else if trigger == Trigger::Manual {
            // A redelivery changes nothing of the schedule; a pending delivery keeps its next
            // retry unless the subscription is no longer enabled.
            if delivery.status == DeliveryStatus::Pending && !enabled {
                delivery.status = DeliveryStatus::Failed;
                delivery.next_attempt_at = None;
            }
            "failed"
        } else {
            stored.scheduled_attempts += 1;
            match self.schedule().next_delay(stored.scheduled_attempts).filter(|_| enabled) {
                Some(wait) => {
                    delivery.status = DeliveryStatus::Pending;
                    delivery.next_attempt_at = Some(now + delta(wait));
                    "retrying"
                }
                None => {
                    delivery.status = DeliveryStatus::Failed;
                    delivery.next_attempt_at = None;
                    "failed"
                }
            }
        };
        let attempt = DeliveryAttempt {
            number,
            manual: trigger == Trigger::Manual,
            attempted_at,
            duration_ms: outcome.duration.as_millis().min(u64::MAX as u128) as u64,
            response_code: outcome.response_code,
            response_body: outcome.response_body.clone(),
            error: outcome.error.clone(),
            succeeded,
        };
        store::insert_attempt(&mut uow, stored.delivery.id, &attempt).await?;
        if !store::finish(&mut uow, &stored, token, &now).await? {
            tracing::warn!(
                delivery_id = %stored.delivery.id,
                correlation_id = %ctx.correlation_id,
                "a webhook delivery's lease was lost during its attempt; the attempt is not recorded"
            );
            return Ok("discarded");
        }
        uow.commit().await?;
        Ok(label)
    }
}

/// Disables a failing subscription, stops its pending deliveries and tells staff, in the caller's
/// unit of work.
async fn disable(
    uow: &mut UnitOfWork,
    ctx: &RequestContext,
    subscription_id: Uuid,
    record: &FailureRecord,
    reason: &str,
    now: &Timestamp,
) -> Result<()> {
    if !store::disable(uow, subscription_id, reason, now).await? {
        return Ok(());
    }
    store::fail_pending(uow, subscription_id, &format!("the subscription was disabled: {reason}"), now).await?;
    let disabled = SubscriptionDisabled {
        subscription_id,
        url: record.url.clone(),
        reason: reason.to_string(),
        failures: record.consecutive_failures,
        failing_since: record.failing_since,
    };
    uow.emit(&EventEnvelope::new(ctx, SOURCE, events::SUBSCRIPTION_DISABLED, disabled)).await?;
    tracing::warn!(
        %subscription_id,
        url = %record.url,
        reason,
        correlation_id = %ctx.correlation_id,
        "a webhook subscription was disabled: its endpoint keeps failing"
    );
    Ok(())
}
