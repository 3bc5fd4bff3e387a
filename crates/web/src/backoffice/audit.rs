//! The audit log, for staff holding `audit:read`: every change made by staff or an app and every
//! security event (failed sign-ins, permissions denied, API keys used), newest first, with filters;
//! and one entry with everything it recorded. Nothing here changes an entry.

use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use chrono::{DateTime, NaiveDate, Utc};
use comptoir_contracts::audit::{AuditCategory, AuditEntry, AuditFilter, AuditOutcome};
use comptoir_contracts::identity::Permission;
use comptoir_kernel::{Error, PageRequest};
use uuid::Uuid;

use super::{Chrome, staff};
use crate::form::{FormData, FormErrors};
use crate::present::date_time;
use crate::session::Session;
use crate::storefront::Pager;
use crate::view::{PageError, render, render_status};
use crate::{PageResult, WebState};

const PER_PAGE: u32 = 50;
const SECTION: &str = "/audit";

pub fn routes() -> Router<WebState> {
    Router::new().route("/audit", get(list)).route("/audit/{id}", get(show))
}

const CATEGORIES: [(AuditCategory, &str); 2] =
    [(AuditCategory::Action, "Staff and app actions"), (AuditCategory::Security, "Security events")];

const OUTCOMES: [(AuditOutcome, &str); 3] =
    [(AuditOutcome::Success, "Success"), (AuditOutcome::Failure, "Failure"), (AuditOutcome::Denied, "Denied")];

fn category_label(category: AuditCategory) -> &'static str {
    match category {
        AuditCategory::Action => "Action",
        AuditCategory::Security => "Security",
    }
}

fn outcome_label(outcome: AuditOutcome) -> &'static str {
    OUTCOMES.iter().find(|(o, _)| *o == outcome).map_or("", |(_, label)| label)
}

/// A CSS class per outcome: done, refused, or denied.
fn outcome_class(outcome: AuditOutcome) -> &'static str {
    match outcome {
        AuditOutcome::Success => "badge badge-good",
        AuditOutcome::Failure => "badge badge-waiting",
        AuditOutcome::Denied => "badge badge-stopped",
    }
}

/// The filters as typed, shown again in the form and carried from page to page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Filters {
    category: String,
    outcome: String,
    actor_id: String,
    action: String,
    correlation_id: String,
    from: String,
    to: String,
    q: String,
}

/// A day typed in a filter, or an error beside its field; `None` when left empty.
fn day(value: &str, field: &str, errors: &mut FormErrors) -> Option<NaiveDate> {
    if value.is_empty() {
        return None;
    }
    let parsed = NaiveDate::parse_from_str(value, "%Y-%m-%d");
    if parsed.is_err() {
        errors.add(field, "Enter a date as YYYY-MM-DD.");
    }
    parsed.ok()
}

fn midnight(day: NaiveDate) -> Option<DateTime<Utc>> {
    day.and_hms_opt(0, 0, 0).map(|t| t.and_utc())
}

impl Filters {
    fn read(query: &FormData) -> Filters {
        Filters {
            category: query.text("category"),
            outcome: query.text("outcome"),
            actor_id: query.text("actor_id"),
            action: query.text("action"),
            correlation_id: query.text("correlation_id"),
            from: query.text("from"),
            to: query.text("to"),
            q: query.text("q"),
        }
    }

    /// The filters as query parameters (the empty ones are left out of links).
    fn pairs(&self) -> [(&'static str, String); 8] {
        [
            ("category", self.category.clone()),
            ("outcome", self.outcome.clone()),
            ("actor_id", self.actor_id.clone()),
            ("action", self.action.clone()),
            ("correlation_id", self.correlation_id.clone()),
            ("from", self.from.clone()),
            ("to", self.to.clone()),
            ("q", self.q.clone()),
        ]
    }

    /// What the audit module is asked. Dates are UTC days, `to` included; a date that cannot be
    /// read is left out and said beside its field; an unknown category or outcome means any.
    fn filter(&self, errors: &mut FormErrors) -> AuditFilter {
        let given = |value: &str| Some(value.to_string()).filter(|v| !v.is_empty());
        let (first, last) = (day(&self.from, "from", errors), day(&self.to, "to", errors));
        if let (Some(first), Some(last)) = (first, last)
            && last < first
        {
            errors.add("to", "The end must be on or after the start.");
        }
        AuditFilter {
            category: CATEGORIES.iter().map(|(c, _)| *c).find(|c| c.as_str() == self.category),
            outcome: OUTCOMES.iter().map(|(o, _)| *o).find(|o| o.as_str() == self.outcome),
            actor_id: given(&self.actor_id),
            action: given(&self.action),
            correlation_id: given(&self.correlation_id),
            from: first.and_then(midnight),
            to: last.and_then(|d| d.succ_opt()).and_then(midnight),
            q: given(&self.q),
        }
    }
}

/// The log filtered on one request: everything it did.
fn correlation_link(correlation_id: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new()).append_pair("correlation_id", correlation_id).finish();
    format!("{SECTION}?{query}")
}

