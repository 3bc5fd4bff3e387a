//! The cart port: reads in one read transaction, changes in one unit of work with their event.
//! Catalog and inventory are asked before the unit of work opens, so no remote call holds the
//! write lock; the cart is then locked (`store::lock`) and read again inside it, and the rules applied.

use std::collections::HashMap;

use async_trait::async_trait;
use comptoir_contracts::cart::{AddLine, Cart, CartAccess, CartPort, CartStatus, NewCart, SetQuantity, events};
use comptoir_kernel::time::{self, Timestamp};
use comptoir_kernel::{Currency, Error, EventEnvelope, RequestContext, Result};
use comptoir_storage::{UnitOfWork, db_error};
use uuid::Uuid;

use crate::domain::{self, CartRecord, Line, LineChange};
use crate::{CartModule, store};

const SOURCE: &str = "cart";

fn changed_event(ctx: &RequestContext, event_type: &str, cart: &Cart) -> EventEnvelope {
    let data = events::CartChanged {
        cart_id: cart.id,
        customer_id: cart.customer_id,
        channel: cart.channel.clone(),
        item_count: cart.item_count,
        subtotal: cart.subtotal,
    };
    EventEnvelope::new(ctx, SOURCE, event_type, data)
}

impl CartModule {
    /// A cart (if it exists) and its lines, read in one transaction so that they agree.
    async fn snapshot(&self, id: Uuid) -> Result<(Option<CartRecord>, Vec<Line>)> {
        let mut tx = self.db.reader().begin().await.map_err(db_error)?;
        let Some(record) = store::cart(&mut tx, id).await? else { return Ok((None, Vec::new())) };
        let lines = store::lines(&mut tx, id).await?;
        Ok((Some(record), lines))
    }

    /// The cart a write is about, checked before catalog and inventory are asked anything.
    async fn writable(&self, id: Uuid, access: &CartAccess) -> Result<CartRecord> {
        domain::refuse_staff_writes(access)?;
        let mut conn = self.db.reader().acquire().await.map_err(db_error)?;
        domain::authorize_write(store::cart(&mut conn, id).await?, id, access)
    }

    /// Units available per SKU; SKUs inventory does not know have none.
    async fn available(&self, ctx: &RequestContext, skus: Vec<String>) -> Result<HashMap<String, i64>> {
        if skus.is_empty() {
            return Ok(HashMap::new());
        }
        Ok(self.inventory.available(ctx, &skus).await?.into_iter().collect())
    }

    /// Applies the line change `decide` picks from the cart's current lines, with its event.
    async fn change_lines(
        &self,
        ctx: &RequestContext,
        id: Uuid,
        access: &CartAccess,
        decide: impl FnOnce(&[Line]) -> Result<LineChange>,
    ) -> Result<Cart> {
        let mut uow = self.db.begin().await?;
        store::lock(&mut uow, id).await?;
        let record = domain::authorize_write(store::cart(&mut uow, id).await?, id, access)?;
        let mut lines = store::lines(&mut uow, id).await?;
        let change = decide(&lines)?;
        domain::apply(&mut lines, &change);
        let now = time::now();
        let record = CartRecord { updated_at: now, ..record };
        // Built before writing: totals that would overflow refuse the change.
        let cart = domain::to_cart(&record, &lines, None)?;
        store::apply(&mut uow, id, &change).await?;
        store::touch(&mut uow, id, &now).await?;
        uow.emit(&changed_event(ctx, events::CART_UPDATED, &cart)).await?;
        uow.commit().await?;
        Ok(cart)
    }

    /// The customer's active cart in `channel` inside the unit of work, created if missing.
    async fn customer_cart_in(
        &self,
        ctx: &RequestContext,
        uow: &mut UnitOfWork,
        customer_id: Uuid,
        channel: &str,
        currency: Currency,
        now: Timestamp,
    ) -> Result<(CartRecord, Vec<Line>)> {
        if let Some(existing) = store::active_customer_cart(uow, customer_id, Some(channel)).await? {
            store::lock(uow, existing.id).await?;
            let lines = store::lines(uow, existing.id).await?;
            return Ok((existing, lines));
        }
        let record = CartRecord::new(Some(customer_id), None, channel, currency, now);
        if store::insert_cart(uow, &record).await? {
            uow.emit(&changed_event(ctx, events::CART_CREATED, &domain::to_cart(&record, &[], None)?)).await?;
            return Ok((record, Vec::new()));
        }
        // Another request created it between our read and our insert.
        let existing = store::active_customer_cart(uow, customer_id, Some(channel))
            .await?
            .ok_or_else(|| Error::unavailable("the customer's cart changed concurrently; retry"))?;
        store::lock(uow, existing.id).await?;
        let lines = store::lines(uow, existing.id).await?;
        Ok((existing, lines))
    }

