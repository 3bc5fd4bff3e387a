//! Where Comptoir's events live on NATS, one function per name, so the bus, its tests and an
//! operator reading `nats stream ls` agree.
//!
//! | what | name (namespace `shop-a`) | name (no namespace) |
//! |---|---|---|
//! | domain event of type `order.checkout.completed` | subject `shop-a.events.order.checkout.completed` | `events.order.checkout.completed` |
//! | broadcast `system.config.updated` (core NATS, not stored) | subject `shop-a.system.config.updated` | `system.config.updated` |
//! | stream of domain events | `SHOP-A_COMPTOIR_EVENTS` (subjects `shop-a.events.>`) | `COMPTOIR_EVENTS` |
//! | dead letters of consumer `billing.invoices` | subject `shop-a.dead.billing.invoices` | `dead.billing.invoices` |
//! | stream of dead letters | `SHOP-A_COMPTOIR_DEAD` (subjects `shop-a.dead.>`) | `COMPTOIR_DEAD` |
//! | durable consumer of `inventory.order-events` | `shop-a_inventory_order-events` | `inventory_order-events` |
//!
//! Stream and consumer names may not contain `.`, `*`, `>`, whitespace or path separators: those
//! become `_` (and stream names are upper-cased). Two consumer names differing only there
//! (`a.b_c` and `a_b.c`) would share a durable consumer; Comptoir's `<module>.<purpose>` names do not.

/// The namespace's subject prefix: `"<namespace>."`, or nothing without a namespace.
pub fn subject_prefix(namespace: &str) -> String {
    if namespace.is_empty() { String::new() } else { format!("{namespace}.") }
}

/// The subject a domain event is published on: `<ns>events.<event type>`.
pub fn event_subject(namespace: &str, event_type: &str) -> String {
    format!("{}events.{event_type}", subject_prefix(namespace))
}

/// The subjects of the events stream: `<ns>events.>`.
pub fn events_subjects(namespace: &str) -> String {
    format!("{}events.>", subject_prefix(namespace))
}

/// The subject a broadcast (`system.*`) is published on: the namespace prefix and the event type.
pub fn broadcast_subject(namespace: &str, event_type: &str) -> String {
    format!("{}{event_type}", subject_prefix(namespace))
}

/// What broadcast consumers subscribe to: `<ns>system.>`.
pub fn broadcast_subjects(namespace: &str) -> String {
    format!("{}system.>", subject_prefix(namespace))
}

/// The subject of `consumer`'s dead letters: `<ns>dead.<consumer>`.
pub fn dead_letter_subject(namespace: &str, consumer: &str) -> String {
    let consumer: String = consumer.chars().map(|c| if is_name_safe(c) || c == '.' { c } else { '_' }).collect();
    format!("{}dead.{consumer}", subject_prefix(namespace))
}

/// The subjects of the dead-letter stream: `<ns>dead.>`.
pub fn dead_letter_subjects(namespace: &str) -> String {
    format!("{}dead.>", subject_prefix(namespace))
}

/// `COMPTOIR_EVENTS`, or `<NS>_COMPTOIR_EVENTS`.
pub fn events_stream(namespace: &str) -> String {
    stream_name(namespace, "COMPTOIR_EVENTS")
}

/// `COMPTOIR_DEAD`, or `<NS>_COMPTOIR_DEAD`.
pub fn dead_letter_stream(namespace: &str) -> String {
    stream_name(namespace, "COMPTOIR_DEAD")
}

/// The durable consumer of `consumer`: `<namespace>.<consumer>` with dots (and other characters
/// NATS refuses in names) replaced by `_`.
pub fn durable_name(namespace: &str, consumer: &str) -> String {
    let qualified = if namespace.is_empty() { consumer.to_string() } else { format!("{namespace}.{consumer}") };
    qualified.chars().map(|c| if is_name_safe(c) { c } else { '_' }).collect()
}

fn stream_name(namespace: &str, base: &str) -> String {
    if namespace.is_empty() {
        return base.to_string();
    }
    let namespace: String =
        namespace.chars().map(|c| if is_name_safe(c) { c.to_ascii_uppercase() } else { '_' }).collect();
    format!("{namespace}_{base}")
}

