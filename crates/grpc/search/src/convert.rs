//! The search contract's types and their wire form, both ways: `to_*` encodes, the plain-named
//! function decodes. A query travels exactly as the caller built it (words, slugs and attribute
//! names untouched, `None` apart from `Some("")`, an attribute with no values kept, bounds and
//! page as given), so the module's own checks answer the same errors in both topologies. Answers
//! keep every optional value optional (a hit without a price, the open-ended last price range).
//! Decoding what a peer sent fails as a bad request naming the field, never a panic: a malformed
//! id, a missing message, an unknown currency or an enum value that is unspecified or unknown.

use std::collections::BTreeMap;

use comptoir_contracts::search::{
    FacetValue, Facets, IndexStatus, PriceRange, RebuildReport, SearchHit, SearchQuery, SearchResults, SearchSort,
    Suggestion, SuggestionKind,
};
use comptoir_grpc::convert::{optional_money, optional_uuid, page_request, required, to_money, to_page_request, uuid};
use comptoir_kernel::{Error, PageRequest, Result};

use crate::pb;

/// The path of `name` inside the message at `path` (the top-level message has the empty path).
fn field(path: &str, name: &str) -> String {
    if path.is_empty() { name.to_string() } else { format!("{path}.{name}") }
}

/// Decodes each element, naming it by its index (`hits[1]`) so that an error points at it.
fn indexed<A, B>(values: Vec<A>, path: &str, decode: impl Fn(A, &str) -> Result<B>) -> Result<Vec<B>> {
    values.into_iter().enumerate().map(|(i, value)| decode(value, &format!("{path}[{i}]"))).collect()
}

/// An enum number the contract does not define (or `*_UNSPECIFIED`, which means "not set").
fn unknown_enum(field: &str, value: i32) -> Error {
    Error::bad_request(format!("{field}: `{value}` is not a known value"))
}

// ---- Enums -------------------------------------------------------------------------------------

pub fn to_sort(sort: SearchSort) -> pb::SearchSort {
    match sort {
        SearchSort::Relevance => pb::SearchSort::Relevance,
        SearchSort::PriceAsc => pb::SearchSort::PriceAsc,
        SearchSort::PriceDesc => pb::SearchSort::PriceDesc,
        SearchSort::Newest => pb::SearchSort::Newest,
        SearchSort::Name => pb::SearchSort::Name,
    }
}

/// An unspecified or unknown sort is refused rather than guessed.
pub fn sort(value: i32, field: &str) -> Result<SearchSort> {
    match pb::SearchSort::try_from(value) {
        Ok(pb::SearchSort::Relevance) => Ok(SearchSort::Relevance),
        Ok(pb::SearchSort::PriceAsc) => Ok(SearchSort::PriceAsc),
        Ok(pb::SearchSort::PriceDesc) => Ok(SearchSort::PriceDesc),
        Ok(pb::SearchSort::Newest) => Ok(SearchSort::Newest),
        Ok(pb::SearchSort::Name) => Ok(SearchSort::Name),
        Ok(pb::SearchSort::Unspecified) | Err(_) => Err(unknown_enum(field, value)),
    }
}

pub fn to_suggestion_kind(kind: SuggestionKind) -> pb::SuggestionKind {
    match kind {
        SuggestionKind::Product => pb::SuggestionKind::Product,
        SuggestionKind::Category => pb::SuggestionKind::Category,
    }
}

/// An unspecified or unknown kind is refused rather than guessed.
pub fn suggestion_kind(value: i32, field: &str) -> Result<SuggestionKind> {
    match pb::SuggestionKind::try_from(value) {
        Ok(pb::SuggestionKind::Product) => Ok(SuggestionKind::Product),
        Ok(pb::SuggestionKind::Category) => Ok(SuggestionKind::Category),
        Ok(pb::SuggestionKind::Unspecified) | Err(_) => Err(unknown_enum(field, value)),
    }
}

// ---- The query ---------------------------------------------------------------------------------

