//! The client's view of the relay's transparency logs.
//!
//! For each log the client keeps the latest checkpoint it verified (log key
//! from the bundle, witness quorum if the bundle asks for one). Every newer
//! checkpoint must be proven consistent with it (RFC 9162 §2.1.4); a smaller
//! one is a rollback and an equal-sized one with another root is a fork. In
//! both cases the two signed checkpoints are kept as evidence and the
//! operation fails loudly: a relay that shows different histories to
//! different people is caught.

use std::path::{Path, PathBuf};

use liaison_protocol::bundle::{Bundle, BundleError};
use liaison_protocol::frames::LogId;
use liaison_protocol::log::{CheckpointError, LogPolicy, SignedCheckpoint};
use liaison_protocol::{MessageId, Timestamp};

/// Why a log could not be checked: the bundle's keys, a checkpoint or
/// proof that does not verify, or events the relay served that are not
/// what was asked for. A fork or rollback is a [`ForkEvidence`] instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// The bundle has no usable key for the log.
    #[error("the bundle has no usable {log} log key ({error}); ask for a current bundle")]
    NoLogKey {
        /// Which log.
        log: &'static str,
        /// What is wrong with the key.
        error: BundleError,
    },
    /// The bundle's log key makes no verification policy.
    #[error("{0}")]
    Policy(CheckpointError),
    /// A held checkpoint does not verify.
    #[error("checkpoint does not verify: {0}")]
    Checkpoint(CheckpointError),
    /// The relay's newest checkpoint does not verify.
    #[error("the relay's {log} checkpoint was refused: checkpoint does not verify: {error}")]
    RelayCheckpoint {
        /// Which log.
        log: &'static str,
        /// Why.
        error: CheckpointError,
    },
    /// A held and a served checkpoint were compared without a verdict.
    #[error("no consistency proof was judged for the {0} log")]
    NotJudged(&'static str),
    /// The relay served an event that does not decode.
    #[error("relay sent a malformed event")]
    MalformedEvent,
    /// The relay served an event whose record does not decode.
    #[error("relay sent a malformed event record")]
    MalformedEventRecord,
    /// The relay served another message's event.
    #[error("the relay's event {index} is not about message {id}")]
    EventNotAbout {
        /// The event's index in the log.
        index: u64,
        /// The message asked about.
        id: MessageId,
    },
    /// The proof that a message's event is in the log does not verify.
    #[error("event log inclusion proof for message {id} does not verify: {error}")]
    EventInclusion {
        /// The message.
        id: MessageId,
        /// Why.
        error: CheckpointError,
    },
    /// The proof that a receipt's declaration is in the log does not verify.
    #[error("receipt event inclusion proof does not verify: {0}")]
    ReceiptInclusion(CheckpointError),
}

/// A detected inconsistency of the relay's log, with both signed checkpoints.
#[derive(Debug, Clone)]
pub struct ForkEvidence {
    /// Which log.
    pub log: &'static str,
    /// What was seen.
    pub what: String,
    /// The checkpoint held before.
    pub ours: String,
    /// The conflicting checkpoint.
    pub theirs: String,
    /// Where the evidence file was written, or why it could not be.
    pub evidence: Result<PathBuf, String>,
}

impl std::fmt::Display for ForkEvidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RELAY LOG INCONSISTENCY on the {} log: {}. The relay has shown conflicting histories; ",
            self.log, self.what
        )?;
        match &self.evidence {
            Ok(path) => write!(
                f,
                "evidence (both signed checkpoints) saved to {}.",
                path.display()
            )?,
            Err(why) => write!(
                f,
                "the evidence could NOT be saved ({why}), so keep this text: \
                 checkpoint held before:\n{}\nconflicting checkpoint:\n{}\n",
                self.ours, self.theirs
            )?,
        }
        f.write_str(" Report this to your network authority.")
    }
}

impl std::error::Error for ForkEvidence {}

/// The relay's event log omits or contradicts a message's events; the
/// signed checkpoint and the events served are kept as evidence.
#[derive(Debug, Clone)]
pub struct EventOmission {
    /// The message.
    pub id: MessageId,
    /// What is missing or differs.
    pub what: String,
    /// Where the evidence file was written, or why it could not be.
    pub evidence: Result<PathBuf, String>,
}

