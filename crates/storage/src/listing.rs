//! Paginated lists narrowed by optional equality filters, the shape of most back-office lists.

use comptoir_kernel::{PageRequest, Result};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe};

use crate::db_error;

/// `SELECT {columns} FROM {from} [WHERE expr = $n AND ...] ORDER BY {order_by}` for one page, with
/// the number of rows matching the filters. A filter whose value is `None` is left out. Only the
/// values are bound; `columns`, `from`, the filter expressions and `order_by` must be constants.
pub async fn filtered_page(
    c: &mut AnyConnection,
    columns: &str,
    from: &str,
    filters: &[(&str, Option<&str>)],
    order_by: &str,
    page: PageRequest,
) -> Result<(Vec<AnyRow>, u64)> {
    let values: Vec<&str> = filters.iter().filter_map(|(_, value)| *value).collect();
    let conditions: Vec<String> = filters
        .iter()
        .filter(|(_, value)| value.is_some())
        .enumerate()
        .map(|(i, (expr, _))| format!("{expr} = ${}", i + 1))
        .collect();
    let from = if conditions.is_empty() {
        format!("FROM {from}")
    } else {
        format!("FROM {from} WHERE {}", conditions.join(" AND "))
    };

    let list =
        format!("SELECT {columns} {from} ORDER BY {order_by} LIMIT ${} OFFSET ${}", values.len() + 1, values.len() + 2);
    let mut rows = sqlx::query(AssertSqlSafe(list));
    for value in &values {
        rows = rows.bind(*value);
    }
    let rows = rows.bind(page.limit()).bind(page.offset()).fetch_all(&mut *c).await.map_err(db_error)?;

    let mut count = sqlx::query_scalar::<_, i64>(AssertSqlSafe(format!("SELECT COUNT(*) {from}")));
    for value in &values {
        count = count.bind(*value);
    }
    let total = count.fetch_one(c).await.map_err(db_error)?;
    Ok((rows, total as u64))
}
