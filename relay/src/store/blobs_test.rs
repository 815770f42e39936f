#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use liaison_protocol::attachment::{CHUNK_SIZE, seal_all};

use super::*;
use crate::store::{QueueLimits, RedbStore, Store};
use crate::test_support::*;
use redb::ReadableTableMetadata;

const BLOB: [u8; 32] = [5; 32];
const QUOTA: u64 = 10 * CHUNK_SIZE as u64;

/// A sealed file of `len` plaintext bytes.
fn sealed(len: usize) -> Vec<Vec<u8>> {
    seal_all(&[9; 32], &vec![3u8; len]).unwrap().0
}

fn progress(confirmed: u64, chunks: u64) -> BlobProgress {
    BlobProgress { confirmed, chunks }
}

#[test]
fn an_upload_resumes_from_the_last_confirmed_chunk_and_a_resent_chunk_changes_nothing() {
    let (dir, store) = temp_store();
    let a = key(1).public_key();
    let len = 2 * CHUNK_SIZE + 10;
    let chunks = sealed(len);
    assert_eq!(
        store
            .blob_begin(&BLOB, &a, "th.a", len as u64, QUOTA)
            .unwrap(),
        BlobBegin::Progress(progress(0, 3))
    );
    assert_eq!(
        store.blob_put_chunk(&BLOB, &a, 0, &chunks[0]).unwrap(),
        BlobPut::Progress(progress(1, 3))
    );
    // The answer was lost: the chunk comes again, and nothing changes.
    assert_eq!(
        store.blob_put_chunk(&BLOB, &a, 0, &chunks[0]).unwrap(),
        BlobPut::Progress(progress(1, 3))
    );
    // A chunk beyond the next one is refused, saying where to resume.
    assert_eq!(
        store.blob_put_chunk(&BLOB, &a, 2, &chunks[2]).unwrap(),
        BlobPut::OutOfOrder(progress(1, 3))
    );
    // After a restart, beginning again says where to resume.
    drop(store);
    let store = RedbStore::open(&dir.path().join("relay.redb")).unwrap();
    assert_eq!(
        store
            .blob_begin(&BLOB, &a, "th.a", len as u64, QUOTA)
            .unwrap(),
        BlobBegin::Progress(progress(1, 3))
    );
    store.blob_put_chunk(&BLOB, &a, 1, &chunks[1]).unwrap();
    assert_eq!(
        store.blob_put_chunk(&BLOB, &a, 2, &chunks[2]).unwrap(),
        BlobPut::Progress(progress(3, 3))
    );
    // The uploader reads back exactly what it sent.
    let BlobFetch::Chunks(back) = store.blob_fetch(&BLOB, &a, 0, 10, usize::MAX).unwrap() else {
        panic!("the uploader may fetch its blob");
    };
    assert_eq!(back, chunks);
}

#[test]
fn a_run_is_stored_in_one_commit_each_chunk_judged_after_those_before_it() {
    let (dir, store) = temp_store();
    let a = key(1).public_key();
    let len = 4 * CHUNK_SIZE + 10;
    let chunks = sealed(len);
    store
        .blob_begin(&BLOB, &a, "th.a", len as u64, QUOTA)
        .unwrap();
    let run = |items: &[u64]| -> Vec<(u64, &[u8])> {
        items
            .iter()
            .map(|&i| (i, chunks[i as usize].as_slice()))
            .collect()
    };
    // Nothing lines up: nothing is stored.
    assert_eq!(
        store.blob_put_chunks(&BLOB, &a, &run(&[1, 2])).unwrap(),
        vec![BlobPut::OutOfOrder(progress(0, 5)); 2]
    );
    // 0 and 1 line up and are stored together (answered with the progress
    // of the whole run); 3 comes after a gap and is not.
    assert_eq!(
        store.blob_put_chunks(&BLOB, &a, &run(&[0, 1, 3])).unwrap(),
        vec![
            BlobPut::Progress(progress(2, 5)),
            BlobPut::Progress(progress(2, 5)),
            BlobPut::OutOfOrder(progress(2, 5)),
        ]
    );
    // A chunk held already changes nothing; one of the wrong length stops
    // the run there.
    assert_eq!(
        store
            .blob_put_chunks(
                &BLOB,
                &a,
                &[
                    (1, &chunks[1]),
                    (2, &chunks[2]),
                    (3, &chunks[4]),
                    (4, &chunks[4])
                ]
            )
            .unwrap(),
        vec![
            BlobPut::Progress(progress(2, 5)),
            BlobPut::Progress(progress(3, 5)),
            BlobPut::WrongLength {
                expected: CHUNK_SIZE + TAG_SIZE
            },
            BlobPut::OutOfOrder(progress(3, 5)),
        ]
    );
    // What was confirmed is on disk.
    drop(store);
    let store = RedbStore::open(&dir.path().join("relay.redb")).unwrap();
    assert_eq!(
        store.blob_put_chunks(&BLOB, &a, &run(&[3, 4])).unwrap(),
        vec![BlobPut::Progress(progress(5, 5)); 2]
    );
    let BlobFetch::Chunks(back) = store.blob_fetch(&BLOB, &a, 0, 10, usize::MAX).unwrap() else {
        panic!("the uploader may fetch its blob");
    };
    assert_eq!(back, chunks);
    let b = key(2).public_key();
    assert_eq!(
        store.blob_put_chunks(&BLOB, &b, &run(&[0])).unwrap(),
        vec![BlobPut::Unknown]
    );
}

