//! Canonical records of the relay's two logs and their leaf encodings.
//!
//! - The **directory log** has one leaf per published directory object
//!   (authority certificate or focal point record version): the leaf data is
//!   the canonical encoding of a [`DirectoryEntry`], so anyone holding the
//!   log can see every key a contact ever had.
//! - The **event log** has one leaf per relay event (message accepted,
//!   delivered, acknowledged, ...). Its leaf data is a *salted commitment*
//!   `SHA-256("liaison/1 event-commitment" || 0x00 || salt || record)`, so
//!   the relay can disclose one event to an auditor (record + salt + proof)
//!   without disclosing its neighbours, and a withheld record does not break
//!   the tree.
//!
//! Leaf hashes are RFC 6962 `SHA-256(0x00 || leaf data)` (see [`super::merkle`]).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::merkle::{Hash, leaf_hash};
use crate::codec::{DecodeError, Wire};
use crate::directory::{AuthorityCertificate, FocalPointRecord, RoleRecord};
use crate::ids::{MessageId, Timestamp};
use crate::keys::PublicKey;
use crate::signed::Signed;

/// One directory log leaf.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DirectoryEntry {
    /// An authority certificate signed by the network root.
    Authority(Signed<AuthorityCertificate>),
    /// A focal point record version signed by its authority.
    Record(Signed<FocalPointRecord>),
    /// A role record version signed by its authority.
    Role(Signed<RoleRecord>),
}

impl Wire for DirectoryEntry {
    const MAX_LEN: usize = 16 * 1024;
}

impl DirectoryEntry {
    /// The RFC 6962 leaf hash of this entry.
    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&self.encode())
    }
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// The relay durably accepted a message from `sender_device` for these
    /// recipient devices.
    Accepted {
        /// Message id.
        message_id: MessageId,
        /// Sending device.
        sender_device: PublicKey,
        /// Recipient devices, in envelope order.
        recipient_devices: Vec<PublicKey>,
        /// Total ciphertext bytes.
        bytes: u64,
    },
    /// The relay handed the envelope to the recipient device (first time).
    Delivered {
        /// Message id.
        message_id: MessageId,
        /// Recipient device.
        recipient_device: PublicKey,
    },
    /// The recipient device acknowledged the envelope; the relay deleted it.
    Acknowledged {
        /// Message id.
        message_id: MessageId,
        /// Recipient device.
        recipient_device: PublicKey,
    },
    /// An accountability message (receipt, consent, deletion record) about
    /// `refers_to`, accepted as message `message_id`.
    Declared {
        /// The accountability message's own id.
        message_id: MessageId,
        /// The message it is about.
        refers_to: MessageId,
        /// What it is.
        kind: Declared,
        /// SHA-256 of the signed object it carries.
        commitment: [u8; 32],
        /// The declaring device.
        by_device: PublicKey,
    },
    /// The relay dropped a queued envelope (revoked device, expiry).
    Dropped {
        /// Message id.
        message_id: MessageId,
        /// Recipient device.
        recipient_device: PublicKey,
        /// Why.
        reason: String,
    },
}

impl EventKind {
    /// The message this event is about.
    pub fn message_id(&self) -> &MessageId {
        match self {
            EventKind::Accepted { message_id, .. }
            | EventKind::Declared { message_id, .. }
            | EventKind::Delivered { message_id, .. }
            | EventKind::Acknowledged { message_id, .. }
            | EventKind::Dropped { message_id, .. } => message_id,
        }
    }

    /// A short name, for reports.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Accepted { .. } => "accepted",
            EventKind::Delivered { .. } => "delivered",
            EventKind::Acknowledged { .. } => "acknowledged",
            EventKind::Dropped { .. } => "dropped",
            EventKind::Declared { .. } => "declared",
        }
    }
}

/// Kinds of accountability messages recorded in the event log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Declared {
    /// Delivery receipt.
    DeliveryReceipt,
    /// The recipient acknowledged the handling before reading.
    HandlingAcknowledged,
    /// The recipient destroyed the content (retention ended).
    Deletion,
    /// Consent requested from the originator.
    ConsentRequest,
    /// Consent granted by the originator.
    ConsentGranted,
    /// Consent refused by the originator.
    ConsentRefused,
}

