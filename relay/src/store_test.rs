#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::HashSet;
use std::sync::Arc;

use liaison_protocol::Signed;
use liaison_protocol::directory::AuthorityCertificate;
use liaison_protocol::{CountryCode, Timestamp};

use super::*;
use crate::test_support::*;

#[test]
fn one_time_prekeys_are_claimed_exactly_once_under_concurrency() {
    let (_dir, store) = temp_store();
    let device = key(1);
    let mut keys: Vec<Prekey> = (0..50).map(|n| prekey(&device, n, false)).collect();
    keys.push(prekey(&device, 200, true));
    assert_eq!(
        store.add_prekeys(&device.public_key(), &keys, 200).unwrap(),
        PrekeyUpload::Stored { one_time: 50 }
    );
    assert_eq!(
        store.prekey_count(&device.public_key()).unwrap(),
        (50, true)
    );

    let store = Arc::new(store);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let dev = device.public_key();
            std::thread::spawn(move || {
                (0..20)
                    .map(|_| store.claim_prekey(&dev).unwrap().unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let claimed: Vec<Prekey> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(claimed.len(), 160);
    let one_time: Vec<[u8; 32]> = claimed
        .iter()
        .filter(|p| !p.fallback)
        .map(|p| p.key)
        .collect();
    let unique: HashSet<[u8; 32]> = one_time.iter().copied().collect();
    assert_eq!(one_time.len(), 50, "every one-time key handed out");
    assert_eq!(unique.len(), 50, "no one-time key handed out twice");
    assert!(
        claimed
            .iter()
            .filter(|p| p.fallback)
            .all(|p| p.key == [200; 32])
    );
    assert_eq!(store.prekey_count(&device.public_key()).unwrap(), (0, true));
    // Claimed keys verify (the relay returns them exactly as the device signed).
    assert!(claimed.iter().all(|p| p.verify().is_ok()));
}

#[test]
fn no_prekey_without_fallback_and_upload_cap() {
    let (_dir, store) = temp_store();
    let device = key(1);
    assert_eq!(store.claim_prekey(&device.public_key()).unwrap(), None);
    let keys: Vec<Prekey> = (0..5).map(|n| prekey(&device, n, false)).collect();
    assert_eq!(
        store.add_prekeys(&device.public_key(), &keys, 4).unwrap(),
        PrekeyUpload::TooMany { have: 0, max: 4 }
    );
    assert_eq!(
        store.prekey_count(&device.public_key()).unwrap(),
        (0, false)
    );
    store
        .add_prekeys(&device.public_key(), &keys[..3], 4)
        .unwrap();
    // Re-uploading held keys does not count twice.
    assert_eq!(
        store
            .add_prekeys(&device.public_key(), &keys[..4], 4)
            .unwrap(),
        PrekeyUpload::Stored { one_time: 4 }
    );
    assert!(matches!(
        store.add_prekeys(&device.public_key(), &keys, 4).unwrap(),
        PrekeyUpload::TooMany { have: 4, .. }
    ));
}

#[test]
fn duplicate_message_ids_enqueue_nothing() {
    let (_dir, store) = temp_store();
    let (a, b) = (key(1).public_key(), key(2).public_key());
    let first = store
        .commit_sends(&[op(1, &a, &[b])], 10, QueueLimits::depth(100))
        .unwrap();
    assert!(
        matches!(&first[0], SendOutcome::Accepted { queued } if queued.len() == 1 && queued[0].seq == 1)
    );
    assert_eq!(
        store
            .commit_sends(&[op(1, &a, &[b])], 11, QueueLimits::depth(100))
            .unwrap(),
        vec![SendOutcome::Duplicate]
    );
    // Twice in one batch: the second sees the first.
    let both = store
        .commit_sends(
            &[op(2, &a, &[b]), op(2, &a, &[b])],
            12,
            QueueLimits::depth(100),
        )
        .unwrap();
    assert!(matches!(both[0], SendOutcome::Accepted { .. }));
    assert_eq!(both[1], SendOutcome::Duplicate);
    assert_eq!(store.queue_depth(&b).unwrap(), 2);
    assert_eq!(total_queued(&store).unwrap(), 2);
}

#[test]
fn ack_deletes_only_the_devices_own_entries() {
    let (_dir, store) = temp_store();
    let (s, a, b) = (
        key(9).public_key(),
        key(1).public_key(),
        key(2).public_key(),
    );
    store
        .commit_sends(
            &[op(1, &s, &[a, b]), op(2, &s, &[a, b])],
            10,
            QueueLimits::depth(100),
        )
        .unwrap();
    // Both devices have seq 1 and 2; acking as A touches only A's queue.
    assert_eq!(store.ack(&a, &[1, 2, 77], 2_000).unwrap(), 2);
    assert_eq!(store.ack(&a, &[1, 2], 2_000).unwrap(), 0, "idempotent");
    assert_eq!(store.queue_depth(&a).unwrap(), 0);
    assert_eq!(store.queue_depth(&b).unwrap(), 2);
    let (items, more) = store.fetch(&b, 0, 10, usize::MAX).unwrap();
    assert_eq!(items.iter().map(|q| q.seq).collect::<Vec<_>>(), vec![1, 2]);
    assert!(!more);
    assert!(store.fetch(&a, 0, 10, usize::MAX).unwrap().0.is_empty());
    // Sequence numbers are never reused after deletion.
    store
        .commit_sends(&[op(3, &s, &[a])], 11, QueueLimits::depth(100))
        .unwrap();
    assert_eq!(store.fetch(&a, 0, 10, usize::MAX).unwrap().0[0].seq, 3);
    assert_eq!(store.last_seq(&a).unwrap(), 3);
}

#[test]
fn a_lapse_is_noted_once_survives_reopening_and_a_drop_forgets_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.redb");
    let (s, a, b) = (
        key(9).public_key(),
        key(1).public_key(),
        key(2).public_key(),
    );
    {
        let store = RedbStore::open(&path).unwrap();
        store
            .commit_sends(&[op(1, &s, &[a, b])], 10, QueueLimits::depth(100))
            .unwrap();
        assert_eq!(
            store
                .queued_devices()
                .unwrap()
                .into_iter()
                .collect::<HashSet<_>>(),
            HashSet::from([a, b])
        );
        store.note_lapsed(&[(a, 100), (b, 100)], &[]).unwrap();
        // The first time noted stays.
        store.note_lapsed(&[(a, 500)], &[]).unwrap();
    }
    let store = RedbStore::open(&path).unwrap();
    assert_eq!(
        store.lapsed_devices().unwrap(),
        BTreeMap::from([(a, 100), (b, 100)])
    );
    // Back in force: forgotten, the queue untouched.
    store.note_lapsed(&[], &[b]).unwrap();
    assert_eq!(store.lapsed_devices().unwrap(), BTreeMap::from([(a, 100)]));
    assert_eq!(store.queue_depth(&b).unwrap(), 1);
    // Dropped: the queue and the lapse go together.
    assert_eq!(store.drop_queue(&a, "lapsed", 200).unwrap(), 1);
    assert!(store.lapsed_devices().unwrap().is_empty());
    assert_eq!(store.queued_devices().unwrap(), vec![b]);
}

#[test]
fn queue_limit_refuses_only_the_offending_message() {
    let (_dir, store) = temp_store();
    let (s, a, b) = (
        key(9).public_key(),
        key(1).public_key(),
        key(2).public_key(),
    );
    let out = store
        .commit_sends(
            &[
                op(1, &s, &[a]),
                op(2, &s, &[a]),
                op(3, &s, &[b, a]),
                op(4, &s, &[b]),
            ],
            10,
            QueueLimits::depth(2),
        )
        .unwrap();
    assert!(matches!(out[0], SendOutcome::Accepted { .. }));
    assert!(matches!(out[1], SendOutcome::Accepted { .. }));
    assert_eq!(out[2], SendOutcome::QueueFull { device: a });
    assert!(matches!(out[3], SendOutcome::Accepted { .. }));
    assert_eq!(store.queue_depth(&a).unwrap(), 2);
    // Message 3 left nothing in B's queue; only message 4 is there.
    let (items, _) = store.fetch(&b, 0, 10, usize::MAX).unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].envelope.message_id, op(4, &s, &[]).message_id);
    // A refused message was not recorded as seen: once there is room, it goes.
    store.ack(&a, &[1], 2_000).unwrap();
    assert!(matches!(
        store
            .commit_sends(&[op(3, &s, &[b, a])], 11, QueueLimits::depth(2))
            .unwrap()[0],
        SendOutcome::Accepted { .. }
    ));
}