pub fn to_search_request(query: &SearchQuery) -> pb::SearchRequest {
    pb::SearchRequest {
        q: query.q.clone(),
        category: query.category.clone(),
        seller_id: query.seller_id.map(|id| id.to_string()),
        attributes: query
            .attributes
            .iter()
            .map(|(name, values)| (name.clone(), pb::AttributeValues { values: values.clone() }))
            .collect(),
        price_min: query.price_min,
        price_max: query.price_max,
        in_stock: query.in_stock,
        sort: to_sort(query.sort).into(),
        page: Some(to_page_request(&PageRequest { page: query.page, per_page: query.per_page })),
    }
}

/// The query as sent; an absent page is the first page of the default size, as in the contract.
pub fn search_query(value: pb::SearchRequest) -> Result<SearchQuery> {
    let page = page_request(value.page);
    Ok(SearchQuery {
        seller_id: optional_uuid(value.seller_id.as_deref(), "seller_id")?,
        sort: sort(value.sort, "sort")?,
        q: value.q,
        category: value.category,
        attributes: value.attributes.into_iter().map(|(name, values)| (name, values.values)).collect(),
        price_min: value.price_min,
        price_max: value.price_max,
        in_stock: value.in_stock,
        page: page.page,
        per_page: page.per_page,
    })
}

// ---- Hits and facets ---------------------------------------------------------------------------

pub fn to_hit(hit: &SearchHit) -> pb::SearchHit {
    pb::SearchHit {
        product_id: hit.product_id.to_string(),
        slug: hit.slug.clone(),
        name: hit.name.clone(),
        summary: hit.summary.clone(),
        seller_id: hit.seller_id.to_string(),
        price: hit.price.as_ref().map(to_money),
        in_stock: hit.in_stock,
        score: hit.score,
    }
}

/// `path` is where the hit sits (`hits[3]`), so that a bad value names its hit.
pub fn hit(value: pb::SearchHit, path: &str) -> Result<SearchHit> {
    Ok(SearchHit {
        product_id: uuid(&value.product_id, &field(path, "product_id"))?,
        seller_id: uuid(&value.seller_id, &field(path, "seller_id"))?,
        price: optional_money(value.price, &field(path, "price"))?,
        slug: value.slug,
        name: value.name,
        summary: value.summary,
        in_stock: value.in_stock,
        score: value.score,
    })
}

pub fn hits(values: Vec<pb::SearchHit>, path: &str) -> Result<Vec<SearchHit>> {
    indexed(values, path, hit)
}

pub fn to_facet_value(value: &FacetValue) -> pb::FacetValue {
    pb::FacetValue { value: value.value.clone(), label: value.label.clone(), count: value.count }
}

pub fn facet_value(value: pb::FacetValue) -> FacetValue {
    FacetValue { value: value.value, label: value.label, count: value.count }
}

fn to_facet_values(values: &[FacetValue]) -> Vec<pb::FacetValue> {
    values.iter().map(to_facet_value).collect()
}

fn facet_values(values: Vec<pb::FacetValue>) -> Vec<FacetValue> {
    values.into_iter().map(facet_value).collect()
}

pub fn to_price_range(range: &PriceRange) -> pb::PriceRange {
    pb::PriceRange { min: range.min, max: range.max, count: range.count }
}

pub fn price_range(value: pb::PriceRange) -> PriceRange {
    PriceRange { min: value.min, max: value.max, count: value.count }
}

pub fn to_facets(facets: &Facets) -> pb::Facets {
    pb::Facets {
        categories: to_facet_values(&facets.categories),
        attributes: facets
            .attributes
            .iter()
            .map(|(name, values)| (name.clone(), pb::FacetValues { values: to_facet_values(values) }))
            .collect(),
        price_ranges: facets.price_ranges.iter().map(to_price_range).collect(),
        availability: to_facet_values(&facets.availability),
        sellers: to_facet_values(&facets.sellers),
    }
}

pub fn facets(value: pb::Facets) -> Facets {
    let attributes: BTreeMap<String, Vec<FacetValue>> =
        value.attributes.into_iter().map(|(name, values)| (name, facet_values(values.values))).collect();
    Facets {
        categories: facet_values(value.categories),
        attributes,
        price_ranges: value.price_ranges.into_iter().map(price_range).collect(),
        availability: facet_values(value.availability),
        sellers: facet_values(value.sellers),
    }
}

