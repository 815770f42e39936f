//! The relay protocol: request and response frames and error codes.
//!
//! Transport: QUIC with ALPN [`ALPN`]. Every request opens its own
//! bidirectional stream carrying one length-prefixed [`Request`] frame; the
//! relay answers on the same stream with one [`Response`] frame (or, for
//! [`Request::Subscribe`], a sequence of [`Response::Push`] frames until the
//! connection ends). A frame is a 4-byte big-endian length followed by the
//! [`Wire`] encoding of the value. Lengths above the negotiated maximum are
//! refused before any allocation.

use serde::{Deserialize, Serialize};

use crate::codec::{DecodeError, Wire};
use crate::directory::{AuthorityCertificate, FocalPointRecord, RoleRecord};
use crate::ids::{DirectoryId, MessageId};
use crate::keys::{PublicKey, Signature};
use crate::message::{Envelope, Prekey};
use crate::signed::Signed;

/// QUIC ALPN protocol id.
pub const ALPN: &[u8] = b"liaison/1";
/// Default maximum frame size (bytes after the length prefix).
pub const DEFAULT_MAX_FRAME: usize = 1024 * 1024;
/// Hard ceiling for any frame, whatever the configuration says.
pub const ABSOLUTE_MAX_FRAME: usize = 64 * 1024 * 1024;
/// TLS exporter label for the authentication challenge (RFC 5705 / RFC 8446 §7.5).
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-liaison/1 device-auth";
/// Signature domain for device authentication.
pub const AUTH_DOMAIN: &str = "device-auth";

/// The bytes a device signs to authenticate: the relay's nonce and the TLS
/// exporter value, so the signature is useless on any other TLS session.
pub fn auth_message(nonce: &[u8; 32], exporter: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(64);
    m.extend_from_slice(nonce);
    m.extend_from_slice(exporter);
    m
}

/// A queued envelope with the relay's per-device sequence number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queued {
    /// Per-device sequence number, used to acknowledge.
    pub seq: u64,
    /// When the relay accepted it (relay clock, ms).
    pub accepted_at: u64,
    /// The envelope.
    pub envelope: Envelope,
}

