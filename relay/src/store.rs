//! Durable state behind a small trait of our own ([`Store`]), implemented on
//! redb ([`RedbStore`]).
//!
//! What is stored: authority certificates and focal point records exactly as
//! signed (every record version is kept), Olm prekeys per device, per-device
//! queues of envelopes with a sequence counter (and each sender's count in
//! each queue), the id of every accepted message (for deduplication of
//! retries) and which devices sent or were sent it (who may declare events
//! about it), when each device with a queue lapsed from the directory
//! without being revoked (so its queue is kept for a grace period, see
//! [`Store::note_lapsed`]), the sealed chunks of attachments with their
//! uploader, quota use and the devices allowed to fetch them (`store::blobs`),
//! and the two logs (`store::logs`). Nothing here is plaintext:
//! the relay only ever holds ciphertext and public keys. The store records
//! its format and migrates older stores when opened (`store::format`).
//!
//! Every mutation runs in one redb write transaction committed with
//! [`redb::Durability::Immediate`] (fsync) before it returns, so what the
//! caller acknowledges to a peer survives a crash.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use liaison_protocol::codec::{Wire, decode_versioned, encode_versioned};
use liaison_protocol::directory::{AuthorityCertificate, FocalPointRecord, RoleRecord};
use liaison_protocol::frames::{LogId, Queued};
use liaison_protocol::log::event::{DirectoryEntry, EventKind};
use liaison_protocol::log::{Hash, consistency_proof, inclusion_proof};
use liaison_protocol::message::{Envelope, MAX_CIPHERTEXT, Prekey};
use liaison_protocol::{MessageId, PublicKey, Signed, SignedBody};
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
    WriteTransaction,
};

use self::logs::{TreeHashes, log_tag};

mod blobs;
pub mod check;
mod error;
mod format;
mod logs;

pub use blobs::{BlobBegin, BlobFetch, BlobGrant, BlobProgress, BlobPut, BlobReport};
pub use error::StoreError;
pub use format::{MIGRATION_BATCH, STORE_FORMAT};

/// Records the first fatal store failure so the server can stop (and a
/// supervisor restart it) instead of refusing every request forever.
#[derive(Debug)]
pub struct StoreHealth {
    tx: tokio::sync::watch::Sender<Option<StoreError>>,
}

impl Default for StoreHealth {
    fn default() -> Self {
        StoreHealth {
            tx: tokio::sync::watch::channel(None).0,
        }
    }
}

impl StoreHealth {
    /// Note `e`; only fatal errors change anything.
    pub fn check(&self, e: &StoreError) {
        if e.is_fatal() {
            self.tx.send_if_modified(|v| {
                if v.is_none() {
                    *v = Some(e.clone());
                    true
                } else {
                    false
                }
            });
        }
    }

    /// The first fatal failure, if any.
    pub fn failure(&self) -> Option<StoreError> {
        self.tx.borrow().clone()
    }

    /// Watch for a fatal failure.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<Option<StoreError>> {
        self.tx.subscribe()
    }
}

/// Result of storing a certificate or record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PutOutcome {
    /// Stored as the new latest.
    Stored,
    /// Exactly these bytes were already stored; nothing changed.
    Unchanged,
    /// A version (or serial) at least as high is already stored.
    Stale {
        /// The stored version or serial.
        stored: u64,
    },
    /// The authority key was revoked; nothing may replace a revocation.
    Revoked,
    /// Storing the prekeys would exceed the per-device limit.
    TooManyPrekeys {
        /// The device.
        device: PublicKey,
        /// The limit.
        max: u32,
    },
}

/// Result of adding prekeys for a device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrekeyUpload {
    /// Stored; `one_time` unclaimed one-time keys are now held.
    Stored {
        /// Count after the upload.
        one_time: u32,
    },
    /// Refused: the device would hold more than `max` one-time keys.
    TooMany {
        /// Currently held.
        have: u32,
        /// The limit.
        max: u32,
    },
}

/// One message to enqueue, already validated by the caller (sender, ids,
/// recipients, sizes). Recipient devices are distinct.
#[derive(Clone, Debug)]
pub struct SendOp {
    /// The message id shared by the envelopes.
    pub message_id: MessageId,
    /// One envelope per recipient device.
    pub envelopes: Vec<Envelope>,
    /// What to record in the event log for an accountability message.
    pub declare: Vec<liaison_protocol::frames::Declaration>,
}

/// What happened to one [`SendOp`] of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// Enqueued; the queued entries (one per envelope) for notification.
    Accepted {
        /// Entries as stored.
        queued: Vec<Queued>,
    },
    /// The message id was accepted before; nothing was enqueued.
    Duplicate,
    /// The declaration refers to a message this relay never accepted.
    UnknownReference,
    /// A recipient's queue is full; nothing was enqueued.
    QueueFull {
        /// The full device.
        device: PublicKey,
    },
    /// The sending device already has its share of a recipient's queue
    /// waiting ([`QueueLimits::per_sender`]); nothing was enqueued.
    SenderShareFull {
        /// The recipient device.
        device: PublicKey,
        /// Envelopes one sender may have queued for it.
        max: u64,
    },
}

/// How much a recipient device's queue holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueLimits {
    /// Most envelopes queued for one device (all senders).
    pub depth: u64,
    /// Most envelopes one sending device may have queued for one device, so
    /// that one sender cannot fill a recipient's whole queue.
    pub per_sender: u64,
}

impl QueueLimits {
    /// A queue of `depth` envelopes that one sender may fill entirely.
    pub fn depth(depth: u64) -> Self {
        QueueLimits {
            depth,
            per_sender: depth,
        }
    }
}

