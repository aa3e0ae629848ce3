//! `privatelinkd run`, `plan` and `status`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{Context, bail};
use privatelinkd::cloud::fence::Fence;
use privatelinkd::control::{HeldBack, Retrying};
use privatelinkd::daemon::{self, Daemon, Member};
use privatelinkd::lease::{self, Election, ElectionConfig, StoreConfig};
use privatelinkd::metrics::Metrics;
use privatelinkd::plan::{ConditionStatus, ConditionType, Phase};
use privatelinkd::settings::{LeaderElection, Settings};
use privatelinkd::source::Catalog;
use privatelinkd::status::{self, StatusFile, StatusWriter};
use privatelinkd::systemd::Notifier;
use tokio::sync::mpsc;

use super::control::Control;
use super::{EXIT_INVALID, Output};

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
    /// Take over the endpoints of another ownerId (after `ownerId` was changed on purpose):
    /// their owner tag is rewritten to this daemon's.
    #[arg(long, value_name = "OLD_OWNER_ID")]
    reown_from: Option<String>,
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

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    // Signal handling goes in before any work: a SIGTERM at any instant, even while the config
    // is read or the clouds are built, is a clean stop once the loop starts.
    let (tx, rx) = mpsc::channel(16);
    if !args.once {
        daemon::forward_signals(tx.clone()).context("cannot install signal handlers")?;
    }
    let settings = load_settings(&args.config)?;
    if let Some(dir) = &settings.file.state_dir
        && let Err(why) =
            daemon::claim_owner(dir, &settings.file.owner_id, args.reown_from.as_deref())
    {
        eprintln!("privatelinkd: error: {why}");
        return Ok(ExitCode::from(EXIT_INVALID));
    }
    // One daemon per state directory, group or not: two on one stateDir would both act.
    let _lock = match &settings.file.state_dir {
        Some(dir) => match daemon::lock_state_dir(dir) {
            Ok(file) => Some(file),
            Err(why) => {
                eprintln!("privatelinkd: error: {why}");
                return Ok(ExitCode::from(EXIT_INVALID));
            }
        },
        // Said here, by the daemon, only: `plan` keeps nothing between runs either way.
        None => {
            tracing::warn!(
                "no stateDir: a region whose last endpoint file is removed while privatelinkd is down is not cleaned up"
            );
            None
        }
    };
    let election = settings
        .file
        .leader_election
        .as_ref()
        .map(|e| (e, lease::holder_identity()));
    if election.is_some() && args.once {
        eprintln!(
            "privatelinkd: error: `run --once` acts alone and cannot wait for a lease: not with leaderElection"
        );
        return Ok(ExitCode::from(EXIT_INVALID));
    }
    let member = election.as_ref().map(|(_, holder)| Member {
        holder: holder.clone(),
        fence: Fence::default(),
    });
    let metrics = Arc::new(Metrics::new());
    let clouds = daemon::build_clouds(&settings, metrics.clone(), member.as_ref())?;
    // A lease round is one DynamoDB call; a renewal period is plenty for the first.
    let first_round = settings
        .file
        .leader_election
        .as_ref()
        .map_or(std::time::Duration::ZERO, |e| e.renew_every.0);
    // Where the ledger lives: beside the lease in a group, else in the stateDir.
    let mut ledger_store: Option<(StoreConfig, String)> = None;
    let election = match (election, &member) {
        (Some((e, holder)), Some(member)) => {
            let config = election_config(&settings, e, &holder)?;
            ledger_store = Some((config.store.clone(), holder.clone()));
            Some(Election::start(
                config,
                member.fence.clone(),
                metrics.clone(),
            )?)
        }
        _ => {
            metrics.set_leader(&settings.file.owner_id, true);
            None
        }
    };
    let dir = settings.file.endpoints_dir.clone();
    let rt = runtime()?;
    rt.block_on(async move {
        let ledger = match daemon::open_ledger(&settings, ledger_store).await {
            Ok(ledger) => ledger,
            Err(why) => {
                eprintln!("privatelinkd: error: {why}");
                return Ok(ExitCode::from(EXIT_INVALID));
            }
        };
        let mut d = Daemon::new(settings, clouds, args.allow_mass_delete, metrics.clone());
        d.set_ledger(ledger);
        if let Some(mut election) = election {
            tracing::info!(holder = %election.holder, "competing for the lease of this ownerId");
            election.first_role(first_round).await;
            d = d.join(election);
        }
        d.reown_from(args.reown_from);
        if args.once {
            let summary = d.pass(true).await;
            return Ok(if summary.is_clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        let mut d = d.with_notifier(Notifier::from_env(metrics.notify_dropped()));
        d.start(tx.clone()).await?;
        tracing::info!(endpoints = %dir.display(), "privatelinkd started");
        d.run(rx).await;
        Ok(ExitCode::SUCCESS)
    })
}

/// The elector's config: the table and its credentials (a name from `aws.accounts`).
pub(super) fn election_config(
    settings: &Settings,
    e: &LeaderElection,
    holder: &str,
) -> anyhow::Result<ElectionConfig> {
    let d = &e.dynamodb;
    let account = match &d.account {
        Some(name) if name != "default" => {
            Some(settings.file.aws.accounts.get(name).with_context(|| {
                format!(
                    "leaderElection.dynamodb.account `{name}` is not defined under aws.accounts"
                )
            })?)
        }
        _ => None,
    };
    Ok(ElectionConfig {
        owner_id: settings.file.owner_id.clone(),
        holder: holder.to_string(),
        lease_duration: e.lease_duration.0,
        renew_every: e.renew_every.0,
        store: StoreConfig {
            table: d.table.clone(),
            region: d.region.clone(),
            profile: account.and_then(|a| a.profile.clone()),
            role: account.and_then(|a| a.role_arn.clone().map(|r| (r, a.external_id.clone()))),
            endpoint_url: d.endpoint_url.clone(),
            create_table: d.create_table,
            app_name: holder.to_string(),
        },
    })
}

#[derive(Debug, clap::Args)]
pub struct ApproveArgs {
    /// The daemon config file (the running daemon is reached on its `metrics.listen`).
    #[arg(long, env = "PRIVATELINKD_CONFIG")]
    config: PathBuf,
    /// Approve only if the held-back set still has this digest (as the daemon's log and the
    /// held endpoints' status say).
    #[arg(long)]
    digest: Option<String>,
    /// Show what is held back; approve nothing.
    #[arg(long)]
    list: bool,
}

/// `privatelinkd approve-deletions`: releases exactly the departures the running daemon's
/// mass-deletion guard holds back now.
pub fn approve_deletions(args: ApproveArgs) -> anyhow::Result<ExitCode> {
    let settings = load_settings(&args.config)?;
    let daemon = Control::of(&settings.file.metrics.listen)?;
    runtime()?.block_on(async move {
        let held: HeldBack = daemon.get("/v1/deletions").await?;
        let Some(digest) = held.digest.clone() else {
            println!("nothing is held back");
            return Ok(ExitCode::SUCCESS);
        };
        println!(
            "held back ({}): {}",
            held.reason.as_deref().unwrap_or("the mass-deletion guard"),
            digest
        );
        for e in &held.endpoints {
            println!("  {e}");
        }
        if args.list {
            return Ok(ExitCode::SUCCESS);
        }
        if let Some(wanted) = &args.digest
            && *wanted != digest
        {
            bail!(
                "the held-back set is now {digest}, not {wanted}: look at it again before approving"
            );
        }
        let approved: HeldBack = daemon
            .post(
                "/v1/deletions/approve",
                &serde_json::json!({ "digest": digest }),
            )
            .await?;
        println!(
            "approved {} departure(s); the daemon carries them out now",
            approved.endpoints.len()
        );
        Ok(ExitCode::SUCCESS)
    })
}

#[derive(Debug, clap::Args)]
pub struct RetryArgs {
    /// The endpoints to retry (their `metadata.name`); each must be Failed.
    #[arg(required = true)]
    names: Vec<String>,
    /// The daemon config file (the running daemon is reached on its `metrics.listen`).
    #[arg(long, env = "PRIVATELINKD_CONFIG")]
    config: PathBuf,
}

/// `privatelinkd retry NAME...`: the running daemon tries these Failed endpoints again now.
pub fn retry(args: RetryArgs) -> anyhow::Result<ExitCode> {
    let settings = load_settings(&args.config)?;
    let daemon = Control::of(&settings.file.metrics.listen)?;
    runtime()?.block_on(async move {
        let asked: Retrying = daemon
            .post("/v1/retry", &serde_json::json!({ "names": args.names }))
            .await?;
        println!(
            "retrying {}; `privatelinkd status` shows how it goes",
            asked.names.join(", ")
        );
        Ok(ExitCode::SUCCESS)
    })
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
                "{:<28} {:<14} {:<24} {:>6}  {:<28} MESSAGE",
                "NAME", "PHASE", "ENDPOINT", "AGE", "CONDITIONS"
            );
            for (path, status) in &files {
                let Some(status) = status else {
                    println!(
                        "{:<28} {:<14} {:<24} {:>6}  {:<28} no status yet ({})",
                        "-",
                        "-",
                        "-",
                        "-",
                        "-",
                        path.display()
                    );
                    continue;
                };
                if let Some(standby) = &status.standby {
                    // This host stands by: the leader's status files have the phases.
                    println!("{:<28} {standby}", status.file);
                }
                for e in &status.endpoints {
                    // A VPC endpoint's ID, or a Private Service Connect forwarding rule's name.
                    let endpoint = e
                        .vpc_endpoint
                        .as_ref()
                        .map(|v| v.id.as_str())
                        .or(e.psc_endpoint.as_ref().map(|p| p.name.as_str()))
                        .or(e.private_endpoint.as_ref().map(|p| p.name.as_str()))
                        .unwrap_or("-");
                    let name = match (e.removed, e.adopted) {
                        (true, _) => format!("{} (removed)", e.name),
                        (false, true) => format!("{} (adopted)", e.name),
                        (false, false) => e.name.clone(),
                    };
                    println!(
                        "{:<28} {:<14} {:<24} {:>6}  {:<28} {}",
                        name,
                        e.phase.as_str(),
                        endpoint,
                        age(&e.last_transition_time),
                        conditions_summary(&e.conditions),
                        e.message
                    );
                    // Where clients connect, once they can.
                    if let Some(c) = e.connection.as_ref().filter(|_| e.phase == Phase::Active)
                        && !c.host.is_empty()
                    {
                        println!("  host: {}:{}", c.host, c.port);
                    }
                    // What a person must act on, in the condition's own words.
                    for c in e
                        .conditions
                        .iter()
                        .filter(|c| c.status == ConditionStatus::False)
                    {
                        if c.kind != ConditionType::PrivateDnsReady || c.reason != "Disabled" {
                            println!("  {}: {}", c.kind.as_str(), c.message);
                        }
                    }
                }
                for error in &status.errors {
                    println!("  invalid file: {error}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `ok` when every condition is True (or deliberately off), else the ones that are not.
fn conditions_summary(conditions: &[privatelinkd::status::ConditionEntry]) -> String {
    let off: Vec<String> = conditions
        .iter()
        .filter(|c| c.status != ConditionStatus::True && c.reason != "Disabled")
        .map(|c| format!("{}={}", c.kind.as_str(), c.status.as_str()))
        .collect();
    match (conditions.is_empty(), off.is_empty()) {
        (true, _) => "-".into(),
        (false, true) => "ok".into(),
        (false, false) => off.join(","),
    }
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

/// Every status file: those of the endpoint files under `root` (written yet or not), and those
/// privatelinkd keeps for removed documents while their endpoints leave.
fn status_files(root: &Path, status_dir: Option<&Path>) -> Vec<(PathBuf, Option<StatusFile>)> {
    let catalog = Catalog::read(&[root.to_path_buf()]).unwrap_or_default();
    let mut paths: std::collections::BTreeSet<PathBuf> = catalog
        .files
        .iter()
        .filter(|f| !f.directory)
        .map(|f| status::status_path(&f.path, status_dir))
        .collect();
    paths.extend(match status_dir {
        Some(dir) => status::ours(dir, false),
        None => status::ours(root, true),
    });
    paths
        .into_iter()
        .map(|path| {
            let status = StatusWriter::read(&path);
            (path, status)
        })
        .collect()
}
