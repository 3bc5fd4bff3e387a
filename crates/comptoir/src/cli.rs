use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use comptoir_contracts::identity::{NewStaff, Role as StaffRole};
use comptoir_kernel::{PageRequest, RequestContext};

use crate::app::App;
use crate::config::Config;
use crate::topology::{Module, Role};

#[derive(Parser)]
#[command(name = "comptoir", version, about = "Comptoir: a modular commerce platform in one binary")]
pub struct Cli {
    /// Configuration file (default: ./comptoir.toml when present). Environment variables
    /// `COMPTOIR_*` override it.
    #[arg(long, global = true, env = "COMPTOIR_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the shop: every module in this process with the REST API (the default), one module as
    /// its own gRPC service (`--service`), or the gateway in front of the services (`--gateway`).
    Serve {
        /// Load the demo shop first if the catalog is empty.
        #[arg(long)]
        demo: bool,
        /// Products in the demo catalog.
        #[arg(long, default_value_t = 300)]
        demo_products: usize,
        #[command(flatten)]
        role: RoleArgs,
    },
    /// Create or upgrade the databases of the modules this role runs, then exit.
    Migrate {
        #[command(flatten)]
        role: RoleArgs,
    },
    /// Load the demo shop (categories, products with variants, stock in two locations, a demo
    /// customer and a staff admin) if the catalog is empty.
    Demo {
        #[arg(long, default_value_t = 300)]
        products: usize,
    },
    /// Staff accounts.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Events a consumer gave up on.
    #[command(subcommand, name = "dead-letters")]
    DeadLetters(DeadLetterCommand),
    /// Events waiting in each module's outbox, and published ones kept (every service's, in a
    /// distributed configuration).
    Outbox,
    /// The storefront's search index.
    #[command(subcommand)]
    Search(SearchCommand),
    /// Copy every embedded (SQLite) database and the generated secrets into a new directory, while
    /// the shop may be running.
    Backup {
        /// A new or empty directory.
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
    },
    /// Replace the data directory's databases with a backup (the shop must be stopped); the
    /// files replaced are kept in `<data_dir>/before-restore-<timestamp>/`.
    Restore {
        /// A directory written by `comptoir backup`.
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
    },
    /// Each module's share of calls, CPU time, database time and events, read from the metrics
    /// of running processes, and which module to extract first.
    #[command(name = "extraction-report")]
    ExtractionReport {
        /// A process's metrics (repeat for every process of a partly extracted shop); default:
        /// this configuration's API address.
        #[arg(long, value_name = "URL")]
        from: Vec<String>,
        /// Measure over this many seconds instead of since the processes started.
        #[arg(long, value_name = "SECONDS")]
        window: Option<u64>,
    },
    /// Print the OpenAPI document.
    Openapi,
}

#[derive(clap::Args)]
pub struct RoleArgs {
    /// Run only this module, as a gRPC service on its port (identity 9001, catalog 9002, inventory
    /// 9003, cart 9004, ordering 9005, payment 9006, billing 9007, shipping 9008, admin 9009, notification 9011).
    #[arg(long, value_name = "MODULE", conflicts_with = "gateway", value_parser = parse_module)]
    pub service: Option<Module>,
    /// Serve the public REST API and reach every module through `services.<module>.url`.
    #[arg(long, conflicts_with_all = ["storefront", "backoffice"])]
    pub gateway: bool,
    /// Serve only the storefront (`web.storefront_addr`, port 9000), reaching every module through
    /// `services.<module>.url`.
    #[arg(long, conflicts_with_all = ["service", "backoffice"])]
    pub storefront: bool,
    /// Serve only the back office (`web.backoffice_addr`, port 9010), reaching every module
    /// through `services.<module>.url`.
    #[arg(long, conflicts_with = "service")]
    pub backoffice: bool,
}

