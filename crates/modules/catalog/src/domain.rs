//! Catalog rules, free of I/O: what a valid product, variant, price, category or collection is, how
//! slugs are chosen, how a product list filter reads, and how the category tree is assembled.
//!
//! Input checks collect every field problem of a request before answering, so a back-office form
//! can show them all at once. Checks that need the database (a SKU already taken, a category that
//! does not exist) are made by the service afterwards.

use std::collections::{BTreeMap, HashMap, HashSet};

use comptoir_contracts::catalog::events::{CollectionChanged, ProductChanged};
use comptoir_contracts::catalog::{
    Category, CategoryNode, Channel, ChannelPrice, Collection, CollectionPatch, NewCategory, NewCollection, NewProduct,
    NewVariant, PriceInput, Product, ProductFilter, ProductPatch, ProductStatus, Visibility,
};
use comptoir_kernel::{Error, FieldError, Money, Result, validate};
use uuid::Uuid;

pub const MAX_NAME: usize = 200;
pub const MAX_CATEGORY_NAME: usize = 100;
pub const MAX_DESCRIPTION: usize = 10_000;
pub const MAX_VARIANTS: usize = 100;
pub const MAX_SKU: usize = 64;
pub const MAX_PRODUCT_CATEGORIES: usize = 50;
pub const MAX_COLLECTION_PRODUCTS: usize = 1_000;
/// Categories nest at most this many levels, which keeps tree walks shallow.
pub const MAX_CATEGORY_DEPTH: i64 = 10;
/// 10 billion in major units: a price times the largest cart quantity still fits in an i64.
pub const MAX_PRICE: i64 = 1_000_000_000_000;
/// Words of a text search beyond this are ignored: each one is a LIKE over the whole page.
pub const MAX_SEARCH_WORDS: usize = 8;
/// Derived slugs are cut here, leaving room for a uniqueness suffix under the 120-byte slug limit.
const MAX_DERIVED_SLUG: usize = 100;

struct MapLimits {
    entries: usize,
    key: usize,
    value: usize,
    value_required: bool,
}

const ATTRIBUTES: MapLimits = MapLimits { entries: 50, key: 64, value: 500, value_required: false };
const OPTIONS: MapLimits = MapLimits { entries: 10, key: 64, value: 200, value_required: true };

/// Every field problem of one input.
#[derive(Default)]
struct Problems(Vec<FieldError>);

impl Problems {
    fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError { field: field.into(), message: message.into() });
    }

    /// The checked value, or the type's default after recording why it failed. The default is never
    /// used: `finish` then refuses the whole input.
    fn check<T: Default>(&mut self, checked: Result<T>) -> T {
        checked.unwrap_or_else(|e| {
            match e.field_errors() {
                [] => self.add("", e.to_string()),
                errors => self.0.extend_from_slice(errors),
            }
            T::default()
        })
    }

    fn finish<T>(self, value: T) -> Result<T> {
        if self.0.is_empty() { Ok(value) } else { Err(Error::validation_many(self.0)) }
    }
}

/// How a product, category or collection gets its slug.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlugChoice {
    /// Given by the caller: taken means a conflict.
    Given(String),
    /// Derived from the name: taken means adding a short suffix.
    Derived(String),
}

/// A slug given by the caller. Slugs that parse as UUIDs are refused, so that `id_or_slug`
/// lookups are never ambiguous.
pub fn given_slug(field: &str, value: &str) -> Result<String> {
    let slug = validate::slug(field, value)?;
    if Uuid::parse_str(&slug).is_ok() {
        return Err(Error::validation(field, "must not look like an id"));
    }
    Ok(slug)
}

/// A slug made from a name, or `fallback` when the name has no letters or digits.
pub fn derived_slug(name: &str, fallback: &str) -> String {
    let mut slug: String = validate::slugify(name).chars().take(MAX_DERIVED_SLUG).collect();
    while slug.ends_with('-') {
        slug.pop();
    }
    if slug.is_empty() {
        return fallback.to_string();
    }
    if Uuid::parse_str(&slug).is_ok() {
        return with_suffix(&slug);
    }
    slug
}

fn slug_choice(problems: &mut Problems, given: Option<&str>, name: &str, fallback: &str) -> SlugChoice {
    match given {
        Some(slug) => SlugChoice::Given(problems.check(given_slug("slug", slug))),
        None => SlugChoice::Derived(derived_slug(name, fallback)),
    }
}

