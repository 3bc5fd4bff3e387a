//! The ordering port. Reads run in one read transaction; every change is one unit of work that
//! reads the order, applies a domain rule and writes the result with its timeline and events.
//! Other modules are called before that unit of work opens, so no remote call holds the write lock.

use async_trait::async_trait;
use comptoir_contracts::ordering::{
    CancelInput, Checkout, DailySales, MAX_SALES_DAYS, Order, OrderAccess, OrderFilter, OrderReturn, OrderStatus,
    OrderingPort, RefundInput, ReturnInput, ReturnStatus, SalesQuery, events,
};
use comptoir_contracts::payment::RefundRequest;
use comptoir_kernel::{Error, EventEnvelope, Money, Page, PageRequest, RequestContext, Result, new_id};
use comptoir_storage::db_error;
use sqlx::{Any, Transaction};
use uuid::Uuid;

use crate::OrderingModule;
use crate::domain::{self, OrderRecord, RefundPlan};
use crate::store;

const SOURCE: &str = "ordering";
const MAX_QUERY_LEN: usize = 100;

pub(crate) fn event(ctx: &RequestContext, event_type: &str, data: impl serde::Serialize) -> EventEnvelope {
    EventEnvelope::new(ctx, SOURCE, event_type, data)
}

/// How a change of an order ended.
pub(crate) enum Changed {
    /// Written, with its events.
    Done(OrderRecord),
    /// The rule found nothing to do: the order as it is.
    Unchanged(OrderRecord),
    /// The event that asked for it was handled before.
    AlreadyHandled,
}

impl OrderingModule {
    pub(crate) async fn read(&self) -> Result<Transaction<'static, Any>> {
        self.db.reader().begin().await.map_err(db_error)
    }

    pub(crate) async fn find(&self, id: Uuid) -> Result<Option<OrderRecord>> {
        store::order(&mut *self.read().await?, id).await
    }

    pub(crate) async fn find_by_checkout_key(&self, customer_id: Uuid, key: &str) -> Result<Option<OrderRecord>> {
        store::order_by_checkout_key(&mut *self.read().await?, customer_id, key).await
    }

    /// The order if `access` may see it; another customer's order does not exist for them.
    async fn visible(&self, id: Uuid, access: OrderAccess) -> Result<OrderRecord> {
        self.find(id).await?.filter(|r| r.visible_to(access)).ok_or_else(|| Error::not_found("order", id))
    }

    /// Changes an order in one unit of work: `change` gets the order as it is now and either
    /// changes it and returns the change's events, or returns `None` to leave it alone. With
    /// `inbox`, the event it names is claimed in the same unit of work.
    pub(crate) async fn change(
        &self,
        id: Uuid,
        inbox: Option<(&str, Uuid)>,
        change: impl FnOnce(&mut OrderRecord) -> Result<Option<Vec<EventEnvelope>>>,
    ) -> Result<Changed> {
        let mut uow = self.db.begin().await?;
        if let Some((consumer, event_id)) = inbox
            && !uow.claim_inbox(consumer, event_id).await?
        {
            return Ok(Changed::AlreadyHandled);
        }
        // A concurrent change (a cancellation during a saga step) waits here, then reads the
        // order as that one left it.
        store::lock_order(&mut uow, id).await?;
        let before = store::order(&mut uow, id).await?.ok_or_else(|| Error::not_found("order", id))?;
        let mut after = before.clone();
        let Some(events) = change(&mut after)? else {
            if inbox.is_some() {
                uow.commit().await?;
            }
            return Ok(Changed::Unchanged(before));
        };
        store::save(&mut uow, &before, &after).await?;
        for e in &events {
            uow.emit(e).await?;
        }
        uow.commit().await?;
        after.version += 1;
        Ok(Changed::Done(after))
    }

    /// Gives a reservation's units back. Best effort: the `order.order.cancelled` event names the
    /// reservation too, and inventory releases it when it consumes the event.
    #[tracing::instrument(name = "compensate.release_stock", skip_all, fields(correlation_id = %ctx.correlation_id))]
    pub(crate) async fn release(&self, ctx: &RequestContext, reservation_id: Uuid) {
        if let Err(error) = self.ports.inventory.release_reservation(ctx, reservation_id).await {
            tracing::warn!(
                %error,
                %reservation_id,
                correlation_id = %ctx.correlation_id,
                "releasing the reservation failed; inventory releases it from the cancellation event or at expiry"
            );
        }
    }
}

