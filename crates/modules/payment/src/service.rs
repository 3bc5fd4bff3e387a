//! The payment port. A charge asks the provider first and then records the outcome and its event
//! in one unit of work; a refund takes its share of the captured amount, asks the provider and
//! records the refund in one unit of work, so the books, the provider and the events never disagree.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use comptoir_contracts::payment::events::{self, ChargeOutcome, RefundCompleted};
use comptoir_contracts::payment::{ChargeRequest, Payment, PaymentPort, PaymentStatus, Refund, RefundRequest};
use comptoir_kernel::{Error, EventEnvelope, Money, Page, PageRequest, RequestContext, Result, new_id, time};
use comptoir_storage::{UnitOfWork, db_error, is_unique_violation};
use sqlx::AnyConnection;
use sqlx::pool::PoolConnection;
use uuid::Uuid;

use crate::PaymentModule;
use crate::domain::{self, RefundDraft, WebhookKind};
use crate::provider::{Authorization, PaymentProvider};
use crate::store;

const SOURCE: &str = "payment";
/// How long a provider may take to answer. A refund holds the module's write lock (SQLite) or the
/// payment's row lock (PostgreSQL) while the provider answers, so this stays well below the
/// storage's 10 s lock and pool timeouts.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(5);
/// The reason recorded for refunds the provider reports without Comptoir asking.
const PROVIDER_REFUND_REASON: &str = "refunded at the payment provider";

fn event(ctx: &RequestContext, event_type: &str, data: impl serde::Serialize) -> EventEnvelope {
    EventEnvelope::new(ctx, SOURCE, event_type, data)
}

/// Runs a provider call with a deadline: a provider that does not answer is unavailable.
async fn call<T>(provider: &dyn PaymentProvider, operation: &str, call: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(PROVIDER_TIMEOUT, call).await.unwrap_or_else(|_| {
        Err(Error::unavailable(format!(
            "payment provider {} did not answer the {operation} within {} s",
            provider.name(),
            PROVIDER_TIMEOUT.as_secs()
        )))
    })
}

impl PaymentModule {
    async fn reader(&self) -> Result<PoolConnection<sqlx::Any>> {
        self.db.reader().acquire().await.map_err(db_error)
    }

    /// The provider a stored payment was made with.
    fn provider_of(&self, payment: &Payment) -> Result<&dyn PaymentProvider> {
        self.provider(&payment.provider)
            .map(|p| p.as_ref())
            .ok_or_else(|| Error::unavailable(format!("payment provider {} is not configured", payment.provider)))
    }

    /// Authorises then captures: an approval comes back only once captured. An error means
    /// nothing was charged.
    async fn authorize_and_capture(
        &self,
        provider: &dyn PaymentProvider,
        amount: Money,
        token: Option<&str>,
        idempotency_key: &str,
    ) -> Result<Authorization> {
        let authorization = call(provider, "authorisation", provider.authorize(amount, token, idempotency_key)).await?;
        let Authorization::Approved { reference } = authorization else { return Ok(authorization) };
        if let Err(error) = call(provider, "capture", provider.capture(&reference, amount)).await {
            // Release the hold so that the customer's money is not blocked by a charge that will
            // not be recorded; the caller sees the capture's error and may retry.
            if let Err(void_error) = call(provider, "void", provider.void(&reference)).await {
                tracing::warn!(
                    provider = provider.name(),
                    reference,
                    %void_error,
                    "voiding an authorisation after a failed capture failed; the provider releases it on expiry"
                );
            }
            return Err(error);
        }
        Ok(Authorization::Approved { reference })
    }

    /// Why a refund of `amount` could not be taken from the payment, read inside `uow`.
    async fn refusal(&self, uow: &mut UnitOfWork, payment_id: Uuid, amount: Money) -> Error {
        let payment = match store::payment(uow, payment_id).await {
            Ok(Some(payment)) => payment,
            Ok(None) => return Error::not_found("payment", payment_id),
            Err(e) => return e,
        };
        match domain::check_refund(&payment, amount) {
            Err(e) => e,
            // Only a backend with concurrent writers gets here: the payment changed in between.
            Ok(()) => Error::unavailable(format!("payment {payment_id} changed while it was being refunded; retry")),
        }
    }

    /// Records a refund already counted by `store::add_refunded` and emits its event. Returns the
    /// payment as it now is.
    async fn record_refund(
        &self,
        uow: &mut UnitOfWork,
        ctx: &RequestContext,
        refund: &Refund,
        payment_id: Uuid,
        idempotency_key: Option<&str>,
        provider_reference: Option<&str>,
    ) -> Result<Payment> {
        match store::insert_refund(uow, payment_id, refund, idempotency_key, provider_reference).await {
            Ok(()) => {}
            // Only a concurrent refund of another payment under the same key gets here.
            Err(e) if is_unique_violation(&e) => {
                return Err(Error::conflict_on(
                    "idempotency-key-reused",
                    "idempotency_key",
                    "was used by a concurrent refund of another payment",
                ));
            }
            Err(e) => return Err(db_error(e)),
        }
        let payment = store::payment(uow, payment_id)
            .await?
            .ok_or_else(|| Error::internal(format!("payment {payment_id} vanished while being refunded")))?;
        let completed = RefundCompleted {
            payment_id,
            order_id: payment.order_id,
            refund_id: refund.id,
            amount: refund.amount,
            fully_refunded: payment.status == PaymentStatus::Refunded,
        };
        uow.emit(&event(ctx, events::REFUND_COMPLETED, completed)).await?;
        Ok(payment)
    }

