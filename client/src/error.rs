//! Why an operation of the client failed.
//!
//! [`ClientError`] keeps apart what a caller acts on differently: the link
//! to the relay ([`ClientError::Link`], lost or refused at the transport)
//! and the relay refusing a request ([`ClientError::RelayRefused`], with its
//! reason); the relay caught showing another history
//! ([`ClientError::Fork`]); the home ([`ClientError::Home`]); a recipient or
//! contact ([`RecipientError`]); the handling gate ([`HandlingError`]); a
//! message or request that is not held ([`NotFound`]); a received message
//! that failed to open ([`ClientError::Open`]). Smaller parts have errors
//! of their own: [`LogError`], [`OlmError`], [`DeviceError`],
//! [`EvidenceError`].

use std::path::PathBuf;

use liaison_net::LinkError;
use liaison_protocol::bundle::BundleError;
use liaison_protocol::consent::JudicialRefusal;
use liaison_protocol::frames::WireError;
use liaison_protocol::log::CheckpointError;
use liaison_protocol::{CountryCode, DecodeError, DirectoryId, MessageId, Timestamp, VerifyError};

use crate::contacts::Change;
use crate::core::compose::ComposeError;
use crate::core::handover::HandoverError;
use crate::core::open::OpenError;
use crate::core::spelling::did_you_mean;
use crate::devices::DeviceError;
use crate::directory_log::DirectoryLogMismatch;
use crate::home::HomeError;
use crate::logs::{ForkEvidence, LogError};
use crate::olm::OlmError;