/// Durable relay state. Implementations must make each call atomic and
/// durable before returning, and [`Store::commit_sends`] atomic for the whole
/// batch (all outcomes take effect together or not at all).
pub trait Store: Send + Sync + 'static {
    /// Every stored authority certificate and the latest record of every id.
    #[allow(clippy::type_complexity)]
    fn load_directory(
        &self,
    ) -> Result<
        (
            Vec<Signed<AuthorityCertificate>>,
            Vec<Signed<FocalPointRecord>>,
        ),
        StoreError,
    >;

    /// Store an authority certificate already verified against the root.
    /// A higher serial replaces a lower one; a revocation replaces anything
    /// and is final.
    fn put_authority(
        &self,
        cert: &AuthorityCertificate,
        signed: &Signed<AuthorityCertificate>,
    ) -> Result<PutOutcome, StoreError>;

    /// Store a verified record as the latest version of its id (the version
    /// must exceed the stored one), keep it in the version history, and store
    /// `prekeys` (already verified, each for a device of the record). Nothing
    /// is stored unless everything is.
    fn put_record(
        &self,
        record: &FocalPointRecord,
        signed: &Signed<FocalPointRecord>,
        prekeys: &[Prekey],
        max_one_time: u32,
    ) -> Result<PutOutcome, StoreError>;

    /// The latest stored version of every role record.
    fn load_roles(&self) -> Result<Vec<Signed<RoleRecord>>, StoreError>;

    /// Store a verified role record as the latest version of its id (the
    /// version must exceed the stored one) and log it.
    fn put_role(
        &self,
        role: &RoleRecord,
        signed: &Signed<RoleRecord>,
    ) -> Result<PutOutcome, StoreError>;

    /// Every stored version of a record, oldest first.
    fn record_history(&self, id: &str) -> Result<Vec<Signed<FocalPointRecord>>, StoreError>;

    /// Add verified prekeys of `device`. One-time keys already held are not
    /// duplicated; a fallback key replaces the previous one.
    fn add_prekeys(
        &self,
        device: &PublicKey,
        prekeys: &[Prekey],
        max_one_time: u32,
    ) -> Result<PrekeyUpload, StoreError>;

    /// Remove and return one one-time key of `device`, or return its fallback
    /// key (not removed), or `None`. A one-time key is returned at most once,
    /// ever, even under concurrent calls.
    fn claim_prekey(&self, device: &PublicKey) -> Result<Option<Prekey>, StoreError>;

    /// Unclaimed one-time keys and whether a fallback key is held.
    fn prekey_count(&self, device: &PublicKey) -> Result<(u32, bool), StoreError>;

    /// Apply a batch of sends in one durable transaction. Each op succeeds or
    /// is refused on its own (duplicate, queue full, the sender's share of a
    /// queue used up, a declaration about a message its device neither sent
    /// nor received); a storage failure fails the whole batch and stores
    /// nothing.
    fn commit_sends(
        &self,
        batch: &[SendOp],
        accepted_at: u64,
        queues: QueueLimits,
    ) -> Result<Vec<SendOutcome>, StoreError>;

    /// Queued entries of `device` with `seq > after`, in order: at most
    /// `limit` entries and, beyond the first, at most `max_bytes` of
    /// ciphertext. The flag tells whether more are waiting.
    fn fetch(
        &self,
        device: &PublicKey,
        after: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<(Vec<Queued>, bool), StoreError>;

    /// Delete entries of `device` (only its own), logging their Delivered
    /// (if not logged yet) and Acknowledged events at `at` (ms since the
    /// epoch). Unknown sequence numbers are ignored, so acknowledging twice
    /// is harmless. Returns how many were deleted.
    fn ack(&self, device: &PublicKey, seqs: &[u64], at: u64) -> Result<u64, StoreError>;

    /// The highest sequence number ever assigned for `device` (0 if none).
    fn last_seq(&self, device: &PublicKey) -> Result<u64, StoreError>;

    /// Entries currently queued for `device`.
    fn queue_depth(&self, device: &PublicKey) -> Result<u64, StoreError>;

    /// Log an Delivered event for each of `device`'s entries (by sequence
    /// number and message id) that has not been handed out before and is
    /// still queued. One durable transaction.
    fn mark_delivered(
        &self,
        device: &PublicKey,
        items: &[(u64, MessageId)],
        at: u64,
    ) -> Result<(), StoreError>;

    /// Delete every queued entry of `device` (revoked, or lapsed beyond the
    /// grace period), logging a Dropped event for each at `at` (ms since the
    /// epoch), and forget its lapse ([`Store::note_lapsed`]). Returns how
    /// many were dropped.
    fn drop_queue(&self, device: &PublicKey, reason: &str, at: u64) -> Result<u64, StoreError>;

    /// Devices with at least one queued entry.
    fn queued_devices(&self) -> Result<Vec<PublicKey>, StoreError>;

    /// Devices noted as lapsed, with when each lapse was first noted (ms
    /// since the epoch).
    fn lapsed_devices(&self) -> Result<BTreeMap<PublicKey, u64>, StoreError>;

    /// In one durable transaction: note each device of `lapsed` as lapsed
    /// since its time, unless a lapse is already noted (the first time
    /// stays), and forget the lapse of each device of `restored`.
    fn note_lapsed(
        &self,
        lapsed: &[(PublicKey, u64)],
        restored: &[PublicKey],
    ) -> Result<(), StoreError>;

    /// Size and root of a log.
    fn log_head(&self, log: LogId) -> Result<(u64, Hash), StoreError>;

    /// Stored entries `[start, start + count)` of a log (fewer at the end).
    fn log_entries(&self, log: LogId, start: u64, count: u64) -> Result<Vec<Vec<u8>>, StoreError>;

    /// Inclusion proof of leaf `index` in the tree of `size` leaves, or
    /// `None` if out of range.
    fn inclusion_proof(
        &self,
        log: LogId,
        index: u64,
        size: u64,
    ) -> Result<Option<Vec<Hash>>, StoreError>;

    /// Consistency proof between sizes `old <= new`, or `None` if out of
    /// range.
    fn consistency_proof(
        &self,
        log: LogId,
        old: u64,
        new: u64,
    ) -> Result<Option<Vec<Hash>>, StoreError>;

    /// Store (or replace, to add cosignatures) the signed checkpoint of
    /// `size`.
    fn put_checkpoint(&self, log: LogId, size: u64, note: &str) -> Result<(), StoreError>;

    /// The stored checkpoint of exactly `size`, if any.
    fn checkpoint_at(&self, log: LogId, size: u64) -> Result<Option<String>, StoreError>;

    /// Record a checkpoint that carries witness cosignatures (kept apart so
    /// the newest cosigned one is found however many were signed since).
    fn put_cosigned(&self, log: LogId, size: u64, note: &str) -> Result<(), StoreError>;

    /// The newest cosigned checkpoints, newest first, at most `limit`.
    fn recent_cosigned(&self, log: LogId, limit: usize) -> Result<Vec<(u64, String)>, StoreError>;

    /// The newest stored checkpoints, newest first, at most `limit`.
    fn recent_checkpoints(
        &self,
        log: LogId,
        limit: usize,
    ) -> Result<Vec<(u64, String)>, StoreError>;

    /// The events of one message: (index, encoded disclosed event).
    fn message_events(&self, message: &MessageId) -> Result<Vec<(u64, Vec<u8>)>, StoreError>;

    /// Begin (or resume) the upload of a sealed attachment of `size`
    /// plaintext bytes by `uploader`, reserving its whole sealed size
    /// against `owner`'s `quota` (sealed bytes) in the same transaction.
    fn blob_begin(
        &self,
        blob: &[u8; 32],
        uploader: &PublicKey,
        owner: &str,
        size: u64,
        quota: u64,
    ) -> Result<BlobBegin, StoreError>;

    /// Store chunk `index` of a blob `uploader` began: the next one, of the
    /// sealed length its position needs. A chunk already held changes
    /// nothing.
    fn blob_put_chunk(
        &self,
        blob: &[u8; 32],
        uploader: &PublicKey,
        index: u64,
        chunk: &[u8],
    ) -> Result<BlobPut, StoreError> {
        let mut outcomes = self.blob_put_chunks(blob, uploader, &[(index, chunk)])?;
        Ok(outcomes.pop().unwrap_or(BlobPut::Unknown))
    }

    /// [`Store::blob_put_chunk`] for each `(index, chunk)` of `run` in
    /// turn, in one durable transaction (one fsync): each chunk is judged
    /// after those before it in the run, so a run of consecutive chunks
    /// from the next one is stored whole. One answer per chunk, in order;
    /// a stored chunk's answer is the progress after the whole run.
    fn blob_put_chunks(
        &self,
        blob: &[u8; 32],
        uploader: &PublicKey,
        run: &[(u64, &[u8])],
    ) -> Result<Vec<BlobPut>, StoreError>;

    /// Let the recipient devices of `message` (which `uploader` sent, as
    /// its Accepted event says) fetch the complete blob.
    fn blob_grant(
        &self,
        blob: &[u8; 32],
        uploader: &PublicKey,
        message: &MessageId,
    ) -> Result<BlobGrant, StoreError>;

    /// Chunks `[start, start + count)` of a complete blob for its uploader
    /// or a granted device: at most `max_bytes` beyond the first chunk.
    fn blob_fetch(
        &self,
        blob: &[u8; 32],
        device: &PublicKey,
        start: u64,
        count: u64,
        max_bytes: usize,
    ) -> Result<BlobFetch, StoreError>;

    /// Note that chunks `[start, start + served)` of a blob were served to
    /// `device`. Once every device a grant names was served every chunk,
    /// delete the blob and give its sealed size back to its owner's quota;
    /// whether it was deleted.
    fn blob_fetched(
        &self,
        blob: &[u8; 32],
        device: &PublicKey,
        start: u64,
        served: u64,
    ) -> Result<bool, StoreError>;

    /// Delete every blob whose upload began before `before` (milliseconds
    /// since the epoch), complete or not, giving back its quota; a blob
    /// with no recorded beginning (stored by the previous release) is
    /// stamped `now`. Returns (blobs deleted, sealed bytes freed).
    fn blob_expire(&self, before: u64, now: u64) -> Result<(u64, u64), StoreError>;
}

