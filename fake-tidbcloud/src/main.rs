//! A fake TiDB Cloud Dedicated API (v1beta1) over a simulated world, for tests and demos.
//!
//! Prints the address it bound on its first stdout line, then serves until killed:
//!
//! ```text
//! privatelinkd-fake-tidbcloud --world world.yaml --listen 127.0.0.1:0 \
//!     --public-key PUB --private-key-file key.txt
//! curl --digest --user PUB:$(cat key.txt) http://ADDR/v1beta1/clusters/1379661944646413143
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use fake_tidbcloud::{Algorithm, Fake, Faults, Options};
use privatelinkd::cloud::sim::{SimCloud, World};
use privatelinkd::secret::Secret;

#[derive(Debug, Parser)]
#[command(name = "privatelinkd-fake-tidbcloud", version, about)]
struct Args {
    /// The simulated world (privatelinkd's world file format).
    #[arg(long)]
    world: PathBuf,
    /// Keep the world across restarts in this JSON file.
    #[arg(long)]
    state_file: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    #[arg(long)]
    public_key: String,
    /// File holding the private key (trailing whitespace ignored).
    #[arg(long)]
    private_key_file: PathBuf,
    /// Digest algorithm to challenge with.
    #[arg(long, value_enum, default_value_t = Algo::Sha256)]
    algorithm: Algo,
    #[arg(long, default_value_t = 100)]
    requests_per_minute: u64,
    /// Share of requests answered with HTTP 500.
    #[arg(long, default_value_t = 0.0)]
    server_error_rate: f64,
    /// Milliseconds added to every answer.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Every N requests, start a burst of 429s...
    #[arg(long)]
    throttle_every: Option<u64>,
    /// ...this many requests long.
    #[arg(long, default_value_t = 3)]
    throttle_burst: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Algo {
    Md5,
    #[value(name = "sha-256")]
    Sha256,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("privatelinkd-fake-tidbcloud: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let world = World::load(&args.world).map_err(|problems| {
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("invalid world file:\n{}", lines.join("\n"))
    })?;
    let key = std::fs::read_to_string(&args.private_key_file)
        .with_context(|| format!("cannot read {}", args.private_key_file.display()))?;
    let sim = SimCloud::new(world, args.state_file)?;
    let options = Options {
        public_key: args.public_key,
        private_key: Secret::new(key.trim_end()),
        algorithm: match args.algorithm {
            Algo::Md5 => Algorithm::Md5,
            Algo::Sha256 => Algorithm::Sha256,
        },
        requests_per_minute: args.requests_per_minute,
        window: Duration::from_secs(60),
        faults: Faults {
            server_error_rate: args.server_error_rate,
            latency: Duration::from_millis(args.latency_ms),
            throttle_every: args.throttle_every,
            throttle_burst: args.throttle_burst,
        },
    };
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
        Fake::new(sim, options).serve(listener).await?;
        Ok(())
    })
}
