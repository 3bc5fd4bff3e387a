//! The tantivy schema and the analyzers that turn text into terms.

use tantivy::Index;
use tantivy::schema::{
    FAST, FacetOptions, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RawTokenizer, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter,
    TextAnalyzer,
};

/// Words folded to ASCII, lowercased, English stop words dropped and stemmed: `Sweaters` → `sweater`.
pub const TEXT: &str = "comptoir_text";
/// Words folded and lowercased but whole, for matching the start of what is being typed.
pub const WORDS: &str = "comptoir_words";
/// A SKU as one lowercased term.
pub const SKU: &str = "comptoir_sku";

#[derive(Clone, Copy)]
pub struct Fields {
    pub product_id: Field,
    pub slug: Field,
    pub name: Field,
    pub name_words: Field,
    pub name_sort: Field,
    pub summary: Field,
    pub description: Field,
    /// Category names, attribute values and the seller's name: matched with a lower weight.
    pub keywords: Field,
    pub sku: Field,
    pub seller_id: Field,
    /// `/category/<slug>/<slug>…`, `/attr/<name>/<value>`, `/seller/<id>`, `/stock/<in_stock|out_of_stock>`.
    pub facets: Field,
    /// Minor units; `u64::MAX` when the product has no price in the indexed channel.
    pub price: Field,
    pub currency: Field,
    /// 1 when a variant is available to sell.
    pub in_stock: Field,
    pub created: Field,
}

impl Fields {
    pub fn schema() -> (Schema, Fields) {
        let mut builder = Schema::builder();
        let text = |analyzer: &str, record: IndexRecordOption| {
            TextOptions::default()
                .set_indexing_options(TextFieldIndexing::default().set_tokenizer(analyzer).set_index_option(record))
        };
        let fields = Fields {
            product_id: builder.add_text_field("product_id", STRING | STORED),
            slug: builder.add_text_field("slug", STORED),
            name: builder.add_text_field("name", text(TEXT, IndexRecordOption::WithFreqsAndPositions).set_stored()),
            name_words: builder.add_text_field("name_words", text(WORDS, IndexRecordOption::Basic)),
            name_sort: builder.add_text_field("name_sort", TextOptions::default().set_fast("raw")),
            summary: builder.add_text_field("summary", STORED),
            description: builder.add_text_field("description", text(TEXT, IndexRecordOption::WithFreqs).set_stored()),
            keywords: builder.add_text_field("keywords", text(TEXT, IndexRecordOption::WithFreqs).set_stored()),
            sku: builder.add_text_field("sku", text(SKU, IndexRecordOption::Basic)),
            seller_id: builder.add_text_field("seller_id", STORED),
            facets: builder.add_facet_field("facets", FacetOptions::default().set_stored()),
            price: builder.add_u64_field("price", INDEXED | FAST | STORED),
            currency: builder.add_text_field("currency", STORED),
            in_stock: builder.add_u64_field("in_stock", FAST | STORED),
            created: builder.add_i64_field("created", FAST),
        };
        (builder.build(), fields)
    }
}

/// An in-memory index with Comptoir's analyzers registered.
pub fn in_memory() -> (Index, Fields) {
    let (schema, fields) = Fields::schema();
    let index = Index::create_in_ram(schema);
    let manager = index.tokenizers();
    manager.register(TEXT, text_analyzer());
    manager.register(WORDS, words_analyzer());
    manager.register(SKU, TextAnalyzer::builder(RawTokenizer::default()).filter(LowerCaser).build());
    (index, fields)
}

pub fn text_analyzer() -> TextAnalyzer {
    let builder = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter);
    match StopWordFilter::new(Language::English) {
        Some(stop_words) => builder.filter(stop_words).filter(Stemmer::new(Language::English)).build(),
        None => builder.filter(Stemmer::new(Language::English)).build(),
    }
}

pub fn words_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// The terms an analyzer makes of `text`, in order.
pub fn terms(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut stream = analyzer.token_stream(text);
    let mut terms = Vec::new();
    while stream.advance() {
        terms.push(stream.token().text.clone());
    }
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_folded_stemmed_and_rid_of_stop_words() {
        assert_eq!(terms(&mut text_analyzer(), "The Crème Sweaters of Lyon"), ["creme", "sweater", "lyon"]);
        assert_eq!(terms(&mut words_analyzer(), "Running Shoes"), ["running", "shoes"]);
    }
}
