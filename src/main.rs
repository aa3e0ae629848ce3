//! The `privatelinkd` command: parses arguments and hands each command to its module.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("privatelinkd: error: {error:#}");
            ExitCode::from(cli::EXIT_USAGE)
        }
    }
}
