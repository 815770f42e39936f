//! What the home keeps about receipts and consent exchanges, and what
//! opening a message adds to it.

use liaison_protocol::consent::ReceiptKind;
use liaison_protocol::{MessageId, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// SHA-256 of a signed receipt, request or decision: what the relay's event
/// log declares about it.
pub fn commitment(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Where a receipt is kept: the message it is about and a prefix of its
/// commitment, so receipts of one message sort together.
pub fn receipt_key(message_id: &MessageId, signed: &[u8]) -> Vec<u8> {
    let mut k = message_id.0.to_vec();
    k.extend_from_slice(commitment(signed).get(..16).unwrap_or(&[]));
    k
}

/// How a receipt's kind is stored and shown: `delivered`, `acknowledged`,
/// `deleted`.
pub fn receipt_name(k: &ReceiptKind) -> &'static str {
    match k {
        ReceiptKind::Delivered => "delivered",
        ReceiptKind::HandlingAcknowledged { .. } => "acknowledged",
        ReceiptKind::Deleted { .. } => "deleted",
    }
}

/// A receipt held by the originator (received) or by the recipient (sent).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReceiptRecord {
    /// The signed receipt.
    pub receipt: Vec<u8>,
    /// Who signed it.
    pub by: String,
    /// The message it is about.
    pub message_id: MessageId,
    /// delivered / acknowledged / deleted.
    pub kind: String,
    /// When (signer's clock).
    pub at: Timestamp,
    /// The message that carried it.
    pub carrier: MessageId,
    /// Its Declared event is in the event log under a verified checkpoint.
    pub logged: bool,
}

/// A consent exchange about one of our messages or one we received.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConsentRecord {
    /// The request id.
    pub request_id: [u8; 16],
    /// The message concerned (the original payload's id).
    pub message_id: MessageId,
    /// The signed request, if we have it.
    pub request: Option<Vec<u8>>,
    /// The signed decision, if any.
    pub decision: Option<Vec<u8>>,
    /// Whether we asked (true) or are the originator asked (false).
    pub we_asked: bool,
}

/// What processing a received payload stores besides the message itself.
#[derive(Debug, Default)]
pub struct SideEffects {
    /// Receipts to store, by key.
    pub receipts: Vec<(Vec<u8>, ReceiptRecord)>,
    /// Consent exchanges to store.
    pub consents: Vec<ConsentRecord>,
    /// The case book after a case change, to store.
    pub cases: Option<crate::core::case::CaseBook>,
    /// The request book after a request step, to store.
    pub requests: Option<crate::core::request::RequestBook>,
}
