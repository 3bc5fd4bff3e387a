use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use comptoir_kernel::{Error, EventEnvelope, time};
use sqlx::AnyConnection;
use sqlx::{Any, Transaction};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::db_error;

/// One write transaction of a module. Events emitted here are stored in the module's outbox in
/// the same transaction, so an event exists if and only if the change that caused it does.
pub struct UnitOfWork {
    tx: Transaction<'static, Any>,
    module: &'static str,
    emitted: usize,
    outbox_signal: Arc<Notify>,
}

impl UnitOfWork {
    pub(crate) fn new(tx: Transaction<'static, Any>, module: &'static str, outbox_signal: Arc<Notify>) -> Self {
        UnitOfWork { tx, module, emitted: 0, outbox_signal }
    }

    /// Records a domain event in the outbox; it is relayed to the bus after commit. The event
    /// carries the current span's trace context, so that its handlers join this trace.
    pub async fn emit(&mut self, event: &EventEnvelope) -> Result<(), Error> {
        let traced;
        let event = match (&event.traceparent, comptoir_telemetry::propagation::current_traceparent()) {
            (None, Some(traceparent)) => {
                traced = EventEnvelope { traceparent: Some(traceparent), ..event.clone() };
                &traced
            }
            _ => event,
        };
        let envelope =
            serde_json::to_string(event).map_err(|e| Error::internal(format!("event not serialisable: {e}")))?;
        sqlx::query("INSERT INTO outbox (id, event_type, envelope, created_at) VALUES ($1, $2, $3, $4)")
            .bind(event.id.to_string())
            .bind(&event.event_type)
            .bind(envelope)
            .bind(time::to_db(&event.timestamp))
            .execute(&mut *self.tx)
            .await
            .map_err(db_error)?;
        self.emitted += 1;
        Ok(())
    }

    /// Marks an event as handled by `consumer`. Returns `false` if it was handled before, in which
    /// case the handler must do nothing: this makes consumers idempotent under redelivery.
    pub async fn claim_inbox(&mut self, consumer: &str, event_id: Uuid) -> Result<bool, Error> {
        let done = sqlx::query(
            "INSERT INTO inbox (consumer, event_id, handled_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(consumer)
        .bind(event_id.to_string())
        .bind(time::to_db(&time::now()))
        .execute(&mut *self.tx)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected() == 1)
    }

    /// Commits, then wakes the outbox relay if events were written.
    pub async fn commit(self) -> Result<(), Error> {
        self.tx.commit().await.map_err(db_error)?;
        if self.emitted > 0 {
            self.outbox_signal.notify_one();
            metrics::counter!(crate::load::EVENTS_EMITTED, "module" => self.module).increment(self.emitted as u64);
        }
        Ok(())
    }

    /// Rolls back explicitly (dropping the unit of work does the same).
    pub async fn rollback(self) -> Result<(), Error> {
        self.tx.rollback().await.map_err(db_error)
    }
}

impl Deref for UnitOfWork {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.tx
    }
}

impl DerefMut for UnitOfWork {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
}