type Key32<'a> = &'a [u8; 32];

/// Authority key → encoded `Signed<AuthorityCertificate>`.
const AUTHORITIES: TableDefinition<Key32, &[u8]> = TableDefinition::new("authorities");
/// Record id → encoded latest `Signed<FocalPointRecord>`.
const RECORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("records");
/// (record id, version) → encoded `Signed<FocalPointRecord>`: the history.
const RECORD_VERSIONS: TableDefinition<(&str, u64), &[u8]> =
    TableDefinition::new("record_versions");
/// (device, Curve25519 key) → encoded one-time `Prekey`.
const ONE_TIME_PREKEYS: TableDefinition<(Key32, Key32), &[u8]> =
    TableDefinition::new("one_time_prekeys");
/// Device → encoded fallback `Prekey`.
const FALLBACK_PREKEYS: TableDefinition<Key32, &[u8]> = TableDefinition::new("fallback_prekeys");
/// (device, seq) → (accepted_at ms, encoded `Envelope`).
const QUEUES: TableDefinition<(Key32, u64), (u64, &[u8])> = TableDefinition::new("queues");
/// Device → (next seq, entries queued).
const QUEUE_META: TableDefinition<Key32, (u64, u64)> = TableDefinition::new("queue_meta");
/// Message id → accepted_at ms, for every accepted message.
const SEEN_MESSAGES: TableDefinition<&[u8; 16], u64> = TableDefinition::new("seen_messages");
/// Role id → encoded latest `Signed<RoleRecord>`.
const ROLES: TableDefinition<&str, &[u8]> = TableDefinition::new("roles");
/// (device, seq) → (): entries already handed out (Delivered logged).
const DELIVERED: TableDefinition<(Key32, u64), ()> = TableDefinition::new("delivered");
/// (device, message id) → (): the messages each device sent or was sent,
/// the only ones it may declare events about (format 1).
pub(crate) const DEVICE_MESSAGES: TableDefinition<(Key32, &[u8; 16]), ()> =
    TableDefinition::new("device_messages");
/// (recipient device, sender device) → envelopes of that sender queued for
/// that recipient (format 1).
pub(crate) const QUEUE_SENDERS: TableDefinition<(Key32, Key32), u64> =
    TableDefinition::new("queue_senders");

/// Device → ms since the epoch when the relay first found it out of force
/// (its record expired, or its authority's certificate expired or was
/// revoked) while it had queued entries. Added without a format change: a
/// store without it is a store where no lapse was noted yet, and a release
/// that does not know it ignores it.
const LAPSED_DEVICES: TableDefinition<Key32, u64> = TableDefinition::new("lapsed_devices");

const MAX_STORED_ENVELOPE: usize = MAX_CIPHERTEXT + 256;
const MAX_STORED_PREKEY: usize = 256;

fn signed_max<T: SignedBody>() -> usize {
    T::MAX_BODY + 256
}

fn decode_signed<T: SignedBody>(bytes: &[u8]) -> Result<Signed<T>, StoreError> {
    decode_versioned(bytes, signed_max::<T>()).map_err(|_| StoreError::Corrupt("signed object"))
}

fn decode_prekey(bytes: &[u8]) -> Result<Prekey, StoreError> {
    decode_versioned(bytes, MAX_STORED_PREKEY).map_err(|_| StoreError::Corrupt("prekey"))
}

/// The redb implementation of [`Store`], in one file.
pub struct RedbStore {
    db: Database,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore").finish_non_exhaustive()
    }
}

