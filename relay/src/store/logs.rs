//! The relay's two append-only Merkle logs, stored in the same redb database
//! as everything else so that an event is appended in the same durable
//! transaction as the state change it records.
//!
//! Per log: every leaf's stored entry (directory entries as published; event
//! records with their salt) and its RFC 6962 leaf hash, the compact range
//! (right-edge subtree roots) so the current root costs `O(log n)`, and every
//! checkpoint the relay signed. Proofs are computed from the stored leaf
//! hashes (`O(n)` per proof; fine at this network's scale, and the place to
//! add stored interior nodes if logs grow into the millions).

use liaison_protocol::codec::Wire;
use liaison_protocol::frames::LogId;
use liaison_protocol::log::event::{DirectoryEntry, DisclosedEvent, EventKind, EventRecord};
use liaison_protocol::log::{CompactRange, Hash, HashReader, leaf_hash};
use liaison_protocol::{MessageId, Timestamp};
use redb::{ReadableTable, TableDefinition, WriteTransaction};

use super::error::StoreError;

/// (log, index) → stored entry bytes.
pub(crate) const LOG_ENTRIES: TableDefinition<(u8, u64), &[u8]> =
    TableDefinition::new("log_entries");
/// (log, index) → leaf hash.
pub(crate) const LOG_HASHES: TableDefinition<(u8, u64), &[u8; 32]> =
    TableDefinition::new("log_hashes");
/// log → encoded [`LogState`].
pub(crate) const LOG_STATE: TableDefinition<u8, &[u8]> = TableDefinition::new("log_state");
/// (log, size) → signed checkpoint note (with cosignatures).
pub(crate) const CHECKPOINTS: TableDefinition<(u8, u64), &str> =
    TableDefinition::new("log_checkpoints");
/// (log, size) → signed checkpoint carrying witness cosignatures.
pub(crate) const COSIGNED: TableDefinition<(u8, u64), &str> = TableDefinition::new("log_cosigned");
/// (message id, event index) → (): the events of each message.
pub(crate) const MESSAGE_EVENTS: TableDefinition<(&[u8; 16], u64), ()> =
    TableDefinition::new("message_events");

/// Most entries returned by one read.
pub const MAX_ENTRIES_PER_READ: u64 = 1024;

pub(crate) fn log_tag(log: LogId) -> u8 {
    match log {
        LogId::Directory => 0,
        LogId::Events => 1,
    }
}

/// Size, compact range and last event time of one log.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct LogState {
    pub size: u64,
    pub frontier: Vec<[u8; 32]>,
    pub last_time: u64,
}

impl LogState {
    fn range(&self) -> Result<CompactRange, StoreError> {
        CompactRange::from_parts(self.size, self.frontier.iter().map(|h| Hash(*h)).collect())
            .map_err(|_| StoreError::Corrupt("log compact range"))
    }

    /// The current root.
    pub fn root(&self) -> Result<Hash, StoreError> {
        Ok(self.range()?.root())
    }
}

pub(crate) fn read_state(
    table: &impl ReadableTable<u8, &'static [u8]>,
    log: LogId,
) -> Result<LogState, StoreError> {
    match table.get(log_tag(log))? {
        Some(v) => postcard::from_bytes(v.value()).map_err(|_| StoreError::Corrupt("log state")),
        None => Ok(LogState::default()),
    }
}

/// Append one leaf inside `txn`; returns its index.
fn append(txn: &WriteTransaction, log: LogId, entry: &[u8], hash: Hash) -> Result<u64, StoreError> {
    let mut states = txn.open_table(LOG_STATE)?;
    let mut state = read_state(&states, log)?;
    let mut range = state.range()?;
    let index = range.size();
    range
        .append(hash)
        .map_err(|_| StoreError::Corrupt("log is full"))?;
    txn.open_table(LOG_ENTRIES)?
        .insert((log_tag(log), index), entry)?;
    txn.open_table(LOG_HASHES)?
        .insert((log_tag(log), index), &hash.0)?;
    state.size = range.size();
    state.frontier = range.hashes().iter().map(|h| h.0).collect();
    let bytes =
        postcard::to_allocvec(&state).map_err(|_| StoreError::Corrupt("log state encoding"))?;
    states.insert(log_tag(log), bytes.as_slice())?;
    Ok(index)
}

/// Append a directory entry inside `txn`.
pub(crate) fn append_directory(
    txn: &WriteTransaction,
    entry: &DirectoryEntry,
) -> Result<u64, StoreError> {
    let bytes = entry.encode();
    append(txn, LogId::Directory, &bytes, leaf_hash(&bytes))
}

/// Append an event inside `txn`: assigns its sequence number (= index) and a
/// time no earlier than the previous event's, draws a fresh salt, and indexes
/// it by message.
pub(crate) fn append_event(
    txn: &WriteTransaction,
    time: Timestamp,
    kind: EventKind,
) -> Result<u64, StoreError> {
    let state = read_state(&txn.open_table(LOG_STATE)?, LogId::Events)?;
    let time = Timestamp(time.0.max(state.last_time));
    let message: MessageId = *kind.message_id();
    let record = EventRecord {
        seq: state.size,
        time,
        kind,
    };
    let mut salt = [0u8; 32];
    getrandom::fill(&mut salt).map_err(|_| StoreError::Corrupt("OS random generator failed"))?;
    let disclosed = DisclosedEvent::new(salt, &record);
    let index = append(
        txn,
        LogId::Events,
        &disclosed.encode(),
        disclosed.leaf_hash(),
    )?;
    // Record the time for monotonicity.
    {
        let mut states = txn.open_table(LOG_STATE)?;
        let mut s = read_state(&states, LogId::Events)?;
        s.last_time = time.0;
        let bytes =
            postcard::to_allocvec(&s).map_err(|_| StoreError::Corrupt("log state encoding"))?;
        states.insert(log_tag(LogId::Events), bytes.as_slice())?;
    }
    txn.open_table(MESSAGE_EVENTS)?
        .insert((&message.0, index), ())?;
    Ok(index)
}

/// Leaf hashes of one log read from a table, for proof generation.
pub(crate) struct TableHashes<'a, T: ReadableTable<(u8, u64), &'static [u8; 32]>> {
    pub table: &'a T,
    pub log: LogId,
}

impl<T: ReadableTable<(u8, u64), &'static [u8; 32]>> HashReader for TableHashes<'_, T> {
    fn leaf_hash(&self, index: u64) -> Option<Hash> {
        self.table
            .get((log_tag(self.log), index))
            .ok()
            .flatten()
            .map(|v| Hash(*v.value()))
    }
}
