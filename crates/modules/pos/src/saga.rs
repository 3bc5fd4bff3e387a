//! Ringing up a sale: the saga and its compensations.
//!
//! Check and price → record the attempt (`pending`) → reserve at the store (`reserved`) → charge →
//! commit the reservation → complete (numbered, `pos.sale.completed`). Each write is its own unit
//! of work and other modules are called between them, never inside one. Every step can run again
//! with the same effect (the reservation by its reference or recorded id, the charge by its key,
//! the commit by the reservation's state), so a retry with the same key simply runs the steps
//! again from the recorded attempt. Refused stock and declined cards end the attempt (`failed`,
//! remembered for retries); a service that does not answer leaves it in flight for a retry, or for
//! the stale-sale sweeper, which rolls it back (`abandoning` until its units and money are given
//! back, then `failed`).

use comptoir_contracts::billing::{TaxRequest, TaxableLine};
use comptoir_contracts::catalog::SkuOffer;
use comptoir_contracts::inventory::{Reservation, ReservationLineInput, ReservationStatus, ReserveStock, RestockUnits};
use comptoir_contracts::payment::{ChargeRequest, Payment, PaymentMethodInput, PaymentStatus, RefundRequest};
use comptoir_contracts::pos::events::{self, SaleCompleted};
use comptoir_contracts::pos::{Sale, Sell, Store};
use comptoir_kernel::validate::Problems;
use comptoir_kernel::{Error, Money, RequestContext, Result, new_id, time};
use tracing::Instrument;
use uuid::Uuid;

use crate::PosModule;
use crate::domain::{self, Failure, IN_FLIGHT, PricedSale, SOLD, SaleDraft, SaleRecord, SaleState, Tender};
use crate::service::{event, now};
use crate::store;

/// The longest inventory holds a reservation.
const MAX_TTL_SECONDS: u64 = 86_400;
/// Stale attempts rolled back per sweep.
const SWEEP_BATCH: i64 = 100;
/// Offers asked of the catalog at once for one sale.
const CONCURRENT_OFFERS: usize = 8;
/// The payment module's providers a till pays through.
const CASH_PROVIDER: &str = "cash";
const CARD_PROVIDER: &str = "test";

/// What a sale attempt's stock step ended with.
enum Held {
    Units(Reservation),
    /// Inventory refused: not enough at the store (or a request it cannot serve).
    Refused(Failure),
    /// The attempt was no longer in flight (rolled back meanwhile); the units went back.
    Interrupted,
}

/// A span for one step of the sale, named after it (`sale.reserve_stock`).
macro_rules! step_span {
    ($name:literal, $ctx:expr) => {
        tracing::info_span!($name, correlation_id = %$ctx.correlation_id)
    };
}

/// The outcome of a sale run as a metric label.
fn outcome(result: &Result<Sale>) -> &'static str {
    match result {
        Ok(_) => "completed",
        Err(Error::PaymentDeclined(_)) => "declined",
        Err(e) if e.code() == "insufficient-stock" => "refused",
        Err(e) if e.code() == "sale-abandoned" => "abandoned",
        Err(_) => "interrupted",
    }
}

/// The charge and the voiding refunds of a sale are keyed by it.
fn charge_key(sale: Uuid) -> String {
    format!("pos:{sale}")
}

fn void_key(sale: Uuid) -> String {
    format!("pos-void:{sale}")
}

impl PosModule {
    pub(crate) async fn ring_up(&self, ctx: &RequestContext, sell: Sell) -> Result<Sale> {
        let draft = domain::parse_sale(sell)?;
        if let Some(attempt) = self.attempt(&draft.key).await? {
            return self.retried(ctx, attempt, &draft).await;
        }
        let store = self.store_for_sale(&draft.location).await?;
        let priced = self.price(ctx, &store, &draft).instrument(step_span!("sale.price", ctx)).await?;
        let change = match draft.tender {
            Tender::Cash { tendered } => Some(domain::cash_change(tendered, priced.totals.gross)?),
            Tender::Card { .. } => None,
        };
        let record = domain::new_attempt(new_id(), &draft, &store, priced, change, now());
        let mut uow = self.db.begin().await?;
        let recorded = store::insert_sale(&mut uow, &record).await?;
        uow.commit().await?;
        if !recorded {
            // A concurrent duplicate recorded its attempt first: answer or resume that one.
            let attempt = self.attempt(&draft.key).await?;
            let attempt = attempt.ok_or_else(|| Error::internal("a duplicate sale's attempt is missing"))?;
            return self.retried(ctx, attempt, &draft).await;
        }
        self.run(ctx, record, &draft).await
    }

