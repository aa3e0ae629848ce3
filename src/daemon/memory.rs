//! Giving memory back after a large pass.
//!
//! glibc keeps freed heap pages for reuse. After a pass that built thousands of statuses (the
//! first pass over 10,000 endpoints, or bulk convergence), that is 100+ MB the steady state
//! never needs again, held for the life of the process. `malloc_trim` returns the free pages;
//! it walks the heap, so it runs only after large passes.

/// A pass that wrote at least this many status files was a large one.
pub(super) const TRIM_AFTER_WRITES: u64 = 100;

pub(super) fn release_free() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only reorganises the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}
