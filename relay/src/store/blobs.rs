//! The blob store: sealed attachment chunks
//! (`liaison_protocol::attachment`), uploaded in order and resumable, with
//! a quota per focal point, served to the uploader and to the devices a
//! grant names.
//!
//! The relay never sees a key or a plaintext byte: it checks only that each
//! chunk has the sealed length the announced size implies. Added without a
//! format change, like `lapsed_devices`: a store without these tables holds
//! no blob, and a release that does not know them ignores them.
//!
//! A blob is deleted, and its sealed size given back to its owner's quota,
//! once every device a grant names has been served every chunk (counted in
//! order from the first, so a resumed download counts), or when the
//! relay's retention for attachments ends, counted from the beginning of
//! its upload (complete or not). A blob stored by the release before these
//! tables has no recorded beginning: its retention counts from the first
//! sweep that sees it.

use liaison_protocol::attachment::{TAG_SIZE, chunk_count, chunk_plain_len, sealed_size};
use liaison_protocol::codec::{decode_versioned, encode_versioned};
use liaison_protocol::frames::LogId;
use liaison_protocol::log::event::{DisclosedEvent, EventKind};
use liaison_protocol::{MessageId, PublicKey, Wire};
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction,
};
use serde::{Deserialize, Serialize};

use super::error::StoreError;
use super::logs::{self, log_tag};

type Key32<'a> = &'a [u8; 32];

/// Blob id → encoded [`BlobMeta`].
pub(crate) const BLOBS: TableDefinition<Key32, &[u8]> = TableDefinition::new("blobs");
/// (blob id, chunk index) → sealed chunk.
pub(crate) const BLOB_CHUNKS: TableDefinition<(Key32, u64), &[u8]> =
    TableDefinition::new("blob_chunks");
/// (blob id, device) → (): devices a grant lets fetch the blob.
pub(crate) const BLOB_GRANTS: TableDefinition<(Key32, Key32), ()> =
    TableDefinition::new("blob_grants");
/// Focal point id → sealed bytes its blobs reserve (whole blobs, from the
/// moment an upload begins).
pub(crate) const BLOB_USAGE: TableDefinition<&str, u64> = TableDefinition::new("blob_usage");

/// (blob id, granted device) → chunks served to that device in order from
/// the first.
pub(crate) const BLOB_FETCHED: TableDefinition<(Key32, Key32), u64> =
    TableDefinition::new("blob_fetched");
/// Blob id → when its upload began (milliseconds since the epoch, relay
/// clock).
pub(crate) const BLOB_BEGUN: TableDefinition<Key32, u64> = TableDefinition::new("blob_begun");

const MAX_STORED_META: usize = 512;
const NO_DEVICE: [u8; 32] = [0; 32];
const ALL_DEVICES: [u8; 32] = [0xff; 32];

/// What the store keeps about one blob.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct BlobMeta {
    /// The device that uploads it.
    uploader: [u8; 32],
    /// The focal point whose quota it counts against.
    owner: String,
    /// Plaintext size as announced.
    size: u64,
    /// Chunks in all.
    chunks: u64,
    /// Chunks stored, from the first.
    confirmed: u64,
}

/// What a blob's upload looks like now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlobProgress {
    /// Chunks stored, from the first.
    pub confirmed: u64,
    /// Chunks in all.
    pub chunks: u64,
}

/// The answer to [`Store::blob_begin`](super::Store::blob_begin).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlobBegin {
    /// Begun (or begun before by the same device with the same size).
    Progress(BlobProgress),
    /// The owner's quota would be exceeded; nothing was stored.
    QuotaExceeded {
        /// Sealed bytes already reserved by the owner.
        used: u64,
        /// The blob's sealed size.
        needed: u64,
        /// The quota.
        quota: u64,
    },
    /// The id is taken by another device's blob or another size.
    Conflict,
    /// The size is beyond what a sealed attachment can be.
    Invalid,
}

/// The answer to [`Store::blob_put_chunk`](super::Store::blob_put_chunk).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlobPut {
    /// Stored, or held already (a chunk sent again).
    Progress(BlobProgress),
    /// No blob of this id was begun by this device.
    Unknown,
    /// The chunk comes after the next one expected.
    OutOfOrder(BlobProgress),
    /// The chunk is not of the sealed length its position needs.
    WrongLength {
        /// The length it needs.
        expected: usize,
    },
}

