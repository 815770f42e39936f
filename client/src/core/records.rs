//! What the home keeps about receipts and consent exchanges, and what
//! opening a message adds to it.

use liaison_protocol::{MessageId, Timestamp};
use serde::{Deserialize, Serialize};

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
}