    /// A refund retried under a key already used: the payment as it is, without a second refund.
    async fn replayed_refund(&self, prior: domain::PriorRefund, draft: &RefundDraft) -> Result<Payment> {
        domain::check_replayed_refund(&prior, draft)?;
        store::payment(&mut *self.reader().await?, prior.payment_id)
            .await?
            .ok_or_else(|| Error::not_found("payment", prior.payment_id))
    }

    /// Records a refund the provider reports (`charge.refunded`) in `uow`. `false` when the charge
    /// is unknown here: nothing is recorded, so that a redelivery is looked at again.
    async fn record_provider_refund(
        &self,
        uow: &mut UnitOfWork,
        ctx: &RequestContext,
        provider: &str,
        reference: &str,
        amount: i64,
        refund_reference: Option<&str>,
    ) -> Result<bool> {
        let Some(payment) = store::payment_by_reference(uow, provider, reference).await? else {
            tracing::warn!(provider, reference, "provider reports a refund of a charge unknown here; ignored");
            return Ok(false);
        };
        if let Some(refund_reference) = refund_reference
            && store::has_provider_refund(uow, payment.id, refund_reference).await?
        {
            return Ok(true); // a refund Comptoir asked for: counted when it was made
        }
        let amount = Money::new(amount, payment.amount.currency);
        domain::check_refund(&payment, amount)?;
        if !store::add_refunded(uow, payment.id, amount.amount).await? {
            return Err(self.refusal(uow, payment.id, amount).await);
        }
        let refund =
            Refund { id: new_id(), amount, reason: Some(PROVIDER_REFUND_REASON.into()), created_at: time::now() };
        self.record_refund(uow, ctx, &refund, payment.id, None, refund_reference).await?;
        tracing::info!(
            payment_id = %payment.id,
            amount = %amount,
            correlation_id = %ctx.correlation_id,
            "recorded a refund reported by the payment provider"
        );
        Ok(true)
    }
}

async fn payment_or_404(c: &mut AnyConnection, id: Uuid) -> Result<Payment> {
    store::payment(c, id).await?.ok_or_else(|| Error::not_found("payment", id))
}

#[async_trait]
impl PaymentPort for PaymentModule {
    #[tracing::instrument(name = "payment.charge", skip_all, fields(module = "payment", correlation_id = %ctx.correlation_id))]
    async fn charge(&self, ctx: &RequestContext, request: ChargeRequest) -> Result<Payment> {
        let draft = domain::parse_charge(request, &self.provider_names())?;
        // A retried charge: the stored payment answers and the provider is not asked again.
        if let Some(stored) = store::payment_by_key(&mut *self.reader().await?, &draft.idempotency_key).await? {
            return domain::replayed_charge(stored, &draft);
        }
        let provider = self
            .provider(&draft.provider)
            .ok_or_else(|| Error::internal(format!("provider {} passed the check but is missing", draft.provider)))?
            .as_ref();
        // Outside the unit of work: the write lock is not held while the provider answers.
        let outcome =
            self.authorize_and_capture(provider, draft.amount, draft.token.as_deref(), &draft.idempotency_key).await?;

        let now = time::now();
        let zero = Money::zero(draft.amount.currency);
        let mut payment = Payment {
            id: new_id(),
            order_id: draft.order_id,
            provider: provider.name().to_string(),
            provider_reference: None,
            status: PaymentStatus::Declined,
            amount: draft.amount,
            captured: zero,
            refunded: zero,
            decline_reason: None,
            refunds: vec![],
            created_at: now,
            updated_at: now,
        };
        match outcome {
            Authorization::Approved { reference } => {
                payment.status = PaymentStatus::Captured;
                payment.captured = draft.amount;
                payment.provider_reference = Some(reference);
            }
            Authorization::Declined { reason } => payment.decline_reason = Some(reason),
        }

        let mut uow = self.db.begin().await?;
        match store::insert_payment(&mut uow, &payment, draft.customer_id, &draft.idempotency_key).await {
            Ok(()) => {}
            Err(e) if is_unique_violation(&e) => {
                // A concurrent charge with the same key recorded its payment first. The provider,
                // given the same key, made one charge for both: answer with that payment.
                drop(uow);
                let stored = store::payment_by_key(&mut *self.reader().await?, &draft.idempotency_key)
                    .await?
                    .ok_or_else(|| Error::internal("a payment key conflicted but no payment has it"))?;
                return domain::replayed_charge(stored, &draft);
            }
            Err(e) => return Err(db_error(e)),
        }
        let (event_type, decline_reason) = match &payment.decline_reason {
            None => (events::CHARGE_SUCCEEDED, None),
            Some(reason) => (events::CHARGE_FAILED, Some(reason.clone())),
        };
        let outcome = ChargeOutcome {
            payment_id: payment.id,
            order_id: payment.order_id,
            amount: payment.amount,
            decline_reason,
        };
        uow.emit(&event(ctx, event_type, outcome)).await?;
        uow.commit().await?;
        tracing::info!(
            payment_id = %payment.id,
            order_id = %payment.order_id,
            provider = %payment.provider,
            status = domain::status_to_db(payment.status),
            correlation_id = %ctx.correlation_id,
            "charge recorded"
        );
        Ok(payment)
    }

