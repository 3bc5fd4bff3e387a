//! The SQL of the search module: the documents the index is built from, SKU availability, the
//! category tree and sellers' names. Writes run on a unit of work's connection.

use std::collections::{HashMap, HashSet};

use comptoir_kernel::time::Timestamp;
use comptoir_kernel::{Error, Result, time};
use comptoir_storage::row::{flag, int, optional_id, placeholders, text};
use comptoir_storage::{db_error, query, query_scalar, uuid_from_db};
use sqlx::{AnyConnection, AssertSqlSafe};
use uuid::Uuid;

use crate::document::ProductDocument;
use crate::index::{CategoryLabel, Change};

/// Reserves `count` consecutive change numbers and returns the first. The row stays locked until
/// the unit of work ends, so changes commit in the order of their numbers.
pub async fn next_seq(c: &mut AnyConnection, count: i64) -> Result<i64> {
    let last: i64 = query_scalar("UPDATE search_sequence SET seq = seq + $1 WHERE id = 1 RETURNING seq")
        .bind(count)
        .fetch_one(c)
        .await
        .map_err(db_error)?;
    Ok(last - count + 1)
}

pub async fn put_document(
    c: &mut AnyConnection,
    product_id: Uuid,
    seq: i64,
    document: Option<&ProductDocument>,
) -> Result<()> {
    let json = match document {
        Some(document) => serde_json::to_string(document).map_err(|e| Error::internal(format!("document: {e}")))?,
        None => "null".to_string(),
    };
    query(
        "INSERT INTO search_documents (product_id, seq, searchable, document, updated_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (product_id) DO UPDATE SET seq = excluded.seq, searchable = excluded.searchable, \
             document = excluded.document, updated_at = excluded.updated_at",
    )
    .bind(product_id.to_string())
    .bind(seq)
    .bind(document.is_some() as i32)
    .bind(json)
    .bind(time::to_db(&time::now()))
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Ties these SKUs, and only these, to the product, with their availability read at `as_of`.
pub async fn put_skus(
    c: &mut AnyConnection,
    product_id: Uuid,
    skus: &[(String, i64)],
    as_of: &Timestamp,
) -> Result<()> {
    query("UPDATE search_skus SET product_id = NULL WHERE product_id = $1")
        .bind(product_id.to_string())
        .execute(&mut *c)
        .await
        .map_err(db_error)?;
    for (sku, available) in skus {
        query(
            "INSERT INTO search_skus (sku, product_id, available, previous, as_of) VALUES ($1, $2, $3, $3, $4) \
             ON CONFLICT (sku) DO UPDATE SET product_id = excluded.product_id, previous = search_skus.available, \
                 available = excluded.available, as_of = excluded.as_of",
        )
        .bind(sku)
        .bind(product_id.to_string())
        .bind(*available)
        .bind(time::to_db(as_of))
        .execute(&mut *c)
        .await
        .map_err(db_error)?;
    }
    Ok(())
}

/// Records a SKU's availability as inventory said it at `as_of`, unless something newer is
/// stored. Returns its product when search knows it and the SKU came into or went out of stock
/// (the only change a listing shows).
pub async fn set_available(
    c: &mut AnyConnection,
    sku: &str,
    available: i64,
    as_of: &Timestamp,
) -> Result<Option<Uuid>> {
    let as_of = time::to_db(as_of);
    // SET expressions read the row as it was: `previous` keeps the value replaced.
    let updated =
        query("UPDATE search_skus SET previous = available, available = $2, as_of = $3 WHERE sku = $1 AND as_of < $3")
            .bind(sku)
            .bind(available)
            .bind(&as_of)
            .execute(&mut *c)
            .await
            .map_err(db_error)?;
    if updated.rows_affected() == 0 {
        // Unknown yet (its product's event may come later), or this news is stale.
        query(
            "INSERT INTO search_skus (sku, product_id, available, previous, as_of) VALUES ($1, NULL, $2, $2, $3) \
             ON CONFLICT (sku) DO NOTHING",
        )
        .bind(sku)
        .bind(available)
        .bind(&as_of)
        .execute(&mut *c)
        .await
        .map_err(db_error)?;
        return Ok(None);
    }
    let row = query("SELECT product_id, available, previous FROM search_skus WHERE sku = $1")
        .bind(sku)
        .fetch_one(&mut *c)
        .await
        .map_err(db_error)?;
    let switched = (int(&row, "available")? > 0) != (int(&row, "previous")? > 0);
    Ok(optional_id(&row, "product_id")?.filter(|_| switched))
}

/// Gives a product's row a new change number, so that the index applies it again.
pub async fn touch(c: &mut AnyConnection, product_id: Uuid, seq: i64) -> Result<()> {
    query("UPDATE search_documents SET seq = $1 WHERE product_id = $2")
        .bind(seq)
        .bind(product_id.to_string())
        .execute(c)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// The changes after `after`, oldest first, with whether each product has a variant to sell.
pub async fn changes_since(c: &mut AnyConnection, after: i64, limit: i64) -> Result<Vec<Change>> {
    let rows = query(
        "SELECT product_id, seq, CAST(searchable AS INTEGER) AS searchable, document FROM search_documents \
         WHERE seq > $1 ORDER BY seq LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(&mut *c)
    .await
    .map_err(db_error)?;
    let mut changes = Vec::with_capacity(rows.len());
    for row in &rows {
        let document = match flag(row, "searchable")? {
            true => Some(
                serde_json::from_str::<ProductDocument>(&text(row, "document")?)
                    .map_err(|e| Error::internal(format!("stored search document: {e}")))?,
            ),
            false => None,
        };
        changes.push((uuid_from_db(&text(row, "product_id")?)?, int(row, "seq")?, document));
    }
    let wanted: Vec<String> =
        changes.iter().filter(|(_, _, doc)| doc.is_some()).map(|(id, _, _)| id.to_string()).collect();
    let mut in_stock = HashSet::new();
    for chunk in wanted.chunks(500) {
        let sql = format!(
            "SELECT DISTINCT product_id FROM search_skus WHERE available > 0 AND product_id IN ({})",
            placeholders(1, chunk.len())
        );
        let mut select = query_scalar::<_, String>(AssertSqlSafe(sql));
        for id in chunk {
            select = select.bind(id);
        }
        in_stock.extend(select.fetch_all(&mut *c).await.map_err(db_error)?);
    }
    Ok(changes
        .into_iter()
        .map(|(product_id, seq, document)| Change {
            product_id,
            seq,
            document: document.map(|d| (d, in_stock.contains(&product_id.to_string()))),
        })
        .collect())
}

/// The last change number handed out, and how many changes are above `applied`.
pub async fn pending(c: &mut AnyConnection, applied: i64) -> Result<u64> {
    let count: i64 = query_scalar("SELECT COUNT(*) FROM search_documents WHERE seq > $1")
        .bind(applied)
        .fetch_one(c)
        .await
        .map_err(db_error)?;
    Ok(count as u64)
}

pub async fn has_documents(c: &mut AnyConnection) -> Result<bool> {
    let any: Option<String> =
        query_scalar("SELECT product_id FROM search_documents LIMIT 1").fetch_optional(c).await.map_err(db_error)?;
    Ok(any.is_some())
}

pub async fn product_ids(c: &mut AnyConnection) -> Result<Vec<Uuid>> {
    let ids: Vec<String> = query_scalar("SELECT product_id FROM search_documents WHERE searchable = 1")
        .fetch_all(c)
        .await
        .map_err(db_error)?;
    ids.iter().map(|id| uuid_from_db(id)).collect()
}

// ---- Categories and sellers ----------------------------------------------------------------

pub async fn put_category(c: &mut AnyConnection, category: &CategoryLabel) -> Result<()> {
    query(
        "INSERT INTO search_categories (id, parent_id, slug, name, position) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (id) DO UPDATE SET parent_id = excluded.parent_id, slug = excluded.slug, \
             name = excluded.name, position = excluded.position",
    )
    .bind(category.id.to_string())
    .bind(category.parent_id.map(|id| id.to_string()))
    .bind(&category.slug)
    .bind(&category.name)
    .bind(category.position)
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(())
}

pub async fn categories(c: &mut AnyConnection) -> Result<Vec<CategoryLabel>> {
    let rows = query("SELECT id, parent_id, slug, name, position FROM search_categories")
        .fetch_all(c)
        .await
        .map_err(db_error)?;
    rows.iter()
        .map(|row| {
            Ok(CategoryLabel {
                id: uuid_from_db(&text(row, "id")?)?,
                parent_id: optional_id(row, "parent_id")?,
                slug: text(row, "slug")?,
                name: text(row, "name")?,
                position: int(row, "position")?,
            })
        })
        .collect()
}

pub async fn put_seller(c: &mut AnyConnection, id: Uuid, name: &str) -> Result<()> {
    query("INSERT INTO search_sellers (id, name) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET name = excluded.name")
        .bind(id.to_string())
        .bind(name)
        .execute(c)
        .await
        .map_err(db_error)?;
    Ok(())
}

pub async fn sellers(c: &mut AnyConnection) -> Result<HashMap<Uuid, String>> {
    let rows = query("SELECT id, name FROM search_sellers").fetch_all(c).await.map_err(db_error)?;
    rows.iter().map(|row| Ok((uuid_from_db(&text(row, "id")?)?, text(row, "name")?))).collect()
}

/// Forgets the tree, the sellers and the SKUs before a rebuild writes them again.
pub async fn clear_references(c: &mut AnyConnection) -> Result<()> {
    for table in ["search_categories", "search_sellers", "search_skus"] {
        query(AssertSqlSafe(format!("DELETE FROM {table}"))).execute(&mut *c).await.map_err(db_error)?;
    }
    Ok(())
}
