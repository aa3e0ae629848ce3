//! Signals: SIGHUP reloads, SIGTERM and SIGINT stop.

use tokio::sync::mpsc;

use crate::control::Event;

/// Forwards SIGHUP, SIGTERM and SIGINT to the loop (signal-hook's iterator on its own thread).
pub fn forward_signals(events: mpsc::Sender<Event>) -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGHUP, SIGINT, SIGTERM])?;
    std::thread::spawn(move || {
        for signal in signals.forever() {
            let event = if signal == SIGHUP {
                Event::Reload
            } else {
                Event::Stop
            };
            if events.blocking_send(event).is_err() {
                break;
            }
        }
    });
    Ok(())
}