/// `base` with a short random suffix, for a derived slug that is already taken.
pub fn with_suffix(base: &str) -> String {
    let random = Uuid::new_v4().simple().to_string();
    format!("{base}-{}", &random[..6])
}

/// A SKU: 1 to 64 letters, digits, `-`, `_` or `.`.
pub fn sku(field: &str, value: &str) -> Result<String> {
    let v = value.trim();
    let valid = !v.is_empty()
        && v.len() <= MAX_SKU
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if valid {
        Ok(v.to_string())
    } else {
        Err(Error::validation(field, format!("must be 1 to {MAX_SKU} letters, digits, '-', '_' or '.'")))
    }
}

fn description(field: &str, value: &str) -> Result<String> {
    let v = value.trim();
    if v.chars().count() > MAX_DESCRIPTION {
        return Err(Error::validation(field, format!("must be at most {MAX_DESCRIPTION} characters")));
    }
    Ok(v.to_string())
}

/// Ids given as a list: at most `max`, none twice (the index of a problem is the caller's index).
fn distinct_ids(problems: &mut Problems, field: &str, ids: Vec<Uuid>, max: usize) -> Vec<Uuid> {
    if ids.len() > max {
        problems.add(field, format!("must have at most {max} entries"));
        return ids;
    }
    let mut seen = HashSet::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        if !seen.insert(id) {
            problems.add(format!("{field}[{i}]"), "is listed twice");
        }
    }
    ids
}

fn string_map(
    problems: &mut Problems,
    field: &str,
    map: BTreeMap<String, String>,
    limits: &MapLimits,
) -> BTreeMap<String, String> {
    if map.len() > limits.entries {
        problems.add(field, format!("must have at most {} entries", limits.entries));
        return map;
    }
    map.into_iter()
        .map(|(key, value)| {
            let key_len = key.chars().count();
            if key.trim().is_empty() || key_len > limits.key {
                problems.add(format!("{field}.{key}"), format!("names must be 1 to {} characters", limits.key));
            }
            let value = value.trim().to_string();
            if limits.value_required && value.is_empty() {
                problems.add(format!("{field}.{key}"), "must not be empty");
            } else if value.chars().count() > limits.value {
                problems.add(format!("{field}.{key}"), format!("must be at most {} characters", limits.value));
            }
            (key, value)
        })
        .collect()
}

/// A product as given, checked; its slug is not yet known to be free.
#[derive(Debug, Clone)]
pub struct ProductDraft {
    pub seller_id: Uuid,
    pub name: String,
    pub slug: SlugChoice,
    pub description: String,
    pub category_ids: Vec<Uuid>,
    pub attributes: BTreeMap<String, String>,
    pub variants: Vec<VariantDraft>,
}

#[derive(Debug, Clone, Default)]
pub struct VariantDraft {
    pub sku: String,
    pub options: BTreeMap<String, String>,
    pub weight_grams: Option<i64>,
    pub prices: Vec<ChannelPrice>,
}

pub fn new_product(input: NewProduct, channels: &[Channel]) -> Result<ProductDraft> {
    let mut problems = Problems::default();
    let name = problems.check(validate::required_text("name", &input.name, MAX_NAME));
    let slug = slug_choice(&mut problems, input.slug.as_deref(), &name, "product");
    let description = problems.check(description("description", &input.description));
    let category_ids = distinct_ids(&mut problems, "category_ids", input.category_ids, MAX_PRODUCT_CATEGORIES);
    let attributes = string_map(&mut problems, "attributes", input.attributes, &ATTRIBUTES);
    if input.variants.is_empty() {
        problems.add("variants", "must have at least one variant");
    } else if input.variants.len() > MAX_VARIANTS {
        problems.add("variants", format!("must have at most {MAX_VARIANTS} variants"));
    }
    let variants = input
        .variants
        .iter()
        .take(MAX_VARIANTS)
        .enumerate()
        .map(|(i, v)| variant(&mut problems, &format!("variants[{i}]."), v, channels))
        .collect();
    problems.finish(ProductDraft {
        seller_id: input.seller_id,
        name,
        slug,
        description,
        category_ids,
        attributes,
        variants,
    })
}

/// A variant added on its own: field paths are relative to the variant.
pub fn new_variant(input: &NewVariant, channels: &[Channel]) -> Result<VariantDraft> {
    let mut problems = Problems::default();
    let draft = variant(&mut problems, "", input, channels);
    problems.finish(draft)
}