#[test]
fn fetch_pages_by_count_and_bytes() {
    let (_dir, store) = temp_store();
    let (s, a) = (key(9).public_key(), key(1).public_key());
    let ops: Vec<SendOp> = (1..=5).map(|n| op(n, &s, &[a])).collect();
    store
        .commit_sends(&ops, 10, QueueLimits::depth(100))
        .unwrap();
    let (items, more) = store.fetch(&a, 0, 2, usize::MAX).unwrap();
    assert_eq!(items.iter().map(|q| q.seq).collect::<Vec<_>>(), vec![1, 2]);
    assert!(more);
    let (items, more) = store.fetch(&a, 2, 10, usize::MAX).unwrap();
    assert_eq!(
        items.iter().map(|q| q.seq).collect::<Vec<_>>(),
        vec![3, 4, 5]
    );
    assert!(!more);
    // A byte budget below one envelope still returns one.
    let (items, more) = store.fetch(&a, 0, 10, 1).unwrap();
    assert_eq!(items.len(), 1);
    assert!(more);
    assert_eq!(items[0].accepted_at, 10);
    assert_eq!(items[0].envelope, ops[0].envelopes[0]);
    assert!(
        store
            .fetch(&a, u64::MAX, 10, usize::MAX)
            .unwrap()
            .0
            .is_empty()
    );
    let (none, more) = store.fetch(&a, 0, 0, usize::MAX).unwrap();
    assert!(none.is_empty() && more);
}

