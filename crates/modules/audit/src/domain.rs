//! Audit rules without I/O: what an entry may hold, how a search is read, and the stored names of
//! the closed sets. Every refusal names its field (`entries[3].action`, `q`), and every problem of
//! a call is reported at once.

use chrono::{Datelike, Timelike};
use comptoir_contracts::audit::{AuditCategory, AuditFilter, AuditOutcome, MAX_BATCH, NewAuditEntry};
use comptoir_kernel::time::{self, Timestamp};
use comptoir_kernel::validate::Problems;
use comptoir_kernel::{ActorType, Error, PageRequest, Result};
use serde_json::{Map, Value};

/// Longest action (a route template, an event type).
pub const MAX_ACTION: usize = 200;
/// Longest actor label and target (a path with its parameters).
pub const MAX_LABEL: usize = 500;
/// Longest actor id and correlation id: ids, never free text.
pub const MAX_ID: usize = 200;
pub const MAX_SOURCE: usize = 100;
/// An IPv6 address with a zone fits many times over.
pub const MAX_IP: usize = 100;
/// The largest detail, as compact JSON.
pub const MAX_DETAIL_BYTES: usize = 8 * 1024;
/// Deeper details are refused: a stored detail must read back (JSON readers stop at 128 levels).
pub const MAX_DETAIL_DEPTH: usize = 32;
/// The longest `q`, and the most words in it.
pub const MAX_QUERY: usize = 200;
pub const MAX_WORDS: usize = 10;

// ---- Entries ---------------------------------------------------------------------------------

/// Checks a batch and returns it as it is stored: text trimmed, blank optional text absent, a
/// null detail as `{}`, instants to the microsecond. One bad entry refuses the whole batch, naming
/// every bad field of every entry.
pub fn entries(entries: Vec<NewAuditEntry>) -> Result<Vec<NewAuditEntry>> {
    if entries.len() > MAX_BATCH {
        return Err(Error::validation(
            "entries",
            format!("must hold at most {MAX_BATCH} entries, not {}", entries.len()),
        ));
    }
    let mut problems = Problems::default();
    let checked: Vec<Option<NewAuditEntry>> =
        entries.into_iter().enumerate().map(|(i, e)| entry(&mut problems, &format!("entries[{i}]"), e)).collect();
    problems.finish(checked.into_iter().collect::<Option<Vec<_>>>())
}

fn entry(problems: &mut Problems, path: &str, e: NewAuditEntry) -> Option<NewAuditEntry> {
    let field = |name: &str| format!("{path}.{name}");
    // Every check runs before any `?`, so that all problems are reported.
    let occurred_at = problems.check(instant(&field("occurred_at"), e.occurred_at));
    let action = problems.check(required(&field("action"), &e.action, MAX_ACTION));
    let actor_id = problems.check(optional(&field("actor_id"), e.actor_id.as_deref(), MAX_ID));
    let actor_label = problems.check(optional(&field("actor_label"), e.actor_label.as_deref(), MAX_LABEL));
    let target = problems.check(optional(&field("target"), e.target.as_deref(), MAX_LABEL));
    let status = problems.check(status(&field("status"), e.status));
    let correlation_id = problems.check(required(&field("correlation_id"), &e.correlation_id, MAX_ID));
    let ip = problems.check(optional(&field("ip"), e.ip.as_deref(), MAX_IP));
    let source = problems.check(required(&field("source"), &e.source, MAX_SOURCE));
    let detail = problems.check(detail(&field("detail"), e.detail));
    Some(NewAuditEntry {
        occurred_at: occurred_at?,
        category: e.category,
        action: action?,
        outcome: e.outcome,
        actor_type: e.actor_type,
        actor_id: actor_id?,
        actor_label: actor_label?,
        target: target?,
        status: status?,
        correlation_id: correlation_id?,
        ip: ip?,
        source: source?,
        detail: detail?,
    })
}

/// Trimmed, non-empty, bounded, printable.
fn required(field: &str, value: &str, max: usize) -> Result<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Error::validation(field, "must not be empty"));
    }
    bounded(field, value, max)
}