/// Prices set on their own, named `prices[j]`.
pub fn new_prices(inputs: &[PriceInput], channels: &[Channel]) -> Result<Vec<ChannelPrice>> {
    let mut problems = Problems::default();
    let prices = prices(&mut problems, "", inputs, channels);
    problems.finish(prices)
}

fn variant(problems: &mut Problems, prefix: &str, input: &NewVariant, channels: &[Channel]) -> VariantDraft {
    let sku = problems.check(sku(&format!("{prefix}sku"), &input.sku));
    let options = string_map(problems, &format!("{prefix}options"), input.options.clone(), &OPTIONS);
    if input.weight_grams.is_some_and(|w| w < 0) {
        problems.add(format!("{prefix}weight_grams"), "must be zero or more");
    }
    let prices = prices(problems, prefix, &input.prices, channels);
    VariantDraft { sku, options, weight_grams: input.weight_grams, prices }
}

fn prices(problems: &mut Problems, prefix: &str, inputs: &[PriceInput], channels: &[Channel]) -> Vec<ChannelPrice> {
    let mut seen = HashSet::new();
    let mut prices = Vec::with_capacity(inputs.len());
    for (j, input) in inputs.iter().enumerate() {
        let field = format!("{prefix}prices[{j}]");
        let code = input.channel.trim();
        match channels.iter().find(|c| c.code == code) {
            None => problems.add(format!("{field}.channel"), format!("no such channel {code:?}")),
            Some(_) if !seen.insert(code) => {
                problems.add(format!("{field}.channel"), format!("channel {code} is priced more than once"))
            }
            Some(channel) if channel.currency != input.currency => problems.add(
                format!("{field}.currency"),
                format!("must be {}, the currency of channel {code}", channel.currency),
            ),
            Some(_) => {}
        }
        if input.amount < 0 {
            problems.add(format!("{field}.amount"), "must be zero or more");
        } else if input.amount > MAX_PRICE {
            problems.add(format!("{field}.amount"), format!("must be at most {MAX_PRICE}"));
        }
        prices.push(ChannelPrice { channel: code.to_string(), price: Money::new(input.amount, input.currency) });
    }
    prices
}

/// Two variants of one request may not share a SKU.
pub fn ensure_distinct_skus(variants: &[VariantDraft]) -> Result<()> {
    let mut seen = HashSet::with_capacity(variants.len());
    for (i, v) in variants.iter().enumerate() {
        if !seen.insert(v.sku.as_str()) {
            return Err(duplicate_sku(&format!("variants[{i}].sku"), &v.sku));
        }
    }
    Ok(())
}

pub fn duplicate_sku(field: &str, sku: &str) -> Error {
    Error::conflict_on("duplicate-sku", field, format!("SKU {sku} is already used"))
}

pub fn ensure_room_for_variant(current: usize) -> Result<()> {
    if current >= MAX_VARIANTS {
        return Err(Error::conflict_on(
            "too-many-variants",
            "sku",
            format!("a product has at most {MAX_VARIANTS} variants"),
        ));
    }
    Ok(())
}

/// The checked fields of a product patch; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct ProductChanges {
    pub name: Option<String>,
    pub slug: Option<String>,
    pub description: Option<String>,
    pub category_ids: Option<Vec<Uuid>>,
    pub attributes: Option<BTreeMap<String, String>>,
}

impl ProductChanges {
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.slug.is_none()
            && self.description.is_none()
            && self.category_ids.is_none()
            && self.attributes.is_none()
    }
}

pub fn product_changes(patch: ProductPatch) -> Result<ProductChanges> {
    let mut problems = Problems::default();
    let changes = ProductChanges {
        name: patch.name.map(|n| problems.check(validate::required_text("name", &n, MAX_NAME))),
        slug: patch.slug.map(|s| problems.check(given_slug("slug", &s))),
        description: patch.description.map(|d| problems.check(description("description", &d))),
        category_ids: patch
            .category_ids
            .map(|ids| distinct_ids(&mut problems, "category_ids", ids, MAX_PRODUCT_CATEGORIES)),
        attributes: patch.attributes.map(|a| string_map(&mut problems, "attributes", a, &ATTRIBUTES)),
    };
    problems.finish(changes)
}

