//! The auditor's side of the relay's transparency logs, behind
//! `liaison-audit`: exporting the logs, verifying an export offline, the
//! directory records in force at a verified size, per-event proof bundles, comparing two checkpoints, and the witness a
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
//!
//! Errors: an operation that cannot be carried out returns an
//! [`AuditError`] (whose [`RelayFault`] variant is a relay answering what no
//! honest relay answers); bad keys or flags are a [`TrustError`], an
//! unusable input file a [`LoadError`]. A verification *verdict* is never an
//! error: it is a failure in the [`Report`], or a [`ProofBundleError`] or
//! [`evidence::EvidenceFailure`] for a single bundle.
//!
//! Modules, each depending only on those above it:
//!
//! ```text
//! files, layout, report, trust, evidence    leaves: inputs, the export format,
//!                                           reports, pinned keys, evidence text
//! error                                     AuditError, RelayFault
//! chain, proof                              the directory chain; proof bundles
//! relay                                     the link to the relay as an auditor
//! verify                                    offline verification of an export
//! records                                   the records in force at a size
//! export, message, compare, witness         operations against the relay
//! ```
//!
//! Non-features: tiles, the C2SP witness HTTP protocol (the witness talks to
//! the relay over the relay protocol), and incremental verification (every
//! `verify` recomputes everything from the entries).

mod chain;
mod compare;
mod error;
pub mod evidence;
mod export;
mod files;
mod layout;
mod message;
mod proof;
mod records;
mod relay;
mod report;
#[cfg(test)]
mod tests;
mod trust;
mod verify;
mod witness;

pub use compare::compare_checkpoint_files;
pub use error::{AuditError, RelayFault};
pub use export::{ExportOptions, export};
pub use files::{
    LoadError, MAX_KEY_FILE_LEN, MAX_TEXT_FILE_LEN, load_auditor_key, load_bundle,
    load_witness_key, read_bounded, read_file, read_input, write_atomic,
};
pub use layout::{
    EXPORT_README, LEAF_HASHES_FILE, MAX_CHECKPOINTS, MAX_ENTRIES, ProofTextError,
    encode_proof_text, max_entry_len, parse_checkpoint_name, parse_entry_name, parse_proof_name,
    parse_proof_text,
};
pub use message::message_proofs;
pub use proof::{
    CosignatureSummary, DisclosedLeaf, EventSummary, ProofBundleError, ProofSummary, VerifiedProof,
    describe_directory_entry, describe_event, render_proof_failure, verify_proof_bundle,
};
pub use records::{RecordLine, RecordsAt, records_at};
pub use relay::{authenticate_auditor, connect, fetch_checkpoint};
pub use report::Report;
pub use trust::{Trust, TrustError, log_of_key_name};
pub use verify::{EntryData, LogExport, LogSummary, read_log_export, verify_export, verify_log};
pub use witness::{Witness, witness_state_path};
