//! Answering queries: the words (exact, misspelt or, for the last one, begun), the filters, the
//! sort, and the facet counts over the hits, in one pass over the matching documents.

use std::collections::BTreeSet;
use std::ops::Bound;

use comptoir_contracts::search::{
    FacetValue, Facets, SearchHit, SearchQuery, SearchResults, SearchSort, Suggestion, SuggestionKind,
};
use comptoir_kernel::{Currency, Money, Result};
use tantivy::collector::{Count, FacetCollector, FacetCounts, TopDocs};
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, EmptyQuery, FuzzyTermQuery, Occur, Query, RangeQuery,
    TermQuery,
};
use tantivy::schema::{Facet, IndexRecordOption, Value};
use tantivy::{DocAddress, Order, Searcher, TantivyDocument, Term};
use uuid::Uuid;

use super::prices::PriceRanges;
use super::schema::{self, Fields};
use super::{Labels, SearchIndex, availability, internal};

type Boxed = Box<dyn Query>;

/// How many letters a word may be off by and still match: none below 4 letters, one up to 7, then two.
fn typo_budget(term: &str) -> u8 {
    match term.chars().count() {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

fn term_query(term: Term, boost: f32) -> Boxed {
    Box::new(BoostQuery::new(Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)), boost))
}

fn filter(query: Boxed) -> (Occur, Boxed) {
    (Occur::Must, Box::new(ConstScoreQuery::new(query, 0.0)))
}

impl SearchIndex {
    pub fn search(&self, request: &SearchQuery) -> Result<SearchResults> {
        let labels = self.labels.read().unwrap_or_else(|e| e.into_inner());
        let f = &self.fields;
        let words = self.words_query(&request.q);
        let has_words = words.is_some();
        let mut clauses: Vec<(Occur, Boxed)> = vec![(Occur::Must, words.unwrap_or_else(|| Box::new(AllQuery)))];
        let mut category_facet = Facet::from("/category");
        if let Some(slug) = request.category.as_deref().filter(|s| !s.is_empty()) {
            match labels.category_by_slug(slug).and_then(|c| labels.category_facet(c.id)) {
                Some(facet) => {
                    clauses.push(filter(Box::new(TermQuery::new(
                        Term::from_facet(f.facets, &facet),
                        IndexRecordOption::Basic,
                    ))));
                    category_facet = facet;
                }
                // An unknown category holds no products.
                None => clauses.push((Occur::Must, Box::new(EmptyQuery))),
            }
        }
        if let Some(seller) = request.seller_id {
            clauses.push(filter(facet_term(f, &["seller", &seller.to_string()])));
        }
        for (name, values) in &request.attributes {
            let name = name.trim().to_lowercase();
            let any: Vec<(Occur, Boxed)> = values
                .iter()
                .filter(|v| !v.trim().is_empty())
                .map(|value| (Occur::Should, facet_term(f, &["attr", &name, value.trim()])))
                .collect();
            if !any.is_empty() {
                clauses.push(filter(Box::new(BooleanQuery::new(any))));
            }
        }
        if request.in_stock {
            clauses.push(filter(facet_term(f, &["stock", availability(true)])));
        }
        if request.price_min.is_some() || request.price_max.is_some() {
            let bound = |amount: Option<i64>| match amount {
                Some(amount) => Bound::Included(Term::from_field_u64(f.price, amount as u64)),
                None => Bound::Unbounded,
            };
            // Products without a price (u64::MAX) stay out of any price filter.
            let upper = match request.price_max {
                Some(_) => bound(request.price_max),
                None => Bound::Excluded(Term::from_field_u64(f.price, u64::MAX)),
            };
            clauses.push(filter(Box::new(RangeQuery::new(bound(request.price_min), upper))));
        }
        let query = BooleanQuery::new(clauses);

        let mut facets = FacetCollector::for_field("facets");
        facets.add_facet(category_facet.clone());
        facets.add_facet("/seller");
        facets.add_facet("/stock");
        for name in &labels.attributes {
            facets.add_facet(Facet::from_path(["attr", name.as_str()]));
        }
        let searcher = self.reader.searcher();
        let per_page = request.per_page as usize;
        let top = TopDocs::with_limit(per_page).and_offset((request.page as usize - 1) * per_page);
        let sort = match (request.sort, has_words) {
            (SearchSort::Relevance, false) => SearchSort::Newest,
            (sort, _) => sort,
        };
        let collectors = (Count, facets, PriceRanges);
        let (ranked, (total, facet_counts, price_ranges)): (Vec<(f32, DocAddress)>, _) = match sort {
            SearchSort::Relevance => {
                let (top, rest) = searcher.search(&query, &(top.order_by_score(), collectors)).map_err(internal)?;
                (top, rest)
            }
            SearchSort::PriceAsc | SearchSort::PriceDesc => {
                let order = if sort == SearchSort::PriceAsc { Order::Asc } else { Order::Desc };
                let (top, rest) = searcher
                    .search(&query, &(top.order_by_fast_field::<u64>("price", order), collectors))
                    .map_err(internal)?;
                (top.into_iter().map(|(_, doc)| (0.0, doc)).collect(), rest)
            }
            SearchSort::Newest => {
                let (top, rest) = searcher
                    .search(&query, &(top.order_by_fast_field::<i64>("created", Order::Desc), collectors))
                    .map_err(internal)?;
                (top.into_iter().map(|(_, doc)| (0.0, doc)).collect(), rest)
            }
            SearchSort::Name => {
                let (top, rest) = searcher
                    .search(&query, &(top.order_by_string_fast_field("name_sort", Order::Asc), collectors))
                    .map_err(internal)?;
                (top.into_iter().map(|(_, doc)| (0.0, doc)).collect(), rest)
            }
        };
        let hits =
            ranked.into_iter().map(|(score, address)| self.hit(&searcher, address, score)).collect::<Result<_>>()?;
        Ok(SearchResults {
            hits,
            total: total as u64,
            page: request.page,
            per_page: request.per_page,
            facets: facets_of(&facet_counts, &category_facet, &labels, price_ranges),
        })
    }