/// The answer to [`Store::blob_grant`](super::Store::blob_grant).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlobGrant {
    /// These devices may now fetch the blob.
    Granted {
        /// How many.
        devices: usize,
    },
    /// No blob of this id was uploaded by this device.
    Unknown,
    /// The upload is not complete.
    Incomplete(BlobProgress),
    /// The message was not sent by this device through this relay.
    UnknownMessage,
}

/// The answer to [`Store::blob_fetch`](super::Store::blob_fetch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlobFetch {
    /// The chunks from the start asked for.
    Chunks(Vec<Vec<u8>>),
    /// No such blob, or the device may not fetch it (the two are not told
    /// apart, so a device cannot probe for blob ids).
    NotFound,
    /// The upload is not complete.
    Incomplete(BlobProgress),
}

fn decode_meta(bytes: &[u8]) -> Result<BlobMeta, StoreError> {
    decode_versioned(bytes, MAX_STORED_META).map_err(|_| StoreError::Corrupt("blob metadata"))
}

impl BlobMeta {
    fn progress(&self) -> BlobProgress {
        BlobProgress {
            confirmed: self.confirmed,
            chunks: self.chunks,
        }
    }
}

fn write(db: &Database) -> Result<WriteTransaction, StoreError> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    Ok(txn)
}

fn meta(db: &Database, blob: &[u8; 32]) -> Result<Option<BlobMeta>, StoreError> {
    let txn = db.begin_read()?;
    txn.open_table(BLOBS)?
        .get(blob)?
        .map(|v| decode_meta(v.value()))
        .transpose()
}

/// The Accepted events of `message`: (sender device, recipient devices).
fn accepted(
    db: &Database,
    message: &MessageId,
) -> Result<Vec<(PublicKey, Vec<PublicKey>)>, StoreError> {
    let txn = db.begin_read()?;
    let index = txn.open_table(logs::MESSAGE_EVENTS)?;
    let entries = txn.open_table(logs::LOG_ENTRIES)?;
    let mut out = Vec::new();
    for item in index.range((&message.0, 0u64)..=(&message.0, u64::MAX))? {
        let (k, _) = item?;
        let Some(v) = entries.get((log_tag(LogId::Events), k.value().1))? else {
            continue;
        };
        let record = DisclosedEvent::decode(v.value())
            .and_then(|d| d.decode_record())
            .map_err(|_| StoreError::Corrupt("event log entry"))?;
        if let EventKind::Accepted {
            sender_device,
            recipient_devices,
            ..
        } = record.kind
        {
            out.push((sender_device, recipient_devices));
        }
    }
    Ok(out)
}

/// [`Store::blob_begin`](super::Store::blob_begin).
pub(crate) fn begin(
    db: &Database,
    blob: &[u8; 32],
    uploader: &PublicKey,
    owner: &str,
    size: u64,
    quota: u64,
    at: u64,
) -> Result<BlobBegin, StoreError> {
    let (Some(chunks), Some(needed)) = (chunk_count(size), sealed_size(size)) else {
        return Ok(BlobBegin::Invalid);
    };
    let txn = write(db)?;
    let outcome = 'decide: {
        let mut blobs = txn.open_table(BLOBS)?;
        let existing = blobs
            .get(blob)?
            .map(|v| decode_meta(v.value()))
            .transpose()?;
        if let Some(meta) = existing {
            if meta.uploader == uploader.0 && meta.size == size {
                break 'decide BlobBegin::Progress(meta.progress());
            }
            break 'decide BlobBegin::Conflict;
        }
        let mut usage = txn.open_table(BLOB_USAGE)?;
        let used = usage.get(owner)?.map(|v| v.value()).unwrap_or(0);
        match used.checked_add(needed).filter(|t| *t <= quota) {
            None => BlobBegin::QuotaExceeded {
                used,
                needed,
                quota,
            },
            Some(total) => {
                let meta = BlobMeta {
                    uploader: uploader.0,
                    owner: owner.to_owned(),
                    size,
                    chunks,
                    confirmed: 0,
                };
                blobs.insert(blob, encode_versioned(&meta).as_slice())?;
                usage.insert(owner, total)?;
                txn.open_table(BLOB_BEGUN)?.insert(blob, at)?;
                BlobBegin::Progress(meta.progress())
            }
        }
    };
    if matches!(outcome, BlobBegin::Progress(p) if p.confirmed == 0) {
        txn.commit()?;
    } else {
        txn.abort()?;
    }
    Ok(outcome)
}

