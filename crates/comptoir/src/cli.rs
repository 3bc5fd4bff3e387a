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
}

pub async fn run(command: Command, config: Config) -> anyhow::Result<()> {
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
    }
    // Replayed handlers may have emitted events: publish them before exiting.
    let mut app = app;
    app.start();
    app.settle(std::time::Duration::from_secs(30)).await?;
    app.shutdown().await;
    Ok(())
}
