//! `privatelinkd validate`: every problem in every file, each with its place.

use std::process::ExitCode;

use anyhow::bail;
use privatelinkd::source::Catalog;

use std::path::PathBuf;

use super::{EXIT_INVALID, EXIT_USAGE, Output};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Endpoint files or directories (searched recursively).
    paths: Vec<PathBuf>,
    /// How to print problems: `text` (PATH:LINE:COL: error: MESSAGE on stderr) or `json`.
    #[arg(long, value_enum, default_value_t)]
    output: Output,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.paths.is_empty() {
        bail!("nothing to validate: give endpoint files or directories");
    }
    let catalog = Catalog::read(&args.paths)?;
    let problems: Vec<_> = catalog.problems().collect();
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&problems)?),
        Output::Text => {
            for problem in &problems {
                eprintln!("{problem}");
            }
            let files = catalog.files.len();
            let invalid = catalog.files.iter().filter(|f| !f.is_valid()).count();
            if problems.is_empty() {
                let endpoints = catalog.documents().count();
                println!("{files} file(s), {endpoints} endpoint(s): all valid");
            } else {
                eprintln!(
                    "{} problem(s) in {invalid} of {files} file(s)",
                    problems.len()
                );
            }
        }
    }
    Ok(if catalog.files.iter().any(|f| f.unreadable) {
        ExitCode::from(EXIT_USAGE)
    } else if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_INVALID)
    })
}