fn is_name_safe(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Whether `namespace` can prefix subjects: empty, or words of letters, digits, `-` and `_`
/// separated by dots.
pub fn is_valid_namespace(namespace: &str) -> bool {
    namespace.is_empty() || namespace.split('.').all(|word| !word.is_empty() && word.chars().all(is_name_safe))
}

/// The filter subject of a consumer's durable consumer: the narrowest single NATS subject filter
/// covering every event type its patterns match (nats-server 2.9 takes one filter per consumer).
///
/// `*` maps to `*`. `#` (zero or more words) has no exact NATS counterpart: `>` needs at least
/// one word, so `order.#`, which also matches `order`, is covered by `events.>`, and several
/// patterns are covered by their longest common prefix followed by `>`. The bus matches every
/// delivered event against the patterns and acknowledges, unhandled, those that do not match.
pub fn filter_subject(namespace: &str, patterns: &[String]) -> String {
    let filters: Vec<Vec<&str>> = patterns.iter().map(|p| covering_filter(p)).collect();
    let tokens = match filters.split_first() {
        None => vec![">"],
        Some((first, rest)) if rest.iter().all(|f| f == first) => first.clone(),
        Some(_) => common_covering(&filters),
    };
    format!("{}events.{}", subject_prefix(namespace), tokens.join("."))
}

/// Whether the filter of `patterns` delivers only the event types they match, so that no
/// delivery needs to be skipped (`product.item.*` yes, `order.#` no).
pub fn filter_is_exact(patterns: &[String]) -> bool {
    patterns.len() == 1 && !patterns[0].split('.').any(|w| w == "#")
}

/// The narrowest filter (in pattern words) covering every type `pattern` matches.
fn covering_filter(pattern: &str) -> Vec<&str> {
    let words: Vec<&str> = pattern.split('.').collect();
    let Some(hash) = words.iter().position(|w| *w == "#") else {
        return words;
    };
    let words_required_after = words[hash + 1..].iter().filter(|w| **w != "#").count();
    let kept = if words_required_after > 0 {
        // `a.#.b`: at least one word follows `a`.
        hash
    } else {
        // `a.b.#` also matches `a.b` itself: `a.>` covers both, `a.b.>` would not.
        hash.saturating_sub(1)
    };
    let mut filter = words[..kept].to_vec();
    filter.push(">");
    filter
}

/// The longest common prefix of `filters` followed by `>`, short enough that every filter's
/// subjects have a word where the `>` stands.
fn common_covering<'a>(filters: &[Vec<&'a str>]) -> Vec<&'a str> {
    let longest = filters.iter().map(Vec::len).min().unwrap_or(1).saturating_sub(1);
    let mut prefix = Vec::new();
    for i in 0..longest {
        let word = filters[0][i];
        if word == ">" || filters.iter().any(|f| f[i] != word) {
            break;
        }
        prefix.push(word);
    }
    prefix.push(">");
    prefix
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(patterns: &[&str]) -> String {
        filter_subject("", &patterns.iter().map(|p| p.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn names_follow_the_namespace() {
        assert_eq!(events_stream(""), "COMPTOIR_EVENTS");
        assert_eq!(events_stream("contract-ab12"), "CONTRACT-AB12_COMPTOIR_EVENTS");
        assert_eq!(dead_letter_stream("prod.eu"), "PROD_EU_COMPTOIR_DEAD");
        assert_eq!(event_subject("", "order.checkout.completed"), "events.order.checkout.completed");
        assert_eq!(event_subject("ns", "order.checkout.completed"), "ns.events.order.checkout.completed");
        assert_eq!(broadcast_subject("ns", "system.config.updated"), "ns.system.config.updated");
        assert_eq!(dead_letter_subject("ns", "billing.invoices"), "ns.dead.billing.invoices");
    }

    #[test]
    fn durable_names_have_no_dots() {
        assert_eq!(durable_name("", "inventory.order-events"), "inventory_order-events");
        assert_eq!(durable_name("shop-a", "inventory.order-events"), "shop-a_inventory_order-events");
        assert_eq!(durable_name("", "odd name*>"), "odd_name__");
    }

    #[test]
    fn namespaces_must_be_subject_words() {
        assert!(is_valid_namespace(""));
        assert!(is_valid_namespace("prod.eu-1"));
        assert!(!is_valid_namespace("prod..eu"));
        assert!(!is_valid_namespace("prod eu"));
        assert!(!is_valid_namespace("prod.*"));
    }

    #[test]
    fn patterns_without_hash_map_exactly() {
        assert_eq!(filter(&["product.item.*"]), "events.product.item.*");
        assert_eq!(filter(&["auth.user.registered"]), "events.auth.user.registered");
        assert_eq!(filter(&["*.item.created", "*.item.created"]), "events.*.item.created");
        assert!(filter_is_exact(&["product.item.*".to_string()]));
    }

    #[test]
    fn hash_is_covered_including_its_zero_words() {
        assert_eq!(filter(&["#"]), "events.>");
        assert_eq!(filter(&["order.#"]), "events.>");
        assert_eq!(filter(&["order.checkout.#"]), "events.order.>");
        assert_eq!(filter(&["order.#.completed"]), "events.order.>");
        assert_eq!(filter(&["#.completed"]), "events.>");
        assert!(!filter_is_exact(&["order.#".to_string()]));
    }

    #[test]
    fn several_patterns_share_their_common_prefix() {
        assert_eq!(filter(&["auth.user.registered", "inventory.stock.low"]), "events.>");
        assert_eq!(filter(&["order.checkout.completed", "order.checkout.failed"]), "events.order.checkout.>");
        assert_eq!(filter(&["order.checkout", "order.checkout.#"]), "events.order.>");
        assert!(!filter_is_exact(&["a.b.c".to_string(), "a.b.d".to_string()]));
    }

    #[test]
    fn every_filter_covers_what_its_patterns_match() {
        let cases: &[&[&str]] = &[
            &["order.#"],
            &["order.checkout.#"],
            &["order.#.completed"],
            &["product.item.*", "order.checkout.completed"],
            &["a.b.c", "a.b.c.#"],
        ];
        let types = [
            "order",
            "order.completed",
            "order.checkout",
            "order.checkout.completed",
            "order.checkout.step.completed",
            "product.item.created",
            "a.b.c",
            "a.b.c.d",
        ];
        for patterns in cases {
            let subject_filter = filter(patterns);
            for t in types {
                if patterns.iter().any(|p| comptoir_eventbus::pattern::matches(p, t)) {
                    assert!(
                        nats_matches(&subject_filter, &event_subject("", t)),
                        "{patterns:?} match {t} but filter {subject_filter} misses it"
                    );
                }
            }
        }
    }

    fn nats_matches(filter: &str, subject: &str) -> bool {
        let f: Vec<&str> = filter.split('.').collect();
        let s: Vec<&str> = subject.split('.').collect();
        for (i, word) in f.iter().enumerate() {
            match *word {
                ">" => return s.len() > i,
                "*" if i < s.len() => {}
                w if i < s.len() && s[i] == w => {}
                _ => return false,
            }
        }
        f.len() == s.len()
    }
}
