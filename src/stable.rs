//! Deterministic helpers: the same output on every run and every Rust version.
//!
//! Hashes that end up in tags, ClientTokens and status files must not change when the
//! toolchain does (std's hasher may); pseudo-random numbers in fault injection and jitter are
//! seeded so that a campaign can be replayed.

/// FNV-1a over the bytes of `text`.
pub fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// xorshift64: tiny, seedable, good enough for faults and jitter (not for secrets).
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from `seed` (zero, which would stay zero forever, is replaced).
    pub fn new(seed: u64) -> XorShift {
        XorShift(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}