/// Client → relay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Ask for an authentication nonce.
    Challenge,
    /// Prove possession of a device key (signature over [`auth_message`]).
    Authenticate {
        /// The device's Ed25519 key.
        device: PublicKey,
        /// Signature for [`AUTH_DOMAIN`].
        signature: Signature,
    },
    /// Liveness check; allowed before authentication.
    Ping,
    /// Fetch every authority certificate and latest focal point record.
    GetDirectory,
    /// Publish an authority certificate (must be signed by the network root).
    PublishAuthority(Signed<AuthorityCertificate>),
    /// Publish a focal point record (must be signed by a certified authority
    /// of the record's country), with initial prekeys.
    PublishRecord {
        /// The record.
        record: Signed<FocalPointRecord>,
        /// Initial prekeys of its devices.
        prekeys: Vec<Prekey>,
    },
    /// Publish a role record (must be signed by a certified authority of the
    /// role's country).
    PublishRole(Signed<RoleRecord>),
    /// Upload prekeys for the authenticated device.
    UploadPrekeys(Vec<Prekey>),
    /// How many unclaimed one-time keys the relay holds for this device.
    PrekeyCount,
    /// Claim one prekey of `device` (a one-time key if any is left, otherwise
    /// the fallback key).
    ClaimPrekey {
        /// Target device.
        device: PublicKey,
    },
    /// Submit one message as envelopes for recipient devices. Answered with
    /// [`Response::Accepted`] only after a durable commit.
    Send {
        /// The message id shared by all envelopes.
        message_id: MessageId,
        /// One envelope per recipient device.
        envelopes: Vec<Envelope>,
        /// For accountability messages (receipts, consents, deletion
        /// records): what the relay should record in its event log, in the
        /// same commit (at most [`MAX_DECLARATIONS`]). The relay cannot read the message; the commitment
        /// lets the originator check the logged event is this message.
        declare: Vec<Declaration>,
    },
    /// Fetch queued envelopes for the authenticated device.
    Fetch {
        /// Only envelopes with a sequence number above this.
        after: u64,
        /// At most this many.
        limit: u32,
    },
    /// Acknowledge (and delete) queued envelopes.
    Ack {
        /// Sequence numbers.
        seqs: Vec<u64>,
    },
    /// Keep this stream open and push new envelopes as they arrive.
    Subscribe,
    /// The latest signed checkpoint of a log (C2SP signed note text, with
    /// any witness cosignatures). Allowed before authentication.
    GetCheckpoint {
        /// Which log.
        log: LogId,
        /// Only a checkpoint carrying at least this many witness
        /// cosignatures (0: the newest).
        min_cosignatures: u8,
    },
    /// A consistency proof between two tree sizes (RFC 9162 §2.1.4).
    GetConsistency {
        /// Which log.
        log: LogId,
        /// Older size.
        old: u64,
        /// Newer size.
        new: u64,
    },
    /// An inclusion proof for one leaf (RFC 9162 §2.1.3).
    GetInclusion {
        /// Which log.
        log: LogId,
        /// Leaf index.
        index: u64,
        /// Tree size the proof is for.
        size: u64,
    },
    /// Leaves of a log. Directory entries are public to authenticated
    /// parties; event records (salt and record) only to auditors, everyone
    /// else gets the commitments.
    GetEntries {
        /// Which log.
        log: LogId,
        /// First index.
        start: u64,
        /// Most entries to return.
        count: u32,
    },
    /// The event-log entries of one message, disclosed to its sender and
    /// recipients (and auditors).
    GetMessageEvents {
        /// The message.
        message_id: MessageId,
    },
    /// A witness cosignature for a checkpoint the relay signed.
    AddCosignature {
        /// Which log.
        log: LogId,
        /// The cosigned checkpoint as a signed note (the relay's signature
        /// and the witness's cosignature line).
        note: String,
    },
    /// Start, or resume, uploading a sealed attachment
    /// ([`crate::attachment`]). The relay checks its size limit and the
    /// uploader's quota before accepting any chunk, and answers with
    /// [`Response::BlobProgress`]: how many chunks it already holds, so an
    /// upload cut short resumes from there.
    BlobBegin {
        /// The blob id the sender drew (it goes into the `AttachmentRef`).
        blob: [u8; 32],
        /// Plaintext size in bytes; the relay derives the chunk count and
        /// each chunk's sealed length from it.
        size: u64,
    },
    /// One sealed chunk of a blob begun with [`Request::BlobBegin`], in
    /// order: `index` must be the number of chunks confirmed (the next one)
    /// or below it (a chunk sent again after a lost answer, which changes
    /// nothing). Answered with [`Response::BlobProgress`] once durable.
    ///
    /// A chunk may also be sent, on a stream of its own, before the ones
    /// before it are confirmed: a relay since the release that added this
    /// waits a short time for them and commits the chunks that arrived
    /// together in one transaction, answering each once it is durable; a
    /// chunk whose predecessors do not come, and with an earlier relay any
    /// chunk ahead, is refused with [`ErrorCode::Malformed`] and the count
    /// to resume from, and changes nothing. A client then goes on one chunk
    /// at a time. The frame itself is unchanged.
    BlobChunk {
        /// The blob.
        blob: [u8; 32],
        /// Position of the chunk, from 0.
        index: u64,
        /// The sealed chunk.
        #[serde(with = "crate::codec::byte_vec")]
        chunk: Vec<u8>,
    },
    /// Let the recipient devices of `message_id` (a message this device sent
    /// through this relay) fetch a complete blob this device uploaded. A
    /// grant given twice changes nothing.
    BlobGrant {
        /// The blob.
        blob: [u8; 32],
        /// The message whose payload names it.
        message_id: MessageId,
    },
    /// Sealed chunks `[start, start + count)` of a complete blob (fewer if
    /// the frame limit or the end of the blob comes first); only for its
    /// uploader and the devices a grant names.
    BlobFetch {
        /// The blob.
        blob: [u8; 32],
        /// First chunk.
        start: u64,
        /// Most chunks to return.
        count: u32,
    },
}