/// An entry as a row of the log.
struct EntryRow {
    id: String,
    when: String,
    category: &'static str,
    action: String,
    outcome: &'static str,
    outcome_class: &'static str,
    /// The e-mail address or key name recorded, else the id, else `anonymous`.
    actor: String,
    actor_type: &'static str,
    actor_id: String,
    target: String,
    status: String,
    ip: String,
    correlation_id: String,
    correlation_link: String,
}

impl EntryRow {
    fn new(entry: &AuditEntry) -> EntryRow {
        let e = &entry.entry;
        EntryRow {
            id: entry.id.to_string(),
            when: date_time(&e.occurred_at),
            category: category_label(e.category),
            action: e.action.clone(),
            outcome: outcome_label(e.outcome),
            outcome_class: outcome_class(e.outcome),
            actor: e.actor_label.clone().or_else(|| e.actor_id.clone()).unwrap_or_else(|| "anonymous".into()),
            actor_type: e.actor_type.as_str(),
            actor_id: e.actor_id.clone().unwrap_or_default(),
            target: e.target.clone().unwrap_or_default(),
            status: e.status.map(|s| s.to_string()).unwrap_or_default(),
            ip: e.ip.clone().unwrap_or_default(),
            correlation_id: e.correlation_id.clone(),
            correlation_link: correlation_link(&e.correlation_id),
        }
    }
}

#[derive(Template)]
#[template(path = "backoffice/audit.html")]
struct AuditPage {
    chrome: Chrome,
    entries: Vec<EntryRow>,
    total: u64,
    pager: Pager,
    categories: Vec<(&'static str, &'static str)>,
    outcomes: Vec<(&'static str, &'static str)>,
    filters: Filters,
    errors: FormErrors,
}

async fn list(State(state): State<WebState>, session: Session, RawQuery(raw): RawQuery) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::AuditRead), SECTION).await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let query = FormData::from_query(raw);
    let page = query.page_number();
    let filters = Filters::read(&query);
    let mut errors = FormErrors::default();
    let filter = filters.filter(&mut errors);
    let mut view = AuditPage {
        chrome,
        entries: Vec::new(),
        total: 0,
        pager: Pager::new(SECTION, &filters.pairs(), page, PER_PAGE, 0),
        categories: CATEGORIES.iter().map(|(c, label)| (c.as_str(), *label)).collect(),
        outcomes: OUTCOMES.iter().map(|(o, label)| (o.as_str(), *label)).collect(),
        filters,
        errors,
    };
    match state.audit.search(&session.ctx, filter, PageRequest { page, per_page: PER_PAGE }).await {
        Ok(found) => {
            view.pager = Pager::new(SECTION, &view.filters.pairs(), page, PER_PAGE, found.total);
            view.total = found.total;
            view.entries = found.items.iter().map(EntryRow::new).collect();
        }
        // A filter the module refuses lands beside its field.
        Err(error) => view.errors.absorb(error, str::to_string)?,
    }
    let code = if view.errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok(render_status(code, &view))
}

#[derive(Template)]
#[template(path = "backoffice/audit_entry.html")]
struct EntryPage {
    chrome: Chrome,
    entry: EntryRow,
    recorded: String,
    source: String,
    /// What else was recorded, as indented JSON.
    detail: String,
}

fn entry_page(chrome: Chrome, entry: &AuditEntry) -> EntryPage {
    EntryPage {
        chrome,
        entry: EntryRow::new(entry),
        recorded: date_time(&entry.recorded_at),
        source: entry.entry.source.clone(),
        detail: serde_json::to_string_pretty(&entry.entry.detail).unwrap_or_default(),
    }
}

async fn show(State(state): State<WebState>, session: Session, Path(id): Path<String>) -> PageResult {
    let chrome = match staff(&state, &session, Some(Permission::AuditRead), SECTION).await {
        Ok(chrome) => chrome,
        Err(response) => return Ok(response),
    };
    let id = Uuid::parse_str(&id).map_err(|_| PageError(Error::not_found("audit entry", &id)))?;
    let entry = state.audit.get(&session.ctx, id).await?;
    Ok(render(&entry_page(chrome, &entry)))
}

#[cfg(test)]
mod tests {
    use comptoir_contracts::audit::NewAuditEntry;
    use comptoir_kernel::ActorType;

    use super::*;

    fn query(pairs: &str) -> FormData {
        FormData::from_query(Some(pairs.to_string()))
    }

