//! The catalog's SQL, portable to PostgreSQL: `$n` placeholders, ids and timestamps as text, money
//! as BIGINT minor units with a currency code, maps as JSON text.
//!
//! Every function takes a connection: a reader's for reads, the unit of work's for writes (and for
//! the reads a write makes, which then see its own changes). Reading products costs a fixed number
//! of queries whatever the page size: one for the products, one for their variants with prices, one
//! for their category links.

use comptoir_storage::row::{id, placeholders, text, timestamp};
use std::collections::{BTreeMap, HashMap, HashSet};

use comptoir_contracts::catalog::{
    Category, Channel, ChannelPrice, Collection, Product, ProductStatus, SkuOffer, Variant, Visibility,
};
use comptoir_kernel::{Currency, Error, Money, PageRequest, Result, time};
use comptoir_storage::{AnyRow, Row, db_error, is_unique_violation, query, query_scalar, uuid_from_db};
use sqlx::{AnyConnection, AssertSqlSafe};
use uuid::Uuid;

use crate::domain::{self, Lookup, ProductQuery, VariantDraft};

fn currency(code: &str) -> Result<Currency> {
    code.parse().map_err(|e: String| Error::internal(format!("stored currency: {e}")))
}

fn map_from_json(text: &str) -> Result<BTreeMap<String, String>> {
    serde_json::from_str(text).map_err(|e| Error::internal(format!("stored map is not a JSON object of strings: {e}")))
}

fn map_to_json(map: &BTreeMap<String, String>) -> Result<String> {
    serde_json::to_string(map).map_err(|e| Error::internal(format!("map not serialisable: {e}")))
}

/// A unique-key failure on insert becomes `conflict`; a concurrent writer can get past the checks
/// made earlier in the transaction on databases that do not serialise writers.
fn unique_or(conflict: impl FnOnce() -> Error) -> impl FnOnce(sqlx::Error) -> Error {
    move |e| if is_unique_violation(&e) { conflict() } else { db_error(e) }
}

// ---- channels ----

pub async fn channels(conn: &mut AnyConnection) -> Result<Vec<Channel>> {
    let rows = query("SELECT code, name, currency FROM channels ORDER BY code")
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
    rows.iter()
        .map(|row| {
            Ok(Channel {
                code: text(row, "code")?,
                name: text(row, "name")?,
                currency: currency(&text(row, "currency")?)?,
            })
        })
        .collect()
}

pub async fn channel_exists(conn: &mut AnyConnection, code: &str) -> Result<bool> {
    let found: Option<String> = query_scalar("SELECT code FROM channels WHERE code = $1")
        .bind(code)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(found.is_some())
}

// ---- products: reads ----

macro_rules! product_columns {
    () => {
        "p.id, p.seller_id, p.slug, p.name, p.description, p.status, p.attributes, p.created_at, p.updated_at"
    };
}

/// A product row; variants and categories are attached by [`complete`].
fn product_from_row(row: &AnyRow) -> Result<Product> {
    Ok(Product {
        id: id(row, "id")?,
        seller_id: id(row, "seller_id")?,
        slug: text(row, "slug")?,
        name: text(row, "name")?,
        description: text(row, "description")?,
        status: domain::status_from_db(&text(row, "status")?)?,
        category_ids: vec![],
        attributes: map_from_json(&text(row, "attributes")?)?,
        variants: vec![],
        created_at: timestamp(row, "created_at")?,
        updated_at: timestamp(row, "updated_at")?,
    })
}

/// A product by id or slug, if it exists and `visibility` lets the reader see it.
pub async fn find_product(conn: &mut AnyConnection, key: &Lookup, visibility: Visibility) -> Result<Option<Product>> {
    let found = match key {
        Lookup::Id(id) => {
            query(concat!("SELECT ", product_columns!(), " FROM products p WHERE p.id = $1"))
                .bind(id.to_string())
                .fetch_optional(&mut *conn)
                .await
        }
        Lookup::Slug(slug) => {
            query(concat!("SELECT ", product_columns!(), " FROM products p WHERE p.slug = $1"))
                .bind(slug.as_str())
                .fetch_optional(&mut *conn)
                .await
        }
    }
    .map_err(db_error)?;
    let Some(row) = found else { return Ok(None) };
    let product = product_from_row(&row)?;
    if !domain::is_visible(&product, visibility) {
        return Ok(None);
    }
    let mut products = vec![product];
    complete(conn, &mut products).await?;
    Ok(products.pop())
}