impl RedbStore {
    /// Open (or create) the store at `path`, make sure every table exists,
    /// and migrate a store written by an earlier release to
    /// [`STORE_FORMAT`] (see `store::format`). A store of a newer format is
    /// refused ([`StoreError::NewerFormat`]) before anything is written.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut db = Database::create(path)?;
        // Every page's checksum, before anything is read or served (redb
        // repairs what a crash left half written; a page that fails is
        // corruption, and the store is refused).
        if !db.check_integrity()? {
            tracing::warn!(store = %path.display(), "the store was repaired after an unclean stop");
        }
        let found = format::stored_format(&db)?;
        if found > STORE_FORMAT {
            return Err(StoreError::NewerFormat {
                found,
                supported: STORE_FORMAT,
            });
        }
        let store = RedbStore { db };
        let txn = store.write()?;
        txn.open_table(AUTHORITIES)?;
        txn.open_table(RECORDS)?;
        txn.open_table(RECORD_VERSIONS)?;
        txn.open_table(ONE_TIME_PREKEYS)?;
        txn.open_table(FALLBACK_PREKEYS)?;
        txn.open_table(QUEUES)?;
        txn.open_table(QUEUE_META)?;
        txn.open_table(SEEN_MESSAGES)?;
        txn.open_table(DELIVERED)?;
        txn.open_table(DEVICE_MESSAGES)?;
        txn.open_table(QUEUE_SENDERS)?;
        txn.open_table(ROLES)?;
        txn.open_table(LAPSED_DEVICES)?;
        txn.open_table(blobs::BLOBS)?;
        txn.open_table(blobs::BLOB_CHUNKS)?;
        txn.open_table(blobs::BLOB_GRANTS)?;
        txn.open_table(blobs::BLOB_USAGE)?;
        txn.open_table(blobs::BLOB_FETCHED)?;
        txn.open_table(blobs::BLOB_BEGUN)?;
        txn.open_table(logs::LOG_ENTRIES)?;
        txn.open_table(logs::LOG_HASHES)?;
        txn.open_table(logs::LOG_NODES)?;
        txn.open_table(logs::LOG_STATE)?;
        txn.open_table(logs::CHECKPOINTS)?;
        txn.open_table(logs::COSIGNED)?;
        txn.open_table(logs::MESSAGE_EVENTS)?;
        txn.open_table(format::META)?;
        txn.commit()?;
        let nodes = |log| {
            move |txn: &WriteTransaction, done| logs::build_nodes(txn, log, done, MIGRATION_BATCH)
        };
        let (directory_nodes, event_nodes) = (nodes(LogId::Directory), nodes(LogId::Events));
        format::migrate(
            &store.db,
            &[
                ("log_nodes/directory", &directory_nodes),
                ("log_nodes/events", &event_nodes),
                ("device_messages", &index_device_messages),
                ("queue_senders", &count_queue_senders),
            ],
        )?;
        Ok(store)
    }

    /// Check that the logs still hold what the relay signed
    /// ([`check::check_logs`]): `Ok(Err(_))` names what no longer matches.
    pub fn check(
        &self,
        depth: check::Depth,
    ) -> Result<Result<Vec<check::LogReport>, check::Mismatch>, StoreError> {
        check::check_logs(&self.db.begin_read()?, depth)
    }

    /// Check that the attachment tables agree with each other (chunks,
    /// quota use, grants): [`BlobReport::problems`] names what does not.
    pub fn check_blobs(&self) -> Result<BlobReport, StoreError> {
        blobs::check(&self.db.begin_read()?)
    }

    /// The format recorded in the store.
    pub fn format(&self) -> Result<u64, StoreError> {
        format::stored_format(&self.db)
    }

    /// Append raw entries to `log` in one durable transaction, through the
    /// store's own append path (leaf hashes, interior hashes, compact range).
    /// For benchmarks and tools that build large logs; the relay itself
    /// appends only typed directory entries and events. Returns the index of
    /// the first.
    pub fn append_raw_entries(&self, log: LogId, entries: &[Vec<u8>]) -> Result<u64, StoreError> {
        let txn = self.write()?;
        let first = logs::append_raw(&txn, log, entries)?;
        txn.commit()?;
        Ok(first)
    }

    /// The newest `limit` notes of `log` in a (log, size) → note table.
    fn newest_notes(
        &self,
        table: TableDefinition<(u8, u64), &str>,
        log: LogId,
        limit: usize,
    ) -> Result<Vec<(u64, String)>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(table)?;
        let mut out = Vec::new();
        for item in table
            .range((log_tag(log), 0)..=(log_tag(log), u64::MAX))?
            .rev()
        {
            let (k, v) = item?;
            out.push((k.value().1, v.value().to_owned()));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    fn write(&self) -> Result<WriteTransaction, StoreError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        Ok(txn)
    }
}

fn count_one_time(
    table: &impl ReadableTable<(Key32<'static>, Key32<'static>), &'static [u8]>,
    device: &[u8; 32],
) -> Result<u32, StoreError> {
    let range = table.range((device, &[0u8; 32])..=(device, &[0xffu8; 32]))?;
    let mut n: u32 = 0;
    for item in range {
        item?;
        n = n.saturating_add(1);
    }
    Ok(n)
}

/// Insert prekeys of one device inside `txn`; `Err(Ok(upload))` means refused.
fn insert_prekeys(
    txn: &WriteTransaction,
    device: &PublicKey,
    prekeys: &[&Prekey],
    max_one_time: u32,
) -> Result<PrekeyUpload, StoreError> {
    let mut one_time = txn.open_table(ONE_TIME_PREKEYS)?;
    let have = count_one_time(&one_time, &device.0)?;
    let mut new_keys = BTreeSet::new();
    for p in prekeys.iter().filter(|p| !p.fallback) {
        if one_time.get((&device.0, &p.key))?.is_none() {
            new_keys.insert(p.key);
        }
    }
    let total = u64::from(have) + new_keys.len() as u64;
    if total > u64::from(max_one_time) {
        return Ok(PrekeyUpload::TooMany {
            have,
            max: max_one_time,
        });
    }
    for p in prekeys.iter().filter(|p| !p.fallback) {
        if new_keys.contains(&p.key) {
            one_time.insert((&device.0, &p.key), encode_versioned(p).as_slice())?;
        }
    }
    if let Some(fallback) = prekeys.iter().rev().find(|p| p.fallback) {
        let mut fb = txn.open_table(FALLBACK_PREKEYS)?;
        fb.insert(&device.0, encode_versioned(fallback).as_slice())?;
    }
    Ok(PrekeyUpload::Stored {
        one_time: u32::try_from(total).unwrap_or(u32::MAX),
    })
}

/// Migration to format 1: index the devices of the messages accepted in
/// event-log entries `[done, done + MIGRATION_BATCH)`.
fn index_device_messages(txn: &WriteTransaction, done: u64) -> Result<u64, StoreError> {
    let entries = txn.open_table(logs::LOG_ENTRIES)?;
    let mut known = txn.open_table(DEVICE_MESSAGES)?;
    let tag = log_tag(LogId::Events);
    let end = done.saturating_add(MIGRATION_BATCH);
    let mut last = done;
    for item in entries.range((tag, done)..(tag, end))? {
        let (k, v) = item?;
        last = k.value().1.saturating_add(1);
        let record = liaison_protocol::log::event::DisclosedEvent::decode(v.value())
            .and_then(|d| d.decode_record())
            .map_err(|_| StoreError::Corrupt("event log entry"))?;
        if let EventKind::Accepted {
            message_id,
            sender_device,
            recipient_devices,
            ..
        } = record.kind
        {
            known.insert((&sender_device.0, &message_id.0), ())?;
            for device in recipient_devices {
                known.insert((&device.0, &message_id.0), ())?;
            }
        }
    }
    Ok(last)
}

/// Migration to format 1: count each sender's envelopes in every queue (in
/// one batch: queues are bounded by `limits.max_queue_depth`).
fn count_queue_senders(txn: &WriteTransaction, done: u64) -> Result<u64, StoreError> {
    if done > 0 {
        return Ok(done);
    }
    let queues = txn.open_table(QUEUES)?;
    let mut counts: BTreeMap<([u8; 32], [u8; 32]), u64> = BTreeMap::new();
    for item in queues.iter()? {
        let (k, v) = item?;
        let envelope: Envelope = decode_versioned(v.value().1, MAX_STORED_ENVELOPE)
            .map_err(|_| StoreError::Corrupt("queued envelope"))?;
        *counts
            .entry((*k.value().0, envelope.sender_device.0))
            .or_default() += 1;
    }
    let mut senders = txn.open_table(QUEUE_SENDERS)?;
    for ((recipient, sender), n) in &counts {
        senders.insert((recipient, sender), *n)?;
    }
    Ok(1)
}