/// The order after a change that has no event to claim.
fn changed_order(changed: Changed, id: Uuid) -> Result<OrderRecord> {
    match changed {
        Changed::Done(r) | Changed::Unchanged(r) => Ok(r),
        Changed::AlreadyHandled => Err(Error::internal(format!("order {id} was changed without an event to claim"))),
    }
}

#[async_trait]
impl OrderingPort for OrderingModule {
    #[tracing::instrument(name = "ordering.estimate", skip_all, fields(module = "ordering", correlation_id = %ctx.correlation_id))]
    async fn estimate(
        &self,
        ctx: &RequestContext,
        cart_id: Uuid,
        access: &comptoir_contracts::cart::CartAccess,
        request: comptoir_contracts::ordering::EstimateRequest,
    ) -> Result<comptoir_contracts::ordering::CartEstimate> {
        self.estimate_cart(ctx, cart_id, access, request).await
    }

    #[tracing::instrument(name = "ordering.checkout", skip_all, fields(module = "ordering", correlation_id = %ctx.correlation_id))]
    async fn checkout(&self, ctx: &RequestContext, checkout: Checkout) -> Result<Order> {
        self.run_checkout(ctx, checkout).await
    }

    #[tracing::instrument(name = "ordering.get_order", skip_all, fields(module = "ordering", correlation_id = %_ctx.correlation_id))]
    async fn get_order(&self, _ctx: &RequestContext, id: Uuid, access: OrderAccess) -> Result<Order> {
        Ok(self.visible(id, access).await?.order)
    }

    #[tracing::instrument(name = "ordering.customer_orders", skip_all, fields(module = "ordering", correlation_id = %_ctx.correlation_id))]
    async fn customer_orders(
        &self,
        _ctx: &RequestContext,
        customer_id: Uuid,
        page: PageRequest,
    ) -> Result<Page<Order>> {
        page.validate()?;
        let filter = OrderFilter { customer_id: Some(customer_id), ..OrderFilter::default() };
        let (records, total) = store::search(&mut *self.read().await?, &filter, page).await?;
        Ok(Page::new(records.into_iter().map(|r| r.order).collect(), page, total))
    }

    #[tracing::instrument(name = "ordering.search_orders", skip_all, fields(module = "ordering", correlation_id = %_ctx.correlation_id))]
    async fn search_orders(
        &self,
        _ctx: &RequestContext,
        filter: OrderFilter,
        page: PageRequest,
    ) -> Result<Page<Order>> {
        page.validate()?;
        if filter.q.as_deref().is_some_and(|q| q.trim().chars().count() > MAX_QUERY_LEN) {
            return Err(Error::validation("q", format!("must be at most {MAX_QUERY_LEN} characters")));
        }
        if let (Some(from), Some(to)) = (filter.placed_from, filter.placed_to)
            && to <= from
        {
            return Err(Error::validation("placed_to", "must be after placed_from"));
        }
        let (records, total) = store::search(&mut *self.read().await?, &filter, page).await?;
        Ok(Page::new(records.into_iter().map(|r| r.order).collect(), page, total))
    }