/// Why an operation of the client failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    // ----- The relay
    /// The link to the relay is down, could not be made, or the relay
    /// refused a request at the transport (see
    /// [`LinkError::is_transient`]).
    #[error(transparent)]
    Link(#[from] LinkError),
    /// An operation that needs the relay ran before `connect`.
    #[error("not connected to the relay")]
    NotConnected,
    /// The relay refused the request, saying why.
    #[error("{}", refusal_text(what, error))]
    RelayRefused {
        /// What was refused.
        what: Refused,
        /// The relay's reason.
        error: WireError,
    },
    /// The relay refused this device, and the verified directory log says
    /// why: the record revoked, replaced or out of force, or the device
    /// removed from it.
    #[error("{}", not_admitted_text(id, standing, error))]
    NotAdmitted {
        /// This focal point.
        id: DirectoryId,
        /// Where it stands in the directory log.
        standing: crate::core::directory::OwnStanding,
        /// The relay's refusal.
        error: WireError,
    },
    /// A message was kept in the outbox: the relay did not confirm it.
    #[error("message {id} not confirmed (kept in the outbox; it will be retried): {error}")]
    NotConfirmed {
        /// The message.
        id: MessageId,
        /// Why.
        error: LinkError,
    },
    /// The relay confirmed another message than the one sent.
    #[error("the relay acknowledged message {acked} when {sent} was sent; it will be sent again")]
    WrongAcknowledgement {
        /// The message sent.
        sent: MessageId,
        /// The message the relay confirmed.
        acked: MessageId,
    },
    /// No prekey could be claimed for a recipient's device.
    #[error("cannot reach device {device} of {id}: {error}")]
    PrekeyClaim {
        /// The device's fingerprint.
        device: String,
        /// Its focal point.
        id: DirectoryId,
        /// Why.
        error: LinkError,
    },
    /// The relay served a prekey of another device than the one asked for.
    #[error("the relay served a prekey of another device for {0}")]
    WrongPrekey(DirectoryId),
    /// The relay closed the push subscription.
    #[error("the relay closed the subscription (it may be restarting); run the command again")]
    SubscriptionClosed,
    /// The relay sent something else than a push on the subscription.
    #[error("unexpected frame on the subscription: {0}")]
    UnexpectedFrame(String),

    // ----- The relay's logs
    /// The relay showed a history inconsistent with the one held (a fork
    /// or a rollback); both checkpoints are kept as evidence.
    #[error(transparent)]
    Fork(#[from] ForkEvidence),
    /// A log could not be checked.
    #[error(transparent)]
    Log(#[from] LogError),
    /// The relay's directory log entries do not match the checkpoint it
    /// signed; the checkpoint and the entries are kept as evidence.
    #[error(transparent)]
    DirectoryLog(#[from] DirectoryLogMismatch),

    // ----- The home and this device
    /// The encrypted home.
    #[error(transparent)]
    Home(#[from] HomeError),
    /// The home is a new device still waiting for its approval.
    #[error(
        "this home has no identity key yet: it is a new device waiting for approval \
         (once your other device approved it, give `liaison device link` the device.approval file it wrote)"
    )]
    NotLinked,
    /// The home lacks something every home has.
    #[error("home has no {0}")]
    Incomplete(&'static str),
    /// An enrolment bundle given to `init` or `device request` is invalid.
    #[error("invalid bundle: {0}")]
    Bundle(BundleError),
    /// The bundle kept in the home is invalid.
    #[error("stored bundle is invalid: {0}")]
    StoredBundle(BundleError),
    /// The bundle's relay pins or witness quorum are unusable.
    #[error("{0}")]
    BundleSettings(BundleError),
    /// A requested id does not belong to the requested country.
    #[error(
        "id {id} must start with the lower-case country code of {country} (e.g. {}.agency.name)",
        country.as_str().to_ascii_lowercase()
    )]
    IdCountry {
        /// The id.
        id: DirectoryId,
        /// The country.
        country: CountryCode,
    },
    /// A file could not be written.
    #[error("writing {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Olm sessions of this device.
    #[error(transparent)]
    Olm(#[from] OlmError),
    /// Adding a device.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// The operating system's random generator failed.
    #[error("OS random generator failed: {0}")]
    Random(getrandom::Error),

    // ----- People
    /// A recipient or contact.
    #[error(transparent)]
    Recipient(#[from] RecipientError),

    // ----- Messages
    /// The handling gate refused.
    #[error(transparent)]
    Handling(#[from] HandlingError),
    /// A message or request is not held.
    #[error(transparent)]
    NotFound(#[from] NotFound),
    /// A case rule refused a change or a message (see `core::case`).
    #[error(transparent)]
    Case(#[from] crate::core::case::CaseError),
    /// A request rule refused a step (see `core::request`).
    #[error(transparent)]
    Request(#[from] crate::core::request::RequestError),
    /// The message was rejected on receipt: there is nothing to show.
    #[error("message {id} was rejected: {reason}")]
    Rejected {
        /// The message.
        id: MessageId,
        /// Why it was rejected.
        reason: String,
    },
    /// The message's content was destroyed when its retention ended.
    #[error("the content of {id} was destroyed on {at} (retention ended); only its hash is kept")]
    Destroyed {
        /// The message.
        id: MessageId,
        /// When.
        at: Timestamp,
    },
    /// Only a received message is replied to.
    #[error(
        "message {0} is one you sent: reply to a message you received, or continue the conversation with `send --conversation` (see `liaison send --help`)"
    )]
    ReplyToOwn(MessageId),
    /// A rejected or destroyed message cannot be forwarded.
    #[error("message {0} cannot be forwarded (rejected or destroyed)")]
    NotForwardable(MessageId),
    /// A received envelope failed to open.
    #[error(transparent)]
    Receive(#[from] ReceiveError),
    /// A received message's content was refused, or a held one no longer
    /// opens.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// A message could not be composed.
    #[error(transparent)]
    Compose(#[from] ComposeError),
    /// A role handover was refused before anything was encrypted.
    #[error(transparent)]
    Handover(#[from] HandoverError),
    /// A search query that cannot be searched for.
    #[error(transparent)]
    Search(#[from] crate::core::search::QueryError),
    /// A consent request or decision is not well formed.
    #[error("{0}")]
    Consent(&'static str),
    /// A held signed object does not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A held signed object's contents do not decode.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// Only the originator decides on a consent request.
    #[error("this is your own request; only the originator decides")]
    OwnConsentRequest,
    /// The request was decided already; a decision is final.
    #[error(
        "you already {} this request on {} (UTC); a decision once sent cannot be changed (see `liaison consent list`)",
        if *.granted { "granted" } else { "refused" },
        .at.to_rfc3339()
    )]
    ConsentDecided {
        /// Granted or refused.
        granted: bool,
        /// When.
        at: Timestamp,
    },
    /// Content was destroyed at the end of its retention, but the signed
    /// deletion records could not be sent (they are sent on a later sync).
    #[error("content destroyed, but the deletion records could not be sent yet")]
    DeletionRecords(#[source] Box<ClientError>),
    /// A judicial export.
    #[error(transparent)]
    Evidence(#[from] EvidenceError),
    /// A request to the agent was handed to the home.
    #[error("`{0}` is a request to the agent, not an operation on the home")]
    NotAHomeOperation(&'static str),
    /// An attachment's file could not be read, or written where asked.
    #[error("{what} {path}")]
    AttachmentFile {
        /// What was being done ("cannot read", "cannot write", ...).
        what: &'static str,
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be sealed as an attachment (too large).
    #[error("cannot attach {path}")]
    AttachmentSeal {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: liaison_protocol::attachment::SealError,
    },
    /// What the relay served for an attachment does not match what its
    /// sender signed (altered, reordered, truncated or swapped chunks):
    /// nothing was saved.
    #[error(
        "attachment {name:?} of message {id} does not match what its sender signed, so nothing \
         was saved"
    )]
    AttachmentRejected {
        /// The message.
        id: MessageId,
        /// The attachment's name as signed.
        name: String,
        /// Which check failed.
        #[source]
        source: liaison_protocol::attachment::AttachmentError,
    },
    /// A file the relay no longer holds for this device, of which the
    /// home keeps no copy.
    #[error(
        "the relay no longer holds {name:?} of message {id} (it deletes a file once every \
         recipient device has fetched it, or when its retention ends): if it was saved on this \
         computer with `liaison attachment save`, open that copy; otherwise ask the sender to \
         send it again"
    )]
    AttachmentGone {
        /// The message.
        id: MessageId,
        /// The file's name as signed.
        name: String,
    },
    /// A text longer than even an attachment carries for it.
    #[error(
        "the message is {len} bytes long, over the limit of {limit} bytes (about {pages} pages): \
         nothing was sent; save the text in a file and send that file attached instead"
    )]
    TextTooLong {
        /// Its length in bytes (UTF-8).
        len: usize,
        /// The limit.
        limit: usize,
        /// The limit in pages of text, roughly.
        pages: usize,
    },
    /// A file of the attachment's name is already where it would be saved.
    #[error(
        "{path} already exists; nothing was overwritten. Save into another directory with --out DIR"
    )]
    AttachmentExists {
        /// The file.
        path: String,
    },
}

impl ClientError {
    /// The relay's log inconsistency this error reports, if it is one.
    /// Whether the relay was caught showing an inconsistent log: a fork or
    /// rollback ([`ClientError::fork`]), or directory log entries that do
    /// not match its signed checkpoint.
    pub fn is_log_inconsistency(&self) -> bool {
        self.fork().is_some() || matches!(self, ClientError::DirectoryLog(_))
    }

    pub fn fork(&self) -> Option<&ForkEvidence> {
        match self {
            ClientError::Fork(f) => Some(f),
            ClientError::DeletionRecords(e) => e.fork(),
            ClientError::Evidence(EvidenceError::ReadingEvents { source, .. }) => source.fork(),
            _ => None,
        }
    }

    /// Whether the relay could not be reached (as opposed to refusing or
    /// misbehaving): trying again later may succeed.
    pub fn is_unreachable(&self) -> bool {
        match self {
            ClientError::Link(e)
            | ClientError::NotConfirmed { error: e, .. }
            | ClientError::PrekeyClaim { error: e, .. } => e.is_transient(),
            ClientError::NotConnected | ClientError::SubscriptionClosed => true,
            _ => false,
        }
    }

    /// The relay's refusal this error reports, if it is one.
    pub fn refusal(&self) -> Option<&WireError> {
        match self {
            ClientError::RelayRefused { error, .. }
            | ClientError::NotAdmitted { error, .. }
            | ClientError::Link(LinkError::Refused(error))
            | ClientError::NotConfirmed {
                error: LinkError::Refused(error),
                ..
            }
            | ClientError::PrekeyClaim {
                error: LinkError::Refused(error),
                ..
            } => Some(error),
            _ => None,
        }
    }
}

/// What the relay refused (see [`ClientError::RelayRefused`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refused {
    /// This device's login.
    Device,
    /// A checkpoint cosigned by the bundle's witness quorum.
    Checkpoint {
        /// Which log.
        log: &'static str,
        /// How many witnesses the bundle asks for.
        quorum: usize,
    },
    /// A message.
    Message(MessageId),
}

fn not_admitted_text(
    id: &DirectoryId,
    standing: &crate::core::directory::OwnStanding,
    error: &WireError,
) -> String {
    match standing {
        // A lapse: the relay says how long it keeps the queue.
        crate::core::directory::OwnStanding::NotInForce { .. } => format!(
            "{}. The relay says: {}",
            standing.describe(id),
            error.message
        ),
        _ => standing.describe(id),
    }
}

fn refusal_text(what: &Refused, error: &WireError) -> String {
    match what {
        Refused::Device => format!(
            "the relay refused this device ({}): {} — has your authority enrolled you, \
             and is this device still in the directory?",
            error.code.code(),
            error.message
        ),
        Refused::Checkpoint { log, quorum } => format!(
            "the relay has no {log} checkpoint cosigned by {quorum} trusted witness(es) yet: {}",
            error.message
        ),
        Refused::Message(id) => format!("message {id} not accepted: {error}"),
    }
}

/// Why a message accepted before a revocation or removal is still refused.
const NOT_LISTED_THEN: &str = "but no version of the record in force then listed the device it \
                               came from: it is not accepted";

/// Why a received envelope was rejected before its content was looked at
/// (what its content means is [`OpenError`]'s).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiveError {
    /// The envelope names another device.
    #[error("envelope is addressed to another device")]
    OtherDevice,
    /// The sending device's record was revoked, and the relay accepted the
    /// envelope after that (or the revocation does not say when).
    #[error(
        "sent by {id}, whose record was revoked{} (\"{reason}\"); the relay accepted this \
         message on {}, {}",
        revoked_at.map(|t| format!(" on {}", t.to_rfc3339())).unwrap_or_default(),
        accepted_at.to_rfc3339(),
        match revoked_at {
            Some(t) if accepted_at < t => NOT_LISTED_THEN,
            Some(_) => "after the revocation: it is not accepted",
            None => "and the revocation does not say when it was made, so the message cannot be \
                     judged by the record in force before",
        }
    )]
    SentAfterRevocation {
        /// The revoked focal point.
        id: DirectoryId,
        /// When it was revoked, if the revocation says.
        revoked_at: Option<Timestamp>,
        /// The reason given.
        reason: String,
        /// When the relay accepted the envelope (its clock).
        accepted_at: Timestamp,
    },
    /// The sending device was dropped from its record (removed by the
    /// authority, or the whole identity replaced), and the relay accepted
    /// the envelope after that (or the new version does not say when).
    #[error(
        "sent from a device {} {}; the relay accepted this message on {}, {}",
        if *replaced { "of an earlier identity of" } else { "that was removed from the record of" },
        id,
        accepted_at.to_rfc3339(),
        match removed_at {
            Some(t) if accepted_at < t => format!("before that change (on {}), {NOT_LISTED_THEN}", t.to_rfc3339()),
            Some(t) => format!("after that change (on {}): it is not accepted", t.to_rfc3339()),
            None => "and the record does not say when the device was dropped, so the message \
                     cannot be judged by the record in force before"
                .to_owned(),
        }
    )]
    SentAfterRemoval {
        /// The focal point.
        id: DirectoryId,
        /// Whether the identity was replaced (else one device removed).
        replaced: bool,
        /// When the device was dropped, if the new version says.
        removed_at: Option<Timestamp>,
        /// When the relay accepted the envelope (its clock).
        accepted_at: Timestamp,
    },
    /// The sending device belongs to no verified record.
    #[error("sending device {0} is not in the verified directory")]
    UnknownDevice(String),
    /// The sending device's record lacks it.
    #[error("sending device not in its owner's record")]
    DeviceNotInRecord,
    /// Decryption failed: one opaque answer whatever check failed.
    #[error("envelope failed to decrypt (altered in transit, or not for this device)")]
    Decrypt,
    /// The decrypted bytes are not a signed payload.
    #[error("decrypted payload is malformed: {0}")]
    Malformed(DecodeError),
    /// The signed payload does not verify against the sender's record.
    #[error("payload from {from} rejected: {error}")]
    Payload {
        /// The sender.
        from: DirectoryId,
        /// Why.
        error: VerifyError,
    },
}