/// Publishing needs something to sell: at least one variant with a price.
pub fn ensure_publishable(product: &Product) -> Result<()> {
    if product.variants.iter().any(|v| !v.prices.is_empty()) {
        Ok(())
    } else {
        Err(Error::conflict_on("not-publishable", "variants", "at least one variant needs a price before publishing"))
    }
}

pub fn status_to_db(status: ProductStatus) -> &'static str {
    match status {
        ProductStatus::Draft => "draft",
        ProductStatus::Published => "published",
    }
}

pub fn status_from_db(value: &str) -> Result<ProductStatus> {
    match value {
        "draft" => Ok(ProductStatus::Draft),
        "published" => Ok(ProductStatus::Published),
        other => Err(Error::internal(format!("unknown product status {other:?}"))),
    }
}

pub fn is_visible(product: &Product, visibility: Visibility) -> bool {
    visibility == Visibility::All || product.status == ProductStatus::Published
}

/// The payload of every `product.item.*` event.
pub fn product_changed(product: &Product) -> ProductChanged {
    ProductChanged {
        product_id: product.id,
        seller_id: product.seller_id,
        name: product.name.clone(),
        slug: product.slug.clone(),
        status: product.status,
        skus: product.variants.iter().map(|v| v.sku.clone()).collect(),
    }
}

/// How a caller names a product, category or collection: by id, or by slug.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Id(Uuid),
    Slug(String),
}

impl Lookup {
    /// Slugs never parse as UUIDs (see [`given_slug`]), so this is unambiguous.
    pub fn parse(id_or_slug: &str) -> Lookup {
        let v = id_or_slug.trim();
        match Uuid::parse_str(v) {
            Ok(id) => Lookup::Id(id),
            Err(_) => Lookup::Slug(v.to_string()),
        }
    }
}

/// A product list filter, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductQuery {
    /// Includes the category's descendants.
    pub category: Option<Lookup>,
    pub collection: Option<Lookup>,
    pub seller_id: Option<Uuid>,
    /// LIKE patterns, one per search word, each to be found in the name or the description.
    pub words: Vec<String>,
    pub channel: Option<String>,
    pub published_only: bool,
}

pub fn product_query(filter: ProductFilter, visibility: Visibility) -> ProductQuery {
    let present = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    ProductQuery {
        category: present(filter.category).as_deref().map(Lookup::parse),
        collection: present(filter.collection).as_deref().map(Lookup::parse),
        seller_id: filter.seller_id,
        words: filter.q.as_deref().map(like_patterns).unwrap_or_default(),
        channel: present(filter.channel),
        published_only: visibility == Visibility::PublishedOnly,
    }
}

/// `%word%` patterns for case-insensitive LIKE (`ESCAPE '\'`), lowercase, without repeats.
fn like_patterns(q: &str) -> Vec<String> {
    let mut patterns: Vec<String> = Vec::new();
    for word in q.split_whitespace().map(str::to_lowercase) {
        let mut pattern = String::with_capacity(word.len() + 2);
        pattern.push('%');
        for c in word.chars() {
            if matches!(c, '\\' | '%' | '_') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('%');
        if !patterns.contains(&pattern) {
            patterns.push(pattern);
        }
        if patterns.len() == MAX_SEARCH_WORDS {
            break;
        }
    }
    patterns
}

#[derive(Debug, Clone)]
pub struct CategoryDraft {
    pub name: String,
    pub slug: SlugChoice,
    pub parent_id: Option<Uuid>,
    pub position: i64,
}

pub fn new_category(input: NewCategory) -> Result<CategoryDraft> {
    let mut problems = Problems::default();
    let name = problems.check(validate::required_text("name", &input.name, MAX_CATEGORY_NAME));
    let slug = slug_choice(&mut problems, input.slug.as_deref(), &name, "category");
    problems.finish(CategoryDraft { name, slug, parent_id: input.parent_id, position: input.position })
}

/// The depth of a new category under a parent of `parent_depth` (`None`: a root).
pub fn child_depth(parent_depth: Option<i64>) -> Result<i64> {
    match parent_depth {
        None => Ok(0),
        Some(d) if d + 1 >= MAX_CATEGORY_DEPTH => {
            Err(Error::validation("parent_id", format!("categories nest at most {MAX_CATEGORY_DEPTH} levels deep")))
        }
        Some(d) => Ok(d + 1),
    }
}

/// Nests categories under their parents, keeping the given order among siblings.
pub fn category_tree(categories: Vec<Category>) -> Vec<CategoryNode> {
    let mut children: HashMap<Option<Uuid>, Vec<Category>> = HashMap::new();
    for category in categories {
        children.entry(category.parent_id).or_default().push(category);
    }
    nest(None, &mut children)
}

/// Recursion is bounded by [`MAX_CATEGORY_DEPTH`]; each list is taken once, so even a corrupt
/// cycle ends.
fn nest(parent: Option<Uuid>, children: &mut HashMap<Option<Uuid>, Vec<Category>>) -> Vec<CategoryNode> {
    children
        .remove(&parent)
        .unwrap_or_default()
        .into_iter()
        .map(|category| {
            let children = nest(Some(category.id), children);
            CategoryNode { category, children }
        })
        .collect()
}

#[derive(Debug, Clone)]
pub struct CollectionDraft {
    pub name: String,
    pub slug: SlugChoice,
    pub description: String,
    pub product_ids: Vec<Uuid>,
}

pub fn new_collection(input: NewCollection) -> Result<CollectionDraft> {
    let mut problems = Problems::default();
    let name = problems.check(validate::required_text("name", &input.name, MAX_NAME));
    let slug = slug_choice(&mut problems, input.slug.as_deref(), &name, "collection");
    let description = problems.check(description("description", &input.description));
    let product_ids = distinct_ids(&mut problems, "product_ids", input.product_ids, MAX_COLLECTION_PRODUCTS);
    problems.finish(CollectionDraft { name, slug, description, product_ids })
}

#[derive(Debug, Clone, Default)]
pub struct CollectionChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub product_ids: Option<Vec<Uuid>>,
}

