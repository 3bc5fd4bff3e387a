//! Which modules run in this process and which are reached over gRPC.
//!
//! - The monolith (`comptoir serve`) runs every module, except those given a
//!   `services.<module>.url`: those are called remotely (a module extracted from the monolith).
//! - A service (`comptoir serve --service <module>`) runs one module; the modules it calls must
//!   each have a `services.<module>.url`.
//! - The gateway (`comptoir serve --gateway`) runs none: it serves the public API and reaches
//!   every module through its service.

use std::collections::BTreeSet;
use std::fmt;

use crate::config::Config;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Module {
    Identity,
    Catalog,
    Inventory,
    Cart,
    Payment,
    Billing,
    Shipping,
    Notification,
    Ordering,
    Admin,
    Search,
    Webhooks,
    Recommendations,
    Pos,
    Reporting,
    Audit,
}

impl Module {
    /// In the order they are built: each after the modules it calls.
    pub const ALL: [Module; 16] = [
        Module::Identity,
        Module::Catalog,
        Module::Inventory,
        Module::Cart,
        Module::Payment,
        Module::Billing,
        Module::Shipping,
        Module::Notification,
        Module::Ordering,
        Module::Admin,
        Module::Search,
        Module::Webhooks,
        Module::Recommendations,
        Module::Pos,
        Module::Reporting,
        Module::Audit,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Module::Identity => "identity",
            Module::Catalog => "catalog",
            Module::Inventory => "inventory",
            Module::Cart => "cart",
            Module::Payment => "payment",
            Module::Billing => "billing",
            Module::Shipping => "shipping",
            Module::Notification => "notification",
            Module::Ordering => "ordering",
            Module::Admin => "admin",
            Module::Search => "search",
            Module::Webhooks => "webhooks",
            Module::Recommendations => "recommendations",
            Module::Pos => "pos",
            Module::Reporting => "reporting",
            Module::Audit => "audit",
        }
    }

    pub fn parse(name: &str) -> Option<Module> {
        Module::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The port a service listens on unless configured otherwise (gRPC, health and metrics).
    pub fn default_port(self) -> u16 {
        match self {
            Module::Identity => 9001,
            Module::Catalog => 9002,
            Module::Inventory => 9003,
            Module::Cart => 9004,
            Module::Ordering => 9005,
            Module::Payment => 9006,
            Module::Billing => 9007,
            Module::Shipping => 9008,
            Module::Admin => 9009,
            Module::Notification => 9011,
            Module::Search => 9012,
            Module::Webhooks => 9013,
            Module::Recommendations => 9014,
            Module::Pos => 9015,
            Module::Reporting => 9016,
            Module::Audit => 9017,
        }
    }

    /// The modules whose ports this one calls.
    pub fn dependencies(self) -> &'static [Module] {
        match self {
            Module::Catalog => &[Module::Identity],
            Module::Admin => &[Module::Catalog],
            Module::Search => &[Module::Identity, Module::Catalog, Module::Inventory],
            // Only to rebuild its counts from the orders.
            Module::Recommendations => &[Module::Ordering],
            Module::Cart => &[Module::Catalog, Module::Inventory],
            Module::Pos => &[Module::Catalog, Module::Inventory, Module::Payment, Module::Billing],
            // Prices and categories from the catalog; orders and till sales only to rebuild.
            Module::Reporting => &[Module::Catalog, Module::Ordering, Module::Pos],
            Module::Ordering => {
                &[Module::Cart, Module::Catalog, Module::Inventory, Module::Payment, Module::Billing, Module::Shipping]
            }
            _ => &[],
        }
    }
}

impl fmt::Display for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What this process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Monolith,
    Service(Module),
    Gateway,
    /// The storefront in front of the services.
    Storefront,
    /// The back office in front of the services.
    BackOffice,
}

impl Role {
    /// Whether this role answers the public REST API.
    pub fn serves_api(self) -> bool {
        matches!(self, Role::Monolith | Role::Gateway)
    }