/// One envelope of `sender` left `recipient`'s queue.
fn release_sender_slot(
    senders: &mut redb::Table<(Key32<'static>, Key32<'static>), u64>,
    recipient: &PublicKey,
    sender: &PublicKey,
) -> Result<(), StoreError> {
    let mine = senders
        .get((&recipient.0, &sender.0))?
        .map(|g| g.value())
        .unwrap_or(0);
    if mine <= 1 {
        senders.remove((&recipient.0, &sender.0))?;
    } else {
        senders.insert((&recipient.0, &sender.0), mine - 1)?;
    }
    Ok(())
}

impl Store for RedbStore {
    fn load_directory(
        &self,
    ) -> Result<
        (
            Vec<Signed<AuthorityCertificate>>,
            Vec<Signed<FocalPointRecord>>,
        ),
        StoreError,
    > {
        let txn = self.db.begin_read()?;
        let mut authorities = Vec::new();
        for item in txn.open_table(AUTHORITIES)?.iter()? {
            let (_, v) = item?;
            authorities.push(decode_signed(v.value())?);
        }
        let mut records = Vec::new();
        for item in txn.open_table(RECORDS)?.iter()? {
            let (_, v) = item?;
            records.push(decode_signed(v.value())?);
        }
        Ok((authorities, records))
    }

    fn put_authority(
        &self,
        cert: &AuthorityCertificate,
        signed: &Signed<AuthorityCertificate>,
    ) -> Result<PutOutcome, StoreError> {
        let bytes = encode_versioned(signed);
        let txn = self.write()?;
        let outcome = {
            let mut table = txn.open_table(AUTHORITIES)?;
            let stored = match table.get(&cert.key.0)? {
                Some(v) => {
                    let old: Signed<AuthorityCertificate> = decode_signed(v.value())?;
                    let old_cert = old
                        .decode_unverified()
                        .map_err(|_| StoreError::Corrupt("authority certificate body"))?;
                    Some((old == *signed, old_cert))
                }
                None => None,
            };
            let outcome = match stored {
                Some((true, _)) => PutOutcome::Unchanged,
                Some((false, old)) if old.revoked => PutOutcome::Revoked,
                Some((false, old)) if !cert.revoked && cert.serial <= old.serial => {
                    PutOutcome::Stale { stored: old.serial }
                }
                _ => PutOutcome::Stored,
            };
            if outcome == PutOutcome::Stored {
                table.insert(&cert.key.0, bytes.as_slice())?;
            }
            outcome
        };
        if outcome == PutOutcome::Stored {
            logs::append_directory(&txn, &DirectoryEntry::Authority(signed.clone()))?;
        }
        if outcome == PutOutcome::Stored {
            txn.commit()?;
        } else {
            txn.abort()?;
        }
        Ok(outcome)
    }