/// Most declarations in one Send.
pub const MAX_DECLARATIONS: usize = 1024;

/// What an accountability message declares, for the event log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Declaration {
    /// What kind of accountability message this is.
    pub kind: crate::log::event::Declared,
    /// The message it is about: one the declaring device sent or was sent
    /// through this relay.
    pub refers_to: MessageId,
    /// SHA-256 of the signed receipt, request or decision it carries.
    pub commitment: [u8; 32],
}

/// The relay's two transparency logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum LogId {
    /// Every directory object version (key transparency).
    Directory,
    /// Relay events as salted commitments.
    Events,
}

impl LogId {
    /// Both logs.
    pub const ALL: [LogId; 2] = [LogId::Directory, LogId::Events];

    /// Short name, used in origins and file names.
    pub fn name(self) -> &'static str {
        match self {
            LogId::Directory => "directory",
            LogId::Events => "events",
        }
    }

    /// Parse [`LogId::name`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "directory" => Some(LogId::Directory),
            "events" => Some(LogId::Events),
            _ => None,
        }
    }
}

/// One leaf as served by [`Request::GetEntries`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogEntry {
    /// A directory log entry (encoded `DirectoryEntry`).
    Directory(Vec<u8>),
    /// A disclosed event (encoded `DisclosedEvent`: salt and record).
    Event(Vec<u8>),
    /// An undisclosed event: only its 32-byte commitment (the leaf data).
    Commitment([u8; 32]),
}

/// An event with its position, as served by [`Request::GetMessageEvents`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexedEvent {
    /// Leaf index in the event log.
    pub index: u64,
    /// Encoded `DisclosedEvent`.
    pub event: Vec<u8>,
}

impl Request {
    /// The variant's name, for diagnostics (never its contents, which may
    /// carry ciphertext or key material).
    pub fn name(&self) -> &'static str {
        match self {
            Request::Challenge => "Challenge",
            Request::Authenticate { .. } => "Authenticate",
            Request::Ping => "Ping",
            Request::GetDirectory => "GetDirectory",
            Request::PublishAuthority { .. } => "PublishAuthority",
            Request::PublishRecord { .. } => "PublishRecord",
            Request::PublishRole { .. } => "PublishRole",
            Request::UploadPrekeys { .. } => "UploadPrekeys",
            Request::PrekeyCount => "PrekeyCount",
            Request::ClaimPrekey { .. } => "ClaimPrekey",
            Request::Send { .. } => "Send",
            Request::Fetch { .. } => "Fetch",
            Request::Ack { .. } => "Ack",
            Request::Subscribe => "Subscribe",
            Request::GetCheckpoint { .. } => "GetCheckpoint",
            Request::GetConsistency { .. } => "GetConsistency",
            Request::GetInclusion { .. } => "GetInclusion",
            Request::GetEntries { .. } => "GetEntries",
            Request::GetMessageEvents { .. } => "GetMessageEvents",
            Request::AddCosignature { .. } => "AddCosignature",
            Request::BlobBegin { .. } => "BlobBegin",
            Request::BlobChunk { .. } => "BlobChunk",
            Request::BlobGrant { .. } => "BlobGrant",
            Request::BlobFetch { .. } => "BlobFetch",
        }
    }
}

impl Wire for Request {
    const MAX_LEN: usize = ABSOLUTE_MAX_FRAME;
}

