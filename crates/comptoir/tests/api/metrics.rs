//! `/metrics` (issue #7): a checkout moves the metric families operators watch, every Comptoir
//! metric carries a HELP text, and the monitoring files in deploy/ (Prometheus scrape
//! configuration and alerts, Grafana dashboards) parse and refer only to metrics the application
//! exports.
//!
//! The recorder is process-global and the suite's tests run in parallel in one binary, so counters
//! are compared as "increased by at least", never by exact deltas.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use comptoir_storage::{Backend, testing};
use serde_json::{Value, json};

use crate::shop::{cart_with, checkout, checkout_body, fulfilment};
use crate::support::{TestApp, Topology, spawn_app, topology};

// ---- the Prometheus text format ----------------------------------------------------------------

/// One sample line: `name{label="value",...} value`.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A parsed `/metrics` page.
#[derive(Debug)]
struct Scrape {
    samples: Vec<Sample>,
    /// Family name → type, from the `# TYPE` lines.
    types: BTreeMap<String, String>,
    /// Family name → HELP text, from the `# HELP` lines.
    help: BTreeMap<String, String>,
}

impl Scrape {
    fn parse(text: &str) -> Scrape {
        let mut scrape = Scrape { samples: Vec::new(), types: BTreeMap::new(), help: BTreeMap::new() };
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
                scrape.help.insert(name.to_string(), help.to_string());
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("TYPE without a type: {line}"));
                scrape.types.insert(name.to_string(), kind.to_string());
            } else if !line.starts_with('#') {
                scrape.samples.push(parse_sample(line));
            }
        }
        scrape
    }

    /// The metric families exported: histogram series (`_bucket`, `_sum`, `_count`) under their
    /// family's name.
    fn families(&self) -> BTreeSet<String> {
        let mut families: BTreeSet<String> = self.types.keys().cloned().collect();
        families.extend(self.samples.iter().map(|s| family_of(&s.name).to_string()));
        families
    }

    /// The series of `name` whose labels include every pair of `matching`.
    fn series<'a>(&'a self, name: &'a str, matching: &'a [(&'a str, &'a str)]) -> impl Iterator<Item = &'a Sample> {
        self.samples.iter().filter(move |s| {
            s.name == name && matching.iter().all(|(k, v)| s.labels.get(*k).is_some_and(|have| have == v))
        })
    }

    /// The sum of the series of `name` matching the labels (0 when there is none).
    fn sum(&self, name: &str, matching: &[(&str, &str)]) -> f64 {
        self.series(name, matching).map(|s| s.value).sum()
    }

    fn has(&self, name: &str, matching: &[(&str, &str)]) -> bool {
        self.series(name, matching).next().is_some()
    }
}

/// `name{a="1",b="x\"y"} 3.5` (a timestamp after the value is ignored).
fn parse_sample(line: &str) -> Sample {
    let name_end = line.find(['{', ' ']).unwrap_or_else(|| panic!("no value: {line}"));
    let name = line[..name_end].to_string();
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        let mut end = None;
        loop {
            // A label name, `=`, a quoted value with \\, \" and \n escapes, then `,` or `}`.
            while chars.peek().is_some_and(|(_, c)| *c == ',' || *c == ' ') {
                chars.next();
            }
            match chars.peek() {
                Some((i, '}')) => {
                    end = Some(*i);
                    break;
                }
                None => break,
                _ => {}
            }
            let mut key = String::new();
            for (_, c) in chars.by_ref() {
                if c == '=' {
                    break;
                }
                key.push(c);
            }
            assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "label {key} without a quoted value: {line}");
            let mut value = String::new();
            while let Some((_, c)) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => match chars.next().map(|(_, c)| c) {
                        Some('n') => value.push('\n'),
                        Some(escaped) => value.push(escaped),
                        None => panic!("dangling escape: {line}"),
                    },
                    c => value.push(c),
                }
            }
            labels.insert(key.trim().to_string(), value);
        }
        let end = end.unwrap_or_else(|| panic!("unclosed labels: {line}"));
        rest = &body[end + 1..];
    }
    let value = rest.split_whitespace().next().unwrap_or_else(|| panic!("no value: {line}"));
    let value = value.parse().unwrap_or_else(|e| panic!("value {value:?} in {line:?}: {e}"));
    Sample { name, labels, value }
}