#[test]
fn records_keep_versions_and_refuse_stale_ones() {
    let (dir, store) = temp_store();
    let authority = key(50);
    let (identity, device) = (key(3), key(4));
    let v1 = record("th.dsi.somchai", 1, &identity, &[&device]);
    let s1 = Signed::sign(&v1, &authority);
    let pre = vec![prekey(&device, 1, false), prekey(&device, 2, true)];
    assert_eq!(
        store.put_record(&v1, &s1, &pre, 10).unwrap(),
        PutOutcome::Stored
    );
    assert_eq!(store.prekey_count(&device.public_key()).unwrap(), (1, true));
    // A retried publish changes nothing and does not resurrect claimed keys.
    store.claim_prekey(&device.public_key()).unwrap();
    assert_eq!(
        store.put_record(&v1, &s1, &pre, 10).unwrap(),
        PutOutcome::Unchanged
    );
    assert_eq!(store.prekey_count(&device.public_key()).unwrap(), (0, true));

    let mut other_v1 = v1.clone();
    other_v1.name = "Someone else".into();
    let so = Signed::sign(&other_v1, &authority);
    assert_eq!(
        store.put_record(&other_v1, &so, &[], 10).unwrap(),
        PutOutcome::Stale { stored: 1 }
    );
    let v3 = record("th.dsi.somchai", 3, &identity, &[&device]);
    let s3 = Signed::sign(&v3, &authority);
    let too_many: Vec<Prekey> = (0..11).map(|n| prekey(&device, n, false)).collect();
    assert_eq!(
        store.put_record(&v3, &s3, &too_many, 10).unwrap(),
        PutOutcome::TooManyPrekeys {
            device: device.public_key(),
            max: 10
        }
    );
    assert_eq!(
        store.put_record(&v3, &s3, &[], 10).unwrap(),
        PutOutcome::Stored
    );
    let v2 = record("th.dsi.somchai", 2, &identity, &[&device]);
    assert_eq!(
        store
            .put_record(&v2, &Signed::sign(&v2, &authority), &[], 10)
            .unwrap(),
        PutOutcome::Stale { stored: 3 }
    );
    assert_eq!(
        store.record_history("th.dsi.somchai").unwrap(),
        vec![s1, s3.clone()]
    );
    drop(store);
    // Everything survives reopening.
    let store = RedbStore::open(&dir.path().join("relay.redb")).unwrap();
    let (_, records) = store.load_directory().unwrap();
    assert_eq!(records, vec![s3]);
}

