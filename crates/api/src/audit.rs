//! The audit trail as the front-ends (this API and the back office) see it: every change a staff
//! member or an API key makes, every request an API key makes, every permission denied, every
//! credential refused and every failed login, with who, what, when, the outcome and the
//! correlation id.
//!
//! Only a front-end knows a request's outcome and the client's address, so the recording happens
//! here, in a layer every request passes through ([`record_requests`]). The entries go to the
//! audit module's port in batches from a background task ([`AuditTrail`]): a request never waits
//! on the audit store, and a slow or unreachable audit service costs entries (counted in
//! `comptoir_audit_entries_dropped_total` and logged), never the shop's availability.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use comptoir_contracts::audit::{AuditCategory, AuditOutcome, AuditPort, MAX_BATCH, NewAuditEntry, actions};
use comptoir_contracts::identity::Principal;
use comptoir_kernel::{ActorType, RequestContext};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use crate::context::{API_KEY_HEADER, CorrelationId};

/// Entries waiting to be written; beyond this, new ones are dropped (and counted).
const QUEUE: usize = 10_000;
/// Attempts at writing one batch before it is given up.
const ATTEMPTS: u32 = 3;

enum Message {
    Entry(Box<NewAuditEntry>),
    Flush(oneshot::Sender<()>),
}

/// Queues entries and writes them to the audit port in batches, in the background.
pub struct AuditTrail {
    sender: mpsc::Sender<Message>,
}

impl AuditTrail {
    /// Starts the writer on the current Tokio runtime.
    pub fn start(port: Arc<dyn AuditPort>) -> Arc<Self> {
        let (sender, receiver) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(port, receiver));
        Arc::new(AuditTrail { sender })
    }

    /// Queues an entry; never waits.
    pub fn record(&self, entry: NewAuditEntry) {
        if let Err(error) = self.sender.try_send(Message::Entry(Box::new(entry))) {
            metrics::counter!("comptoir_audit_entries_dropped_total").increment(1);
            tracing::error!(%error, "an audit entry was dropped: the audit queue is full or closed");
        }
    }

    /// Waits until every entry queued before the call is written (or given up).
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.sender.send(Message::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }
}