/// Relay → client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// Authentication nonce.
    Challenge {
        /// 32 random bytes.
        nonce: [u8; 32],
    },
    /// Authentication succeeded.
    Authenticated {
        /// The focal point owning the device.
        id: DirectoryId,
    },
    /// Authentication succeeded for an auditor key configured on the relay.
    AuditorAuthenticated,
    /// Authentication succeeded for a certified country authority key
    /// (it may then read the directory).
    AuthorityAuthenticated {
        /// The authority's country.
        country: crate::ids::CountryCode,
    },
    /// Generic success.
    Ok,
    /// Answer to Ping.
    Pong {
        /// Relay clock (ms since epoch), informational.
        now: u64,
    },
    /// The directory.
    Directory {
        /// Authority certificates.
        authorities: Vec<Signed<AuthorityCertificate>>,
        /// Latest record of every focal point.
        records: Vec<Signed<FocalPointRecord>>,
        /// Latest record of every role.
        roles: Vec<Signed<RoleRecord>>,
    },
    /// Unclaimed one-time keys for this device.
    PrekeyCount {
        /// Count.
        one_time: u32,
        /// Whether a fallback key is stored.
        fallback: bool,
    },
    /// A claimed prekey.
    Prekey(Prekey),
    /// The message is durably stored.
    Accepted {
        /// Its id.
        message_id: MessageId,
        /// True if the relay had already accepted this id (a retry).
        duplicate: bool,
    },
    /// Queued envelopes.
    Messages {
        /// Envelopes in sequence order.
        items: Vec<Queued>,
        /// More are waiting.
        more: bool,
    },
    /// A pushed envelope (on a Subscribe stream).
    Push(Queued),
    /// A signed checkpoint (C2SP signed note text).
    Checkpoint {
        /// The note.
        note: String,
    },
    /// Proof hashes (inclusion or consistency).
    Proof {
        /// Hashes, in RFC 9162 order.
        hashes: Vec<[u8; 32]>,
    },
    /// Log leaves, from the requested start.
    Entries {
        /// Entries in index order.
        entries: Vec<LogEntry>,
    },
    /// Events of one message.
    MessageEvents {
        /// Events in log order.
        events: Vec<IndexedEvent>,
    },
    /// The request was refused.
    Error(WireError),
    /// How far the upload of a blob got.
    BlobProgress {
        /// Chunks the relay holds durably, from the first: the next chunk to
        /// send is this one.
        confirmed: u64,
        /// Chunks the blob has in all.
        chunks: u64,
    },
    /// Sealed chunks of a blob.
    BlobChunks {
        /// Index of the first chunk.
        start: u64,
        /// The chunks, in order.
        #[serde(with = "crate::codec::byte_vecs")]
        chunks: Vec<Vec<u8>>,
    },
}

impl Response {
    /// The variant's name, for diagnostics (never its contents, which may
    /// carry ciphertext or key material).
    pub fn name(&self) -> &'static str {
        match self {
            Response::Challenge { .. } => "Challenge",
            Response::Authenticated { .. } => "Authenticated",
            Response::AuditorAuthenticated => "AuditorAuthenticated",
            Response::AuthorityAuthenticated { .. } => "AuthorityAuthenticated",
            Response::Ok => "Ok",
            Response::Pong { .. } => "Pong",
            Response::Directory { .. } => "Directory",
            Response::PrekeyCount { .. } => "PrekeyCount",
            Response::Prekey { .. } => "Prekey",
            Response::Accepted { .. } => "Accepted",
            Response::Messages { .. } => "Messages",
            Response::Push { .. } => "Push",
            Response::Checkpoint { .. } => "Checkpoint",
            Response::Proof { .. } => "Proof",
            Response::Entries { .. } => "Entries",
            Response::MessageEvents { .. } => "MessageEvents",
            Response::Error { .. } => "Error",
            Response::BlobProgress { .. } => "BlobProgress",
            Response::BlobChunks { .. } => "BlobChunks",
        }
    }
}

impl Wire for Response {
    const MAX_LEN: usize = ABSOLUTE_MAX_FRAME;
}

