//! Search: the storefront's full-text index of published products, a read model fed by catalog,
//! inventory and identity events. Relevance-ranked, typo-tolerant queries with facets, sorting and
//! pagination, and suggestions as the shopper types.

use std::collections::BTreeMap;

use async_trait::async_trait;
use comptoir_kernel::{Error, Money, RequestContext, Result};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// At most this many hits a page, as for every other list.
pub const MAX_PER_PAGE: u32 = 100;
/// At most this many suggestions.
pub const MAX_SUGGESTIONS: u32 = 20;
/// A query longer than this is refused rather than truncated behind the shopper's back.
pub const MAX_QUERY_CHARS: usize = 200;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SearchSort {
    /// Best match first; newest first when there are no words.
    #[default]
    Relevance,
    PriceAsc,
    PriceDesc,
    Newest,
    Name,
}

impl SearchSort {
    pub fn as_str(self) -> &'static str {
        match self {
            SearchSort::Relevance => "relevance",
            SearchSort::PriceAsc => "price_asc",
            SearchSort::PriceDesc => "price_desc",
            SearchSort::Newest => "newest",
            SearchSort::Name => "name",
        }
    }

    pub fn parse(value: &str) -> Result<SearchSort> {
        [SearchSort::Relevance, SearchSort::PriceAsc, SearchSort::PriceDesc, SearchSort::Newest, SearchSort::Name]
            .into_iter()
            .find(|s| s.as_str() == value)
            .ok_or_else(|| Error::validation("sort", "must be one of relevance, price_asc, price_desc, newest, name"))
    }
}

/// What a shopper asks for. Every filter narrows the hits; facets are counted over the hits.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SearchQuery {
    /// Words; misspelt words still match (one typo from 4 letters, two from 8).
    #[serde(default)]
    pub q: String,
    /// Category slug; includes its sub-categories.
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub seller_id: Option<Uuid>,
    /// Attribute name → accepted values (any of them).
    #[serde(default)]
    pub attributes: BTreeMap<String, Vec<String>>,
    /// Minor units, inclusive.
    #[serde(default)]
    pub price_min: Option<i64>,
    /// Minor units, inclusive.
    #[serde(default)]
    pub price_max: Option<i64>,
    /// Only products with a variant available to sell.
    #[serde(default)]
    pub in_stock: bool,
    #[serde(default)]
    pub sort: SearchSort,
    #[serde(default = "first_page")]
    pub page: u32,
    #[serde(default = "default_per_page")]
    pub per_page: u32,
}

fn first_page() -> u32 {
    1
}

fn default_per_page() -> u32 {
    20
}

impl Default for SearchQuery {
    fn default() -> Self {
        SearchQuery {
            q: String::new(),
            category: None,
            seller_id: None,
            attributes: BTreeMap::new(),
            price_min: None,
            price_max: None,
            in_stock: false,
            sort: SearchSort::Relevance,
            page: first_page(),
            per_page: default_per_page(),
        }
    }
}

impl SearchQuery {
    pub fn words(q: impl Into<String>) -> Self {
        SearchQuery { q: q.into(), ..SearchQuery::default() }
    }