    async fn attempt(&self, key: &str) -> Result<Option<SaleRecord>> {
        store::sale_by_key(&mut *self.reader().await?, key).await
    }

    async fn store_for_sale(&self, location: &str) -> Result<Store> {
        store::store(&mut *self.reader().await?, location)
            .await?
            .ok_or_else(|| Error::validation("location", format!("{location} is not a store set up for selling")))
    }

    /// The same key again: the sale, the remembered refusal, or the attempt resumed.
    async fn retried(&self, ctx: &RequestContext, attempt: SaleRecord, draft: &SaleDraft) -> Result<Sale> {
        if attempt.fingerprint != draft.fingerprint() {
            return Err(domain::key_reused("sale"));
        }
        if let Some(answer) = attempt.answer() {
            return answer;
        }
        // Touched, the attempt is no longer stale: the sweeper leaves it to this retry.
        let mut uow = self.db.begin().await?;
        let taken = store::touch(&mut uow, attempt.id).await?;
        uow.commit().await?;
        if !taken {
            let latest = self.sale_record(attempt.id).await?;
            return latest.answer().unwrap_or_else(|| Err(Error::internal("an attempt both in flight and not")));
        }
        self.run(ctx, attempt, draft).await
    }

    async fn sale_record(&self, id: Uuid) -> Result<SaleRecord> {
        store::sale(&mut *self.reader().await?, id).await?.ok_or_else(|| Error::internal(format!("sale {id} is gone")))
    }

    /// The store channel's price of every line, and tax for the store's address, like ordering
    /// prices an order. Every SKU without a usable price is reported, by its request line.
    async fn price(&self, ctx: &RequestContext, store: &Store, draft: &SaleDraft) -> Result<PricedSale> {
        let mut offers: Vec<Result<SkuOffer>> = Vec::with_capacity(draft.lines.len());
        for chunk in draft.lines.chunks(CONCURRENT_OFFERS) {
            let asked = chunk.iter().map(|line| self.ports.catalog.offer(ctx, &line.sku, &store.channel));
            offers.extend(futures::future::join_all(asked).await);
        }
        let mut p = Problems::default();
        let mut priced = Vec::with_capacity(offers.len());
        for (line, offer) in draft.lines.iter().zip(offers) {
            let field = format!("lines[{}].sku", line.index);
            match offer {
                Ok(offer) if offer.price.currency == store.currency => priced.push(offer),
                Ok(offer) => p.add(
                    field,
                    format!(
                        "{} is priced in {} but the store sells in {}",
                        line.sku, offer.price.currency, store.currency
                    ),
                ),
                Err(Error::NotFound { .. }) => p.add(field, format!("no product on sale has SKU {}", line.sku)),
                Err(Error::Validation { .. }) => {
                    p.add(field, format!("{} has no price in channel {}", line.sku, store.channel))
                }
                Err(e) => return Err(e),
            }
        }
        p.finish(Some(()))?;
        let request = TaxRequest {
            channel: store.channel.clone(),
            currency: store.currency,
            destination: store.address.clone(),
            lines: draft
                .lines
                .iter()
                .zip(&priced)
                .map(|(line, offer)| TaxableLine {
                    sku: line.sku.clone(),
                    quantity: line.quantity,
                    unit_price: offer.price,
                })
                .collect(),
            shipping: Money::zero(store.currency),
        };
        let tax = self.ports.billing.compute_tax(ctx, request).await?;
        domain::price_sale(&draft.lines, &priced, &tax, store.currency)
    }

    async fn run(&self, ctx: &RequestContext, record: SaleRecord, draft: &SaleDraft) -> Result<Sale> {
        let span = tracing::info_span!("sale", correlation_id = %ctx.correlation_id, sale_id = %record.id);
        let result = self.steps(ctx, record, draft).instrument(span).await;
        metrics::counter!("comptoir_pos_sales_total", "outcome" => outcome(&result)).increment(1);
        result
    }

