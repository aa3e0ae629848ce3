//! `privatelinkd validate`: every problem in every file, each with its place.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use privatelinkd::cloud::sim::World;
use privatelinkd::diag::Diagnostic;
use privatelinkd::settings::{Backend, Settings};
use privatelinkd::source::Catalog;

use super::{EXIT_INVALID, EXIT_USAGE, Output};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Endpoint files or directories (searched recursively); with --config and no paths, the
    /// config's endpoints directory.
    paths: Vec<PathBuf>,
    /// Also check this daemon config file (and the simulated world it names).
    #[arg(long)]
    config: Option<PathBuf>,
    /// How to print problems: `text` (PATH:LINE:COL: error: MESSAGE on stderr) or `json`.
    #[arg(long, value_enum, default_value_t)]
    output: Output,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut problems: Vec<Diagnostic> = Vec::new();
    let mut paths = args.paths;
    let mut config_files = 0;
    if let Some(config) = &args.config {
        config_files += 1;
        if !config.exists() {
            bail!("cannot read {}: no such file", config.display());
        }
        match Settings::load(config) {
            Ok(settings) => {
                if paths.is_empty() {
                    paths.push(settings.file.endpoints_dir.clone());
                }
                let simulated = settings.backends()
                    != (Backend::Real, Backend::Real, Backend::Real)
                    || settings.azure_backend() != Backend::Real;
                match (&settings.file.simulated, simulated) {
                    (Some(sim), true) => {
                        config_files += 1;
                        problems.extend(World::load(&sim.world).err().unwrap_or_default());
                    }
                    (None, true) => problems.push(Diagnostic::new(
                        config,
                        privatelinkd::diag::Pos::START,
                        "cloud: simulated needs `simulated: {world: FILE}`",
                    )),
                    _ => {}
                }
            }
            Err(found) => problems.extend(found),
        }
    }
    if paths.is_empty() && args.config.is_none() {
        bail!("nothing to validate: give endpoint files or directories, or --config");
    }
    let catalog = if paths.is_empty() {
        Catalog::default()
    } else {
        Catalog::read(&paths)?
    };
    problems.extend(catalog.problems().cloned());
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&problems)?),
        Output::Text => {
            for problem in &problems {
                eprintln!("{problem}");
            }
            let files = catalog.files.len();
            if problems.is_empty() {
                let endpoints = catalog.documents().count();
                println!("{files} file(s), {endpoints} endpoint(s): all valid");
            } else {
                let invalid: std::collections::BTreeSet<_> =
                    problems.iter().map(|p| &p.path).collect();
                let checked = files + config_files;
                eprintln!(
                    "{} problem(s) in {} of {checked} file(s)",
                    problems.len(),
                    invalid.len()
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
