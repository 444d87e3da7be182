//! `evbench services up | check`.

use anyhow::Context;
use clap::{Args, Subcommand};
use harness::{ProviderKind, Services};

use crate::Failure;

#[derive(Debug, Subcommand)]
pub enum ServicesCommand {
    /// Start Kafka and ClickHouse, print their endpoints and versions, keep them until Ctrl-C.
    Up(ProviderArgs),
    /// Start both, run a Kafka produce/consume round trip and a ClickHouse insert/select,
    /// print `kafka <version> clickhouse <version> ok`, and stop them.
    Check(ProviderArgs),
}

#[derive(Debug, Args)]
pub struct ProviderArgs {
    /// Where the servers come from: `native` (started here from the machine's installs),
    /// `docker` (containers; needs a Docker engine) or `external` (EVBENCH_KAFKA_BOOTSTRAP,
    /// EVBENCH_CLICKHOUSE_URL, EVBENCH_CLICKHOUSE_USER, EVBENCH_CLICKHOUSE_PASSWORD).
    #[arg(long, default_value = "native", env = "EVBENCH_PROVIDER")]
    provider: ProviderKind,
}

pub async fn run(command: ServicesCommand) -> Result<(), Failure> {
    match command {
        ServicesCommand::Up(args) => up(args.provider).await,
        ServicesCommand::Check(args) => check(args.provider).await,
    }
}

async fn start(provider: ProviderKind) -> Result<Services, Failure> {
    tokio::select! {
        services = Services::start(provider) => Ok(services.with_context(|| format!("starting the {provider} services"))?),
        _ = tokio::signal::ctrl_c() => Err(Failure::CouldNotRun(anyhow::anyhow!("interrupted during start-up"))),
    }
}

async fn up(provider: ProviderKind) -> Result<(), Failure> {
    let mut services = start(provider).await?;
    println!("provider    {provider}");
    println!(
        "kafka       {} (bootstrap {})",
        services.kafka.version, services.kafka.bootstrap
    );
    println!(
        "clickhouse  {} (url {}, user {})",
        services.clickhouse.version, services.clickhouse.url, services.clickhouse.user
    );
    if let Some(kafka) = services.native_kafka() {
        println!("kafka dir   {}", kafka.dir().display());
    }
    if let Some(clickhouse) = services.native_clickhouse() {
        println!("clickhouse dir {}", clickhouse.dir().display());
    }
    if let Some(storage) = &services.storage {
        println!("storage     {}", storage.summary());
    }
    // Listening before saying `ready`: a Ctrl-C that follows the line at once must not be lost
    // (a `ctrl_c()` future only sees signals delivered after its first poll).
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("installing the SIGINT handler")?;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    println!("ready; press Ctrl-C to stop");
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    eprintln!("stopping");
    tokio::task::spawn_blocking(move || services.stop())
        .await
        .context("stopping the services")?;
    Ok(())
}

async fn check(provider: ProviderKind) -> Result<(), Failure> {
    let services = start(provider).await?;
    let outcome = tokio::select! {
        outcome = harness::smoke::round_trip(&services) => outcome.context("round trip"),
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    let line = format!(
        "kafka {} clickhouse {}",
        services.kafka.version, services.clickhouse.version
    );
    tokio::task::spawn_blocking(move || services.stop())
        .await
        .context("stopping the services")?;
    outcome?;
    println!("{line} ok");
    Ok(())
}