/// A recipient or contact that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecipientError {
    /// A send without recipients.
    #[error("no recipient given")]
    NoRecipient,
    /// Neither a record nor a role of the verified directory.
    #[error(
        "unknown recipient {0}: no record or role for it in the verified directory \
         (check the id with your counterpart or their authority).{near}",
        near = did_you_mean(.1)
    )]
    Unknown(DirectoryId, Vec<DirectoryId>),
    /// The relay served an entry for the id that does not verify.
    #[error(
        "refusing to encrypt to {id}: the directory entry the relay served for it does not verify \
         ({problem}); the relay may be substituting keys — report this to your authority"
    )]
    EntryInvalid {
        /// The recipient.
        id: DirectoryId,
        /// What does not verify.
        problem: String,
    },
    /// The relay served a record for the id that is not in its signed
    /// directory log (and the log holds none in force), so it is not used.
    #[error("refusing to encrypt to {id}: {problem}")]
    NotInLog {
        /// The recipient.
        id: DirectoryId,
        /// What happened, where the evidence is and what to do.
        problem: String,
    },
    /// Revoked, expired, or a role with no active holder.
    #[error(
        "recipient {0} is not active in the directory (revoked, expired, or a role with no active holder)"
    )]
    NotActive(DirectoryId),
    /// The recipient's identity key changed and was not accepted yet.
    #[error("{}", key_changed(.0))]
    KeyChanged(DirectoryId),
    /// The id has no record in the verified directory.
    #[error(
        "{0} is not in the verified directory (run `liaison sync` first).{near}",
        near = did_you_mean(.1)
    )]
    NotInDirectory(DirectoryId, Vec<DirectoryId>),
    /// This focal point's own record is not in the directory yet.
    #[error("your record is not in the directory yet (run `liaison sync`)")]
    NotEnrolled,
    /// The safety number compared differs from ours.
    #[error(
        "the safety numbers differ: {0} is NOT verified. Do not trust this contact's key until \
         you find out why (ask their authority)."
    )]
    SafetyNumbersDiffer(DirectoryId),
    /// No contact by that id.
    #[error("no contact {0}")]
    NoContact(DirectoryId),
    /// The contact's key did not change.
    #[error("the key of {0} has not changed; nothing to accept")]
    KeyNotChanged(DirectoryId),
}