/// Why the relay refused a request. Stable numeric codes (see
/// [`ErrorCode::code`]); every refusal carries one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The frame could not be decoded.
    Malformed,
    /// The frame exceeds the relay's frame size limit.
    FrameTooLarge,
    /// The request needs an authenticated device.
    Unauthenticated,
    /// Authentication failed (bad signature or no challenge).
    AuthFailed,
    /// The device is not in the current directory (unknown or revoked).
    UnknownDevice,
    /// A recipient device is not in the current directory.
    UnknownRecipient,
    /// The request is not allowed for this identity.
    Forbidden,
    /// A signature or signed object did not verify.
    InvalidSignature,
    /// A record or certificate is invalid (country, validity, version).
    InvalidRecord,
    /// A recipient's queue is full.
    QueueFull,
    /// The message exceeds the size limit.
    MessageTooLarge,
    /// Too many envelopes in one message.
    TooManyEnvelopes,
    /// Rate limit exceeded; retry later.
    RateLimited,
    /// No prekey is available for the device.
    NoPrekey,
    /// Too many connections.
    TooManyConnections,
    /// The relay is shutting down; reconnect later.
    ShuttingDown,
    /// The relay failed internally (for example its disk is full); retry.
    Internal,
    /// A stale version: a newer record is already published.
    StaleVersion,
    /// A log index or size is out of range, or the checkpoint asked for
    /// does not exist yet.
    NotFound,
    /// An attachment is larger than the relay's size limit (the message
    /// states the limit). Sending it again will not help.
    BlobTooLarge,
    /// The uploader's attachment quota is used up; nothing already accepted
    /// is lost, and the upload may be retried once space is freed.
    QuotaExceeded,
}

impl ErrorCode {
    /// Stable numeric code.
    pub fn code(self) -> u16 {
        match self {
            ErrorCode::Malformed => 400,
            ErrorCode::FrameTooLarge => 413,
            ErrorCode::Unauthenticated => 401,
            ErrorCode::AuthFailed => 403,
            ErrorCode::UnknownDevice => 404,
            ErrorCode::UnknownRecipient => 410,
            ErrorCode::Forbidden => 405,
            ErrorCode::InvalidSignature => 422,
            ErrorCode::InvalidRecord => 423,
            ErrorCode::QueueFull => 507,
            ErrorCode::MessageTooLarge => 414,
            ErrorCode::TooManyEnvelopes => 415,
            ErrorCode::RateLimited => 429,
            ErrorCode::NoPrekey => 424,
            ErrorCode::TooManyConnections => 503,
            ErrorCode::ShuttingDown => 504,
            ErrorCode::Internal => 500,
            ErrorCode::StaleVersion => 409,
            ErrorCode::NotFound => 416,
            ErrorCode::BlobTooLarge => 417,
            ErrorCode::QuotaExceeded => 508,
        }
    }

    /// Whether retrying the same request later may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::QueueFull
                | ErrorCode::RateLimited
                | ErrorCode::TooManyConnections
                | ErrorCode::ShuttingDown
                | ErrorCode::Internal
                | ErrorCode::QuotaExceeded
        )
    }
}

/// An error code with a human-readable message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("relay refused ({}): {message}", code.code())]
pub struct WireError {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// What happened, for humans. Never contains secrets or payloads.
    pub message: String,
}

impl WireError {
    /// Build.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        WireError {
            code,
            message: message.into(),
        }
    }
}

/// Why a frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The declared length exceeds the limit.
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Declared length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// The stream ended inside a frame.
    #[error("truncated frame")]
    Truncated,
    /// The frame body did not decode.
    #[error("malformed frame: {0}")]
    Decode(#[from] DecodeError),
}

/// Prefix `body` with its 4-byte big-endian length.
pub fn encode_frame<T: Wire>(value: &T) -> Vec<u8> {
    let body = value.encode();
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// Read a frame length and check it against `max`.
pub fn frame_len(header: [u8; 4], max: usize) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(header) as usize;
    if len > max.min(ABSOLUTE_MAX_FRAME) {
        return Err(FrameError::TooLarge { len, max });
    }
    Ok(len)
}

/// Decode one complete frame from `bytes` (header included), requiring that
/// nothing follows it.
pub fn decode_frame<T: Wire>(bytes: &[u8], max: usize) -> Result<T, FrameError> {
    let (header, body) = bytes
        .split_first_chunk::<4>()
        .ok_or(FrameError::Truncated)?;
    let len = frame_len(*header, max)?;
    if body.len() < len {
        return Err(FrameError::Truncated);
    }
    if body.len() > len {
        return Err(FrameError::Decode(DecodeError::TrailingBytes(
            body.len() - len,
        )));
    }
    Ok(T::decode(body)?)
}

/// Incremental frame reader for a byte stream: feed bytes, take frames.
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
    max: usize,
}