    /// Reserve, charge, commit, complete, for a recorded attempt.
    async fn steps(&self, ctx: &RequestContext, record: SaleRecord, draft: &SaleDraft) -> Result<Sale> {
        let held = self.hold_stock(ctx, &record, draft).instrument(step_span!("sale.reserve_stock", ctx)).await?;
        let reservation = match held {
            Held::Units(reservation) => reservation,
            Held::Refused(failure) => return Err(self.refuse(record.id, failure).await),
            Held::Interrupted => return self.settled(record.id).await,
        };

        let charged = self.charge(ctx, &record, &draft.tender).instrument(step_span!("sale.take_payment", ctx)).await;
        let payment = match charged {
            Ok(payment) if payment.status == PaymentStatus::Captured => payment,
            Ok(payment) if payment.status == PaymentStatus::Declined => {
                let e = self.refuse(record.id, Failure::declined(payment.decline_reason.as_deref())).await;
                self.release_quietly(ctx, reservation.id).await;
                return Err(e);
            }
            // Answered something else than a capture: the attempt stays as it is for a retry (the
            // same key finds the same payment) or the sweeper.
            Ok(payment) => {
                return Err(Error::unavailable(format!(
                    "payment {} is {:?} rather than captured; retry the sale",
                    payment.id, payment.status
                )));
            }
            Err(e) => match Failure::from_refusal(&e) {
                // The provider refused the input: the sale ends like a decline.
                Some(failure) => {
                    let e = self.refuse(record.id, failure).await;
                    self.release_quietly(ctx, reservation.id).await;
                    return Err(e);
                }
                // The provider did not answer: the attempt stays for a retry or the sweeper.
                None => return Err(e),
            },
        };

        let committed = self.ports.inventory.commit_reservation(ctx, reservation.id);
        match committed.instrument(step_span!("sale.commit_stock", ctx)).await {
            Ok(_) => {}
            // Released or expired while the sale stalled: the units are no longer held for it.
            Err(Error::Conflict { .. }) => {
                let failure = Failure {
                    kind: domain::FailureKind::InsufficientStock,
                    field: None,
                    message: "the units held for this sale were given back before it completed; \
                              the payment is refunded"
                        .into(),
                };
                return self.roll_back(ctx, record.id, failure).await;
            }
            Err(e) => return Err(e),
        }
        self.complete(ctx, record.id, payment.id).instrument(step_span!("sale.complete", ctx)).await
    }