fn key_changed(id: &DirectoryId) -> Change {
    Change::KeyChanged {
        id: id.clone(),
        was_verified: false,
    }
}

/// The handling gate refused (Article 10(3): restrictions set by the
/// sender are kept).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandlingError {
    /// The handling of a received message was not acknowledged yet.
    #[error("acknowledge the handling of {0} first: liaison read {0} --accept")]
    NotAcknowledged(MessageId),
    /// A forward would loosen the handling.
    #[error("a forward may only tighten the handling: {}", .0.join("; "))]
    Loosens(Vec<String>),
    /// A reply may not loosen the handling of what it answers.
    #[error(
        "a reply may only keep or tighten the handling of the message it answers: {}; leave out --handling to keep it",
        .0.join("; ")
    )]
    ReplyLoosens(Vec<String>),
    /// Recipients outside the dissemination scope.
    #[error("forward refused: {}", .0.join("\n"))]
    ForwardRefused(Vec<String>),
    /// Judicial use is neither permitted nor consented.
    #[error("refusing to export message {id}")]
    JudicialUse {
        /// The message.
        id: MessageId,
        /// The rule that refused.
        source: JudicialRefusal,
    },
}

/// Something asked for is not held in this home.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotFound {
    /// No message by that id.
    #[error("no message {0} in this home (see `liaison inbox`)")]
    Message(MessageId),
    /// The message names no attachment.
    #[error("message {0} has no attachment")]
    Attachment(MessageId),
    /// No consent request by that id.
    #[error("no consent request {} in this home (see `liaison consent list`)", hex::encode(.0))]
    ConsentRequest([u8; 16]),
    /// No case by that id.
    #[error("no case {0} in this home (see `liaison case list`)")]
    Case(liaison_protocol::ConversationId),
    /// No request by that id.
    #[error("no request {} in this home (see `liaison request list`)", hex::encode(.0))]
    Request([u8; 16]),
    /// No message shown in a conversation by that id.
    #[error("no conversation {0} in this home (see `liaison inbox`)")]
    Conversation(liaison_protocol::ConversationId),
}

