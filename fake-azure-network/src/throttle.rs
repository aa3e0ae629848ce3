//! Resource Manager's subscription throttling, as Microsoft documents it since its 2024 move to
//! regional throttling ("Understand how Azure Resource Manager throttles requests",
//! learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling):
//! a token bucket per subscription, per security principal and per operation type (reads,
//! writes, deletes), plus a global bucket per subscription and operation type of 15 times the
//! principal's, shared by all principals. A request takes one token from both; when either is
//! empty the answer is 429 with `Retry-After`. What is left is reported in
//! `x-ms-ratelimit-remaining-subscription-{reads,writes,deletes}` and
//! `x-ms-ratelimit-remaining-subscription-global-{reads,writes,deletes}`.
//!
//! The fake serves one region, so "per region" is one set of buckets.

use std::collections::HashMap;
use std::time::Instant;

/// One bucket: how many tokens it holds, and how many it gets back per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub size: f64,
    pub refill_per_sec: f64,
}

/// The documented defaults: reads 250 (25/s), writes 200 (10/s), deletes 200 (10/s), global
/// 15 times those.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimits {
    pub reads: Bucket,
    pub writes: Bucket,
    pub deletes: Bucket,
    pub global_multiplier: f64,
}

impl Default for RateLimits {
    fn default() -> RateLimits {
        RateLimits {
            reads: Bucket {
                size: 250.0,
                refill_per_sec: 25.0,
            },
            writes: Bucket {
                size: 200.0,
                refill_per_sec: 10.0,
            },
            deletes: Bucket {
                size: 200.0,
                refill_per_sec: 10.0,
            },
            global_multiplier: 15.0,
        }
    }
}

impl RateLimits {
    /// Buckets too big to empty in a test.
    pub fn unlimited() -> RateLimits {
        let huge = Bucket {
            size: 1e12,
            refill_per_sec: 1e12,
        };
        RateLimits {
            reads: huge,
            writes: huge,
            deletes: huge,
            global_multiplier: 1.0,
        }
    }

    fn bucket(&self, kind: Kind) -> Bucket {
        match kind {
            Kind::Read => self.reads,
            Kind::Write => self.writes,
            Kind::Delete => self.deletes,
        }
    }
}

/// The operation types Resource Manager counts separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Read,
    Write,
    Delete,
}

impl Kind {
    /// GET (and HEAD) read, DELETE deletes, anything else writes.
    pub fn of(method: &str) -> Kind {
        match method {
            "GET" | "HEAD" => Kind::Read,
            "DELETE" => Kind::Delete,
            _ => Kind::Write,
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            Kind::Read => "reads",
            Kind::Write => "writes",
            Kind::Delete => "deletes",
        }
    }

    /// The word in the throttling message ("Number of 'read' requests ...").
    pub fn singular(self) -> &'static str {
        match self {
            Kind::Read => "read",
            Kind::Write => "write",
            Kind::Delete => "delete",
        }
    }
}

/// What is left after a request: the principal's bucket and the subscription's global one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remaining {
    pub principal: u64,
    pub global: u64,
}

#[derive(Debug, Default)]
pub struct Buckets {
    /// (subscription, principal or None for the global bucket, kind) -> (tokens, as of).
    levels: HashMap<(String, Option<String>, Kind), (f64, Instant)>,
}

impl Buckets {
    /// Takes one token from the principal's and the global bucket, or answers how many whole
    /// seconds to wait until both have one (at least 1, as `Retry-After` is in seconds).
    pub fn take(
        &mut self,
        limits: &RateLimits,
        subscription: &str,
        principal: &str,
        kind: Kind,
        now: Instant,
    ) -> Result<Remaining, u64> {
        let own = limits.bucket(kind);
        let global = Bucket {
            size: own.size * limits.global_multiplier,
            refill_per_sec: own.refill_per_sec * limits.global_multiplier,
        };
        let sub = subscription.to_ascii_lowercase();
        let keys = [
            (sub.clone(), Some(principal.to_string()), kind, own),
            (sub, None, kind, global),
        ];
        let mut levels = [0.0; 2];
        for (i, (s, p, k, bucket)) in keys.iter().enumerate() {
            let entry = self
                .levels
                .entry((s.clone(), p.clone(), *k))
                .or_insert((bucket.size, now));
            let elapsed = now.saturating_duration_since(entry.1).as_secs_f64();
            entry.0 = (entry.0 + elapsed * bucket.refill_per_sec).min(bucket.size);
            entry.1 = now;
            levels[i] = entry.0;
        }
        let wait = keys
            .iter()
            .zip(levels)
            .filter(|(_, level)| *level < 1.0)
            .map(|((.., bucket), level)| (1.0 - level) / bucket.refill_per_sec.max(1e-9))
            .fold(None, |max: Option<f64>, w| {
                Some(max.map_or(w, |m| m.max(w)))
            });
        if let Some(wait) = wait {
            return Err((wait.ceil() as u64).max(1));
        }
        for (s, p, k, _) in &keys {
            if let Some(entry) = self.levels.get_mut(&(s.clone(), p.clone(), *k)) {
                entry.0 -= 1.0;
            }
        }
        Ok(Remaining {
            principal: (levels[0] - 1.0).floor() as u64,
            global: (levels[1] - 1.0).floor() as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn buckets_empty_refill_and_report_what_is_left() {
        let limits = RateLimits {
            reads: Bucket {
                size: 3.0,
                refill_per_sec: 2.0,
            },
            global_multiplier: 1.5,
            ..RateLimits::default()
        };
        let mut buckets = Buckets::default();
        let t0 = Instant::now();
        let take =
            |b: &mut Buckets, who: &str, at: Instant| b.take(&limits, "Sub", who, Kind::Read, at);
        assert_eq!(
            take(&mut buckets, "a", t0),
            Ok(Remaining {
                principal: 2,
                global: 3
            })
        );
        assert!(take(&mut buckets, "a", t0).is_ok());
        assert!(take(&mut buckets, "a", t0).is_ok());
        assert_eq!(
            take(&mut buckets, "a", t0),
            Err(1),
            "empty: wait 0.5 s, said as 1"
        );
        // Another principal has its own bucket but shares the global one (4.5 tokens).
        assert_eq!(take(&mut buckets, "b", t0).unwrap().global, 0);
        assert_eq!(
            take(&mut buckets, "b", t0),
            Err(1),
            "the global bucket is empty"
        );
        // Writes count apart.
        assert!(buckets.take(&limits, "sub", "a", Kind::Write, t0).is_ok());
        // Half a second gives a's bucket one token back, the global one 1.5.
        let later = t0 + Duration::from_millis(500);
        assert_eq!(
            take(&mut buckets, "a", later),
            Ok(Remaining {
                principal: 0,
                global: 1
            })
        );
    }

    #[test]
    fn methods_map_to_operation_types() {
        assert_eq!(Kind::of("GET"), Kind::Read);
        assert_eq!(Kind::of("PUT"), Kind::Write);
        assert_eq!(Kind::of("PATCH"), Kind::Write);
        assert_eq!(Kind::of("DELETE"), Kind::Delete);
        assert_eq!(Kind::Delete.plural(), "deletes");
    }
}