/// The variant and product ids behind a SKU, whatever the product's status.
pub async fn variant_of_sku(conn: &mut AnyConnection, sku: &str) -> Result<Option<(Uuid, Uuid)>> {
    let row = query("SELECT id, product_id FROM variants WHERE sku = $1")
        .bind(sku)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
    row.map(|row| Ok((id(&row, "id")?, id(&row, "product_id")?))).transpose()
}

/// One page of products, newest first, and the number of products matching across all pages.
pub async fn list_products(
    conn: &mut AnyConnection,
    filter: &ProductQuery,
    page: PageRequest,
) -> Result<(Vec<Product>, u64)> {
    let mut binds: Vec<String> = Vec::new();
    let mut bind = |value: String| {
        binds.push(value);
        format!("${}", binds.len())
    };
    let mut with = String::new();
    let mut conditions: Vec<String> = Vec::new();
    if filter.published_only {
        conditions.push("p.status = 'published'".into());
    }
    if let Some(category) = &filter.category {
        let root = match category {
            Lookup::Id(id) => format!("SELECT id FROM categories WHERE id = {}", bind(id.to_string())),
            Lookup::Slug(slug) => format!("SELECT id FROM categories WHERE slug = {}", bind(slug.clone())),
        };
        // UNION (not UNION ALL) stops even on a corrupt cycle.
        with = format!(
            "WITH RECURSIVE subtree (id) AS \
             ({root} UNION SELECT c.id FROM categories c JOIN subtree s ON c.parent_id = s.id) "
        );
        conditions.push(
            // Nested IN lets the planner look links up by category instead of scanning them all.
            "p.id IN (SELECT pc.product_id FROM product_categories pc \
             WHERE pc.category_id IN (SELECT id FROM subtree))"
                .into(),
        );
    }
    if let Some(collection) = &filter.collection {
        let collection_match = match collection {
            Lookup::Id(id) => format!("c.id = {}", bind(id.to_string())),
            Lookup::Slug(slug) => format!("c.slug = {}", bind(slug.clone())),
        };
        conditions.push(format!(
            "p.id IN (SELECT cp.product_id FROM collection_products cp \
             JOIN collections c ON c.id = cp.collection_id WHERE {collection_match})"
        ));
    }
    if let Some(seller_id) = filter.seller_id {
        conditions.push(format!("p.seller_id = {}", bind(seller_id.to_string())));
    }
    for pattern in &filter.words {
        let p = bind(pattern.clone());
        conditions.push(format!("(LOWER(p.name) LIKE {p} ESCAPE '\\' OR LOWER(p.description) LIKE {p} ESCAPE '\\')"));
    }
    if let Some(channel) = &filter.channel {
        // Nested, so that the planner walks the product's variants then looks their price up by
        // (variant, channel). As one join, SQLite without statistics chose the channel index and
        // scanned every price of the channel for every product: 39 s to count 10,000 products.
        conditions.push(format!(
            "EXISTS (SELECT 1 FROM variants v WHERE v.product_id = p.id AND EXISTS \
             (SELECT 1 FROM variant_prices vp WHERE vp.variant_id = v.id AND vp.channel = {}))",
            bind(channel.clone())
        ));
    }
    let where_clause =
        if conditions.is_empty() { String::new() } else { format!(" WHERE {}", conditions.join(" AND ")) };

    let n = binds.len();
    let page_sql = format!(
        "{with}SELECT {} FROM products p{where_clause} ORDER BY p.created_at DESC, p.id DESC LIMIT ${} OFFSET ${}",
        product_columns!(),
        n + 1,
        n + 2
    );
    let mut page_query = query(AssertSqlSafe(page_sql));
    for value in &binds {
        page_query = page_query.bind(value.as_str());
    }
    let rows = page_query.bind(page.limit()).bind(page.offset()).fetch_all(&mut *conn).await.map_err(db_error)?;

    let count_sql = format!("{with}SELECT COUNT(*) FROM products p{where_clause}");
    let mut count_query = query_scalar::<_, i64>(AssertSqlSafe(count_sql));
    for value in &binds {
        count_query = count_query.bind(value.as_str());
    }
    let total = count_query.fetch_one(&mut *conn).await.map_err(db_error)?;

    let mut products = rows.iter().map(product_from_row).collect::<Result<Vec<_>>>()?;
    complete(conn, &mut products).await?;
    Ok((products, total.max(0) as u64))
}