/// Why a judicial export failed, other than the handling gate (see
/// [`HandlingError::JudicialUse`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvidenceError {
    /// No case was named: evidence is exported for one case.
    #[error(
        "say which case the evidence of {0} is for: liaison export {0} --case \"...\" --out evidence.txt, with the case reference in place of the dots (a consent counts only for the case it names)"
    )]
    NoCase(MessageId),
    /// The signed payload is not held.
    #[error("message {id} cannot be exported: {reason}")]
    NotHeld {
        /// The message.
        id: MessageId,
        /// Why.
        reason: String,
    },
    /// The held payload does not decode.
    #[error("the stored payload of {id} is malformed: {error}")]
    Malformed {
        /// The message.
        id: MessageId,
        /// Why.
        error: String,
    },
    /// The message is held as a copy of another.
    #[error("message {id} is held as a copy of message {of}; export that one")]
    Copy {
        /// The message asked for.
        id: MessageId,
        /// The message it copies.
        of: MessageId,
    },
    /// Forwards are not exported.
    #[error(
        "refusing to export message {id}: it is a forward of {from}. Judicial export covers \
         original messages only: the evidence must come from the original's originator or \
         recipients, with the originator's consent"
    )]
    Forward {
        /// The forward.
        id: MessageId,
        /// What it forwards.
        from: String,
    },
    /// Handover packages are not exported.
    #[error(
        "refusing to export message {0}: it is a role handover package; export the messages \
         it carried instead"
    )]
    Handover(MessageId),
    /// The bundle's keys are unusable.
    #[error("the bundle: {0}")]
    Bundle(BundleError),
    /// The event log holds nothing about the message.
    #[error("the relay's event log holds no event of message {0}")]
    NoEvents(MessageId),
    /// The event log holds no acceptance of the message.
    #[error("the relay's event log holds no acceptance of message {0}, so it cannot be proven")]
    NoAcceptance(MessageId),
    /// The relay's events of a message could not be read.
    #[error("reading the event-log entries of message {id}")]
    ReadingEvents {
        /// The message.
        id: MessageId,
        /// Why.
        source: Box<ClientError>,
    },
    /// The relay served an event that does not decode.
    #[error("the relay sent a malformed event {0}")]
    MalformedEvent(u64),
    /// The relay served an event under another index.
    #[error("the relay's event {index} claims sequence number {seq}")]
    EventSequence {
        /// Where it was served.
        index: u64,
        /// What it claims.
        seq: u64,
    },
    /// The event proofs could not be built.
    #[error("building the event-log proofs")]
    EventProofs(#[source] liaison_net::EventProofError),
    /// The relay did not sign a checkpoint covering the entries in time.
    #[error(
        "the relay has not signed a {log} checkpoint covering entry {last} within {secs} s; \
         retry in a minute"
    )]
    NotCovered {
        /// Which log.
        log: &'static str,
        /// The entry to cover.
        last: u64,
        /// How long was waited.
        secs: u64,
    },
    /// The checkpoint held does not verify under the bundle's policy.
    #[error("the held {log} checkpoint does not verify: {error}")]
    HeldCheckpoint {
        /// Which log.
        log: &'static str,
        /// Why.
        error: CheckpointError,
    },
    /// No directory checkpoint is held yet.
    #[error("this client holds no verified directory checkpoint yet")]
    NoDirectoryCheckpoint,
    /// The relay served fewer directory entries than its checkpoint covers.
    #[error(
        "the relay served no directory entry at index {index} below its checkpoint size {size}"
    )]
    MissingEntry {
        /// The first entry missing.
        index: u64,
        /// The checkpoint's size.
        size: u64,
    },
    /// The relay served another log's entry from the directory log.
    #[error("the relay served a non-directory entry from the directory log")]
    NotADirectoryEntry,
    /// A directory entry does not decode.
    #[error("the relay's directory entry {index} is malformed: {error}")]
    MalformedEntry {
        /// Its index.
        index: u64,
        /// Why.
        error: DecodeError,
    },
    /// A record a signature needs is not in the directory log.
    #[error(
        "the directory log (up to its verified checkpoint of size {size}) holds no \
         record of {what} with identity key {key} in force at {at}; it cannot be proven"
    )]
    NoRecord {
        /// The checkpoint's size.
        size: u64,
        /// Whose record.
        what: String,
        /// The identity key's fingerprint.
        key: String,
        /// When it had to be in force.
        at: Timestamp,
    },
    /// The originator's record was not found.
    #[error("no originator record")]
    NoOriginator,
    /// The directory checkpoint does not open.
    #[error("the directory checkpoint: {0}")]
    DirectoryCheckpoint(CheckpointError),
    /// An inclusion proof could not be put together.
    #[error("directory entry {index}: cannot build a proof: {error}")]
    BuildProof {
        /// The entry.
        index: u64,
        /// Why.
        error: String,
    },
    /// The relay's inclusion proof does not verify.
    #[error("the relay's inclusion proof for directory entry {index} does not verify: {error}")]
    DirectoryInclusion {
        /// The entry.
        index: u64,
        /// Why.
        error: String,
    },
    /// The finished bundle does not verify.
    #[error("the evidence bundle for {id} does not verify, so it was not written: {error}")]
    SelfCheck {
        /// The message.
        id: MessageId,
        /// Why.
        error: String,
    },
}
