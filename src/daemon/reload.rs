//! SIGHUP: every setting that can change at run time is applied (clients rebuilt with new
//! credentials and accounts, the watcher re-pointed, the listener rebound); a change that
//! cannot be applied refuses the whole reload, with a log line naming the setting, and the
//! daemon goes on with the old config.

use tracing::{error, info, warn};

use super::{Daemon, build_clouds_reusing, prober};
use crate::settings::Settings;
use crate::source::Tree;

impl Daemon {
    /// Re-reads the config file and applies it, or keeps the old one.
    pub(super) async fn reload(&mut self) {
        self.notifier.reloading();
        match self.apply(Settings::load(&self.settings.path)).await {
            Ok(()) => info!("configuration reloaded"),
            Err(why) => warn!("{why}; keeping the old one"),
        }
        self.notifier.ready("configuration reloaded");
    }

    async fn apply(
        &mut self,
        new: Result<Settings, Vec<crate::diag::Diagnostic>>,
    ) -> Result<(), String> {
        let new = new.map_err(|problems| {
            for p in problems {
                error!("{p}");
            }
            "the new configuration is invalid".to_string()
        })?;
        let (old, file) = (&self.settings.file, &new.file);
        // Identity: what this daemon owns, and where it keeps what it remembers.
        if file.owner_id != old.owner_id {
            return Err(format!(
                "ownerId cannot change at run time ({} -> {}): it is the identity of the endpoints \
                 this daemon owns (see `run --reown-from` in the README)",
                old.owner_id, file.owner_id
            ));
        }
        if file.state_dir != old.state_dir {
            return Err("stateDir cannot change at run time: restart the daemon".into());
        }
        // Everything that can fail comes first, so a refused reload changes nothing.
        // The simulated world is kept when it is the same one (its state lives in memory).
        let same_world = file.simulated == old.simulated && file.cloud == old.cloud;
        let reuse = if same_world { self.simulated() } else { None };
        if file.leader_election != old.leader_election {
            return Err("leaderElection cannot change at run time: restart the daemon".into());
        }
        let clouds = build_clouds_reusing(&new, self.metrics.clone(), reuse, self.member.as_ref())
            .map_err(|e| format!("cannot build the clients of the new configuration: {e}"))?;
        let server = if file.metrics.listen != old.metrics.listen {
            Some(self.bind(&file.metrics.listen).await?)
        } else {
            None
        };
        let moved = file.endpoints_dir != old.endpoints_dir;
        // Then everything at once.
        let tidb_rate = clouds.tidb.rates().tidb.per_second;
        self.engine.set_clients(clouds.tidb, clouds.ec2, clouds.gcp);
        // After set_clients, which starts the engine with no Azure.
        self.engine.set_azure(clouds.azure);
        self.engine.set_tidb_pace(file.full_resync.0, tidb_rate);
        self.engine.set_apply_window(file.settle_interval.0);
        self.engine.set_prober(prober(&new));
        if let Ok(mut r) = self.readiness.lock() {
            r.interval = new.interval();
        }
        self.metrics.set_interval(new.interval());
        self.metrics
            .set_endpoint_detail(new.file.metrics.endpoint_detail);
        if let Some(server) = server
            && let Some(old) = self.server.replace(server)
        {
            old.stop_gracefully().await;
        }
        self.settings = new;
        if moved {
            self.tree = Tree::new(self.settings.file.endpoints_dir.clone());
            self.last_rescan = None;
            self.watch_endpoints();
        }
        Ok(())
    }
}