    fn chrome() -> Chrome {
        Chrome {
            shop_name: "Shop".into(),
            csrf: "token".into(),
            email: "ann@example.com".into(),
            nav: Vec::new(),
            flash: None,
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn entry() -> AuditEntry {
        AuditEntry {
            id: Uuid::nil(),
            recorded_at: at("2026-03-01T10:00:01Z"),
            entry: NewAuditEntry {
                occurred_at: at("2026-03-01T10:00:00Z"),
                category: AuditCategory::Security,
                action: "auth.login.failed".into(),
                outcome: AuditOutcome::Denied,
                actor_type: ActorType::User,
                actor_id: None,
                actor_label: Some("<img src=x onerror=alert(1)>@example.com".into()),
                target: Some("/login".into()),
                status: Some(401),
                correlation_id: "req 1&x=<2>".into(),
                ip: Some("203.0.113.7".into()),
                source: "backoffice".into(),
                detail: serde_json::json!({"email": "<b>eve</b>@example.com", "attempts": 3}),
            },
        }
    }

    #[test]
    fn filters_are_read_from_the_query() {
        let filters = Filters::read(&query(
            "category=security&outcome=denied&actor_id=+42+&action=auth.&correlation_id=abc&from=2026-03-01&to=2026-03-02&q=eve",
        ));
        let mut errors = FormErrors::default();
        let filter = filters.filter(&mut errors);
        assert!(errors.is_empty());
        assert_eq!(filter.category, Some(AuditCategory::Security));
        assert_eq!(filter.outcome, Some(AuditOutcome::Denied));
        assert_eq!(filter.actor_id.as_deref(), Some("42"));
        assert_eq!(filter.action.as_deref(), Some("auth."));
        assert_eq!(filter.correlation_id.as_deref(), Some("abc"));
        assert_eq!(filter.q.as_deref(), Some("eve"));
        // Whole UTC days, the last one included.
        assert_eq!(filter.from, Some(at("2026-03-01T00:00:00Z")));
        assert_eq!(filter.to, Some(at("2026-03-03T00:00:00Z")));
        assert_eq!(filters.pairs()[0], ("category", "security".to_string()));
    }

    #[test]
    fn empty_or_unknown_filters_ask_for_everything() {
        let mut errors = FormErrors::default();
        let filter = Filters::read(&query("category=nope&outcome=&actor_id=++")).filter(&mut errors);
        assert!(errors.is_empty());
        assert!(filter.category.is_none() && filter.outcome.is_none() && filter.actor_id.is_none());
        assert!(filter.from.is_none() && filter.to.is_none() && filter.q.is_none());
    }

    #[test]
    fn bad_dates_are_said_beside_their_fields() {
        let mut errors = FormErrors::default();
        let filter = Filters::read(&query("from=yesterday&to=2026-02-30")).filter(&mut errors);
        assert_eq!(errors.of("from"), Some("Enter a date as YYYY-MM-DD."));
        assert_eq!(errors.of("to"), Some("Enter a date as YYYY-MM-DD."));
        assert!(filter.from.is_none() && filter.to.is_none());
        let mut errors = FormErrors::default();
        Filters::read(&query("from=2026-03-02&to=2026-03-01")).filter(&mut errors);
        assert_eq!(errors.of("to"), Some("The end must be on or after the start."));
    }

    #[test]
    fn a_row_names_the_actor_and_links_to_its_request() {
        let row = EntryRow::new(&entry());
        assert_eq!(row.when, "1 Mar 2026, 10:00 UTC");
        assert_eq!((row.category, row.outcome, row.outcome_class), ("Security", "Denied", "badge badge-stopped"));
        assert_eq!((row.actor_type, row.status.as_str()), ("user", "401"));
        assert_eq!(row.correlation_link, "/audit?correlation_id=req+1%26x%3D%3C2%3E");
        let mut anonymous = entry();
        anonymous.entry.actor_label = None;
        assert_eq!(EntryRow::new(&anonymous).actor, "anonymous");
        anonymous.entry.actor_id = Some("7f".into());
        assert_eq!(EntryRow::new(&anonymous).actor, "7f");
    }

    #[test]
    fn pages_escape_what_was_recorded() {
        let filters = Filters::read(&query("q=%3Cscript%3E"));
        let page = AuditPage {
            chrome: chrome(),
            entries: vec![EntryRow::new(&entry())],
            total: 1,
            pager: Pager::new(SECTION, &filters.pairs(), 1, PER_PAGE, 1),
            categories: CATEGORIES.iter().map(|(c, label)| (c.as_str(), *label)).collect(),
            outcomes: OUTCOMES.iter().map(|(o, label)| (o.as_str(), *label)).collect(),
            filters,
            errors: FormErrors::default(),
        };
        let html = page.render().unwrap();
        assert!(!html.contains("<img") && !html.contains("<script>"));
        assert!(html.contains(r#"href="/audit?correlation_id=req+1%26x%3D%3C2%3E""#));
        assert!(html.contains(r#"<a href="/audit/00000000-0000-0000-0000-000000000000">"#));

        let html = entry_page(chrome(), &entry()).render().unwrap();
        assert!(!html.contains("<b>eve</b>") && !html.contains("<img"));
        assert!(html.contains("&#34;attempts&#34;: 3"), "the detail, pretty-printed and escaped");
    }
}
