//! Status sidecar files: `dir/orders.yaml` -> `dir/orders.status.yaml` (or under `statusDir`).
//!
//! Written atomically (temp file, fsync, rename) and only when the content changes: nothing in
//! them changes per pass (no timestamps but the phase's transition time), so a converged
//! daemon writes nothing.

use rustc_hash::{FxHashMap, FxHashSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::cloud::gcp::PscStatus;
use crate::cloud::{ConnectionState, EndpointState, ServiceState};
use crate::plan::{ConditionStatus, ConditionType, Phase};

const HEADER: &str = "# Written by privatelinkd; edits are overwritten.\n";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusFile {
    pub file: String,
    /// Written by a standby of a leader-election group: `standby (leader: HOLDER)`; the
    /// endpoints are the leader's to show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standby: Option<String>,
    #[serde(default)]
    pub errors: Vec<String>,
    #[serde(default)]
    pub endpoints: Vec<EndpointStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointStatus {
    pub name: String,
    pub phase: Phase,
    pub message: String,
    pub observed_generation: String,
    pub last_transition_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_endpoint: Option<VpcEndpointStatus>,
    /// Google Cloud: the Private Service Connect endpoint (forwarding rule and address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psc_endpoint: Option<PscEndpointStatus>,
    /// Azure: the private endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_endpoint: Option<PrivateEndpointStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<ConnectionStatus>,
    /// The endpoint's document is gone: the endpoint is leaving management (or held back by
    /// the mass-deletion guard).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub removed: bool,
    /// The document adopts the endpoint it shows (`endpointId`; `endpointName` with `adopt`):
    /// made elsewhere (by hand, by Terraform), managed here.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopted: bool,
    /// What the phase does not say (Kubernetes-style): ClusterAvailable, PortAllowed,
    /// PrivateDnsReady, and Reachable when the daemon probes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ConditionEntry>,
}

/// One condition in a status file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionEntry {
    #[serde(rename = "type")]
    pub kind: ConditionType,
    pub status: ConditionStatus,
    pub reason: String,
    pub message: String,
    /// When `status` last changed.
    pub last_transition_time: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    pub state: ServiceState,
    pub name: String,
    pub dns_name: String,
    pub available_zones: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VpcEndpointStatus {
    pub id: String,
    pub state: EndpointState,
    pub private_dns_enabled: bool,
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
}

/// A Private Service Connect endpoint as its status file shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PscEndpointStatus {
    /// The forwarding rule's name (TiDB Cloud's `endpointId`).
    pub name: String,
    pub project: String,
    pub region: String,
    /// Absent until the forwarding rule exists (the address is reserved first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psc_connection_status: Option<PscStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnetwork: Option<String>,
}

/// An Azure private endpoint as its status file shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivateEndpointStatus {
    /// Its resource ID (TiDB Cloud's `endpointId`).
    pub id: String,
    pub name: String,
    pub location: String,
    pub provisioning_state: crate::cloud::azure::ProvisioningState,
    /// The manual connection's status: TiDB Cloud's side.
    pub link_status: crate::cloud::azure::LinkStatus,
    pub subnet_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_ip: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionStatus {
    pub id: String,
    pub state: ConnectionState,
    pub host: String,
    pub port: u16,
}

/// Where the status file of an endpoint file goes.
pub fn status_path(spec_file: &Path, status_dir: Option<&Path>) -> PathBuf {
    let name = spec_file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let stem = name.trim_end_matches(".yaml").trim_end_matches(".yml");
    let dir = status_dir.or(spec_file.parent()).unwrap_or(Path::new("."));
    dir.join(format!("{stem}.status.yaml"))
}

/// Writes status files, remembering what is on disk so unchanged ones are not rewritten.
#[derive(Debug, Default)]
pub struct StatusWriter {
    /// A hash of each file's content as written: kept instead of the content, which at
    /// 10,000 endpoints would be another 10 MB.
    written: FxHashMap<PathBuf, u64>,
    /// Files written since start (tests and benchmarks count them).
    pub writes: u64,
}

impl StatusWriter {
    /// Reads existing status files back, so a restarted daemon keeps transition times and
    /// does not rewrite files whose content it would not change.
    pub fn read(path: &Path) -> Option<StatusFile> {
        let text = fs::read_to_string(path).ok()?;
        serde_saphyr::from_str(&text).ok()
    }

    /// Writes `status` to `path` unless it already holds exactly that.
    pub fn write(&mut self, path: &Path, status: &StatusFile) -> std::io::Result<bool> {
        let body = serde_saphyr::to_string(status).map_err(std::io::Error::other)?;
        let content = format!("{HEADER}{body}");
        let hash = crate::stable::fnv(&content);
        if self.written.get(path) == Some(&hash) {
            return Ok(false);
        }
        if fs::read_to_string(path).is_ok_and(|on_disk| on_disk == content) {
            self.written.insert(path.to_path_buf(), hash);
            return Ok(false);
        }
        write_atomically(path, content.as_bytes())?;
        self.written.insert(path.to_path_buf(), hash);
        self.writes += 1;
        Ok(true)
    }

    /// Removes status files this writer wrote that are no longer wanted.
    pub fn retain(&mut self, keep: &FxHashSet<PathBuf>) {
        let gone: Vec<PathBuf> = self
            .written
            .keys()
            .filter(|p| !keep.contains(*p))
            .cloned()
            .collect();
        for path in gone {
            let _ = fs::remove_file(&path);
            self.written.remove(&path);
        }
    }

    /// Removes a status file found on disk whose endpoint file is gone.
    pub fn remove(&mut self, path: &Path) {
        if fs::remove_file(path).is_ok() {
            self.written.remove(path);
        }
    }
}

/// Removes status files under `dir` that privatelinkd wrote (they start with its header) and
/// that no endpoint file claims any more: their endpoint file went away while we were down.
pub fn sweep(dir: &Path, recursive: bool, keep: &FxHashSet<PathBuf>) {
    for path in ours(dir, recursive) {
        if !keep.contains(&path) {
            let _ = fs::remove_file(&path);
        }
    }
}

/// The status files under `dir` that privatelinkd wrote (they start with its header), in
/// path order. Hidden entries and symlinks are not followed.
pub fn ours(dir: &Path, recursive: bool) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        if kind.is_dir() {
            if recursive {
                found.extend(ours(&path, recursive));
            }
        } else if kind.is_file() && name.ends_with(".status.yaml") && starts_with_header(&path) {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// Reads only as much of a file as the header needs.
fn starts_with_header(path: &Path) -> bool {
    use std::io::Read;
    let mut start = vec![0u8; HEADER.len()];
    fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut start))
        .is_ok_and(|()| start == HEADER.as_bytes())
}

/// Temp file in the same directory, fsync, rename: readers see the old or the new file.
pub fn write_atomically(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    // statusDir (and its sub-directories) may not exist yet.
    fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("status");
    // Hidden and not `*.yaml`: the watcher ignores it.
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut file = fs::File::create(&tmp)?;
    file.write_all(content)?;
    file.sync_all()?;
    fs::rename(&tmp, path)
}

/// Now, as RFC 3339 in UTC to the second.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}
