//! `privatelinkd state list | show NAME | forget NAME`: what the ledger holds (Terraform's
//! `state` verbs). Reads beside a running daemon; `forget` is the operator's way to make the
//! daemon forget an entry without touching the cloud.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use privatelinkd::ledger::dynamo::Dynamo;
use privatelinkd::ledger::{Entry, local};
use privatelinkd::settings::Settings;

use super::Output;
use super::daemon::{election_config, load_settings, runtime};

#[derive(Debug, clap::Args)]
pub struct StateArgs {
    #[command(subcommand)]
    verb: Verb,
    /// The daemon config file (where the ledger is: stateDir, or the lease table of a group).
    #[arg(long, env = "PRIVATELINKD_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t, global = true)]
    output: Output,
}

#[derive(Debug, clap::Subcommand)]
enum Verb {
    /// Every document the ledger holds, with its endpoints and connections.
    List,
    /// One document's entry in full.
    Show { name: String },
    /// Remove one document's entry; the cloud is not touched. While the endpoint still carries
    /// the owner tags, the daemon finds it again by them: to release an endpoint, use
    /// `deletionPolicy: Orphan` and remove the document instead.
    Forget { name: String },
}

pub fn run(args: StateArgs) -> anyhow::Result<ExitCode> {
    let config = args
        .config
        .context("--config FILE (or PRIVATELINKD_CONFIG) is needed to find the ledger")?;
    let settings = load_settings(&config)?;
    match args.verb {
        Verb::List => {
            let entries = read(&settings)?;
            print_list(&entries, args.output);
            Ok(ExitCode::SUCCESS)
        }
        Verb::Show { name } => {
            let entries = read(&settings)?;
            let Some(entry) = entries.get(&name) else {
                bail!("the ledger holds nothing for {name}");
            };
            match args.output {
                Output::Json => println!("{}", serde_json::to_string_pretty(entry)?),
                Output::Text => print_entry(&name, entry),
            }
            Ok(ExitCode::SUCCESS)
        }
        Verb::Forget { name } => {
            if forget(&settings, &name)? {
                println!(
                    "forgot {name}; the cloud is unchanged (the daemon finds an endpoint still \
                     tagged as ours again by its tags)"
                );
                Ok(ExitCode::SUCCESS)
            } else {
                bail!("the ledger holds nothing for {name}");
            }
        }
    }
}

/// The group's ledger in DynamoDB, when the ledger lives there (read and forget only).
async fn group_ledger(settings: &Settings) -> anyhow::Result<Option<Dynamo>> {
    let Some(e) = &settings.file.leader_election else {
        return Ok(None);
    };
    let config = election_config(settings, e, "privatelinkd-state")?;
    let owner = &settings.file.owner_id;
    Ok(Some(Dynamo::connect(&config.store, owner, "").await))
}

fn state_dir(settings: &Settings) -> anyhow::Result<&std::path::Path> {
    settings
        .file
        .state_dir
        .as_deref()
        .context("the config has no stateDir and no leaderElection: there is no ledger to read")
}

fn read(settings: &Settings) -> anyhow::Result<BTreeMap<String, Entry>> {
    runtime()?.block_on(async {
        match group_ledger(settings).await? {
            Some(mut ledger) => Ok(ledger.load().await?),
            None => Ok(local::read_only(state_dir(settings)?)?),
        }
    })
}

fn forget(settings: &Settings, name: &str) -> anyhow::Result<bool> {
    runtime()?.block_on(async {
        match group_ledger(settings).await? {
            Some(ledger) => Ok(ledger.forget(name).await?),
            None => Ok(local::forget(state_dir(settings)?, name)?),
        }
    })
}

fn time(unix: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix);
    humantime::format_rfc3339_seconds(t).to_string()
}

fn print_list(entries: &BTreeMap<String, Entry>, output: Output) {
    if output == Output::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(entries).expect("entries serialize")
        );
        return;
    }
    if entries.is_empty() {
        println!("the ledger is empty");
        return;
    }
    println!("NAME\tENDPOINTS\tCONNECTIONS\tFILE");
    for (name, e) in entries {
        let endpoints: Vec<String> = e
            .endpoints
            .iter()
            .map(|r| match r.gone_since {
                Some(_) => format!("{} (gone)", r.id),
                None => r.id.clone(),
            })
            .chain(e.creating.as_ref().map(|_| "(creating)".to_string()))
            .collect();
        let connections: Vec<&str> = e.connections.iter().map(|c| c.id.as_str()).collect();
        let or_dash = |v: String| if v.is_empty() { "-".to_string() } else { v };
        println!(
            "{name}\t{}\t{}\t{}",
            or_dash(endpoints.join(",")),
            or_dash(connections.join(",")),
            e.file
        );
    }
}

fn print_entry(name: &str, e: &Entry) {
    println!("{name}");
    println!("  file: {}", e.file);
    println!("  account: {}, region: {}", e.scope.account, e.scope.region);
    println!("  deletionPolicy: {:?}", e.policy);
    for r in &e.endpoints {
        let gone = r
            .gone_since
            .map(|t| format!(", gone since {}", time(t)))
            .unwrap_or_default();
        println!(
            "  endpoint {} ({:?} {}, last seen {}{gone})",
            r.id,
            r.how,
            time(r.since),
            time(r.last_seen)
        );
    }
    for c in &e.connections {
        println!(
            "  connection {} of cluster {} for {} (last seen {})",
            c.id,
            c.cluster_id,
            c.endpoint_id,
            time(c.last_seen)
        );
    }
    if let Some(i) = &e.creating {
        println!(
            "  creating since {} (ClientToken {})",
            time(i.since),
            i.client_token
        );
    }
}
