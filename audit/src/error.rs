//! Why an auditor's operation stopped before deciding anything.
//!
//! A verification *verdict* (fork, rollback, altered entry) is never an
//! error: it is a failure in the [`Report`](crate::Report). These types are
//! for everything else, split by whose fault it is: [`AuditError`] for the
//! auditor's input, files and link, [`RelayFault`] for a relay that answered
//! something no honest relay answers.

use std::path::PathBuf;
use std::time::Duration;

use liaison_net::{EventProofError, LinkError};
use liaison_protocol::bundle::BundleError;
use liaison_protocol::frames::LogId;
use liaison_protocol::log::{CheckpointError, NoteError};
use liaison_protocol::{DirectoryId, MessageId, PublicKey};

use crate::layout::{MAX_CHECKPOINTS, MAX_ENTRIES};
use crate::trust::TrustError;

/// The relay answered what an honest, correctly configured relay never
/// answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RelayFault {
    /// Authentication as an auditor got an answer of another kind.
    #[error(
        "the relay answered {answer} to auditor key {}: use a key listed in the relay's [logs] \
         auditors",
        key.to_hex()
    )]
    AuthenticationAnswer {
        /// The answer's kind.
        answer: &'static str,
        /// The auditor key.
        key: PublicKey,
    },
    /// A checkpoint the relay served does not open under the bundle's
    /// policy.
    #[error("the relay's {} checkpoint: {reason}", log.name())]
    Checkpoint {
        /// The log.
        log: LogId,
        /// Why it does not open.
        reason: String,
    },
    /// The relay served fewer entries than its own checkpoint covers.
    #[error(
        "the relay returned no {} entries from index {start}, below its checkpoint size {size}",
        log.name()
    )]
    MissingEntries {
        /// The log.
        log: LogId,
        /// The first index asked for.
        start: u64,
        /// The checkpoint's size.
        size: u64,
    },
    /// Entries of the other log came back.
    #[error("the relay answered with entries of another log")]
    WrongLog,
    /// An entry is larger than any entry of its log can be.
    #[error("{} entry {index} from the relay exceeds {max} bytes", log.name())]
    EntryTooLong {
        /// The log.
        log: LogId,
        /// The entry's index.
        index: u64,
        /// The largest entry of the log.
        max: usize,
    },
}