pub fn to_results(results: &SearchResults) -> pb::SearchResults {
    pb::SearchResults {
        hits: results.hits.iter().map(to_hit).collect(),
        page: Some(comptoir_grpc::pb::PageInfo {
            page: results.page,
            per_page: results.per_page,
            total: results.total,
        }),
        facets: Some(to_facets(&results.facets)),
    }
}

pub fn results(value: pb::SearchResults) -> Result<SearchResults> {
    let page = required(value.page, "page")?;
    Ok(SearchResults {
        hits: hits(value.hits, "hits")?,
        total: page.total,
        page: page.page,
        per_page: page.per_page,
        facets: facets(required(value.facets, "facets")?),
    })
}

// ---- Suggestions -------------------------------------------------------------------------------

pub fn to_suggestion(suggestion: &Suggestion) -> pb::Suggestion {
    pb::Suggestion {
        kind: to_suggestion_kind(suggestion.kind).into(),
        label: suggestion.label.clone(),
        slug: suggestion.slug.clone(),
    }
}

/// `path` is where the suggestion sits (`suggestions[2]`).
pub fn suggestion(value: pb::Suggestion, path: &str) -> Result<Suggestion> {
    Ok(Suggestion { kind: suggestion_kind(value.kind, &field(path, "kind"))?, label: value.label, slug: value.slug })
}

pub fn suggestions(values: Vec<pb::Suggestion>) -> Result<Vec<Suggestion>> {
    indexed(values, "suggestions", suggestion)
}

// ---- The index ---------------------------------------------------------------------------------

pub fn to_rebuild_report(report: &RebuildReport) -> pb::RebuildReport {
    pb::RebuildReport {
        products: report.products,
        indexed: report.indexed,
        categories: report.categories,
        sellers: report.sellers,
        removed: report.removed,
        took_ms: report.took_ms,
    }
}

pub fn rebuild_report(value: pb::RebuildReport) -> RebuildReport {
    RebuildReport {
        products: value.products,
        indexed: value.indexed,
        categories: value.categories,
        sellers: value.sellers,
        removed: value.removed,
        took_ms: value.took_ms,
    }
}

pub fn to_index_status(status: &IndexStatus) -> pb::IndexStatus {
    pb::IndexStatus { documents: status.documents, applied: status.applied, pending: status.pending }
}

pub fn index_status(value: pb::IndexStatus) -> IndexStatus {
    IndexStatus { documents: value.documents, applied: value.applied, pending: value.pending }
}

#[cfg(test)]
mod tests {
    use comptoir_kernel::{Currency, Money};
    use uuid::Uuid;

    use super::*;

    fn json<T: serde::Serialize>(value: &T) -> serde_json::Value {
        serde_json::to_value(value).unwrap()
    }

    fn hit_priced(price: Option<Money>) -> SearchHit {
        SearchHit {
            product_id: Uuid::now_v7(),
            slug: "merino-wool-sweater".into(),
            name: "Merino Wool Sweater".into(),
            summary: "Warm merino wool.".into(),
            seller_id: Uuid::now_v7(),
            price,
            in_stock: true,
            score: 3.25,
        }
    }

    #[test]
    fn every_sort_and_kind_survives_the_trip() {
        let sorts =
            [SearchSort::Relevance, SearchSort::PriceAsc, SearchSort::PriceDesc, SearchSort::Newest, SearchSort::Name];
        for original in sorts {
            assert_eq!(sort(to_sort(original).into(), "sort").unwrap(), original);
        }
        for original in [SuggestionKind::Product, SuggestionKind::Category] {
            assert_eq!(suggestion_kind(to_suggestion_kind(original).into(), "kind").unwrap(), original);
        }
        for value in [pb::SearchSort::Unspecified as i32, 42] {
            let e = sort(value, "sort").unwrap_err();
            assert_eq!(e.status(), 400);
            assert!(e.to_string().contains("sort"), "{e}");
        }
    }

