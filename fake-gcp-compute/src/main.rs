//! A fake Compute Engine v1 API, for tests and demos.
//!
//! Prints the address it bound on its first stdout line, then serves until killed:
//!
//! ```text
//! privatelinkd-fake-gcp-compute --world world.yaml --listen 127.0.0.1:0
//! curl -H 'Authorization: Bearer x' \
//!     http://ADDR/compute/v1/projects/my-project/global/networks/prod-vpc
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use fake_gcp_compute::{Fake, Options, QuotaErrors, RateLimits, Timing, World};

#[derive(Debug, Parser)]
#[command(name = "privatelinkd-fake-gcp-compute", version, about)]
struct Args {
    /// The world: projects, networks, subnetworks, firewall rules, service attachments
    /// (YAML or JSON). Empty when not given; the admin API can seed it later.
    #[arg(long)]
    world: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// How long an operation stays PENDING.
    #[arg(long, default_value_t = 50)]
    operation_pending_ms: u64,
    /// How long an operation stays RUNNING before it is DONE.
    #[arg(long, default_value_t = 200)]
    operation_running_ms: u64,
    /// operations.wait answers after at most this long (Google: about 2 minutes).
    #[arg(long, default_value_t = 120_000)]
    wait_bound_ms: u64,
    /// Per-project rate quota for get and list calls, per window.
    #[arg(long)]
    reads_per_window: Option<u32>,
    /// Per-project rate quota for insert, delete and setLabels calls, per window.
    #[arg(long)]
    writes_per_window: Option<u32>,
    /// Per-project rate quota for operation get and wait calls, per window.
    #[arg(long)]
    operation_reads_per_window: Option<u32>,
    /// The rate quotas' window (Google: one minute).
    #[arg(long, default_value_t = 60_000)]
    rate_window_ms: u64,
    /// HTTP status of a rate-quota error (Google documents 403 rateLimitExceeded).
    #[arg(long, default_value_t = 403)]
    rate_limit_status: u16,
    /// How resource quota errors are answered.
    #[arg(long, value_enum, default_value_t = Quota::InOperation)]
    quota_errors: Quota,
    /// Forwarding rules allowed per network where the world sets no limit.
    #[arg(long)]
    forwarding_rules_limit: Option<u32>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Quota {
    InOperation,
    Synchronous,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("privatelinkd-fake-gcp-compute: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    if ![403, 429].contains(&args.rate_limit_status) {
        anyhow::bail!("--rate-limit-status must be 403 or 429");
    }
    let world = match &args.world {
        Some(path) => World::load(path)?,
        None => World::default(),
    };
    let options = Options {
        timing: Timing {
            pending: Duration::from_millis(args.operation_pending_ms),
            running: Duration::from_millis(args.operation_running_ms),
        },
        wait_bound: Duration::from_millis(args.wait_bound_ms),
        rate_limits: RateLimits {
            reads: args.reads_per_window,
            writes: args.writes_per_window,
            operation_reads: args.operation_reads_per_window,
            window: Duration::from_millis(args.rate_window_ms.max(1)),
            status: args.rate_limit_status,
        },
        quota_errors: match args.quota_errors {
            Quota::InOperation => QuotaErrors::InOperation,
            Quota::Synchronous => QuotaErrors::Synchronous,
        },
        forwarding_rules_limit: args.forwarding_rules_limit,
    };
    let fake = Fake::new(&world, options)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let mut stdout = std::io::stdout();
        writeln!(stdout, "{}", listener.local_addr()?)?;
        stdout.flush()?;
        fake.serve(listener).await?;
        Ok(())
    })
}
