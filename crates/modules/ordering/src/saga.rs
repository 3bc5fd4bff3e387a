//! The checkout saga and its compensations.
//!
//! Place the order (pending) → reserve stock → take payment → confirm. Each step is its own unit
//! of work with its timeline row and event, and other modules are called between them, never
//! inside one. A crash leaves the order where the last step put it; the stale-checkout sweeper and
//! the reservation-expiry consumer roll such orders back. A step that finds the order no longer
//! where the saga left it (cancelled meanwhile) gives back what the saga took. Refused stock or a
//! declined payment cancels the order and is remembered, so a retry gets the same answer.

use std::collections::{HashMap, HashSet};

use comptoir_contracts::address::PostalAddress;
use comptoir_contracts::billing::{TaxRequest, TaxableLine};
use comptoir_contracts::cart::{Cart, CartAccess};
use comptoir_contracts::catalog::Visibility;
use comptoir_contracts::inventory::{ReservationLineInput, ReserveStock};
use comptoir_contracts::ordering::{CartEstimate, Checkout, EstimateRequest, Order, OrderStatus, events};
use comptoir_contracts::payment::{ChargeRequest, PaymentMethodInput, PaymentStatus, RefundRequest};
use comptoir_contracts::shipping::{Quote, QuoteRequest};
use comptoir_kernel::{Error, Money, RequestContext, Result, new_id};
use tracing::Instrument;
use uuid::Uuid;

use crate::OrderingModule;
use crate::domain::{self, CheckoutDraft, CheckoutFailure, OrderRecord, PricedOrder, SYSTEM};
use crate::service::{Changed, event};
use crate::store;

/// The parcel a cart makes, for shipping quotes.
fn parcel(cart: &Cart, weights: &HashMap<String, Option<i64>>, destination: &PostalAddress) -> QuoteRequest {
    QuoteRequest {
        country: destination.country.clone(),
        region: destination.region.clone(),
        weight_grams: domain::parcel_weight(cart, weights),
        subtotal: cart.subtotal,
    }
}

/// The longest inventory holds a reservation.
const MAX_TTL_SECONDS: u64 = 86_400;
/// Stale checkouts rolled back per sweep.
const SWEEP_BATCH: i64 = 100;
/// Where a crashed checkout can be left. A paid order still unconfirmed is as stuck as one that
/// never paid, and by the time it is stale its reservation has expired: it is rolled back too.
const UNFINISHED: [OrderStatus; 3] = [OrderStatus::Pending, OrderStatus::StockReserved, OrderStatus::Paid];

/// How a checkout was answered: by running the saga for a newly placed order, or from an earlier
/// run of the same checkout (only the first counts in the saga metrics).
enum Run {
    Saga(Result<Order>),
    Answered(Result<Order>),
}

/// The saga's outcome and the reason for a cancellation, as metric labels.
fn saga_outcome(result: &Result<Order>) -> (&'static str, &'static str) {
    match result {
        Ok(order) if order.status == OrderStatus::Confirmed => ("confirmed", "none"),
        // Cancelled meanwhile by the customer, the sweeper or an expired reservation.
        Ok(_) => ("cancelled", "interrupted"),
        Err(Error::PaymentDeclined(_)) => ("cancelled", "payment_declined"),
        Err(e) if e.code() == "insufficient-stock" => ("cancelled", "out_of_stock"),
        Err(_) => ("cancelled", "unavailable"),
    }
}

/// Where a saga step left the checkout.
enum Step {
    Next(OrderRecord),
    /// The order was cancelled while the step ran (by the customer, the sweeper or an expired
    /// reservation); what the step took has been given back.
    Interrupted(Order),
}

