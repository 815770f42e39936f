//! The store's on-disk format number and the migrations that bring an older
//! store up to it when the relay opens it.
//!
//! Format 0 is every store written before the format was recorded (no `meta`
//! table). Format 1 adds the interior hashes of the logs (`log_nodes`), the
//! messages each device sent or was sent (`device_messages`) and the
//! envelopes of each sender in each queue (`queue_senders`). A migration is
//! a list of resumable steps, each run in batches (of [`MIGRATION_BATCH`]
//! leaves or entries), one durable transaction each, with the step's
//! progress recorded in the same transaction: a migration interrupted by a
//! crash resumes where it stopped the next time the store is opened.

use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction,
};

use super::error::StoreError;

/// The format this release writes.
pub const STORE_FORMAT: u64 = 1;

/// Leaves whose interior hashes one migration transaction builds.
pub const MIGRATION_BATCH: u64 = 1 << 16;

/// Name → number: `format`, and the progress of a migration under way.
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

pub(crate) const FORMAT_KEY: &str = "format";

pub(crate) fn progress_key(step: &str) -> String {
    format!("migrating/{step}")
}

/// One resumable migration step: given how far it got (0 at first), does
/// one batch inside the transaction and returns how far it got now; the
/// same number when it is done.
pub(crate) type Step<'a> = (
    &'a str,
    &'a dyn Fn(&WriteTransaction, u64) -> Result<u64, StoreError>,
);

fn write(db: &Database) -> Result<WriteTransaction, StoreError> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    Ok(txn)
}

/// The format recorded in `db` (0 if none).
pub(crate) fn stored_format(db: &Database) -> Result<u64, StoreError> {
    let txn = db.begin_read()?;
    match txn.open_table(META) {
        Ok(table) => Ok(table.get(FORMAT_KEY)?.map(|v| v.value()).unwrap_or(0)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

/// Bring `db` to [`STORE_FORMAT`] with `steps`, or refuse a store of a
/// newer format.
pub(crate) fn migrate(db: &Database, steps: &[Step<'_>]) -> Result<(), StoreError> {
    let found = stored_format(db)?;
    if found > STORE_FORMAT {
        return Err(StoreError::NewerFormat {
            found,
            supported: STORE_FORMAT,
        });
    }
    if found == STORE_FORMAT {
        return Ok(());
    }
    for (name, step) in steps {
        let key = progress_key(name);
        loop {
            let txn = write(db)?;
            let done = txn
                .open_table(META)?
                .get(key.as_str())?
                .map(|v| v.value())
                .unwrap_or(0);
            let now = step(&txn, done)?;
            if now == done {
                txn.abort()?;
                break;
            }
            txn.open_table(META)?.insert(key.as_str(), now)?;
            txn.commit()?;
            tracing::info!(step = name, done = now, "store migration");
        }
    }
    let txn = write(db)?;
    {
        let mut meta = txn.open_table(META)?;
        for (name, _) in steps {
            meta.remove(progress_key(name).as_str())?;
        }
        meta.insert(FORMAT_KEY, STORE_FORMAT)?;
    }
    txn.commit()?;
    Ok(())
}
