//! The SQL of the audit module: one append-only table. Writes run on a unit of work's connection,
//! reads on a reader's.

use comptoir_contracts::audit::{AuditEntry, NewAuditEntry};
use comptoir_kernel::time::{self, Timestamp};
use comptoir_kernel::{Error, PageRequest, Result};
use comptoir_storage::row::{id, optional_text, placeholders, text, timestamp};
use comptoir_storage::{AnyRow, Row, db_error, query, query_scalar};
use sqlx::{AnyConnection, AssertSqlSafe};
use uuid::Uuid;

use crate::domain::{self, Query};

const COLUMNS: &str = "id, recorded_at, occurred_at, category, action, outcome, actor_type, actor_id, actor_label, \
                       target, status, correlation_id, ip, source, detail";
const COLUMN_COUNT: usize = 15;
/// Rows per INSERT: 1,500 parameters, well under both backends' limits.
const ROWS_PER_INSERT: usize = 100;

/// Inserts the entries, a multi-row INSERT per hundred.
pub async fn insert(c: &mut AnyConnection, entries: &[AuditEntry]) -> Result<()> {
    for chunk in entries.chunks(ROWS_PER_INSERT) {
        let values: Vec<String> =
            (0..chunk.len()).map(|i| format!("({})", placeholders(i * COLUMN_COUNT + 1, COLUMN_COUNT))).collect();
        let sql = format!("INSERT INTO audit_entries ({COLUMNS}) VALUES {}", values.join(", "));
        let mut insert = query(AssertSqlSafe(sql));
        for stored in chunk {
            let e = &stored.entry;
            insert = insert
                .bind(stored.id.to_string())
                .bind(time::to_db(&stored.recorded_at))
                .bind(time::to_db(&e.occurred_at))
                .bind(e.category.as_str())
                .bind(e.action.clone())
                .bind(e.outcome.as_str())
                .bind(e.actor_type.as_str())
                .bind(e.actor_id.clone())
                .bind(e.actor_label.clone())
                .bind(e.target.clone())
                .bind(e.status.map(i64::from))
                .bind(e.correlation_id.clone())
                .bind(e.ip.clone())
                .bind(e.source.clone())
                .bind(domain::to_json(&e.detail)?);
        }
        insert.execute(&mut *c).await.map_err(db_error)?;
    }
    Ok(())
}

pub async fn get(c: &mut AnyConnection, entry_id: Uuid) -> Result<Option<AuditEntry>> {
    let sql = format!("SELECT {COLUMNS} FROM audit_entries WHERE id = $1");
    let row = query(AssertSqlSafe(sql)).bind(entry_id.to_string()).fetch_optional(c).await.map_err(db_error)?;
    row.as_ref().map(entry_from_row).transpose()
}

/// The entries matching every filter of `q`, newest first, and how many match in all.
pub async fn search(c: &mut AnyConnection, q: &Query, page: PageRequest) -> Result<(Vec<AuditEntry>, u64)> {
    let mut conditions: Vec<String> = Vec::new();
    let mut values: Vec<String> = Vec::new();
    // Binds `value` and returns its placeholder.
    let mut bind = |value: String| {
        values.push(value);
        format!("${}", values.len())
    };
    let mut equal = |column: &str, value: Option<String>| {
        if let Some(value) = value {
            conditions.push(format!("{column} = {}", bind(value)));
        }
    };
    equal("category", q.category.map(str::to_string));
    equal("outcome", q.outcome.map(str::to_string));
    equal("actor_id", q.actor_id.clone());
    equal("correlation_id", q.correlation_id.clone());
    if let Some(prefix) = &q.action_prefix {
        // SUBSTR rather than LIKE: exact and case-sensitive on both backends (SQLite's LIKE
        // ignores ASCII case, PostgreSQL's does not), with no wildcard to escape. Both count
        // characters, not bytes; the length is ours, a number, not input.
        let length = prefix.chars().count();
        conditions.push(format!("SUBSTR(action, 1, {length}) = {}", bind(prefix.clone())));
    }
    if let Some(from) = &q.from {
        conditions.push(format!("occurred_at >= {}", bind(from.clone())));
    }
    if let Some(to) = &q.to {
        conditions.push(format!("occurred_at < {}", bind(to.clone())));
    }
    for pattern in &q.words {
        // Each word somewhere in the label, the action or the target. LOWER folds ASCII on
        // SQLite and every letter on PostgreSQL: accented capitals match only on the latter.
        let p = bind(pattern.clone());
        conditions.push(format!(
            "(LOWER(actor_label) LIKE {p} ESCAPE '\\' OR LOWER(action) LIKE {p} ESCAPE '\\' \
             OR LOWER(target) LIKE {p} ESCAPE '\\')"
        ));
    }
    let filter_sql = if conditions.is_empty() { String::new() } else { format!(" WHERE {}", conditions.join(" AND ")) };

    let list = format!(
        "SELECT {COLUMNS} FROM audit_entries{filter_sql} ORDER BY occurred_at DESC, id DESC LIMIT ${} OFFSET ${}",
        values.len() + 1,
        values.len() + 2
    );
    let mut rows = query(AssertSqlSafe(list));
    for value in &values {
        rows = rows.bind(value.as_str());
    }
    let rows = rows.bind(page.limit()).bind(page.offset()).fetch_all(&mut *c).await.map_err(db_error)?;

    let mut count = query_scalar::<_, i64>(AssertSqlSafe(format!("SELECT COUNT(*) FROM audit_entries{filter_sql}")));
    for value in &values {
        count = count.bind(value.as_str());
    }
    let total = count.fetch_one(&mut *c).await.map_err(db_error)?;
    let items = rows.iter().map(entry_from_row).collect::<Result<Vec<_>>>()?;
    Ok((items, total.max(0) as u64))
}

/// Deletes at most `limit` of the oldest entries that occurred before `before`; answers how many.
pub async fn prune(c: &mut AnyConnection, before: &Timestamp, limit: i64) -> Result<u64> {
    let done = query(
        "DELETE FROM audit_entries WHERE id IN \
         (SELECT id FROM audit_entries WHERE occurred_at < $1 ORDER BY occurred_at LIMIT $2)",
    )
    .bind(time::to_db(before))
    .bind(limit)
    .execute(c)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected())
}

fn entry_from_row(row: &AnyRow) -> Result<AuditEntry> {
    let detail = text(row, "detail")?;
    let status = row.try_get::<Option<i64>, _>("status").map_err(db_error)?;
    Ok(AuditEntry {
        id: id(row, "id")?,
        recorded_at: timestamp(row, "recorded_at")?,
        entry: NewAuditEntry {
            occurred_at: timestamp(row, "occurred_at")?,
            category: domain::category(&text(row, "category")?)?,
            action: text(row, "action")?,
            outcome: domain::outcome(&text(row, "outcome")?)?,
            actor_type: domain::actor_type(&text(row, "actor_type")?)?,
            actor_id: optional_text(row, "actor_id")?,
            actor_label: optional_text(row, "actor_label")?,
            target: optional_text(row, "target")?,
            status: status
                .map(|code| {
                    u16::try_from(code)
                        .map_err(|_| Error::internal(format!("stored HTTP status {code} is out of range")))
                })
                .transpose()?,
            correlation_id: text(row, "correlation_id")?,
            ip: optional_text(row, "ip")?,
            source: text(row, "source")?,
            detail: serde_json::from_str(&detail)
                .map_err(|e| Error::internal(format!("stored audit detail is not JSON: {e}")))?,
        },
    })
}