impl RoleArgs {
    pub fn role(&self) -> Role {
        match self.service {
            Some(module) => Role::Service(module),
            None if self.gateway => Role::Gateway,
            None if self.storefront => Role::Storefront,
            None if self.backoffice => Role::BackOffice,
            None => Role::Monolith,
        }
    }
}

fn parse_module(name: &str) -> Result<Module, String> {
    Module::parse(name)
        .ok_or_else(|| format!("no module {name:?}; one of {}", Module::ALL.map(|m| m.name()).join(", ")))
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create a staff account with the admin role (the first one, typically).
    Create {
        #[arg(long)]
        email: String,
        /// At least 10 characters.
        #[arg(long, env = "COMPTOIR_ADMIN_PASSWORD", hide_env_values = true)]
        password: String,
        #[arg(long, default_value = "Administrator")]
        name: String,
    },
}

#[derive(Subcommand)]
pub enum SearchCommand {
    /// Rebuild the search index from scratch from catalog, inventory and identity. A running
    /// shop serves the rebuilt index within `search.poll_ms`; with `services.search.url` set,
    /// the search service rebuilds its own.
    Rebuild,
}

#[derive(Subcommand)]
pub enum DeadLetterCommand {
    /// List dead letters, newest first.
    List {
        #[arg(long, default_value_t = 1)]
        page: u32,
        #[arg(long, default_value_t = 20)]
        per_page: u32,
    },
    /// Show one dead letter with its event.
    Show { id: uuid::Uuid },
    /// Deliver dead letters to their consumer again.
    Replay {
        /// The dead letter to replay.
        #[arg(required_unless_present = "all")]
        id: Option<uuid::Uuid>,
        /// Replay every dead letter.
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
    /// Delete dead letters without replaying them.
    Purge {
        /// The dead letter to delete.
        #[arg(required_unless_present = "all")]
        id: Option<uuid::Uuid>,
        /// Delete every dead letter (of `--consumer` only, when given).
        #[arg(long, conflicts_with = "id")]
        all: bool,
        /// With `--all`: only this consumer's dead letters (e.g. `inventory.catalog-skus`).
        #[arg(long, value_name = "NAME", requires = "all")]
        consumer: Option<String>,
    },
}

impl Command {
    /// The role this command runs as, which names the process in traces.
    pub fn role(&self) -> Role {
        match self {
            Command::Serve { role, .. } | Command::Migrate { role } => role.role(),
            _ => Role::Monolith,
        }
    }
}

pub async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    // Commands that open the databases hold the data directory as `serve` does, so that a restore
    // cannot replace it under them (and waits for them).
    let _data_dir = match &command {
        Command::Migrate { .. }
        | Command::Demo { .. }
        | Command::Admin(_)
        | Command::DeadLetters(_)
        | Command::Search(_)
        | Command::Outbox => crate::backup::DataDirLock::shared(&config)?,
        Command::Serve { .. }
        | Command::Backup { .. }
        | Command::Restore { .. }
        | Command::ExtractionReport { .. }
        | Command::Openapi => None,
    };
    match command {
        Command::Serve { demo, demo_products, role } => {
            crate::serve::serve(config, role.role(), demo.then_some(demo_products)).await
        }
        Command::Migrate { role } => {
            let app = App::build_as(config, role.role()).await?;
            println!("Migrated {} databases.", app.databases.len());
            app.shutdown().await;
            Ok(())
        }
        Command::Demo { products } => {
            let mut app = App::build(config).await?;
            app.start();
            crate::demo::load(&app, products).await?;
            app.shutdown().await;
            Ok(())
        }
        Command::Admin(AdminCommand::Create { email, password, name }) => {
            let app = App::build(config).await?;
            let staff = app
                .identity
                .create_staff(
                    &RequestContext::system(),
                    NewStaff { email, password, name, roles: vec![StaffRole::Admin] },
                )
                .await
                .context("could not create the staff admin")?;
            println!("Created staff admin {} ({}).", staff.email, staff.id);
            app.shutdown().await;
            Ok(())
        }
        Command::DeadLetters(command) => dead_letters(command, config).await,
        Command::Outbox => {
            let app = App::build(config).await?;
            let outboxes = app.dead_letter_office().outboxes().await;
            app.shutdown().await;
            println!("{}", crate::operations::outbox_table(&outboxes?, comptoir_kernel::time::now()));
            Ok(())
        }
        Command::Search(SearchCommand::Rebuild) => {
            let app = App::build(config).await?;
            let report = app.search.rebuild(&RequestContext::system()).await;
            app.shutdown().await;
            let r = report.context("could not rebuild the search index")?;
            println!(
                "Rebuilt the search index in {} ms: {} products read, {} searchable, {} removed; {} categories, {} sellers.",
                r.took_ms, r.products, r.indexed, r.removed, r.categories, r.sellers
            );
            Ok(())
        }
        Command::Backup { to } => {
            let manifest = crate::backup::backup(&config, &to).await?;
            println!("{}", crate::operations::backup_summary(&to, &manifest));
            Ok(())
        }
        Command::Restore { from } => {
            let restored = crate::backup::restore(&config, &from).await?;
            println!("{}", crate::operations::restore_summary(&restored));
            Ok(())
        }
        Command::ExtractionReport { from, window } => {
            let from = match from.is_empty() {
                true => vec![format!("http://{}/metrics", crate::serve::local_url(config.http.addr))],
                false => from,
            };
            print!("{}", crate::extraction::report(&from, window.map(std::time::Duration::from_secs)).await?);
            Ok(())
        }
        Command::Openapi => {
            println!("{}", serde_json::to_string_pretty(&comptoir_api::openapi())?);
            Ok(())
        }
    }
}

