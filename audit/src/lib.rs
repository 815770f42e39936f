//! The auditor's side of the relay's transparency logs, behind
//! `liaison-audit`: exporting the logs, verifying an export offline,
//! per-event proof bundles, comparing two checkpoints, and the witness a
//! country authority runs.
//!
//! Everything that reads an export, a proof bundle or a checkpoint treats it
//! as hostile: files are size-bounded before they are read, symlinks and
//! unexpected files are reported, every decoder is the protocol's strict one
//! (and every entry must re-encode to its exact bytes), and nothing panics.
//! Verification never stops at the first problem: [`Report`] collects every
//! failure with the log, file, index or checkpoint it concerns.
//!
//! Export layout (also written as `README.txt` into every export):
//!
//! ```text
//! DIR/README.txt                       this description
//! DIR/keys.txt                         verifier keys copied from the bundle
//! DIR/<log>/checkpoints/<size>.note    signed checkpoints (C2SP signed note),
//!                                      cosignatures merged across exports
//! DIR/<log>/checkpoints/<size>-<n>.note a second, conflicting checkpoint of
//!                                      the same size (fork evidence)
//! DIR/<log>/proofs/<old>-<new>.proof   the relay's consistency proof between
//!                                      two held checkpoints (base64 hashes)
//! DIR/<log>/leaf-hashes.bin            leaf hashes of the newest checkpoint
//!                                      (32 bytes each), to name altered entries
//! DIR/<log>/entries/<index>.bin        one leaf entry per file
//! ```
//!
//! `<log>` is `directory` or `events`. A directory entry file holds the
//! canonical `DirectoryEntry` encoding (the leaf data itself); an events
//! entry holds the canonical `DisclosedEvent` (salt and record), whose
//! salted commitment is the leaf data.
//!
//! Non-features: tiles, the C2SP witness HTTP protocol (the witness talks to
//! the relay over the relay protocol), and incremental verification (every
//! `verify` recomputes everything from the entries).

mod compare;
pub mod evidence;
mod export;
mod files;
mod message;
mod proof;
mod relay;
mod report;
#[cfg(test)]
mod tests;
mod trust;
mod verify;
mod witness;

pub use compare::*;
pub use export::*;
pub use files::*;
pub use message::*;
pub use proof::*;
pub use relay::*;
pub use report::*;
pub use trust::*;
pub use verify::*;
pub use witness::*;

/// Exit code: everything verified.
pub const EXIT_VERIFIED: u8 = 0;
/// Exit code: a verification failed (the report says what and where).
pub const EXIT_FAILED: u8 = 1;
/// Exit code: usage or I/O error; nothing was decided.
pub const EXIT_USAGE: u8 = 2;

/// Largest bundle or `keys.txt` read.
pub const MAX_TEXT_FILE_LEN: u64 = 64 * 1024;
/// Largest key file read.
pub const MAX_KEY_FILE_LEN: u64 = 4 * 1024;
/// Most entries one exported log may hold (bounds memory: the verifier keeps
/// a leaf hash, and for the event log the decoded record, per entry).
pub const MAX_ENTRIES: u64 = 1 << 22;
/// Most checkpoint or proof files one exported log may hold.
pub const MAX_CHECKPOINTS: usize = 100_000;
/// Largest consistency proof file (64 base64 hashes and newlines).
pub(crate) const MAX_PROOF_FILE_LEN: u64 = 64 * 45;
/// Failures listed individually; the rest are counted.
pub(crate) const MAX_REPORTED: usize = 500;
/// The file holding the leaf hashes of the newest exported checkpoint.
pub const LEAF_HASHES_FILE: &str = "leaf-hashes.bin";
/// Entries asked for per request (the relay may return fewer).
pub(crate) const ENTRY_BATCH: u32 = 512;
