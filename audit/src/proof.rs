//! Per-event proof bundles (c2sp.org/tlog-proof carrying the disclosed
//! entry) and one-line descriptions of log entries.

use liaison_protocol::codec::Wire;
use liaison_protocol::frames::LogId;
use liaison_protocol::log::event::{DirectoryEntry, DisclosedEvent, EventKind, EventRecord};
use liaison_protocol::log::{
    Checkpoint, CheckpointError, Note, ProofError, SignedCheckpoint, TlogProof,
    explain_checkpoint_error, leaf_hash,
};
use liaison_protocol::{DecodeError, PublicKey};

use serde::Serialize;

use crate::trust::Trust;

/// Why a proof bundle does not prove what it claims (a verdict: the tool
/// exits 1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofBundleError {
    /// Not a c2sp.org/tlog-proof.
    #[error("not a valid tlog-proof: {0}")]
    Malformed(CheckpointError),
    /// The embedded signed checkpoint does not parse.
    #[error("embedded checkpoint: {0}")]
    EmbeddedCheckpoint(CheckpointError),
    /// No pinned log key is named after the checkpoint's origin.
    #[error("the checkpoint's origin {origin} matches no pinned log key (pinned: {pinned})")]
    UnknownOrigin {
        /// The checkpoint's origin.
        origin: String,
        /// The keys that are pinned.
        pinned: String,
    },
    /// The bundle does not disclose the entry.
    #[error("the bundle has no `extra` line carrying the entry, so its leaf cannot be checked")]
    NoExtra,
    /// The extra data of an event-log proof is not a disclosed event.
    #[error("extra data is not a disclosed event: {0}")]
    NotAnEvent(DecodeError),
    /// The extra data of a directory-log proof is not a directory entry.
    #[error("extra data is not a directory entry: {0}")]
    NotADirectoryEntry(DecodeError),
    /// The extra data is not the canonical encoding of what it decodes to.
    #[error("extra data: byte-level re-encoding differs")]
    NonCanonical,
    /// The disclosed event's record does not decode.
    #[error("the disclosed event record does not decode: {0}")]
    BadRecord(DecodeError),
    /// The disclosed event's record is not canonically encoded.
    #[error("the event record's byte-level re-encoding differs")]
    NonCanonicalRecord,
    /// The record claims another position than the proof.
    #[error("the record says sequence number {seq} but the proof is for index {index}")]
    WrongIndex {
        /// The record's sequence number.
        seq: u64,
        /// The proof's leaf index.
        index: u64,
    },
    /// The entry is not the leaf at the proof's index (RFC 9162 §2.1.3.2).
    #[error(
        "the inclusion proof does not verify: the entry is not leaf {index} of the checkpoint of \
         size {size} ({error})"
    )]
    NotIncluded {
        /// The proof's leaf index.
        index: u64,
        /// The checkpoint's size.
        size: u64,
        /// What the verifier said.
        error: ProofError,
    },
    /// The checkpoint does not open under the pinned policy.
    #[error("checkpoint: {reason}")]
    Checkpoint {
        /// Why, explained.
        reason: String,
    },
}

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

/// What `liaison-audit verify-proof` shows about a proof bundle that
/// verified (its `--json` output, field for field).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProofSummary {
    /// Always `true`: only a verified bundle has a summary.
    pub verified: bool,
    /// The log's name.
    pub log: &'static str,
    /// The checkpoint's origin.
    pub origin: String,
    /// The checkpoint's size.
    pub checkpoint_size: u64,
    /// The checkpoint's root, base64.
    pub root: String,
    /// The trusted witness cosignatures on the checkpoint.
    pub cosignatures: Vec<CosignatureSummary>,
    /// The leaf index.
    pub index: u64,
    /// The event kind, or `directory-entry`.
    pub kind: &'static str,
    /// One line describing the leaf.
    pub description: String,
    /// For an event: its sequence number, time and message.
    #[serde(flatten)]
    pub event: Option<EventSummary>,
}

/// A witness cosignature, as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CosignatureSummary {
    /// The witness's name.
    pub witness: String,
    /// When it cosigned (seconds since the epoch).
    pub timestamp: u64,
}

/// The event-specific part of a [`ProofSummary`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventSummary {
    /// The record's sequence number.
    pub seq: u64,
    /// The relay's time, RFC 3339.
    pub time: String,
    /// The message the event is about, hex.
    pub message_id: String,
}

