//! Time as the core sees it: whatever the driver says it is.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use liaison_protocol::Timestamp;

/// A source of the current time. The driver uses the system clock; tests
/// use a [`ManualClock`] and move it forward instead of sleeping.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, in milliseconds since the Unix epoch.
    fn now(&self) -> Timestamp;
}

/// A clock that stands still until told to move.
#[derive(Clone, Debug, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock showing `at`.
    pub fn new(at: Timestamp) -> ManualClock {
        ManualClock(Arc::new(AtomicU64::new(at.0)))
    }

    /// Move forward by `ms` milliseconds.
    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    /// Show `at` from now on.
    pub fn set(&self, at: Timestamp) {
        self.0.store(at.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let c = ManualClock::new(Timestamp(1_000));
        assert_eq!(c.now(), Timestamp(1_000));
        let shared = c.clone();
        shared.advance(500);
        assert_eq!(c.now(), Timestamp(1_500));
        c.set(Timestamp(10));
        assert_eq!(shared.now(), Timestamp(10));
    }
}