impl FrameReader {
    /// A reader refusing frames above `max` bytes.
    pub fn new(max: usize) -> Self {
        FrameReader {
            buf: Vec::new(),
            max,
        }
    }

    /// Append received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Take the next complete frame, if one is buffered.
    pub fn next_frame<T: Wire>(&mut self) -> Result<Option<T>, FrameError> {
        let Some(header) = self.buf.first_chunk::<4>() else {
            return Ok(None);
        };
        let len = frame_len(*header, self.max)?;
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        let value = T::decode(self.buf.get(4..4 + len).unwrap_or(&[]))?;
        self.buf.drain(..4 + len);
        Ok(Some(value))
    }

    /// Bytes buffered but not yet consumed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_round_trip_and_limits() {
        let f = encode_frame(&Request::Fetch {
            after: 3,
            limit: 10,
        });
        assert_eq!(
            decode_frame::<Request>(&f, 1024),
            Ok(Request::Fetch {
                after: 3,
                limit: 10
            })
        );
        assert!(matches!(
            decode_frame::<Request>(&f, 2),
            Err(FrameError::TooLarge { .. })
        ));
        assert_eq!(
            decode_frame::<Request>(&f[..f.len() - 1], 1024),
            Err(FrameError::Truncated)
        );
        let mut r = FrameReader::new(1024);
        r.push(&f[..3]);
        assert_eq!(r.next_frame::<Request>(), Ok(None));
        r.push(&f[3..]);
        r.push(&f);
        assert!(r.next_frame::<Request>().ok().flatten().is_some());
        assert!(r.next_frame::<Request>().ok().flatten().is_some());
        assert_eq!(r.buffered(), 0);
    }

    /// Frames written before the blob requests existed decode the same:
    /// the new variants come last, so older variants keep their tags.
    #[test]
    fn blob_frames_leave_older_tags_alone() {
        use crate::codec::FORMAT_VERSION as FORMAT;
        assert_eq!(Request::Ping.encode(), vec![FORMAT, 2]);
        assert_eq!(
            Request::AddCosignature {
                log: LogId::Events,
                note: String::new()
            }
            .encode(),
            vec![FORMAT, 19, 1, 0]
        );
        let begin = Request::BlobBegin {
            blob: [0; 32],
            size: 1,
        }
        .encode();
        assert_eq!(begin.get(..2), Some(&[FORMAT, 20][..]));
        assert_eq!(
            Response::Error(WireError::new(ErrorCode::Malformed, ""))
                .encode()
                .get(1),
            Some(&16)
        );
        let progress = Response::BlobProgress {
            confirmed: 1,
            chunks: 2,
        };
        assert_eq!(progress.encode(), vec![FORMAT, 17, 1, 2]);
        assert_eq!(Response::decode(&progress.encode()), Ok(progress));
    }

    #[test]
    fn oversized_length_prefix_is_refused_before_allocation() {
        let mut r = FrameReader::new(1024);
        r.push(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3]);
        assert!(matches!(
            r.next_frame::<Request>(),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn error_codes_are_unique() {
        use std::collections::HashSet;
        let all = [
            ErrorCode::Malformed,
            ErrorCode::FrameTooLarge,
            ErrorCode::Unauthenticated,
            ErrorCode::AuthFailed,
            ErrorCode::UnknownDevice,
            ErrorCode::UnknownRecipient,
            ErrorCode::Forbidden,
            ErrorCode::InvalidSignature,
            ErrorCode::InvalidRecord,
            ErrorCode::QueueFull,
            ErrorCode::MessageTooLarge,
            ErrorCode::TooManyEnvelopes,
            ErrorCode::RateLimited,
            ErrorCode::NoPrekey,
            ErrorCode::TooManyConnections,
            ErrorCode::ShuttingDown,
            ErrorCode::Internal,
            ErrorCode::StaleVersion,
            ErrorCode::NotFound,
            ErrorCode::BlobTooLarge,
            ErrorCode::QuotaExceeded,
        ];
        let codes: HashSet<u16> = all.iter().map(|c| c.code()).collect();
        assert_eq!(codes.len(), all.len());
    }
}
