//! Topic patterns with AMQP semantics: words separated by dots, `*` matches exactly one word and
//! `#` matches zero or more words. `product.item.*` matches `product.item.created`; `#` matches all.

/// Whether `event_type` matches `pattern`.
pub fn matches(pattern: &str, event_type: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('.').collect();
    let words: Vec<&str> = event_type.split('.').collect();
    match_words(&pattern, &words)
}

fn match_words(pattern: &[&str], words: &[&str]) -> bool {
    match pattern.split_first() {
        None => words.is_empty(),
        Some((&"#", rest)) => (0..=words.len()).any(|skip| match_words(rest, &words[skip..])),
        Some((&head, rest)) => match words.split_first() {
            Some((&word, remaining)) => (head == "*" || head == word) && match_words(rest, remaining),
            None => false,
        },
    }
}

/// Whether a pattern is well formed: non-empty words, `*` and `#` only as whole words.
pub fn is_valid(pattern: &str) -> bool {
    pattern.split('.').all(|w| {
        !w.is_empty()
            && (w == "*" || w == "#" || w.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'))
    })
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn star_matches_exactly_one_word() {
        assert!(matches("product.item.*", "product.item.created"));
        assert!(!matches("product.item.*", "product.item"));
        assert!(!matches("product.item.*", "product.item.created.again"));
        assert!(matches("*.item.created", "product.item.created"));
    }

    #[test]
    fn hash_matches_zero_or_more_words() {
        assert!(matches("#", "order.checkout.completed"));
        assert!(matches("order.#", "order.checkout.completed"));
        assert!(matches("order.#", "order"));
        assert!(matches("#.completed", "order.checkout.completed"));
        assert!(matches("order.#.completed", "order.completed"));
        assert!(!matches("order.#", "payment.charge.succeeded"));
    }

    #[test]
    fn literal_patterns_match_only_themselves() {
        assert!(matches("auth.user.registered", "auth.user.registered"));
        assert!(!matches("auth.user.registered", "auth.user.deleted"));
    }

    #[test]
    fn validity() {
        assert!(super::is_valid("product.item.*"));
        assert!(super::is_valid("#"));
        assert!(!super::is_valid("product..item"));
        assert!(!super::is_valid("product.it*"));
    }
}
