//! Names of the broker objects: one topic per domain (`comptoir.order`), the system topic for
//! broadcasts, a retry and a dead-letter topic per consumer, and the consumer groups — all
//! prefixed by the namespace so that deployments (and parallel tests) sharing a cluster never
//! see each other's messages.

use comptoir_eventbus::is_broadcast;
use comptoir_kernel::{Error, Result};
use uuid::Uuid;

/// The domain whose topic carries broadcasts (`system.*` events).
const SYSTEM_DOMAIN: &str = "system";

#[derive(Debug, Clone)]
pub(crate) struct Names {
    /// `"<namespace>."`, or empty without a namespace.
    prefix: String,
}

/// The topics a durable consumer reads: the domain topics its patterns can match, named one by
/// one, plus a regular expression covering every domain topic when a pattern starts with a
/// wildcard (`#`, `*.item.created`), plus its own retry topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Subscription {
    /// Topics that must exist before subscribing (the consumer creates them).
    pub topics: Vec<String>,
    /// `^<ns>comptoir\.[a-z0-9_]+$`, when the consumer may receive events of any domain.
    pub every_domain: Option<String>,
}

impl Subscription {
    /// What to hand to the Kafka consumer's `subscribe`.
    pub fn patterns(&self) -> Vec<&str> {
        self.topics.iter().map(String::as_str).chain(self.every_domain.as_deref()).collect()
    }
}

impl Names {
    pub fn new(namespace: &str) -> Names {
        let prefix = if namespace.is_empty() { String::new() } else { format!("{namespace}.") };
        Names { prefix }
    }

    /// The topic carrying events of `event_type`: its domain's topic, or the system topic.
    pub fn topic_for(&self, event_type: &str) -> Result<String> {
        let domain = event_type.split('.').next().unwrap_or_default();
        if !is_domain(domain) {
            return Err(Error::internal(format!(
                "event type {event_type:?} has no domain that can name a Kafka topic (lowercase letters, digits, _)"
            )));
        }
        Ok(self.domain_topic(domain))
    }

    pub fn domain_topic(&self, domain: &str) -> String {
        format!("{}comptoir.{domain}", self.prefix)
    }

    pub fn system_topic(&self) -> String {
        self.domain_topic(SYSTEM_DOMAIN)
    }

    pub fn retry_topic(&self, consumer: &str) -> String {
        format!("{}comptoir.retry.{consumer}", self.prefix)
    }

    pub fn dead_letter_topic(&self, consumer: &str) -> String {
        format!("{}comptoir.dead-letter.{consumer}", self.prefix)
    }

    /// The consumer group shared by every instance of a durable consumer.
    pub fn group(&self, consumer: &str) -> String {
        format!("{}{consumer}", self.prefix)
    }

    /// A group of its own for one instance's broadcast consumer.
    pub fn broadcast_group(&self, consumer: &str, instance: Uuid) -> String {
        format!("{}{consumer}.{}", self.prefix, instance.simple())
    }

    /// A regular expression matching every domain topic of this namespace (and the system
    /// topic, whose events the consumer filters out), but no retry or dead-letter topic.
    fn every_domain_regex(&self) -> String {
        format!("^{}comptoir\\.[a-z0-9_]+$", escape_regex(&self.prefix))
    }

    /// What the durable (non-broadcast) consumer `consumer` with `patterns` subscribes to.
    pub fn subscription(&self, consumer: &str, patterns: &[String]) -> Subscription {
        let mut topics = vec![self.retry_topic(consumer)];
        let mut every_domain = None;
        for pattern in patterns {
            match pattern.split('.').next().unwrap_or_default() {
                "#" | "*" => every_domain = Some(self.every_domain_regex()),
                // Durable consumers never receive broadcasts.
                domain if is_broadcast(&format!("{domain}.")) => {}
                domain => {
                    let topic = self.domain_topic(domain);
                    if !topics.contains(&topic) {
                        topics.push(topic);
                    }
                }
            }
        }
        Subscription { topics, every_domain }
    }
}

/// Whether `word` can be an event type's first word (and so part of a topic name).
fn is_domain(word: &str) -> bool {
    !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Escapes the characters a POSIX extended regular expression would interpret.
fn escape_regex(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if "\\^$.|?*+()[]{}".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(list: &[&str]) -> Vec<String> {
        list.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn a_namespace_prefixes_every_name() {
        let names = Names::new("test-1");
        assert_eq!(names.topic_for("order.checkout.completed").unwrap(), "test-1.comptoir.order");
        assert_eq!(names.system_topic(), "test-1.comptoir.system");
        assert_eq!(names.retry_topic("billing.orders"), "test-1.comptoir.retry.billing.orders");
        assert_eq!(names.dead_letter_topic("billing.orders"), "test-1.comptoir.dead-letter.billing.orders");
        assert_eq!(names.group("billing.orders"), "test-1.billing.orders");
        let bare = Names::new("");
        assert_eq!(bare.topic_for("order.checkout.completed").unwrap(), "comptoir.order");
        assert_eq!(bare.group("billing.orders"), "billing.orders");
    }

    #[test]
    fn literal_first_words_name_their_domain_topics() {
        let names = Names::new("ns");
        let sub = names.subscription("sink.two", &patterns(&["auth.user.registered", "auth.#", "inventory.stock.low"]));
        assert_eq!(sub.topics, ["ns.comptoir.retry.sink.two", "ns.comptoir.auth", "ns.comptoir.inventory"]);
        assert_eq!(sub.every_domain, None);
    }

    #[test]
    fn a_leading_wildcard_subscribes_to_every_domain_topic_but_no_retry_or_dead_letter_topic() {
        let names = Names::new("contract-1.a");
        let sub = names.subscription("sink.all", &patterns(&["#"]));
        let regex = sub.every_domain.clone().unwrap();
        assert_eq!(regex, r"^contract-1\.a\.comptoir\.[a-z0-9_]+$");
        assert_eq!(sub.patterns(), ["contract-1.a.comptoir.retry.sink.all", regex.as_str()]);
        assert!(names.subscription("x.y", &patterns(&["*.item.created"])).every_domain.is_some());
    }

    #[test]
    fn durable_consumers_do_not_subscribe_to_the_system_topic() {
        let sub = Names::new("").subscription("sink.sys", &patterns(&["system.#"]));
        assert_eq!(sub.topics, ["comptoir.retry.sink.sys"]);
    }

    #[test]
    fn an_event_type_without_a_usable_domain_is_refused() {
        assert!(Names::new("").topic_for("Order.x.y").is_err());
        assert!(Names::new("").topic_for(".x.y").is_err());
    }
}