#[test]
fn chunks_of_the_wrong_length_or_from_another_device_are_refused() {
    let (_dir, store) = temp_store();
    let (a, b) = (key(1).public_key(), key(2).public_key());
    let chunks = sealed(CHUNK_SIZE + 10);
    store
        .blob_begin(&BLOB, &a, "th.a", (CHUNK_SIZE + 10) as u64, QUOTA)
        .unwrap();
    assert_eq!(
        store.blob_put_chunk(&BLOB, &a, 0, &chunks[1]).unwrap(),
        BlobPut::WrongLength {
            expected: CHUNK_SIZE + TAG_SIZE
        }
    );
    assert_eq!(
        store.blob_put_chunk(&BLOB, &b, 0, &chunks[0]).unwrap(),
        BlobPut::Unknown
    );
    // Another device cannot take over the id, nor the same device change
    // the size.
    assert_eq!(
        store.blob_begin(&BLOB, &b, "th.b", 10, QUOTA).unwrap(),
        BlobBegin::Conflict
    );
    assert_eq!(
        store.blob_begin(&BLOB, &a, "th.a", 10, QUOTA).unwrap(),
        BlobBegin::Conflict
    );
}

#[test]
fn the_quota_counts_whole_blobs_per_focal_point() {
    let (_dir, store) = temp_store();
    let (a1, a2) = (key(1).public_key(), key(2).public_key());
    let size = 4 * CHUNK_SIZE as u64;
    let sealed = sealed_size(size).unwrap();
    store
        .blob_begin(&[1; 32], &a1, "th.a", size, QUOTA)
        .unwrap();
    store
        .blob_begin(&[2; 32], &a2, "th.a", size, QUOTA)
        .unwrap();
    assert_eq!(
        crate::store::blob_usage(&store, "th.a").unwrap(),
        2 * sealed
    );
    // The focal point's third blob, from either device, is over the quota,
    // before any chunk is sent; nothing is reserved for it.
    assert_eq!(
        store
            .blob_begin(&[3; 32], &a1, "th.a", size, QUOTA)
            .unwrap(),
        BlobBegin::QuotaExceeded {
            used: 2 * sealed,
            needed: sealed,
            quota: QUOTA
        }
    );
    assert_eq!(
        crate::store::blob_usage(&store, "th.a").unwrap(),
        2 * sealed
    );
    // Another focal point has its own.
    assert!(matches!(
        store
            .blob_begin(&[3; 32], &key(3).public_key(), "th.b", size, QUOTA)
            .unwrap(),
        BlobBegin::Progress(_)
    ));
}

#[test]
fn only_the_uploader_and_the_recipients_of_a_granting_message_may_fetch() {
    let (_dir, store) = temp_store();
    let (a, b, c) = (
        key(1).public_key(),
        key(2).public_key(),
        key(3).public_key(),
    );
    let chunks = sealed(100);
    store.blob_begin(&BLOB, &a, "th.a", 100, QUOTA).unwrap();
    // A grant before the upload is complete is refused.
    let message = op(1, &a, &[b]);
    let id = message.message_id;
    store
        .commit_sends(&[message], 10, QueueLimits::depth(100))
        .unwrap();
    assert_eq!(
        store.blob_grant(&BLOB, &a, &id).unwrap(),
        BlobGrant::Incomplete(progress(0, 1))
    );
    store.blob_put_chunk(&BLOB, &a, 0, &chunks[0]).unwrap();
    assert_eq!(
        store.blob_fetch(&BLOB, &b, 0, 1, usize::MAX).unwrap(),
        BlobFetch::NotFound
    );
    // Only the message's sender may grant, and only for a message it sent.
    assert_eq!(
        store.blob_grant(&BLOB, &b, &id).unwrap(),
        BlobGrant::Unknown
    );
    let other = op(2, &c, &[a]);
    let other_id = other.message_id;
    store
        .commit_sends(&[other], 11, QueueLimits::depth(100))
        .unwrap();
    assert_eq!(
        store.blob_grant(&BLOB, &a, &other_id).unwrap(),
        BlobGrant::UnknownMessage
    );
    assert_eq!(
        store.blob_grant(&BLOB, &a, &id).unwrap(),
        BlobGrant::Granted { devices: 1 }
    );
    assert_eq!(
        store.blob_fetch(&BLOB, &b, 0, 1, usize::MAX).unwrap(),
        BlobFetch::Chunks(chunks)
    );
    assert_eq!(
        store.blob_fetch(&BLOB, &c, 0, 1, usize::MAX).unwrap(),
        BlobFetch::NotFound
    );
}

