//! The `gregor` binary: argument parsing, logging setup, and the server.

use anyhow::Context;
use clap::{Parser, Subcommand};
use gregor::cli::admin::{self, AdminCommand};
use gregor::config::{Config, LogFormat};
use std::path::PathBuf;
use std::process::ExitCode;

/// See `gregor::alloc`: turns hostile wire lengths into decode errors, not aborts.
#[global_allocator]
static ALLOCATOR: gregor::alloc::GuardedAllocator = gregor::alloc::GuardedAllocator;

#[derive(Parser)]
#[command(name = "gregor", version, about = "A Kafka-compatible broker")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the broker (the embedded single-node default without --config).
    Serve {
        /// YAML config file; `GREGOR_…` environment variables override its keys.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Validate a config file and print the effective configuration.
    CheckConfig {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Topics of any Kafka-compatible cluster: list, describe, create, delete, alter-config.
    Topics {
        #[command(subcommand)]
        command: admin::topics::TopicsCommand,
        #[command(flatten)]
        connect: admin::ConnectArgs,
    },
    /// Consumer groups: list, describe (offsets, lag), reset-offsets, delete.
    Groups {
        #[command(subcommand)]
        command: admin::groups::GroupsCommand,
        #[command(flatten)]
        connect: admin::ConnectArgs,
    },
    /// The cluster: id, controller, brokers.
    Cluster {
        #[command(subcommand)]
        command: admin::cluster::ClusterCommand,
        #[command(flatten)]
        connect: admin::ConnectArgs,
    },
    /// Manage SASL/SCRAM users in the data directory's credential store.
    User {
        #[command(subcommand)]
        command: gregor::cli::user::UserCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gregor: {e:#}");
            // flags that contradict each other are usage errors, as clap's own are
            match e.downcast_ref::<admin::error::AdminError>() {
                Some(admin::error::AdminError::Usage(_)) => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { config } => {
            let config = Config::load(config.as_deref(), std::env::vars())?;
            init_logging(&config)?;
            for var in &config.ignored_env {
                tracing::warn!(%var, "environment variable names no config section; ignored");
            }
            let runtime =
                tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
            runtime.block_on(gregor::server::run(config))
        }
        Command::CheckConfig { config } => {
            let config = Config::load(config.as_deref(), std::env::vars())?;
            println!("{config:#?}");
            Ok(())
        }
        Command::Topics { command, connect } => run_admin(AdminCommand::Topics(command), &connect),
        Command::Groups { command, connect } => run_admin(AdminCommand::Groups(command), &connect),
        Command::Cluster { command, connect } => run_admin(AdminCommand::Cluster(command), &connect),
        Command::User { command } => {
            let (mut stdin, mut stdout) = (std::io::stdin().lock(), std::io::stdout().lock());
            Ok(gregor::cli::user::run(command, std::env::vars(), &mut stdin, &mut stdout)?)
        }
    }
}

/// Runs an admin command; single resources that failed are listed on stderr and make
/// the exit status non-zero after the rest of the report is printed.
fn run_admin(command: AdminCommand, connect: &admin::ConnectArgs) -> anyhow::Result<()> {
    let password = std::env::var(admin::PASSWORD_ENV).ok();
    let outcome = admin::run(command, connect, password, &mut std::io::stdout().lock())?;
    for failure in &outcome.failures {
        eprintln!("gregor: {failure}");
    }
    match outcome.failures.len() {
        0 => Ok(()),
        n => anyhow::bail!("{n} of the requested operations failed"),
    }
}

fn init_logging(config: &Config) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GREGOR_LOG")
        .or_else(|_| {
            // openraft narrates every election and append at info: keep its warnings only
            tracing_subscriber::EnvFilter::try_new(format!("{},openraft=warn", config.log.level))
        })
        .context("config key `log.level`")?;
    // colour codes only for a person at a terminal, not in files or log collectors
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    Ok(())
}