#[test]
fn authority_serials_and_revocation_is_final() {
    let (_dir, store) = temp_store();
    let root = key(1);
    let th = key(2);
    let mut cert = AuthorityCertificate {
        country: CountryCode::parse("TH").unwrap(),
        name: "TH".into(),
        key: th.public_key(),
        serial: 2,
        not_before: Timestamp(0),
        not_after: Timestamp(u64::MAX),
        revoked: false,
    };
    let put = |c: &AuthorityCertificate| store.put_authority(c, &Signed::sign(c, &root)).unwrap();
    assert_eq!(put(&cert), PutOutcome::Stored);
    assert_eq!(put(&cert), PutOutcome::Unchanged);
    cert.serial = 1;
    assert_eq!(put(&cert), PutOutcome::Stale { stored: 2 });
    cert.serial = 3;
    assert_eq!(put(&cert), PutOutcome::Stored);
    // A revocation wins whatever its serial, and nothing replaces it.
    cert.serial = 1;
    cert.revoked = true;
    assert_eq!(put(&cert), PutOutcome::Stored);
    cert.serial = 9;
    cert.revoked = false;
    assert_eq!(put(&cert), PutOutcome::Revoked);
    let (auths, _) = store.load_directory().unwrap();
    assert_eq!(auths.len(), 1);
    assert!(auths[0].decode_unverified().unwrap().revoked);
}

fn raw_entries(from: u64, n: u64) -> Vec<Vec<u8>> {
    (from..from + n).map(|i| i.to_be_bytes().to_vec()).collect()
}

fn leaf_hashes(n: u64) -> Vec<Hash> {
    raw_entries(0, n)
        .iter()
        .map(|e| liaison_protocol::log::leaf_hash(e))
        .collect()
}

/// Sizes spread over `1..=n`, every small one and a deterministic sample of
/// the rest.
fn sizes(n: u64) -> Vec<u64> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut out: Vec<u64> = (1..=n.min(40)).collect();
    for _ in 0..40 {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        out.push(1 + (x >> 33) % n);
    }
    out.push(n);
    out
}

/// Every proof and root the store serves equals the one computed from the
/// leaf hashes alone (the path before interior hashes were stored).
fn assert_same_as_leaf_path(store: &RedbStore, log: LogId, n: u64) {
    let leaves = leaf_hashes(n);
    let (size, root) = store.log_head(log).unwrap();
    assert_eq!(size, n);
    assert_eq!(root, liaison_protocol::log::root(&leaves));
    let mut x = 7u64;
    for size in sizes(n) {
        for _ in 0..8 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let index = (x >> 33) % size;
            assert_eq!(
                store.inclusion_proof(log, index, size).unwrap().unwrap(),
                inclusion_proof(&leaves, index, size).unwrap(),
                "inclusion of {index} in {size}"
            );
            let old = 1 + (x >> 17) % size;
            assert_eq!(
                store.consistency_proof(log, old, size).unwrap().unwrap(),
                consistency_proof(&leaves, old, size).unwrap(),
                "consistency {old} -> {size}"
            );
        }
    }
    assert_eq!(store.inclusion_proof(log, n, n).unwrap(), None);
    assert_eq!(store.consistency_proof(log, 1, n + 1).unwrap(), None);
}

#[test]
fn stored_interior_hashes_give_the_leaf_path_proofs() {
    let (_dir, store) = temp_store();
    assert_eq!(store.format().unwrap(), STORE_FORMAT);
    let mut n = 0u64;
    // Batches of uneven sizes, so subtrees complete across transactions.
    for chunk in [1u64, 2, 5, 64, 3, 129, 500, 7, 300] {
        assert_eq!(
            store
                .append_raw_entries(LogId::Events, &raw_entries(n, chunk))
                .unwrap(),
            n
        );
        n += chunk;
    }
    assert_same_as_leaf_path(&store, LogId::Events, n);
    assert_eq!(store.log_head(LogId::Directory).unwrap().0, 0);
}

/// Turn `path` back into a format-0 store (no interior hashes, no format)
/// whose migration stopped after building `built` leaves of the directory
/// log.
fn make_format_0_interrupted(path: &std::path::Path, built: u64) {
    let db = redb::Database::create(path).unwrap();
    let txn = db.begin_write().unwrap();
    txn.delete_table(logs::LOG_NODES).unwrap();
    txn.delete_table(format::META).unwrap();
    if built > 0 {
        logs::build_nodes(&txn, LogId::Directory, 0, built).unwrap();
        txn.open_table(format::META)
            .unwrap()
            .insert(format::progress_key("log_nodes/directory").as_str(), built)
            .unwrap();
    }
    txn.commit().unwrap();
}

