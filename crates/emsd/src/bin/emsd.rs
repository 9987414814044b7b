//! `emsd`: the EMS relay daemon. See `docs/operations.md`.
//!
//! Exit codes: 0 clean stop, 2 bad configuration or arguments (the message names the key),
//! 1 anything else.

use clap::{CommandFactory, Parser, Subcommand};
use emsd::config::ConfigArgs;
use emsd::demo::{self, Cluster, DemoError};
use emsd::logging::{self, LogFormat};
use emsd::run::{self, RunError};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "emsd",
    version = emsd::VERSION,
    about = "EMS relay daemon: post-quantum ephemeral messages for the QRL network"
)]
struct Cli {
    /// Log format on stderr (filter with RUST_LOG).
    #[arg(long, value_enum, default_value_t, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a relay node until SIGTERM or Ctrl-C.
    Run(ConfigArgs),
    /// Print the effective configuration (defaults, file, --set, flags) as TOML.
    Config(ConfigArgs),
    /// Start a local network of relays, send a message across it, and explain what happened.
    Demo {
        /// How many relays to start (2 to 10).
        #[arg(long, default_value_t = 3)]
        nodes: usize,
    },
    /// Print shell completions (source the output, or save it where your shell looks).
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or write a page per command into --dir.
    Man {
        /// Write emsd.1, emsd-run.1, ... into this directory.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

const BAD_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "emsd", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Man { dir } => {
            let written = match dir {
                Some(dir) => clap_mangen::generate_to(Cli::command(), dir),
                None => clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()),
            };
            match written {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("emsd: writing the man page: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Config(args) => match args.load() {
            Ok(config) => {
                print!("{}", config.to_toml());
                ExitCode::SUCCESS
            }
            Err(e) => config_error(&e),
        },
        Command::Run(args) => {
            let config = match args.load() {
                Ok(config) => config,
                Err(e) => return config_error(&e),
            };
            logging::init(cli.log_format);
            match runtime().map(|rt| rt.block_on(run::run(config))) {
                Ok(Ok(())) => ExitCode::SUCCESS,
                Ok(Err(RunError::Config(e))) => config_error(&e),
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "emsd stopped");
                    eprintln!("emsd: {e}");
                    ExitCode::FAILURE
                }
                Err(e) => {
                    eprintln!("emsd: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Demo { nodes } => match runtime().and_then(|rt| rt.block_on(run_demo(nodes))) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("\nemsd demo failed: {e:#}");
                match e.downcast_ref::<DemoError>() {
                    Some(DemoError::Nodes(_)) => ExitCode::from(BAD_CONFIG),
                    _ => ExitCode::FAILURE,
                }
            }
        },
    }
}

fn config_error(e: &emsd::config::ConfigError) -> ExitCode {
    eprintln!("emsd: invalid configuration: {e}");
    ExitCode::from(BAD_CONFIG)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Runs the (blocking) demo on a worker thread; Ctrl-C or SIGTERM stops its nodes, removes its
/// files and exits with status 130.
async fn run_demo(nodes: usize) -> anyhow::Result<()> {
    let cluster = Arc::new(Cluster::new()?);
    let worker = {
        let cluster = cluster.clone();
        tokio::task::spawn_blocking(move || demo::run(&cluster, nodes))
    };
    tokio::select! {
        done = worker => Ok(done??),
        signal = emsd::shutdown::os_signal() => {
            eprintln!("\ninterrupted ({}): stopping the demo's nodes", signal.unwrap_or("signal"));
            cluster.stop();
            // The demo thread may be waiting on nodes that are gone; do not wait for it.
            std::process::exit(130)
        }
    }
}