    /// Reads a query string's pairs: `q`, `category`, `seller_id`, `price_min`, `price_max` (or
    /// `price=min-max`),
    /// `in_stock`, `sort`, `page`, `per_page`, and `attr.<name>` once per accepted value. Blank
    /// values count as absent; other parameters are left to the caller. A value that cannot be
    /// read is refused naming its parameter.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<SearchQuery> {
        fn number<T: std::str::FromStr>(field: &str, value: &str) -> Result<T> {
            value.parse().map_err(|_| Error::validation(field, format!("{value:?} is not a whole number")))
        }
        let mut query = SearchQuery::default();
        for (name, value) in pairs {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            match name.as_str() {
                "q" => query.q = value.to_string(),
                "category" => query.category = Some(value.to_string()),
                "seller_id" | "seller" => {
                    let id =
                        value.parse().map_err(|_| Error::validation(name.as_str(), "must be a seller id (UUID)"))?;
                    query.seller_id = Some(id);
                }
                // `min-max` in minor units, either side may be empty: the storefront's price facet.
                "price" => {
                    let (min, max) = value.split_once('-').unwrap_or((value, ""));
                    query.price_min =
                        Some(min.trim()).filter(|m| !m.is_empty()).map(|m| number("price", m)).transpose()?;
                    query.price_max =
                        Some(max.trim()).filter(|m| !m.is_empty()).map(|m| number("price", m)).transpose()?;
                }
                "price_min" => query.price_min = Some(number(name, value)?),
                "price_max" => query.price_max = Some(number(name, value)?),
                "in_stock" => {
                    query.in_stock = match value {
                        "true" | "1" | "on" | "yes" => true,
                        "false" | "0" | "off" | "no" => false,
                        _ => return Err(Error::validation("in_stock", "must be true or false")),
                    }
                }
                "sort" => query.sort = SearchSort::parse(value)?,
                "page" => query.page = number(name, value)?,
                "per_page" => query.per_page = number(name, value)?,
                other => {
                    if let Some(attribute) = other.strip_prefix("attr.") {
                        query.attributes.entry(attribute.to_string()).or_default().push(value.to_string());
                    }
                }
            }
        }
        query.validate()?;
        Ok(query)
    }

    /// Refuses what no index could answer sensibly, naming the field.
    pub fn validate(&self) -> Result<()> {
        if self.q.chars().count() > MAX_QUERY_CHARS {
            return Err(Error::validation("q", format!("must be at most {MAX_QUERY_CHARS} characters")));
        }
        if self.page == 0 {
            return Err(Error::validation("page", "must be 1 or more"));
        }
        if self.page > 1000 {
            return Err(Error::validation("page", "must be at most 1000: narrow the search instead"));
        }
        if self.per_page == 0 || self.per_page > MAX_PER_PAGE {
            return Err(Error::validation("per_page", format!("must be between 1 and {MAX_PER_PAGE}")));
        }
        for (field, bound) in [("price_min", self.price_min), ("price_max", self.price_max)] {
            if bound.is_some_and(|amount| amount < 0) {
                return Err(Error::validation(field, "must be zero or more (minor units)"));
            }
        }
        if let (Some(min), Some(max)) = (self.price_min, self.price_max)
            && min > max
        {
            return Err(Error::validation("price_max", "must not be below price_min"));
        }
        if let Some((name, _)) = self.attributes.iter().find(|(name, _)| name.trim().is_empty()) {
            return Err(Error::validation(format!("attributes.{name}"), "an attribute needs a name"));
        }
        Ok(())
    }
}