    /// One word for names and labels: `monolith`, `catalog`, `gateway`, `storefront`, `backoffice`.
    pub fn slug(self) -> &'static str {
        match self {
            Role::Monolith => "monolith",
            Role::Service(m) => m.name(),
            Role::Gateway => "gateway",
            Role::Storefront => "storefront",
            Role::BackOffice => "backoffice",
        }
    }

    pub fn name(self) -> String {
        match self {
            Role::Monolith => "monolith".into(),
            Role::Service(m) => format!("{m} service"),
            Role::Gateway => "gateway".into(),
            Role::Storefront => "storefront".into(),
            Role::BackOffice => "back office".into(),
        }
    }

    /// The database of the role itself (idempotency keys, its consumers' inboxes), beside those
    /// of the modules it runs: the API's for the monolith and the gateway, one per web front-end.
    pub fn own_database(self) -> Option<&'static str> {
        match self {
            Role::Monolith | Role::Gateway => Some("api"),
            Role::Storefront => Some("storefront"),
            Role::BackOffice => Some("backoffice"),
            Role::Service(_) => None,
        }
    }

    /// Whether this role talks to people or apps over HTTP (and so authenticates them).
    pub fn faces_users(self) -> bool {
        self.own_database().is_some()
    }
}

#[derive(Debug, Clone)]
pub struct Topology {
    pub role: Role,
    local: BTreeSet<Module>,
}

impl Topology {
    /// Checks that every module this role needs is either here or has a URL.
    pub fn new(role: Role, config: &Config) -> anyhow::Result<Topology> {
        let has_url = |m: Module| config.services.get(m.name()).is_some_and(|s| !s.url.trim().is_empty());
        let (local, needed): (BTreeSet<Module>, Vec<Module>) = match role {
            Role::Monolith => (Module::ALL.into_iter().filter(|m| !has_url(*m)).collect(), Module::ALL.to_vec()),
            Role::Service(module) => ([module].into(), module.dependencies().to_vec()),
            Role::Gateway | Role::Storefront | Role::BackOffice => (BTreeSet::new(), Module::ALL.to_vec()),
        };
        let missing: Vec<Module> = needed.into_iter().filter(|m| !local.contains(m) && !has_url(*m)).collect();
        if let Some(first) = missing.first() {
            let names: Vec<String> = missing.iter().map(|m| format!("services.{m}.url")).collect();
            anyhow::bail!(
                "the {} calls modules that do not run in it; set {} (for example \
                 COMPTOIR_SERVICES__{}__URL=http://127.0.0.1:{})",
                role.name(),
                names.join(", "),
                first.name().to_ascii_uppercase(),
                first.default_port()
            );
        }
        let topology = Topology { role, local };
        anyhow::ensure!(
            topology.is_monolith() || config.events.provider != "memory" || config.events.dual_write,
            "the {} runs with other services but events.provider is memory: events would never leave this \
             process. Set events.provider to rabbitmq, nats or kafka",
            role.name()
        );
        Ok(topology)
    }

    pub fn is_local(&self, module: Module) -> bool {
        self.local.contains(&module)
    }

    pub fn local_modules(&self) -> impl Iterator<Item = Module> + '_ {
        self.local.iter().copied()
    }

    /// Every module in this process, none remote.
    pub fn is_monolith(&self) -> bool {
        self.local.len() == Module::ALL.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServiceConfig;

    fn with_urls(modules: &[Module]) -> Config {
        let mut config = Config::default();
        for m in modules {
            config.services.insert(
                m.name().into(),
                ServiceConfig { url: format!("http://127.0.0.1:{}", m.default_port()), ..Default::default() },
            );
        }
        config.events.provider = "rabbitmq".into();
        config
    }

    #[test]
    fn the_monolith_runs_what_has_no_url() {
        let t = Topology::new(Role::Monolith, &Config::default()).unwrap();
        assert!(t.is_monolith());
        let t = Topology::new(Role::Monolith, &with_urls(&[Module::Payment])).unwrap();
        assert!(!t.is_local(Module::Payment) && t.is_local(Module::Ordering));
    }

    #[test]
    fn a_service_needs_the_urls_of_what_it_calls() {
        let e = Topology::new(Role::Service(Module::Cart), &with_urls(&[Module::Catalog])).unwrap_err();
        assert!(e.to_string().contains("services.inventory.url"), "{e}");
        let t = Topology::new(Role::Service(Module::Cart), &with_urls(&[Module::Catalog, Module::Inventory])).unwrap();
        assert_eq!(t.local_modules().collect::<Vec<_>>(), [Module::Cart]);
        assert!(Topology::new(Role::Service(Module::Payment), &with_urls(&[])).is_ok());
    }

    #[test]
    fn the_gateway_needs_every_url_and_a_broker() {
        assert!(Topology::new(Role::Gateway, &with_urls(&[Module::Identity])).is_err());
        assert!(Topology::new(Role::Gateway, &with_urls(&Module::ALL)).is_ok());
        let mut config = with_urls(&Module::ALL);
        config.events.provider = "memory".into();
        let e = Topology::new(Role::Gateway, &config).unwrap_err();
        assert!(e.to_string().contains("events.provider"), "{e}");
    }
}
