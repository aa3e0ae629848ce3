//! `privatelinkd plan`: what the daemon will do to reach the files, for a person or a
//! config repo's CI. Observed from the clouds (spending the same API budget as the daemon), or,
//! with `--from`, from a running daemon's latest pass (no cloud call at all).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use privatelinkd::control::Observation;
use privatelinkd::daemon::{self, Daemon};
use privatelinkd::metrics::Metrics;
use privatelinkd::plan::preview::{
    self, Current, EndpointPreview, PlanReport, PreviewAction, Unnamed,
};
use privatelinkd::plan::{Desired, Observed, Plan, plan_endpoint};
use privatelinkd::reconcile::Sighting;
use privatelinkd::source::Catalog;
use privatelinkd::spec::EndpointDocument;

use super::control::Control;
use super::daemon::{load_settings, runtime};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PlanOutput {
    #[default]
    Text,
    /// The documented format (`examples/plan.schema.json`).
    Json,
    /// A summary and a table, for a pull-request comment.
    Markdown,
}

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The daemon config file.
    #[arg(long, env = "PRIVATELINKD_CONFIG")]
    config: PathBuf,
    #[arg(long, value_enum, default_value_t)]
    output: PlanOutput,
    /// Exit 0 when nothing changes, 2 when changes are pending, 1 on error (Terraform's
    /// convention).
    #[arg(long)]
    detailed_exitcode: bool,
    /// Only this endpoint (repeatable).
    #[arg(long = "name", value_name = "NAME")]
    names: Vec<String>,
    /// Only the endpoints of this file, relative to the endpoints directory (repeatable).
    #[arg(long = "file", value_name = "PATH")]
    files: Vec<String>,
    /// Plan against a running daemon's latest observation (its `metrics.listen`, e.g.
    /// http://127.0.0.1:9464) instead of asking the clouds: no API budget spent.
    #[arg(long, value_name = "URL")]
    from: Option<String>,
    /// List unchanged endpoints too.
    #[arg(long)]
    all: bool,
}

pub fn plan(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let planned = make(&args);
    let report = match planned {
        Ok(report) => report,
        // Terraform's convention: an error is 1 under --detailed-exitcode.
        Err(e) if args.detailed_exitcode => {
            eprintln!("privatelinkd: error: {e:#}");
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e),
    };
    let report = filtered(report, &args);
    match args.output {
        PlanOutput::Text => print!("{}", text(&report, args.all)),
        PlanOutput::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        PlanOutput::Markdown => print!("{}", markdown(&report)),
    }
    Ok(match (args.detailed_exitcode, report.summary.changes()) {
        (true, true) => ExitCode::from(2),
        _ => ExitCode::SUCCESS,
    })
}

fn make(args: &PlanArgs) -> anyhow::Result<PlanReport> {
    let settings = load_settings(&args.config)?;
    let owner = settings.file.owner_id.clone();
    if let Some(url) = &args.from {
        return from_daemon(&settings, url);
    }
    let metrics = Arc::new(Metrics::new());
    let clouds = daemon::build_clouds(&settings, metrics.clone(), None)?;
    let store = match &settings.file.leader_election {
        Some(e) => Some(super::daemon::election_config(&settings, e, "privatelinkd-plan")?.store),
        None => None,
    };
    let summary = runtime()?.block_on(async move {
        let ledger = daemon::read_ledger(&settings, store).await;
        let mut d = Daemon::new(settings, clouds, false, metrics);
        d.set_ledger(ledger);
        d.pass(false).await
    });
    let observation = summary.observation.unwrap_or_default();
    let docs: Vec<(Desired<'_>, Current<'_>)> = summary
        .wanted
        .iter()
        .map(|w| {
            let sighting = observation.seen.get(w.doc.metadata.name.as_str());
            let seen = sighting.map(|s| &*s.seen);
            // An endpoint a document adopts is its endpoint before the first pass tags it.
            let adoptee = sighting.and_then(|s| s.facts.adoptee.as_ref());
            let current = Current {
                service: seen.and_then(|s| s.service.as_deref()),
                endpoint: seen.and_then(|s| s.endpoint.as_ref()).or(adoptee),
                connection: seen.and_then(|s| s.connection.as_deref()),
            };
            let desired = Desired {
                doc: &w.doc,
                file: &w.file,
            };
            (desired, current)
        })
        .collect();
    Ok(preview::preview(
        &docs,
        Some(&summary.plan),
        &[],
        &owner,
        "cloud",
    ))
}