    fn put_record(
        &self,
        record: &FocalPointRecord,
        signed: &Signed<FocalPointRecord>,
        prekeys: &[Prekey],
        max_one_time: u32,
    ) -> Result<PutOutcome, StoreError> {
        let bytes = encode_versioned(signed);
        let id = record.id.as_str();
        let txn = self.write()?;
        let outcome = 'outcome: {
            let mut latest = txn.open_table(RECORDS)?;
            if let Some(v) = latest.get(id)? {
                let old: Signed<FocalPointRecord> = decode_signed(v.value())?;
                if old == *signed {
                    // A retried publish: its prekeys were stored the first time
                    // and may since have been claimed, so they are not re-added.
                    break 'outcome PutOutcome::Unchanged;
                }
                let old_version = old
                    .decode_unverified()
                    .map_err(|_| StoreError::Corrupt("record body"))?
                    .version;
                if record.version <= old_version {
                    break 'outcome PutOutcome::Stale {
                        stored: old_version,
                    };
                }
            }
            let mut by_device: BTreeMap<PublicKey, Vec<&Prekey>> = BTreeMap::new();
            for p in prekeys {
                by_device.entry(p.device).or_default().push(p);
            }
            for (device, keys) in &by_device {
                if let PrekeyUpload::TooMany { max, .. } =
                    insert_prekeys(&txn, device, keys, max_one_time)?
                {
                    break 'outcome PutOutcome::TooManyPrekeys {
                        device: *device,
                        max,
                    };
                }
            }
            latest.insert(id, bytes.as_slice())?;
            txn.open_table(RECORD_VERSIONS)?
                .insert((id, record.version), bytes.as_slice())?;
            logs::append_directory(&txn, &DirectoryEntry::Record(signed.clone()))?;
            PutOutcome::Stored
        };
        if outcome == PutOutcome::Stored {
            txn.commit()?;
        } else {
            txn.abort()?;
        }
        Ok(outcome)
    }

    fn load_roles(&self) -> Result<Vec<Signed<RoleRecord>>, StoreError> {
        let txn = self.db.begin_read()?;
        let mut out = Vec::new();
        for item in txn.open_table(ROLES)?.iter()? {
            let (_, v) = item?;
            out.push(decode_signed(v.value())?);
        }
        Ok(out)
    }

    fn put_role(
        &self,
        role: &RoleRecord,
        signed: &Signed<RoleRecord>,
    ) -> Result<PutOutcome, StoreError> {
        let bytes = encode_versioned(signed);
        let id = role.id.as_str();
        let txn = self.write()?;
        let outcome = {
            let mut table = txn.open_table(ROLES)?;
            let stored = match table.get(id)? {
                Some(v) => {
                    let old: Signed<RoleRecord> = decode_signed(v.value())?;
                    let version = old
                        .decode_unverified()
                        .map_err(|_| StoreError::Corrupt("role body"))?
                        .version;
                    Some((old == *signed, version))
                }
                None => None,
            };
            match stored {
                Some((true, _)) => PutOutcome::Unchanged,
                Some((false, v)) if role.version <= v => PutOutcome::Stale { stored: v },
                _ => {
                    table.insert(id, bytes.as_slice())?;
                    PutOutcome::Stored
                }
            }
        };
        if outcome == PutOutcome::Stored {
            logs::append_directory(&txn, &DirectoryEntry::Role(signed.clone()))?;
            txn.commit()?;
        } else {
            txn.abort()?;
        }
        Ok(outcome)
    }

    fn record_history(&self, id: &str) -> Result<Vec<Signed<FocalPointRecord>>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(RECORD_VERSIONS)?;
        let mut out = Vec::new();
        for item in table.range((id, 0u64)..=(id, u64::MAX))? {
            let (_, v) = item?;
            out.push(decode_signed(v.value())?);
        }
        Ok(out)
    }

    fn add_prekeys(
        &self,
        device: &PublicKey,
        prekeys: &[Prekey],
        max_one_time: u32,
    ) -> Result<PrekeyUpload, StoreError> {
        let txn = self.write()?;
        let refs: Vec<&Prekey> = prekeys.iter().collect();
        let outcome = insert_prekeys(&txn, device, &refs, max_one_time)?;
        if matches!(outcome, PrekeyUpload::Stored { .. }) {
            txn.commit()?;
        } else {
            txn.abort()?;
        }
        Ok(outcome)
    }

    fn claim_prekey(&self, device: &PublicKey) -> Result<Option<Prekey>, StoreError> {
        // redb admits one write transaction at a time, so the read-then-remove
        // below is atomic: a one-time key is handed out exactly once.
        let txn = self.write()?;
        let claimed = {
            let mut table = txn.open_table(ONE_TIME_PREKEYS)?;
            let first = match table
                .range((&device.0, &[0u8; 32])..=(&device.0, &[0xffu8; 32]))?
                .next()
            {
                Some(item) => {
                    let (k, v) = item?;
                    Some((*k.value().1, v.value().to_vec()))
                }
                None => None,
            };
            match first {
                Some((key, bytes)) => {
                    table.remove((&device.0, &key))?;
                    Some(decode_prekey(&bytes)?)
                }
                None => None,
            }
        };
        if let Some(p) = claimed {
            txn.commit()?;
            return Ok(Some(p));
        }
        let fallback = match txn.open_table(FALLBACK_PREKEYS)?.get(&device.0)? {
            Some(v) => Some(decode_prekey(v.value())?),
            None => None,
        };
        txn.abort()?;
        Ok(fallback)
    }

    fn prekey_count(&self, device: &PublicKey) -> Result<(u32, bool), StoreError> {
        let txn = self.db.begin_read()?;
        let n = count_one_time(&txn.open_table(ONE_TIME_PREKEYS)?, &device.0)?;
        let fallback = txn.open_table(FALLBACK_PREKEYS)?.get(&device.0)?.is_some();
        Ok((n, fallback))
    }

    fn commit_sends(
        &self,
        batch: &[SendOp],
        accepted_at: u64,
        limits: QueueLimits,
    ) -> Result<Vec<SendOutcome>, StoreError> {
        let txn = self.write()?;
        let mut outcomes = Vec::with_capacity(batch.len());
        {
            let mut seen = txn.open_table(SEEN_MESSAGES)?;
            let mut queues = txn.open_table(QUEUES)?;
            let mut meta = txn.open_table(QUEUE_META)?;
            let mut known = txn.open_table(DEVICE_MESSAGES)?;
            let mut senders = txn.open_table(QUEUE_SENDERS)?;
            for op in batch {
                if seen.get(&op.message_id.0)?.is_some() {
                    outcomes.push(SendOutcome::Duplicate);
                    continue;
                }
                let sender_device = op
                    .envelopes
                    .first()
                    .map(|e| e.sender_device)
                    .unwrap_or(PublicKey([0; 32]));
                // Check every recipient before writing anything for this op,
                // so a refused op leaves no trace in the transaction.
                let mut wanted: BTreeMap<PublicKey, u64> = BTreeMap::new();
                for e in &op.envelopes {
                    *wanted.entry(e.recipient_device).or_default() += 1;
                }
                let mut refused = None;
                for (device, n) in &wanted {
                    let depth = meta.get(&device.0)?.map(|g| g.value().1).unwrap_or(0);
                    if depth.saturating_add(*n) > limits.depth {
                        refused = Some(SendOutcome::QueueFull { device: *device });
                        break;
                    }
                    let mine = senders
                        .get((&device.0, &sender_device.0))?
                        .map(|g| g.value())
                        .unwrap_or(0);
                    if mine.saturating_add(*n) > limits.per_sender {
                        refused = Some(SendOutcome::SenderShareFull {
                            device: *device,
                            max: limits.per_sender,
                        });
                        break;
                    }
                }
                if let Some(outcome) = refused {
                    outcomes.push(outcome);
                    continue;
                }
                let mut unknown = false;
                for d in &op.declare {
                    if known.get((&sender_device.0, &d.refers_to.0))?.is_none() {
                        unknown = true;
                        break;
                    }
                }
                if unknown {
                    outcomes.push(SendOutcome::UnknownReference);
                    continue;
                }
                known.insert((&sender_device.0, &op.message_id.0), ())?;
                for (device, n) in &wanted {
                    known.insert((&device.0, &op.message_id.0), ())?;
                    let mine = senders
                        .get((&device.0, &sender_device.0))?
                        .map(|g| g.value())
                        .unwrap_or(0);
                    senders.insert((&device.0, &sender_device.0), mine.saturating_add(*n))?;
                }
                let mut queued = Vec::with_capacity(op.envelopes.len());
                for e in &op.envelopes {
                    let dev = &e.recipient_device.0;
                    let (next, depth) = meta.get(dev)?.map(|g| g.value()).unwrap_or((1, 0));
                    queues.insert((dev, next), (accepted_at, encode_versioned(e).as_slice()))?;
                    meta.insert(dev, (next.saturating_add(1), depth.saturating_add(1)))?;
                    queued.push(Queued {
                        seq: next,
                        accepted_at,
                        envelope: e.clone(),
                    });
                }
                seen.insert(&op.message_id.0, accepted_at)?;
                logs::append_event(
                    &txn,
                    liaison_protocol::Timestamp(accepted_at),
                    EventKind::Accepted {
                        message_id: op.message_id,
                        sender_device,
                        recipient_devices: op
                            .envelopes
                            .iter()
                            .map(|e| e.recipient_device)
                            .collect(),
                        bytes: op.envelopes.iter().map(|e| e.ciphertext.len() as u64).sum(),
                    },
                )?;
                for d in &op.declare {
                    logs::append_event(
                        &txn,
                        liaison_protocol::Timestamp(accepted_at),
                        EventKind::Declared {
                            message_id: op.message_id,
                            refers_to: d.refers_to,
                            kind: d.kind,
                            commitment: d.commitment,
                            by_device: sender_device,
                        },
                    )?;
                }
                outcomes.push(SendOutcome::Accepted { queued });
            }
        }
        txn.commit()?;
        Ok(outcomes)
    }

    fn fetch(
        &self,
        device: &PublicKey,
        after: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<(Vec<Queued>, bool), StoreError> {
        let Some(first) = after.checked_add(1) else {
            return Ok((Vec::new(), false));
        };
        let txn = self.db.begin_read()?;
        let table = txn.open_table(QUEUES)?;
        let mut items = Vec::new();
        let mut bytes = 0usize;
        let mut more = false;
        for item in table.range((&device.0, first)..=(&device.0, u64::MAX))? {
            let (k, v) = item?;
            let (accepted_at, encoded) = v.value();
            if items.len() >= limit
                || (!items.is_empty() && bytes.saturating_add(encoded.len()) > max_bytes)
            {
                more = true;
                break;
            }
            let envelope: Envelope = decode_versioned(encoded, MAX_STORED_ENVELOPE)
                .map_err(|_| StoreError::Corrupt("queued envelope"))?;
            bytes = bytes.saturating_add(encoded.len());
            items.push(Queued {
                seq: k.value().1,
                accepted_at,
                envelope,
            });
        }
        Ok((items, more))
    }

    fn ack(&self, device: &PublicKey, seqs: &[u64], at: u64) -> Result<u64, StoreError> {
        let txn = self.write()?;
        let mut removed = 0u64;
        {
            let mut queues = txn.open_table(QUEUES)?;
            let mut delivered = txn.open_table(DELIVERED)?;
            let mut senders = txn.open_table(QUEUE_SENDERS)?;
            let now = liaison_protocol::Timestamp(at);
            for seq in seqs.iter().collect::<BTreeSet<_>>() {
                let entry = queues
                    .remove((&device.0, *seq))?
                    .map(|v| v.value().1.to_vec());
                if let Some(encoded) = entry {
                    removed += 1;
                    let envelope: Envelope = decode_versioned(&encoded, MAX_STORED_ENVELOPE)
                        .map_err(|_| StoreError::Corrupt("queued envelope"))?;
                    release_sender_slot(&mut senders, device, &envelope.sender_device)?;
                    if delivered.remove((&device.0, *seq))?.is_none() {
                        logs::append_event(
                            &txn,
                            now,
                            EventKind::Delivered {
                                message_id: envelope.message_id,
                                recipient_device: *device,
                            },
                        )?;
                    }
                    logs::append_event(
                        &txn,
                        now,
                        EventKind::Acknowledged {
                            message_id: envelope.message_id,
                            recipient_device: *device,
                        },
                    )?;
                }
            }
            if removed > 0 {
                let mut meta = txn.open_table(QUEUE_META)?;
                let (next, depth) = meta.get(&device.0)?.map(|g| g.value()).unwrap_or((1, 0));
                meta.insert(&device.0, (next, depth.saturating_sub(removed)))?;
            }
        }
        if removed > 0 {
            txn.commit()?;
        } else {
            txn.abort()?;
        }
        Ok(removed)
    }

    fn last_seq(&self, device: &PublicKey) -> Result<u64, StoreError> {
        let txn = self.db.begin_read()?;
        let next = txn
            .open_table(QUEUE_META)?
            .get(&device.0)?
            .map(|g| g.value().0)
            .unwrap_or(1);
        Ok(next.saturating_sub(1))
    }

    fn queue_depth(&self, device: &PublicKey) -> Result<u64, StoreError> {
        let txn = self.db.begin_read()?;
        let depth = txn
            .open_table(QUEUE_META)?
            .get(&device.0)?
            .map(|g| g.value().1)
            .unwrap_or(0);
        Ok(depth)
    }

    fn mark_delivered(
        &self,
        device: &PublicKey,
        items: &[(u64, MessageId)],
        at: u64,
    ) -> Result<(), StoreError> {
        let txn = self.write()?;
        let mut logged = 0usize;
        {
            let queues = txn.open_table(QUEUES)?;
            let mut delivered = txn.open_table(DELIVERED)?;
            for (seq, message_id) in items {
                if queues.get((&device.0, *seq))?.is_none()
                    || delivered.get((&device.0, *seq))?.is_some()
                {
                    continue;
                }
                delivered.insert((&device.0, *seq), ())?;
                logs::append_event(
                    &txn,
                    liaison_protocol::Timestamp(at),
                    EventKind::Delivered {
                        message_id: *message_id,
                        recipient_device: *device,
                    },
                )?;
                logged += 1;
            }
        }
        if logged > 0 {
            txn.commit()?;
        } else {
            txn.abort()?;
        }
        Ok(())
    }

    fn drop_queue(&self, device: &PublicKey, reason: &str, at: u64) -> Result<u64, StoreError> {
        let txn = self.write()?;
        let mut dropped = 0u64;
        {
            let mut queues = txn.open_table(QUEUES)?;
            let mut delivered = txn.open_table(DELIVERED)?;
            let mut entries = Vec::new();
            for item in queues.range((&device.0, 0u64)..=(&device.0, u64::MAX))? {
                let (k, v) = item?;
                entries.push((k.value().1, v.value().1.to_vec()));
            }
            let now = liaison_protocol::Timestamp(at);
            for (seq, encoded) in entries {
                queues.remove((&device.0, seq))?;
                delivered.remove((&device.0, seq))?;
                let envelope: Envelope = decode_versioned(&encoded, MAX_STORED_ENVELOPE)
                    .map_err(|_| StoreError::Corrupt("queued envelope"))?;
                logs::append_event(
                    &txn,
                    now,
                    EventKind::Dropped {
                        message_id: envelope.message_id,
                        recipient_device: *device,
                        reason: reason.to_owned(),
                    },
                )?;
                dropped += 1;
            }
            if dropped > 0 {
                let mut meta = txn.open_table(QUEUE_META)?;
                let (next, _) = meta.get(&device.0)?.map(|g| g.value()).unwrap_or((1, 0));
                meta.insert(&device.0, (next, 0))?;
                let mut senders = txn.open_table(QUEUE_SENDERS)?;
                senders.retain_in(
                    (&device.0, &[0u8; 32])..=(&device.0, &[0xffu8; 32]),
                    |_, _| false,
                )?;
            }
        }
        let noted = txn.open_table(LAPSED_DEVICES)?.remove(&device.0)?.is_some();
        if dropped > 0 || noted {
            txn.commit()?;
        } else {
            txn.abort()?;
        }
        Ok(dropped)
    }

    fn queued_devices(&self) -> Result<Vec<PublicKey>, StoreError> {
        let txn = self.db.begin_read()?;
        let mut out = Vec::new();
        for item in txn.open_table(QUEUE_META)?.iter()? {
            let (device, meta) = item?;
            if meta.value().1 > 0 {
                out.push(PublicKey(*device.value()));
            }
        }
        Ok(out)
    }

    fn lapsed_devices(&self) -> Result<BTreeMap<PublicKey, u64>, StoreError> {
        let txn = self.db.begin_read()?;
        let mut out = BTreeMap::new();
        for item in txn.open_table(LAPSED_DEVICES)?.iter()? {
            let (device, since) = item?;
            out.insert(PublicKey(*device.value()), since.value());
        }
        Ok(out)
    }

    fn note_lapsed(
        &self,
        lapsed: &[(PublicKey, u64)],
        restored: &[PublicKey],
    ) -> Result<(), StoreError> {
        if lapsed.is_empty() && restored.is_empty() {
            return Ok(());
        }
        let txn = self.write()?;
        {
            let mut table = txn.open_table(LAPSED_DEVICES)?;
            for (device, since) in lapsed {
                if table.get(&device.0)?.is_none() {
                    table.insert(&device.0, *since)?;
                }
            }
            for device in restored {
                table.remove(&device.0)?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    fn log_head(&self, log: LogId) -> Result<(u64, Hash), StoreError> {
        let txn = self.db.begin_read()?;
        let state = logs::read_state(&txn.open_table(logs::LOG_STATE)?, log)?;
        Ok((state.size, state.root()?))
    }

    fn log_entries(&self, log: LogId, start: u64, count: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(logs::LOG_ENTRIES)?;
        let end = start.saturating_add(count.min(logs::MAX_ENTRIES_PER_READ));
        let mut out = Vec::new();
        for item in table.range((log_tag(log), start)..(log_tag(log), end))? {
            let (_, v) = item?;
            out.push(v.value().to_vec());
        }
        Ok(out)
    }

    fn inclusion_proof(
        &self,
        log: LogId,
        index: u64,
        size: u64,
    ) -> Result<Option<Vec<Hash>>, StoreError> {
        let txn = self.db.begin_read()?;
        let state = logs::read_state(&txn.open_table(logs::LOG_STATE)?, log)?;
        if size > state.size || index >= size {
            return Ok(None);
        }
        let hashes = txn.open_table(logs::LOG_HASHES)?;
        let nodes = txn.open_table(logs::LOG_NODES)?;
        let reader = TreeHashes {
            hashes: &hashes,
            nodes: &nodes,
            log,
        };
        inclusion_proof(&reader, index, size)
            .map(Some)
            .map_err(|_| StoreError::Corrupt("log leaf hashes"))
    }

    fn consistency_proof(
        &self,
        log: LogId,
        old: u64,
        new: u64,
    ) -> Result<Option<Vec<Hash>>, StoreError> {
        let txn = self.db.begin_read()?;
        let state = logs::read_state(&txn.open_table(logs::LOG_STATE)?, log)?;
        if new > state.size || old > new {
            return Ok(None);
        }
        if old == 0 || old == new {
            return Ok(Some(Vec::new()));
        }
        let hashes = txn.open_table(logs::LOG_HASHES)?;
        let nodes = txn.open_table(logs::LOG_NODES)?;
        let reader = TreeHashes {
            hashes: &hashes,
            nodes: &nodes,
            log,
        };
        consistency_proof(&reader, old, new)
            .map(Some)
            .map_err(|_| StoreError::Corrupt("log leaf hashes"))
    }

    fn put_checkpoint(&self, log: LogId, size: u64, note: &str) -> Result<(), StoreError> {
        let txn = self.write()?;
        txn.open_table(logs::CHECKPOINTS)?
            .insert((log_tag(log), size), note)?;
        txn.commit()?;
        Ok(())
    }

    fn checkpoint_at(&self, log: LogId, size: u64) -> Result<Option<String>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(logs::CHECKPOINTS)?;
        Ok(table
            .get((log_tag(log), size))?
            .map(|v| v.value().to_owned()))
    }

    fn put_cosigned(&self, log: LogId, size: u64, note: &str) -> Result<(), StoreError> {
        let txn = self.write()?;
        txn.open_table(logs::CHECKPOINTS)?
            .insert((log_tag(log), size), note)?;
        txn.open_table(logs::COSIGNED)?
            .insert((log_tag(log), size), note)?;
        txn.commit()?;
        Ok(())
    }

    fn recent_cosigned(&self, log: LogId, limit: usize) -> Result<Vec<(u64, String)>, StoreError> {
        self.newest_notes(logs::COSIGNED, log, limit)
    }

    fn recent_checkpoints(
        &self,
        log: LogId,
        limit: usize,
    ) -> Result<Vec<(u64, String)>, StoreError> {
        self.newest_notes(logs::CHECKPOINTS, log, limit)
    }

    fn message_events(&self, message: &MessageId) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let txn = self.db.begin_read()?;
        let index = txn.open_table(logs::MESSAGE_EVENTS)?;
        let entries = txn.open_table(logs::LOG_ENTRIES)?;
        let mut out = Vec::new();
        for item in index.range((&message.0, 0u64)..=(&message.0, u64::MAX))? {
            let (k, _) = item?;
            let i = k.value().1;
            if let Some(v) = entries.get((log_tag(LogId::Events), i))? {
                out.push((i, v.value().to_vec()));
            }
        }
        Ok(out)
    }

    fn blob_begin(
        &self,
        blob: &[u8; 32],
        uploader: &PublicKey,
        owner: &str,
        size: u64,
        quota: u64,
    ) -> Result<BlobBegin, StoreError> {
        let at = liaison_clock::now().0;
        blobs::begin(&self.db, blob, uploader, owner, size, quota, at)
    }

    fn blob_put_chunks(
        &self,
        blob: &[u8; 32],
        uploader: &PublicKey,
        run: &[(u64, &[u8])],
    ) -> Result<Vec<BlobPut>, StoreError> {
        blobs::put_chunks(&self.db, blob, uploader, run)
    }

    fn blob_grant(
        &self,
        blob: &[u8; 32],
        uploader: &PublicKey,
        message: &MessageId,
    ) -> Result<BlobGrant, StoreError> {
        blobs::grant(&self.db, blob, uploader, message)
    }

    fn blob_fetch(
        &self,
        blob: &[u8; 32],
        device: &PublicKey,
        start: u64,
        count: u64,
        max_bytes: usize,
    ) -> Result<BlobFetch, StoreError> {
        blobs::fetch(&self.db, blob, device, start, count, max_bytes)
    }

    fn blob_fetched(
        &self,
        blob: &[u8; 32],
        device: &PublicKey,
        start: u64,
        served: u64,
    ) -> Result<bool, StoreError> {
        blobs::fetched(&self.db, blob, device, start, served)
    }

    fn blob_expire(&self, before: u64, now: u64) -> Result<(u64, u64), StoreError> {
        blobs::expire(&self.db, before, now)
    }
}

/// Sealed attachment bytes `owner`'s blobs reserve; for tests and metrics.
pub fn blob_usage(store: &RedbStore, owner: &str) -> Result<u64, StoreError> {
    blobs::usage(&store.db, owner)
}

/// Total entries in the queue table (all devices); for tests and metrics.
pub fn total_queued(store: &RedbStore) -> Result<u64, StoreError> {
    let txn = store.db.begin_read()?;
    Ok(txn.open_table(QUEUES)?.len()?)
}

/// Acceptance time (ms) of the oldest queued envelope of any device, if
/// any is queued; for metrics. One range lookup per device with a queue.
pub fn oldest_queued(store: &RedbStore) -> Result<Option<u64>, StoreError> {
    let txn = store.db.begin_read()?;
    let queues = txn.open_table(QUEUES)?;
    let mut oldest: Option<u64> = None;
    for item in txn.open_table(QUEUE_META)?.iter()? {
        let (device, meta) = item?;
        if meta.value().1 == 0 {
            continue;
        }
        let device = device.value();
        if let Some(first) = queues.range((device, 0u64)..=(device, u64::MAX))?.next() {
            let accepted_at = first?.1.value().0;
            oldest = Some(oldest.map_or(accepted_at, |o| o.min(accepted_at)));
        }
    }
    Ok(oldest)
}

impl RedbStore {
    /// The database, for online backups ([`crate::backup::snapshot`]).
    pub(crate) fn database(&self) -> &Database {
        &self.db
    }
}

#[cfg(test)]
#[path = "store_test.rs"]
mod tests;
