//! The one store the engine keeps what it saw in: an entry per typed key, each with the instant
//! it expires at on tokio's clock, and the lifetimes (exact, or jittered) worked out here only.
//!
//! Every cache of the engine is a `Store`: clusters and services (`lookups.rs`); the VPC facts
//! and security groups of each account and region (`network.rs`, read by `firewall.rs` too,
//! so a group is one entry with one lifetime); the due times of the TiDB Cloud listings
//! (`connections.rs`). An entry is fresh while `now < expires_at` ([`holds`]); a stale one can
//! still be read ([`Store::get`]) by whoever prefers an old answer to none.
//!
//! Why our own and not a cache crate: the engine's tests (and `benches/`) run it on tokio's
//! paused clock, so expiry must read `tokio::time::Instant`. moka and mini-moka read their own
//! clock (`std::time::Instant` or quanta), mockable only inside their own tests; `cached`'s
//! timed stores read `std::time::Instant` (its `ExpiringValueCache` would let a value carry a
//! tokio instant, but brings a size bound, hit counters and a trait for each value type, and
//! has no stale read nor a jittered insert). What is needed is a map, an instant per entry and
//! the jitter: the size of this file.

use std::borrow::Borrow;
use std::fmt;
use std::hash::Hash;
use std::time::Duration;

use rustc_hash::FxHashMap;
// tokio's clock, so that tests can run the engine on virtual time.
use tokio::time::Instant;

use crate::stable::XorShift;

/// The seed of every store's jitter: runs replay, and the lookups keep the spread they had.
const SEED: u64 = 0x5851_f42d_4c95_7f2d;

/// A lifetime longer than any process (a `fullResync` of years), instead of an overflow.
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Whether something that holds until `expires_at` still holds: the one expiry rule.
pub fn holds(expires_at: Instant) -> bool {
    Instant::now() < expires_at
}

/// The instant `ttl` from now (saturating at `FOREVER`).
pub fn later(ttl: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(ttl).unwrap_or(now + FOREVER)
}

/// How long an entry stays fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// Exactly this long: what one batch described comes due at once, and is described in one
    /// batch again (jitter would split the batch into a call per entry).
    Exactly(Duration),
    /// This long give or take a fifth: what is looked up one by one in the same pass comes due
    /// in different passes, so that refreshes spread out instead of all falling in one.
    About(Duration),
}

/// One value and the instant it stops being fresh.
#[derive(Debug, Clone)]
pub struct Entry<V> {
    pub value: V,
    pub expires_at: Instant,
}

/// Values by key, each fresh until its own instant.
#[derive(Debug, Clone)]
pub struct Store<K, V> {
    entries: FxHashMap<K, Entry<V>>,
    /// Draws `Lifetime::About`'s spread: seeded, so a run can be replayed.
    jitter: XorShift,
    /// Counts the changes of any value: what is built from the store is rebuilt when it moved.
    version: u64,
}

impl<K, V> Default for Store<K, V> {
    fn default() -> Self {
        Store {
            entries: FxHashMap::default(),
            jitter: XorShift::new(SEED),
            version: 0,
        }
    }
}

impl<K: Eq + Hash, V> Store<K, V> {
    /// The value of `key` while it is fresh.
    pub fn fresh<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries
            .get(key)
            .filter(|e| holds(e.expires_at))
            .map(|e| &e.value)
    }

    pub fn is_fresh<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.fresh(key).is_some()
    }

    /// The value of `key`, fresh or stale.
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries.get(key).map(|e| &e.value)
    }

    /// Stores `value` for `life` from now, replacing what `key` had.
    pub fn insert(&mut self, key: K, value: V, life: Lifetime) {
        let ttl = match life {
            Lifetime::Exactly(ttl) => ttl,
            Lifetime::About(ttl) => ttl.mul_f64(0.8 + 0.4 * self.jitter.next_f64()),
        };
        let expires_at = later(ttl);
        self.entries.insert(key, Entry { value, expires_at });
        self.version += 1;
    }

    /// Forgets `key` (what it said is known to be wrong now).
    pub fn forget<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let gone = self.entries.remove(key)?;
        self.version += 1;
        Some(gone.value)
    }

    /// Forgets every entry `wrong` says is.
    pub fn forget_where(&mut self, mut wrong: impl FnMut(&K, &V) -> bool) {
        let before = self.entries.len();
        self.entries.retain(|k, e| !wrong(k, &e.value));
        if self.entries.len() != before {
            self.version += 1;
        }
    }

    /// Every entry stale at once (new clients: what they see is asked again); the values stay
    /// for stale reads.
    pub fn expire_all(&mut self) {
        let now = Instant::now();
        for e in self.entries.values_mut() {
            e.expires_at = e.expires_at.min(now);
        }
    }

    /// Entries stored for `from` are kept for `to` instead, counted from when they were
    /// stored: for a lifetime that is a setting, which a reload may change. (For a store whose
    /// entries all were stored for `from`; one that `expire_all` cut short would be counted
    /// from an earlier instant.)
    pub fn retime(&mut self, from: Duration, to: Duration) {
        for e in self.entries.values_mut() {
            // Stored at `expires_at - from`, which was an instant, so the subtraction holds.
            let stored = e.expires_at.checked_sub(from).unwrap_or(e.expires_at);
            e.expires_at = stored.checked_add(to).unwrap_or(stored + FOREVER);
        }
    }

    /// Changes when a value is stored or forgotten (not when one goes stale: it is the same).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Every key and value, fresh or stale.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, e)| (k, &e.value))
    }
}

