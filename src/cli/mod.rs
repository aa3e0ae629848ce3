//! Command-line interface: the only place where errors become `anyhow` and exit codes.

mod control;
mod daemon;
mod import;
mod plan;
mod state;
mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Usage and I/O errors (a missing path, an unreadable config) exit with 2.
pub const EXIT_USAGE: u8 = 2;
/// Invalid input (a file with problems) exits with 1.
pub const EXIT_INVALID: u8 = 1;

#[derive(Debug, Parser)]
#[command(
    name = "privatelinkd",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("PRIVATELINKD_COMMIT"), ")"),
    about = "Declarative AWS PrivateLink endpoints for TiDB Cloud Dedicated"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log line format on stderr.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t,
        env = "PRIVATELINKD_LOG_FORMAT"
    )]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Logs go to stderr: `RUST_LOG` filters (default `info`); under journald (`JOURNAL_STREAM`)
/// lines carry no timestamp or colour, since the journal adds its own.
fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal() && !journald);
    match (format, journald) {
        (LogFormat::Json, _) => builder.json().flatten_event(true).init(),
        (LogFormat::Text, true) => builder.without_time().init(),
        (LogFormat::Text, false) => builder.init(),
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check endpoint files (and the daemon config) and report every problem with its place.
    Validate(validate::Args),
    /// Print a JSON Schema (draft 2020-12): of an endpoint document (the default), or of
    /// `plan --output json`.
    Schema {
        #[arg(value_enum, default_value_t)]
        of: SchemaOf,
    },
    /// Run the daemon: keep the cloud equal to the endpoint files.
    Run(daemon::RunArgs),
    /// Show what the daemon will do to reach the files (create, update, replace, delete), without
    /// changing anything.
    Plan(plan::PlanArgs),
    /// Show every endpoint's phase from the status files.
    Status(daemon::ShowArgs),
    /// Write a document for each endpoint that already exists (made by hand, or by
    /// Terraform), adopting it as it is; report what does not match.
    Import(import::ImportArgs),
    /// Release what the running daemon's guards hold back now: deletions (the mass-deletion
    /// guard) and re-creations (the creation guard).
    #[command(visible_alias = "approve")]
    ApproveDeletions(daemon::ApproveArgs),
    /// What the ledger holds: `state list`, `state show NAME`, `state forget NAME`.
    State(state::StateArgs),
    /// Ask the running daemon to try Failed endpoints again now.
    Retry(daemon::RetryArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), generated from this command line.
    Man,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
enum SchemaOf {
    /// An endpoint file's document (for editors: `examples/privatelinkd.schema.json`).
    #[default]
    Endpoint,
    /// `privatelinkd plan --output json` (`examples/plan.schema.json`).
    Plan,
}

/// How a command prints its findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Output {
    #[default]
    Text,
    Json,
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    init_logging(cli.log_format);
    match cli.command {
        Command::Validate(args) => validate::run(args),
        Command::Run(args) => daemon::run(args),
        Command::Plan(args) => plan::plan(args),
        Command::Status(args) => daemon::status(args),
        Command::Import(args) => import::import(args),
        Command::ApproveDeletions(args) => daemon::approve_deletions(args),
        Command::Retry(args) => daemon::retry(args),
        Command::State(args) => state::run(args),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "privatelinkd", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            let command = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(command).render(&mut std::io::stdout())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Schema { of } => {
            let schema = match of {
                SchemaOf::Endpoint => {
                    privatelinkd::checked::schema_of::<privatelinkd::spec::EndpointDocument>()
                }
                SchemaOf::Plan => {
                    privatelinkd::checked::schema_of::<privatelinkd::plan::preview::PlanReport>()
                }
            };
            println!("{}", serde_json::to_string_pretty(&schema)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