/// Why an export, a verification run, a proof fetch, a comparison or a
/// witness round could not be carried out (the tool exits 2: nothing was
/// decided).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// A file or directory could not be read, created or written.
    #[error("{action} {}", path.display())]
    Io {
        /// `reading`, `creating` or `writing`.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The keys to pin, or the bundle's keys, are unusable.
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// The bundle lacks what this operation needs (relay pin, quorum).
    #[error("bundle: {0}")]
    Bundle(BundleError),
    /// The relay could not be reached or did not answer.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// Fetching a checkpoint failed.
    #[error("fetching the {} checkpoint", log.name())]
    FetchCheckpoint {
        /// The log.
        log: LogId,
        /// Why.
        source: LinkError,
    },
    /// Fetching entries failed.
    #[error("fetching {} entries from {start}", log.name())]
    FetchEntries {
        /// The log.
        log: LogId,
        /// The first index asked for.
        start: u64,
        /// Why.
        source: LinkError,
    },
    /// The relay did not accept the auditor key.
    #[error(
        "the relay did not accept auditor key {} (is it listed in the relay's [logs] auditors?)",
        key.to_hex()
    )]
    AuditorRefused {
        /// The auditor key.
        key: PublicKey,
        /// The relay's answer.
        source: LinkError,
    },
    /// The relay knows the auditor key as a focal point's device.
    #[error(
        "the relay authenticated this key as a device of {id}, not as an auditor: use a key \
         listed in the relay's [logs] auditors"
    )]
    DeviceKey {
        /// The focal point the key is a device of.
        id: DirectoryId,
    },
    /// The relay disclosed only commitments: it does not treat the key as
    /// an auditor's.
    #[error(
        "the relay disclosed only commitments of the {} log: this key is not treated as an \
         auditor",
        log.name()
    )]
    CommitmentsOnly {
        /// The log.
        log: LogId,
    },
    /// The relay misbehaved.
    #[error(transparent)]
    Relay(#[from] RelayFault),
    /// The relay's log is larger than this tool exports.
    #[error(
        "the relay's {} checkpoint has {size} entries, more than this tool exports ({MAX_ENTRIES})",
        log.name()
    )]
    TooManyEntries {
        /// The log.
        log: LogId,
        /// The checkpoint's size.
        size: u64,
    },
    /// An export directory holds more checkpoints than this tool reads.
    #[error("{} holds more than {MAX_CHECKPOINTS} checkpoints", path.display())]
    TooManyCheckpoints {
        /// The `checkpoints` directory.
        path: PathBuf,
    },
    /// The path given as an export is not a directory.
    #[error("{} is not an export directory", path.display())]
    NotAnExport {
        /// The path.
        path: PathBuf,
    },
    /// The export directory holds neither log.
    #[error("{} holds no exported log (expected directory/ or events/)", path.display())]
    EmptyExport {
        /// The directory.
        path: PathBuf,
    },
    /// Showing the records in force needs the network root.
    #[error(
        "showing the directory records in force needs the network root key: pass --bundle or \
         --root-key"
    )]
    NoRoot,
    /// The export holds no directory log.
    #[error("{} holds no directory log export (expected directory/)", path.display())]
    NoDirectoryLog {
        /// The export directory.
        path: PathBuf,
    },
    /// Records were asked for at a size no checkpoint root covers.
    #[error(
        "the export's directory log is verified up to size {verified} only; pass --at with a \
         size up to {verified}"
    )]
    NotVerifiedAt {
        /// The size asked for.
        size: u64,
        /// The largest size whose checkpoint root matched the entries.
        verified: u64,
    },
    /// A directory entry verified a moment ago can no longer be read (the
    /// export changed meanwhile).
    #[error("directory entry {index} {why} (did the export change meanwhile?)")]
    EntryUnreadable {
        /// Its index.
        index: u64,
        /// What is wrong.
        why: String,
    },
    /// The export holds a log whose key is not pinned.
    #[error(
        "the export holds the {} log but no key is pinned for it (pinned: {pinned}); pass \
         --bundle or --log-key",
        log.name()
    )]
    UnpinnedLog {
        /// The log.
        log: LogId,
        /// The keys that are pinned.
        pinned: String,
    },
    /// A checkpoint file is not a signed note.
    #[error("{}: not a signed note: {error}", path.display())]
    NotANote {
        /// The file.
        path: PathBuf,
        /// What the note parser said.
        error: NoteError,
    },
    /// A signed note is not a checkpoint.
    #[error("{}: not a checkpoint: {error}", path.display())]
    NotACheckpoint {
        /// The file.
        path: PathBuf,
        /// What the checkpoint parser said.
        error: CheckpointError,
    },
    /// Two checkpoints to compare name different origins.
    #[error(
        "{} ({a_origin}) and {} ({b_origin}) are checkpoints of different logs",
        a.display(),
        b.display()
    )]
    DifferentLogs {
        /// The first file.
        a: PathBuf,
        /// Its origin.
        a_origin: String,
        /// The second file.
        b: PathBuf,
        /// Its origin.
        b_origin: String,
    },
    /// No pinned key is named after a checkpoint's origin.
    #[error("no pinned log key is named {origin}: pass --log-key or --bundle")]
    UnpinnedOrigin {
        /// The origin.
        origin: String,
    },
    /// Checkpoints of different sizes cannot be compared offline.
    #[error(
        "the checkpoints have different sizes ({old} and {new}); deciding needs a consistency \
         proof: pass --export DIR (an audit export of this log, checked offline) or --bundle \
         (to ask the relay for one)"
    )]
    NeedsProof {
        /// The smaller size.
        old: u64,
        /// The larger size.
        new: u64,
    },
    /// The event log holds nothing about the message.
    #[error("the relay's event log holds no event of message {0}")]
    NoEvents(MessageId),
    /// No checkpoint covering the message's events was signed in time.
    #[error(
        "no events checkpoint covering index {index} within {} s; retry later",
        wait.as_secs()
    )]
    NotCovered {
        /// The last event's index.
        index: u64,
        /// How long was waited.
        wait: Duration,
    },
    /// The per-event proofs could not be built.
    #[error(transparent)]
    EventProofs(#[from] EventProofError),
    /// The witness's own state does not verify: it must not cosign on.
    #[error(
        "witness state {} does not verify under the {} log key: {error}; restore it from a backup",
        path.display(),
        log.name()
    )]
    WitnessState {
        /// The state file.
        path: PathBuf,
        /// The log.
        log: LogId,
        /// Why it does not verify.
        error: CheckpointError,
    },
    /// The witness key cannot cosign this checkpoint.
    #[error("cosigning: {0}")]
    Cosign(CheckpointError),
    /// The relay did not take the witness's cosignature.
    #[error(
        "the relay did not take the cosignature of the {} checkpoint of size {size}",
        log.name()
    )]
    CosignatureRefused {
        /// The log.
        log: LogId,
        /// The cosigned size.
        size: u64,
        /// The relay's answer.
        source: LinkError,
    },
    /// A held or served signed note could not be re-signed or re-encoded.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// A held or served checkpoint could not be re-opened after merging
    /// signatures.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

impl AuditError {
    /// An I/O failure on `path`.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> AuditError {
        let path = path.into();
        move |source| AuditError::Io {
            action,
            path,
            source,
        }
    }
}