#[test]
fn an_older_store_is_migrated_and_an_interrupted_migration_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.redb");
    // Raw entries are not event records: the event log stays empty here
    // (tests/tests/relay_store_format.rs migrates a real one).
    let directory = 1000u64;
    {
        let store = RedbStore::open(&path).unwrap();
        store
            .append_raw_entries(LogId::Directory, &raw_entries(0, directory))
            .unwrap();
    }
    for built in [0, 300] {
        make_format_0_interrupted(&path, built);
        {
            let db = redb::Database::create(&path).unwrap();
            assert_eq!(format::stored_format(&db).unwrap(), 0);
        }
        let store = RedbStore::open(&path).unwrap();
        assert_eq!(store.format().unwrap(), STORE_FORMAT);
        assert_same_as_leaf_path(&store, LogId::Directory, directory);
        assert_eq!(store.log_head(LogId::Events).unwrap().0, 0);
        drop(store);
        // Opening a migrated store again changes nothing.
        let store = RedbStore::open(&path).unwrap();
        assert_same_as_leaf_path(&store, LogId::Directory, directory);
    }
}

#[test]
fn a_store_of_a_newer_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.redb");
    drop(RedbStore::open(&path).unwrap());
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(format::META)
            .unwrap()
            .insert(format::FORMAT_KEY, STORE_FORMAT + 1)
            .unwrap();
        txn.commit().unwrap();
    }
    let err = RedbStore::open(&path).unwrap_err();
    assert!(
        matches!(err, StoreError::NewerFormat { found, supported } if found == STORE_FORMAT + 1 && supported == STORE_FORMAT),
        "{err}"
    );
}

fn declaring(n: u16, from: &PublicKey, to: &[PublicKey], about: u16) -> SendOp {
    let mut op = op(n, from, to);
    op.declare = vec![liaison_protocol::frames::Declaration {
        kind: liaison_protocol::log::event::Declared::DeliveryReceipt,
        refers_to: op_id(about),
        commitment: [0; 32],
    }];
    op
}

fn op_id(n: u16) -> MessageId {
    op(n, &key(0).public_key(), &[]).message_id
}

#[test]
fn a_device_declares_only_about_messages_it_sent_or_received() {
    let (_dir, store) = temp_store();
    let (a, b, c) = (
        key(1).public_key(),
        key(2).public_key(),
        key(3).public_key(),
    );
    let limits = QueueLimits::depth(100);
    // a sends message 1 to b.
    store.commit_sends(&[op(1, &a, &[b])], 10, limits).unwrap();
    let (events_before, _) = store.log_head(LogId::Events).unwrap();
    // c saw neither end of message 1: its declaration is refused and logs
    // nothing.
    assert_eq!(
        store
            .commit_sends(&[declaring(2, &c, &[a], 1)], 11, limits)
            .unwrap(),
        vec![SendOutcome::UnknownReference]
    );
    assert_eq!(store.log_head(LogId::Events).unwrap().0, events_before);
    // The recipient and the sender may.
    let out = store
        .commit_sends(
            &[declaring(3, &b, &[a], 1), declaring(4, &a, &[b], 1)],
            12,
            limits,
        )
        .unwrap();
    assert!(
        out.iter()
            .all(|o| matches!(o, SendOutcome::Accepted { .. })),
        "{out:?}"
    );
}

