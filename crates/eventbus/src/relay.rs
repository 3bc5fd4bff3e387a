//! Moves events from a module's outbox to the bus after commit. Woken by the unit of work that
//! wrote them; polls as a fallback (events written by another process, or a bus that was down).

use std::sync::Arc;
use std::time::{Duration, Instant};

use comptoir_kernel::{Result, time};
use comptoir_storage::{Backend, Db, dead_letters, outbox};

use crate::EventBus;

const BATCH: i64 = 100;
/// How long a woken relay waits for more commits before reading the outbox.
const COALESCE: Duration = Duration::from_millis(2);
/// Published events are kept this long for inspection, then pruned.
const KEEP_PUBLISHED: Duration = Duration::from_secs(24 * 3600);

pub struct OutboxRelay {
    db: Db,
    bus: Arc<dyn EventBus>,
    poll_every: Duration,
}

impl OutboxRelay {
    pub fn new(db: Db, bus: Arc<dyn EventBus>) -> Self {
        OutboxRelay { db, bus, poll_every: Duration::from_secs(1) }
    }

    pub fn poll_every(mut self, every: Duration) -> Self {
        self.poll_every = every;
        self
    }

    /// Publishes every pending event, oldest first, until the outbox is empty. An event is marked
    /// published only after the bus accepted it, so a failure leaves it for the next round
    /// (delivery is at least once; consumers are idempotent).
    pub async fn relay_pending(&self) -> Result<usize> {
        let mut relayed = 0;
        loop {
            let batch = outbox::pending(&self.db, BATCH).await?;
            if batch.is_empty() {
                return Ok(relayed);
            }
            let (accepted, failure) = match self.bus.publish_batch(&batch).await {
                Ok(()) => (batch.len(), None),
                Err(failure) => (failure.accepted, Some(failure.error)),
            };
            outbox::mark_published(&self.db, &batch[..accepted]).await?;
            relayed += accepted;
            if let Some(e) = failure {
                return Err(e);
            }
        }
    }

    /// Samples the module's gauges for `/metrics`: the outbox (pending events and the age of the
    /// oldest), the dead letters stored, and the connection pools. A failed query leaves the
    /// previous value rather than a misleading zero.
    async fn sample_gauges(&self) {
        let module = self.db.module();
        if let Ok((backlog, oldest)) = outbox::backlog(&self.db).await {
            metrics::gauge!("comptoir_outbox_backlog", "module" => module).set(backlog as f64);
            let oldest_age = oldest
                .and_then(|created_at| time::from_db(&created_at).ok())
                .map_or(0.0, |created_at| (time::now() - created_at).as_seconds_f64().max(0.0));
            metrics::gauge!("comptoir_outbox_oldest_age_seconds", "module" => module).set(oldest_age);
        }
        if let Ok(stored) = dead_letters::count(&self.db).await {
            metrics::gauge!("comptoir_dead_letters", "module" => module).set(stored as f64);
        }
        // SQLite has a pool of readers and a single writer; PostgreSQL one pool for both, reported
        // once (as `shared`) so that sums over pools do not count it twice.
        let pools = match self.db.backend() {
            Backend::Sqlite => vec![("read", self.db.reader()), ("write", self.db.write_pool())],
            Backend::Postgres => vec![("shared", self.db.write_pool())],
        };
        for (pool, connections) in pools {
            let idle = connections.num_idle() as f64;
            let in_use = (connections.size() as f64 - idle).max(0.0);
            let max = connections.options().get_max_connections() as f64;
            metrics::gauge!("comptoir_db_pool_connections", "module" => module, "pool" => pool, "state" => "idle")
                .set(idle);
            metrics::gauge!("comptoir_db_pool_connections", "module" => module, "pool" => pool, "state" => "in_use")
                .set(in_use);
            metrics::gauge!("comptoir_db_pool_max_connections", "module" => module, "pool" => pool).set(max);
        }
    }

    /// Runs until the task is dropped or aborted.
    pub async fn run(self) {
        let signal = self.db.outbox_signal();
        let mut last_prune = Instant::now();
        let mut last_gauge = Instant::now() - Duration::from_secs(1);
        // One warning when publishing starts failing (a broker outage), one line when it recovers,
        // rather than a warning on every round in between.
        let mut failing = false;
        loop {
            match self.relay_pending().await {
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(module = self.db.module(), error = %e,
                        "outbox relay failed; the events stay in the outbox and will be retried");
                }
                Err(e) => tracing::debug!(module = self.db.module(), error = %e, "outbox relay still failing"),
                Ok(_) if failing => {
                    failing = false;
                    tracing::info!(module = self.db.module(), "outbox relay publishing again");
                }
                Ok(_) => {}
            }
            // Housekeeping at most once a second, not on every wake: busy modules wake the relay
            // on every commit.
            if last_gauge.elapsed() >= Duration::from_secs(1) {
                last_gauge = Instant::now();
                self.sample_gauges().await;
            }
            if last_prune.elapsed() > Duration::from_secs(3600) {
                last_prune = Instant::now();
                if let Err(e) = outbox::prune(&self.db, KEEP_PUBLISHED).await {
                    tracing::warn!(module = self.db.module(), error = %e, "outbox prune failed");
                }
            }
            tokio::select! {
                _ = signal.notified() => {
                    // Let the commits of a busy moment gather, so that one round relays them all
                    // and marks them published in one write instead of one write each.
                    tokio::time::sleep(COALESCE).await;
                }
                _ = tokio::time::sleep(self.poll_every) => {}
            }
        }
    }
}