    /// The attempt's units, held at the store: the reservation recorded for it if it still holds
    /// them (or already sold them), else a new one.
    async fn hold_stock(&self, ctx: &RequestContext, record: &SaleRecord, draft: &SaleDraft) -> Result<Held> {
        if let Some(id) = record.reservation_id {
            match self.ports.inventory.get_reservation(ctx, id).await {
                Ok(r) if matches!(r.status, ReservationStatus::Active | ReservationStatus::Committed) => {
                    return Ok(Held::Units(r));
                }
                // Released or expired (an attempt resumed late): hold the units again.
                Ok(_) | Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let request = ReserveStock {
            // Reserving again under the reference of an active reservation answers it.
            reference: charge_key(record.id),
            // In the sale's order, so that inventory's `lines[j]` is the sale's j-th SKU.
            lines: record
                .lines
                .iter()
                .map(|l| ReservationLineInput { sku: l.line.sku.clone(), quantity: l.line.quantity })
                .collect(),
            ttl_seconds: Some(self.config.reservation_ttl.as_secs().clamp(1, MAX_TTL_SECONDS)),
            location: Some(record.location.clone()),
        };
        let reservation = match self.ports.inventory.reserve(ctx, request).await {
            Ok(reservation) => reservation,
            Err(e) => {
                // Not enough at the store, or a request inventory refuses: either way the sale
                // cannot be served and nothing was taken. Anything else may pass: a retry resumes.
                let failure =
                    Failure::from_stock_error(&e, &draft.lines, &record.location).or_else(|| Failure::from_refusal(&e));
                return match failure {
                    Some(failure) => Ok(Held::Refused(failure)),
                    None => Err(e),
                };
            }
        };
        if record.reservation_id == Some(reservation.id) {
            return Ok(Held::Units(reservation));
        }
        let marked = async {
            let mut uow = self.db.begin().await?;
            let marked = store::mark_reserved(&mut uow, record.id, reservation.id).await?;
            uow.commit().await?;
            Ok::<_, Error>(marked)
        };
        match marked.await {
            Ok(true) => Ok(Held::Units(reservation)),
            Ok(false) => {
                self.release_quietly(ctx, reservation.id).await;
                Ok(Held::Interrupted)
            }
            Err(e) => {
                // Not recorded, the reservation would only expire: give it back now.
                self.release_quietly(ctx, reservation.id).await;
                Err(e)
            }
        }
    }

    async fn charge(&self, ctx: &RequestContext, record: &SaleRecord, tender: &Tender) -> Result<Payment> {
        let method = match tender {
            Tender::Cash { .. } => PaymentMethodInput { provider: CASH_PROVIDER.into(), token: None },
            Tender::Card { token } => PaymentMethodInput { provider: CARD_PROVIDER.into(), token: Some(token.clone()) },
        };
        let request = ChargeRequest {
            order_id: record.id,
            customer_id: None,
            amount: record.totals.gross,
            method,
            // One sale, one charge, however often the saga gets here.
            idempotency_key: charge_key(record.id),
        };
        self.ports.payment.charge(ctx, request).await
    }

    /// The attempt is a sale: numbered at its store and announced, in one unit of work.
    async fn complete(&self, ctx: &RequestContext, id: Uuid, payment_id: Uuid) -> Result<Sale> {
        let mut uow = self.db.begin().await?;
        let mut record =
            store::sale(&mut uow, id).await?.ok_or_else(|| Error::internal(format!("sale {id} is gone")))?;
        if !IN_FLIGHT.contains(&record.state) {
            drop(uow);
            return self.lost_race(ctx, record).await;
        }
        let number = domain::sale_number(&record.location, store::next_sale_number(&mut uow, &record.location).await?);
        let at = now();
        if !store::complete(&mut uow, id, &number, payment_id, &at).await? {
            drop(uow);
            return self.lost_race(ctx, self.sale_record(id).await?).await;
        }
        (record.state, record.number, record.payment_id, record.completed_at) =
            (SaleState::Completed, Some(number), Some(payment_id), Some(at));
        let sale = record.to_sale()?;
        uow.emit(&event(ctx, events::SALE_COMPLETED, SaleCompleted { sale: sale.clone() })).await?;
        uow.commit().await?;
        tracing::info!(sale_id = %id, number = %sale.number, gross = %sale.totals.gross, correlation_id = %ctx.correlation_id, "sale completed");
        Ok(sale)
    }

    /// This run took stock and money but found the attempt no longer in flight: completed by a
    /// concurrent retry (its answer is this one's), or rolled back meanwhile (what this run took
    /// goes back too).
    async fn lost_race(&self, ctx: &RequestContext, record: SaleRecord) -> Result<Sale> {
        if SOLD.contains(&record.state) {
            return record.to_sale();
        }
        if let Err(error) = self.give_back(ctx, &record).await {
            tracing::error!(%error, sale_id = %record.id, correlation_id = %ctx.correlation_id,
                "a rolled-back sale's units or money could not be given back; the sweeper will");
        }
        record.answer().unwrap_or_else(|| Err(Error::internal("an attempt both in flight and not")))
    }

    /// The answer for an attempt whose step found it rolled back.
    async fn settled(&self, id: Uuid) -> Result<Sale> {
        self.sale_record(id)
            .await?
            .answer()
            .unwrap_or_else(|| Err(Error::internal("an attempt both in flight and not")))
    }

    /// Ends an attempt that took nothing that needs giving back (the reservation is released by
    /// the caller). Answers with the error the sale and its retries get.
    async fn refuse(&self, id: Uuid, failure: Failure) -> Error {
        let written = async {
            let mut uow = self.db.begin().await?;
            store::fail(&mut uow, id, &IN_FLIGHT, &failure).await?;
            uow.commit().await
        };
        if let Err(error) = written.await {
            tracing::error!(%error, sale_id = %id, "a refused sale could not be recorded; the sweeper will roll it back");
        }
        failure.to_error()
    }

    /// Ends an attempt that may hold units and money: marked `abandoning`, everything given
    /// back, then `failed` with `failure`, which is the answer. If giving back fails, the sweeper
    /// finishes the job. An attempt a concurrent retry completed meanwhile answers its sale.
    async fn roll_back(&self, ctx: &RequestContext, id: Uuid, failure: Failure) -> Result<Sale> {
        let rolled = async {
            let mut uow = self.db.begin().await?;
            let claimed = store::start_rollback(&mut uow, id).await?;
            uow.commit().await?;
            let record = self.sale_record(id).await?;
            if !claimed && record.state != SaleState::Abandoning {
                return Ok(record.answer());
            }
            self.give_back(ctx, &record).await?;
            let mut uow = self.db.begin().await?;
            store::fail(&mut uow, id, &[SaleState::Abandoning], &failure).await?;
            uow.commit().await?;
            Ok::<_, Error>(None)
        };
        match rolled.await {
            Ok(Some(answer)) => answer,
            Ok(None) => Err(failure.to_error()),
            Err(error) => {
                tracing::error!(%error, sale_id = %id, correlation_id = %ctx.correlation_id,
                    "rolling back a sale failed; the sweeper will finish");
                Err(failure.to_error())
            }
        }
    }

    /// Gives back what an attempt took: its units (released if still held, put back on the shelf
    /// if already sold) and any money captured for it. Every call is idempotent, so running it
    /// again (a sweep after a failed one) does nothing twice.
    async fn give_back(&self, ctx: &RequestContext, record: &SaleRecord) -> Result<()> {
        if let Some(id) = record.reservation_id {
            let reservation = match self.ports.inventory.get_reservation(ctx, id).await {
                Ok(reservation) => Some(reservation),
                Err(Error::NotFound { .. }) => None,
                Err(e) => return Err(e),
            };
            match reservation.map(|r| r.status) {
                Some(ReservationStatus::Active) => match self.ports.inventory.release_reservation(ctx, id).await {
                    // Committed meanwhile: the units are put back below on the next sweep.
                    Ok(_) | Err(Error::Conflict { .. }) => {}
                    Err(e) => return Err(e),
                },
                Some(ReservationStatus::Committed) => {
                    for line in &record.lines {
                        let units = RestockUnits {
                            sku: line.line.sku.clone(),
                            location: record.location.clone(),
                            quantity: line.line.quantity,
                            reference: void_key(record.id),
                        };
                        self.ports.inventory.restock(ctx, units).await?;
                    }
                }
                _ => {}
            }
        }
        for payment in self.ports.payment.payments_for_order(ctx, record.id).await? {
            let left = payment.captured.amount - payment.refunded.amount;
            if left > 0 {
                let refund = RefundRequest {
                    payment_id: payment.id,
                    amount: Money::new(left, payment.captured.currency),
                    reason: Some("the sale did not complete".into()),
                    idempotency_key: void_key(record.id),
                };
                self.ports.payment.refund(ctx, refund).await?;
            }
        }
        Ok(())
    }

    async fn release_quietly(&self, ctx: &RequestContext, reservation: Uuid) {
        if let Err(error) = self.ports.inventory.release_reservation(ctx, reservation).await {
            tracing::warn!(%error, %reservation, correlation_id = %ctx.correlation_id,
                "a refused sale's reservation could not be released; it expires on its own");
        }
    }

    /// Rolls back sale attempts nobody touched for as long as a reservation lives (a till that
    /// crashed and never retried), and finishes rollbacks a previous sweep could not: units
    /// released or put back, money refunded, the attempt `failed`. Returns how many were
    /// rolled back.
    pub async fn cancel_stale_sales(&self, ctx: &RequestContext) -> Result<u64> {
        let ttl = chrono::TimeDelta::from_std(self.config.reservation_ttl).unwrap_or(chrono::TimeDelta::MAX);
        let Some(cutoff) = time::now().checked_sub_signed(ttl) else { return Ok(0) };
        let ids = store::stale_attempts(&mut *self.reader().await?, &cutoff, SWEEP_BATCH).await?;
        let mut abandoned = 0;
        for id in ids {
            match self.abandon(ctx, id, &cutoff).await {
                Ok(true) => abandoned += 1,
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, sale_id = %id, correlation_id = %ctx.correlation_id,
                    "rolling back a stale sale failed; the next sweep tries again"),
            }
        }
        Ok(abandoned)
    }

    async fn abandon(&self, ctx: &RequestContext, id: Uuid, cutoff: &time::Timestamp) -> Result<bool> {
        let mut uow = self.db.begin().await?;
        let Some(record) = store::sale(&mut uow, id).await? else { return Ok(false) };
        let claimed = match record.state {
            SaleState::Pending | SaleState::Reserved => store::abandon(&mut uow, id, cutoff).await?,
            SaleState::Abandoning => true,
            _ => false,
        };
        uow.commit().await?;
        if !claimed {
            return Ok(false);
        }
        self.give_back(ctx, &record).await?;
        let mut uow = self.db.begin().await?;
        let failure = Failure::abandoned("the sale did not complete in time; nothing was kept");
        let failed = store::fail(&mut uow, id, &[SaleState::Abandoning], &failure).await?;
        uow.commit().await?;
        if failed {
            metrics::counter!("comptoir_pos_sales_total", "outcome" => "abandoned").increment(1);
        }
        Ok(failed)
    }
}