    /// A merge asked again: the customer cart it went into, if it is this customer's.
    async fn already_merged(&self, anonymous: &CartRecord, customer_id: Uuid) -> Result<Cart> {
        if let Some(into_id) = anonymous.merged_into
            && let (Some(into), lines) = self.snapshot(into_id).await?
            && into.customer_id == Some(customer_id)
        {
            return domain::to_cart(&into, &lines, None);
        }
        Err(Error::conflict("cart-not-active", format!("cart {} was already merged into another cart", anonymous.id)))
    }
}

#[async_trait]
impl CartPort for CartModule {
    #[tracing::instrument(name = "cart.create_cart", skip_all, fields(module = "cart", correlation_id = %ctx.correlation_id))]
    async fn create_cart(&self, ctx: &RequestContext, customer_id: Option<Uuid>, input: NewCart) -> Result<Cart> {
        let code = domain::channel_code(input.channel.as_deref())?;
        let channel = self
            .catalog
            .list_channels(ctx)
            .await?
            .into_iter()
            .find(|c| c.code == code)
            .ok_or_else(|| Error::validation("channel", format!("{code:?} is not a sales channel")))?;
        let now = time::now();
        let mut uow = self.db.begin().await?;
        match customer_id {
            Some(customer_id) => {
                let (record, lines) =
                    self.customer_cart_in(ctx, &mut uow, customer_id, &channel.code, channel.currency, now).await?;
                uow.commit().await?;
                domain::to_cart(&record, &lines, None)
            }
            None => {
                let (token, token_hash) = domain::new_token();
                let record = CartRecord::new(None, Some(token_hash), &channel.code, channel.currency, now);
                if !store::insert_cart(&mut uow, &record).await? {
                    return Err(Error::internal(format!("anonymous cart {} collided", record.id)));
                }
                let cart = domain::to_cart(&record, &[], Some(token))?;
                uow.emit(&changed_event(ctx, events::CART_CREATED, &cart)).await?;
                uow.commit().await?;
                Ok(cart)
            }
        }
    }

    #[tracing::instrument(name = "cart.get_cart", skip_all, fields(module = "cart", correlation_id = %_ctx.correlation_id))]
    async fn get_cart(&self, _ctx: &RequestContext, id: Uuid, access: &CartAccess) -> Result<Cart> {
        let (record, lines) = self.snapshot(id).await?;
        let record = domain::authorize_read(record, id, access)?;
        domain::to_cart(&record, &lines, None)
    }

    #[tracing::instrument(name = "cart.customer_cart", skip_all, fields(module = "cart", correlation_id = %_ctx.correlation_id))]
    async fn customer_cart(&self, _ctx: &RequestContext, customer_id: Uuid) -> Result<Option<Cart>> {
        let mut tx = self.db.reader().begin().await.map_err(db_error)?;
        let Some(record) = store::active_customer_cart(&mut tx, customer_id, None).await? else { return Ok(None) };
        let lines = store::lines(&mut tx, record.id).await?;
        domain::to_cart(&record, &lines, None).map(Some)
    }

