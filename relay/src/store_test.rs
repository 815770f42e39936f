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
    let first = store.commit_sends(&[op(1, &a, &[b])], 10, 100).unwrap();
    assert!(
        matches!(&first[0], SendOutcome::Accepted { queued } if queued.len() == 1 && queued[0].seq == 1)
    );
    assert_eq!(
        store.commit_sends(&[op(1, &a, &[b])], 11, 100).unwrap(),
        vec![SendOutcome::Duplicate]
    );
    // Twice in one batch: the second sees the first.
    let both = store
        .commit_sends(&[op(2, &a, &[b]), op(2, &a, &[b])], 12, 100)
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
        .commit_sends(&[op(1, &s, &[a, b]), op(2, &s, &[a, b])], 10, 100)
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
    store.commit_sends(&[op(3, &s, &[a])], 11, 100).unwrap();
    assert_eq!(store.fetch(&a, 0, 10, usize::MAX).unwrap().0[0].seq, 3);
    assert_eq!(store.last_seq(&a).unwrap(), 3);
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
            2,
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
        store.commit_sends(&[op(3, &s, &[b, a])], 11, 2).unwrap()[0],
        SendOutcome::Accepted { .. }
    ));
}

#[test]
fn fetch_pages_by_count_and_bytes() {
    let (_dir, store) = temp_store();
    let (s, a) = (key(9).public_key(), key(1).public_key());
    let ops: Vec<SendOp> = (1..=5).map(|n| op(n, &s, &[a])).collect();
    store.commit_sends(&ops, 10, 100).unwrap();
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