    /// Every word must match the name, the description or the keywords: exactly (best), misspelt
    /// within the typo budget, or — the last word, still being typed — by its beginning. A whole
    /// SKU matches on its own.
    fn words_query(&self, q: &str) -> Option<Boxed> {
        let f = &self.fields;
        let terms = schema::terms(&mut self.text.clone(), q);
        let sku = q.trim().to_lowercase();
        if terms.is_empty() && sku.is_empty() {
            return None;
        }
        let last = terms.len().saturating_sub(1);
        let per_word: Vec<(Occur, Boxed)> = terms
            .iter()
            .enumerate()
            .map(|(i, term)| {
                let mut any: Vec<(Occur, Boxed)> = vec![
                    (Occur::Should, term_query(Term::from_field_text(f.name, term), 3.0)),
                    (Occur::Should, term_query(Term::from_field_text(f.keywords, term), 1.5)),
                    (Occur::Should, term_query(Term::from_field_text(f.description, term), 1.0)),
                ];
                let budget = typo_budget(term);
                if budget > 0 {
                    for (field, boost) in [(f.name, 1.0), (f.keywords, 0.5), (f.description, 0.3)] {
                        let fuzzy = FuzzyTermQuery::new(Term::from_field_text(field, term), budget, true);
                        any.push((Occur::Should, Box::new(BoostQuery::new(Box::new(fuzzy), boost))));
                    }
                }
                if i == last && term.chars().count() >= 3 {
                    let begun = FuzzyTermQuery::new_prefix(Term::from_field_text(f.name, term), 0, true);
                    any.push((Occur::Should, Box::new(BoostQuery::new(Box::new(begun), 0.8))));
                }
                (Occur::Must, Box::new(BooleanQuery::new(any)) as Boxed)
            })
            .collect();
        let mut either: Vec<(Occur, Boxed)> =
            vec![(Occur::Should, term_query(Term::from_field_text(f.sku, &sku), 20.0))];
        if !per_word.is_empty() {
            either.push((Occur::Should, Box::new(BooleanQuery::new(per_word))));
        }
        Some(Box::new(BooleanQuery::new(either)))
    }

