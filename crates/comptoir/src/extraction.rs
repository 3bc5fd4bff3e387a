//! The extraction report: which module takes how much of a running shop — calls into it, CPU time
//! in it, database time and events — so that an operator can see which module to move out first.
//! Read from the Prometheus metrics of one or more processes (the monolith, or every process of
//! a partly extracted shop), either since they started or over a window.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Context;

use crate::topology::Module;

/// One module's load, in the units the metrics count.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModuleLoad {
    pub calls: f64,
    pub cpu_seconds: f64,
    pub db_seconds: f64,
    pub events_emitted: f64,
    pub events_handled: f64,
}

impl ModuleLoad {
    fn add(&mut self, other: &ModuleLoad, sign: f64) {
        self.calls += sign * other.calls;
        self.cpu_seconds += sign * other.cpu_seconds;
        self.db_seconds += sign * other.db_seconds;
        self.events_emitted += sign * other.events_emitted;
        self.events_handled += sign * other.events_handled;
    }

    fn events(&self) -> f64 {
        self.events_emitted + self.events_handled
    }
}

/// Every module's load.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Loads(pub BTreeMap<String, ModuleLoad>);

impl Loads {
    /// Reads the module metrics out of a Prometheus text exposition.
    pub fn from_metrics(text: &str) -> Loads {
        let mut loads = Loads::default();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else { continue };
            let Ok(value) = value.trim().parse::<f64>() else { continue };
            let (name, labels) = series.split_once('{').unwrap_or((series, ""));
            let label = |key: &str| {
                labels.split(',').find_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    (k.trim() == key).then(|| v.trim().trim_end_matches('}').trim_matches('"').to_string())
                })
            };
            let (module, apply): (Option<String>, fn(&mut ModuleLoad, f64)) = match name {
                comptoir_telemetry::module_load::CALLS => (label("module"), |l, v| l.calls += v),
                comptoir_telemetry::module_load::CPU => (label("module"), |l, v| l.cpu_seconds += v / 1e9),
                comptoir_storage::load::DB_BUSY => (label("module"), |l, v| l.db_seconds += v / 1e9),
                comptoir_storage::load::EVENTS_EMITTED => (label("module"), |l, v| l.events_emitted += v),
                // Consumers are named `<module>.<purpose>`.
                "comptoir_events_handled_total" => {
                    (label("consumer").and_then(|c| c.split('.').next().map(str::to_string)), |l, v| {
                        l.events_handled += v
                    })
                }
                _ => continue,
            };
            if let Some(module) = module.filter(|m| Module::parse(m).is_some()) {
                apply(loads.0.entry(module).or_default(), value);
            }
        }
        loads
    }

    /// Adds another process's loads.
    pub fn merge(&mut self, other: &Loads) {
        for (module, load) in &other.0 {
            self.0.entry(module.clone()).or_default().add(load, 1.0);
        }
    }

    /// What happened between `earlier` and `self` (counters only grow).
    pub fn since(&self, earlier: &Loads) -> Loads {
        let mut delta = self.clone();
        for (module, load) in &earlier.0 {
            delta.0.entry(module.clone()).or_default().add(load, -1.0);
        }
        delta
    }

    /// Each module's share (0 to 1) of calls, CPU, database time and events, and their mean: the
    /// module's share of the load. Largest first.
    pub fn shares(&self) -> Vec<Share> {
        let total = self.0.values().fold(ModuleLoad::default(), |mut sum, l| {
            sum.add(l, 1.0);
            sum
        });
        let share = |part: f64, whole: f64| if whole > 0.0 { part / whole } else { 0.0 };
        let measured = [total.calls, total.cpu_seconds, total.db_seconds, total.events()]
            .iter()
            .filter(|t| **t > 0.0)
            .count()
            .max(1) as f64;
        let mut shares: Vec<Share> = self
            .0
            .iter()
            .map(|(module, l)| {
                let calls = share(l.calls, total.calls);
                let cpu = share(l.cpu_seconds, total.cpu_seconds);
                let db = share(l.db_seconds, total.db_seconds);
                let events = share(l.events(), total.events());
                Share {
                    module: module.clone(),
                    load: l.clone(),
                    calls,
                    cpu,
                    db,
                    events,
                    overall: (calls + cpu + db + events) / measured,
                }
            })
            .collect();
        shares.sort_by(|a, b| b.overall.total_cmp(&a.overall).then_with(|| a.module.cmp(&b.module)));
        shares
    }
}

#[derive(Debug, Clone)]
pub struct Share {
    pub module: String,
    pub load: ModuleLoad,
    pub calls: f64,
    pub cpu: f64,
    pub db: f64,
    pub events: f64,
    pub overall: f64,
}