pub fn collection_changes(patch: CollectionPatch) -> Result<CollectionChanges> {
    let mut problems = Problems::default();
    let changes = CollectionChanges {
        name: patch.name.map(|n| problems.check(validate::required_text("name", &n, MAX_NAME))),
        description: patch.description.map(|d| problems.check(description("description", &d))),
        product_ids: patch
            .product_ids
            .map(|ids| distinct_ids(&mut problems, "product_ids", ids, MAX_COLLECTION_PRODUCTS)),
    };
    problems.finish(changes)
}

pub fn collection_changed(collection: &Collection) -> CollectionChanged {
    CollectionChanged {
        collection_id: collection.id,
        name: collection.name.clone(),
        product_ids: collection.product_ids.clone(),
    }
}

#[cfg(test)]
mod tests {
    use comptoir_contracts::catalog::Variant;
    use comptoir_kernel::Currency;

    use super::*;

    fn channels() -> Vec<Channel> {
        vec![
            Channel { code: "online".into(), name: "Online store".into(), currency: Currency::EUR },
            Channel { code: "us".into(), name: "US store".into(), currency: Currency::USD },
        ]
    }

    fn price(channel: &str, amount: i64, currency: Currency) -> PriceInput {
        PriceInput { channel: channel.into(), amount, currency }
    }

    fn variant_input(sku: &str) -> NewVariant {
        NewVariant {
            sku: sku.into(),
            options: BTreeMap::new(),
            weight_grams: None,
            prices: vec![price("online", 1999, Currency::EUR)],
        }
    }

    fn product_input() -> NewProduct {
        NewProduct {
            seller_id: Uuid::nil(),
            name: "Blue Shirt".into(),
            slug: None,
            description: String::new(),
            category_ids: vec![],
            attributes: BTreeMap::new(),
            variants: vec![variant_input("SHIRT-M")],
        }
    }

    fn fields(result: Result<impl std::fmt::Debug>) -> Vec<String> {
        let e = result.expect_err("input should be refused");
        assert_eq!(e.status(), 422, "{e}");
        e.field_errors().iter().map(|f| f.field.clone()).collect()
    }

    #[test]
    fn a_valid_product_derives_its_slug_from_the_name() {
        let draft = new_product(product_input(), &channels()).unwrap();
        assert_eq!(draft.name, "Blue Shirt");
        assert_eq!(draft.slug, SlugChoice::Derived("blue-shirt".into()));
        assert_eq!(draft.variants[0].prices[0].price, Money::new(1999, Currency::EUR));
    }