#[test]
fn one_sender_fills_only_its_share_of_a_queue() {
    let (_dir, store) = temp_store();
    let (a, b, r) = (
        key(1).public_key(),
        key(2).public_key(),
        key(3).public_key(),
    );
    let limits = QueueLimits {
        depth: 10,
        per_sender: 3,
    };
    let ops: Vec<SendOp> = (1..=4).map(|n| op(n, &a, &[r])).collect();
    let out = store.commit_sends(&ops, 10, limits).unwrap();
    assert!(matches!(out[2], SendOutcome::Accepted { .. }));
    assert_eq!(out[3], SendOutcome::SenderShareFull { device: r, max: 3 });
    // Another sender still gets through.
    assert!(matches!(
        store.commit_sends(&[op(5, &b, &[r])], 11, limits).unwrap()[0],
        SendOutcome::Accepted { .. }
    ));
    // Once the recipient acknowledges one of a's, a may send one more.
    let (queued, _) = store.fetch(&r, 0, 10, 1 << 20).unwrap();
    let first_of_a = queued
        .iter()
        .find(|q| q.envelope.sender_device == a)
        .unwrap()
        .seq;
    assert_eq!(store.ack(&r, &[first_of_a], 12).unwrap(), 1);
    assert!(matches!(
        store.commit_sends(&[op(6, &a, &[r])], 13, limits).unwrap()[0],
        SendOutcome::Accepted { .. }
    ));
    assert_eq!(
        store.commit_sends(&[op(7, &a, &[r])], 14, limits).unwrap()[0],
        SendOutcome::SenderShareFull { device: r, max: 3 }
    );
    // A dropped queue frees every sender's share.
    store.drop_queue(&r, "revoked", 15).unwrap();
    assert!(matches!(
        store.commit_sends(&[op(8, &a, &[r])], 16, limits).unwrap()[0],
        SendOutcome::Accepted { .. }
    ));
}

/// A store holding `n` raw entries in the event log and a checkpoint the
/// relay signed at size `n`.
fn signed_store(n: u64, entries: &[Vec<u8>]) -> (tempfile::TempDir, RedbStore) {
    let (dir, store) = temp_store();
    store.append_raw_entries(LogId::Events, entries).unwrap();
    let (size, root) = store.log_head(LogId::Events).unwrap();
    assert_eq!(size, n);
    let signer = liaison_protocol::log::NoteSigner::from_seed("test/events", &[7; 32]).unwrap();
    let note = liaison_protocol::log::Checkpoint::new("test/events", size, root)
        .unwrap()
        .sign(&signer)
        .unwrap()
        .encode()
        .unwrap();
    store.put_checkpoint(LogId::Events, size, &note).unwrap();
    (dir, store)
}

/// Overwrite entry `index` of the event log behind the store's back.
fn alter_entry(store: &RedbStore, index: u64) {
    let txn = store.db.begin_write().unwrap();
    txn.open_table(logs::LOG_ENTRIES)
        .unwrap()
        .insert((log_tag(LogId::Events), index), b"altered".as_slice())
        .unwrap();
    txn.commit().unwrap();
}

#[test]
fn the_check_finds_altered_entries_and_rewritten_history() {
    use check::Depth;
    let n = 2 * check::TAIL;
    let entries = raw_entries(0, n);
    let (_dir, store) = signed_store(n, &entries);
    let logs = store.check(Depth::Full).unwrap().unwrap();
    let events = logs.iter().find(|l| l.log == "events").unwrap();
    assert_eq!((events.size, events.checkpoint), (n, n));
    assert_eq!(events.entries_checked, n);
    assert_eq!(events.checkpoints_checked, 1);
    assert_eq!(
        store.check(Depth::Quick).unwrap().unwrap()[1].entries_checked,
        check::TAIL
    );

    // An entry among the newest: every start sees it.
    alter_entry(&store, n - 3);
    let m = store.check(Depth::Quick).unwrap().unwrap_err();
    assert!(
        m.to_string()
            .contains(&format!("entry {} no longer hashes", n - 3)),
        "{m}"
    );

    // An old entry: the full check (liaison-relay check-store) sees it.
    let (_dir2, store) = signed_store(n, &entries);
    alter_entry(&store, 5);
    assert!(store.check(Depth::Quick).unwrap().is_ok());
    let m = store.check(Depth::Full).unwrap().unwrap_err();
    assert!(m.to_string().contains("entry 5 no longer hashes"), "{m}");

    // History rewritten coherently (entry, leaf, interior hashes, root) but
    // under the checkpoint the relay signed for the original: refused.
    let (_dir3, original) = signed_store(n, &entries);
    let mut other = entries.clone();
    other[5] = b"rewritten".to_vec();
    let (_dir4, rewritten) = temp_store();
    rewritten.append_raw_entries(LogId::Events, &other).unwrap();
    let note = original.checkpoint_at(LogId::Events, n).unwrap().unwrap();
    rewritten.put_checkpoint(LogId::Events, n, &note).unwrap();
    let m = rewritten.check(Depth::Quick).unwrap().unwrap_err();
    assert!(
        m.to_string()
            .contains("no longer gives the root the relay signed"),
        "{m}"
    );
}