/// The local files against what a running daemon last saw.
fn from_daemon(
    settings: &privatelinkd::settings::Settings,
    url: &str,
) -> anyhow::Result<PlanReport> {
    let daemon = Control::new(url)?;
    let base = daemon.base();
    let observation: Observation = runtime()?.block_on(daemon.get("/v1/observation"))?;
    if observation.owner_id != settings.file.owner_id {
        bail!(
            "the daemon at {base} is ownerId `{}`, this config says `{}`",
            observation.owner_id,
            settings.file.owner_id
        );
    }
    let root = &settings.file.endpoints_dir;
    let catalog = Catalog::read(std::slice::from_ref(root))
        .with_context(|| format!("cannot read {}", root.display()))?;
    let invalid: Vec<String> = catalog
        .files
        .iter()
        .flat_map(|f| f.problems.iter().map(ToString::to_string))
        .collect();
    if !invalid.is_empty() {
        bail!(
            "invalid endpoint files (`privatelinkd validate` says more):\n{}",
            invalid.join("\n")
        );
    }
    let files: Vec<(String, &privatelinkd::source::Document)> = catalog
        .files
        .iter()
        .flat_map(|f| {
            let rel = privatelinkd::source::relative(root, &f.path);
            f.documents.iter().map(move |d| (rel.clone(), d))
        })
        .collect();
    // The planner runs here on these files, with what the daemon last saw: what it can tell
    // from the cloud (a subnet in a zone the service does not offer), it tells from the daemon.
    let observed: Vec<Observed> = files
        .iter()
        .map(|(_, d)| observed_by_daemon(&observation, &d.spec))
        .collect();
    let docs: Vec<(Desired<'_>, Current<'_>)> = files
        .iter()
        .zip(&observed)
        .map(|((file, d), o)| {
            let current = Current {
                service: o.service.as_deref(),
                endpoint: o.endpoint.as_ref().or(o.adoptee.as_ref()),
                connection: o.connection.as_deref(),
            };
            (Desired { doc: &d.spec, file }, current)
        })
        .collect();
    let plan = Plan {
        endpoints: docs
            .iter()
            .zip(&observed)
            .map(|((d, _), o)| Arc::new(plan_endpoint(d, o, &settings.file.owner_id)))
            .collect(),
        ..Plan::default()
    };
    let mut unnamed: Vec<Unnamed<'_>> = observation
        .seen
        .iter()
        .filter_map(|(name, s)| {
            Some(Unnamed {
                name,
                endpoint: s.seen.endpoint.as_ref()?,
            })
        })
        .collect();
    // The daemon's map has no order; the preview lists them by name.
    unnamed.sort_by_key(|u| u.name);
    Ok(preview::preview(
        &docs,
        Some(&plan),
        &unnamed,
        &settings.file.owner_id,
        base,
    ))
}

/// Only the endpoints asked for (`--name`, `--file`); the summary counts what is shown.
fn filtered(mut report: PlanReport, args: &PlanArgs) -> PlanReport {
    if args.names.is_empty() && args.files.is_empty() {
        return report;
    }
    report.endpoints.retain(|e| {
        args.names.contains(&e.name)
            || e.file.as_ref().is_some_and(|f| {
                args.files
                    .iter()
                    .any(|want| want.trim_start_matches("./") == f)
            })
    });
    report.summary = preview::Summary::of(&report.endpoints);
    report
}

fn heading(e: &EndpointPreview) -> String {
    let file = e
        .file
        .as_deref()
        .map(|f| format!(" ({f})"))
        .unwrap_or_default();
    format!("{} {} {}{file}", e.action.sign(), e.action.as_str(), e.name)
}

