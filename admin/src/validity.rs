//! How long what an authority or the root signs stays valid, and the clock
//! it is measured by.

use liaison_protocol::Timestamp;

use crate::error::AdminError;

/// Validity of a new record.
pub const DEFAULT_VALIDITY_DAYS: u64 = 730;
/// Validity of a new or renewed authority certificate.
pub const DEFAULT_AUTHORITY_VALIDITY_DAYS: u64 = 730;
/// Oldest device request an authority countersigns, so an old approval file
/// found on a disk cannot quietly bring back a device.
pub const MAX_DEVICE_REQUEST_AGE_DAYS: u64 = 14;
/// The longest validity anything is signed for.
const MAX_VALIDITY_DAYS: u64 = 3660;

pub(crate) const DAY_MS: u64 = 86_400_000;
/// Records start a minute before signing, for clock skew between machines.
pub(crate) use liaison_protocol::directory::RECORD_SKEW_MS;
/// Certificates start a day before signing: the root is offline and its
/// clock may be off; the relays check `not_before`.
pub(crate) const CERTIFICATE_SKEW_MS: u64 = DAY_MS;

/// The end of a validity of `valid_days` from `at`.
pub(crate) fn validity_end(at: Timestamp, valid_days: u64) -> Result<Timestamp, AdminError> {
    if valid_days == 0 || valid_days > MAX_VALIDITY_DAYS {
        return Err(AdminError::Validity { days: valid_days });
    }
    Ok(at.plus_millis(valid_days * DAY_MS))
}

/// The current time, for the command-line tool.
pub fn current_time() -> Timestamp {
    liaison_net::clock::now()
}