/// The family a series belongs to: a histogram's `_bucket`, `_sum` and `_count` series are its own.
fn family_of(name: &str) -> &str {
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| name.strip_suffix(suffix)).unwrap_or(name)
}

#[test]
fn the_parser_reads_labels_escapes_and_histograms() {
    let scrape = Scrape::parse(concat!(
        "# HELP a_total Things.\n",
        "# TYPE a_total counter\n",
        "a_total{route=\"/x/{id}\",msg=\"say \\\"hi\\\", ok\\\\\"} 3\n",
        "a_total{route=\"/y\",msg=\"\"} 4 1700000000\n",
        "# TYPE lat_seconds histogram\n",
        "lat_seconds_bucket{le=\"+Inf\"} 2\n",
        "lat_seconds_sum 0.5\n",
        "lat_seconds_count 2\n",
        "up 1\n",
    ));
    assert_eq!(scrape.sum("a_total", &[]), 7.0);
    assert_eq!(scrape.sum("a_total", &[("msg", "say \"hi\", ok\\"), ("route", "/x/{id}")]), 3.0);
    assert_eq!(scrape.sum("lat_seconds_count", &[]), 2.0);
    assert!(scrape.has("lat_seconds_bucket", &[("le", "+Inf")]));
    assert_eq!(scrape.help["a_total"], "Things.");
    let families: Vec<String> = scrape.families().into_iter().collect();
    assert_eq!(families, ["a_total", "lat_seconds", "up"]);
}

// ---- the application's /metrics ---------------------------------------------------------------

async fn scrape(t: &TestApp) -> Scrape {
    let response = t.http.get(format!("{}/metrics", t.base)).send().await.expect("/metrics answers");
    assert_eq!(response.status().as_u16(), 200);
    Scrape::parse(&response.text().await.expect("/metrics body"))
}

/// Every database the application under test opens: its modules' (in the monolith, or in the
/// services of the distributed topology, all in this process) and the API's own; the web fronts'
/// are not started here.
fn databases() -> impl Iterator<Item = &'static str> {
    crate::support::MODULES.into_iter().filter(|name| !["storefront", "backoffice"].contains(name))
}

/// Asserts that the counter (or histogram count) `name{matching}` grew by at least `by`.
#[track_caller]
fn assert_grew(before: &Scrape, after: &Scrape, name: &str, matching: &[(&str, &str)], by: f64) {
    let (was, is) = (before.sum(name, matching), after.sum(name, matching));
    assert!(
        is - was >= by,
        "{name}{matching:?} should have grown by at least {by}: {was} before, {is} after (series now: {:?})",
        after.series(name, &[]).map(|s| (&s.labels, s.value)).collect::<Vec<_>>()
    );
}

