//! `comptoir`: one binary for the whole shop.

use clap::Parser;
use comptoir::{cli, config};

fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    let config = config::Config::load(cli.config.as_deref())?;
    let traces = config.traces_settings(cli.command.role());
    let telemetry = comptoir_telemetry::init(&config.log_settings(), &traces).map_err(anyhow::Error::msg)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let outcome = runtime.block_on(cli::run(cli.command, config));
    // The last spans (a shutdown's) leave before the process does.
    telemetry.shutdown();
    outcome
}