impl std::fmt::Display for EventOmission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RELAY EVENT LOG OMISSION for message {}: {}. ",
            self.id, self.what
        )?;
        match &self.evidence {
            Ok(path) => write!(
                f,
                "Evidence (the signed checkpoint and the events served) saved to {}.",
                path.display()
            )?,
            Err(why) => write!(f, "The evidence could NOT be saved ({why}).")?,
        }
        f.write_str(" Report this to your network authority.")
    }
}

/// Write the evidence of an event-log omission to `dir/evidence/`: what is
/// missing or differs, the signed checkpoint it was judged against, and
/// the disclosed events the relay served (hex, one a line).
pub fn record_omission(
    dir: &Path,
    id: MessageId,
    what: String,
    checkpoint: &str,
    served: &[(u64, Vec<u8>)],
    at: Timestamp,
) -> EventOmission {
    let evidence = save_omission(dir, id, &what, checkpoint, served, at);
    EventOmission { id, what, evidence }
}

fn save_omission(
    dir: &Path,
    id: MessageId,
    what: &str,
    checkpoint: &str,
    served: &[(u64, Vec<u8>)],
    at: Timestamp,
) -> Result<PathBuf, String> {
    let evidence_dir = dir.join("evidence");
    let path = evidence_dir.join(format!("events-omission-{}-{}.txt", id.to_hex(), at.0));
    let mut text = format!(
        "Liaison relay event log omission\nlog: events\nmessage: {}\nwhat: {what}\n\n\
         --- checkpoint judged against ---\n{checkpoint}\n--- events served (index, disclosed event hex) ---\n",
        id.to_hex()
    );
    for (index, event) in served {
        text.push_str(&format!("{index} {}\n", hex::encode(event)));
    }
    std::fs::create_dir_all(&evidence_dir)
        .map_err(|e| format!("creating {}: {e}", evidence_dir.display()))?;
    std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(path)
}

/// The verification policy of `log` from the bundle.
pub fn policy(bundle: &Bundle, log: LogId) -> Result<LogPolicy, LogError> {
    bundle.log_policy(log).map_err(|error| LogError::NoLogKey {
        log: log.name(),
        error,
    })
}

/// The policy of `log` without its witnesses (the log key alone).
pub fn base_policy(bundle: &Bundle, log: LogId) -> Result<LogPolicy, LogError> {
    LogPolicy::new(policy(bundle, log)?.log().clone()).map_err(LogError::Policy)
}

/// Open a signed checkpoint note under `policy`.
pub fn open(policy: &LogPolicy, note: &str) -> Result<SignedCheckpoint, LogError> {
    policy.open(note.as_bytes()).map_err(LogError::Checkpoint)
}

/// Write both checkpoints to `dir/evidence/` and build the error. A
/// failure to write is reported in the error itself, with the checkpoints.
pub fn record_fork(
    dir: &Path,
    log: LogId,
    what: String,
    ours: &str,
    theirs: &str,
    at: Timestamp,
) -> ForkEvidence {
    let evidence = save_fork(dir, log, &what, ours, theirs, at);
    ForkEvidence {
        log: log.name(),
        what,
        ours: ours.to_owned(),
        theirs: theirs.to_owned(),
        evidence,
    }
}

fn save_fork(
    dir: &Path,
    log: LogId,
    what: &str,
    ours: &str,
    theirs: &str,
    at: Timestamp,
) -> Result<PathBuf, String> {
    let evidence_dir = dir.join("evidence");
    let stamp = at.0;
    let name = log.name();
    let path = evidence_dir.join(format!("{name}-fork-{stamp}.txt"));
    let text = format!(
        "Liaison relay log inconsistency\nlog: {name}\nwhat: {what}\n\n--- checkpoint held before ---\n{ours}\n--- conflicting checkpoint ---\n{theirs}"
    );
    let files = [
        (path.clone(), text.as_str()),
        (
            evidence_dir.join(format!("{name}-fork-{stamp}.a.note")),
            ours,
        ),
        (
            evidence_dir.join(format!("{name}-fork-{stamp}.b.note")),
            theirs,
        ),
    ];
    std::fs::create_dir_all(&evidence_dir)
        .map_err(|e| format!("creating {}: {e}", evidence_dir.display()))?;
    for (file, contents) in files {
        std::fs::write(&file, contents).map_err(|e| format!("writing {}: {e}", file.display()))?;
    }
    Ok(path)
}