fn totals(report: &PlanReport) -> String {
    let s = &report.summary;
    let mut line = format!(
        "Plan: {} to create, {} to update, {} to replace, {} to delete, {} to orphan.",
        s.create, s.update, s.replace, s.delete, s.orphan
    );
    if s.fail > 0 {
        line += &format!(" {} cannot be carried out as written.", s.fail);
    }
    line
}

fn text(report: &PlanReport, all: bool) -> String {
    let mut out = format!("Observed from: {}\n\n", report.observed_from);
    for e in report
        .endpoints
        .iter()
        .filter(|e| all || e.action != PreviewAction::None)
    {
        out += &format!("  {}\n", heading(e));
        for c in &e.changes {
            out += &format!("      {}: {} -> {}\n", c.field, c.before, c.after);
        }
        if let Some(reason) = &e.reason {
            let label = if e.action == PreviewAction::Fail {
                "fails"
            } else {
                "note"
            };
            out += &format!("      {label}: {reason}\n");
        }
    }
    if !all && report.summary.unchanged > 0 {
        out += &format!(
            "\n  {} unchanged (list them with --all)\n",
            report.summary.unchanged
        );
    }
    if let Some(blocked) = &report.deletions_blocked {
        out += &format!("\nDeletions held back by the mass-deletion guard: {blocked}\n");
    }
    out += &format!("\n{}\n", totals(report));
    out
}

fn markdown(report: &PlanReport) -> String {
    let mut out = format!("### privatelinkd plan\n\n**{}**\n\n", totals(report));
    let shown: Vec<&EndpointPreview> = report
        .endpoints
        .iter()
        .filter(|e| e.action != PreviewAction::None)
        .collect();
    if !shown.is_empty() {
        out += "| | endpoint | file | changes | note |\n|---|---|---|---|---|\n";
        let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
        for e in shown {
            let changes: Vec<String> = e
                .changes
                .iter()
                .map(|c| format!("`{}`: {} → {}", c.field, c.before, c.after))
                .collect();
            out += &format!(
                "| {} {} | `{}` | {} | {} | {} |\n",
                e.action.sign(),
                e.action.as_str(),
                e.name,
                e.file.as_deref().map(cell).unwrap_or_default(),
                cell(&changes.join("<br>")),
                cell(e.reason.as_deref().unwrap_or(""))
            );
        }
    }
    out += &format!(
        "\n{} unchanged. Observed from {}.\n",
        report.summary.unchanged, report.observed_from
    );
    out
}

/// What the daemon saw for a document of this name, when it names the same cluster; else what
/// it knows of the cluster from its other endpoints (a new document: its region and cloud are
/// checked, its network is not, until the daemon has looked).
fn observed_by_daemon(observation: &Observation, doc: &EndpointDocument) -> Observed {
    let cluster_id = doc.spec.tidb_cloud.cluster_id.as_str();
    let of_cluster = |s: &&Sighting| s.facts.cluster.as_ref().is_some_and(|c| c.id == cluster_id);
    if let Some(s) = observation
        .seen
        .get(doc.metadata.name.as_str())
        .filter(of_cluster)
    {
        return s.facts.observed(&s.seen, doc);
    }
    let mut o = Observed::default();
    // Any endpoint of the cluster says what it is; one of the same node group, its service.
    let mut sightings: Vec<&Sighting> = observation.seen.values().filter(of_cluster).collect();
    sightings.sort_by_key(|s| s.seen.node_group_id.clone());
    if let Some(s) = sightings.first() {
        o.cluster = s.facts.cluster.clone().map(Ok);
    }
    if let Some(group) = &doc.spec.tidb_cloud.node_group_id
        && let Some(s) = sightings
            .iter()
            .find(|s| s.seen.node_group_id.as_deref() == Some(group.as_str()))
    {
        o.node_group_id = Some(group.to_string());
        o.service = s.seen.service.clone();
    }
    o
}
