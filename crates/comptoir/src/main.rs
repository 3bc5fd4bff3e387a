//! `comptoir`: one binary for the whole shop.

use clap::Parser;
use comptoir::{cli, config, logging};

fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    let config = config::Config::load(cli.config.as_deref())?;
    logging::init(&config.log);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(cli::run(cli.command, config))
}
