//! The deliveries in flight in this process, shared by every bus of one deployment (broker and
//! namespace) that the process holds. Two instances of a consumer in one process (two buses)
//! share its queue, so an event published through one bus may be handled through the other: with
//! one count for both, `wait_idle` sees it finish. A process with one bus (the usual case) is
//! unaffected.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use comptoir_eventbus::delivery::{InFlight, Registry};

static DEPLOYMENTS: LazyLock<Mutex<HashMap<String, Weak<Local>>>> = LazyLock::new(Default::default);

#[derive(Default)]
pub(crate) struct Local {
    pub in_flight: InFlight,
    /// The consumers of each bus of this deployment in this process, by bus id.
    buses: Mutex<Vec<(u64, Registry)>>,
}

impl Local {
    /// The shared state of deployment `key`, with `registry` (the consumers of bus `bus`) in it.
    pub fn join(key: &str, bus: u64, registry: Registry) -> Arc<Local> {
        let mut deployments = DEPLOYMENTS.lock().expect("deployments lock");
        deployments.retain(|_, local| local.strong_count() > 0);
        let local = deployments.get(key).and_then(Weak::upgrade).unwrap_or_else(|| {
            let local = Arc::new(Local::default());
            deployments.insert(key.to_string(), Arc::downgrade(&local));
            local
        });
        local.buses.lock().expect("local buses lock").push((bus, registry));
        local
    }

    pub fn leave(&self, bus: u64) {
        self.buses.lock().expect("local buses lock").retain(|(id, _)| *id != bus);
    }

    /// The names of this process's consumers that receive events of `event_type`, once each.
    pub fn matching(&self, event_type: &str) -> Vec<String> {
        let buses = self.buses.lock().expect("local buses lock");
        let mut names: Vec<String> = buses.iter().flat_map(|(_, registry)| registry.matching(event_type)).collect();
        names.sort_unstable();
        names.dedup();
        names
    }
}