/// Attaches variants (with prices) and category ids to products, in two queries for all of them.
async fn complete(conn: &mut AnyConnection, products: &mut [Product]) -> Result<()> {
    if products.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = products.iter().map(|p| p.id.to_string()).collect();
    let list = placeholders(1, ids.len());

    let sql = format!(
        "SELECT v.id, v.product_id, v.sku, v.options, v.weight_grams, vp.channel, vp.amount, vp.currency \
         FROM variants v LEFT JOIN variant_prices vp ON vp.variant_id = v.id \
         WHERE v.product_id IN ({list}) ORDER BY v.product_id, v.position, v.id, vp.channel"
    );
    let mut variant_query = query(AssertSqlSafe(sql));
    for id in &ids {
        variant_query = variant_query.bind(id.as_str());
    }
    let rows = variant_query.fetch_all(&mut *conn).await.map_err(db_error)?;
    let mut variants: HashMap<Uuid, Vec<Variant>> = HashMap::with_capacity(products.len());
    for row in &rows {
        let product_variants = variants.entry(id(row, "product_id")?).or_default();
        let variant_id = id(row, "id")?;
        // Rows come grouped by variant: one per price, or one with no price.
        if product_variants.last().is_none_or(|v| v.id != variant_id) {
            product_variants.push(Variant {
                id: variant_id,
                sku: text(row, "sku")?,
                options: map_from_json(&text(row, "options")?)?,
                weight_grams: row.try_get::<Option<i64>, _>("weight_grams").map_err(db_error)?,
                prices: vec![],
            });
        }
        if let Some(channel) = row.try_get::<Option<String>, _>("channel").map_err(db_error)? {
            let amount: i64 = row.try_get("amount").map_err(db_error)?;
            let price = Money::new(amount, currency(&text(row, "currency")?)?);
            if let Some(variant) = product_variants.last_mut() {
                variant.prices.push(ChannelPrice { channel, price });
            }
        }
    }

    let sql = format!(
        "SELECT product_id, category_id FROM product_categories \
         WHERE product_id IN ({list}) ORDER BY product_id, position, category_id"
    );
    let mut category_query = query(AssertSqlSafe(sql));
    for id in &ids {
        category_query = category_query.bind(id.as_str());
    }
    let rows = category_query.fetch_all(&mut *conn).await.map_err(db_error)?;
    let mut categories: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for row in &rows {
        categories.entry(id(row, "product_id")?).or_default().push(id(row, "category_id")?);
    }

    for product in products.iter_mut() {
        product.variants = variants.remove(&product.id).unwrap_or_default();
        product.category_ids = categories.remove(&product.id).unwrap_or_default();
    }
    Ok(())
}

/// What the cart needs for a SKU in a channel: the row exists if the SKU does; the price columns
/// are empty when it has no price there.
pub struct OfferRow {
    pub status: ProductStatus,
    pub offer: Option<SkuOffer>,
}

pub async fn offer(conn: &mut AnyConnection, sku: &str, channel: &str) -> Result<Option<OfferRow>> {
    let row = query(
        "SELECT v.sku, v.options, p.id AS product_id, p.name, p.status, vp.amount, vp.currency \
         FROM variants v JOIN products p ON p.id = v.product_id \
         LEFT JOIN variant_prices vp ON vp.variant_id = v.id AND vp.channel = $2 \
         WHERE v.sku = $1",
    )
    .bind(sku)
    .bind(channel)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?;
    let Some(row) = row else { return Ok(None) };
    let status = domain::status_from_db(&text(&row, "status")?)?;
    let offer = match row.try_get::<Option<i64>, _>("amount").map_err(db_error)? {
        None => None,
        Some(amount) => Some(SkuOffer {
            sku: text(&row, "sku")?,
            product_id: id(&row, "product_id")?,
            product_name: text(&row, "name")?,
            options: map_from_json(&text(&row, "options")?)?,
            channel: channel.to_string(),
            price: Money::new(amount, currency(&text(&row, "currency")?)?),
        }),
    };
    Ok(Some(OfferRow { status, offer }))
}

// ---- products: writes ----

