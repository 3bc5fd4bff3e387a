//! The audit contract's types and their wire form, both ways: `to_*` encodes, the plain-named
//! function decodes. Entries and filters travel as the caller gave them, so that the module's own
//! checks answer the same errors, naming the same fields, in both topologies; the detail travels
//! as JSON text. Decoding what a peer sent fails as a bad request naming the field (a malformed
//! id, an unknown category, a detail that is not JSON), never a panic.

use comptoir_contracts::audit::{AuditCategory, AuditEntry, AuditFilter, AuditOutcome, NewAuditEntry};
use comptoir_grpc::convert::{json, optional_timestamp, required, timestamp, to_json, to_timestamp, uuid};
use comptoir_kernel::{ActorType, Error, Result};

use crate::pb;

// ---- Closed sets -----------------------------------------------------------------------------

pub fn to_category(category: AuditCategory) -> pb::AuditCategory {
    match category {
        AuditCategory::Action => pb::AuditCategory::Action,
        AuditCategory::Security => pb::AuditCategory::Security,
    }
}

/// An unspecified or unknown value is refused rather than guessed.
pub fn category(value: i32, field: &str) -> Result<AuditCategory> {
    match pb::AuditCategory::try_from(value) {
        Ok(pb::AuditCategory::Action) => Ok(AuditCategory::Action),
        Ok(pb::AuditCategory::Security) => Ok(AuditCategory::Security),
        Ok(pb::AuditCategory::Unspecified) | Err(_) => {
            Err(Error::bad_request(format!("{field}: {value} is not an audit category")))
        }
    }
}

pub fn to_outcome(outcome: AuditOutcome) -> pb::AuditOutcome {
    match outcome {
        AuditOutcome::Success => pb::AuditOutcome::Success,
        AuditOutcome::Failure => pb::AuditOutcome::Failure,
        AuditOutcome::Denied => pb::AuditOutcome::Denied,
    }
}

pub fn outcome(value: i32, field: &str) -> Result<AuditOutcome> {
    match pb::AuditOutcome::try_from(value) {
        Ok(pb::AuditOutcome::Success) => Ok(AuditOutcome::Success),
        Ok(pb::AuditOutcome::Failure) => Ok(AuditOutcome::Failure),
        Ok(pb::AuditOutcome::Denied) => Ok(AuditOutcome::Denied),
        Ok(pb::AuditOutcome::Unspecified) | Err(_) => {
            Err(Error::bad_request(format!("{field}: {value} is not an audit outcome")))
        }
    }
}

pub fn to_actor_type(actor_type: ActorType) -> pb::ActorType {
    match actor_type {
        ActorType::User => pb::ActorType::User,
        ActorType::App => pb::ActorType::App,
        ActorType::System => pb::ActorType::System,
    }
}

pub fn actor_type(value: i32, field: &str) -> Result<ActorType> {
    match pb::ActorType::try_from(value) {
        Ok(pb::ActorType::User) => Ok(ActorType::User),
        Ok(pb::ActorType::App) => Ok(ActorType::App),
        Ok(pb::ActorType::System) => Ok(ActorType::System),
        Ok(pb::ActorType::Unspecified) | Err(_) => {
            Err(Error::bad_request(format!("{field}: {value} is not an actor type")))
        }
    }
}

fn http_status(value: Option<u32>, field: &str) -> Result<Option<u16>> {
    value
        .map(|code| {
            u16::try_from(code).map_err(|_| Error::bad_request(format!("{field}: {code} is not an HTTP status")))
        })
        .transpose()
}

// ---- Entries ---------------------------------------------------------------------------------

