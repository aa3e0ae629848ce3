//! The clouds for the daemon's real clients (`cloud: {tidbCloud: real, aws: real}`): the
//! strict moto_server with its request log, seeded with a network, and the fake TiDB Cloud
//! server in this process serving a world of that network with fast timings. The daemon
//! set-ups (one, or a group's members) are the tests' own.

use std::path::PathBuf;
use std::time::Duration;

use fake_tidbcloud::{Algorithm, Faults, Options};
use privatelinkd::cloud::ConnectionState;
use privatelinkd::secret::Secret;

use super::moto::{Moto, Network, Request, requests, seeded, world_for};
use super::{CLUSTER, Daemon, FakeTidb, Setup, wait_for};

const PUBLIC: &str = "PUBKEY01";
/// The TiDB Cloud private key the set-ups hold, which no log may show.
pub const PRIVATE: &str = "private-key-never-shown";

/// An endpoint's tags as moto lists them: (key, value).
pub type Tags = Vec<(String, String)>;

/// moto, the network seeded in it, the fake TiDB Cloud server, and the directory of moto's
/// request log; all stopped or removed when dropped.
pub struct Clouds {
    pub moto: Moto,
    pub net: Network,
    pub fake: FakeTidb,
    /// The world the fake serves, which every set-up is also given.
    world: String,
    /// Holds moto's request log.
    logs: tempfile::TempDir,
}

impl Clouds {
    pub fn start() -> Clouds {
        let logs = tempfile::tempdir().unwrap();
        let (moto, net) = seeded(Some(&logs.path().join("moto.log")));
        let world = world_for(
            &net,
            "{serviceCreate: 0s, accept: 1s, activate: 1s, privateDns: 1s, delete: 1s}",
            "timeScale: 10\n",
        );
        let fake = FakeTidb::start(
            &world,
            Options {
                public_key: PUBLIC.into(),
                private_key: Secret::new(PRIVATE),
                algorithm: Algorithm::Sha256,
                requests_per_minute: 6000,
                window: Duration::from_secs(60),
                faults: Faults::default(),
            },
        );
        Clouds {
            moto,
            net,
            fake,
            world,
            logs,
        }
    }

    /// The config lines that point the daemon's real clients at these clouds, then `extra`.
    pub fn config(&self, extra: &str) -> String {
        // (moto is not EC2: its creates need not wait for EC2's 0.3 per second.)
        format!(
            "cloud: {{tidbCloud: real, aws: real}}\naws: {{endpointUrl: \"{moto}\", rateLimits: {{mutatingPerSecond: 20, mutatingBurst: 40}}}}\ntidbCloud: {{apiUrl: \"{fake}\", publicKey: {PUBLIC}, privateKeyFile: ./key.txt}}\n{extra}",
            moto = self.moto.url,
            fake = self.fake.url()
        )
    }

    /// `leaderElection` lines for `config`: the lease in `table` of moto's DynamoDB, 3 s long,
    /// renewed every second.
    pub fn leader_election(&self, table: &str) -> String {
        format!(
            "leaderElection:\n  dynamodb: {{table: {table}, region: us-east-1, endpointUrl: \"{moto}\"}}\n  leaseDuration: 3s\n  renewEvery: 1s\n",
            moto = self.moto.url
        )
    }

    /// A daemon set-up on these clouds: `config(extra)`, the world, and the private key in
    /// `key.txt` (mode 600).
    pub fn setup(&self, extra: &str) -> Setup {
        let setup = Setup::new(&self.world, &self.config(extra));
        let key = setup.path("key.txt");
        std::fs::write(&key, format!("{PRIVATE}\n")).unwrap();
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        setup
    }

    /// An endpoint document `name` to the cluster, in the seeded VPC and one subnet, without
    /// private DNS (so several may share the VPC and the service).
    pub fn document(&self, name: &str) -> String {
        format!(
            "apiVersion: privatelinkd.io/v1\nkind: PrivateEndpoint\nmetadata: {{name: {name}}}\nspec:\n  tidbCloud: {{clusterId: \"{CLUSTER}\"}}\n  aws:\n    region: us-east-1\n    vpcId: {}\n    subnetIds: [{}]\n  privateDns: false\n",
            self.net.vpc, self.net.subnets[1].0
        )
    }

    pub fn moto_log(&self) -> PathBuf {
        self.logs.path().join("moto.log")
    }

    /// Every request moto served, in order (every client's: the daemons' and the test's).
    pub fn requests(&self) -> Vec<Request> {
        requests(&self.moto_log())
    }

    /// Every VPC endpoint moto has, in any state: (ID, state, tags).
    pub fn endpoints(&self) -> Vec<(String, String, Tags)> {
        super::runtime().block_on(async {
            let sdk = self.moto.sdk().await;
            let out = sdk.describe_vpc_endpoints().send().await.unwrap();
            out.vpc_endpoints()
                .iter()
                .map(|e| {
                    let tags = e
                        .tags()
                        .iter()
                        .map(|t| {
                            (
                                t.key().unwrap_or_default().to_string(),
                                t.value().unwrap_or_default().to_string(),
                            )
                        })
                        .collect();
                    (
                        e.vpc_endpoint_id().unwrap().to_string(),
                        e.state()
                            .map(|s| s.as_str().to_string())
                            .unwrap_or_default(),
                        tags,
                    )
                })
                .collect()
        })
    }

    /// The endpoints not deleted (or being deleted), tagged or not: (ID, tags).
    pub fn live_endpoints(&self) -> Vec<(String, Tags)> {
        self.endpoints()
            .into_iter()
            .filter(|(_, state, _)| !matches!(state.as_str(), "deleted" | "deleting"))
            .map(|(id, _, tags)| (id, tags))
            .collect()
    }

    /// Someone deletes VPC endpoint `id` in the console (behind the daemons' backs).
    pub fn delete_endpoint_by_hand(&self, id: &str) {
        super::runtime().block_on(async {
            let sdk = self.moto.sdk().await;
            sdk.delete_vpc_endpoints()
                .vpc_endpoint_ids(id)
                .send()
                .await
                .unwrap();
        });
    }

    /// TiDB Cloud's connections that are not being deleted: (connection ID, VPC endpoint ID),
    /// sorted.
    pub fn live_connections(&self) -> Vec<(String, String)> {
        let mut live: Vec<(String, String)> = self
            .fake
            .sim
            .all_connections()
            .into_iter()
            .filter(|c| c.state != ConnectionState::Deleting)
            .map(|c| (c.id, c.endpoint_id))
            .collect();
        live.sort();
        live
    }
}

/// The holder a daemon of a group competes as (from its log).
pub fn holder_of(d: &Daemon) -> String {
    let mut found = None;
    wait_for(
        "the daemon's holder identity",
        Duration::from_secs(30),
        || {
            found = d.log().lines().find_map(|l| {
                let (_, rest) = l.split_once("holder=")?;
                Some(rest.split_whitespace().next()?.to_string())
            });
            found.is_some()
        },
    );
    found.unwrap()
}