impl Declared {
    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            Declared::DeliveryReceipt => "delivery-receipt",
            Declared::HandlingAcknowledged => "handling-acknowledged",
            Declared::Deletion => "deletion",
            Declared::ConsentRequest => "consent-request",
            Declared::ConsentGranted => "consent-granted",
            Declared::ConsentRefused => "consent-refused",
        }
    }
}

/// One event-log record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Position in the event log (equals the leaf index).
    pub seq: u64,
    /// Relay time of the event.
    pub time: Timestamp,
    /// What happened.
    pub kind: EventKind,
}

impl Wire for EventRecord {
    const MAX_LEN: usize = 32 * 1024;
}

/// A disclosed event: the record and the salt of its commitment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisclosedEvent {
    /// The salt (random, chosen by the relay per event).
    pub salt: [u8; 32],
    /// The canonical encoding of the [`EventRecord`].
    pub record: Vec<u8>,
}

impl Wire for DisclosedEvent {
    const MAX_LEN: usize = EventRecord::MAX_LEN + 64;
}

/// The salted commitment that is the event log's leaf data.
pub fn event_commitment(salt: &[u8; 32], record_bytes: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"liaison/1 event-commitment\0");
    h.update(salt);
    h.update(record_bytes);
    h.finalize().into()
}

impl DisclosedEvent {
    /// Build from a record.
    pub fn new(salt: [u8; 32], record: &EventRecord) -> Self {
        DisclosedEvent {
            salt,
            record: record.encode(),
        }
    }

    /// The commitment (leaf data).
    pub fn commitment(&self) -> [u8; 32] {
        event_commitment(&self.salt, &self.record)
    }

    /// The RFC 6962 leaf hash.
    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&self.commitment())
    }

    /// Decode the record strictly.
    pub fn decode_record(&self) -> Result<EventRecord, DecodeError> {
        EventRecord::decode(&self.record)
    }
}

/// A violation of the event log's semantics found by [`check_semantics`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SemanticsError {
    /// A record's `seq` is not its position.
    #[error("entry {index}: sequence number {seq} is not its position")]
    Sequence {
        /// Leaf index.
        index: u64,
        /// Claimed sequence number.
        seq: u64,
    },
    /// Time went backwards.
    #[error("entry {index}: time {time} is before the previous entry's {previous}")]
    TimeWentBack {
        /// Leaf index.
        index: u64,
        /// This entry's time.
        time: Timestamp,
        /// The previous entry's time.
        previous: Timestamp,
    },
    /// A delivery, acknowledgement or drop for a message never accepted, or
    /// for a device that was not a recipient.
    #[error("entry {index}: {kind} of message {message} to a device with no earlier acceptance")]
    WithoutAcceptance {
        /// Leaf index.
        index: u64,
        /// Event name.
        kind: &'static str,
        /// Message id.
        message: MessageId,
    },
    /// An accountability message about a message never accepted.
    #[error("entry {index}: declaration about message {refers_to}, which was never accepted")]
    DeclarationWithoutMessage {
        /// Leaf index.
        index: u64,
        /// The message referred to.
        refers_to: MessageId,
    },
    /// A message accepted twice.
    #[error("entry {index}: message {message} accepted twice")]
    DuplicateAcceptance {
        /// Leaf index.
        index: u64,
        /// Message id.
        message: MessageId,
    },
}