pub fn to_new_entry(e: &NewAuditEntry) -> pb::NewEntry {
    pb::NewEntry {
        occurred_at: Some(to_timestamp(&e.occurred_at)),
        category: to_category(e.category).into(),
        action: e.action.clone(),
        outcome: to_outcome(e.outcome).into(),
        actor_type: to_actor_type(e.actor_type).into(),
        actor_id: e.actor_id.clone(),
        actor_label: e.actor_label.clone(),
        target: e.target.clone(),
        status: e.status.map(u32::from),
        correlation_id: e.correlation_id.clone(),
        ip: e.ip.clone(),
        source: e.source.clone(),
        detail_json: to_json(&e.detail),
    }
}

/// `path` is where the entry sits (`entries[3]`), so that a bad value names it.
pub fn new_entry(value: pb::NewEntry, path: &str) -> Result<NewAuditEntry> {
    let field = |name: &str| format!("{path}.{name}");
    Ok(NewAuditEntry {
        occurred_at: timestamp(value.occurred_at, &field("occurred_at"))?,
        category: category(value.category, &field("category"))?,
        outcome: outcome(value.outcome, &field("outcome"))?,
        actor_type: actor_type(value.actor_type, &field("actor_type"))?,
        status: http_status(value.status, &field("status"))?,
        detail: json(&value.detail_json, &field("detail_json"))?,
        action: value.action,
        actor_id: value.actor_id,
        actor_label: value.actor_label,
        target: value.target,
        correlation_id: value.correlation_id,
        ip: value.ip,
        source: value.source,
    })
}

pub fn to_record(entries: &[NewAuditEntry]) -> pb::RecordRequest {
    pb::RecordRequest { entries: entries.iter().map(to_new_entry).collect() }
}

/// Each entry named by its index (`entries[3]`), as the module names them.
pub fn record(value: pb::RecordRequest) -> Result<Vec<NewAuditEntry>> {
    value.entries.into_iter().enumerate().map(|(i, e)| new_entry(e, &format!("entries[{i}]"))).collect()
}

pub fn to_entry(e: &AuditEntry) -> pb::Entry {
    pb::Entry {
        id: e.id.to_string(),
        recorded_at: Some(to_timestamp(&e.recorded_at)),
        entry: Some(to_new_entry(&e.entry)),
    }
}

pub fn entry(value: pb::Entry, path: &str) -> Result<AuditEntry> {
    let field = |name: &str| format!("{path}.{name}");
    Ok(AuditEntry {
        id: uuid(&value.id, &field("id"))?,
        recorded_at: timestamp(value.recorded_at, &field("recorded_at"))?,
        entry: new_entry(required(value.entry, &field("entry"))?, &field("entry"))?,
    })
}

pub fn entries(values: Vec<pb::Entry>) -> Result<Vec<AuditEntry>> {
    values.into_iter().enumerate().map(|(i, e)| entry(e, &format!("entries[{i}]"))).collect()
}

// ---- Searches --------------------------------------------------------------------------------

pub fn to_search(filter: &AuditFilter, page: &comptoir_kernel::PageRequest) -> pb::SearchRequest {
    pb::SearchRequest {
        category: filter.category.map(|c| to_category(c).into()),
        outcome: filter.outcome.map(|o| to_outcome(o).into()),
        actor_id: filter.actor_id.clone(),
        action: filter.action.clone(),
        correlation_id: filter.correlation_id.clone(),
        from: filter.from.as_ref().map(to_timestamp),
        to: filter.to.as_ref().map(to_timestamp),
        q: filter.q.clone(),
        page: Some(comptoir_grpc::convert::to_page_request(page)),
    }
}

