//! Typed calls: each sends one request and returns the one response kind it
//! asks for, so callers never match on "any other answer" themselves.

use liaison_protocol::directory::{AuthorityCertificate, FocalPointRecord, RoleRecord};
use liaison_protocol::frames::{IndexedEvent, LogEntry, LogId, Queued, Request, Response};
use liaison_protocol::log::Hash;
use liaison_protocol::message::Prekey;
use liaison_protocol::{MessageId, Signed};

use crate::link::{Link, LinkError};

/// The directory as served by the relay (unverified).
pub type Directory = (
    Vec<Signed<AuthorityCertificate>>,
    Vec<Signed<FocalPointRecord>>,
    Vec<Signed<RoleRecord>>,
);

/// The logged events of one message, in log order.
pub type MessageEvents = Vec<IndexedEvent>;

impl Link {
    /// The newest signed checkpoint note of `log` carrying at least
    /// `min_cosignatures` witness cosignatures (unverified text).
    pub async fn checkpoint(&self, log: LogId, min_cosignatures: u8) -> Result<String, LinkError> {
        let req = Request::GetCheckpoint {
            log,
            min_cosignatures,
        };
        self.call_expect(&req, |r| match r {
            Response::Checkpoint { note } => Ok(note),
            other => Err(other.name()),
        })
        .await
    }

    /// A consistency proof between tree sizes `old` and `new` of `log`
    /// (RFC 9162 §2.1.4), unverified.
    pub async fn consistency(
        &self,
        log: LogId,
        old: u64,
        new: u64,
    ) -> Result<Vec<Hash>, LinkError> {
        let req = Request::GetConsistency { log, old, new };
        self.proof(&req).await
    }

    /// An inclusion proof for leaf `index` in the tree of `size` leaves
    /// (RFC 9162 §2.1.3), unverified.
    pub async fn inclusion(
        &self,
        log: LogId,
        index: u64,
        size: u64,
    ) -> Result<Vec<Hash>, LinkError> {
        let req = Request::GetInclusion { log, index, size };
        self.proof(&req).await
    }

    async fn proof(&self, req: &Request) -> Result<Vec<Hash>, LinkError> {
        self.call_expect(req, |r| match r {
            Response::Proof { hashes } => Ok(hashes.into_iter().map(Hash).collect()),
            other => Err(other.name()),
        })
        .await
    }

    /// Up to `count` leaves of `log` from `start`.
    pub async fn entries(
        &self,
        log: LogId,
        start: u64,
        count: u32,
    ) -> Result<Vec<LogEntry>, LinkError> {
        let req = Request::GetEntries { log, start, count };
        self.call_expect(&req, |r| match r {
            Response::Entries { entries } => Ok(entries),
            other => Err(other.name()),
        })
        .await
    }

    /// The logged events of `message_id`.
    pub async fn message_events(&self, message_id: MessageId) -> Result<MessageEvents, LinkError> {
        let req = Request::GetMessageEvents { message_id };
        self.call_expect(&req, |r| match r {
            Response::MessageEvents { events } => Ok(events),
            other => Err(other.name()),
        })
        .await
    }

    /// The directory (authorities, records, roles), unverified.
    pub async fn directory(&self) -> Result<Directory, LinkError> {
        self.call_expect(&Request::GetDirectory, |r| match r {
            Response::Directory {
                authorities,
                records,
                roles,
            } => Ok((authorities, records, roles)),
            other => Err(other.name()),
        })
        .await
    }

    /// How many one-time prekeys the relay holds for this device, and
    /// whether it holds a fallback key.
    pub async fn prekey_count(&self) -> Result<(u32, bool), LinkError> {
        self.call_expect(&Request::PrekeyCount, |r| match r {
            Response::PrekeyCount { one_time, fallback } => Ok((one_time, fallback)),
            other => Err(other.name()),
        })
        .await
    }

    /// Begin, or resume, uploading a sealed attachment of `size` plaintext
    /// bytes: how many chunks the relay holds (the next to send) and how
    /// many there are.
    pub async fn blob_begin(&self, blob: [u8; 32], size: u64) -> Result<(u64, u64), LinkError> {
        self.blob_progress(&Request::BlobBegin { blob, size }).await
    }

    /// Upload sealed chunk `index`; answers like [`Link::blob_begin`].
    pub async fn blob_chunk(
        &self,
        blob: [u8; 32],
        index: u64,
        chunk: Vec<u8>,
    ) -> Result<(u64, u64), LinkError> {
        self.blob_progress(&Request::BlobChunk { blob, index, chunk })
            .await
    }

    async fn blob_progress(&self, req: &Request) -> Result<(u64, u64), LinkError> {
        self.call_expect(req, |r| match r {
            Response::BlobProgress { confirmed, chunks } => Ok((confirmed, chunks)),
            other => Err(other.name()),
        })
        .await
    }

    /// Let the recipient devices of `message_id` (sent by this device)
    /// fetch a blob this device uploaded.
    pub async fn blob_grant(&self, blob: [u8; 32], message_id: MessageId) -> Result<(), LinkError> {
        self.call_ok(&Request::BlobGrant { blob, message_id }).await
    }

    /// Sealed chunks of a blob from `start`: at most `count`, fewer when the
    /// frame limit or the end of the blob comes first (none past the end).
    pub async fn blob_fetch(
        &self,
        blob: [u8; 32],
        start: u64,
        count: u32,
    ) -> Result<Vec<Vec<u8>>, LinkError> {
        let req = Request::BlobFetch { blob, start, count };
        self.call_expect(&req, |r| match r {
            Response::BlobChunks { start: s, chunks } if s == start => Ok(chunks),
            other => Err(other.name()),
        })
        .await
    }

    /// Send `req` and expect a plain `Ok`.
    pub async fn call_ok(&self, req: &Request) -> Result<(), LinkError> {
        self.call_expect(req, |r| match r {
            Response::Ok => Ok(()),
            other => Err(other.name()),
        })
        .await
    }

    /// Claim one prekey (`req` is a [`Request::ClaimPrekey`]).
    pub async fn claim_prekey(&self, req: &Request) -> Result<Prekey, LinkError> {
        self.call_expect(req, |r| match r {
            Response::Prekey(p) => Ok(p),
            other => Err(other.name()),
        })
        .await
    }

    /// Submit a message (`req` is a [`Request::Send`]); returns the id the
    /// relay accepted and whether it had already accepted it (a retry).
    pub async fn submit(&self, req: &Request) -> Result<(MessageId, bool), LinkError> {
        self.call_expect(req, |r| match r {
            Response::Accepted {
                message_id,
                duplicate,
            } => Ok((message_id, duplicate)),
            other => Err(other.name()),
        })
        .await
    }

    /// Up to `limit` queued envelopes after sequence number `after`, and
    /// whether more are waiting.
    pub async fn fetch(&self, after: u64, limit: u32) -> Result<(Vec<Queued>, bool), LinkError> {
        let req = Request::Fetch { after, limit };
        self.call_expect(&req, |r| match r {
            Response::Messages { items, more } => Ok((items, more)),
            other => Err(other.name()),
        })
        .await
    }
}