async fn dead_letters(command: DeadLetterCommand, config: Config) -> anyhow::Result<()> {
    let app = App::build(config).await?;
    let office = app.dead_letter_office();
    match command {
        DeadLetterCommand::List { page, per_page } => {
            let page = office.list(PageRequest::new(page, per_page)?).await?;
            println!("{} dead letter(s) in all; page {}.", page.total, page.page);
            for filed in page.items {
                let l = &filed.letter;
                println!(
                    "{}  {}  {}  {}  attempts={}  failed_at={}  error={}",
                    l.id, filed.module, l.consumer, l.event.event_type, l.attempts, l.failed_at, l.error
                );
            }
        }
        DeadLetterCommand::Show { id } => {
            let filed = office.get(id).await?;
            println!(
                "module:   {}\nconsumer: {}\nattempts: {}\nfailed:   {}\nerror:    {}",
                filed.module, filed.letter.consumer, filed.letter.attempts, filed.letter.failed_at, filed.letter.error
            );
            println!("{}", serde_json::to_string_pretty(&filed.letter.event)?);
        }
        DeadLetterCommand::Replay { id: Some(id), .. } => {
            office.replay(id).await?;
            println!("Replayed {id}.");
        }
        DeadLetterCommand::Replay { id: None, .. } => {
            let (replayed, failing) = office.replay_all().await?;
            println!("Replayed {replayed}; {failing} still failing.");
        }
        DeadLetterCommand::Purge { id: Some(id), .. } => {
            let purged = office.purge(id).await?;
            println!("Purged 1 dead letter: {id} ({}, {}).", purged.letter.consumer, purged.letter.event.event_type);
        }
        DeadLetterCommand::Purge { id: None, consumer, .. } => {
            let purged = office.purge_all(consumer.as_deref()).await?;
            match consumer {
                Some(consumer) => println!("Purged {purged} dead letter(s) of {consumer}."),
                None => println!("Purged {purged} dead letter(s)."),
            }
        }
    }
    // Replayed handlers may have emitted events: publish them before exiting.
    let mut app = app;
    app.start();
    app.settle(std::time::Duration::from_secs(30)).await?;
    app.shutdown().await;
    Ok(())
}
