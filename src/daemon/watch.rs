//! The file watcher: it says which endpoint files changed (debounced), so a pass reads only
//! those; `FilesChanged` wakes the loop.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::control::Event;
use crate::source;

/// What the watcher saw since the last pass took it.
#[derive(Debug, Default)]
pub struct Changes {
    /// Read the whole directory again (at start, after watcher errors or overflow).
    pub rescan: bool,
    /// Files and directories to read again.
    pub paths: BTreeSet<PathBuf>,
}

/// A running file watcher (dropping it stops watching).
pub type Watcher = notify_debouncer_full::Debouncer<
    notify::RecommendedWatcher,
    notify_debouncer_full::RecommendedCache,
>;

/// Starts the file watcher: endpoint file changes become `FilesChanged` events.
///
/// The returned debouncer must be kept alive; dropping it stops watching.
pub fn watch(
    dir: &Path,
    events: mpsc::Sender<Event>,
    changes: Arc<Mutex<Changes>>,
) -> notify::Result<Watcher> {
    use notify::RecursiveMode;
    let mut debouncer = notify_debouncer_full::new_debouncer(
        Duration::from_millis(300),
        None,
        move |result: notify_debouncer_full::DebounceEventResult| {
            let mut pending = changes.lock().unwrap_or_else(|e| e.into_inner());
            match result {
                Ok(batch) => {
                    // Our own status files and temp files are not changes to react to.
                    let mut relevant = false;
                    for event in &batch {
                        // The kernel's queue overflowed: what changed is unknown.
                        pending.rescan |= event.need_rescan();
                        // Opening and reading (ours included: a rescan opens every file)
                        // change nothing.
                        if event.kind.is_access() {
                            continue;
                        }
                        for path in &event.paths {
                            if source::is_spec_file(path) || is_directory_name(path) {
                                pending.paths.insert(path.clone());
                                relevant = true;
                            }
                        }
                    }
                    if !relevant && !pending.rescan {
                        return;
                    }
                }
                // The watcher erred: read everything again rather than trust it.
                Err(_) => pending.rescan = true,
            }
            drop(pending);
            // A wake-up only (the paths wait in `changes`): if the loop's queue is full, a
            // pass is due anyway, and nothing is lost.
            let _ = events.try_send(Event::FilesChanged);
        },
    )?;
    debouncer.watch(dir, RecursiveMode::Recursive)?;
    Ok(debouncer)
}

/// A directory appearing or vanishing may carry endpoint files with it; our own status and
/// temp files all have extensions or are hidden, so they never look like one.
fn is_directory_name(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    !name.starts_with('.') && path.extension().is_none()
}