/// Defines a key: an identifier as a cloud answer or a document wrote it, typed so that one
/// kind cannot stand for another (a VPC ID is not a subnet ID). Each borrows as `str`, as a
/// `String` key does, so that a lookup with the ID an observed object holds (the cloud's types
/// carry plain strings) allocates nothing: those lookups run per endpoint, every pass.
macro_rules! key {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                $name(id.to_string())
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                $name(id)
            }
        }

        impl From<$name> for String {
            fn from(key: $name) -> String {
                key.0
            }
        }

        // Derived `Hash`, `Eq` and `Ord` are the inner string's: what `Borrow` asks.
        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

key!(
    /// A TiDB Cloud project.
    ProjectKey
);
key!(
    /// A TiDB node group (a document's, or the default one TiDB Cloud names).
    NodeGroupKey
);
key!(
    /// A VPC.
    VpcKey
);
key!(
    /// A subnet.
    SubnetKey
);
key!(
    /// A security group.
    GroupKey
);
key!(
    /// A VPC endpoint.
    EndpointKey
);

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[tokio::test(start_paused = true)]
    async fn an_entry_is_fresh_until_it_expires_and_then_read_only_as_stale() {
        let mut store: Store<VpcKey, u32> = Store::default();
        store.insert(VpcKey::from("vpc-1"), 1, Lifetime::Exactly(MINUTE));
        tokio::time::advance(MINUTE - Duration::from_millis(1)).await;
        assert_eq!(store.fresh("vpc-1"), Some(&1));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(store.fresh("vpc-1"), None);
        assert_eq!(store.get("vpc-1"), Some(&1));
    }

    #[tokio::test(start_paused = true)]
    async fn about_spreads_lifetimes_over_a_fifth_either_side() {
        let mut store: Store<GroupKey, ()> = Store::default();
        for i in 0..100 {
            store.insert(
                GroupKey::from(format!("sg-{i}")),
                (),
                Lifetime::About(MINUTE * 5),
            );
        }
        let now = Instant::now();
        let lives: Vec<Duration> = store.entries.values().map(|e| e.expires_at - now).collect();
        assert!(
            lives.iter().all(|l| *l >= MINUTE * 4 && *l < MINUTE * 6),
            "{lives:?}"
        );
        let (short, long) = (lives.iter().min(), lives.iter().max());
        assert!(
            long.unwrap().saturating_sub(*short.unwrap()) > MINUTE,
            "{lives:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn expired_all_entries_are_stale_but_readable_and_forgotten_ones_gone() {
        let mut store: Store<SubnetKey, u32> = Store::default();
        store.insert(SubnetKey::from("subnet-1"), 1, Lifetime::Exactly(MINUTE));
        store.insert(SubnetKey::from("subnet-2"), 2, Lifetime::About(MINUTE));
        store.expire_all();
        assert!(!store.is_fresh("subnet-1") && !store.is_fresh("subnet-2"));
        assert_eq!(store.get("subnet-2"), Some(&2));
        let version = store.version();
        store.forget("subnet-1");
        store.forget_where(|_, v| *v == 2);
        assert_eq!(store.iter().count(), 0);
        assert_eq!(store.version(), version + 2);
    }

    #[tokio::test(start_paused = true)]
    async fn retimed_entries_count_their_new_lifetime_from_when_they_were_stored() {
        let mut store: Store<ProjectKey, ()> = Store::default();
        store.insert(ProjectKey::from("1"), (), Lifetime::Exactly(MINUTE * 10));
        tokio::time::advance(MINUTE * 2).await;
        store.retime(MINUTE * 10, MINUTE * 3);
        assert!(store.is_fresh("1"));
        tokio::time::advance(MINUTE).await;
        assert!(!store.is_fresh("1"));
        store.retime(MINUTE * 3, Duration::ZERO);
        assert!(!store.is_fresh("1"));
        store.retime(Duration::ZERO, Duration::MAX);
        assert!(store.is_fresh("1"));
    }
}