/// What chunk `index` comes to against `meta` (as the chunks before it
/// in the same transaction left it): `None` when it is the next one, of
/// the sealed length its position needs, to be stored.
fn judge(
    meta: &BlobMeta,
    uploader: &PublicKey,
    index: u64,
    chunk: &[u8],
) -> Result<Option<BlobPut>, StoreError> {
    if meta.uploader != uploader.0 {
        return Ok(Some(BlobPut::Unknown));
    }
    if index < meta.confirmed {
        return Ok(Some(BlobPut::Progress(meta.progress())));
    }
    if index > meta.confirmed || index >= meta.chunks {
        return Ok(Some(BlobPut::OutOfOrder(meta.progress())));
    }
    let expected =
        chunk_plain_len(meta.size, index).ok_or(StoreError::Corrupt("blob metadata"))? + TAG_SIZE;
    if chunk.len() != expected {
        return Ok(Some(BlobPut::WrongLength { expected }));
    }
    Ok(None)
}

/// [`Store::blob_put_chunks`](super::Store::blob_put_chunks).
pub(crate) fn put_chunks(
    db: &Database,
    blob: &[u8; 32],
    uploader: &PublicKey,
    run: &[(u64, &[u8])],
) -> Result<Vec<BlobPut>, StoreError> {
    // Read and written in one transaction: two uploads of the same chunk
    // at once store it once, and the chunks of a run share one fsync.
    let txn = write(db)?;
    let mut judged = Vec::with_capacity(run.len());
    let done = {
        let mut blobs = txn.open_table(BLOBS)?;
        let Some(mut meta) = blobs
            .get(blob)?
            .map(|v| decode_meta(v.value()))
            .transpose()?
        else {
            drop(blobs);
            txn.abort()?;
            return Ok(vec![BlobPut::Unknown; run.len()]);
        };
        let before = meta.confirmed;
        let mut chunks = txn.open_table(BLOB_CHUNKS)?;
        for &(index, chunk) in run {
            let outcome = judge(&meta, uploader, index, chunk)?;
            if outcome.is_none() {
                chunks.insert((blob, index), chunk)?;
                meta.confirmed = index + 1;
            }
            judged.push(outcome);
        }
        let stored = meta.confirmed != before;
        if stored {
            blobs.insert(blob, encode_versioned(&meta).as_slice())?;
        }
        (meta.progress(), stored)
    };
    let (done, stored) = done;
    if stored {
        txn.commit()?;
    } else {
        txn.abort()?;
    }
    // A stored chunk is answered with the progress of the whole commit.
    Ok(judged
        .into_iter()
        .map(|o| o.unwrap_or(BlobPut::Progress(done)))
        .collect())
}

/// [`Store::blob_grant`](super::Store::blob_grant).
pub(crate) fn grant(
    db: &Database,
    blob: &[u8; 32],
    uploader: &PublicKey,
    message: &MessageId,
) -> Result<BlobGrant, StoreError> {
    let Some(meta) = meta(db, blob)? else {
        return Ok(BlobGrant::Unknown);
    };
    if meta.uploader != uploader.0 {
        return Ok(BlobGrant::Unknown);
    }
    if meta.confirmed < meta.chunks {
        return Ok(BlobGrant::Incomplete(meta.progress()));
    }
    let recipients = accepted(db, message)?
        .into_iter()
        .find(|(sender, _)| sender == uploader)
        .map(|(_, recipients)| recipients);
    let Some(recipients) = recipients else {
        return Ok(BlobGrant::UnknownMessage);
    };
    let txn = write(db)?;
    {
        let mut grants = txn.open_table(BLOB_GRANTS)?;
        for device in &recipients {
            grants.insert((blob, &device.0), ())?;
        }
    }
    txn.commit()?;
    Ok(BlobGrant::Granted {
        devices: recipients.len(),
    })
}

/// [`Store::blob_fetch`](super::Store::blob_fetch).
pub(crate) fn fetch(
    db: &Database,
    blob: &[u8; 32],
    device: &PublicKey,
    start: u64,
    count: u64,
    max_bytes: usize,
) -> Result<BlobFetch, StoreError> {
    let txn = db.begin_read()?;
    let Some(meta) = txn
        .open_table(BLOBS)?
        .get(blob)?
        .map(|v| decode_meta(v.value()))
        .transpose()?
    else {
        return Ok(BlobFetch::NotFound);
    };
    let allowed = meta.uploader == device.0
        || txn
            .open_table(BLOB_GRANTS)?
            .get((blob, &device.0))?
            .is_some();
    if !allowed {
        return Ok(BlobFetch::NotFound);
    }
    if meta.confirmed < meta.chunks {
        return Ok(BlobFetch::Incomplete(meta.progress()));
    }
    let end = start.saturating_add(count).min(meta.chunks);
    let table = txn.open_table(BLOB_CHUNKS)?;
    let mut out = Vec::new();
    let mut bytes = 0usize;
    for item in table.range((blob, start)..(blob, end))? {
        let (_, v) = item?;
        let chunk = v.value();
        if !out.is_empty() && bytes.saturating_add(chunk.len()) > max_bytes {
            break;
        }
        bytes = bytes.saturating_add(chunk.len());
        out.push(chunk.to_vec());
    }
    Ok(BlobFetch::Chunks(out))
}

