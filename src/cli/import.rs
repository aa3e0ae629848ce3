//! `privatelinkd import`: one document per existing endpoint, written into the endpoints
//! directory (or `--out`), never over an existing file; what does not match is reported.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use privatelinkd::cloud::clouds::Clouds;
use privatelinkd::cloud::{Cluster, TidbCloud};
use privatelinkd::control::Observation;
use privatelinkd::daemon;
use privatelinkd::import::estate::{self, Reach};
use privatelinkd::import::{Finding, ImportReport, Managed, Options, from_state, terraform};
use privatelinkd::metrics::Metrics;
use privatelinkd::settings::Settings;
use privatelinkd::source::{Catalog, parse_file};
use privatelinkd::spec::DeletionPolicy;

use super::control::Control;
use super::daemon::{load_settings, runtime};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ImportOutput {
    /// The documents as one YAML stream (each after a `# file:` line), findings as comments.
    #[default]
    Yaml,
    /// The report (documents, skipped, unmatched) as JSON.
    Json,
    /// A summary and tables, for a pull request.
    Markdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Policy {
    Delete,
    Orphan,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The daemon config file (its TiDB Cloud key, clouds, accounts and ownerId).
    #[arg(long, env = "PRIVATELINKD_CONFIG")]
    config: PathBuf,
    /// Where to write the documents; the config's endpoints directory by default.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    output: ImportOutput,
    /// Write nothing; print what would be written.
    #[arg(long)]
    dry_run: bool,
    /// A TiDB Cloud project to list the clusters of (repeatable); the API key's default
    /// project when absent.
    #[arg(long = "project", value_name = "ID")]
    projects: Vec<String>,
    /// A Google Cloud project to look for Private Service Connect endpoints in (repeatable).
    #[arg(long = "gcp-project", value_name = "PROJECT")]
    gcp_projects: Vec<String>,
    /// An Azure subscription to look for private endpoints in (repeatable).
    #[arg(long = "azure-subscription", value_name = "ID")]
    azure_subscriptions: Vec<String>,
    /// What removing an imported document will do: `orphan` leaves the endpoint in place
    /// (the default: nothing made by hand is deleted by a removed file), `delete` deletes it.
    #[arg(long, value_enum, default_value = "orphan")]
    deletion_policy: Policy,
    /// A running daemon (its `metrics.listen`, e.g. http://127.0.0.1:9464): what it manages
    /// is skipped as managed, by what it saw in its latest pass.
    #[arg(long, value_name = "URL")]
    from: Option<String>,
    /// Read a Terraform state (format version 4, or `terraform show -json`) instead of
    /// listing the clouds: its `aws_vpc_endpoint`s joined with their
    /// `tidbcloud_dedicated_private_endpoint_connection`s.
    #[arg(long, value_name = "FILE")]
    from_terraform_state: Option<PathBuf>,
}

pub fn import(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let settings = load_settings(&args.config)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| settings.file.endpoints_dir.clone());
    let mut managed = managed(&settings)?;
    if let Some(url) = &args.from {
        managed_by_daemon(&settings, url, &mut managed)?;
    }
    let options = Options {
        owner_id: settings.file.owner_id.clone(),
        deletion_policy: match args.deletion_policy {
            Policy::Delete => DeletionPolicy::Delete,
            Policy::Orphan => DeletionPolicy::Orphan,
        },
        source: String::new(),
        api_url: settings.file.tidb_cloud.api_url.clone(),
    };
    let mut report = match &args.from_terraform_state {
        Some(state) => from_terraform(&settings, state, &managed, options)?,
        None => from_clouds(&settings, &args, &managed, options)?,
    };
    if !args.dry_run {
        write(&out, &mut report)?;
    }
    match args.output {
        ImportOutput::Yaml => print!("{}", yaml(&report, args.dry_run)),
        ImportOutput::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        ImportOutput::Markdown => print!("{}", markdown(&report, args.dry_run)),
    }
    eprintln!(
        "privatelinkd: {} document(s) {}, {} skipped, {} not matched",
        report.documents.len(),
        if args.dry_run { "to write" } else { "written" },
        report.skipped.len(),
        report.unmatched.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// What the endpoints directory already manages: names, files, adopted IDs.
fn managed(settings: &Settings) -> anyhow::Result<Managed> {
    let root = &settings.file.endpoints_dir;
    let mut managed = Managed::default();
    if !root.exists() {
        return Ok(managed);
    }
    let catalog = Catalog::read(std::slice::from_ref(root))
        .with_context(|| format!("cannot read {}", root.display()))?;
    for file in &catalog.files {
        managed
            .files
            .insert(privatelinkd::source::relative(root, &file.path));
        for d in &file.documents {
            let name = d.spec.metadata.name.to_string();
            if let Some(id) = d.spec.spec.adopts() {
                managed.adopted.insert(id.to_string(), name.clone());
            }
            managed.names.insert(name);
        }
    }
    Ok(managed)
}

/// The endpoints a running daemon manages are managed, whatever this checkout says.
fn managed_by_daemon(settings: &Settings, url: &str, managed: &mut Managed) -> anyhow::Result<()> {
    let daemon = Control::new(url)?;
    let observation: Observation = runtime()?.block_on(daemon.get("/v1/observation"))?;
    if observation.owner_id != settings.file.owner_id {
        bail!(
            "the daemon at {} is ownerId `{}`, this config says `{}`",
            daemon.base(),
            observation.owner_id,
            settings.file.owner_id
        );
    }
    for (name, sighting) in &observation.seen {
        managed.names.insert(name.to_string());
        if let Some(e) = &sighting.seen.endpoint {
            use privatelinkd::cloud::ConsumerEndpoint;
            managed.adopted.insert(e.id().to_string(), name.to_string());
        }
    }
    Ok(())
}

fn from_clouds(
    settings: &Settings,
    args: &ImportArgs,
    managed: &Managed,
    mut options: Options,
) -> anyhow::Result<ImportReport> {
    let metrics = Arc::new(Metrics::new());
    let clouds = daemon::build_clouds(settings, metrics, None)?;
    let mut aws_accounts = vec!["default".to_string()];
    aws_accounts.extend(settings.file.aws.accounts.keys().cloned());
    let reach = Reach {
        projects: args.projects.clone(),
        aws_accounts,
        gcp_projects: args.gcp_projects.clone(),
        azure_subscriptions: args.azure_subscriptions.clone(),
    };
    let per_minute = settings.file.tidb_cloud.requests_per_minute.max(1) as usize;
    options.source = "TiDB Cloud and the clouds".into();
    let consumer = Clouds::new(clouds.ec2, clouds.gcp).with_azure(clouds.azure);
    let estate = runtime()?.block_on(estate::discover(
        &clouds.tidb,
        &consumer,
        &reach,
        |clusters, requests| {
            // The same key as the daemon's: say what this costs before spending it.
            eprintln!(
                "privatelinkd: {clusters} cluster(s); at least {requests} more TiDB Cloud requests (one more per 100 connections past the first 100 of a project), paced at {per_minute}/min (tidbCloud.requestsPerMinute, shared with the daemon)",
            );
        },
    ))?;
    for (place, why) in &estate.failed {
        eprintln!("privatelinkd: warning: could not list {place}: {why}");
    }
    Ok(privatelinkd::import::matched(&estate, managed, &options))
}

fn from_terraform(
    settings: &Settings,
    path: &Path,
    managed: &Managed,
    mut options: Options,
) -> anyhow::Result<ImportReport> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let state = terraform::parse_state(&text).with_context(|| format!("{}", path.display()))?;
    for address in &state.ignored {
        eprintln!("privatelinkd: not imported: {address}");
    }
    // The documents are named after the clusters: one GetCluster each (paced like the
    // daemon's); a cluster TiDB Cloud does not describe is named by its ID.
    let clouds = daemon::build_clouds(settings, Arc::new(Metrics::new()), None)?;
    let ids: BTreeSet<&str> = state
        .connections
        .iter()
        .map(|c| c.cluster_id.as_str())
        .collect();
    let clusters: BTreeMap<String, Arc<Cluster>> = runtime()?.block_on(async {
        let mut found = BTreeMap::new();
        for id in ids {
            match clouds.tidb.get_cluster(id).await {
                Ok(c) => {
                    found.insert(id.to_string(), Arc::new(c));
                }
                Err(e) => eprintln!("privatelinkd: warning: cluster {id}: {e}"),
            }
        }
        found
    });
    // An account of the config is the state's account number when its role is in it.
    let accounts: BTreeMap<String, String> = settings
        .file
        .aws
        .accounts
        .iter()
        .filter_map(|(name, account)| {
            let number = account.role_arn.as_deref()?.split(':').nth(4)?;
            Some((number.to_string(), name.clone()))
        })
        .collect();
    let (estate, findings) = from_state::estate_of(&state, &clusters, &accounts);
    options.source = format!("Terraform state {}", path.display());
    let mut report = privatelinkd::import::matched(&estate, managed, &options);
    report.unmatched.extend(findings);
    report.unmatched.sort();
    Ok(report)
}

/// Writes each document that has no file yet, after checking it as the daemon will read it;
/// an existing file moves the document to the skipped.
fn write(out: &Path, report: &mut ImportReport) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut kept = Vec::new();
    for doc in std::mem::take(&mut report.documents) {
        let path = out.join(&doc.file);
        let checked = parse_file(&path, doc.yaml.as_bytes());
        if !checked.is_valid() {
            let problems: Vec<String> = checked.problems.iter().map(ToString::to_string).collect();
            bail!(
                "a document import made does not check (a bug: please report it):\n{}",
                problems.join("\n")
            );
        }
        // `create_new`: an existing file is never overwritten, even one made meanwhile.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path);
        match file {
            Ok(mut file) => {
                use std::io::Write;
                file.write_all(doc.yaml.as_bytes())
                    .with_context(|| format!("cannot write {}", path.display()))?;
                kept.push(doc);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                report.skipped.push(Finding {
                    id: doc.endpoint_id.clone(),
                    cluster_id: doc.cluster_id.clone(),
                    why: format!("{} exists: not overwritten", path.display()),
                    hint: Some("remove or rename it, or import with --out DIR".into()),
                });
            }
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
        }
    }
    report.documents = kept;
    report.skipped.sort();
    Ok(())
}