    #[tracing::instrument(name = "ordering.cancel", skip_all, fields(module = "ordering", correlation_id = %ctx.correlation_id))]
    async fn cancel(&self, ctx: &RequestContext, id: Uuid, access: OrderAccess, input: CancelInput) -> Result<Order> {
        let before = self.visible(id, access).await?;
        domain::transition(before.status(), OrderStatus::Cancelled)?;
        let cause = domain::cancellation_cause(access, input.reason)?;
        let actor = domain::actor(ctx, access);

        // Money first: if payment refuses, nothing has changed and the cancellation can be asked
        // again. The key makes a repeated cancellation refund once.
        let refunded = match (before.status(), before.order.payment_id) {
            (OrderStatus::Paid | OrderStatus::Confirmed, Some(payment_id)) if before.remaining().amount > 0 => {
                let amount = before.remaining();
                let request = RefundRequest {
                    payment_id,
                    amount,
                    reason: Some(cause.clone()),
                    idempotency_key: format!("cancel-{id}"),
                };
                self.ports.payment.refund(ctx, request).await?;
                Some(amount)
            }
            _ => None,
        };

        let now = domain::now();
        let mut release = None;
        let mut too_late = None;
        let changed = self
            .change(id, None, |r| {
                let unconfirmed =
                    matches!(r.status(), OrderStatus::Pending | OrderStatus::StockReserved | OrderStatus::Paid);
                match (r.cancel(&cause, refunded, &actor, now), refunded) {
                    (Ok(undone), _) => {
                        release = undone.release;
                        let mut out = vec![event(ctx, events::ORDER_CANCELLED, r.cancelled_event(unconfirmed))];
                        if refunded.is_some() || !undone.restock.is_empty() {
                            let amount = refunded.unwrap_or(Money::zero(r.order.currency));
                            let refund = r.refunded_event(amount, undone.restock, Some(cause.clone()));
                            out.push(event(ctx, events::ORDER_REFUNDED, refund));
                        }
                        Ok(Some(out))
                    }
                    // The order shipped while its money was going back: record the refund on it,
                    // then refuse the cancellation.
                    (Err(e), Some(amount)) => {
                        let plan = RefundPlan { amount, restock: vec![], reason: Some(cause.clone()) };
                        r.apply_refund(&plan, &actor, now)?;
                        too_late = Some(e);
                        let refund = r.refunded_event(amount, vec![], plan.reason);
                        Ok(Some(vec![event(ctx, events::ORDER_REFUNDED, refund)]))
                    }
                    (Err(e), None) => Err(e),
                }
            })
            .await?;
        if let Some(e) = too_late {
            return Err(e);
        }
        if let Some(reservation_id) = release {
            self.release(ctx, reservation_id).await;
        }
        Ok(changed_order(changed, id)?.order)
    }

    #[tracing::instrument(name = "ordering.refund", skip_all, fields(module = "ordering", correlation_id = %ctx.correlation_id))]
    async fn refund(&self, ctx: &RequestContext, id: Uuid, input: RefundInput) -> Result<Order> {
        let before = self.find(id).await?.ok_or_else(|| Error::not_found("order", id))?;
        let plan = domain::plan_refund(&before, input)?;
        let payment_id = before
            .order
            .payment_id
            .ok_or_else(|| Error::internal(format!("order {} was paid but has no payment", before.order.number)))?;
        // Numbered by the refunds already recorded: a retry after a failure finds the same key,
        // and payment answers with the refund it already made.
        let request = RefundRequest {
            payment_id,
            amount: plan.amount,
            reason: plan.reason.clone(),
            idempotency_key: format!("refund-{id}-{}", before.refund_count + 1),
        };
        self.ports.payment.refund(ctx, request).await?;

        let actor = domain::actor(ctx, OrderAccess::Staff);
        let now = domain::now();
        let changed = self
            .change(id, None, |r| {
                if r.refund_count != before.refund_count {
                    return Err(Error::conflict(
                        "order-changed",
                        format!(
                            "another refund of order {} was recorded meanwhile; reload it and try again",
                            r.order.number
                        ),
                    ));
                }
                r.apply_refund(&plan, &actor, now)?;
                let refund = r.refunded_event(plan.amount, plan.restock.clone(), plan.reason.clone());
                Ok(Some(vec![event(ctx, events::ORDER_REFUNDED, refund)]))
            })
            .await?;
        Ok(changed_order(changed, id)?.order)
    }

