//! A fake Azure Resource Manager (Microsoft.Network private endpoints) and token endpoints, for
//! tests and demos.
//!
//! Prints the address it bound on its first stdout line, then serves until killed:
//!
//! ```text
//! privatelinkd-fake-azure-network --world world.yaml --listen 127.0.0.1:0
//! curl -H 'Authorization: Bearer x' \
//!     'http://ADDR/subscriptions/SUB/providers/Microsoft.Network/privateEndpoints?api-version=2024-05-01'
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use fake_azure_network::{AuthMode, Bucket, Fake, Options, RateLimits, World};

#[derive(Debug, Parser)]
#[command(name = "privatelinkd-fake-azure-network", version, about)]
struct Args {
    /// The world: tenants and their apps, managed identities, subscriptions, resource groups,
    /// virtual networks, subnets, private endpoints made by hand, Private Link services (YAML
    /// or JSON). Empty when not given; the admin API can seed it later.
    #[arg(long)]
    world: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// How long a long-running operation stays InProgress.
    #[arg(long, default_value_t = 250)]
    operation_delay_ms: u64,
    /// The Retry-After (seconds) of long-running operations (Azure's: 10).
    #[arg(long, default_value_t = 1)]
    retry_after_secs: u64,
    /// Read bucket size per subscription and principal (Resource Manager: 250).
    #[arg(long, default_value_t = 250.0)]
    read_bucket: f64,
    /// Read tokens refilled per second (Resource Manager: 25).
    #[arg(long, default_value_t = 25.0)]
    read_refill_per_sec: f64,
    /// Write bucket size (Resource Manager: 200).
    #[arg(long, default_value_t = 200.0)]
    write_bucket: f64,
    /// Write tokens refilled per second (Resource Manager: 10).
    #[arg(long, default_value_t = 10.0)]
    write_refill_per_sec: f64,
    /// Delete bucket size (Resource Manager: 200).
    #[arg(long, default_value_t = 200.0)]
    delete_bucket: f64,
    /// Delete tokens refilled per second (Resource Manager: 10).
    #[arg(long, default_value_t = 10.0)]
    delete_refill_per_sec: f64,
    /// The subscription-wide (all principals) buckets are this many times a principal's
    /// (Resource Manager: 15).
    #[arg(long, default_value_t = 15.0)]
    global_multiplier: f64,
    /// No throttling at all.
    #[arg(long)]
    no_throttling: bool,
    /// Items per page of a list.
    #[arg(long, default_value_t = 100)]
    page_size: usize,
    /// Take only bearer tokens this fake's token endpoints issued (otherwise any).
    #[arg(long)]
    require_issued_tokens: bool,
    /// Lifetime of issued tokens, in seconds (Entra ID's: 3599).
    #[arg(long, default_value_t = 3599)]
    token_lifetime_secs: u64,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("privatelinkd-fake-azure-network: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn bucket(size: f64, refill_per_sec: f64, name: &str) -> anyhow::Result<Bucket> {
    if !(size >= 1.0 && refill_per_sec > 0.0) {
        anyhow::bail!("--{name}-bucket must be at least 1 and --{name}-refill-per-sec above 0");
    }
    Ok(Bucket {
        size,
        refill_per_sec,
    })
}

fn run(args: Args) -> anyhow::Result<()> {
    let world = match &args.world {
        Some(path) => World::load(path)?,
        None => World::default(),
    };
    let rate_limits = if args.no_throttling {
        RateLimits::unlimited()
    } else {
        RateLimits {
            reads: bucket(args.read_bucket, args.read_refill_per_sec, "read")?,
            writes: bucket(args.write_bucket, args.write_refill_per_sec, "write")?,
            deletes: bucket(args.delete_bucket, args.delete_refill_per_sec, "delete")?,
            global_multiplier: args.global_multiplier.max(1.0),
        }
    };
    let options = Options {
        operation_delay: Duration::from_millis(args.operation_delay_ms),
        retry_after_secs: args.retry_after_secs,
        rate_limits,
        page_size: args.page_size.max(1),
        auth: if args.require_issued_tokens {
            AuthMode::IssuedTokens
        } else {
            AuthMode::AnyBearer
        },
        token_lifetime: Duration::from_secs(args.token_lifetime_secs),
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
