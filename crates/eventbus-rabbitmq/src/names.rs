//! The names of the broker objects of one deployment. Everything is prefixed by the namespace
//! (`<namespace>.`) so that deployments, or tests running side by side, share one broker without
//! seeing each other's events.

use std::time::Duration;

#[derive(Debug, Clone)]
pub(crate) struct Names {
    prefix: String,
}

impl Names {
    pub fn new(namespace: &str) -> Self {
        let prefix = if namespace.is_empty() { String::new() } else { format!("{namespace}.") };
        Names { prefix }
    }

    /// The topic exchange of domain events, routed by event type.
    pub fn events(&self) -> String {
        format!("{}comptoir.events", self.prefix)
    }

    /// The fanout exchange of `system.*` broadcasts.
    pub fn system(&self) -> String {
        format!("{}comptoir.system", self.prefix)
    }

    /// The direct exchange of dead letters, routed by the consumer queue's name.
    pub fn dead_letter(&self) -> String {
        format!("{}comptoir.dead-letter", self.prefix)
    }

    pub fn exchanges(&self) -> [String; 3] {
        [self.events(), self.system(), self.dead_letter()]
    }

    /// The durable queue of a consumer, named after it.
    pub fn queue(&self, consumer: &str) -> String {
        format!("{}{consumer}", self.prefix)
    }
}

/// Where a consumer queue's dead letters are kept.
pub(crate) fn dead_queue(queue: &str) -> String {
    format!("{queue}.dead")
}

/// One retry queue per delay, so that every message in it waits as long as the others and none
/// blocks a shorter wait behind it (RabbitMQ only expires messages at the head of a queue).
pub(crate) fn retry_queue(queue: &str, delay: Duration) -> String {
    format!("{queue}.retry.{}ms", delay.as_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_prefixes_every_name() {
        let names = Names::new("staging");
        assert_eq!(names.events(), "staging.comptoir.events");
        assert_eq!(names.system(), "staging.comptoir.system");
        assert_eq!(names.dead_letter(), "staging.comptoir.dead-letter");
        assert_eq!(names.queue("inventory.order-events"), "staging.inventory.order-events");
    }

    #[test]
    fn without_a_namespace_names_are_bare() {
        let names = Names::new("");
        assert_eq!(names.events(), "comptoir.events");
        assert_eq!(names.queue("inventory.order-events"), "inventory.order-events");
        assert_eq!(dead_queue("inventory.order-events"), "inventory.order-events.dead");
        assert_eq!(
            retry_queue("inventory.order-events", Duration::from_secs(5)),
            "inventory.order-events.retry.5000ms"
        );
    }
}
