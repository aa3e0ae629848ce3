//! Wiring: the provider clients the settings ask for, each behind its budget, each handed its
//! own part of the config.

use std::sync::Arc;

use crate::cloud::Rate;
use crate::cloud::any::{AnyArm, AnyEc2, AnyGcp, AnyTidb};
use crate::cloud::aws::{AwsClient, AwsConfig};
use crate::cloud::budget::{Budgeted, Rates};
use crate::cloud::fence::Fence;
use crate::cloud::sim::{SimCloud, World};
use crate::cloud::tidb::client::{TidbClient, TidbSettings};
use crate::metrics::Metrics;
use crate::settings::{Backend, Settings};

/// Why the daemon cannot start with these settings.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// `cloud: simulated` (for either provider) without a world file.
    #[error("cloud: simulated needs `simulated: {{world: FILE}}`")]
    NoWorld,
    /// The world file has problems (each with its place).
    #[error("invalid world file:\n{0}")]
    World(String),
    /// The simulated world's state file cannot be read.
    #[error("cannot read the simulated world's state file")]
    State(#[source] std::io::Error),
    /// The TiDB Cloud client cannot be set up (no key, bad URL).
    #[error("tidbCloud: {0}")]
    Tidb(String),
    /// The Azure client cannot be set up (credentials missing or unreadable, bad URL).
    #[error("azure: {0}")]
    Azure(String),
    /// `metrics.listen` cannot be bound.
    #[error("{0}")]
    Listen(String),
}

/// This daemon in its leader-election group: who it is (named in every request's User-Agent)
/// and the fence its mutating calls pass.
#[derive(Debug, Clone)]
pub struct Member {
    pub holder: String,
    pub fence: Fence,
}

/// The provider clients the settings ask for, each behind its budget.
pub struct Clouds {
    pub tidb: Budgeted<AnyTidb>,
    pub ec2: Budgeted<AnyEc2>,
    pub gcp: Budgeted<AnyGcp>,
    pub azure: Budgeted<AnyArm>,
}

/// The real Compute Engine client, when the settings have a `gcp:` section.
fn real_gcp(settings: &Settings) -> Result<AnyGcp, StartError> {
    use crate::cloud::gcp::{GcpConfig, GcpCredentials};
    use crate::settings::GcpCredentialsSettings as Given;
    let Some(gcp) = &settings.file.gcp else {
        return Ok(AnyGcp::Unconfigured);
    };
    let credentials = match &gcp.credentials {
        None => GcpCredentials::ApplicationDefault,
        Some(Given::ServiceAccountKeyFile(path)) => GcpCredentials::ServiceAccountKey(path.clone()),
        Some(Given::WorkloadIdentityFederation(path)) => {
            GcpCredentials::ExternalAccount(path.clone())
        }
        Some(Given::Anonymous) => GcpCredentials::Anonymous,
    };
    let config = GcpConfig {
        endpoint_url: gcp.endpoint_url.clone(),
        credentials,
    };
    Ok(AnyGcp::Real(std::sync::Arc::new(
        crate::cloud::any::LazyGcp::new(config),
    )))
}

/// The real Resource Manager client, when the settings have an `azure:` section.
fn real_arm(settings: &Settings, member: Option<&Member>) -> Result<AnyArm, StartError> {
    use crate::cloud::azure::{ArmClient, ArmConfig};
    let Some(azure) = &settings.file.azure else {
        return Ok(AnyArm::Unconfigured);
    };
    let config = ArmConfig {
        endpoint_url: azure.endpoint_url.clone(),
        authority_host: azure.authority_host.clone(),
        credentials: azure.credentials().map_err(StartError::Azure)?,
        caller: member.map(|m| m.holder.clone()),
    };
    let client = ArmClient::new(&config).map_err(|e| StartError::Azure(e.to_string()))?;
    Ok(AnyArm::Real(client))
}

/// Builds the clouds the settings ask for; every call reports to `observer`; a `member` of a
/// group calls under its name and behind its fence.
pub fn build_clouds(
    settings: &Settings,
    observer: Arc<Metrics>,
    member: Option<&Member>,
) -> Result<Clouds, StartError> {
    build_clouds_reusing(settings, observer, None, member)
}

