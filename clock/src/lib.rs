//! `liaison-clock`: the wall clock of every Liaison process.
//!
//! The relay and the tools read the time only through [`now`] (milliseconds
//! since the Unix epoch, as a [`Timestamp`]); the logic below them takes the
//! time as an argument. That makes this crate the one place where time can
//! be controlled across processes in integration tests.
//!
//! Test hooks: built with the cargo feature `test-hooks` (off by default,
//! never enabled by a release build), [`now`] adds a signed offset in
//! milliseconds, read once per process from the environment variable
//! [`OFFSET_ENV`] (`LIAISON_TEST_CLOCK_OFFSET_MS`, for example `-90000` or
//! `2592000000`). A test starts a relay, an agent or a CLI command "in the
//! future" (or with a skewed clock) instead of sleeping until then. (Code
//! running inside a test process takes the time as an argument or an
//! injected clock instead: one offset per process could not tell its tests
//! apart.)
//! Without the feature the variable is never read and [`now`] is the system
//! clock: [`TEST_HOOKS`] tells which build this is.
//!
//! Non-features: no monotonic time (timeouts and rate limits use
//! [`std::time::Instant`] and are driven by their own injected instants),
//! no time zones, no leap seconds beyond what the system clock does.

use std::time::{SystemTime, UNIX_EPOCH};

pub use liaison_protocol::Timestamp;

pub use test_hooks::OFFSET_ENV;

/// Whether this build has the test hooks (the feature `test-hooks`).
pub const TEST_HOOKS: bool = cfg!(feature = "test-hooks");

/// Now, in milliseconds since the Unix epoch (0 if the system clock is
/// before it). With the `test-hooks` feature, shifted by the test offset.
pub fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    #[cfg(feature = "test-hooks")]
    let ms = test_hooks::shift(ms);
    Timestamp(ms)
}

/// The test clock offset: the name of its variable always, the offset
/// itself only with the feature `test-hooks`.
pub mod test_hooks {
    /// The environment variable holding the test clock offset in
    /// milliseconds (signed). Read only by builds with the `test-hooks`
    /// feature.
    pub const OFFSET_ENV: &str = "LIAISON_TEST_CLOCK_OFFSET_MS";

    /// The offset in force, in milliseconds (0 when the variable is unset):
    /// read from the environment at the first call, then one atomic load
    /// per call (no lock, no allocation).
    ///
    /// Panics if the variable is set but is not a whole number: a test set
    /// it, and failing loudly beats a test that silently runs at the wrong
    /// time.
    #[cfg(feature = "test-hooks")]
    pub fn offset_ms() -> i64 {
        static OFFSET_MS: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
        *OFFSET_MS.get_or_init(|| match std::env::var_os(OFFSET_ENV) {
            None => 0,
            Some(value) => value
                .to_str()
                .and_then(|v| v.trim().parse::<i64>().ok())
                .unwrap_or_else(|| {
                    panic!(
                        "{OFFSET_ENV}={value:?} is not a whole number of milliseconds \
                         (for example -90000 or 2592000000)"
                    )
                }),
        })
    }

    #[cfg(feature = "test-hooks")]
    pub(crate) fn shift(ms: u64) -> u64 {
        let offset = offset_ms();
        if offset >= 0 {
            ms.saturating_add(offset.unsigned_abs())
        } else {
            ms.saturating_sub(offset.unsigned_abs())
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const CHILD: &str = "LIAISON_CLOCK_TEST_CHILD";
    const DAY_MS: i64 = 86_400_000;

    fn system_ms() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis()
            .try_into()
            .unwrap()
    }

    /// Prints `now()` when run as the child of the test below.
    #[test]
    fn child_prints_now() {
        if std::env::var_os(CHILD).is_some() {
            println!("now={}", now().0);
        }
    }

    /// This test binary, re-run with `offset` in the environment: the
    /// offset the child's `now()` showed, in ms.
    fn observed_offset(offset: &str) -> i64 {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "tests::child_prints_now", "--nocapture"])
            .env(CHILD, "1")
            .env(OFFSET_ENV, offset)
            .output()
            .unwrap();
        let before = system_ms();
        let text = String::from_utf8(out.stdout).unwrap();
        let child: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("now="))
            .unwrap_or_else(|| panic!("no now= line in {text:?}"))
            .parse()
            .unwrap();
        i64::try_from(child).unwrap() - i64::try_from(before).unwrap()
    }

    /// The offset is applied exactly when the feature is compiled in; a
    /// build without it ignores the variable.
    #[test]
    fn the_environment_offset_applies_only_with_test_hooks() {
        for (offset, shift) in [("2592000000", 30 * DAY_MS), ("-86400000", -DAY_MS)] {
            let seen = observed_offset(offset);
            let expected = if TEST_HOOKS { shift } else { 0 };
            assert!(
                (seen - expected).abs() < 60_000,
                "offset {offset}: the child's clock was {seen} ms off, expected about {expected}"
            );
        }
    }

    #[cfg(not(feature = "test-hooks"))]
    #[test]
    fn now_is_the_system_clock() {
        let before = system_ms();
        let t = now().0;
        assert!(t >= before && t < before + 60_000, "{t} vs {before}");
    }
}
