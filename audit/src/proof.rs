//! Per-event proof bundles.

use anyhow::Result;
use liaison_protocol::PublicKey;
use liaison_protocol::codec::Wire;
use liaison_protocol::frames::LogId;
use liaison_protocol::log::event::{DirectoryEntry, DisclosedEvent, EventKind, EventRecord};
use liaison_protocol::log::{
    Checkpoint, CheckpointError, Note, SignedCheckpoint, TlogProof, leaf_hash,
};

use liaison_protocol::log::explain_checkpoint_error;

use crate::*;

/// The leaf a proof bundle discloses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisclosedLeaf {
    /// An event-log record and the salt of its commitment.
    Event {
        /// The salt.
        salt: [u8; 32],
        /// The record.
        record: EventRecord,
    },
    /// A directory-log entry.
    Directory(DirectoryEntry),
}

/// A proof bundle that verified.
#[derive(Debug, Clone)]
pub struct VerifiedProof {
    /// Which log.
    pub log: LogId,
    /// The verified checkpoint.
    pub checkpoint: SignedCheckpoint,
    /// The leaf index.
    pub index: u64,
    /// The disclosed leaf.
    pub leaf: DisclosedLeaf,
}

/// Verify a c2sp.org/tlog-proof bundle whose `extra` line carries the leaf:
/// the encoded `DisclosedEvent` (salt and record) for the event log, the
/// encoded `DirectoryEntry` for the directory log. The checkpoint must open
/// under the pinned policy of the log its origin names, the extra data must
/// be canonical, an event record's sequence number must be the proof's index,
/// and the leaf must be included at that index (RFC 9162 §2.1.3.2).
pub fn verify_proof_bundle(bytes: &[u8], trust: &Trust) -> Result<VerifiedProof, String> {
    let proof = TlogProof::parse(bytes).map_err(|e| format!("not a valid tlog-proof: {e}"))?;
    let note = Note::parse(proof.signed_checkpoint().as_bytes())
        .map_err(|e| format!("embedded checkpoint: {e}"))?;
    let cp = Checkpoint::from_text(note.text()).map_err(|e| format!("embedded checkpoint: {e}"))?;
    let (log, policy) = trust.policy_for_origin(cp.origin()).ok_or_else(|| {
        format!(
            "the checkpoint's origin {} matches no pinned log key (pinned: {})",
            cp.origin(),
            trust.describe()
        )
    })?;
    let extra = proof.extra().ok_or_else(|| {
        "the bundle has no `extra` line carrying the entry, so its leaf cannot be checked"
            .to_owned()
    })?;
    let (leaf_hash_value, leaf) = match log {
        LogId::Events => {
            let d = DisclosedEvent::decode(extra)
                .map_err(|e| format!("extra data is not a disclosed event: {e}"))?;
            if d.encode() != extra {
                return Err("extra data: byte-level re-encoding differs".into());
            }
            let record = d
                .decode_record()
                .map_err(|e| format!("the disclosed event record does not decode: {e}"))?;
            if record.encode() != d.record {
                return Err("the event record's byte-level re-encoding differs".into());
            }
            if record.seq != proof.index() {
                return Err(format!(
                    "the record says sequence number {} but the proof is for index {}",
                    record.seq,
                    proof.index()
                ));
            }
            (
                d.leaf_hash(),
                DisclosedLeaf::Event {
                    salt: d.salt,
                    record,
                },
            )
        }
        LogId::Directory => {
            let entry = DirectoryEntry::decode(extra)
                .map_err(|e| format!("extra data is not a directory entry: {e}"))?;
            if entry.encode() != extra {
                return Err("extra data: byte-level re-encoding differs".into());
            }
            (leaf_hash(extra), DisclosedLeaf::Directory(entry))
        }
    };
    let checkpoint = proof.verify(&leaf_hash_value, policy).map_err(|e| match e {
        CheckpointError::Proof(p) => format!(
            "the inclusion proof does not verify: the entry is not leaf {} of the checkpoint of \
             size {} ({p})",
            proof.index(),
            cp.size()
        ),
        other => format!(
            "checkpoint: {}",
            explain_checkpoint_error(&other, proof.signed_checkpoint().as_bytes(), policy)
        ),
    })?;
    Ok(VerifiedProof {
        log,
        checkpoint,
        index: proof.index(),
        leaf,
    })
}

pub(crate) fn short(k: &PublicKey) -> String {
    k.to_hex()
}

/// One line describing an event record.
pub fn describe_event(r: &EventRecord) -> String {
    let at = r.time.to_rfc3339();
    match &r.kind {
        EventKind::Accepted {
            message_id,
            sender_device,
            recipient_devices,
            bytes,
        } => format!(
            "seq {} at {at}: message {message_id} accepted from device {} for {} device(s) [{}], \
             {bytes} bytes",
            r.seq,
            short(sender_device),
            recipient_devices.len(),
            recipient_devices
                .iter()
                .map(short)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        EventKind::Declared {
            message_id,
            refers_to,
            kind,
            by_device,
            ..
        } => format!(
            "seq {} at {at}: message {message_id} from device {} declared a {} about message {refers_to}",
            r.seq,
            short(by_device),
            kind.name()
        ),
        EventKind::Delivered {
            message_id,
            recipient_device,
        } => format!(
            "seq {} at {at}: message {message_id} delivered to device {}",
            r.seq,
            short(recipient_device)
        ),
        EventKind::Acknowledged {
            message_id,
            recipient_device,
        } => format!(
            "seq {} at {at}: message {message_id} acknowledged by device {}",
            r.seq,
            short(recipient_device)
        ),
        EventKind::Dropped {
            message_id,
            recipient_device,
            reason,
        } => format!(
            "seq {} at {at}: message {message_id} dropped for device {} ({})",
            r.seq,
            short(recipient_device),
            reason.escape_debug()
        ),
    }
}

/// One line describing a directory entry.
pub fn describe_directory_entry(e: &DirectoryEntry) -> String {
    match e {
        DirectoryEntry::Authority(s) => match s.decode_unverified() {
            Ok(c) => format!(
                "authority certificate for {} ({}), key {}, serial {}{}",
                c.country,
                c.name.escape_debug(),
                c.key.fingerprint(),
                c.serial,
                if c.revoked { ", REVOKED" } else { "" }
            ),
            Err(_) => "authority certificate (undecodable body)".into(),
        },
        DirectoryEntry::Record(s) => match s.decode_unverified() {
            Ok(r) => format!(
                "focal point record {} version {} ({}), identity {}, {} device(s), signed by {}",
                r.id,
                r.version,
                r.name.escape_debug(),
                r.identity_key.fingerprint(),
                r.devices.len(),
                s.signer().fingerprint()
            ),
            Err(_) => "focal point record (undecodable body)".into(),
        },
        DirectoryEntry::Role(s) => match s.decode_unverified() {
            Ok(r) => format!(
                "role {} version {} ({}), holders [{}], signed by {}",
                r.id,
                r.version,
                r.name.escape_debug(),
                r.holders
                    .iter()
                    .map(|h| h.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                s.signer().fingerprint()
            ),
            Err(_) => "role record (undecodable body)".into(),
        },
    }
}
