//! Command-line interface: the only place where errors become `anyhow` and exit codes.

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
    version,
    about = "Declarative AWS PrivateLink endpoints for TiDB Cloud Dedicated"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check endpoint files (and the daemon config) and report every problem with its place.
    Validate(validate::Args),
    /// Print the JSON Schema (draft 2020-12) of an endpoint document.
    Schema,
}

/// How a command prints its findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Output {
    #[default]
    Text,
    Json,
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Validate(args) => validate::run(args),
        Command::Schema => {
            let schema = privatelinkd::checked::schema_of::<privatelinkd::spec::EndpointDocument>();
            println!("{}", serde_json::to_string_pretty(&schema)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
