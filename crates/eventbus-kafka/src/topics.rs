//! Topics are created explicitly, with the configured partition count and replication 1, the
//! first time the bus needs one — never left to a broker's auto-creation and its defaults. The
//! bus remembers which exist and forgets one when the broker says it is gone (a broker that
//! restarted without its data), so it is created again.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use comptoir_kernel::{Error, Result};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::error::RDKafkaErrorCode;
use tokio::sync::watch;

use crate::client::BusContext;

pub(crate) struct Topics {
    admin: AdminClient<BusContext>,
    partitions: i32,
    timeout: Duration,
    known: Mutex<HashSet<String>>,
    /// Counts topics this bus created, so that its consumers of every domain look for new
    /// topics at once instead of at their next metadata refresh.
    created: watch::Sender<u64>,
}

impl Topics {
    pub fn new(admin: AdminClient<BusContext>, partitions: i32, timeout: Duration) -> Topics {
        Topics {
            admin,
            partitions: partitions.max(1),
            timeout,
            known: Mutex::default(),
            created: watch::Sender::new(0),
        }
    }

    /// Creates whichever of `names` the bus does not know to exist.
    pub async fn ensure(&self, names: &[String]) -> Result<()> {
        let missing: Vec<&String> = {
            let known = self.known.lock().expect("topics lock");
            names.iter().filter(|name| !known.contains(*name)).collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        let specs: Vec<NewTopic<'_>> =
            missing.iter().map(|name| NewTopic::new(name, self.partitions, TopicReplication::Fixed(1))).collect();
        let options = AdminOptions::new().request_timeout(Some(self.timeout)).operation_timeout(Some(self.timeout));
        let results = self
            .admin
            .create_topics(&specs, &options)
            .await
            .map_err(|e| Error::unavailable(format!("Kafka: could not create topics {missing:?}: {e}")))?;
        let mut created = 0;
        for result in results {
            match result {
                Ok(name) => {
                    tracing::info!(provider = "kafka", topic = %name, partitions = self.partitions, "topic created");
                    created += 1;
                    self.known.lock().expect("topics lock").insert(name);
                }
                Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => {
                    self.known.lock().expect("topics lock").insert(name);
                }
                Err((name, code)) => {
                    return Err(Error::unavailable(format!("Kafka: could not create topic {name}: {code}")));
                }
            }
        }
        if created > 0 {
            self.created.send_modify(|count| *count += created);
        }
        Ok(())
    }

    /// The broker no longer has `name` (or may not): create it before its next use.
    pub fn forget(&self, name: &str) {
        self.known.lock().expect("topics lock").remove(name);
    }

    /// The broker lost its data: every topic must be created again before its next use.
    pub fn forget_all(&self) {
        self.known.lock().expect("topics lock").clear();
    }

    /// Changes whenever this bus creates a topic.
    pub fn created(&self) -> watch::Receiver<u64> {
        self.created.subscribe()
    }
}