    #[test]
    fn every_problem_of_a_product_is_reported_with_its_path() {
        let mut input = product_input();
        input.name = " ".into();
        input.slug = Some("Not A Slug".into());
        input.description = "x".repeat(MAX_DESCRIPTION + 1);
        input.attributes.insert("".into(), "v".into());
        input.variants.push(NewVariant {
            sku: "bad sku!".into(),
            options: BTreeMap::from([("size".into(), " ".into())]),
            weight_grams: Some(-1),
            prices: vec![
                price("online", -1, Currency::EUR),
                price("us", 100, Currency::EUR),
                price("mars", 100, Currency::EUR),
                price("online", 5, Currency::EUR),
            ],
        });
        let fields = fields(new_product(input, &channels()));
        for expected in [
            "name",
            "slug",
            "description",
            "attributes.",
            "variants[1].sku",
            "variants[1].options.size",
            "variants[1].weight_grams",
            "variants[1].prices[0].amount",
            "variants[1].prices[1].currency",
            "variants[1].prices[2].channel",
            "variants[1].prices[3].channel",
        ] {
            assert!(fields.iter().any(|f| f == expected), "{expected} missing from {fields:?}");
        }
    }

    #[test]
    fn variant_counts_are_bounded() {
        let mut input = product_input();
        input.variants.clear();
        assert_eq!(fields(new_product(input.clone(), &channels())), ["variants"]);
        input.variants = (0..=MAX_VARIANTS).map(|i| variant_input(&format!("S{i}"))).collect();
        assert_eq!(fields(new_product(input, &channels())), ["variants"]);
        assert!(ensure_room_for_variant(MAX_VARIANTS - 1).is_ok());
        assert_eq!(ensure_room_for_variant(MAX_VARIANTS).unwrap_err().status(), 409);
    }

    #[test]
    fn attribute_and_option_limits() {
        let mut input = product_input();
        input.attributes = (0..51).map(|i| (format!("k{i}"), "v".into())).collect();
        assert_eq!(fields(new_product(input.clone(), &channels())), ["attributes"]);
        input.attributes = BTreeMap::from([("k".repeat(65), "v".into()), ("ok".into(), "v".repeat(501))]);
        assert_eq!(fields(new_product(input, &channels())).len(), 2);
        let mut v = variant_input("A");
        v.options = (0..11).map(|i| (format!("o{i}"), "v".into())).collect();
        assert_eq!(fields(new_variant(&v, &channels())), ["options"]);
    }