    #[test]
    fn a_query_arrives_as_it_was_built() {
        let full = SearchQuery {
            q: "  Wool SWEATER ".into(),
            category: Some(String::new()),
            seller_id: Some(Uuid::now_v7()),
            attributes: BTreeMap::from([("colour".into(), vec!["navy".into(), "grey".into()]), (" ".into(), vec![])]),
            price_min: Some(-5),
            price_max: Some(0),
            in_stock: true,
            sort: SearchSort::PriceDesc,
            page: 0,
            per_page: 1000,
        };
        for original in [full, SearchQuery::default(), SearchQuery::words("cashmere")] {
            let back = search_query(to_search_request(&original)).unwrap();
            assert_eq!(json(&back), json(&original));
        }
        // A bare request is the contract's default query, once it names a sort.
        let bare = pb::SearchRequest { sort: pb::SearchSort::Relevance.into(), ..Default::default() };
        assert_eq!(json(&search_query(bare).unwrap()), json(&SearchQuery::default()));
        let bad = pb::SearchRequest { seller_id: Some("nope".into()), ..to_search_request(&SearchQuery::default()) };
        assert!(search_query(bad).unwrap_err().to_string().contains("seller_id"));
    }

    #[test]
    fn results_survive_the_trip_with_their_optional_values() {
        let value = |v: &str, count| FacetValue { value: v.into(), label: v.to_uppercase(), count };
        let original = SearchResults {
            hits: vec![hit_priced(Some(Money::new(8900, Currency::EUR))), hit_priced(None)],
            total: 42,
            page: 3,
            per_page: 2,
            facets: Facets {
                categories: vec![value("clothing", 4)],
                attributes: BTreeMap::from([("colour".into(), vec![value("navy", 2)]), ("size".into(), vec![])]),
                price_ranges: vec![
                    PriceRange { min: 0, max: Some(2_500), count: 1 },
                    PriceRange { min: 25_000, max: None, count: 0 },
                ],
                availability: vec![value("in_stock", 4), value("out_of_stock", 1)],
                sellers: vec![],
            },
        };
        let back = results(to_results(&original)).unwrap();
        assert_eq!(json(&back), json(&original));
        assert_eq!(back.facets, original.facets);
        assert_eq!(back.hits[1].price, None);
        let empty = SearchResults { hits: vec![], total: 0, page: 1, per_page: 20, facets: Facets::default() };
        assert_eq!(json(&results(to_results(&empty)).unwrap()), json(&empty));
    }

    #[test]
    fn suggestions_reports_and_statuses_survive_the_trip() {
        let original = vec![
            Suggestion { kind: SuggestionKind::Product, label: "Merino".into(), slug: "merino".into() },
            Suggestion { kind: SuggestionKind::Category, label: "Sweaters".into(), slug: "sweaters".into() },
        ];
        let back = suggestions(original.iter().map(to_suggestion).collect()).unwrap();
        assert_eq!(json(&back), json(&original));
        let report = RebuildReport { products: 6, indexed: 5, categories: 5, sellers: 2, removed: 1, took_ms: 17 };
        assert_eq!(json(&rebuild_report(to_rebuild_report(&report))), json(&report));
        let status = IndexStatus { documents: 5, applied: -1, pending: 3 };
        assert_eq!(json(&index_status(to_index_status(&status))), json(&status));
    }

    #[test]
    fn a_malformed_answer_names_its_field() {
        let mut wire = to_results(&SearchResults {
            hits: vec![hit_priced(None), hit_priced(Some(Money::new(1, Currency::EUR)))],
            total: 2,
            page: 1,
            per_page: 20,
            facets: Facets::default(),
        });
        wire.hits[1].price.as_mut().unwrap().currency = "XXX".into();
        let e = results(wire.clone()).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.to_string().contains("hits[1].price.currency"), "{e}");
        wire.hits[1].price = None;
        wire.hits[0].seller_id = String::new();
        assert!(results(wire.clone()).unwrap_err().to_string().contains("hits[0].seller_id"));
        wire.hits[0].seller_id = Uuid::nil().to_string();
        wire.facets = None;
        assert!(results(wire).unwrap_err().to_string().contains("facets"));
        let unknown = pb::Suggestion { kind: 7, label: "x".into(), slug: "x".into() };
        assert!(suggestions(vec![unknown]).unwrap_err().to_string().contains("suggestions[0].kind"));
    }
}