fn comment_findings(title: &str, findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let cluster = match f.cluster_id.as_str() {
            "" => String::new(),
            id => format!(" (cluster {id})"),
        };
        out += &format!("# {title} {}{cluster}: {}\n", f.id, f.why);
        if let Some(hint) = &f.hint {
            out += &format!("#   {hint}\n");
        }
    }
    out
}

fn yaml(report: &ImportReport, dry_run: bool) -> String {
    let mut out = String::new();
    for doc in &report.documents {
        out += &format!(
            "---\n# file: {}{}\n",
            doc.file,
            if dry_run {
                " (not written: --dry-run)"
            } else {
                ""
            }
        );
        if let Some(note) = &doc.note {
            out += &format!("# note: {note}\n");
        }
        out += &doc.yaml;
    }
    out += &comment_findings("skipped", &report.skipped);
    out += &comment_findings("not imported", &report.unmatched);
    out
}

fn markdown(report: &ImportReport, dry_run: bool) -> String {
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut out = format!(
        "### privatelinkd import\n\n**{} document(s) {}, {} skipped, {} not matched.**\n\n",
        report.documents.len(),
        if dry_run { "to write" } else { "written" },
        report.skipped.len(),
        report.unmatched.len()
    );
    if !report.documents.is_empty() {
        out += "| file | endpoint | cluster | connection | note |\n|---|---|---|---|---|\n";
        for d in &report.documents {
            out += &format!(
                "| `{}` | `{}` | `{}` | {} | {} |\n",
                d.file,
                d.endpoint_id,
                d.cluster_id,
                d.connection_state,
                cell(d.note.as_deref().unwrap_or(""))
            );
        }
        out += "\n";
    }
    for (title, findings) in [
        ("Skipped", &report.skipped),
        ("Not matched", &report.unmatched),
    ] {
        if findings.is_empty() {
            continue;
        }
        out += &format!("#### {title}\n\n| id | cluster | why | what to do |\n|---|---|---|---|\n");
        for f in findings {
            out += &format!(
                "| `{}` | `{}` | {} | {} |\n",
                f.id,
                f.cluster_id,
                cell(&f.why),
                cell(f.hint.as_deref().unwrap_or(""))
            );
        }
        out += "\n";
    }
    out
}