/// A product as search shows it in a list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SearchHit {
    pub product_id: Uuid,
    pub slug: String,
    pub name: String,
    /// The description's first sentence or so.
    pub summary: String,
    pub seller_id: Uuid,
    /// The lowest price among the variants, in the shop's channel.
    pub price: Option<Money>,
    pub in_stock: bool,
    /// Relevance; 0 when sorted by anything else.
    pub score: f32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FacetValue {
    /// What to filter by: a category slug, an attribute value, a seller id, `in_stock`/`out_of_stock`.
    pub value: String,
    /// What to show.
    pub label: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PriceRange {
    /// Minor units, inclusive.
    pub min: i64,
    /// Minor units, exclusive; `None` for the open-ended last range.
    pub max: Option<i64>,
    pub count: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Facets {
    /// The top-level categories, or the children of the category filtered by.
    pub categories: Vec<FacetValue>,
    /// Attribute name → its values among the hits.
    pub attributes: BTreeMap<String, Vec<FacetValue>>,
    pub price_ranges: Vec<PriceRange>,
    /// `in_stock` and `out_of_stock`.
    pub availability: Vec<FacetValue>,
    pub sellers: Vec<FacetValue>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SearchResults {
    pub hits: Vec<SearchHit>,
    /// Every hit, across pages.
    pub total: u64,
    pub page: u32,
    pub per_page: u32,
    pub facets: Facets,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SuggestionKind {
    Product,
    Category,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Suggestion {
    pub kind: SuggestionKind,
    pub label: String,
    /// The product's or category's slug.
    pub slug: String,
}

/// What a rebuild from the source modules found and wrote.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RebuildReport {
    pub products: u64,
    /// Published products, those the storefront can find.
    pub indexed: u64,
    pub categories: u64,
    pub sellers: u64,
    /// Documents in the index that no longer had a product, removed.
    pub removed: u64,
    pub took_ms: u64,
}

/// How far the index is behind its store.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IndexStatus {
    /// Products the storefront can find.
    pub documents: u64,
    /// The last change of the store the index has applied.
    pub applied: i64,
    /// Changes stored but not yet searchable.
    pub pending: u64,
}

#[async_trait]
pub trait SearchPort: Send + Sync {
    async fn search(&self, ctx: &RequestContext, query: SearchQuery) -> Result<SearchResults>;
    /// Products and categories whose name starts like `prefix` (the last word may be partial).
    async fn suggest(&self, ctx: &RequestContext, prefix: &str, limit: u32) -> Result<Vec<Suggestion>>;
    /// Published products like this one (same categories, words and attributes), best first.
    async fn similar(&self, ctx: &RequestContext, product_id: Uuid, limit: u32) -> Result<Vec<SearchHit>>;
    /// Rebuilds the store and the index from scratch from catalog, inventory and identity.
    async fn rebuild(&self, ctx: &RequestContext) -> Result<RebuildReport>;
    async fn status(&self, ctx: &RequestContext) -> Result<IndexStatus>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_is_refused_with_the_field_it_got_wrong() {
        let field_of = |result: Result<SearchQuery>| match result {
            Err(Error::Validation { errors, .. }) => errors[0].field.clone(),
            other => panic!("expected a validation error, got {other:?}"),
        };
        let field = |q: SearchQuery| match q.validate() {
            Err(Error::Validation { errors, .. }) => errors[0].field.clone(),
            other => panic!("expected a validation error, got {other:?}"),
        };
        assert_eq!(field(SearchQuery { page: 0, ..SearchQuery::default() }), "page");
        assert_eq!(field(SearchQuery { per_page: 101, ..SearchQuery::default() }), "per_page");
        assert_eq!(field(SearchQuery { price_min: Some(-1), ..SearchQuery::default() }), "price_min");
        assert_eq!(
            field(SearchQuery { price_min: Some(10), price_max: Some(5), ..SearchQuery::default() }),
            "price_max"
        );
        assert_eq!(field(SearchQuery::words("x".repeat(201))), "q");
        assert!(SearchQuery::words("wool sweater").validate().is_ok());
        assert_eq!(SearchSort::parse("price_desc").unwrap(), SearchSort::PriceDesc);
        let pairs =
            |list: &[(&str, &str)]| list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
        let q = SearchQuery::from_pairs(&pairs(&[
            ("q", "wool"),
            ("attr.colour", "navy"),
            ("attr.colour", "grey"),
            ("in_stock", "true"),
            ("price_max", "5000"),
            ("sort", "price_asc"),
            ("category", ""),
        ]))
        .unwrap();
        assert_eq!(q.attributes["colour"], ["navy", "grey"]);
        assert!(q.in_stock && q.price_max == Some(5000) && q.sort == SearchSort::PriceAsc && q.category.is_none());
        assert_eq!(field_of(SearchQuery::from_pairs(&pairs(&[("price_min", "cheap")]))), "price_min");
        assert_eq!(field_of(SearchQuery::from_pairs(&pairs(&[("sort", "cheapest")]))), "sort");
        assert_eq!(field_of(SearchQuery::from_pairs(&pairs(&[("per_page", "500")]))), "per_page");
        assert!(SearchSort::parse("cheapest").is_err());
    }
}