/// Remove blob `blob` (described by `meta`) with its chunks, grants and
/// fetch counts, and give its sealed size back to its owner's quota.
fn delete(txn: &WriteTransaction, blob: &[u8; 32], meta: &BlobMeta) -> Result<u64, StoreError> {
    txn.open_table(BLOBS)?.remove(blob)?;
    txn.open_table(BLOB_BEGUN)?.remove(blob)?;
    {
        let mut chunks = txn.open_table(BLOB_CHUNKS)?;
        for index in 0..meta.confirmed {
            chunks.remove((blob, index))?;
        }
    }
    remove_devices(txn, BLOB_GRANTS, blob)?;
    remove_devices(txn, BLOB_FETCHED, blob)?;
    let freed = sealed_size(meta.size).ok_or(StoreError::Corrupt("blob metadata"))?;
    let mut usage = txn.open_table(BLOB_USAGE)?;
    let used = usage
        .get(meta.owner.as_str())?
        .map(|v| v.value())
        .unwrap_or(0);
    match used.saturating_sub(freed) {
        0 => usage.remove(meta.owner.as_str())?,
        left => usage.insert(meta.owner.as_str(), left)?,
    };
    Ok(freed)
}

/// Remove the rows of `blob` from a table keyed by (blob, device).
fn remove_devices<V: redb::Value + 'static>(
    txn: &WriteTransaction,
    table: TableDefinition<(Key32<'static>, Key32<'static>), V>,
    blob: &[u8; 32],
) -> Result<(), StoreError> {
    let mut t = txn.open_table(table)?;
    let devices: Vec<[u8; 32]> = t
        .range((blob, &NO_DEVICE)..=(blob, &ALL_DEVICES))?
        .map(|item| item.map(|(k, _)| *k.value().1))
        .collect::<Result<_, _>>()?;
    for d in &devices {
        t.remove((blob, d))?;
    }
    Ok(())
}

/// [`Store::blob_fetched`](super::Store::blob_fetched).
pub(crate) fn fetched(
    db: &Database,
    blob: &[u8; 32],
    device: &PublicKey,
    start: u64,
    served: u64,
) -> Result<bool, StoreError> {
    let mut txn = write(db)?;
    let done = 'decide: {
        let Some(meta) = txn
            .open_table(BLOBS)?
            .get(blob)?
            .map(|v| decode_meta(v.value()))
            .transpose()?
        else {
            break 'decide None;
        };
        let grants = txn.open_table(BLOB_GRANTS)?;
        if meta.uploader == device.0 || grants.get((blob, &device.0))?.is_none() {
            break 'decide None;
        }
        let mut fetched = txn.open_table(BLOB_FETCHED)?;
        let mark = fetched.get((blob, &device.0))?.map_or(0, |v| v.value());
        if start > mark {
            break 'decide None;
        }
        let now = start.saturating_add(served).min(meta.chunks).max(mark);
        fetched.insert((blob, &device.0), now)?;
        for item in grants.range((blob, &NO_DEVICE)..=(blob, &ALL_DEVICES))? {
            let (k, _) = item?;
            let served = fetched.get((blob, k.value().1))?.map_or(0, |v| v.value());
            if served < meta.chunks {
                break 'decide Some(None);
            }
        }
        Some(Some(meta))
    };
    let deleted = match done {
        None => {
            txn.abort()?;
            return Ok(false);
        }
        Some(None) => {
            // Only a count moved: losing it in a crash delays the deletion
            // to the retention at worst, so it need not wait for the disk
            // (the next durable commit carries it).
            let _ = txn.set_durability(Durability::None);
            false
        }
        Some(Some(meta)) => {
            delete(&txn, blob, &meta)?;
            true
        }
    };
    txn.commit()?;
    Ok(deleted)
}