impl VerifiedProof {
    /// What to show about it.
    pub fn summary(&self) -> ProofSummary {
        let cp = self.checkpoint.checkpoint();
        let (kind, description, event) = match &self.leaf {
            DisclosedLeaf::Event { record, .. } => (
                record.kind.name(),
                describe_event(record),
                Some(EventSummary {
                    seq: record.seq,
                    time: record.time.to_rfc3339(),
                    message_id: record.kind.message_id().to_hex(),
                }),
            ),
            DisclosedLeaf::Directory(e) => ("directory-entry", describe_directory_entry(e), None),
        };
        ProofSummary {
            verified: true,
            log: self.log.name(),
            origin: cp.origin().to_owned(),
            checkpoint_size: cp.size(),
            root: cp.root().to_base64(),
            cosignatures: self
                .checkpoint
                .cosignatures()
                .iter()
                .map(|c| CosignatureSummary {
                    witness: c.witness().to_owned(),
                    timestamp: c.timestamp(),
                })
                .collect(),
            index: self.index,
            kind,
            description,
            event,
        }
    }
}

impl ProofSummary {
    /// As JSON (keys in sorted order, as the tool has always printed them).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// As text, for people.
    pub fn render(&self) -> String {
        format!(
            "VERIFIED: leaf {} of {} (checkpoint size {}, root {}, {} trusted cosignature(s))\n{}\n",
            self.index,
            self.origin,
            self.checkpoint_size,
            self.root,
            self.cosignatures.len(),
            self.description
        )
    }
}

/// The text `verify-proof` shows for a bundle that does not verify.
pub fn render_proof_failure(file: &std::path::Path, why: &ProofBundleError) -> String {
    format!(
        "FAILED: proof bundle {}: {why}\nVERIFICATION FAILED\n",
        file.display()
    )
}

/// Verify a c2sp.org/tlog-proof bundle whose `extra` line carries the leaf:
/// the encoded `DisclosedEvent` (salt and record) for the event log, the
/// encoded `DirectoryEntry` for the directory log. The checkpoint must open
/// under the pinned policy of the log its origin names, the extra data must
/// be canonical, an event record's sequence number must be the proof's index,
/// and the leaf must be included at that index (RFC 9162 §2.1.3.2).
pub fn verify_proof_bundle(bytes: &[u8], trust: &Trust) -> Result<VerifiedProof, ProofBundleError> {
    let proof = TlogProof::parse(bytes).map_err(ProofBundleError::Malformed)?;
    let note = Note::parse(proof.signed_checkpoint().as_bytes())
        .map_err(|e| ProofBundleError::EmbeddedCheckpoint(e.into()))?;
    let cp = Checkpoint::from_text(note.text()).map_err(ProofBundleError::EmbeddedCheckpoint)?;
    let (log, policy) =
        trust
            .policy_for_origin(cp.origin())
            .ok_or_else(|| ProofBundleError::UnknownOrigin {
                origin: cp.origin().to_owned(),
                pinned: trust.describe(),
            })?;
    let extra = proof.extra().ok_or(ProofBundleError::NoExtra)?;
    let (leaf_hash_value, leaf) = match log {
        LogId::Events => {
            let d = DisclosedEvent::decode(extra).map_err(ProofBundleError::NotAnEvent)?;
            if d.encode() != extra {
                return Err(ProofBundleError::NonCanonical);
            }
            let record = d.decode_record().map_err(ProofBundleError::BadRecord)?;
            if record.encode() != d.record {
                return Err(ProofBundleError::NonCanonicalRecord);
            }
            if record.seq != proof.index() {
                return Err(ProofBundleError::WrongIndex {
                    seq: record.seq,
                    index: proof.index(),
                });
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
            let entry =
                DirectoryEntry::decode(extra).map_err(ProofBundleError::NotADirectoryEntry)?;
            if entry.encode() != extra {
                return Err(ProofBundleError::NonCanonical);
            }
            (leaf_hash(extra), DisclosedLeaf::Directory(entry))
        }
    };
    let checkpoint = proof
        .verify(&leaf_hash_value, policy)
        .map_err(|e| match e {
            CheckpointError::Proof(error) => ProofBundleError::NotIncluded {
                index: proof.index(),
                size: cp.size(),
                error,
            },
            other => ProofBundleError::Checkpoint {
                reason: explain_checkpoint_error(
                    &other,
                    proof.signed_checkpoint().as_bytes(),
                    policy,
                ),
            },
        })?;
    Ok(VerifiedProof {
        log,
        checkpoint,
        index: proof.index(),
        leaf,
    })
}

fn short(k: &PublicKey) -> String {
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