async fn write_batches(port: Arc<dyn AuditPort>, mut receiver: mpsc::Receiver<Message>) {
    let ctx = RequestContext::system();
    while let Some(first) = receiver.recv().await {
        let mut batch = Vec::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(message) = next {
            match message {
                Message::Entry(entry) => batch.push(*entry),
                Message::Flush(done) => flushes.push(done),
            }
            next = if batch.len() < MAX_BATCH { receiver.try_recv().ok() } else { None };
        }
        if !batch.is_empty() {
            write(port.as_ref(), &ctx, batch).await;
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

async fn write(port: &dyn AuditPort, ctx: &RequestContext, batch: Vec<NewAuditEntry>) {
    let count = batch.len() as u64;
    for attempt in 1..=ATTEMPTS {
        match port.record(ctx, batch.clone()).await {
            Ok(()) => {
                metrics::counter!("comptoir_audit_entries_recorded_total").increment(count);
                return;
            }
            // Bad input will not get better with time: report it at once.
            Err(error @ comptoir_kernel::Error::Validation { .. }) => {
                tracing::error!(%error, count, "the audit service refused a batch of entries");
                break;
            }
            Err(error) if attempt < ATTEMPTS => {
                tracing::warn!(%error, attempt, "writing audit entries failed; retrying");
                tokio::time::sleep(Duration::from_millis(200 * 5u64.pow(attempt - 1))).await;
            }
            Err(error) => tracing::error!(%error, count, "audit entries were lost: the audit service kept failing"),
        }
    }
    metrics::counter!("comptoir_audit_entries_dropped_total").increment(count);
}

/// What a request's handlers tell the audit layer: who the caller turned out to be, and which
/// login failed. Put in the request's extensions by [`record_requests`].
#[derive(Clone, Default)]
pub struct AuditScope(Arc<Mutex<Seen>>);

#[derive(Default)]
struct Seen {
    principal: Option<Principal>,
    login_failed: Option<(String, &'static str)>,
}

impl AuditScope {
    pub fn caller(&self, principal: &Principal) {
        self.lock().principal = Some(principal.clone());
    }

    /// A login failed for `email`, a `kind` (`customer`, `staff`) of account.
    pub fn login_failed(&self, email: &str, kind: &'static str) {
        self.lock().login_failed = Some((email.trim().to_lowercase(), kind));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The audit layer's state: where entries go and which front-end records them.
#[derive(Clone)]
pub struct AuditLayer {
    pub trail: Arc<AuditTrail>,
    /// `api` or `backoffice`.
    pub source: &'static str,
}

/// Records what the request did once it is answered; see the module's documentation.
pub async fn record_requests(State(layer): State<AuditLayer>, mut req: Request, next: Next) -> Response {
    let scope = AuditScope::default();
    req.extensions_mut().insert(scope.clone());
    let request = RequestFacts {
        method: req.method().clone(),
        route: req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()),
        path: req.uri().path().to_string(),
        correlation_id: req.extensions().get::<CorrelationId>().map(|c| c.0.clone()).unwrap_or_default(),
        ip: req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string()),
        credential: credential_kind(&req),
    };
    let response = next.run(req).await;
    let seen = std::mem::take(&mut *scope.lock());
    for entry in entries_for(&request, response.status().as_u16(), seen, layer.source) {
        layer.trail.record(entry);
    }
    response
}

struct RequestFacts {
    method: Method,
    route: Option<String>,
    path: String,
    correlation_id: String,
    ip: Option<String>,
    /// The kind of credential the request carried, if any.
    credential: Option<&'static str>,
}

fn credential_kind(req: &Request) -> Option<&'static str> {
    let headers = req.headers();
    if headers.contains_key(axum::http::header::AUTHORIZATION) {
        Some("bearer")
    } else if headers.contains_key(&API_KEY_HEADER) {
        Some("api_key")
    } else {
        None
    }
}

fn is_change(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH | Method::DELETE)
}

/// The entries one answered request makes: none for a customer browsing or buying.
fn entries_for(request: &RequestFacts, status: u16, seen: Seen, source: &str) -> Vec<NewAuditEntry> {
    // Built only for the entries made: most requests (visitors, customers) make none.
    let action = || format!("{} {}", request.method, request.route.as_deref().unwrap_or(&request.path));
    let outcome = AuditOutcome::of_status(status);
    let entry = |category, action: &str, outcome, detail| NewAuditEntry {
        occurred_at: chrono::Utc::now(),
        category,
        action: action.to_string(),
        outcome,
        actor_type: ActorType::User,
        actor_id: None,
        actor_label: None,
        target: Some(request.path.clone()),
        status: Some(status),
        correlation_id: request.correlation_id.clone(),
        ip: request.ip.clone(),
        source: source.to_string(),
        detail,
    };
    let mut entries = Vec::new();
    if let Some((email, kind)) = &seen.login_failed {
        let mut failed = entry(
            AuditCategory::Security,
            actions::LOGIN_FAILED,
            AuditOutcome::Denied,
            json!({ "email": email, "account": kind }),
        );
        failed.actor_label = Some(email.clone());
        entries.push(failed);
        return entries;
    }
    let Some(principal) = seen.principal else {
        if status == 401 && request.credential.is_some() {
            entries.push(entry(
                AuditCategory::Security,
                actions::CREDENTIALS_REJECTED,
                AuditOutcome::Denied,
                json!({ "credential": request.credential, "request": action() }),
            ));
        }
        return entries;
    };
    let (actor_type, actor_id, actor_label) = match &principal {
        Principal::Customer { id, email, .. } | Principal::Staff { id, email, .. } => {
            (ActorType::User, id.to_string(), email.clone())
        }
        Principal::App { key_id, name, .. } => (ActorType::App, key_id.to_string(), name.clone()),
    };
    let by_caller = |mut e: NewAuditEntry| {
        e.actor_type = actor_type;
        e.actor_id = Some(actor_id.clone());
        e.actor_label = Some(actor_label.clone());
        e
    };
    if status == 403 {
        entries.push(by_caller(entry(
            AuditCategory::Security,
            actions::PERMISSION_DENIED,
            AuditOutcome::Denied,
            json!({ "request": action() }),
        )));
    }
    if matches!(principal, Principal::App { .. }) {
        entries.push(by_caller(entry(
            AuditCategory::Security,
            actions::API_KEY_USED,
            outcome,
            json!({ "request": action() }),
        )));
    }
    let staff_or_app = !matches!(principal, Principal::Customer { .. });
    if staff_or_app && is_change(&request.method) && status != 403 {
        entries.push(by_caller(entry(AuditCategory::Action, &action(), outcome, json!({}))));
    }
    entries
}

#[cfg(test)]
mod tests {
    use comptoir_contracts::identity::{CustomerTier, Permission, Role};
    use uuid::Uuid;

    use super::*;

    fn request(method: Method, route: &str, credential: Option<&'static str>) -> RequestFacts {
        RequestFacts {
            method,
            route: Some(route.to_string()),
            path: route.replace("{id}", "42"),
            correlation_id: "corr-1".into(),
            ip: Some("10.0.0.7".into()),
            credential,
        }
    }

    fn staff() -> Principal {
        Principal::Staff {
            id: Uuid::nil(),
            email: "ann@shop.test".into(),
            roles: vec![Role::Support],
            session_id: Uuid::nil(),
        }
    }

    fn seen(principal: Option<Principal>) -> Seen {
        Seen { principal, login_failed: None }
    }

    #[test]
    fn a_staff_change_is_an_action_named_after_its_route() {
        let entries = entries_for(
            &request(Method::POST, "/api/v1/admin/products/{id}", Some("bearer")),
            200,
            seen(Some(staff())),
            "api",
        );
        assert_eq!(entries.len(), 1);
        let e = &entries[0];
        assert_eq!((e.category, e.outcome), (AuditCategory::Action, AuditOutcome::Success));
        assert_eq!(e.action, "POST /api/v1/admin/products/{id}");
        assert_eq!(e.target.as_deref(), Some("/api/v1/admin/products/42"));
        assert_eq!(e.actor_label.as_deref(), Some("ann@shop.test"));
        assert_eq!((e.correlation_id.as_str(), e.ip.as_deref(), e.status), ("corr-1", Some("10.0.0.7"), Some(200)));
    }

    #[test]
    fn reading_is_not_an_action_and_customers_are_not_audited() {
        let get =
            entries_for(&request(Method::GET, "/api/v1/admin/orders", Some("bearer")), 200, seen(Some(staff())), "api");
        assert!(get.is_empty());
        let customer = Principal::Customer {
            id: Uuid::nil(),
            email: "c@x.test".into(),
            tier: CustomerTier::Standard,
            session_id: Uuid::nil(),
        };
        let post =
            entries_for(&request(Method::POST, "/api/v1/carts", Some("bearer")), 201, seen(Some(customer)), "api");
        assert!(post.is_empty());
    }

    #[test]
    fn a_denial_is_a_security_event_and_not_an_action() {
        let entries = entries_for(
            &request(Method::POST, "/api/v1/admin/settings", Some("bearer")),
            403,
            seen(Some(staff())),
            "api",
        );
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].action, actions::PERMISSION_DENIED);
        assert_eq!(entries[0].outcome, AuditOutcome::Denied);
    }

    #[test]
    fn every_api_key_request_is_recorded_and_its_changes_too() {
        let app = Principal::App { key_id: Uuid::nil(), name: "erp".into(), scopes: vec![Permission::CatalogRead] };
        let read = entries_for(
            &request(Method::GET, "/api/v1/admin/products", Some("api_key")),
            200,
            seen(Some(app.clone())),
            "api",
        );
        assert_eq!(read.len(), 1);
        assert_eq!((read[0].action.as_str(), read[0].actor_type), (actions::API_KEY_USED, ActorType::App));
        let change = entries_for(
            &request(Method::DELETE, "/api/v1/admin/products/{id}", Some("api_key")),
            422,
            seen(Some(app)),
            "api",
        );
        assert_eq!(change.len(), 2);
        assert_eq!((change[1].category, change[1].outcome), (AuditCategory::Action, AuditOutcome::Failure));
    }

    #[test]
    fn refused_credentials_and_failed_logins_are_security_events() {
        let rejected =
            entries_for(&request(Method::GET, "/api/v1/admin/orders", Some("bearer")), 401, seen(None), "api");
        assert_eq!(rejected[0].action, actions::CREDENTIALS_REJECTED);
        let anonymous = entries_for(&request(Method::GET, "/api/v1/admin/orders", None), 401, seen(None), "api");
        assert!(anonymous.is_empty(), "no credentials: nothing was refused");
        let login = Seen { principal: None, login_failed: Some(("ann@shop.test".into(), "staff")) };
        let failed = entries_for(&request(Method::POST, "/api/v1/staff/auth/login", None), 401, login, "api");
        assert_eq!(failed.len(), 1);
        assert_eq!(
            (failed[0].action.as_str(), failed[0].actor_label.as_deref()),
            (actions::LOGIN_FAILED, Some("ann@shop.test"))
        );
        assert_eq!(failed[0].detail["account"], "staff");
    }
}
