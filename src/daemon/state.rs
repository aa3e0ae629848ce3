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

const OWNER_FILE: &str = "owner-id";

/// The ownerId a state directory belongs to: a daemon started with another one would leave
/// the first one's endpoints behind and create new ones, so it is refused, unless the user
/// hands them over explicitly (`--reown-from OLD`). Remembers `owner` once accepted.
pub fn claim_owner(dir: &Path, owner: &str, reown_from: Option<&str>) -> Result<(), String> {
    let path = dir.join(OWNER_FILE);
    let remembered = std::fs::read_to_string(&path)
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    match remembered.as_deref() {
        Some(old) if old != owner && reown_from != Some(old) => {
            return Err(format!(
                "the stateDir {} belongs to ownerId `{old}`, but the config says `{owner}`. \
                 ownerId is the identity of the endpoints this daemon owns: with another one it \
                 would create new endpoints and leave `{old}`'s behind. Put `{old}` back, or hand \
                 its endpoints over once with `privatelinkd run --config FILE --reown-from {old}`",
                dir.display()
            ));
        }
        Some(old) if old == owner => return Ok(()),
        _ => {}
    }
    std::fs::create_dir_all(dir)
        .and_then(|()| status::write_atomically(&path, format!("{owner}\n").as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The ledger this daemon keeps: beside the lease in DynamoDB in a group (`store`, with this
/// daemon's lease identity), else `stateDir/ledger.sqlite`, else (no stateDir) in memory only.
pub async fn open_ledger(
    settings: &crate::settings::Settings,
    store: Option<(crate::lease::StoreConfig, String)>,
) -> Result<crate::ledger::Ledger, String> {
    use crate::ledger::{Backend, Health, Ledger, dynamo::Dynamo, local};
    if let Some((config, holder)) = store {
        let dynamo = Dynamo::connect(&config, &settings.file.owner_id, &holder).await;
        // Read when this daemon becomes leader (the engine reads it again then).
        return Ok(Ledger::with(
            Backend::Dynamo(dynamo),
            Default::default(),
            Health::Loaded,
        ));
    }
    match &settings.file.state_dir {
        Some(dir) => local::open(dir).map_err(|e| e.to_string()),
        None => {
            warn!(
                "no stateDir: the ledger is kept in memory only, so an endpoint whose tags are removed while privatelinkd is down is not known to be ours after a restart"
            );
            Ok(Ledger::in_memory())
        }
    }
}

/// The ledger as the daemon keeps it, read only and held in memory: `plan` sees through it
/// what the daemon sees (an endpoint whose tags were removed by hand is still ours). Missing or
/// unreadable, `plan` goes by the tags alone and says so.
pub async fn read_ledger(
    settings: &crate::settings::Settings,
    store: Option<crate::lease::StoreConfig>,
) -> crate::ledger::Ledger {
    use crate::ledger::{Backend, Health, Ledger, dynamo::Dynamo, local};
    let entries = match (store, &settings.file.state_dir) {
        (Some(config), _) => Dynamo::connect(&config, &settings.file.owner_id, "")
            .await
            .load()
            .await
            .map_err(|e| e.to_string()),
        (None, Some(dir)) if dir.join(local::FILE).exists() => {
            local::read_only(dir).map_err(|e| e.to_string())
        }
        (None, _) => Ok(Default::default()),
    };
    match entries {
        Ok(entries) => Ledger::with(Backend::Memory, entries, Health::Loaded),
        Err(why) => {
            warn!("cannot read the ledger ({why}): planning by the owner tags alone");
            Ledger::in_memory()
        }
    }
}