    #[tracing::instrument(name = "cart.add_line", skip_all, fields(module = "cart", correlation_id = %ctx.correlation_id))]
    async fn add_line(&self, ctx: &RequestContext, id: Uuid, access: &CartAccess, input: AddLine) -> Result<Cart> {
        let record = self.writable(id, access).await?;
        let quantity = domain::line_quantity(input.quantity)?;
        let sku = input.sku.trim();
        if sku.is_empty() {
            return Err(Error::validation("sku", "must not be empty"));
        }
        let offer = self.catalog.offer(ctx, sku, &record.channel).await?;
        if offer.price.currency != record.currency {
            return Err(Error::validation(
                "sku",
                format!("is priced in {} but the cart is in {}", offer.price.currency, record.currency),
            ));
        }
        let available = self.available(ctx, vec![offer.sku.clone()]).await?;
        let available = available.get(&offer.sku).copied().unwrap_or(0);
        let candidate = Line {
            sku: offer.sku,
            product_id: offer.product_id,
            product_name: offer.product_name,
            quantity,
            unit_price: offer.price,
        };
        self.change_lines(ctx, id, access, |lines| domain::add_units(lines, candidate, available)).await
    }

    #[tracing::instrument(name = "cart.set_quantity", skip_all, fields(module = "cart", correlation_id = %ctx.correlation_id))]
    async fn set_quantity(
        &self,
        ctx: &RequestContext,
        id: Uuid,
        access: &CartAccess,
        sku: &str,
        input: SetQuantity,
    ) -> Result<Cart> {
        self.writable(id, access).await?;
        let quantity = domain::line_quantity(input.quantity)?;
        let available = self.available(ctx, vec![sku.to_string()]).await?;
        let available = available.get(sku).copied().unwrap_or(0);
        self.change_lines(ctx, id, access, |lines| domain::set_units(lines, sku, quantity, available)).await
    }

    #[tracing::instrument(name = "cart.remove_line", skip_all, fields(module = "cart", correlation_id = %ctx.correlation_id))]
    async fn remove_line(&self, ctx: &RequestContext, id: Uuid, access: &CartAccess, sku: &str) -> Result<Cart> {
        self.change_lines(ctx, id, access, |lines| domain::remove_line(lines, sku)).await
    }

    #[tracing::instrument(name = "cart.merge", skip_all, fields(module = "cart", correlation_id = %ctx.correlation_id))]
    async fn merge(
        &self,
        ctx: &RequestContext,
        anonymous_cart_id: Uuid,
        token: &str,
        customer_id: Uuid,
    ) -> Result<Cart> {
        let id = anonymous_cart_id;
        let access = CartAccess::Token(token.to_string());
        let (anonymous, lines) = self.snapshot(id).await?;
        let anonymous = domain::authorize_read(anonymous, id, &access)?;
        let skus = lines.into_iter().map(|l| l.sku).collect();
        if anonymous.status == CartStatus::Merged {
            return self.already_merged(&anonymous, customer_id).await;
        }
        domain::ensure_active(&anonymous)?;
        let available = self.available(ctx, skus).await?;

        let mut uow = self.db.begin().await?;
        // Read again under the cart's lock: a concurrent merge of the same cart may have won.
        store::lock(&mut uow, id).await?;
        let anonymous = domain::authorize_read(store::cart(&mut uow, id).await?, id, &access)?;
        if anonymous.status == CartStatus::Merged {
            drop(uow);
            return self.already_merged(&anonymous, customer_id).await;
        }
        domain::ensure_active(&anonymous)?;
        let incoming = store::lines(&mut uow, id).await?;
        let now = time::now();
        let (into, mut lines) =
            self.customer_cart_in(ctx, &mut uow, customer_id, &anonymous.channel, anonymous.currency, now).await?;
        let changes = domain::merge_lines(&lines, &incoming, into.currency, &available);
        for change in &changes {
            domain::apply(&mut lines, change);
            store::apply(&mut uow, into.id, change).await?;
        }
        let into = if changes.is_empty() { into } else { CartRecord { updated_at: now, ..into } };
        let cart = domain::to_cart(&into, &lines, None)?;
        if !changes.is_empty() {
            store::touch(&mut uow, into.id, &now).await?;
            uow.emit(&changed_event(ctx, events::CART_UPDATED, &cart)).await?;
        }
        store::mark_merged(&mut uow, id, into.id, &now).await?;
        let merged = events::CartMerged { from_cart_id: id, into_cart_id: into.id, customer_id };
        uow.emit(&EventEnvelope::new(ctx, SOURCE, events::CART_MERGED, merged)).await?;
        uow.commit().await?;
        Ok(cart)
    }
}