    #[tracing::instrument(name = "ordering.request_return", skip_all, fields(module = "ordering", correlation_id = %ctx.correlation_id))]
    async fn request_return(
        &self,
        ctx: &RequestContext,
        id: Uuid,
        access: OrderAccess,
        input: ReturnInput,
    ) -> Result<OrderReturn> {
        let mut uow = self.db.begin().await?;
        // Returns of one order are planned one at a time, against all the earlier ones: two
        // concurrent requests cannot both return the same units.
        store::lock_order(&mut uow, id).await?;
        let record = store::order(&mut uow, id)
            .await?
            .filter(|r| r.visible_to(access))
            .ok_or_else(|| Error::not_found("order", id))?;
        let earlier = store::returns_for_order(&mut uow, id).await?;
        let draft = domain::plan_return(&record, &earlier, input)?;
        let now = domain::now();
        let r = OrderReturn {
            id: new_id(),
            order_id: id,
            status: ReturnStatus::Requested,
            lines: draft.lines,
            reason: draft.reason,
            created_at: now,
            updated_at: now,
        };
        store::insert_return(&mut uow, &r).await?;
        uow.emit(&event(ctx, events::RETURN_REQUESTED, record.return_event(&r))).await?;
        uow.commit().await?;
        Ok(r)
    }

    #[tracing::instrument(name = "ordering.receive_return", skip_all, fields(module = "ordering", correlation_id = %ctx.correlation_id))]
    async fn receive_return(&self, ctx: &RequestContext, return_id: Uuid) -> Result<OrderReturn> {
        let mut uow = self.db.begin().await?;
        let mut r =
            store::order_return(&mut uow, return_id).await?.ok_or_else(|| Error::not_found("return", return_id))?;
        let record = store::order(&mut uow, r.order_id)
            .await?
            .ok_or_else(|| Error::internal(format!("return {return_id} belongs to no order")))?;
        let from = r.status;
        domain::receive_return(&mut r, domain::now())?;
        if !store::update_return_status(&mut uow, &r, from).await? {
            // Received by a concurrent call since it was read: the refusal a later call gets.
            let mut current =
                store::order_return(&mut uow, return_id).await?.ok_or_else(|| Error::not_found("return", return_id))?;
            domain::receive_return(&mut current, domain::now())?;
            return Err(Error::unavailable(format!("return {return_id} was changed concurrently; retry")));
        }
        uow.emit(&event(ctx, events::RETURN_RECEIVED, record.return_event(&r))).await?;
        uow.commit().await?;
        Ok(r)
    }

    #[tracing::instrument(name = "ordering.returns_for_order", skip_all, fields(module = "ordering", correlation_id = %_ctx.correlation_id))]
    async fn returns_for_order(
        &self,
        _ctx: &RequestContext,
        id: Uuid,
        access: OrderAccess,
    ) -> Result<Vec<OrderReturn>> {
        let mut tx = self.read().await?;
        store::order(&mut tx, id)
            .await?
            .filter(|r| r.visible_to(access))
            .ok_or_else(|| Error::not_found("order", id))?;
        store::returns_for_order(&mut tx, id).await
    }

    #[tracing::instrument(name = "ordering.daily_sales", skip_all, fields(module = "ordering", correlation_id = %_ctx.correlation_id))]
    async fn daily_sales(&self, _ctx: &RequestContext, query: SalesQuery) -> Result<Vec<DailySales>> {
        if query.to <= query.from {
            return Err(Error::validation("to", "must be after from"));
        }
        if query.to - query.from > chrono::Duration::days(MAX_SALES_DAYS) {
            return Err(Error::validation("to", format!("a summary covers at most {MAX_SALES_DAYS} days")));
        }
        let channel = query.channel.as_deref().map(str::trim).filter(|c| !c.is_empty());
        store::daily_sales(&mut *self.read().await?, &query.from, &query.to, channel).await
    }
}