    fn hit(&self, searcher: &Searcher, address: DocAddress, score: f32) -> Result<SearchHit> {
        let f = &self.fields;
        let doc: TantivyDocument = searcher.doc(address).map_err(internal)?;
        let text = |field| doc.get_first(field).and_then(|v| v.as_str()).unwrap_or_default().to_string();
        let number = |field| doc.get_first(field).and_then(|v| v.as_u64()).unwrap_or_default();
        let id = |field| Uuid::parse_str(&text(field)).map_err(|e| internal(format!("stored id: {e}")));
        let price = match number(f.price) {
            u64::MAX => None,
            amount => text(f.currency).parse::<Currency>().ok().map(|currency| Money::new(amount as i64, currency)),
        };
        Ok(SearchHit {
            product_id: id(f.product_id)?,
            slug: text(f.slug),
            name: text(f.name),
            summary: text(f.summary),
            seller_id: id(f.seller_id)?,
            price,
            in_stock: number(f.in_stock) == 1,
            score,
        })
    }

    /// Product names whose words begin like the typed text, then categories whose name does.
    pub fn suggest(&self, prefix: &str, limit: usize) -> Result<Vec<Suggestion>> {
        let f = &self.fields;
        let words = schema::terms(&mut self.words.clone(), prefix);
        let Some((last, before)) = words.split_last() else { return Ok(Vec::new()) };
        let mut clauses: Vec<(Occur, Boxed)> = before
            .iter()
            .map(|word| {
                let typo = FuzzyTermQuery::new(Term::from_field_text(f.name_words, word), typo_budget(word), true);
                (Occur::Must, Box::new(typo) as Boxed)
            })
            .collect();
        let begun = FuzzyTermQuery::new_prefix(Term::from_field_text(f.name_words, last), 0, true);
        clauses.push((Occur::Must, Box::new(begun)));
        let searcher = self.reader.searcher();
        let top = searcher
            .search(
                &BooleanQuery::new(clauses),
                &TopDocs::with_limit(limit).order_by_fast_field::<i64>("created", Order::Desc),
            )
            .map_err(internal)?;
        let mut suggestions = Vec::new();
        let labels = self.labels.read().unwrap_or_else(|e| e.into_inner());
        let typed = words.join(" ");
        let mut categories: Vec<_> = labels
            .categories()
            .filter(|c| {
                let name = labels.folded.get(&c.id).map(String::as_str).unwrap_or_default();
                name.starts_with(&typed) || name.split(' ').any(|w| w.starts_with(&typed))
            })
            .collect();
        categories.sort_by(|a, b| a.name.cmp(&b.name));
        for (_, address) in top {
            let hit = self.hit(&searcher, address, 0.0)?;
            suggestions.push(Suggestion { kind: SuggestionKind::Product, label: hit.name, slug: hit.slug });
        }
        for category in categories {
            suggestions.push(Suggestion {
                kind: SuggestionKind::Category,
                label: category.name.clone(),
                slug: category.slug.clone(),
            });
        }
        // Products first, but always room for one category when there is one.
        if suggestions.len() > limit {
            let first_category = suggestions.iter().position(|s| s.kind == SuggestionKind::Category);
            if let Some(i) = first_category.filter(|i| *i >= limit && limit > 0) {
                suggestions.swap(limit - 1, i);
            }
            suggestions.truncate(limit);
        }
        Ok(suggestions)
    }

