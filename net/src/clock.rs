//! The wall clock of the tools that talk to a relay. Library code takes the
//! time as an argument; only drivers and binaries read it here. It is
//! `liaison-clock`'s, so integration tests can shift it (feature
//! `test-hooks` of `liaison-clock`).

use liaison_protocol::Timestamp;

/// Now, in milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now() -> Timestamp {
    liaison_clock::now()
}

/// Now, in whole seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    now().0 / 1000
}
