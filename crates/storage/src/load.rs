//! Each module's share of the database and of the events, for the extraction report (with the
//! calls and CPU time `comptoir_telemetry::module_load` measures).

use std::time::Duration;

use sqlx::AnyPool;

use crate::{Backend, Db};

/// Events a module wrote to its outbox, counted when the change that caused them committed.
pub const EVENTS_EMITTED: &str = "comptoir_module_events_emitted_total";
/// Time the module's connections were busy, estimated by sampling.
pub const DB_BUSY: &str = "comptoir_module_db_busy_nanoseconds_total";

/// Adds up, until dropped, the time each database's connections are checked out of their pools.
/// Sampling rather than timing every statement keeps the queries free of overhead: each sample
/// counts the connections in use for the whole interval, which over many samples (their phase
/// unrelated to the queries') adds up to the real busy time. Reading a pool's counts is two atomic
/// loads, so sampling often (every 10 ms) costs nothing and resolves short bursts of queries.
pub async fn sample_busy_connections(databases: Vec<Db>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let nanos = every.as_nanos() as u64;
    loop {
        tick.tick().await;
        for db in &databases {
            let mut busy = in_use(db.reader());
            if db.backend() == Backend::Sqlite {
                // PostgreSQL reads and writes share one pool; SQLite has a writer of its own.
                busy += in_use(db.write_pool());
            }
            if busy > 0 {
                metrics::counter!(DB_BUSY, "module" => db.module()).increment(busy * nanos);
            }
        }
    }
}

fn in_use(pool: &AnyPool) -> u64 {
    u64::from(pool.size()).saturating_sub(pool.num_idle() as u64)
}