/// A shop with one stocked product and three checkouts, each by a customer of its own: one
/// confirmed, one whose payment is declined and one short of stock. Returns /metrics before and
/// after, once every event is handled and the once-a-second gauges have been sampled since.
async fn checkouts_between_scrapes(t: &TestApp) -> (Scrape, Scrape) {
    let admin = t.admin_token().await;
    fulfilment(t, &admin).await;
    t.stocked_product(&admin, "MET", 5).await;
    let (_, paying, _) = t.customer("paying@shop.test").await;
    let (_, declined, _) = t.customer("declined@shop.test").await;
    let (_, late, _) = t.customer("late@shop.test").await;
    t.settle().await;
    let before = scrape(t).await;

    let cart = cart_with(t, &paying, "MET-S", 1).await;
    let order = checkout(t, &paying, "metrics-paid", checkout_body(&cart, "tok_visa")).await.expect(201);
    assert_eq!(order["status"], "confirmed");

    let cart = cart_with(t, &declined, "MET-M", 1).await;
    let body = checkout_body(&cart, "tok_decline_insufficient_funds");
    checkout(t, &declined, "metrics-declined", body).await.problem(402);

    // Between cart and checkout, all but one unit of the SKU go.
    let cart = cart_with(t, &late, "MET-M", 2).await;
    let damaged = json!({"sku": "MET-M", "location": "main-wh", "delta": -4, "reason": "damaged"});
    t.post("/api/v1/admin/stock/adjust", Some(&admin), damaged).await.expect(200);
    checkout(t, &late, "metrics-short", checkout_body(&cart, "tok_visa")).await.problem(409);

    t.settle().await;
    // The outbox, pool and reservation gauges are sampled once a second.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    (before, scrape(t).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_moves_the_metrics_operators_watch() {
    let t = spawn_app().await;
    let (before, after) = checkouts_between_scrapes(&t).await;

    // HTTP: the checkout route by its template, answered and timed.
    let checkout_route = [("method", "POST"), ("route", "/api/v1/checkout")];
    assert_grew(
        &before,
        &after,
        "http_requests_total",
        &[checkout_route[0], checkout_route[1], ("status", "201")],
        1.0,
    );
    assert_grew(
        &before,
        &after,
        "http_requests_total",
        &[checkout_route[0], checkout_route[1], ("status", "402")],
        1.0,
    );
    assert_grew(
        &before,
        &after,
        "http_requests_total",
        &[checkout_route[0], checkout_route[1], ("status", "409")],
        1.0,
    );
    assert_grew(&before, &after, "http_request_duration_seconds_count", &checkout_route, 3.0);

    // Events: published, handled (inventory sells the reserved units on order.checkout.completed),
    // timed, and the lag from creation to handling.
    assert_grew(&before, &after, "comptoir_events_published_total", &[("type", "order.checkout.completed")], 1.0);
    let inventory_orders = [("consumer", "inventory.orders")];
    assert_grew(&before, &after, "comptoir_events_handled_total", &[inventory_orders[0], ("outcome", "ok")], 1.0);
    assert_grew(&before, &after, "comptoir_event_handling_seconds_count", &inventory_orders, 1.0);
    assert_grew(&before, &after, "comptoir_event_lag_seconds_count", &inventory_orders, 1.0);

    // Stock reservations: one sold, one released after the declined payment, one refused.
    for outcome in ["reserved", "committed", "released", "refused"] {
        let by = if outcome == "reserved" { 2.0 } else { 1.0 };
        assert_grew(&before, &after, "comptoir_stock_reservations_total", &[("outcome", outcome)], by);
    }
    assert!(after.has("comptoir_stock_reservations_active", &[]), "the held reservations are sampled");

    // The checkout saga's outcomes and durations.
    assert_grew(&before, &after, "comptoir_checkouts_total", &[("outcome", "confirmed"), ("reason", "none")], 1.0);
    let declined = [("outcome", "cancelled"), ("reason", "payment_declined")];
    assert_grew(&before, &after, "comptoir_checkouts_total", &declined, 1.0);
    let short = [("outcome", "cancelled"), ("reason", "out_of_stock")];
    assert_grew(&before, &after, "comptoir_checkouts_total", &short, 1.0);
    assert_grew(&before, &after, "comptoir_checkout_duration_seconds_count", &[("outcome", "confirmed")], 1.0);
    assert_grew(&before, &after, "comptoir_checkout_duration_seconds_count", &[("outcome", "cancelled")], 2.0);
    // Alerts watch the reasons from the first scrape: every one is there, at zero or more.
    for reason in ["out_of_stock", "payment_declined", "unavailable", "interrupted"] {
        assert!(after.has("comptoir_checkouts_total", &[("outcome", "cancelled"), ("reason", reason)]), "{reason}");
    }

    // Per database: the outbox, the dead letters stored, the connection pools.
    let pools: &[&str] = match testing::backend() {
        Backend::Sqlite => &["read", "write"],
        Backend::Postgres => &["shared"],
    };
    for module in databases() {
        let of_module = [("module", module)];
        for gauge in ["comptoir_outbox_backlog", "comptoir_outbox_oldest_age_seconds", "comptoir_dead_letters"] {
            assert!(after.has(gauge, &of_module), "{gauge}{{module={module:?}}} is sampled");
        }
        for &pool in pools {
            let of_pool = [("module", module), ("pool", pool)];
            let max = after.sum("comptoir_db_pool_max_connections", &of_pool);
            assert!(max >= 1.0, "comptoir_db_pool_max_connections{of_pool:?} = {max}");
            for state in ["idle", "in_use"] {
                let series = [("module", module), ("pool", pool), ("state", state)];
                assert!(after.has("comptoir_db_pool_connections", &series), "comptoir_db_pool_connections{series:?}");
            }
        }
    }

    // The build.
    assert_eq!(after.sum("comptoir_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), 1.0);

    // Between the processes of the distributed topology: the gateway calls ordering, whose saga
    // calls inventory, each over gRPC, counted on both sides.
    if topology() == Topology::Distributed {
        for service in ["ordering", "inventory"] {
            assert_grew(
                &before,
                &after,
                "comptoir_grpc_client_calls_total",
                &[("service", service), ("outcome", "ok")],
                1.0,
            );
            assert_grew(&before, &after, "comptoir_grpc_client_call_seconds_count", &[("service", service)], 1.0);
            let served = |scrape: &Scrape, name: &str| -> f64 {
                scrape
                    .series(name, &[])
                    .filter(|s| s.labels.get("service").is_some_and(|label| label.to_lowercase().contains(service)))
                    .map(|s| s.value)
                    .sum()
            };
            for name in ["comptoir_grpc_server_calls_total", "comptoir_grpc_server_call_seconds_count"] {
                let (was, is) = (served(&before, name), served(&after, name));
                assert!(is - was >= 1.0, "{name} for the {service} service: {was} before, {is} after");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_comptoir_metric_is_described() {
    let t = spawn_app().await;
    let (_, after) = checkouts_between_scrapes(&t).await;
    let undescribed: Vec<String> = after
        .families()
        .into_iter()
        .filter(|f| f.starts_with("comptoir_") || f.starts_with("http_"))
        .filter(|f| after.help.get(f).is_none_or(|help| help.trim().is_empty()))
        .collect();
    assert!(
        undescribed.is_empty(),
        "no HELP text for {undescribed:?}: describe them in comptoir_api::observability::describe"
    );
}

// ---- deploy/: Prometheus and Grafana ----------------------------------------------------------

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the repository root")
}

fn read(relative: &str) -> String {
    let path = repository().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml(relative: &str) -> serde_norway::Value {
    serde_norway::from_str(&read(relative)).unwrap_or_else(|e| panic!("{relative} is not valid YAML: {e}"))
}

fn yaml_str<'a>(value: &'a serde_norway::Value, key: &str, context: &str) -> &'a str {
    value.get(key).and_then(serde_norway::Value::as_str).unwrap_or_else(|| panic!("{context}: no `{key}` string"))
}

/// The metric names a PromQL expression refers to (those of Comptoir: `comptoir_*`, `http_*`),
/// a histogram's series under its family's name. Label values in quotes are skipped.
fn metric_names(promql: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut chars = promql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' || c == '\'' {
            // A string: a label value or a regular expression, not a metric.
            while let Some(inner) = chars.next() {
                match inner {
                    '\\' => {
                        chars.next();
                    }
                    quote if quote == c => break,
                    _ => {}
                }
            }
        } else if c.is_ascii_alphabetic() || c == '_' {
            let mut word = String::from(c);
            while let Some(&next) = chars.peek().filter(|n| n.is_ascii_alphanumeric() || **n == '_' || **n == ':') {
                word.push(next);
                chars.next();
            }
            if word.starts_with("comptoir_") || word.starts_with("http_") {
                names.insert(family_of(&word).to_string());
            }
        }
    }
    names
}

#[test]
fn metric_names_are_read_from_promql() {
    let names = metric_names(
        r#"histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket{route!~"comptoir_x.*"}[5m])))
           / on(job) group_left comptoir_build_info > 0 and comptoir_dead_letters offset 10m"#,
    );
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(names, ["comptoir_build_info", "comptoir_dead_letters", "http_request_duration_seconds"]);
}

/// The alert rules: every rule named, with an expression, a severity and runbook-style
/// annotations. Returns their expressions.
fn alert_expressions() -> Vec<String> {
    let alerts = yaml("deploy/prometheus/alerts.yml");
    let groups = alerts.get("groups").and_then(|g| g.as_sequence()).expect("alerts.yml: `groups`");
    let mut expressions = Vec::new();
    for group in groups {
        let group_name = yaml_str(group, "name", "a group of alerts.yml");
        let rules = group.get("rules").and_then(|r| r.as_sequence()).expect("a group's `rules`");
        assert!(!rules.is_empty(), "alerts.yml: the group {group_name} has no rules");
        for rule in rules {
            let name = yaml_str(rule, "alert", group_name);
            expressions.push(yaml_str(rule, "expr", name).to_string());
            let labels = rule.get("labels").unwrap_or_else(|| panic!("{name}: no labels"));
            assert!(
                ["critical", "warning", "info"].contains(&yaml_str(labels, "severity", name)),
                "{name}: severity is critical, warning or info"
            );
            let annotations = rule.get("annotations").unwrap_or_else(|| panic!("{name}: no annotations"));
            for key in ["summary", "description", "runbook"] {
                assert!(!yaml_str(annotations, key, name).trim().is_empty(), "{name}: an empty {key}");
            }
        }
    }
    expressions
}

/// Every `expr` of a dashboard's panels (rows included) and every query of its template variables.
fn dashboard_expressions(relative: &str) -> Vec<String> {
    let dashboard: Value =
        serde_json::from_str(&read(relative)).unwrap_or_else(|e| panic!("{relative} is not valid JSON: {e}"));
    assert!(dashboard["title"].as_str().is_some_and(|t| !t.is_empty()), "{relative}: a title");
    assert!(dashboard["uid"].as_str().is_some_and(|t| !t.is_empty()), "{relative}: a uid");
    assert!(dashboard["schemaVersion"].as_u64().is_some_and(|v| v >= 36), "{relative}: schemaVersion");
    let variables: Vec<&str> = dashboard["templating"]["list"]
        .as_array()
        .map(|list| list.iter().filter_map(|v| v["name"].as_str()).collect())
        .unwrap_or_default();
    for variable in ["job", "instance"] {
        assert!(variables.contains(&variable), "{relative}: the `{variable}` template variable");
    }
    let mut expressions = Vec::new();
    let mut panels: Vec<&Value> = dashboard["panels"].as_array().expect("panels").iter().collect();
    let mut ids = BTreeSet::new();
    while let Some(panel) = panels.pop() {
        panels.extend(panel["panels"].as_array().into_iter().flatten());
        let kind = panel["type"].as_str().unwrap_or_else(|| panic!("{relative}: a panel without a type"));
        if kind == "row" {
            continue;
        }
        let title = panel["title"].as_str().unwrap_or("?");
        assert!(ids.insert(panel["id"].as_u64().expect("a panel id")), "{relative}: panel ids repeat ({title})");
        for key in ["x", "y", "w", "h"] {
            assert!(panel["gridPos"][key].as_u64().is_some(), "{relative}: {title} has no gridPos.{key}");
        }
        let targets = panel["targets"].as_array().unwrap_or_else(|| panic!("{relative}: {title} has no targets"));
        assert!(!targets.is_empty(), "{relative}: {title} has no targets");
        for target in targets {
            let expr = target["expr"].as_str().unwrap_or_else(|| panic!("{relative}: {title}: a target without expr"));
            expressions.push(expr.to_string());
        }
    }
    for variable in dashboard["templating"]["list"].as_array().into_iter().flatten() {
        match &variable["query"] {
            Value::String(query) => expressions.push(query.clone()),
            Value::Object(query) => expressions.extend(query.get("query").and_then(Value::as_str).map(String::from)),
            _ => {}
        }
    }
    expressions
}

/// The dashboards Grafana is provisioned with.
fn dashboards() -> Vec<String> {
    let folder = repository().join("deploy/grafana/dashboards");
    let mut found: Vec<String> = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
        .map(|entry| entry.expect("a directory entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .map(|name| format!("deploy/grafana/dashboards/{name}"))
        .collect();
    found.sort();
    assert!(found.iter().any(|d| d.ends_with("comptoir-overview.json")), "{found:?}");
    found
}

/// Metrics recorded only when something goes wrong, so a happy checkout does not export them;
/// they must still be recorded somewhere in the code.
const RECORDED_ON_FAILURE: [&str; 4] = [
    "comptoir_events_dead_lettered_total",
    "comptoir_event_retries_total",
    "comptoir_grpc_circuit_opened_total",
    "comptoir_rate_limited_total",
];

/// Metrics recorded only between processes: exported after a checkout in the distributed
/// topology, and only recorded somewhere in the code for the monolith.
const RECORDED_BETWEEN_PROCESSES: [&str; 4] = [
    "comptoir_grpc_client_calls_total",
    "comptoir_grpc_client_call_seconds",
    "comptoir_grpc_server_calls_total",
    "comptoir_grpc_server_call_seconds",
];

/// Whether a `metrics::counter!/gauge!/histogram!("name"` appears in the workspace's sources.
fn recorded_in_the_code(name: &str) -> bool {
    let mut folders = vec![repository().join("crates")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("crates/ is readable").flatten() {
            let path = entry.path();
            if path.is_dir() && !path.ends_with("tests") && !path.ends_with("target") {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let code = std::fs::read_to_string(&path).unwrap_or_default();
                let squeezed: String = code.split_whitespace().collect();
                if ["counter!", "gauge!", "histogram!"].iter().any(|m| squeezed.contains(&format!("{m}(\"{name}\""))) {
                    return true;
                }
            }
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monitoring_files_refer_only_to_exported_metrics() {
    let mut referenced: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut refer = |file: &str, expressions: Vec<String>| {
        assert!(!expressions.is_empty(), "{file} has no expressions");
        for name in expressions.iter().flat_map(|e| metric_names(e)) {
            referenced.entry(name).or_default().insert(file.to_string());
        }
    };
    refer("deploy/prometheus/alerts.yml", alert_expressions());
    for dashboard in dashboards() {
        let expressions = dashboard_expressions(&dashboard);
        refer(&dashboard, expressions);
    }
    assert!(referenced.len() >= 20, "few metrics referenced: {:?}", referenced.keys());

    let t = spawn_app().await;
    let (_, after) = checkouts_between_scrapes(&t).await;
    let exported = after.families();
    let distributed = topology() == Topology::Distributed;
    let mut missing = Vec::new();
    for (name, files) in &referenced {
        let exported_after_a_checkout = !RECORDED_ON_FAILURE.contains(&name.as_str())
            && (distributed || !RECORDED_BETWEEN_PROCESSES.contains(&name.as_str()));
        let found = exported.contains(name) || (!exported_after_a_checkout && recorded_in_the_code(name));
        if !found {
            missing.push(format!("{name} (in {files:?})"));
        }
    }
    assert!(missing.is_empty(), "referenced but not exported by the application: {missing:#?}");
}

/// The scrape configurations: valid, with the alert rules loaded, and in the distributed one a
/// target for every Comptoir process of deploy/docker-compose.distributed.yml at the port its
/// health check uses (the gateway, the storefront, the back office and each module's service).
#[test]
fn prometheus_scrapes_every_role_and_loads_the_alerts() {
    let compose = yaml("deploy/docker-compose.distributed.yml");
    let services = compose.get("services").and_then(|s| s.as_mapping()).expect("compose services");
    let mut roles = BTreeSet::new();
    for (name, service) in services {
        let name = name.as_str().expect("a service name");
        let command: Vec<&str> = service
            .get("command")
            .and_then(|c| c.as_sequence())
            .map(|c| c.iter().filter_map(|a| a.as_str()).collect())
            .unwrap_or_default();
        if command.first() != Some(&"serve") {
            continue;
        }
        let probe: Vec<&str> = service["healthcheck"]["test"]
            .as_sequence()
            .expect("a healthcheck")
            .iter()
            .filter_map(|a| a.as_str())
            .collect();
        let url = probe.iter().find(|a| a.ends_with("/readyz")).expect("the health check probes /readyz");
        let port = url.trim_end_matches("/readyz").rsplit(':').next().expect("a port");
        roles.insert(format!("{name}:{port}"));
    }
    assert_eq!(roles.len(), 19, "sixteen services, the gateway, the storefront and the back office: {roles:?}");

    for (file, expected) in
        [("deploy/prometheus/prometheus.yml", Some(&roles)), ("deploy/prometheus/prometheus-monolith.yml", None)]
    {
        let config = yaml(file);
        let rule_files: Vec<&str> =
            config["rule_files"].as_sequence().expect("rule_files").iter().filter_map(|r| r.as_str()).collect();
        assert!(rule_files.iter().any(|r| r.ends_with("alerts.yml")), "{file}: rule_files loads alerts.yml");
        let mut targets = BTreeSet::new();
        for job in config["scrape_configs"].as_sequence().expect("scrape_configs") {
            let job_name = yaml_str(job, "job_name", file);
            let path = job.get("metrics_path").and_then(|p| p.as_str()).unwrap_or("/metrics");
            assert_eq!(path, "/metrics", "{file}: {job_name}");
            for group in job["static_configs"].as_sequence().expect("static_configs") {
                for target in group["targets"].as_sequence().expect("targets") {
                    let target = target.as_str().expect("a target");
                    if job_name != "prometheus" {
                        targets.insert(target.to_string());
                    }
                }
            }
        }
        match expected {
            Some(roles) => assert_eq!(&targets, roles, "{file}: one target per Comptoir process"),
            // The monolith answers /metrics on 8080, 9000 and 9010 alike: scraped once.
            None => assert_eq!(targets.len(), 1, "{file}: the monolith once: {targets:?}"),
        }
    }
}

/// Grafana's provisioning files parse and point at the dashboards folder and Prometheus.
#[test]
fn grafana_is_provisioned_with_prometheus_and_the_dashboards() {
    let datasources = yaml("deploy/grafana/provisioning/datasources/prometheus.yml");
    let sources = datasources["datasources"].as_sequence().expect("datasources");
    assert!(sources.iter().any(|s| yaml_str(s, "type", "a datasource") == "prometheus"));
    let providers = yaml("deploy/grafana/provisioning/dashboards/comptoir.yml");
    let providers = providers["providers"].as_sequence().expect("providers");
    assert!(providers.iter().any(|p| p["options"]["path"].as_str().is_some_and(|path| !path.is_empty())));
    // The dashboards name the datasource by the uid provisioned here.
    let uids: Vec<&str> = sources.iter().filter_map(|s| s.get("uid").and_then(|u| u.as_str())).collect();
    for dashboard in dashboards() {
        let text = read(&dashboard);
        let json: Value = serde_json::from_str(&text).expect("a JSON dashboard");
        let mut used = BTreeSet::new();
        let mut stack = vec![&json];
        while let Some(value) = stack.pop() {
            match value {
                Value::Object(map) => {
                    if let Some(uid) = map.get("datasource").and_then(|d| d["uid"].as_str()) {
                        used.insert(uid.to_string());
                    }
                    stack.extend(map.values());
                }
                Value::Array(items) => stack.extend(items),
                _ => {}
            }
        }
        for uid in used.iter().filter(|u| !u.starts_with('$') && *u != "-- Grafana --" && *u != "grafana") {
            assert!(uids.contains(&uid.as_str()), "{dashboard}: datasource uid {uid} is not provisioned ({uids:?})");
        }
    }
}
