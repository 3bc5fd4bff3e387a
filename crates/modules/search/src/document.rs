//! What search keeps of a product: enough to index it, show it in a list and facet it, taken from
//! the catalog's product as it is now.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use comptoir_contracts::catalog::{Product, ProductStatus};
use comptoir_kernel::Money;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductDocument {
    pub product_id: Uuid,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub seller_id: Uuid,
    pub category_ids: Vec<Uuid>,
    /// The product's attributes and its variants' option values, name → values.
    pub attributes: BTreeMap<String, BTreeSet<String>>,
    pub skus: Vec<String>,
    /// The lowest variant price in the indexed channel.
    pub price: Option<Money>,
    pub created_at: DateTime<Utc>,
}

impl ProductDocument {
    /// The product as the storefront may find it, or `None` when it must not appear (a draft).
    pub fn of(product: &Product, channel: &str) -> Option<ProductDocument> {
        if product.status != ProductStatus::Published {
            return None;
        }
        let mut attributes: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let options = product.variants.iter().flat_map(|v| v.options.iter());
        for (name, value) in product.attributes.iter().chain(options) {
            if !name.trim().is_empty() && !value.trim().is_empty() {
                attributes.entry(name.trim().to_lowercase()).or_default().insert(value.trim().to_string());
            }
        }
        let price = product
            .variants
            .iter()
            .flat_map(|v| v.prices.iter().filter(|p| p.channel == channel).map(|p| p.price))
            .min_by_key(|price| price.amount);
        Some(ProductDocument {
            product_id: product.id,
            slug: product.slug.clone(),
            name: product.name.clone(),
            description: product.description.clone(),
            seller_id: product.seller_id,
            category_ids: product.category_ids.clone(),
            attributes,
            skus: product.variants.iter().map(|v| v.sku.clone()).collect(),
            price,
            created_at: product.created_at,
        })
    }

    /// The first sentence of the description, cut at a word near 160 characters.
    pub fn summary(&self) -> String {
        const LIMIT: usize = 160;
        let text = self.description.split_whitespace().collect::<Vec<_>>().join(" ");
        let sentence = match text.find(". ") {
            Some(end) => &text[..=end],
            None => text.as_str(),
        };
        if sentence.chars().count() <= LIMIT {
            return sentence.to_string();
        }
        let cut: String = sentence.chars().take(LIMIT).collect();
        match cut.rfind(' ') {
            Some(space) => format!("{}…", &cut[..space]),
            None => format!("{cut}…"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_is_the_first_sentence_cut_at_a_word() {
        let mut doc = ProductDocument {
            product_id: Uuid::nil(),
            slug: "s".into(),
            name: "n".into(),
            description: "Warm merino.  Knitted in Lyon.".into(),
            seller_id: Uuid::nil(),
            category_ids: vec![],
            attributes: BTreeMap::new(),
            skus: vec![],
            price: None,
            created_at: Utc::now(),
        };
        assert_eq!(doc.summary(), "Warm merino.");
        doc.description = "word ".repeat(60);
        let summary = doc.summary();
        assert!(summary.ends_with("word…") && summary.chars().count() <= 161, "{summary}");
    }
}