    #[tracing::instrument(name = "payment.refund", skip_all, fields(module = "payment", correlation_id = %ctx.correlation_id))]
    async fn refund(&self, ctx: &RequestContext, request: RefundRequest) -> Result<Payment> {
        let draft = domain::parse_refund(request)?;
        let payment = {
            let mut c = self.reader().await?;
            if let Some(prior) = store::refund_by_key(&mut c, &draft.idempotency_key).await? {
                drop(c);
                return self.replayed_refund(prior, &draft).await;
            }
            payment_or_404(&mut c, draft.payment_id).await?
        };
        // Answer bad requests before taking the write lock; the conditional update decides.
        domain::check_refund(&payment, draft.amount)?;
        let provider = self.provider_of(&payment)?;
        let reference = payment
            .provider_reference
            .as_deref()
            .ok_or_else(|| Error::internal(format!("captured payment {} has no provider reference", payment.id)))?;

        let mut uow = self.db.begin().await?;
        let taken = store::add_refunded(&mut uow, payment.id, draft.amount.amount).await?;
        // Looked for after the update, which holds the payment's row lock on backends with
        // concurrent writers: a refund with the same key that got there first is visible now.
        if let Some(prior) = store::refund_by_key(&mut uow, &draft.idempotency_key).await? {
            drop(uow);
            return self.replayed_refund(prior, &draft).await;
        }
        if !taken {
            return Err(self.refusal(&mut uow, payment.id, draft.amount).await);
        }
        // Asked inside the unit of work: the provider refunds only what the books accepted, and
        // if it fails, the rollback gives the amount back to what remains refundable.
        let provider_refund = call(provider, "refund", provider.refund(reference, draft.amount)).await?;
        let refund =
            Refund { id: new_id(), amount: draft.amount, reason: draft.reason.clone(), created_at: time::now() };
        let payment = self
            .record_refund(&mut uow, ctx, &refund, payment.id, Some(&draft.idempotency_key), Some(&provider_refund))
            .await?;
        uow.commit().await?;
        tracing::info!(
            payment_id = %payment.id,
            refund_id = %refund.id,
            amount = %refund.amount,
            correlation_id = %ctx.correlation_id,
            "refund recorded"
        );
        Ok(payment)
    }

    #[tracing::instrument(name = "payment.get_payment", skip_all, fields(module = "payment", correlation_id = %_ctx.correlation_id))]
    async fn get_payment(&self, _ctx: &RequestContext, id: Uuid) -> Result<Payment> {
        payment_or_404(&mut *self.reader().await?, id).await
    }

    #[tracing::instrument(name = "payment.payments_for_order", skip_all, fields(module = "payment", correlation_id = %_ctx.correlation_id))]
    async fn payments_for_order(&self, _ctx: &RequestContext, order_id: Uuid) -> Result<Vec<Payment>> {
        store::payments_for_order(&mut *self.reader().await?, order_id).await
    }

    #[tracing::instrument(name = "payment.list_payments", skip_all, fields(module = "payment", correlation_id = %_ctx.correlation_id))]
    async fn list_payments(&self, _ctx: &RequestContext, page: PageRequest) -> Result<Page<Payment>> {
        page.validate()?;
        let (items, total) = store::list_payments(&mut *self.reader().await?, page).await?;
        Ok(Page::new(items, page, total))
    }

    #[tracing::instrument(name = "payment.provider_webhook", skip_all, fields(module = "payment", correlation_id = %ctx.correlation_id))]
    async fn provider_webhook(&self, ctx: &RequestContext, provider: &str, signature: &str, body: &[u8]) -> Result<()> {
        let provider = self.provider(provider).ok_or_else(|| Error::not_found("payment provider", provider))?.name();
        // Nothing is read from the body before its signature is checked.
        domain::verify_webhook(&self.webhook_secret, signature, body, time::now().timestamp())?;
        let event = domain::parse_webhook(body)?;

        let mut uow = self.db.begin().await?;
        if !store::claim_webhook_event(&mut uow, provider, &event.id, &event.event_type).await? {
            return Ok(()); // delivered before: handled then
        }
        match &event.kind {
            WebhookKind::ChargeRefunded { reference, amount, refund } => {
                let recorded =
                    self.record_provider_refund(&mut uow, ctx, provider, reference, *amount, refund.as_deref()).await?;
                if !recorded {
                    return Ok(());
                }
            }
            WebhookKind::Ignored => {
                tracing::debug!(provider, event_type = %event.event_type, "provider webhook event ignored");
            }
        }
        uow.commit().await
    }
}
