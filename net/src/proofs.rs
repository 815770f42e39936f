//! Log proofs fetched from the relay and verified before they are returned.

use liaison_protocol::Wire;
use liaison_protocol::frames::{IndexedEvent, LogId};
use liaison_protocol::log::event::{DisclosedEvent, EventRecord};
use liaison_protocol::log::{LogPolicy, TlogProof, explain_checkpoint_error};

use crate::link::{Link, LinkError};

/// Why a set of event proofs could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventProofError {
    /// The checkpoint the proofs are relative to does not open.
    #[error("the events checkpoint: {0}")]
    Checkpoint(String),
    /// An event lies beyond the checkpoint.
    #[error(
        "event {index} is not covered by the events checkpoint of size {size}; retry when the relay has signed a newer one"
    )]
    NotCovered {
        /// The event's index.
        index: u64,
        /// The checkpoint's size.
        size: u64,
    },
    /// The relay served an event that does not decode.
    #[error("event {index} from the relay does not decode: {reason}")]
    Malformed {
        /// The event's index.
        index: u64,
        /// The decoder's complaint.
        reason: String,
    },
    /// The relay's inclusion proof does not verify (or cannot be encoded).
    #[error("the relay's inclusion proof for event {index} does not verify: {reason}")]
    BadProof {
        /// The event's index.
        index: u64,
        /// The verifier's complaint.
        reason: String,
    },
    /// The relay could not be asked.
    #[error(transparent)]
    Link(#[from] LinkError),
}

/// One c2sp.org/tlog-proof per event of a message, each carrying the
/// disclosed event (salt and record) in its `extra` line, relative to the
/// signed checkpoint `note`. The checkpoint must open under `policy` and
/// cover every event; each inclusion proof (RFC 9162 §2.1.3) is verified
/// before it is returned.
pub async fn event_proofs(
    link: &Link,
    events: &[IndexedEvent],
    note: &str,
    policy: &LogPolicy,
) -> Result<Vec<(TlogProof, EventRecord)>, EventProofError> {
    let signed = policy.open(note.as_bytes()).map_err(|e| {
        EventProofError::Checkpoint(explain_checkpoint_error(&e, note.as_bytes(), policy))
    })?;
    let size = signed.checkpoint().size();
    let mut out = Vec::with_capacity(events.len());
    for ev in events {
        let index = ev.index;
        if index >= size {
            return Err(EventProofError::NotCovered { index, size });
        }
        let malformed = |reason: String| EventProofError::Malformed { index, reason };
        let d = DisclosedEvent::decode(&ev.event).map_err(|e| malformed(e.to_string()))?;
        let record = d.decode_record().map_err(|e| malformed(e.to_string()))?;
        let proof = link.inclusion(LogId::Events, index, size).await?;
        let bad = |reason: String| EventProofError::BadProof { index, reason };
        let bundle_proof = TlogProof::new(index, proof, note)
            .and_then(|p| p.with_extra(ev.event.clone()))
            .map_err(|e| bad(e.to_string()))?;
        bundle_proof
            .verify(&d.leaf_hash(), policy)
            .map_err(|e| bad(e.to_string()))?;
        out.push((bundle_proof, record));
    }
    Ok(out)
}
