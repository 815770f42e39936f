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

use anyhow::{Result, anyhow};
use liaison_protocol::bundle::Bundle;
use liaison_protocol::frames::LogId;
use liaison_protocol::log::{Checkpoint, LogPolicy, SignedCheckpoint, verify_consistency};

use liaison_net::{Link, LinkError};

/// A detected inconsistency of the relay's log, with both signed checkpoints.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "RELAY LOG INCONSISTENCY on the {log} log: {what}. The relay has shown conflicting histories; \
     evidence (both signed checkpoints) saved to {}. Report this to your network authority.",
    evidence.display()
)]
pub struct ForkEvidence {
    /// Which log.
    pub log: &'static str,
    /// What was seen.
    pub what: String,
    /// The checkpoint held before.
    pub ours: String,
    /// The conflicting checkpoint.
    pub theirs: String,
    /// Where the evidence file was written.
    pub evidence: PathBuf,
}

/// The verification policy of `log` from the bundle.
pub fn policy(bundle: &Bundle, log: LogId) -> Result<LogPolicy> {
    bundle.log_policy(log).map_err(|e| {
        anyhow!(
            "the bundle has no usable {} log key ({e}); ask for a current bundle",
            log.name()
        )
    })
}

/// Open a signed checkpoint note under `policy`.
pub fn open(policy: &LogPolicy, note: &str) -> Result<SignedCheckpoint> {
    policy
        .open(note.as_bytes())
        .map_err(|e| anyhow!("checkpoint does not verify: {e}"))
}

/// Write both checkpoints to `dir/evidence/` and build the error.
pub fn record_fork(dir: &Path, log: LogId, what: String, ours: &str, theirs: &str) -> ForkEvidence {
    let evidence_dir = dir.join("evidence");
    let _ = std::fs::create_dir_all(&evidence_dir);
    let stamp = crate::client::now().0;
    let path = evidence_dir.join(format!("{}-fork-{stamp}.txt", log.name()));
    let text = format!(
        "Liaison relay log inconsistency\nlog: {}\nwhat: {what}\n\n--- checkpoint held before ---\n{ours}\n--- conflicting checkpoint ---\n{theirs}",
        log.name()
    );
    let _ = std::fs::write(&path, text);
    let _ = std::fs::write(
        evidence_dir.join(format!("{}-fork-{stamp}.a.note", log.name())),
        ours,
    );
    let _ = std::fs::write(
        evidence_dir.join(format!("{}-fork-{stamp}.b.note", log.name())),
        theirs,
    );
    ForkEvidence {
        log: log.name(),
        what,
        ours: ours.to_owned(),
        theirs: theirs.to_owned(),
        evidence: path,
    }
}

/// Outcome of comparing two verified checkpoints of the same log.
#[derive(Debug)]
pub enum Comparison {
    /// `b` extends (or equals) `a`.
    Consistent,
    /// `b` is older than `a`.
    Older,
    /// Proven inconsistent.
    Fork(String),
}

/// Compare two checkpoints of one log, asking the relay for a proof when the
/// sizes differ. A proof the relay cannot or will not give counts as a fork
/// only when the sizes are equal or the proof fails to verify.
pub async fn compare(
    conn: &Link,
    log: LogId,
    a: &Checkpoint,
    b: &Checkpoint,
) -> Result<Comparison> {
    if a.origin() != b.origin() {
        return Ok(Comparison::Fork(
            "checkpoints name different origins".into(),
        ));
    }
    if a.size() == b.size() {
        return Ok(if a.root() == b.root() {
            Comparison::Consistent
        } else {
            Comparison::Fork(format!(
                "two different roots for the same size {}",
                a.size()
            ))
        });
    }
    let (old, new, reversed) = if a.size() < b.size() {
        (a, b, false)
    } else {
        (b, a, true)
    };
    if old.size() == 0 {
        return Ok(if reversed {
            Comparison::Older
        } else {
            Comparison::Consistent
        });
    }
    let proof = match conn.consistency(log, old.size(), new.size()).await {
        Ok(p) => p,
        Err(LinkError::Refused(e)) => {
            return Ok(Comparison::Fork(format!(
                "the relay cannot prove that size {} extends size {} ({})",
                new.size(),
                old.size(),
                e.message
            )));
        }
        Err(e) => return Err(e.into()),
    };
    match verify_consistency(old.size(), new.size(), &proof, old.root(), new.root()) {
        Ok(()) => Ok(if reversed {
            Comparison::Older
        } else {
            Comparison::Consistent
        }),
        Err(e) => Ok(Comparison::Fork(format!(
            "the consistency proof from size {} to {} does not verify ({e})",
            old.size(),
            new.size()
        ))),
    }
}
