//! The file watcher: endpoint file changes become `FilesChanged` events (debounced).

use std::path::Path;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::control::Event;
use crate::source;

/// A running file watcher (dropping it stops watching).
pub type Watcher = notify_debouncer_full::Debouncer<
    notify::RecommendedWatcher,
    notify_debouncer_full::RecommendedCache,
>;

/// Starts the file watcher: endpoint file changes become `FilesChanged` events.
///
/// The returned debouncer must be kept alive; dropping it stops watching.
pub fn watch(dir: &Path, events: mpsc::Sender<Event>) -> notify::Result<Watcher> {
    use notify::RecursiveMode;
    let mut debouncer = notify_debouncer_full::new_debouncer(
        Duration::from_millis(300),
        None,
        move |result: notify_debouncer_full::DebounceEventResult| {
            let Ok(batch) = result else { return };
            // Our own status files and temp files are not changes to react to.
            let relevant = batch
                .iter()
                .flat_map(|e| e.paths.iter())
                .any(|p| source::is_spec_file(p) || is_directory_name(p));
            if relevant {
                let _ = events.try_send(Event::FilesChanged);
            }
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