/// Takes the product's row lock until the unit of work ends, so that changes to one product run one
/// after the other: SQLite serialises writers already, PostgreSQL does not. A no-op UPDATE because
/// SQLite has no `SELECT ... FOR UPDATE`. Answers whether the product exists.
pub async fn lock_product(conn: &mut AnyConnection, id: Uuid) -> Result<bool> {
    let done = query("UPDATE products SET updated_at = updated_at WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

/// Tables whose rows are named by a unique slug.
#[derive(Debug, Clone, Copy)]
pub enum Sluggable {
    Products,
    Categories,
    Collections,
}

pub async fn slug_taken(conn: &mut AnyConnection, table: Sluggable, slug: &str, except: Option<Uuid>) -> Result<bool> {
    let sql = match table {
        Sluggable::Products => "SELECT id FROM products WHERE slug = $1",
        Sluggable::Categories => "SELECT id FROM categories WHERE slug = $1",
        Sluggable::Collections => "SELECT id FROM collections WHERE slug = $1",
    };
    let owner: Option<String> = query_scalar(sql).bind(slug).fetch_optional(&mut *conn).await.map_err(db_error)?;
    Ok(owner.is_some_and(|owner| Some(owner) != except.map(|id| id.to_string())))
}

/// Tables whose rows others refer to by id.
#[derive(Debug, Clone, Copy)]
pub enum Referenced {
    Products,
    Categories,
}

/// The index of the first id with no row, if any.
pub async fn first_missing(conn: &mut AnyConnection, table: Referenced, ids: &[Uuid]) -> Result<Option<usize>> {
    if ids.is_empty() {
        return Ok(None);
    }
    let table = match table {
        Referenced::Products => "products",
        Referenced::Categories => "categories",
    };
    let sql = format!("SELECT id FROM {table} WHERE id IN ({})", placeholders(1, ids.len()));
    let mut found_query = query_scalar::<_, String>(AssertSqlSafe(sql));
    for id in ids {
        found_query = found_query.bind(id.to_string());
    }
    let found: HashSet<String> = found_query.fetch_all(&mut *conn).await.map_err(db_error)?.into_iter().collect();
    Ok(ids.iter().position(|id| !found.contains(&id.to_string())))
}

/// The SKUs among `skus` that some variant already uses.
pub async fn taken_skus(conn: &mut AnyConnection, skus: &[&str]) -> Result<HashSet<String>> {
    if skus.is_empty() {
        return Ok(HashSet::new());
    }
    let sql = format!("SELECT sku FROM variants WHERE sku IN ({})", placeholders(1, skus.len()));
    let mut taken_query = query_scalar::<_, String>(AssertSqlSafe(sql));
    for sku in skus {
        taken_query = taken_query.bind(*sku);
    }
    Ok(taken_query.fetch_all(&mut *conn).await.map_err(db_error)?.into_iter().collect())
}

pub struct ProductRecord<'a> {
    pub id: Uuid,
    pub seller_id: Uuid,
    pub slug: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub attributes: &'a BTreeMap<String, String>,
    pub now: &'a str,
}

pub async fn insert_product(conn: &mut AnyConnection, p: &ProductRecord<'_>) -> Result<()> {
    query(
        "INSERT INTO products (id, seller_id, slug, name, description, status, attributes, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'draft', $6, $7, $7)",
    )
    .bind(p.id.to_string())
    .bind(p.seller_id.to_string())
    .bind(p.slug)
    .bind(p.name)
    .bind(p.description)
    .bind(map_to_json(p.attributes)?)
    .bind(p.now)
    .execute(&mut *conn)
    .await
    .map_err(unique_or(|| duplicate_slug(p.slug)))?;
    Ok(())
}

pub fn duplicate_slug(slug: &str) -> Error {
    Error::conflict_on("duplicate-slug", "slug", format!("slug {slug} is already used"))
}

/// Writes the fields a patch may change; `product` already holds the new values.
pub async fn update_product(conn: &mut AnyConnection, product: &Product) -> Result<()> {
    query("UPDATE products SET slug = $2, name = $3, description = $4, attributes = $5, updated_at = $6 WHERE id = $1")
        .bind(product.id.to_string())
        .bind(product.slug.as_str())
        .bind(product.name.as_str())
        .bind(product.description.as_str())
        .bind(map_to_json(&product.attributes)?)
        .bind(time::to_db(&product.updated_at))
        .execute(&mut *conn)
        .await
        .map_err(unique_or(|| duplicate_slug(&product.slug)))?;
    Ok(())
}

pub async fn set_status(conn: &mut AnyConnection, id: Uuid, status: ProductStatus, now: &str) -> Result<()> {
    query("UPDATE products SET status = $2, updated_at = $3 WHERE id = $1")
        .bind(id.to_string())
        .bind(domain::status_to_db(status))
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

pub async fn touch_product(conn: &mut AnyConnection, id: Uuid, now: &str) -> Result<()> {
    query("UPDATE products SET updated_at = $2 WHERE id = $1")
        .bind(id.to_string())
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

pub async fn replace_product_categories(
    conn: &mut AnyConnection,
    product_id: Uuid,
    category_ids: &[Uuid],
) -> Result<()> {
    query("DELETE FROM product_categories WHERE product_id = $1")
        .bind(product_id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    for (position, category_id) in category_ids.iter().enumerate() {
        query("INSERT INTO product_categories (product_id, category_id, position) VALUES ($1, $2, $3)")
            .bind(product_id.to_string())
            .bind(category_id.to_string())
            .bind(position as i64)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
    }
    Ok(())
}

/// Inserts a variant and its prices. `field` names the variant in the request (`variants[2]`,
/// or empty when the variant is the whole request) for a SKU taken concurrently.
pub async fn insert_variant(
    conn: &mut AnyConnection,
    product_id: Uuid,
    position: usize,
    variant: &VariantDraft,
    field: &str,
) -> Result<()> {
    let id = comptoir_kernel::new_id();
    query(
        "INSERT INTO variants (id, product_id, sku, options, weight_grams, position) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id.to_string())
    .bind(product_id.to_string())
    .bind(variant.sku.as_str())
    .bind(map_to_json(&variant.options)?)
    .bind(variant.weight_grams)
    .bind(position as i64)
    .execute(&mut *conn)
    .await
    .map_err(unique_or(|| domain::duplicate_sku(&format!("{field}sku"), &variant.sku)))?;
    upsert_prices(conn, id, &variant.prices).await
}

/// Sets the variant's price in each channel given; other channels keep theirs.
pub async fn upsert_prices(conn: &mut AnyConnection, variant_id: Uuid, prices: &[ChannelPrice]) -> Result<()> {
    for price in prices {
        query(
            "INSERT INTO variant_prices (variant_id, channel, amount, currency) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (variant_id, channel) DO UPDATE SET amount = excluded.amount, currency = excluded.currency",
        )
        .bind(variant_id.to_string())
        .bind(price.channel.as_str())
        .bind(price.price.amount)
        .bind(price.price.currency.code())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    }
    Ok(())
}

/// Deletes a product with everything that hangs off it; answers whether it existed.
pub async fn delete_product(conn: &mut AnyConnection, id: Uuid) -> Result<bool> {
    let id = id.to_string();
    for sql in [
        "DELETE FROM variant_prices WHERE variant_id IN (SELECT id FROM variants WHERE product_id = $1)",
        "DELETE FROM variants WHERE product_id = $1",
        "DELETE FROM product_categories WHERE product_id = $1",
        "DELETE FROM collection_products WHERE product_id = $1",
    ] {
        query(sql).bind(id.as_str()).execute(&mut *conn).await.map_err(db_error)?;
    }
    let done =
        query("DELETE FROM products WHERE id = $1").bind(id.as_str()).execute(&mut *conn).await.map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

// ---- categories ----

/// The depth of an existing category, `None` if there is no such category.
pub async fn category_depth(conn: &mut AnyConnection, id: Uuid) -> Result<Option<i64>> {
    query_scalar("SELECT depth FROM categories WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)
}

pub async fn insert_category(conn: &mut AnyConnection, category: &Category, depth: i64, now: &str) -> Result<()> {
    query(
        "INSERT INTO categories (id, parent_id, name, slug, position, depth, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(category.id.to_string())
    .bind(category.parent_id.map(|id| id.to_string()))
    .bind(category.name.as_str())
    .bind(category.slug.as_str())
    .bind(category.position)
    .bind(depth)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(unique_or(|| duplicate_slug(&category.slug)))?;
    Ok(())
}

/// Every category, siblings ordered by position then name.
pub async fn categories(conn: &mut AnyConnection) -> Result<Vec<Category>> {
    let rows = query("SELECT id, parent_id, name, slug, position FROM categories ORDER BY position, name, id")
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
    rows.iter()
        .map(|row| {
            let parent: Option<String> = row.try_get("parent_id").map_err(db_error)?;
            Ok(Category {
                id: id(row, "id")?,
                parent_id: parent.as_deref().map(uuid_from_db).transpose()?,
                name: text(row, "name")?,
                slug: text(row, "slug")?,
                position: row.try_get("position").map_err(db_error)?,
            })
        })
        .collect()
}

// ---- collections ----

macro_rules! collection_columns {
    () => {
        "id, name, slug, description, created_at, updated_at"
    };
}

fn collection_from_row(row: &AnyRow) -> Result<Collection> {
    Ok(Collection {
        id: id(row, "id")?,
        name: text(row, "name")?,
        slug: text(row, "slug")?,
        description: text(row, "description")?,
        product_ids: vec![],
        created_at: timestamp(row, "created_at")?,
        updated_at: timestamp(row, "updated_at")?,
    })
}

/// Takes the collection's row lock until the unit of work ends, as [`lock_product`] does.
pub async fn lock_collection(conn: &mut AnyConnection, id: Uuid) -> Result<bool> {
    let done = query("UPDATE collections SET updated_at = updated_at WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(done.rows_affected() == 1)
}

pub async fn find_collection(conn: &mut AnyConnection, key: &Lookup) -> Result<Option<Collection>> {
    let found = match key {
        Lookup::Id(id) => {
            query(concat!("SELECT ", collection_columns!(), " FROM collections WHERE id = $1"))
                .bind(id.to_string())
                .fetch_optional(&mut *conn)
                .await
        }
        Lookup::Slug(slug) => {
            query(concat!("SELECT ", collection_columns!(), " FROM collections WHERE slug = $1"))
                .bind(slug.as_str())
                .fetch_optional(&mut *conn)
                .await
        }
    }
    .map_err(db_error)?;
    let Some(row) = found else { return Ok(None) };
    let mut collections = vec![collection_from_row(&row)?];
    attach_collection_products(conn, &mut collections).await?;
    Ok(collections.pop())
}

pub async fn list_collections(conn: &mut AnyConnection, page: PageRequest) -> Result<(Vec<Collection>, u64)> {
    let rows = query(concat!(
        "SELECT ",
        collection_columns!(),
        " FROM collections ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2"
    ))
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    let total: i64 = query_scalar("SELECT COUNT(*) FROM collections").fetch_one(&mut *conn).await.map_err(db_error)?;
    let mut collections = rows.iter().map(collection_from_row).collect::<Result<Vec<_>>>()?;
    attach_collection_products(conn, &mut collections).await?;
    Ok((collections, total.max(0) as u64))
}

async fn attach_collection_products(conn: &mut AnyConnection, collections: &mut [Collection]) -> Result<()> {
    if collections.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "SELECT collection_id, product_id FROM collection_products WHERE collection_id IN ({}) \
         ORDER BY collection_id, position, product_id",
        placeholders(1, collections.len())
    );
    let mut links_query = query(AssertSqlSafe(sql));
    for c in collections.iter() {
        links_query = links_query.bind(c.id.to_string());
    }
    let rows = links_query.fetch_all(&mut *conn).await.map_err(db_error)?;
    let mut links: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for row in &rows {
        links.entry(id(row, "collection_id")?).or_default().push(id(row, "product_id")?);
    }
    for c in collections.iter_mut() {
        c.product_ids = links.remove(&c.id).unwrap_or_default();
    }
    Ok(())
}

pub async fn insert_collection(conn: &mut AnyConnection, collection: &Collection) -> Result<()> {
    query(
        "INSERT INTO collections (id, name, slug, description, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(collection.id.to_string())
    .bind(collection.name.as_str())
    .bind(collection.slug.as_str())
    .bind(collection.description.as_str())
    .bind(time::to_db(&collection.created_at))
    .bind(time::to_db(&collection.updated_at))
    .execute(&mut *conn)
    .await
    .map_err(unique_or(|| duplicate_slug(&collection.slug)))?;
    replace_collection_products(conn, collection.id, &collection.product_ids).await
}

pub async fn update_collection(conn: &mut AnyConnection, collection: &Collection) -> Result<()> {
    query("UPDATE collections SET name = $2, description = $3, updated_at = $4 WHERE id = $1")
        .bind(collection.id.to_string())
        .bind(collection.name.as_str())
        .bind(collection.description.as_str())
        .bind(time::to_db(&collection.updated_at))
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    replace_collection_products(conn, collection.id, &collection.product_ids).await
}

async fn replace_collection_products(
    conn: &mut AnyConnection,
    collection_id: Uuid,
    product_ids: &[Uuid],
) -> Result<()> {
    query("DELETE FROM collection_products WHERE collection_id = $1")
        .bind(collection_id.to_string())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    for (position, product_id) in product_ids.iter().enumerate() {
        query("INSERT INTO collection_products (collection_id, product_id, position) VALUES ($1, $2, $3)")
            .bind(collection_id.to_string())
            .bind(product_id.to_string())
            .bind(position as i64)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
    }
    Ok(())
}