/// [`Store::blob_expire`](super::Store::blob_expire).
pub(crate) fn expire(db: &Database, before: u64, now: u64) -> Result<(u64, u64), StoreError> {
    let txn = write(db)?;
    let mut old = Vec::new();
    let mut stamped = false;
    {
        let blobs = txn.open_table(BLOBS)?;
        let mut begun = txn.open_table(BLOB_BEGUN)?;
        for item in blobs.iter()? {
            let (k, v) = item?;
            let id = *k.value();
            let at = begun.get(&id)?.map(|t| t.value());
            match at {
                None => {
                    begun.insert(&id, now)?;
                    stamped = true;
                }
                Some(at) if at < before => old.push((id, decode_meta(v.value())?)),
                Some(_) => {}
            }
        }
    }
    if old.is_empty() && !stamped {
        txn.abort()?;
        return Ok((0, 0));
    }
    let mut freed = 0u64;
    for (id, meta) in &old {
        freed = freed.saturating_add(delete(&txn, id, meta)?);
    }
    txn.commit()?;
    Ok((old.len() as u64, freed))
}

/// What [`check`] found in the attachment tables.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlobReport {
    /// Blobs held, complete or not.
    pub blobs: u64,
    /// Sealed chunks held.
    pub chunks: u64,
    /// Sealed bytes reserved against quotas, all focal points together.
    pub reserved: u64,
    /// Where the tables disagree (empty: consistent).
    pub problems: Vec<String>,
}

/// Check that the attachment tables agree: each blob holds exactly the
/// chunks it confirmed, each focal point's quota use is the sealed size of
/// its blobs, and no chunk, grant, count or beginning outlives its blob.
pub(crate) fn check(txn: &redb::ReadTransaction) -> Result<BlobReport, StoreError> {
    use std::collections::BTreeMap;
    let mut report = BlobReport::default();
    let mut owed: BTreeMap<String, u64> = BTreeMap::new();
    let blobs = txn.open_table(BLOBS)?;
    let chunks = txn.open_table(BLOB_CHUNKS)?;
    for item in blobs.iter()? {
        let (k, v) = item?;
        let id = *k.value();
        let meta = decode_meta(v.value())?;
        report.blobs += 1;
        let held = chunks.range((&id, 0u64)..=(&id, u64::MAX))?.count() as u64;
        if held != meta.confirmed {
            report.problems.push(format!(
                "blob {} holds {held} chunks but confirmed {}",
                hex::encode(id.get(..8).unwrap_or_default()),
                meta.confirmed
            ));
        }
        let sealed = sealed_size(meta.size).ok_or(StoreError::Corrupt("blob metadata"))?;
        let e = owed.entry(meta.owner).or_default();
        *e = e.saturating_add(sealed);
    }
    let mut orphans = 0u64;
    for item in chunks.iter()? {
        let (k, _) = item?;
        report.chunks += 1;
        orphans += u64::from(blobs.get(k.value().0)?.is_none());
    }
    for item in txn.open_table(BLOB_GRANTS)?.iter()? {
        orphans += u64::from(blobs.get(item?.0.value().0)?.is_none());
    }
    for item in txn.open_table(BLOB_FETCHED)?.iter()? {
        orphans += u64::from(blobs.get(item?.0.value().0)?.is_none());
    }
    for item in txn.open_table(BLOB_BEGUN)?.iter()? {
        orphans += u64::from(blobs.get(item?.0.value())?.is_none());
    }
    if orphans > 0 {
        report.problems.push(format!(
            "{orphans} chunk, grant or count rows belong to no blob"
        ));
    }
    let mut used: BTreeMap<String, u64> = BTreeMap::new();
    for item in txn.open_table(BLOB_USAGE)?.iter()? {
        let (k, v) = item?;
        used.insert(k.value().to_owned(), v.value());
        report.reserved = report.reserved.saturating_add(v.value());
    }
    for owner in owed
        .keys()
        .chain(used.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let (want, have) = (
            owed.get(owner).copied().unwrap_or(0),
            used.get(owner).copied().unwrap_or(0),
        );
        if want != have {
            report.problems.push(format!(
                "{owner}'s quota use is {have} bytes but its blobs take {want}"
            ));
        }
    }
    Ok(report)
}

/// Sealed bytes reserved by `owner`'s blobs.
pub(crate) fn usage(db: &Database, owner: &str) -> Result<u64, StoreError> {
    let txn = db.begin_read()?;
    Ok(txn
        .open_table(BLOB_USAGE)?
        .get(owner)?
        .map(|v| v.value())
        .unwrap_or(0))
}

#[cfg(test)]
#[path = "blobs_test.rs"]
mod tests;
