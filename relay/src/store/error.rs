//! Why the store failed: the relay's own failures, never a peer's.

use std::sync::Arc;

/// Why the store failed. These are the relay's own failures (disk, corruption),
/// never the peer's fault; they map to `ErrorCode::Internal`.
/// Cheap to clone (a shared reference to the cause), so one failure can
/// answer every send of a group commit and be kept as the store's health.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database failed (I/O error such as a full disk, lock, ...).
    // Not a `#[source]`: the message already includes it, and chains printed
    // with `{:#}` would repeat it.
    #[error("storage failure: {0}")]
    Storage(Arc<redb::Error>),
    /// Stored bytes did not decode.
    #[error("stored data is corrupt: {0}")]
    Corrupt(&'static str),
    /// The store was written by a newer release, in a format this one
    /// cannot read.
    #[error(
        "the store is in format {found}, written by a newer release; this release reads formats up to {supported}"
    )]
    NewerFormat {
        /// The format recorded in the store.
        found: u64,
        /// The newest format this release reads.
        supported: u64,
    },
}

impl StoreError {
    /// Whether the database can no longer be used without reopening it. redb
    /// refuses every operation after an I/O error (a full disk, for example)
    /// until the database is reopened, so the relay must restart.
    pub fn is_fatal(&self) -> bool {
        match self {
            StoreError::Storage(e) => matches!(
                **e,
                redb::Error::Io(_)
                    | redb::Error::PreviousIo
                    | redb::Error::DatabaseClosed
                    | redb::Error::Corrupted(_)
                    | redb::Error::LockPoisoned(_)
            ),
            StoreError::Corrupt(_) | StoreError::NewerFormat { .. } => false,
        }
    }
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            #[allow(clippy::useless_conversion)]
            fn from(e: $t) -> Self {
                StoreError::Storage(Arc::new(e.into()))
            }
        }
    )*};
}
from_redb!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);