/// Absent when blank; otherwise trimmed, bounded, printable.
fn optional(field: &str, value: Option<&str>, max: usize) -> Result<Option<String>> {
    value.map(str::trim).filter(|v| !v.is_empty()).map(|v| bounded(field, v, max)).transpose()
}

/// Control characters are refused: the log is read on screens and exported, and a line break or
/// an escape sequence in a label could forge what a reader sees (and PostgreSQL refuses NUL).
fn bounded(field: &str, value: &str, max: usize) -> Result<String> {
    if value.chars().count() > max {
        return Err(Error::validation(field, format!("must be at most {max} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::validation(field, "must not contain control characters"));
    }
    Ok(value.to_string())
}

fn status(field: &str, value: Option<u16>) -> Result<Option<u16>> {
    match value {
        Some(code) if !(100..=599).contains(&code) => {
            Err(Error::validation(field, "must be an HTTP status code (100 to 599)"))
        }
        other => Ok(other),
    }
}

/// To the microsecond, as stored; years of four digits only, since instants are stored as
/// fixed-width text that sorts as time.
pub fn instant(field: &str, at: Timestamp) -> Result<Timestamp> {
    if !(1..=9999).contains(&at.year()) {
        return Err(Error::validation(field, "must fall between the years 1 and 9999"));
    }
    Ok(at.with_nanosecond(at.nanosecond() / 1000 * 1000).unwrap_or(at))
}

/// Now, to the microsecond the database keeps.
pub fn now() -> Timestamp {
    let now = time::now();
    now.with_nanosecond(now.nanosecond() / 1000 * 1000).unwrap_or(now)
}

/// A JSON object of at most [`MAX_DETAIL_BYTES`] and [`MAX_DETAIL_DEPTH`] levels; null, for a
/// recorder with nothing to add, is kept as `{}` so that readers always find an object.
pub fn detail(field: &str, value: Value) -> Result<Value> {
    let value = match value {
        Value::Null => return Ok(Value::Object(Map::new())),
        Value::Object(_) => value,
        _ => return Err(Error::validation(field, "must be a JSON object")),
    };
    let too_large = || Error::validation(field, format!("must be at most {MAX_DETAIL_BYTES} bytes as JSON"));
    // Measured without recursion first: a value built in process can be deeper than any
    // serialiser's stack, and larger than any caller meant.
    match shape(&value) {
        Shape::Fits => {}
        Shape::TooDeep => {
            return Err(Error::validation(field, format!("must be nested at most {MAX_DETAIL_DEPTH} levels deep")));
        }
        Shape::TooLarge => return Err(too_large()),
    }
    if to_json(&value)?.len() > MAX_DETAIL_BYTES {
        return Err(too_large());
    }
    Ok(value)
}

enum Shape {
    Fits,
    TooDeep,
    TooLarge,
}

/// Walks the value with a stack of its own. Every value takes at least one byte of JSON, so more
/// values than [`MAX_DETAIL_BYTES`] is too large without serialising anything.
fn shape(value: &Value) -> Shape {
    let mut stack = vec![(value, 1usize)];
    let mut values = 0usize;
    while let Some((value, depth)) = stack.pop() {
        values += 1;
        if depth > MAX_DETAIL_DEPTH {
            return Shape::TooDeep;
        }
        let children = match value {
            Value::Array(items) => items.len(),
            Value::Object(map) => map.len(),
            _ => 0,
        };
        if values + stack.len() + children > MAX_DETAIL_BYTES {
            return Shape::TooLarge;
        }
        match value {
            Value::Array(items) => stack.extend(items.iter().map(|v| (v, depth + 1))),
            Value::Object(map) => stack.extend(map.values().map(|v| (v, depth + 1))),
            _ => {}
        }
    }
    Shape::Fits
}

/// A detail's stored form: compact JSON.
pub fn to_json(detail: &Value) -> Result<String> {
    serde_json::to_string(detail).map_err(|e| Error::internal(format!("audit detail not serialisable: {e}")))
}

// ---- Searches --------------------------------------------------------------------------------

/// A checked search: every filter in its stored form, absent when not given.
#[derive(Debug, Default, PartialEq)]
pub struct Query {
    pub category: Option<&'static str>,
    pub outcome: Option<&'static str>,
    pub actor_id: Option<String>,
    /// Matched against the start of the action, case and all.
    pub action_prefix: Option<String>,
    pub correlation_id: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// One `%word%` LIKE pattern (`ESCAPE '\'`, lowercase) per distinct word of `q`.
    pub words: Vec<String>,
}

/// Checks a filter and a page together; blank text filters are absent.
pub fn query(filter: AuditFilter, page: PageRequest) -> Result<Query> {
    let mut problems = Problems::default();
    problems.check(page.validate());
    let actor_id = problems.check(optional("actor_id", filter.actor_id.as_deref(), MAX_ID));
    // Only leading blanks go: a trailing space is part of a prefix (`POST ` is not `POSTAL`).
    let action = problems.check(optional_prefix("action", filter.action.as_deref()));
    let correlation_id = problems.check(optional("correlation_id", filter.correlation_id.as_deref(), MAX_ID));
    let from = filter.from.map(|at| problems.check(instant("from", at)));
    let to = filter.to.map(|at| problems.check(instant("to", at)));
    if let (Some(Some(from)), Some(Some(to))) = (from, to)
        && to <= from
    {
        problems.add("to", "must be after from");
    }
    let words = problems.check(like_patterns("q", filter.q.as_deref().unwrap_or("")));
    let query = Query {
        category: filter.category.map(AuditCategory::as_str),
        outcome: filter.outcome.map(AuditOutcome::as_str),
        actor_id: actor_id.flatten(),
        action_prefix: action.flatten(),
        correlation_id: correlation_id.flatten(),
        from: from.flatten().map(|at| time::to_db(&at)),
        to: to.flatten().map(|at| time::to_db(&at)),
        words: words.unwrap_or_default(),
    };
    problems.finish(Some(query))
}

fn optional_prefix(field: &str, value: Option<&str>) -> Result<Option<String>> {
    value.map(str::trim_start).filter(|v| !v.is_empty()).map(|v| bounded(field, v, MAX_ACTION)).transpose()
}

/// `%word%` patterns for a case-insensitive LIKE with `ESCAPE '\'`: `%`, `_` and `\` typed by the
/// reader match themselves, not any text.
fn like_patterns(field: &str, q: &str) -> Result<Vec<String>> {
    let q = q.trim();
    if q.is_empty() {
        return Ok(Vec::new());
    }
    bounded(field, q, MAX_QUERY)?;
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
    }
    if patterns.len() > MAX_WORDS {
        return Err(Error::validation(field, format!("must hold at most {MAX_WORDS} distinct words")));
    }
    Ok(patterns)
}

// ---- Stored names ----------------------------------------------------------------------------

pub fn category(value: &str) -> Result<AuditCategory> {
    match value {
        "action" => Ok(AuditCategory::Action),
        "security" => Ok(AuditCategory::Security),
        other => Err(Error::internal(format!("stored audit category {other:?} is unknown"))),
    }
}

pub fn outcome(value: &str) -> Result<AuditOutcome> {
    match value {
        "success" => Ok(AuditOutcome::Success),
        "failure" => Ok(AuditOutcome::Failure),
        "denied" => Ok(AuditOutcome::Denied),
        other => Err(Error::internal(format!("stored audit outcome {other:?} is unknown"))),
    }
}

pub fn actor_type(value: &str) -> Result<ActorType> {
    match value {
        "user" => Ok(ActorType::User),
        "app" => Ok(ActorType::App),
        "system" => Ok(ActorType::System),
        other => Err(Error::internal(format!("stored actor type {other:?} is unknown"))),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use chrono::Utc;
    use serde_json::json;

    use super::*;

    fn sample() -> NewAuditEntry {
        NewAuditEntry {
            occurred_at: Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap(),
            category: AuditCategory::Action,
            action: "POST /admin/products".into(),
            outcome: AuditOutcome::Success,
            actor_type: ActorType::User,
            actor_id: Some("staff-1".into()),
            actor_label: Some("ada@example.com".into()),
            target: Some("/api/v1/admin/products".into()),
            status: Some(201),
            correlation_id: "corr-1".into(),
            ip: Some("203.0.113.7".into()),
            source: "api".into(),
            detail: json!({"sku": "TEA-1"}),
        }
    }

    fn fields(e: &Error) -> Vec<&str> {
        e.field_errors().iter().map(|f| f.field.as_str()).collect()
    }

    #[test]
    fn entries_are_kept_trimmed_with_blank_text_absent_and_null_detail_empty() {
        let mut e = sample();
        e.action = "  POST /admin/products ".into();
        e.actor_label = Some("   ".into());
        e.detail = Value::Null;
        e.occurred_at += chrono::Duration::nanoseconds(1_234_567);
        let kept = entries(vec![e]).unwrap().pop().unwrap();
        assert_eq!(kept.action, "POST /admin/products");
        assert_eq!(kept.actor_label, None);
        assert_eq!(kept.detail, json!({}));
        assert_eq!(kept.occurred_at.nanosecond(), 1_234_000);
    }

    #[test]
    fn every_bad_field_of_every_entry_is_named() {
        let mut second = sample();
        second.action = " ".into();
        second.correlation_id = String::new();
        second.source = "a\u{1b}[31mpi".into();
        second.target = Some("x".repeat(501));
        second.status = Some(42);
        second.detail = json!([1, 2]);
        let e = entries(vec![sample(), second]).unwrap_err();
        assert_eq!(e.status(), 422);
        assert_eq!(
            fields(&e),
            [
                "entries[1].action",
                "entries[1].target",
                "entries[1].status",
                "entries[1].correlation_id",
                "entries[1].source",
                "entries[1].detail"
            ]
        );
        assert!(entries(vec![sample(); MAX_BATCH]).is_ok());
        assert_eq!(fields(&entries(vec![sample(); MAX_BATCH + 1]).unwrap_err()), ["entries"]);
    }

    #[test]
    fn details_are_bounded_in_size_and_depth_without_recursing() {
        assert!(detail("d", json!({"note": "x".repeat(MAX_DETAIL_BYTES - 20)})).is_ok());
        assert!(detail("d", json!({"note": "x".repeat(MAX_DETAIL_BYTES)})).is_err());
        assert!(detail("d", json!({"many": vec![0; MAX_DETAIL_BYTES]})).is_err());
        let mut deep = json!(1);
        for _ in 0..1_000 {
            deep = json!([deep]);
        }
        let e = detail("d", json!({ "deep": deep })).unwrap_err();
        assert!(e.to_string().contains("levels deep"), "{e}");
        for bad in [json!("text"), json!(3), json!(true)] {
            assert!(detail("d", bad).is_err());
        }
    }

    #[test]
    fn searches_escape_wildcards_and_name_bad_filters() {
        let filter = AuditFilter { q: Some(" 50% a_b  50% Back\\slash ".into()), ..AuditFilter::default() };
        let q = query(filter, PageRequest::default()).unwrap();
        assert_eq!(q.words, ["%50\\%%", "%a\\_b%", "%back\\\\slash%"]);

        let at = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
        let filter = AuditFilter {
            actor_id: Some("   ".into()),
            action: Some("  POST ".into()),
            from: Some(at),
            to: Some(at),
            q: Some((0..11).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" ")),
            ..AuditFilter::default()
        };
        let e = query(filter, PageRequest { page: 0, per_page: 20 }).unwrap_err();
        assert_eq!(fields(&e), ["page", "to", "q"]);
        let filter = AuditFilter { action: Some("  POST ".into()), ..AuditFilter::default() };
        assert_eq!(query(filter, PageRequest::default()).unwrap().action_prefix.as_deref(), Some("POST "));
    }
}
