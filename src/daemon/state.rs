//! What the daemon remembers across restarts, in its state directory.

use std::collections::BTreeSet;
use std::path::Path;

use tracing::{error, warn};

use crate::cloud::Scope;
use crate::status;

const SCOPES_FILE: &str = "scopes.json";

/// The accounts and regions remembered in the state directory.
pub fn load_scopes(dir: &Path) -> Vec<Scope> {
    let path = dir.join(SCOPES_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            warn!("ignoring {}: {e}", path.display());
            Vec::new()
        }),
        Err(_) => Vec::new(),
    }
}

pub fn save_scopes(dir: &Path, scopes: &BTreeSet<Scope>) {
    let json = serde_json::to_vec_pretty(scopes).expect("scopes serialize");
    if let Err(e) = std::fs::create_dir_all(dir)
        .and_then(|()| status::write_atomically(&dir.join(SCOPES_FILE), &json))
    {
        error!("cannot save {} in {}: {e}", SCOPES_FILE, dir.display());
    }
}