/// The filter and the page, as sent: the module checks both and names the field.
pub fn search(value: pb::SearchRequest) -> Result<(AuditFilter, comptoir_kernel::PageRequest)> {
    let filter = AuditFilter {
        category: value.category.map(|c| category(c, "category")).transpose()?,
        outcome: value.outcome.map(|o| outcome(o, "outcome")).transpose()?,
        from: optional_timestamp(value.from, "from")?,
        to: optional_timestamp(value.to, "to")?,
        actor_id: value.actor_id,
        action: value.action,
        correlation_id: value.correlation_id,
        q: value.q,
    };
    Ok((filter, comptoir_grpc::convert::page_request(value.page)))
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use comptoir_kernel::PageRequest;
    use serde_json::json;
    use uuid::Uuid;

    use super::*;

    fn sample() -> NewAuditEntry {
        NewAuditEntry {
            occurred_at: Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap(),
            category: AuditCategory::Security,
            action: "auth.login.failed".into(),
            outcome: AuditOutcome::Denied,
            actor_type: ActorType::System,
            actor_id: None,
            actor_label: Some("mallory@example.com".into()),
            target: None,
            status: Some(401),
            correlation_id: "corr-1".into(),
            ip: Some("203.0.113.7".into()),
            source: "api".into(),
            detail: json!({"email": "mallory@example.com", "attempt": 3}),
        }
    }

    #[test]
    fn every_value_survives_the_round_trip() {
        let mut entries = Vec::new();
        for (category, outcome, actor_type) in [
            (AuditCategory::Action, AuditOutcome::Success, ActorType::User),
            (AuditCategory::Security, AuditOutcome::Failure, ActorType::App),
            (AuditCategory::Security, AuditOutcome::Denied, ActorType::System),
        ] {
            entries.push(NewAuditEntry { category, outcome, actor_type, ..sample() });
        }
        entries.push(NewAuditEntry { status: None, ip: None, detail: json!({}), ..sample() });
        assert_eq!(record(to_record(&entries)).unwrap(), entries);

        let stored = AuditEntry { id: Uuid::now_v7(), recorded_at: Utc::now(), entry: sample() };
        assert_eq!(entries_of(vec![to_entry(&stored)]), vec![stored]);

        let filter = AuditFilter {
            category: Some(AuditCategory::Security),
            outcome: Some(AuditOutcome::Denied),
            actor_id: Some("staff-1".into()),
            action: Some("auth.".into()),
            correlation_id: Some("corr-1".into()),
            from: Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()),
            to: Some(Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap()),
            q: Some("mallory 50%".into()),
        };
        let page = PageRequest { page: 3, per_page: 7 };
        let (back, back_page) = search(to_search(&filter, &page)).unwrap();
        assert_eq!(format!("{back:?}"), format!("{filter:?}"));
        assert_eq!((back_page.page, back_page.per_page), (3, 7));
        let (empty, _) = search(to_search(&AuditFilter::default(), &page)).unwrap();
        assert_eq!(format!("{empty:?}"), format!("{:?}", AuditFilter::default()));
    }

    fn entries_of(values: Vec<pb::Entry>) -> Vec<AuditEntry> {
        entries(values).unwrap()
    }

    #[test]
    fn malformed_values_name_their_field() {
        let bad = |mutate: fn(&mut pb::NewEntry)| {
            let mut wire = to_record(&[sample(), sample()]);
            mutate(&mut wire.entries[1]);
            let e = record(wire).unwrap_err();
            assert_eq!(e.status(), 400, "{e}");
            e.to_string()
        };
        assert!(bad(|e| e.category = 0).contains("entries[1].category"));
        assert!(bad(|e| e.outcome = 9).contains("entries[1].outcome"));
        assert!(bad(|e| e.actor_type = -1).contains("entries[1].actor_type"));
        assert!(bad(|e| e.occurred_at = None).contains("entries[1].occurred_at"));
        assert!(bad(|e| e.status = Some(70_000)).contains("entries[1].status"));
        assert!(bad(|e| e.detail_json = "{nope".into()).contains("entries[1].detail_json"));

        let mut wire = to_entry(&AuditEntry { id: Uuid::now_v7(), recorded_at: Utc::now(), entry: sample() });
        wire.id = "nope".into();
        assert!(entries(vec![wire]).unwrap_err().to_string().contains("entries[0].id"));
        let wire = pb::SearchRequest { outcome: Some(0), ..Default::default() };
        assert!(search(wire).unwrap_err().to_string().contains("outcome"));
    }
}