#[test]
fn a_fetch_stops_at_the_byte_limit_and_the_end() {
    let (_dir, store) = temp_store();
    let a = key(1).public_key();
    let len = 3 * CHUNK_SIZE;
    let chunks = sealed(len);
    store
        .blob_begin(&BLOB, &a, "th.a", len as u64, QUOTA)
        .unwrap();
    for (i, c) in chunks.iter().enumerate() {
        store.blob_put_chunk(&BLOB, &a, i as u64, c).unwrap();
    }
    let BlobFetch::Chunks(two) = store
        .blob_fetch(&BLOB, &a, 0, 10, 2 * (CHUNK_SIZE + TAG_SIZE))
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(two.len(), 2);
    // At least one chunk, whatever the limit.
    let BlobFetch::Chunks(one) = store.blob_fetch(&BLOB, &a, 2, 10, 1).unwrap() else {
        panic!()
    };
    assert_eq!(one, vec![chunks[2].clone()]);
    assert_eq!(
        store.blob_fetch(&BLOB, &a, 3, 10, usize::MAX).unwrap(),
        BlobFetch::Chunks(vec![])
    );
}

#[test]
fn a_size_beyond_the_construction_is_invalid() {
    let (_dir, store) = temp_store();
    assert_eq!(
        store
            .blob_begin(&BLOB, &key(1).public_key(), "th.a", u64::MAX, u64::MAX)
            .unwrap(),
        BlobBegin::Invalid
    );
}

/// A complete blob of `len` bytes uploaded by `a` as "th.a" and granted to
/// the recipients of one message `a` sends to `to`.
fn granted_blob(store: &RedbStore, blob: &[u8; 32], a: &PublicKey, to: &[PublicKey], len: usize) {
    let chunks = sealed(len);
    store
        .blob_begin(blob, a, "th.a", len as u64, QUOTA)
        .unwrap();
    for (i, c) in chunks.iter().enumerate() {
        store.blob_put_chunk(blob, a, i as u64, c).unwrap();
    }
    let message = op(blob[0].into(), a, to);
    let id = message.message_id;
    store
        .commit_sends(&[message], 10, QueueLimits::depth(100))
        .unwrap();
    assert!(matches!(
        store.blob_grant(blob, a, &id).unwrap(),
        BlobGrant::Granted { .. }
    ));
}

#[test]
fn a_blob_is_deleted_once_every_granted_device_fetched_every_chunk() {
    let (_dir, store) = temp_store();
    let (a, b, c) = (
        key(1).public_key(),
        key(2).public_key(),
        key(3).public_key(),
    );
    let len = 2 * CHUNK_SIZE + 10;
    granted_blob(&store, &BLOB, &a, &[b, c], len);
    let sealed_len = sealed_size(len as u64).unwrap();
    assert_eq!(usage(&store.db, "th.a").unwrap(), sealed_len);

    // The uploader's own fetches do not count; nor do chunks out of order.
    assert!(!store.blob_fetched(&BLOB, &a, 0, 3).unwrap());
    assert!(!store.blob_fetched(&BLOB, &b, 1, 2).unwrap());
    // b fetches everything, in two goes (a resumed download).
    assert!(!store.blob_fetched(&BLOB, &b, 0, 2).unwrap());
    assert!(!store.blob_fetched(&BLOB, &b, 2, 1).unwrap());
    // A device without a grant changes nothing.
    assert!(
        !store
            .blob_fetched(&BLOB, &key(4).public_key(), 0, 3)
            .unwrap()
    );
    assert!(matches!(
        store.blob_fetch(&BLOB, &c, 0, 3, usize::MAX).unwrap(),
        BlobFetch::Chunks(_)
    ));
    // The last device's last chunk deletes it and frees the quota.
    assert!(!store.blob_fetched(&BLOB, &c, 0, 1).unwrap());
    assert!(store.blob_fetched(&BLOB, &c, 1, 2).unwrap());
    assert_eq!(usage(&store.db, "th.a").unwrap(), 0);
    for d in [a, b, c] {
        assert_eq!(
            store.blob_fetch(&BLOB, &d, 0, 3, usize::MAX).unwrap(),
            BlobFetch::NotFound
        );
    }
    let txn = store.db.begin_read().unwrap();
    assert_eq!(txn.open_table(BLOB_CHUNKS).unwrap().len().unwrap(), 0);
    assert_eq!(txn.open_table(BLOB_GRANTS).unwrap().len().unwrap(), 0);
    assert_eq!(txn.open_table(BLOB_FETCHED).unwrap().len().unwrap(), 0);
    assert_eq!(txn.open_table(BLOB_BEGUN).unwrap().len().unwrap(), 0);
    drop(txn);
    // The id may be used again, from nothing.
    assert_eq!(
        store
            .blob_begin(&BLOB, &a, "th.a", len as u64, QUOTA)
            .unwrap(),
        BlobBegin::Progress(progress(0, 3))
    );
}

