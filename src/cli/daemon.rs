//! `privatelinkd run`, `plan` and `status`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{Context, bail};
use privatelinkd::daemon::{self, Daemon};
use privatelinkd::http;
use privatelinkd::metrics::Metrics;
use privatelinkd::report::phase_counts;
use privatelinkd::settings::Settings;
use privatelinkd::source::Catalog;
use privatelinkd::status::{self, StatusFile, StatusWriter};
use tokio::sync::mpsc;

use super::Output;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The daemon config file.
    #[arg(long, env = "PRIVATELINKD_CONFIG")]
    config: PathBuf,
    /// Do one full pass and exit (0 if nothing failed).
    #[arg(long)]
    once: bool,
    /// Carry out deletions even when the mass-deletion guard would hold them back.
    #[arg(long)]
    allow_mass_delete: bool,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The daemon config file.
    #[arg(long, env = "PRIVATELINKD_CONFIG")]
    config: PathBuf,
    #[arg(long, value_enum, default_value_t)]
    output: Output,
}

pub fn load_settings(path: &Path) -> anyhow::Result<Settings> {
    Settings::load(path).map_err(|problems| {
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("invalid config\n{}", lines.join("\n"))
    })
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let settings = load_settings(&args.config)?;
    let metrics = Arc::new(Metrics::new());
    let clouds = daemon::build_clouds(&settings, metrics.clone())?;
    let dir = settings.file.endpoints_dir.clone();
    let listen = settings.file.metrics.listen.clone();
    let rt = runtime()?;
    rt.block_on(async move {
        let d = Daemon::new(settings, clouds, args.allow_mass_delete, metrics.clone());
        if args.once {
            let mut d = d;
            let summary = d.pass(true).await;
            return Ok(if summary.is_clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        let (tx, rx) = mpsc::channel(16);
        // Signal handlers go in before anything else, so an early SIGTERM is not lost.
        daemon::forward_signals(tx.clone()).context("cannot install signal handlers")?;
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .with_context(|| format!("cannot listen on {listen} (metrics.listen)"))?;
        tracing::info!(
            "serving /metrics, /healthz and /readyz on http://{}",
            listener.local_addr()?
        );
        let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(http::serve(
            listener,
            metrics,
            d.readiness(),
            tx.clone(),
            async {
                let _ = http_stopped.await;
            },
        ));
        let _watcher = match daemon::watch(&dir, tx.clone()) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(
                    "cannot watch {}: {e}; changes are picked up every interval",
                    dir.display()
                );
                None
            }
        };
        tracing::info!(endpoints = %dir.display(), "privatelinkd started");
        d.run(rx).await;
        let _ = stop_http.send(());
        let _ = server.await;
        Ok(ExitCode::SUCCESS)
    })
}

pub fn plan(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let settings = load_settings(&args.config)?;
    let metrics = Arc::new(Metrics::new());
    let clouds = daemon::build_clouds(&settings, metrics.clone())?;
    let rt = runtime()?;
    let summary = rt.block_on(async move {
        Daemon::new(settings, clouds, false, metrics)
            .pass(false)
            .await
    });
    let plan = &summary.plan;
    match args.output {
        Output::Json => {
            let all: Vec<_> = plan.endpoints.iter().chain(&plan.removals).collect();
            println!("{}", serde_json::to_string_pretty(&all)?);
        }
        Output::Text => {
            let (mut add, mut change, mut delete) = (0, 0, 0);
            for p in plan.endpoints.iter().chain(&plan.removals) {
                println!(
                    "{} ({}){}",
                    p.name,
                    p.phase.as_str(),
                    if p.message.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", p.message)
                    }
                );
                for a in &p.actions {
                    match a.sign() {
                        '+' => add += 1,
                        '-' => delete += 1,
                        _ => change += 1,
                    }
                    println!("  {} {}", a.sign(), a.describe());
                }
            }
            if let Some(reason) = &plan.deletions_blocked {
                println!("deletions blocked: {reason}");
            }
            let counts: Vec<String> = phase_counts(plan.endpoints.iter().map(|p| &p.phase))
                .iter()
                .map(|(p, n)| format!("{n} {}", p.as_str()))
                .collect();
            println!(
                "Plan: {add} to add, {change} to change, {delete} to destroy. Endpoints: {}",
                if counts.is_empty() {
                    "none".into()
                } else {
                    counts.join(", ")
                }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn status(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let settings = load_settings(&args.config)?;
    let root = &settings.file.endpoints_dir;
    if !root.exists() {
        bail!("the endpoints directory {} does not exist", root.display());
    }
    let files = status_files(root, settings.file.status_dir.as_deref());
    match args.output {
        Output::Json => {
            let all: Vec<_> = files.iter().filter_map(|(_, s)| s.as_ref()).collect();
            println!("{}", serde_json::to_string_pretty(&all)?);
        }
        Output::Text => {
            println!(
                "{:<28} {:<14} {:<24} {:>6}  MESSAGE",
                "NAME", "PHASE", "VPC ENDPOINT", "AGE"
            );
            for (path, status) in &files {
                let Some(status) = status else {
                    println!(
                        "{:<28} {:<14} {:<24} {:>6}  no status yet ({})",
                        "-",
                        "-",
                        "-",
                        "-",
                        path.display()
                    );
                    continue;
                };
                for e in &status.endpoints {
                    let endpoint = e.vpc_endpoint.as_ref().map_or("-", |v| v.id.as_str());
                    println!(
                        "{:<28} {:<14} {:<24} {:>6}  {}",
                        e.name,
                        e.phase.as_str(),
                        endpoint,
                        age(&e.last_transition_time),
                        e.message
                    );
                }
                for error in &status.errors {
                    println!("  invalid file: {error}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `2m`, `3h`: how long ago an RFC 3339 time was.
fn age(time: &str) -> String {
    let Ok(then) = humantime::parse_rfc3339(time) else {
        return "?".into();
    };
    let secs = SystemTime::now()
        .duration_since(then)
        .map_or(0, |d| d.as_secs());
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// Endpoint status files that belong to endpoint files under `root`.
fn status_files(root: &Path, status_dir: Option<&Path>) -> Vec<(PathBuf, Option<StatusFile>)> {
    let catalog = Catalog::read(&[root.to_path_buf()]).unwrap_or_default();
    catalog
        .files
        .iter()
        .map(|f| {
            let path = status::status_path(&f.path, status_dir);
            let status = StatusWriter::read(&path);
            (path, status)
        })
        .collect()
}
