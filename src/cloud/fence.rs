//! The fence a leader's mutating calls pass: its lease must be valid for a safety margin more,
//! on this process's monotonic clock. The elector (`crate::lease`) moves the deadline; the call
//! gate (`budget::Budgeted`) reads it before every mutating call, after waiting for its budget.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Shared between the elector and every clone of the call gate; cheap to clone.
#[derive(Debug, Clone)]
pub struct Fence {
    base: Instant,
    /// Nanoseconds after `base` until which mutating calls may start; 0: none may.
    open_until: Arc<AtomicU64>,
}

impl Default for Fence {
    fn default() -> Self {
        Fence {
            base: Instant::now(),
            open_until: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl Fence {
    /// Mutating calls may start until `deadline` (the lease's validity minus the margin).
    pub fn open_until(&self, deadline: Instant) {
        let nanos = deadline.saturating_duration_since(self.base).as_nanos();
        self.open_until
            .store(u64::try_from(nanos).unwrap_or(u64::MAX), Ordering::SeqCst);
    }

    /// No mutating call may start (the lease is lost, released, or never held).
    pub fn close(&self) {
        self.open_until.store(0, Ordering::SeqCst);
    }

    /// May a mutating call start now?
    pub fn is_open(&self) -> bool {
        let now = Instant::now().saturating_duration_since(self.base);
        let until = Duration::from_nanos(self.open_until.load(Ordering::SeqCst));
        now < until
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_until_opened_and_closed_again_after_its_deadline() {
        let fence = Fence::default();
        assert!(!fence.is_open());
        fence.open_until(Instant::now() + Duration::from_secs(60));
        assert!(fence.clone().is_open(), "clones share the deadline");
        fence.open_until(Instant::now() - Duration::from_millis(1));
        assert!(!fence.is_open());
        fence.open_until(Instant::now() + Duration::from_secs(60));
        fence.close();
        assert!(!fence.is_open());
    }
}