/// The report as text: a table of every module, then the first candidate and how to extract it.
pub fn render(loads: &Loads, period: &str) -> String {
    let shares = loads.shares();
    let mut out = String::new();
    let _ = writeln!(out, "Load per module {period}:\n");
    let _ = writeln!(
        out,
        "{:<13} {:>9} {:>6}  {:>9} {:>6}  {:>9} {:>6}  {:>15} {:>6}  {:>6}",
        "module", "calls", "%", "cpu s", "%", "db s", "%", "events out/in", "%", "load %"
    );
    for s in &shares {
        let l = &s.load;
        let _ = writeln!(
            out,
            "{:<13} {:>9.0} {:>6.1}  {:>9.3} {:>6.1}  {:>9.3} {:>6.1}  {:>15} {:>6.1}  {:>6.1}",
            s.module,
            l.calls,
            s.calls * 100.0,
            l.cpu_seconds,
            s.cpu * 100.0,
            l.db_seconds,
            s.db * 100.0,
            format!("{:.0}/{:.0}", l.events_emitted, l.events_handled),
            s.events * 100.0,
            s.overall * 100.0,
        );
    }
    match shares.first().filter(|s| s.overall > 0.0) {
        None => out.push_str("\nNo module has done any work yet: run the report while the shop serves traffic.\n"),
        Some(first) => {
            let port = Module::parse(&first.module).map(Module::default_port).unwrap_or(0);
            let _ = writeln!(
                out,
                "\nFirst candidate to extract: {0} ({1:.1} % of the load).\n\
                 1. Run it as its own service (gRPC, /metrics and /readyz on :{2}), on its own database and the broker:\n\
                 \x20    comptoir serve --service {0}\n\
                 2. Point every other process at it, then restart them:\n\
                 \x20    COMPTOIR_SERVICES__{3}__URL=http://<its host>:{2}\n\
                 See docs/DEPLOYMENT.md for the database and broker settings.",
                first.module,
                first.overall * 100.0,
                port,
                first.module.to_uppercase(),
            );
        }
    }
    out
}

/// Scrapes the metrics of every process in `urls` and adds them up.
pub async fn scrape(urls: &[String]) -> anyhow::Result<Loads> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let mut loads = Loads::default();
    for url in urls {
        let text = client
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .with_context(|| format!("cannot read the metrics at {url}"))?
            .text()
            .await
            .with_context(|| format!("cannot read the metrics at {url}"))?;
        loads.merge(&Loads::from_metrics(&text));
    }
    Ok(loads)
}

/// The report over `window` (two scrapes that far apart), or since the processes started.
pub async fn report(urls: &[String], window: Option<Duration>) -> anyhow::Result<String> {
    let first = scrape(urls).await?;
    Ok(match window {
        None => render(&first, "since the processes started"),
        Some(window) => {
            tokio::time::sleep(window).await;
            let second = scrape(urls).await?;
            render(&second.since(&first), &format!("over the last {} s", window.as_secs()))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const METRICS: &str = r#"# TYPE comptoir_module_calls_total counter
comptoir_module_calls_total{module="catalog"} 900
comptoir_module_calls_total{module="ordering"} 100
comptoir_module_cpu_nanoseconds_total{module="catalog"} 3000000000
comptoir_module_cpu_nanoseconds_total{module="ordering"} 1000000000
comptoir_module_db_busy_nanoseconds_total{module="catalog"} 500000000
comptoir_module_db_busy_nanoseconds_total{module="ordering"} 500000000
comptoir_module_events_emitted_total{module="ordering"} 40
comptoir_events_handled_total{consumer="inventory.orders",outcome="ok"} 10
comptoir_events_handled_total{consumer="inventory.orders",outcome="error"} 2
comptoir_module_calls_total{module="not-a-module"} 5
http_requests_total{method="GET",route="/api/v1/products",status="200"} 1000
"#;

    #[test]
    fn the_metrics_add_up_per_module() {
        let loads = Loads::from_metrics(METRICS);
        assert_eq!(
            loads.0["catalog"],
            ModuleLoad { calls: 900.0, cpu_seconds: 3.0, db_seconds: 0.5, events_emitted: 0.0, events_handled: 0.0 }
        );
        assert_eq!(loads.0["inventory"].events_handled, 12.0);
        assert!(!loads.0.contains_key("not-a-module"));
    }

    #[test]
    fn the_busiest_module_comes_first_with_the_command_that_extracts_it() {
        let loads = Loads::from_metrics(METRICS);
        let shares = loads.shares();
        assert_eq!(shares[0].module, "catalog");
        assert!((shares[0].calls - 0.9).abs() < 1e-9);
        assert!((shares[0].cpu - 0.75).abs() < 1e-9);
        let total: f64 = shares.iter().map(|s| s.overall).sum();
        assert!((total - 1.0).abs() < 1e-9, "shares add up to the whole: {total}");
        let text = render(&loads, "since the processes started");
        assert!(text.contains("First candidate to extract: catalog"), "{text}");
        assert!(text.contains("comptoir serve --service catalog"), "{text}");
        assert!(text.contains("COMPTOIR_SERVICES__CATALOG__URL=http://<its host>:9002"), "{text}");
    }

    #[test]
    fn a_window_is_the_difference_of_two_scrapes() {
        let before = Loads::from_metrics(METRICS);
        let mut after = before.clone();
        after.0.get_mut("ordering").unwrap().calls += 50.0;
        let window = after.since(&before);
        assert_eq!(window.0["ordering"].calls, 50.0);
        assert_eq!(window.0["catalog"].calls, 0.0);
        assert_eq!(window.shares()[0].module, "ordering");
    }

    #[test]
    fn an_idle_shop_says_so() {
        assert!(render(&Loads::default(), "since start").contains("No module has done any work yet"));
    }
}
