//! Taking units of a sale back at the till.
//!
//! Record the return (`pending`), holding its units and amount on the sale's lines in the same
//! unit of work, so that no other return can take them → refund its amount the way the sale was
//! paid (keyed by the return) → put the units back on the store's shelf (keyed by the return and
//! SKU) → complete: the units count as returned, the sale's refunded amount and status change and
//! `pos.return.completed` is written, in one unit of work. A retry with the same key answers the
//! completed return or resumes a pending one; each step is idempotent, so nothing is refunded or
//! restocked twice. A refund the payment module refuses forgets the return and frees its units.

use comptoir_contracts::inventory::RestockUnits;
use comptoir_contracts::payment::RefundRequest;
use comptoir_contracts::pos::events::{self, ReturnCompleted};
use comptoir_contracts::pos::{StoreReturn, TakeReturn};
use comptoir_kernel::{Error, Money, RequestContext, Result, new_id};
use tracing::Instrument;

use crate::PosModule;
use crate::domain::{self, ReturnDraft, ReturnRecord, SaleRecord};
use crate::service::{event, now};
use crate::store;

/// How recording a return ended.
enum Recorded {
    /// Boxed: a sale with its lines is much larger than a return.
    New(ReturnRecord, Box<SaleRecord>),
    /// The key was used before (or by a concurrent duplicate).
    Existing(ReturnRecord),
}

fn return_key(id: uuid::Uuid) -> String {
    format!("pos-return:{id}")
}

impl PosModule {
    pub(crate) async fn take_back(&self, ctx: &RequestContext, input: TakeReturn) -> Result<StoreReturn> {
        let draft = domain::parse_return(input)?;
        let existing = store::return_by_key(&mut *self.reader().await?, &draft.key).await?;
        let (record, sale) = match existing {
            Some(existing) => return self.retried_return(ctx, existing, &draft).await,
            None => match self.record_return(&draft).await? {
                Recorded::New(record, sale) => (record, *sale),
                Recorded::Existing(existing) => return self.retried_return(ctx, existing, &draft).await,
            },
        };
        let span = tracing::info_span!("sale.return", correlation_id = %ctx.correlation_id, return_id = %record.id);
        self.finish_return(ctx, record, sale).instrument(span).await
    }

    /// The pending return, its units held on the sale's lines; 404 for a sale that does not exist
    /// (or never completed), 422 for units that cannot come back.
    async fn record_return(&self, draft: &ReturnDraft) -> Result<Recorded> {
        let mut uow = self.db.begin().await?;
        if !store::lock_sale(&mut uow, draft.sale_id).await? {
            return Err(Error::not_found("sale", draft.sale_id));
        }
        // A duplicate may have recorded it while this one waited for the sale.
        if let Some(existing) = store::return_by_key(&mut uow, &draft.key).await? {
            return Ok(Recorded::Existing(existing));
        }
        let sale =
            store::sale(&mut uow, draft.sale_id).await?.ok_or_else(|| Error::not_found("sale", draft.sale_id))?;
        let planned = domain::plan_return(&draft.lines, &sale)?;
        let record = domain::new_return(new_id(), draft, planned, now());
        for line in &record.lines {
            if !store::hold_units(&mut uow, sale.id, line).await? {
                return Err(Error::unavailable("the sale changed while the return was taken; retry"));
            }
        }
        if !store::insert_return(&mut uow, &record).await? {
            drop(uow);
            let existing = store::return_by_key(&mut *self.reader().await?, &draft.key).await?;
            return existing.map(Recorded::Existing).ok_or_else(|| Error::internal("a duplicate return is missing"));
        }
        uow.commit().await?;
        Ok(Recorded::New(record, Box::new(sale)))
    }

    /// The same key again: the completed return, or the pending one resumed.
    async fn retried_return(
        &self,
        ctx: &RequestContext,
        existing: ReturnRecord,
        draft: &ReturnDraft,
    ) -> Result<StoreReturn> {
        if existing.fingerprint != draft.fingerprint() {
            return Err(domain::key_reused("return"));
        }
        let sale = store::sale(&mut *self.reader().await?, existing.sale_id)
            .await?
            .ok_or_else(|| Error::internal(format!("the sale of return {} is gone", existing.id)))?;
        if existing.completed {
            return Ok(existing.to_contract(&sale));
        }
        self.finish_return(ctx, existing, sale).await
    }

