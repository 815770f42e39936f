//! Checking a store before it is served: that each log's stored hashes still
//! give the roots the relay signed, and that stored entries still hash to
//! their stored leaves.
//!
//! Two depths:
//! - [`Depth::Quick`], at every start (with redb's page checksums, checked
//!   when the store is opened): per log, the stored root, and the root at the
//!   size of the newest signed checkpoint, recomputed from the stored
//!   interior hashes (`O(log n)` reads), and the newest [`TAIL`] entries
//!   against their leaf hashes;
//! - [`Depth::Full`], `liaison-relay check-store`: every entry against its
//!   leaf hash, every leaf into the root (`O(n)`), and every stored
//!   checkpoint's root.
//!
//! A mismatch is a [`Mismatch`]: the store no longer holds the history the
//! relay signed (disk corruption, or an edit behind the relay's back).
//! Serving it would give clients proofs that fail, or a fork.

use liaison_protocol::Wire;
use liaison_protocol::frames::LogId;
use liaison_protocol::log::event::DisclosedEvent;
use liaison_protocol::log::merkle::subtree_root;
use liaison_protocol::log::{Checkpoint, CompactRange, Hash, Note, leaf_hash};
use redb::ReadTransaction;

use super::error::StoreError;
use super::logs::{self, TreeHashes, log_tag};

/// Entries checked against their leaf hashes at every start.
pub const TAIL: u64 = 1024;

/// How much to check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Depth {
    /// What every start checks: roots in `O(log n)` and the newest entries.
    Quick,
    /// Everything, in `O(n)`.
    Full,
}

/// What the store no longer matches.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the {log} log {what}")]
pub struct Mismatch {
    /// The log's name.
    pub log: &'static str,
    /// What does not match.
    pub what: String,
}

/// What a check covered, per log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogReport {
    /// The log's name.
    pub log: &'static str,
    /// Its stored size.
    pub size: u64,
    /// The size of the newest checkpoint the relay signed (0: none yet).
    pub checkpoint: u64,
    /// Entries checked against their leaf hashes.
    pub entries_checked: u64,
    /// Signed checkpoints whose root was recomputed.
    pub checkpoints_checked: u64,
}

/// The leaf hash an entry of `log` must have: a directory entry's bytes are
/// the leaf data; an event's leaf data is its salted commitment. Entries
/// appended raw (benchmarks and tools) hash as directory entries do.
fn entry_leaf(log: LogId, bytes: &[u8]) -> Hash {
    if log == LogId::Events
        && let Ok(event) = DisclosedEvent::decode(bytes)
    {
        return event.leaf_hash();
    }
    leaf_hash(bytes)
}

/// Check the logs of the store read by `txn`.
pub(crate) fn check_logs(
    txn: &ReadTransaction,
    depth: Depth,
) -> Result<Result<Vec<LogReport>, Mismatch>, StoreError> {
    let mut reports = Vec::new();
    for log in LogId::ALL {
        match check_log(txn, log, depth)? {
            Ok(r) => reports.push(r),
            Err(m) => return Ok(Err(m)),
        }
    }
    Ok(Ok(reports))
}

fn check_log(
    txn: &ReadTransaction,
    log: LogId,
    depth: Depth,
) -> Result<Result<LogReport, Mismatch>, StoreError> {
    let name = log.name();
    let mismatch = |what: String| Ok(Err(Mismatch { log: name, what }));
    let state = logs::read_state(&txn.open_table(logs::LOG_STATE)?, log)?;
    let hashes = txn.open_table(logs::LOG_HASHES)?;
    let nodes = txn.open_table(logs::LOG_NODES)?;
    let entries = txn.open_table(logs::LOG_ENTRIES)?;
    let checkpoints = txn.open_table(logs::CHECKPOINTS)?;
    let reader = TreeHashes {
        hashes: &hashes,
        nodes: &nodes,
        log,
    };
    let size = state.size;
    let mut report = LogReport {
        log: name,
        size,
        ..LogReport::default()
    };
    let stored_root = state.root()?;
    match subtree_root(&reader, 0, size) {
        Ok(root) if root == stored_root => {}
        Ok(_) => return mismatch(format!("hashes do not give its stored root at size {size}")),
        Err(e) => return mismatch(format!("is missing hashes ({e})")),
    }

    // Entries against their leaf hashes: the newest ones, or all.
    let from = match depth {
        Depth::Quick => size.saturating_sub(TAIL),
        Depth::Full => 0,
    };
    let mut range = CompactRange::new();
    for index in from..size {
        let Some(entry) = entries.get((log_tag(log), index))? else {
            return mismatch(format!("has no entry {index}"));
        };
        let Some(stored) = hashes.get((log_tag(log), index))?.map(|v| Hash(*v.value())) else {
            return mismatch(format!("has no leaf hash {index}"));
        };
        if entry_leaf(log, entry.value()) != stored {
            return mismatch(format!(
                "entry {index} no longer hashes to its leaf: it was altered"
            ));
        }
        if depth == Depth::Full {
            range
                .append(stored)
                .map_err(|_| StoreError::Corrupt("log is full"))?;
        }
        report.entries_checked += 1;
    }
    if depth == Depth::Full && range.root() != stored_root {
        return mismatch(format!("leaves do not give its stored root at size {size}"));
    }

    // Signed checkpoints: the newest, or all.
    let all = checkpoints.range((log_tag(log), 0)..=(log_tag(log), u64::MAX))?;
    let mut signed: Vec<(u64, String)> = Vec::new();
    for item in all.rev() {
        let (k, v) = item?;
        signed.push((k.value().1, v.value().to_owned()));
        if depth == Depth::Quick {
            break;
        }
    }
    report.checkpoint = signed.first().map_or(0, |(s, _)| *s);
    for (at, note) in signed {
        let Some(cp) = Note::parse(note.as_bytes())
            .ok()
            .and_then(|n| Checkpoint::from_text(n.text()).ok())
        else {
            return mismatch(format!("checkpoint of size {at} does not parse"));
        };
        if cp.size() != at || at > size {
            return mismatch(format!(
                "checkpoint stored as size {at} says size {} of a log of {size}",
                cp.size()
            ));
        }
        match subtree_root(&reader, 0, at) {
            Ok(root) if &root == cp.root() => {}
            Ok(_) => {
                return mismatch(format!(
                    "no longer gives the root the relay signed at size {at}: its history was altered"
                ));
            }
            Err(e) => return mismatch(format!("is missing hashes below size {at} ({e})")),
        }
        report.checkpoints_checked += 1;
    }
    Ok(Ok(report))
}
