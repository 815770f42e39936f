//! The wall clock of the tools that talk to a relay. Library code takes the
//! time as an argument; only drivers and binaries read it here.

use std::time::{SystemTime, UNIX_EPOCH};

use liaison_protocol::Timestamp;

/// Now, in milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    Timestamp(ms)
}

/// Now, in whole seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    now().0 / 1000
}