/// Like `build_clouds`, with a simulated world already running (a reload keeps it).
pub fn build_clouds_reusing(
    settings: &Settings,
    observer: Arc<Metrics>,
    running: Option<SimCloud>,
    member: Option<&Member>,
) -> Result<Clouds, StartError> {
    let (tidb_backend, aws_backend, gcp_backend) = settings.backends();
    let azure_backend = settings.azure_backend();
    let all_real = [tidb_backend, aws_backend, gcp_backend, azure_backend] == [Backend::Real; 4];
    let sim = if all_real {
        None
    } else if let Some(sim) = running {
        Some(sim)
    } else {
        let sim = settings
            .file
            .simulated
            .as_ref()
            .ok_or(StartError::NoWorld)?;
        let world = World::load(&sim.world).map_err(|problems| {
            let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
            StartError::World(lines.join("\n"))
        })?;
        let cloud = SimCloud::new(world, sim.state_file.clone()).map_err(StartError::State)?;
        let cloud = match (tidb_backend, aws_backend) {
            (Backend::Real, _) => cloud.with_tidb_elsewhere(),
            (_, Backend::Real) => cloud.with_ec2_elsewhere(),
            _ => cloud,
        };
        let cloud = match (tidb_backend, gcp_backend) {
            (Backend::Simulated, Backend::Real) => cloud.with_gcp_elsewhere(),
            _ => cloud,
        };
        Some(match (tidb_backend, azure_backend) {
            (Backend::Simulated, Backend::Real) => cloud.with_azure_elsewhere(),
            _ => cloud,
        })
    };
    // The simulated providers meter their budgets on the simulated clock.
    let simulated_rates = |sim: &SimCloud| Rates::default().scaled(sim.time_scale());
    let tidb = match (tidb_backend, &sim) {
        (Backend::Simulated, Some(sim)) => {
            Budgeted::new(AnyTidb::Simulated(sim.clone()), simulated_rates(sim))
        }
        _ => {
            let t = &settings.file.tidb_cloud;
            let (public_key, private_key) = t.credentials().map_err(StartError::Tidb)?;
            let client = TidbClient::new(TidbSettings {
                api_url: t.api_url.clone(),
                public_key,
                private_key,
                timeout: t.timeout.0,
                caller: member.map(|m| m.holder.clone()),
            })
            .map_err(|e| StartError::Tidb(e.to_string()))?;
            let per_minute = f64::from(t.requests_per_minute.max(1));
            let rates = Rates {
                tidb: Rate {
                    per_second: per_minute / 60.0,
                    burst: t.requests_per_minute.max(1),
                },
                ..Rates::default()
            };
            Budgeted::new(AnyTidb::Real(client), rates)
        }
    };
    let ec2 = match (aws_backend, &sim) {
        (Backend::Simulated, Some(sim)) => {
            Budgeted::new(AnyEc2::Simulated(sim.clone()), simulated_rates(sim))
        }
        _ => {
            let aws = &settings.file.aws;
            let limits = &aws.rate_limits;
            let rates = Rates {
                ec2_mutating: Rate {
                    per_second: limits.mutating_per_second,
                    burst: limits.mutating_burst,
                },
                ec2_describe: Rate {
                    per_second: limits.describe_per_second,
                    burst: limits.describe_burst,
                },
                ..Rates::default()
            };
            let config = AwsConfig {
                app_name: member.map(|m| m.holder.clone()),
                ..aws.client_config()
            };
            Budgeted::new(AnyEc2::Real(AwsClient::new(config)), rates)
        }
    };
    let gcp = match (gcp_backend, &sim) {
        (Backend::Simulated, Some(sim)) => {
            Budgeted::new(AnyGcp::Simulated(sim.clone()), simulated_rates(sim))
        }
        _ => {
            let limits = settings
                .file
                .gcp
                .as_ref()
                .map(|g| g.rate_limits.clone())
                .unwrap_or_default();
            let rates = Rates {
                gcp: Rate {
                    per_second: limits.per_second,
                    burst: limits.burst,
                },
                ..Rates::default()
            };
            Budgeted::new(real_gcp(settings)?, rates)
        }
    };
    let azure = match (azure_backend, &sim) {
        (Backend::Simulated, Some(sim)) => {
            Budgeted::new(AnyArm::Simulated(sim.clone()), simulated_rates(sim))
        }
        _ => {
            let limits = settings
                .file
                .azure
                .as_ref()
                .map(|a| a.rate_limits.clone())
                .unwrap_or_default();
            let rates = Rates {
                arm_read: Rate {
                    per_second: limits.reads_per_second,
                    burst: limits.reads_burst,
                },
                arm_write: Rate {
                    per_second: limits.writes_per_second,
                    burst: limits.writes_burst,
                },
                ..Rates::default()
            };
            Budgeted::new(real_arm(settings, member)?, rates)
        }
    };
    let (mut tidb, mut ec2, mut gcp, mut azure) = (
        tidb.observed_by(observer.clone()),
        ec2.observed_by(observer.clone()),
        gcp.observed_by(observer.clone()),
        azure.observed_by(observer),
    );
    if let Some(m) = member {
        tidb = tidb.fenced_by(m.fence.clone());
        ec2 = ec2.fenced_by(m.fence.clone());
        gcp = gcp.fenced_by(m.fence.clone());
        azure = azure.fenced_by(m.fence.clone());
    }
    Ok(Clouds {
        tidb,
        ec2,
        gcp,
        azure,
    })
}