    /// Products sharing words, categories and attribute values with this one.
    pub fn similar(&self, product_id: Uuid, limit: usize) -> Result<Vec<SearchHit>> {
        let f = &self.fields;
        let searcher = self.reader.searcher();
        let id_term = Term::from_field_text(f.product_id, &product_id.to_string());
        let found = searcher
            .search(
                &TermQuery::new(id_term.clone(), IndexRecordOption::Basic),
                &TopDocs::with_limit(1).order_by_score(),
            )
            .map_err(internal)?;
        let Some((_, address)) = found.into_iter().next() else { return Ok(Vec::new()) };
        let source: TantivyDocument = searcher.doc(address).map_err(internal)?;
        // Its words (name and keywords) and, below, its categories and attribute values. Not
        // tantivy's MoreLikeThisQuery: its idf counts deleted documents and panics once updates
        // have left some in a segment.
        let stored = |field| source.get_first(field).and_then(|v| v.as_str()).unwrap_or_default().to_string();
        let text = format!("{} {}", stored(f.name), stored(f.keywords));
        let words: BTreeSet<String> = schema::terms(&mut self.text.clone(), &text).into_iter().collect();
        let mut clauses: Vec<(Occur, Boxed)> =
            vec![(Occur::MustNot, Box::new(TermQuery::new(id_term, IndexRecordOption::Basic)))];
        for word in &words {
            clauses.push((Occur::Should, term_query(Term::from_field_text(f.name, word), 1.5)));
            clauses.push((Occur::Should, term_query(Term::from_field_text(f.keywords, word), 1.0)));
        }
        // Same category or attribute values weigh in, the seller and stock facets do not.
        let shared = source
            .get_all(f.facets)
            .filter_map(|v| v.as_facet().and_then(|encoded| Facet::from_encoded(encoded.as_bytes().to_vec()).ok()))
            .filter(|facet| facet.to_path().first().is_some_and(|root| *root == "category" || *root == "attr"));
        for facet in shared {
            clauses.push((Occur::Should, term_query(Term::from_facet(f.facets, &facet), 2.0)));
        }
        let top = searcher
            .search(&BooleanQuery::new(clauses), &TopDocs::with_limit(limit).order_by_score())
            .map_err(internal)?;
        top.into_iter().map(|(score, address)| self.hit(&searcher, address, score)).collect()
    }
}

fn facet_term(f: &Fields, path: &[&str]) -> Boxed {
    Box::new(TermQuery::new(Term::from_facet(f.facets, &Facet::from_path(path)), IndexRecordOption::Basic))
}

fn last_segment(facet: &Facet) -> String {
    facet.to_path().last().map(|s| s.to_string()).unwrap_or_default()
}

fn facets_of(
    counts: &FacetCounts,
    category: &Facet,
    labels: &Labels,
    price_ranges: Vec<comptoir_contracts::search::PriceRange>,
) -> Facets {
    let by_count = |mut values: Vec<FacetValue>| {
        values.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.label.cmp(&b.label)));
        values
    };
    let categories = counts
        .get(category.clone())
        .map(|(facet, count)| {
            let slug = last_segment(facet);
            let label = labels.category_by_slug(&slug).map(|c| c.name.clone()).unwrap_or_else(|| slug.clone());
            FacetValue { value: slug, label, count }
        })
        .collect();
    let attributes = labels
        .attributes
        .iter()
        .map(|name| {
            let values: Vec<FacetValue> = counts
                .get(Facet::from_path(["attr", name.as_str()]))
                .map(|(facet, count)| {
                    let value = last_segment(facet);
                    FacetValue { label: value.clone(), value, count }
                })
                .collect();
            (name.clone(), by_count(values))
        })
        .filter(|(_, values)| !values.is_empty())
        .collect();
    let sellers = counts
        .get("/seller")
        .map(|(facet, count)| {
            let id = last_segment(facet);
            let label =
                id.parse().ok().and_then(|id: Uuid| labels.sellers.get(&id).cloned()).unwrap_or_else(|| id.clone());
            FacetValue { value: id, label, count }
        })
        .collect();
    let availability = counts
        .get("/stock")
        .map(|(facet, count)| {
            let value = last_segment(facet);
            let label = if value == "in_stock" { "In stock" } else { "Out of stock" }.to_string();
            FacetValue { value, label, count }
        })
        .collect();
    Facets { categories: by_count(categories), attributes, price_ranges, availability, sellers: by_count(sellers) }
}