#[test]
fn retention_deletes_old_blobs_complete_or_not_and_frees_their_quota() {
    let (_dir, store) = temp_store();
    let (a, b) = (key(1).public_key(), key(2).public_key());
    granted_blob(&store, &[1; 32], &a, &[b], 100);
    store
        .blob_begin(&[2; 32], &a, "th.a", 5 * CHUNK_SIZE as u64, QUOTA)
        .unwrap();
    let (first, begun) = {
        let txn = store.db.begin_read().unwrap();
        let t = txn.open_table(BLOB_BEGUN).unwrap();
        let at = |b: [u8; 32]| t.get(&b).unwrap().unwrap().value();
        (at([1; 32]), at([2; 32]))
    };
    // Nothing is old enough yet.
    assert_eq!(store.blob_expire(first, begun).unwrap(), (0, 0));
    assert!(usage(&store.db, "th.a").unwrap() > 0);
    let freed = sealed_size(100).unwrap() + sealed_size(5 * CHUNK_SIZE as u64).unwrap();
    assert_eq!(store.blob_expire(begun + 1, begun + 1).unwrap(), (2, freed));
    assert_eq!(usage(&store.db, "th.a").unwrap(), 0);
    assert_eq!(
        store.blob_fetch(&[1; 32], &b, 0, 1, usize::MAX).unwrap(),
        BlobFetch::NotFound
    );
}

#[test]
fn a_blob_without_a_recorded_beginning_counts_from_the_first_sweep() {
    let (_dir, store) = temp_store();
    let (a, b) = (key(1).public_key(), key(2).public_key());
    granted_blob(&store, &BLOB, &a, &[b], 100);
    // As the previous release stored it.
    let txn = store.db.begin_write().unwrap();
    txn.open_table(BLOB_BEGUN).unwrap().remove(&BLOB).unwrap();
    txn.commit().unwrap();
    // The first sweep stamps it now instead of deleting it.
    assert_eq!(store.blob_expire(u64::MAX, 1_000).unwrap(), (0, 0));
    assert_eq!(store.blob_expire(1_000, 2_000).unwrap(), (0, 0));
    assert_eq!(
        store.blob_expire(1_001, 2_000).unwrap(),
        (1, sealed_size(100).unwrap())
    );
}

#[test]
fn the_attachment_tables_stay_consistent_through_deletion_and_a_mismatch_is_named() {
    let (_dir, store) = temp_store();
    let (a, b) = (key(1).public_key(), key(2).public_key());
    granted_blob(&store, &[1; 32], &a, &[b], 2 * CHUNK_SIZE + 10);
    granted_blob(&store, &[2; 32], &a, &[b], 100);
    store
        .blob_begin(&[3; 32], &a, "th.a", 5 * CHUNK_SIZE as u64, QUOTA)
        .unwrap();
    let r = store.check_blobs().unwrap();
    assert_eq!((r.blobs, r.chunks, r.problems.len()), (3, 4, 0), "{r:?}");
    assert!(store.blob_fetched(&[1; 32], &b, 0, 3).unwrap());
    let r = store.check_blobs().unwrap();
    assert_eq!((r.blobs, r.chunks), (2, 1));
    assert!(r.problems.is_empty(), "{r:?}");
    assert_eq!(
        r.reserved,
        sealed_size(100).unwrap() + sealed_size(5 * CHUNK_SIZE as u64).unwrap()
    );

    // Quota use that no longer matches the blobs is named.
    let txn = store.db.begin_write().unwrap();
    txn.open_table(BLOB_USAGE)
        .unwrap()
        .insert("th.a", 7)
        .unwrap();
    txn.open_table(BLOB_GRANTS)
        .unwrap()
        .insert((&[9; 32], &b.0), ())
        .unwrap();
    txn.commit().unwrap();
    let r = store.check_blobs().unwrap();
    assert_eq!(r.problems.len(), 2, "{r:?}");
    assert!(r.problems[0].contains("1 chunk, grant or count rows belong to no blob"));
    assert!(
        r.problems[1].contains("th.a's quota use is 7 bytes"),
        "{r:?}"
    );
}
