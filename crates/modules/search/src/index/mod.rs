//! The in-memory tantivy index: built from the module's tables, kept up to date change by change,
//! and queried by the port. Everything here is synchronous CPU work.

mod prices;
mod query;
pub mod schema;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, RwLock};

use comptoir_kernel::{Error, Result};
use tantivy::schema::Facet;
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};
use uuid::Uuid;

use crate::document::ProductDocument;
use schema::Fields;

/// A category as search names it and files products under it.
#[derive(Debug, Clone)]
pub struct CategoryLabel {
    pub id: Uuid,
    pub parent_id: Option<Uuid>,
    pub slug: String,
    pub name: String,
    pub position: i64,
}

/// The names facets are shown with, and the facet paths of categories.
#[derive(Debug, Default)]
pub struct Labels {
    categories: HashMap<Uuid, CategoryLabel>,
    by_slug: HashMap<String, Uuid>,
    /// Each category's name as suggestions compare it (folded, lowercased words).
    folded: HashMap<Uuid, String>,
    sellers: HashMap<Uuid, String>,
    /// Every attribute name a product has had: each gets a facet.
    attributes: BTreeSet<String>,
}

impl Labels {
    pub fn new(categories: Vec<CategoryLabel>, sellers: HashMap<Uuid, String>) -> Labels {
        let mut words = schema::words_analyzer();
        let folded = categories.iter().map(|c| (c.id, schema::terms(&mut words, &c.name).join(" "))).collect();
        let by_slug = categories.iter().map(|c| (c.slug.clone(), c.id)).collect();
        let categories = categories.into_iter().map(|c| (c.id, c)).collect();
        Labels { categories, by_slug, folded, sellers, attributes: BTreeSet::new() }
    }

    /// `/category/<root slug>/…/<slug>`, or `None` for an unknown category or a broken tree.
    fn category_facet(&self, id: Uuid) -> Option<Facet> {
        let mut slugs = Vec::new();
        let mut next = Some(id);
        while let Some(id) = next {
            let category = self.categories.get(&id)?;
            if slugs.len() > 32 {
                return None; // a cycle: no facet rather than a hang
            }
            slugs.push(category.slug.as_str());
            next = category.parent_id;
        }
        slugs.push("category");
        slugs.reverse();
        Some(Facet::from_path(slugs))
    }

    fn category_by_slug(&self, slug: &str) -> Option<&CategoryLabel> {
        self.by_slug.get(slug).and_then(|id| self.categories.get(id))
    }

    pub fn categories(&self) -> impl Iterator<Item = &CategoryLabel> {
        self.categories.values()
    }
}

/// One row of the store, as the index applies it.
#[derive(Debug)]
pub struct Change {
    pub product_id: Uuid,
    pub seq: i64,
    /// `None`: the product must no longer be found.
    pub document: Option<(ProductDocument, bool)>,
}

pub struct SearchIndex {
    /// Built once: the stop-word list and stemmer are not rebuilt for every query.
    text: TextAnalyzer,
    words: TextAnalyzer,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
    labels: RwLock<Labels>,
}

/// Heap for the single indexing thread; tantivy asks for at least 15 MB.
const WRITER_HEAP: usize = 32 * 1024 * 1024;

impl SearchIndex {
    pub fn new() -> Result<SearchIndex> {
        let (index, fields) = schema::in_memory();
        let writer = index.writer_with_num_threads(1, WRITER_HEAP).map_err(internal)?;
        // Reloaded by hand after each commit, so that a change is searchable once applied.
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into().map_err(internal)?;
        Ok(SearchIndex {
            text: schema::text_analyzer(),
            words: schema::words_analyzer(),
            reader,
            writer: Mutex::new(writer),
            fields,
            labels: RwLock::new(Labels::default()),
        })
    }

    pub fn set_labels(&self, mut labels: Labels) {
        let mut current = self.labels.write().unwrap_or_else(|e| e.into_inner());
        labels.attributes = std::mem::take(&mut current.attributes);
        *current = labels;
    }

    /// Replaces or removes each changed product, then makes the changes searchable.
    pub fn apply(&self, changes: &[Change]) -> Result<()> {
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let mut labels = self.labels.write().unwrap_or_else(|e| e.into_inner());
        for change in changes {
            writer.delete_term(Term::from_field_text(self.fields.product_id, &change.product_id.to_string()));
            if let Some((document, in_stock)) = &change.document {
                labels.attributes.extend(document.attributes.keys().cloned());
                writer.add_document(self.to_tantivy(document, *in_stock, &labels)).map_err(internal)?;
            }
        }
        drop(labels);
        writer.commit().map_err(internal)?;
        self.reader.reload().map_err(internal)
    }

    pub fn documents(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    fn to_tantivy(&self, doc: &ProductDocument, in_stock: bool, labels: &Labels) -> TantivyDocument {
        let f = &self.fields;
        let mut out = TantivyDocument::new();
        out.add_text(f.product_id, doc.product_id.to_string());
        out.add_text(f.slug, &doc.slug);
        out.add_text(f.name, &doc.name);
        out.add_text(f.name_words, &doc.name);
        out.add_text(f.name_sort, doc.name.to_lowercase());
        out.add_text(f.summary, doc.summary());
        out.add_text(f.description, &doc.description);
        out.add_text(f.seller_id, doc.seller_id.to_string());
        for sku in &doc.skus {
            out.add_text(f.sku, sku);
        }
        let mut keywords = Vec::new();
        for category in doc.category_ids.iter().filter_map(|id| labels.categories.get(id)) {
            keywords.push(category.name.clone());
        }
        for id in &doc.category_ids {
            if let Some(facet) = labels.category_facet(*id) {
                out.add_facet(f.facets, facet);
            }
        }
        for (name, values) in &doc.attributes {
            for value in values {
                keywords.push(value.clone());
                out.add_facet(f.facets, Facet::from_path(["attr", name.as_str(), value.as_str()]));
            }
        }
        if let Some(seller) = labels.sellers.get(&doc.seller_id) {
            keywords.push(seller.clone());
        }
        out.add_text(f.keywords, keywords.join(" · "));
        out.add_facet(f.facets, Facet::from_path(["seller", doc.seller_id.to_string().as_str()]));
        out.add_facet(f.facets, Facet::from_path(["stock", availability(in_stock)]));
        match doc.price {
            Some(price) => {
                out.add_u64(f.price, price.amount.max(0) as u64);
                out.add_text(f.currency, price.currency.code());
            }
            None => out.add_u64(f.price, u64::MAX),
        }
        out.add_u64(f.in_stock, in_stock as u64);
        out.add_i64(f.created, doc.created_at.timestamp_micros());
        out
    }
}

pub(crate) fn availability(in_stock: bool) -> &'static str {
    match in_stock {
        true => "in_stock",
        false => "out_of_stock",
    }
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::internal(format!("search index: {e}"))
}