    #[test]
    fn skus_allow_letters_digits_and_separators() {
        assert_eq!(sku("sku", " ab-C_1.2 ").unwrap(), "ab-C_1.2");
        for bad in ["", "a b", "é", "a/b", &"x".repeat(65)] {
            assert!(sku("sku", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn duplicate_skus_in_one_request_conflict() {
        let mut input = product_input();
        input.variants.push(variant_input("SHIRT-M"));
        let draft = new_product(input, &channels()).unwrap();
        let e = ensure_distinct_skus(&draft.variants).unwrap_err();
        assert_eq!((e.status(), e.code()), (409, "duplicate-sku"));
        assert_eq!(e.field_errors()[0].field, "variants[1].sku");
    }

    #[test]
    fn ids_listed_twice_are_refused_at_their_index() {
        let mut input = product_input();
        let id = Uuid::now_v7();
        input.category_ids = vec![id, Uuid::now_v7(), id];
        assert_eq!(fields(new_product(input, &channels())), ["category_ids[2]"]);
    }

    #[test]
    fn standalone_prices_and_variants_use_relative_paths() {
        assert_eq!(fields(new_prices(&[price("online", 1, Currency::USD)], &channels())), ["prices[0].currency"]);
        assert_eq!(fields(new_variant(&variant_input(""), &channels())), ["sku"]);
        assert!(new_prices(&[price("online", 0, Currency::EUR), price("us", 5, Currency::USD)], &channels()).is_ok());
    }

    #[test]
    fn slugs_never_look_like_ids() {
        let id = Uuid::now_v7();
        assert!(given_slug("slug", &id.to_string()).is_err());
        assert!(given_slug("slug", &id.simple().to_string()).is_err());
        assert_eq!(given_slug("slug", "summer-sale").unwrap(), "summer-sale");
        assert_ne!(derived_slug(&id.to_string(), "product"), id.to_string());
        assert_eq!(derived_slug("!!!", "product"), "product");
        assert!(derived_slug(&"word ".repeat(100), "product").len() <= MAX_DERIVED_SLUG);
        let suffixed = with_suffix("shirt");
        assert!(suffixed.starts_with("shirt-") && suffixed.len() == 12);
        assert!(validate::slug("slug", &suffixed).is_ok());
        assert_eq!(Lookup::parse(&id.to_string()), Lookup::Id(id));
        assert_eq!(Lookup::parse("shirt"), Lookup::Slug("shirt".into()));
    }

    #[test]
    fn patches_check_only_what_they_change() {
        assert!(product_changes(ProductPatch::default()).unwrap().is_empty());
        let patch = ProductPatch { name: Some("".into()), slug: Some("UPPER".into()), ..Default::default() };
        assert_eq!(fields(product_changes(patch)), ["name", "slug"]);
        let changes =
            product_changes(ProductPatch { description: Some(" new ".into()), ..Default::default() }).unwrap();
        assert_eq!(changes.description.as_deref(), Some("new"));
    }

    #[test]
    fn publishing_needs_a_priced_variant() {
        let mut product = Product {
            id: Uuid::now_v7(),
            seller_id: Uuid::nil(),
            slug: "p".into(),
            name: "P".into(),
            description: String::new(),
            status: ProductStatus::Draft,
            category_ids: vec![],
            attributes: BTreeMap::new(),
            variants: vec![Variant {
                id: Uuid::now_v7(),
                sku: "A".into(),
                options: BTreeMap::new(),
                weight_grams: None,
                prices: vec![],
            }],
            created_at: comptoir_kernel::time::now(),
            updated_at: comptoir_kernel::time::now(),
        };
        assert_eq!(ensure_publishable(&product).unwrap_err().code(), "not-publishable");
        product.variants[0].prices.push(ChannelPrice { channel: "online".into(), price: Money::new(0, Currency::EUR) });
        assert!(ensure_publishable(&product).is_ok());
    }

    #[test]
    fn search_words_become_escaped_lowercase_patterns() {
        assert_eq!(like_patterns("  Blue  SHIRT blue "), ["%blue%", "%shirt%"]);
        assert_eq!(like_patterns("50%_off"), ["%50\\%\\_off%"]);
        assert_eq!(like_patterns(&"w ".repeat(3)).len(), 1);
        let many: String = (0..20).map(|i| format!("w{i} ")).collect();
        assert_eq!(like_patterns(&many).len(), MAX_SEARCH_WORDS);
        let q = product_query(
            ProductFilter { category: Some(" ".into()), q: Some("".into()), ..Default::default() },
            Visibility::All,
        );
        assert_eq!(q.category, None);
        assert!(q.words.is_empty() && !q.published_only);
    }

    #[test]
    fn categories_nest_in_order_and_depth_is_bounded() {
        let cat = |name: &str, parent: Option<Uuid>| Category {
            id: Uuid::now_v7(),
            parent_id: parent,
            name: name.into(),
            slug: name.into(),
            position: 0,
        };
        let root = cat("men", None);
        let shirts = cat("shirts", Some(root.id));
        let shoes = cat("shoes", Some(root.id));
        let women = cat("women", None);
        let tree = category_tree(vec![root.clone(), shirts, shoes, women]);
        let names: Vec<&str> = tree.iter().map(|n| n.category.name.as_str()).collect();
        assert_eq!(names, ["men", "women"]);
        let children: Vec<&str> = tree[0].children.iter().map(|n| n.category.name.as_str()).collect();
        assert_eq!(children, ["shirts", "shoes"]);

        assert_eq!(child_depth(None).unwrap(), 0);
        assert_eq!(child_depth(Some(0)).unwrap(), 1);
        assert_eq!(child_depth(Some(MAX_CATEGORY_DEPTH - 1)).unwrap_err().field_errors()[0].field, "parent_id");
    }

    #[test]
    fn collections_are_checked() {
        let id = Uuid::now_v7();
        let input =
            NewCollection { name: "".into(), slug: None, description: String::new(), product_ids: vec![id, id] };
        assert_eq!(fields(new_collection(input)), ["name", "product_ids[1]"]);
        let draft = new_collection(NewCollection {
            name: "Summer Sale".into(),
            slug: None,
            description: String::new(),
            product_ids: vec![],
        })
        .unwrap();
        assert_eq!(draft.slug, SlugChoice::Derived("summer-sale".into()));
        assert_eq!(
            fields(collection_changes(CollectionPatch { name: Some(" ".into()), ..Default::default() })),
            ["name"]
        );
    }
}