    /// Refund, restock, complete.
    async fn finish_return(&self, ctx: &RequestContext, record: ReturnRecord, sale: SaleRecord) -> Result<StoreReturn> {
        if record.amount > 0 {
            let payment_id =
                sale.payment_id.ok_or_else(|| Error::internal(format!("sale {} has no payment", sale.id)))?;
            let refund = RefundRequest {
                payment_id,
                amount: Money::new(record.amount, sale.currency),
                reason: Some(record.reason.clone()),
                idempotency_key: return_key(record.id),
            };
            let refunded = self.ports.payment.refund(ctx, refund);
            if let Err(e) = refunded.instrument(tracing::info_span!("sale.return.refund")).await {
                // Refused for good: the return cannot be made, nothing of it stays. Otherwise
                // (payment did not answer) it stays pending for a retry with the same key.
                if matches!(
                    e,
                    Error::Validation { .. }
                        | Error::BadRequest { .. }
                        | Error::Conflict { .. }
                        | Error::NotFound { .. }
                ) {
                    self.forget_return(&record).await;
                }
                return Err(e);
            }
        }
        if record.restock {
            for line in &record.lines {
                let units = RestockUnits {
                    sku: line.sku.clone(),
                    location: sale.location.clone(),
                    quantity: line.quantity,
                    reference: return_key(record.id),
                };
                self.ports.inventory.restock(ctx, units).instrument(tracing::info_span!("sale.return.restock")).await?;
            }
        }
        self.complete_return(ctx, record).await
    }

    async fn complete_return(&self, ctx: &RequestContext, mut record: ReturnRecord) -> Result<StoreReturn> {
        let mut uow = self.db.begin().await?;
        // Returns of one sale complete one at a time, each reading what the last one wrote.
        if !store::lock_sale(&mut uow, record.sale_id).await? {
            return Err(Error::internal(format!("the sale of return {} is gone", record.id)));
        }
        let at = now();
        if !store::complete_return(&mut uow, record.id, &at).await? {
            // Completed by a concurrent retry: its answer is this one's.
            drop(uow);
            let mut c = self.reader().await?;
            let done = store::return_by_key(&mut c, &record.key).await?;
            let sale = store::sale(&mut c, record.sale_id).await?;
            return match (done, sale) {
                (Some(done), Some(sale)) if done.completed => Ok(done.to_contract(&sale)),
                _ => Err(Error::internal(format!("return {} is neither pending nor completed", record.id))),
            };
        }
        for line in &record.lines {
            if !store::mark_returned(&mut uow, record.sale_id, line).await? {
                return Err(Error::internal(format!("return {} holds units its sale does not", record.id)));
            }
        }
        let sale = store::sale(&mut uow, record.sale_id).await?.ok_or_else(|| Error::internal("the sale is gone"))?;
        let state = domain::state_after_returns(&sale.lines);
        if !store::returned(&mut uow, sale.id, state, record.amount).await? {
            return Err(Error::internal(format!("sale {} is no longer a sale", sale.id)));
        }
        record.completed = true;
        record.completed_at = Some(at);
        let store_return = record.to_contract(&sale);
        uow.emit(&event(ctx, events::RETURN_COMPLETED, ReturnCompleted { store_return: store_return.clone() })).await?;
        uow.commit().await?;
        tracing::info!(return_id = %record.id, sale_id = %sale.id, amount = %store_return.amount,
            correlation_id = %ctx.correlation_id, "return completed");
        Ok(store_return)
    }

    /// Forgets a pending return and gives its units back to the sale's lines.
    async fn forget_return(&self, record: &ReturnRecord) {
        let forgotten = async {
            let mut uow = self.db.begin().await?;
            store::lock_sale(&mut uow, record.sale_id).await?;
            if store::delete_return(&mut uow, record.id).await? {
                for line in &record.lines {
                    store::free_units(&mut uow, record.sale_id, line).await?;
                }
            }
            uow.commit().await
        };
        if let Err(error) = forgotten.await {
            tracing::error!(%error, return_id = %record.id, "a refused return could not be forgotten; its units stay held");
        }
    }
}