/// Check a complete, in-order run of event records starting at index 0:
/// dense sequence numbers, monotonic time, no delivery, acknowledgement or
/// drop without an earlier acceptance naming that device, no acceptance twice.
pub fn check_semantics(records: &[EventRecord]) -> Result<(), SemanticsError> {
    use std::collections::{BTreeMap, BTreeSet};
    let mut accepted: BTreeMap<MessageId, BTreeSet<PublicKey>> = BTreeMap::new();
    let mut previous = Timestamp(0);
    for (i, r) in records.iter().enumerate() {
        let index = i as u64;
        if r.seq != index {
            return Err(SemanticsError::Sequence { index, seq: r.seq });
        }
        if r.time < previous {
            return Err(SemanticsError::TimeWentBack {
                index,
                time: r.time,
                previous,
            });
        }
        previous = r.time;
        match &r.kind {
            EventKind::Accepted {
                message_id,
                recipient_devices,
                ..
            } => {
                if accepted
                    .insert(*message_id, recipient_devices.iter().copied().collect())
                    .is_some()
                {
                    return Err(SemanticsError::DuplicateAcceptance {
                        index,
                        message: *message_id,
                    });
                }
            }
            EventKind::Declared {
                message_id,
                refers_to,
                ..
            } => {
                if !accepted.contains_key(message_id) {
                    return Err(SemanticsError::WithoutAcceptance {
                        index,
                        kind: r.kind.name(),
                        message: *message_id,
                    });
                }
                if !accepted.contains_key(refers_to) {
                    return Err(SemanticsError::DeclarationWithoutMessage {
                        index,
                        refers_to: *refers_to,
                    });
                }
            }
            EventKind::Delivered {
                message_id,
                recipient_device,
            }
            | EventKind::Acknowledged {
                message_id,
                recipient_device,
            }
            | EventKind::Dropped {
                message_id,
                recipient_device,
                ..
            } => {
                let ok = accepted
                    .get(message_id)
                    .is_some_and(|devs| devs.contains(recipient_device));
                if !ok {
                    return Err(SemanticsError::WithoutAcceptance {
                        index,
                        kind: r.kind.name(),
                        message: *message_id,
                    });
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(seq: u64, time: u64, kind: EventKind) -> EventRecord {
        EventRecord {
            seq,
            time: Timestamp(time),
            kind,
        }
    }

    fn accepted(m: u8, to: u8) -> EventKind {
        EventKind::Accepted {
            message_id: MessageId([m; 16]),
            sender_device: PublicKey([1; 32]),
            recipient_devices: vec![PublicKey([to; 32])],
            bytes: 100,
        }
    }

    fn delivered(m: u8, to: u8) -> EventKind {
        EventKind::Delivered {
            message_id: MessageId([m; 16]),
            recipient_device: PublicKey([to; 32]),
        }
    }

    #[test]
    fn commitments_hide_and_bind() {
        let r = rec(0, 5, accepted(1, 2));
        let a = DisclosedEvent::new([1; 32], &r);
        let b = DisclosedEvent::new([2; 32], &r);
        assert_ne!(a.commitment(), b.commitment());
        assert_eq!(a.decode_record(), Ok(r));
        let mut c = a.clone();
        c.record[3] ^= 1;
        assert_ne!(a.leaf_hash(), c.leaf_hash());
    }

    #[test]
    fn semantics() {
        let good = vec![
            rec(0, 1, accepted(1, 2)),
            rec(1, 1, delivered(1, 2)),
            rec(
                2,
                2,
                EventKind::Acknowledged {
                    message_id: MessageId([1; 16]),
                    recipient_device: PublicKey([2; 32]),
                },
            ),
        ];
        assert_eq!(check_semantics(&good), Ok(()));
        let mut gap = good.clone();
        gap[1].seq = 5;
        assert!(matches!(
            check_semantics(&gap),
            Err(SemanticsError::Sequence { .. })
        ));
        let mut back = good.clone();
        back[2].time = Timestamp(0);
        assert!(matches!(
            check_semantics(&back),
            Err(SemanticsError::TimeWentBack { .. })
        ));
        let orphan = vec![rec(0, 1, delivered(1, 2))];
        assert!(matches!(
            check_semantics(&orphan),
            Err(SemanticsError::WithoutAcceptance { .. })
        ));
        let wrong_device = vec![rec(0, 1, accepted(1, 2)), rec(1, 1, delivered(1, 3))];
        assert!(matches!(
            check_semantics(&wrong_device),
            Err(SemanticsError::WithoutAcceptance { .. })
        ));
        let twice = vec![rec(0, 1, accepted(1, 2)), rec(1, 1, accepted(1, 2))];
        assert!(matches!(
            check_semantics(&twice),
            Err(SemanticsError::DuplicateAcceptance { .. })
        ));
    }
}