/// Why a placed order's checkout is refused.
enum Refusal {
    /// Missing stock or a declined payment: remembered to answer retries the same way.
    Failure(CheckoutFailure),
    /// Anything else (a module that did not answer).
    Reason(&'static str),
}

/// A span for one step of the checkout, named after it (`checkout.reserve_stock`).
macro_rules! step_span {
    ($name:literal, $ctx:expr) => {
        tracing::info_span!($name, correlation_id = %$ctx.correlation_id, otel.status_code = tracing::field::Empty)
    };
}

impl OrderingModule {
    pub(crate) async fn run_checkout(&self, ctx: &RequestContext, checkout: Checkout) -> Result<Order> {
        let span = tracing::info_span!("checkout",
            correlation_id = %ctx.correlation_id,
            order_id = tracing::field::Empty,
            outcome = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        let started = std::time::Instant::now();
        let run = self.checkout_steps(ctx, checkout).instrument(span.clone()).await;
        let (result, placed) = match run {
            Ok(Run::Saga(result)) => (result, true),
            Ok(Run::Answered(result)) => (result, false),
            Err(e) => (Err(e), false),
        };
        if placed {
            let (outcome, reason) = saga_outcome(&result);
            span.record("outcome", outcome);
            if outcome != "confirmed" {
                span.record("otel.status_code", "ERROR");
            }
            metrics::counter!("comptoir_checkouts_total", "outcome" => outcome, "reason" => reason).increment(1);
            metrics::histogram!("comptoir_checkout_duration_seconds", "outcome" => outcome)
                .record(started.elapsed().as_secs_f64());
        }
        result
    }

    /// The checkout: answered from a previous run of the same key, or run as the saga.
    async fn checkout_steps(&self, ctx: &RequestContext, checkout: Checkout) -> Result<Run> {
        let key = domain::idempotency_key(&checkout.idempotency_key)?;
        if let Some(placed) = self.find_by_checkout_key(checkout.customer_id, &key).await? {
            return Ok(Run::Answered(placed.answer_retry()));
        }
        let draft = domain::parse_checkout(checkout)?;
        let (cart, priced) = self.price(ctx, &draft).instrument(step_span!("checkout.price", ctx)).await?;
        let placing = self.place(ctx, &draft, &cart, priced).instrument(step_span!("checkout.place_order", ctx));
        let Some(record) = placing.await? else {
            // A concurrent duplicate of this checkout placed the order first.
            let placed = self.find_by_checkout_key(draft.customer_id, &draft.idempotency_key).await?;
            let placed = placed.ok_or_else(|| Error::internal("a duplicate checkout's order is missing"))?;
            return Ok(Run::Answered(placed.answer_retry()));
        };
        tracing::Span::current().record("order_id", tracing::field::display(record.order.id));
        Ok(Run::Saga(self.run_saga(ctx, record, draft.payment, draft.customer_id).await))
    }

    /// Steps 2 to 4 for a placed order.
    async fn run_saga(
        &self,
        ctx: &RequestContext,
        record: OrderRecord,
        payment: PaymentMethodInput,
        customer_id: Uuid,
    ) -> Result<Order> {
        let actor = format!("customer:{customer_id}");
        let record =
            match self.reserve(ctx, record, &actor).instrument(step_span!("checkout.reserve_stock", ctx)).await? {
                Step::Next(record) => record,
                Step::Interrupted(order) => return Ok(order),
            };
        let record =
            match self.pay(ctx, record, payment, &actor).instrument(step_span!("checkout.take_payment", ctx)).await? {
                Step::Next(record) => record,
                Step::Interrupted(order) => return Ok(order),
            };
        self.confirm(ctx, record, &actor).instrument(step_span!("checkout.confirm_order", ctx)).await
    }

    /// The cart's lines priced for the order: shipping quoted for the parcel, tax computed by
    /// billing for the destination.
    async fn price(&self, ctx: &RequestContext, draft: &CheckoutDraft) -> Result<(Cart, PricedOrder)> {
        let cart = self.ports.cart.get_cart(ctx, draft.cart_id, &CartAccess::Customer(draft.customer_id)).await?;
        domain::check_cart(&cart)?;
        let weights = self.weights(ctx, &cart).await?;
        let destination = &draft.shipping_address;
        let parcel = parcel(&cart, &weights, destination);
        let quote = self.ports.shipping.quote(ctx, &draft.shipping_method, parcel).await?;
        let priced = self.priced_with(ctx, &cart, &weights, destination, &quote).await?;
        Ok((cart, priced))
    }

    /// What a cart would cost delivered to `request`'s destination: every shipping option, and the
    /// lines, shipping and totals with tax for the chosen (or the cheapest) one.
    pub(crate) async fn estimate_cart(
        &self,
        ctx: &RequestContext,
        cart_id: Uuid,
        access: &CartAccess,
        request: EstimateRequest,
    ) -> Result<CartEstimate> {
        let destination = domain::estimate_destination(&request)?;
        let cart = self.ports.cart.get_cart(ctx, cart_id, access).await?;
        domain::check_cart(&cart)?;
        let weights = self.weights(ctx, &cart).await?;
        let options = self.ports.shipping.quotes(ctx, parcel(&cart, &weights, &destination)).await?;
        let chosen = match &request.shipping_method {
            Some(method) => self.ports.shipping.quote(ctx, method, parcel(&cart, &weights, &destination)).await?,
            None => options
                .iter()
                .find(|q| q.price.currency == cart.currency)
                .cloned()
                .ok_or_else(|| Error::validation("country", "no shipping method delivers there"))?,
        };
        let priced = self.priced_with(ctx, &cart, &weights, &destination, &chosen).await?;
        Ok(domain::cart_estimate(&cart, priced, options))
    }

    /// Tax from billing for the destination, then the order's lines, shipping and totals.
    async fn priced_with(
        &self,
        ctx: &RequestContext,
        cart: &Cart,
        weights: &HashMap<String, Option<i64>>,
        destination: &PostalAddress,
        quote: &Quote,
    ) -> Result<PricedOrder> {
        let taxable = TaxRequest {
            channel: cart.channel.clone(),
            currency: cart.currency,
            destination: destination.clone(),
            lines: cart
                .lines
                .iter()
                .map(|l| TaxableLine { sku: l.sku.clone(), quantity: l.quantity, unit_price: l.unit_price })
                .collect(),
            shipping: quote.price,
        };
        let tax = self.ports.billing.compute_tax(ctx, taxable).await?;
        domain::price_order(cart, weights, quote, &tax)
    }

    /// Each SKU's weight, from its product's variants. A SKU the catalog no longer has is not sold.
    async fn weights(&self, ctx: &RequestContext, cart: &Cart) -> Result<HashMap<String, Option<i64>>> {
        let mut weights = HashMap::new();
        let mut asked = HashSet::new();
        for line in cart.lines.iter().filter(|l| asked.insert(l.product_id)) {
            match self.ports.catalog.get_product(ctx, &line.product_id.to_string(), Visibility::All).await {
                Ok(product) => weights.extend(product.variants.into_iter().map(|v| (v.sku, v.weight_grams))),
                Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        if let Some((i, line)) = cart.lines.iter().enumerate().find(|(_, l)| !weights.contains_key(&l.sku)) {
            return Err(Error::conflict_on(
                "sku-unavailable",
                format!("cart.lines[{i}].sku"),
                format!("{} is no longer sold", line.sku),
            ));
        }
        Ok(weights)
    }

    /// Step 1: the order exists, pending, with its number. `None` when this customer already
    /// placed an order under the same checkout key (the unique index decides between racers).
    async fn place(
        &self,
        ctx: &RequestContext,
        draft: &CheckoutDraft,
        cart: &Cart,
        priced: PricedOrder,
    ) -> Result<Option<OrderRecord>> {
        let mut uow = self.db.begin().await?;
        // The number first: taking it locks the counter until this unit of work ends, so that
        // placements run one at a time on every backend and the check below sees every order
        // placed before (a refused checkout gives its number back).
        let sequence = store::next_order_number(&mut uow).await?;
        // The cart closes when the confirmation event reaches it; until then it still looks
        // active, so the order itself guards against a second checkout of the same cart.
        if let Some(number) = store::live_order_for_cart(&mut uow, draft.cart_id).await?
            && store::order_by_checkout_key(&mut uow, draft.customer_id, &draft.idempotency_key).await?.is_none()
        {
            return Err(Error::conflict_on(
                "cart-already-ordered",
                "cart_id",
                format!("this cart was already ordered as {number}"),
            ));
        }
        let record = domain::new_order(new_id(), sequence, draft, cart, priced, domain::now());
        if !store::insert_order(&mut uow, &record).await? {
            return Ok(None);
        }
        uow.emit(&event(ctx, events::ORDER_PLACED, record.placed_event())).await?;
        uow.commit().await?;
        Ok(Some(record))
    }

    /// Step 2: the order's units are held for it.
    async fn reserve(&self, ctx: &RequestContext, record: OrderRecord, actor: &str) -> Result<Step> {
        let order_id = record.order.id;
        let request = ReserveStock {
            reference: order_id.to_string(),
            // In the cart's order, so that inventory's `lines[i]` names the cart's line i.
            lines: record
                .order
                .lines
                .iter()
                .map(|l| ReservationLineInput { sku: l.sku.clone(), quantity: l.quantity })
                .collect(),
            ttl_seconds: Some(self.config.reservation_ttl.as_secs().clamp(1, MAX_TTL_SECONDS)),
            location: None,
        };
        let reservation = match self.ports.inventory.reserve(ctx, request).await {
            Ok(reservation) => reservation,
            Err(e) => {
                let refusal = match CheckoutFailure::from_stock_error(&e) {
                    Some(failure) => Refusal::Failure(failure),
                    None => Refusal::Reason("stock could not be reserved"),
                };
                return Err(self.refuse(ctx, order_id, OrderStatus::Pending, refusal, e, actor).await);
            }
        };
        let now = domain::now();
        let changed = self
            .change(order_id, None, |r| {
                if r.status() != OrderStatus::Pending {
                    return Ok(None);
                }
                r.order.reservation_id = Some(reservation.id);
                r.move_to(OrderStatus::StockReserved, "stock reserved", actor, now)?;
                // Inventory announced the reservation itself; the contract has no event for this step.
                Ok(Some(vec![]))
            })
            .await;
        match changed {
            Ok(Changed::Done(record)) => Ok(Step::Next(record)),
            Ok(Changed::Unchanged(current)) => {
                self.release(ctx, reservation.id).await;
                Ok(Step::Interrupted(current.order))
            }
            Ok(Changed::AlreadyHandled) => Err(Error::internal("a saga step claimed an event")),
            Err(e) => {
                // The order stays pending; the sweeper cancels it.
                self.release(ctx, reservation.id).await;
                Err(e)
            }
        }
    }

    /// Step 3: the customer pays. Whatever happens, no money is kept and no stock held for an
    /// order that will not be confirmed.
    async fn pay(
        &self,
        ctx: &RequestContext,
        record: OrderRecord,
        method: PaymentMethodInput,
        actor: &str,
    ) -> Result<Step> {
        let order = &record.order;
        let (order_id, reservation_id) = (order.id, order.reservation_id);
        let charge = ChargeRequest {
            order_id,
            customer_id: order.customer_id,
            amount: order.totals.gross,
            method,
            // One order, one charge, however often the saga gets here.
            idempotency_key: order_id.to_string(),
        };
        let payment = match self.ports.payment.charge(ctx, charge).await {
            Ok(payment) if payment.status == PaymentStatus::Captured => payment,
            Ok(payment) if payment.status == PaymentStatus::Declined => {
                if let Some(id) = reservation_id {
                    self.release(ctx, id).await;
                }
                let failure = CheckoutFailure::declined(payment.decline_reason.as_deref());
                let e = failure.to_error();
                return Err(self
                    .refuse(ctx, order_id, OrderStatus::StockReserved, Refusal::Failure(failure), e, actor)
                    .await);
            }
            outcome => {
                let e = match outcome {
                    Err(e) => e,
                    Ok(p) => Error::unavailable(format!("payment {} ended {:?} rather than captured", p.id, p.status)),
                };
                if let Some(id) = reservation_id {
                    self.release(ctx, id).await;
                }
                let refusal = Refusal::Reason("payment could not be taken");
                let e = self.refuse(ctx, order_id, OrderStatus::StockReserved, refusal, e, actor).await;
                // A provider that timed out may have charged all the same.
                self.settle_quietly(ctx, order_id).await;
                return Err(e);
            }
        };
        let now = domain::now();
        let changed = self
            .change(order_id, None, |r| {
                if r.status() != OrderStatus::StockReserved {
                    return Ok(None);
                }
                r.order.payment_id = Some(payment.id);
                r.move_to(OrderStatus::Paid, "payment captured", actor, now)?;
                // Payment announced the charge itself; the contract has no event for this step.
                Ok(Some(vec![]))
            })
            // If this write fails the money stays captured on an unpaid order until the sweeper
            // rolls the checkout back and refunds it.
            .await?;
        match changed {
            Changed::Done(record) => Ok(Step::Next(record)),
            Changed::Unchanged(current) => Ok(Step::Interrupted(self.give_back(ctx, current).await)),
            Changed::AlreadyHandled => Err(Error::internal("a saga step claimed an event")),
        }
    }

    /// Step 4: the order is confirmed; the modules that fulfil it act on `order.checkout.completed`.
    async fn confirm(&self, ctx: &RequestContext, record: OrderRecord, actor: &str) -> Result<Order> {
        let now = domain::now();
        let changed = self
            .change(record.order.id, None, |r| {
                if r.status() != OrderStatus::Paid {
                    return Ok(None);
                }
                r.move_to(OrderStatus::Confirmed, "checkout completed", actor, now)?;
                Ok(Some(vec![event(ctx, events::CHECKOUT_COMPLETED, r.placed_event())]))
            })
            .await?;
        match changed {
            Changed::Done(record) => Ok(record.order),
            Changed::Unchanged(current) => Ok(self.give_back(ctx, current).await),
            Changed::AlreadyHandled => Err(Error::internal("a saga step claimed an event")),
        }
    }

    /// Cancels a checkout refused after its order was placed, if the order is still in `from`.
    /// Answers with the error the checkout returns: for a remembered failure, the one a retry
    /// will get too.
    #[tracing::instrument(name = "compensate.cancel_order", skip_all, fields(correlation_id = %ctx.correlation_id))]
    async fn refuse(
        &self,
        ctx: &RequestContext,
        order_id: Uuid,
        from: OrderStatus,
        refusal: Refusal,
        error: Error,
        actor: &str,
    ) -> Error {
        let error = match &refusal {
            Refusal::Failure(failure) => failure.to_error(),
            Refusal::Reason(_) => error,
        };
        let now = domain::now();
        let written = self
            .change(order_id, None, |r| {
                if r.status() != from {
                    return Ok(None);
                }
                match refusal {
                    Refusal::Failure(failure) => r.fail(failure, actor, now)?,
                    Refusal::Reason(reason) => r.cancel(reason, None, actor, now)?,
                };
                Ok(Some(vec![event(ctx, events::ORDER_CANCELLED, r.cancelled_event(true))]))
            })
            .await;
        if let Err(e) = written {
            tracing::error!(
                error = %e,
                %order_id,
                correlation_id = %ctx.correlation_id,
                "a refused checkout's order could not be cancelled; the stale-checkout sweeper will"
            );
        }
        error
    }

    /// After a step found its order cancelled by someone else: the reservation and any money go
    /// back. Answers with the order as it is.
    async fn give_back(&self, ctx: &RequestContext, current: OrderRecord) -> Order {
        if let Some(reservation_id) = current.order.reservation_id {
            self.release(ctx, reservation_id).await;
        }
        self.settle_quietly(ctx, current.order.id).await;
        match self.find(current.order.id).await {
            Ok(Some(latest)) => latest.order,
            _ => current.order,
        }
    }

    async fn settle_quietly(&self, ctx: &RequestContext, order_id: Uuid) {
        if let Err(error) = self.settle_cancelled(ctx, order_id).await {
            tracing::error!(
                %error,
                %order_id,
                correlation_id = %ctx.correlation_id,
                "money taken for a cancelled order could not be refunded"
            );
        }
    }

    /// Refunds whatever payment still holds for a cancelled order and records it on the order. A
    /// cancelled order never keeps money, whoever cancelled it and wherever an earlier attempt
    /// stopped; payment is the authority on what was taken and given back.
    #[tracing::instrument(name = "compensate.refund", skip_all, fields(correlation_id = %ctx.correlation_id))]
    pub(crate) async fn settle_cancelled(&self, ctx: &RequestContext, order_id: Uuid) -> Result<()> {
        let Some(record) = self.find(order_id).await? else { return Ok(()) };
        if record.status() != OrderStatus::Cancelled {
            return Ok(());
        }
        let reason = record.order.cancellation_reason.clone();
        let mut refunded = 0;
        for mut payment in self.ports.payment.payments_for_order(ctx, order_id).await? {
            let left = payment.captured.amount - payment.refunded.amount;
            if left > 0 {
                let request = RefundRequest {
                    payment_id: payment.id,
                    amount: Money::new(left, payment.captured.currency),
                    reason: reason.clone(),
                    // The key a cancellation uses: whichever comes second finds the first refund.
                    idempotency_key: format!("cancel-{order_id}"),
                };
                payment = self.ports.payment.refund(ctx, request).await?;
            }
            refunded += payment.refunded.amount;
        }
        if refunded <= record.order.refunded.amount {
            return Ok(());
        }
        let now = domain::now();
        self.change(order_id, None, |r| {
            let total = refunded.min(r.order.totals.gross.amount);
            if r.status() != OrderStatus::Cancelled || total <= r.order.refunded.amount {
                return Ok(None);
            }
            let amount = Money::new(total - r.order.refunded.amount, r.order.currency);
            r.order.refunded.amount = total;
            r.order.updated_at = now;
            Ok(Some(vec![event(ctx, events::ORDER_REFUNDED, r.refunded_event(amount, vec![], reason))]))
        })
        .await?;
        Ok(())
    }

    /// Cancels an order a checkout left unfinished, if it is still in one of `from` and, when
    /// `reservation` is given, still waiting on that reservation; then gives back its stock and
    /// any money taken. Returns whether this call cancelled it.
    pub(crate) async fn abandon(
        &self,
        ctx: &RequestContext,
        id: Uuid,
        from: &[OrderStatus],
        reservation: Option<Uuid>,
        reason: &str,
        inbox: Option<(&str, Uuid)>,
    ) -> Result<bool> {
        let now = domain::now();
        let mut release = None;
        let changed = self
            .change(id, inbox, |r| {
                let waiting = reservation.is_none_or(|gone| r.order.reservation_id.is_none_or(|held| held == gone));
                if !from.contains(&r.status()) || !waiting {
                    tracing::debug!(
                        order = %r.order.number,
                        status = domain::status_to_db(r.status()),
                        reason,
                        "order left alone: it is past this"
                    );
                    return Ok(None);
                }
                release = r.cancel(reason, None, SYSTEM, now)?.release;
                Ok(Some(vec![event(ctx, events::ORDER_CANCELLED, r.cancelled_event(true))]))
            })
            .await?;
        if let Some(reservation_id) = release {
            self.release(ctx, reservation_id).await;
        }
        // Also when the event was handled before: that attempt may have stopped before the refund.
        if matches!(changed, Changed::Done(_) | Changed::AlreadyHandled) {
            self.settle_cancelled(ctx, id).await?;
        }
        Ok(matches!(changed, Changed::Done(_)))
    }

    /// Rolls back checkouts left unfinished for longer than the reservation TTL (a crash between
    /// two saga steps): each is cancelled, its reservation released and any money taken refunded.
    /// Returns how many were cancelled.
    pub async fn cancel_stale_checkouts(&self, ctx: &RequestContext) -> Result<u64> {
        let cutoff = chrono::TimeDelta::from_std(self.config.reservation_ttl)
            .ok()
            .and_then(|ttl| domain::now().checked_sub_signed(ttl));
        let Some(cutoff) = cutoff else { return Ok(0) };
        let ids = store::stale_checkouts(&mut *self.read().await?, &UNFINISHED, &cutoff, SWEEP_BATCH).await?;
        let mut cancelled = 0;
        for id in ids {
            match self.abandon(ctx, id, &UNFINISHED, None, "checkout did not complete in time", None).await {
                Ok(true) => cancelled += 1,
                Ok(false) => {}
                Err(error) => tracing::warn!(
                    %error,
                    order_id = %id,
                    correlation_id = %ctx.correlation_id,
                    "rolling back a stale checkout failed"
                ),
            }
        }
        Ok(cancelled)
    }
}
