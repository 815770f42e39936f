//! The relay's two append-only Merkle logs, stored in the same redb database
//! as everything else so that an event is appended in the same durable
//! transaction as the state change it records.
//!
//! Per log: every leaf's stored entry (directory entries as published; event
//! records with their salt) and its RFC 6962 leaf hash, the root of every
//! complete perfect subtree (one hash per level per `2^level` leaves, written
//! in the transaction of the leaf that completes it, so interior hashes never
//! fall out of step with the leaves), the compact range (right-edge subtree
//! roots) so the current root costs `O(log n)`, and every checkpoint the
//! relay signed. Proofs and roots at any size read `O(log n)` stored hashes
//! ([`TreeHashes`]).

use liaison_protocol::codec::Wire;
use liaison_protocol::frames::LogId;
use liaison_protocol::log::event::{DirectoryEntry, DisclosedEvent, EventKind, EventRecord};
use liaison_protocol::log::{CompactRange, Hash, HashReader, ProofError, leaf_hash};
use liaison_protocol::{MessageId, Timestamp};
use redb::{ReadableTable, TableDefinition, WriteTransaction};

use super::error::StoreError;

/// (log, index) → stored entry bytes.
pub(crate) const LOG_ENTRIES: TableDefinition<(u8, u64), &[u8]> =
    TableDefinition::new("log_entries");
/// (log, index) → leaf hash.
pub(crate) const LOG_HASHES: TableDefinition<(u8, u64), &[u8; 32]> =
    TableDefinition::new("log_hashes");
/// (log, level, index) → root of the perfect subtree of `2^level` leaves
/// starting at leaf `index << level`, for `level >= 1` (level 0 is
/// [`LOG_HASHES`]); written when the subtree's last leaf is appended.
pub(crate) const LOG_NODES: TableDefinition<(u8, u8, u64), &[u8; 32]> =
    TableDefinition::new("log_nodes");
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
    append_many(txn, log, std::iter::once((entry, hash)))
}

/// Append leaves `(entry, leaf hash)` inside `txn`, with the interior hashes
/// they complete; returns the index of the first.
fn append_many<'e>(
    txn: &WriteTransaction,
    log: LogId,
    leaves: impl IntoIterator<Item = (&'e [u8], Hash)>,
) -> Result<u64, StoreError> {
    let mut states = txn.open_table(LOG_STATE)?;
    let mut state = read_state(&states, log)?;
    let mut range = state.range()?;
    let first = range.size();
    {
        let mut entries = txn.open_table(LOG_ENTRIES)?;
        let mut hashes = txn.open_table(LOG_HASHES)?;
        let mut nodes = txn.open_table(LOG_NODES)?;
        let mut completed = Vec::new();
        for (entry, hash) in leaves {
            let index = range.size();
            completed.clear();
            range
                .append_with(hash, |level, i, h| completed.push((level, i, *h)))
                .map_err(|_| StoreError::Corrupt("log is full"))?;
            entries.insert((log_tag(log), index), entry)?;
            hashes.insert((log_tag(log), index), &hash.0)?;
            for (level, i, h) in &completed {
                nodes.insert((log_tag(log), node_level(*level)?, *i), &h.0)?;
            }
        }
    }
    state.size = range.size();
    state.frontier = range.hashes().iter().map(|h| h.0).collect();
    let bytes =
        postcard::to_allocvec(&state).map_err(|_| StoreError::Corrupt("log state encoding"))?;
    states.insert(log_tag(log), bytes.as_slice())?;
    Ok(first)
}

fn node_level(level: u32) -> Result<u8, StoreError> {
    u8::try_from(level).map_err(|_| StoreError::Corrupt("log is full"))
}

/// Append raw entries (leaf hash `SHA-256(0x00 || entry)`) to `log` inside
/// `txn`, through the same path as every other append. For benchmarks and
/// tools that build large logs; the relay's own appends are typed
/// ([`append_directory`], [`append_event`]).
pub(crate) fn append_raw(
    txn: &WriteTransaction,
    log: LogId,
    entries: &[Vec<u8>],
) -> Result<u64, StoreError> {
    append_many(
        txn,
        log,
        entries.iter().map(|e| (e.as_slice(), leaf_hash(e))),
    )
}

/// Build the interior hashes of `log` for leaves `[done, done + batch)`
/// (fewer at the end) from its stored leaf hashes, inside `txn`, for a store
/// written before they were kept. Resumes from the hashes stored for
/// `[0, done)`, so an interrupted build loses at most one batch. Returns how
/// many leaves are covered now; at the end, checks that the hashes give the
/// log's stored root.
pub(crate) fn build_nodes(
    txn: &WriteTransaction,
    log: LogId,
    done: u64,
    batch: u64,
) -> Result<u64, StoreError> {
    let state = read_state(&txn.open_table(LOG_STATE)?, log)?;
    if done >= state.size {
        return Ok(state.size);
    }
    let end = done.saturating_add(batch).min(state.size);
    let hashes = txn.open_table(LOG_HASHES)?;
    let mut nodes = txn.open_table(LOG_NODES)?;
    let mut range = {
        let reader = TreeHashes {
            hashes: &hashes,
            nodes: &nodes,
            log,
        };
        CompactRange::from_reader(&reader, done)
            .map_err(|_| StoreError::Corrupt("log interior hashes"))?
    };
    let mut completed = Vec::new();
    for index in done..end {
        let leaf = hashes
            .get((log_tag(log), index))?
            .map(|v| Hash(*v.value()))
            .ok_or(StoreError::Corrupt("log leaf hashes"))?;
        completed.clear();
        range
            .append_with(leaf, |level, i, h| completed.push((level, i, *h)))
            .map_err(|_| StoreError::Corrupt("log is full"))?;
        for (level, i, h) in &completed {
            nodes.insert((log_tag(log), node_level(*level)?, *i), &h.0)?;
        }
    }
    if end == state.size && range.root() != state.root()? {
        return Err(StoreError::Corrupt(
            "log leaf hashes do not give the log's stored root",
        ));
    }
    Ok(end)
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

/// The stored hashes of one log (leaves and complete subtrees), for proofs
/// and roots in `O(log n)` reads.
pub(crate) struct TreeHashes<'a, H, N> {
    pub hashes: &'a H,
    pub nodes: &'a N,
    pub log: LogId,
}

impl<H, N> HashReader for TreeHashes<'_, H, N>
where
    H: ReadableTable<(u8, u64), &'static [u8; 32]>,
    N: ReadableTable<(u8, u8, u64), &'static [u8; 32]>,
{
    fn leaf_hash(&self, index: u64) -> Option<Hash> {
        self.hashes
            .get((log_tag(self.log), index))
            .ok()
            .flatten()
            .map(|v| Hash(*v.value()))
    }

    fn perfect_subtree(&self, level: u32, index: u64) -> Result<Hash, ProofError> {
        if level == 0 {
            return self.leaf_hash(index).ok_or(ProofError::MissingLeaf(index));
        }
        let missing = ProofError::MissingNode { level, index };
        let key_level = u8::try_from(level).map_err(|_| missing.clone())?;
        self.nodes
            .get((log_tag(self.log), key_level, index))
            .ok()
            .flatten()
            .map(|v| Hash(*v.value()))
            .ok_or(missing)
    }
}
