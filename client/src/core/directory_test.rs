#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use liaison_protocol::directory::{AuthorityCertificate, RecordStatus};
use liaison_protocol::log::{consistency_proof, root};
use liaison_protocol::{CountryCode, SecretKey};

use super::*;
use crate::core::testing::{key, rec};

const ORIGIN: &str = "relay.example/directory";

fn id(s: &str) -> DirectoryId {
    DirectoryId::parse(s).unwrap()
}

fn authority() -> Signed<AuthorityCertificate> {
    let cert = AuthorityCertificate {
        country: CountryCode::parse("TH").unwrap(),
        name: "TH".into(),
        key: key(2).public_key(),
        serial: 1,
        not_before: Timestamp(0),
        not_after: Timestamp(u64::MAX),
        revoked: false,
    };
    Signed::sign(&cert, &key(1))
}

fn bob(version: u64, identity: &SecretKey, status: RecordStatus) -> Signed<FocalPointRecord> {
    let mut r = rec("th.dsi.bob", identity, &[20]);
    r.version = version;
    r.status = status;
    Signed::sign(&r, &key(2))
}

fn revoked() -> RecordStatus {
    RecordStatus::Revoked {
        reason: "left".into(),
    }
}

/// Authority, Alice v1, Bob v1, Bob v2 (revoked).
fn entries() -> Vec<Vec<u8>> {
    vec![
        DirectoryEntry::Authority(authority()).encode(),
        DirectoryEntry::Record(Signed::sign(&rec("th.dsi.alice", &key(10), &[11]), &key(2)))
            .encode(),
        DirectoryEntry::Record(bob(1, &key(19), RecordStatus::Active)).encode(),
        DirectoryEntry::Record(bob(2, &key(19), revoked())).encode(),
    ]
}

fn leaves(entries: &[Vec<u8>]) -> Vec<Hash> {
    entries.iter().map(|e| leaf_hash(e)).collect()
}

fn checkpoint(entries: &[Vec<u8>]) -> Checkpoint {
    Checkpoint::new(ORIGIN, entries.len() as u64, root(&leaves(entries))).unwrap()
}

fn log() -> DirectoryLog {
    DirectoryLog::new(key(1).public_key())
}

#[test]
fn a_log_proven_by_its_checkpoint_gives_the_newest_version_of_each_id() {
    let e = entries();
    let cp = checkpoint(&e);
    let mut l = log();
    assert_eq!(l.next_batch(&cp), Some((0, 4)));
    assert_eq!(l.proof_from(4, &cp), None);
    let outcomes = l.extend(&e, &cp, None).unwrap();
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    assert_eq!(l.size(), 4);
    assert_eq!(l.next_batch(&cp), None);
    let held = l.state().record(&id("th.dsi.bob")).unwrap();
    assert_eq!(held.version, 2);
    assert!(is_revoked(held));
    let (dir, _) = l.directory(Timestamp(5));
    assert!(dir.resolve(&id("th.dsi.bob"), Timestamp(5)).is_empty());
    assert_eq!(dir.resolve(&id("th.dsi.alice"), Timestamp(5)).len(), 1);
}

#[test]
fn a_batch_short_of_the_checkpoint_needs_a_consistency_proof() {
    let e = entries();
    let cp = checkpoint(&e);
    let all = leaves(&e);
    let mut l = log();
    assert_eq!(l.proof_from(2, &cp), Some(2));

    // Without a proof, or with a wrong one, nothing is applied.
    let err = l.extend(&e[..2], &cp, None).unwrap_err();
    assert!(
        matches!(err, BatchError::NotAPrefix { size: 2, .. }),
        "{err}"
    );
    let wrong = consistency_proof(&all, 1, 4).unwrap();
    assert!(l.extend(&e[..2], &cp, Some(&wrong)).is_err());
    assert_eq!(l.size(), 0);

    let proof = consistency_proof(&all, 2, 4).unwrap();
    l.extend(&e[..2], &cp, Some(&proof)).unwrap();
    assert_eq!(l.size(), 2);
    assert!(l.state().record(&id("th.dsi.bob")).is_none());
    assert_eq!(l.next_batch(&cp), Some((2, 2)));
    l.extend(&e[2..], &cp, None).unwrap();
    assert_eq!(l.state().record(&id("th.dsi.bob")).unwrap().version, 2);
}

#[test]
fn entries_that_do_not_match_the_checkpoint_are_refused_and_nothing_changes() {
    let e = entries();
    let cp = checkpoint(&e);
    let mut l = log();

    // The revocation swapped for a correctly signed active version 2.
    let mut swapped = e.clone();
    swapped[3] = DirectoryEntry::Record(bob(2, &key(19), RecordStatus::Active)).encode();
    let err = l.extend(&swapped, &cp, None).unwrap_err();
    assert_eq!(err, BatchError::RootMismatch { size: 4 });
    assert_eq!(l.size(), 0);

    // The revocation left out.
    let proof = consistency_proof(&leaves(&e), 3, 4).unwrap();
    let err = l.extend(&e[..3], &cp, Some(&[])).unwrap_err();
    assert!(matches!(err, BatchError::NotAPrefix { .. }), "{err}");
    // (the right proof for three entries makes them a proven prefix)
    l.extend(&e[..3], &cp, Some(&proof)).unwrap();

    // Nothing where the checkpoint says there is something, or too much.
    let err = l.extend(&[], &cp, None).unwrap_err();
    assert_eq!(err, BatchError::Withheld { start: 3, size: 4 });
    let mut more = e[3..].to_vec();
    more.push(e[1].clone());
    let err = l.extend(&more, &cp, None).unwrap_err();
    assert!(matches!(err, BatchError::TooMany { got: 2, .. }), "{err}");
    let err = l.extend(&[b"junk".to_vec()], &cp, None).unwrap_err();
    assert!(
        matches!(err, BatchError::Malformed { index: 3, .. }),
        "{err}"
    );
    assert_eq!(l.size(), 3);
}

#[test]
fn versions_never_go_down_and_revocations_stay_across_batches() {
    // A log that later holds an older version again (the relay cannot
    // append it, but a log is not trusted to follow the rules).
    let mut e = entries();
    e.push(DirectoryEntry::Record(bob(1, &key(19), RecordStatus::Active)).encode());
    e.push(DirectoryEntry::Record(bob(3, &key(19), RecordStatus::Active)).encode());
    let cp = checkpoint(&e);
    let mut l = log();
    let outcomes = l.extend(&e, &cp, None).unwrap();
    assert!(outcomes[4].is_err() && outcomes[5].is_err());
    assert_eq!(l.refused().len(), 2);
    assert_eq!(l.refused()[0].0, 4);
    let held = l.state().record(&id("th.dsi.bob")).unwrap();
    assert_eq!(held.version, 2);
    assert!(is_revoked(held));
}

#[test]
fn a_log_restored_from_the_home_is_the_one_applied() {
    let e = entries();
    let cp = checkpoint(&e);
    let mut l = log();
    l.extend(&e, &cp, None).unwrap();
    let back = DirectoryLog::restore(key(1).public_key(), &e, l.range()).unwrap();
    assert_eq!(back.size(), 4);
    assert_eq!(
        back.state().signed_record(&id("th.dsi.bob")),
        l.state().signed_record(&id("th.dsi.bob"))
    );
    let err = DirectoryLog::restore(key(1).public_key(), &e[..3], l.range()).unwrap_err();
    assert_eq!(err, BatchError::Stored);
}

#[test]
fn what_the_relay_serves_outside_the_log_is_named() {
    let e = entries();
    let cp = checkpoint(&e);
    let mut l = log();
    l.extend(&e, &cp, None).unwrap();
    let state = l.state();
    let alice = state.signed_record(&id("th.dsi.alice")).unwrap().clone();
    let now = Timestamp(5);

    // The log's own records: nothing to say.
    let honest: Vec<_> = state.signed_records().into_iter().cloned().collect();
    assert!(compare_served(state, &honest, now).is_empty());

    // A correctly signed record for an id the log does not have.
    let carol = Signed::sign(&rec("th.dsi.carol", &key(30), &[31]), &key(2));
    // Bob's version 1 again: the revocation omitted.
    let old_bob = bob(1, &key(19), RecordStatus::Active);
    // A version 3 of Bob, signed by the authority, never logged.
    let new_bob = bob(3, &key(66), RecordStatus::Active);
    // Signed by a key that is no authority.
    let forged = Signed::sign(&rec("th.dsi.dave", &key(40), &[41]), &key(9));

    let found = compare_served(state, &[alice.clone(), carol, old_bob], now);
    assert_eq!(
        found,
        vec![
            Served::NotInLog {
                id: id("th.dsi.carol"),
                version: 1,
                in_log: None,
                refused: None
            },
            Served::Older {
                id: id("th.dsi.bob"),
                served: 1,
                in_log: 2,
                revoked: true
            },
        ]
    );
    assert!(found[1].describe().contains("holds version 2 (revoked)"));
    assert!(found.iter().all(Served::is_evidence));

    let found = compare_served(state, &[alice, new_bob, forged], now);
    assert_eq!(found.len(), 2);
    assert_eq!(
        found[0],
        Served::NotInLog {
            id: id("th.dsi.bob"),
            version: 3,
            in_log: Some(2),
            refused: Some(
                "th.dsi.bob was revoked at version 2; a revoked record is never used again".into()
            )
        }
    );
    assert!(matches!(&found[1], Served::Invalid { id, .. } if id == "th.dsi.dave"));
    assert!(!found[1].is_evidence());

    // Bob not served at all.
    let only_alice = vec![state.signed_record(&id("th.dsi.alice")).unwrap().clone()];
    assert_eq!(
        compare_served(state, &only_alice, now),
        vec![Served::Omitted {
            id: id("th.dsi.bob"),
            in_log: 2,
            revoked: true
        }]
    );
}

#[test]
fn the_wait_for_a_covering_checkpoint_is_bounded() {
    assert_eq!(wait_for_checkpoint(0, 5_000), Wait::Retry);
    assert_eq!(wait_for_checkpoint(4_999, 5_000), Wait::Retry);
    assert_eq!(wait_for_checkpoint(5_000, 5_000), Wait::GiveUp);
    assert_eq!(wait_for_checkpoint(0, 0), Wait::GiveUp);
}

/// Bob v1, then v2 revoked at `at` (its validity starting then, as
/// `liaison-admin revoke` makes it), or undated (`None`: the start kept).
fn revoked_bob(at: Option<u64>) -> DirectoryLog {
    let mut v2 = rec("th.dsi.bob", &key(19), &[20]);
    v2.version = 2;
    v2.status = revoked();
    if let Some(at) = at {
        v2.not_before = Timestamp(at);
    }
    let e = vec![
        DirectoryEntry::Authority(authority()).encode(),
        DirectoryEntry::Record(bob(1, &key(19), RecordStatus::Active)).encode(),
        DirectoryEntry::Record(Signed::sign(&v2, &key(2))).encode(),
    ];
    let mut l = log();
    l.extend(&e, &checkpoint(&e), None).unwrap();
    l
}

#[test]
fn a_message_is_judged_by_the_record_in_force_when_the_relay_accepted_it() {
    let l = revoked_bob(Some(1_000));
    let bob_device = key(20).public_key();
    let r = l.revocation(&id("th.dsi.bob")).unwrap();
    assert_eq!(r.at(), Some(Timestamp(1_000)));
    assert_eq!(r.reason(), "left");
    assert_eq!(
        l.revocations_of_device(&bob_device).collect::<Vec<_>>(),
        vec![r]
    );
    // Accepted before the revocation: the version in force then.
    let before = r.in_force_before(&bob_device, Timestamp(999)).unwrap();
    assert_eq!(before.version, 1);
    // At or after it, whatever the sender's own clock says: nothing.
    assert!(r.in_force_before(&bob_device, Timestamp(1_000)).is_none());
    assert!(r.in_force_before(&bob_device, Timestamp(5_000)).is_none());
    // Another device was never the record's.
    assert!(
        r.in_force_before(&key(21).public_key(), Timestamp(999))
            .is_none()
    );
    // A revocation that does not say when judges nothing by the past.
    let undated = revoked_bob(None);
    let r = undated.revocation(&id("th.dsi.bob")).unwrap();
    assert_eq!(r.at(), None);
    assert!(r.in_force_before(&bob_device, Timestamp(1)).is_none());
}

/// Bob v1 with devices 20 and 21; v2 drops device 21 (`liaison-admin
/// revoke-device` at `at`, so starting a minute before, or undated); v3
/// replaces the identity (key 22, device 23) at `at + 1000`.
fn bob_loses_devices(at: Option<u64>) -> DirectoryLog {
    let v1 = rec("th.dsi.bob", &key(19), &[20, 21]);
    let mut v2 = rec("th.dsi.bob", &key(19), &[20]);
    v2.version = 2;
    let mut v3 = rec("th.dsi.bob", &key(22), &[23]);
    v3.version = 3;
    if let Some(at) = at {
        v2.not_before = Timestamp(at - RECORD_SKEW_MS);
        v3.not_before = Timestamp(at + 1_000 - RECORD_SKEW_MS);
    }
    let e = vec![
        DirectoryEntry::Authority(authority()).encode(),
        DirectoryEntry::Record(Signed::sign(&v1, &key(2))).encode(),
        DirectoryEntry::Record(Signed::sign(&v2, &key(2))).encode(),
        DirectoryEntry::Record(Signed::sign(&v3, &key(2))).encode(),
    ];
    let mut l = log();
    l.extend(&e, &checkpoint(&e), None).unwrap();
    l
}

#[test]
fn a_message_from_a_dropped_device_is_judged_by_the_record_in_force_when_accepted() {
    let l = bob_loses_devices(Some(100_000));
    let (removed, replaced) = (key(21).public_key(), key(20).public_key());
    // Device 21, removed at 100000: v1 judges what the relay accepted before.
    let r = l.removal_of_device(&removed).unwrap();
    assert!(!r.revokes_record());
    assert_eq!(r.at(), Some(Timestamp(100_000)));
    assert_eq!(
        r.in_force_before(&removed, Timestamp(99_999))
            .unwrap()
            .version,
        1
    );
    assert!(r.in_force_before(&removed, Timestamp(100_000)).is_none());
    // Device 20, dropped by the identity replacement at 101000: v2 judges
    // what was accepted before that, nothing after.
    let r = l.removal_of_device(&replaced).unwrap();
    assert_eq!(r.at(), Some(Timestamp(101_000)));
    assert_eq!(
        r.in_force_before(&replaced, Timestamp(100_999))
            .unwrap()
            .version,
        2
    );
    assert!(r.in_force_before(&replaced, Timestamp(101_000)).is_none());
    assert_eq!(l.retirements_of_device(&replaced).count(), 1);
    // The device in use is no one's removal.
    assert!(l.removal_of_device(&key(23).public_key()).is_none());
    // A removal that does not say when judges nothing by the past.
    let undated = bob_loses_devices(None);
    assert!(undated.removal_of_device(&replaced).unwrap().at().is_none());
    let r = undated.removal_of_device(&removed).unwrap();
    assert_eq!(r.at(), None);
    assert!(r.in_force_before(&removed, Timestamp(1)).is_none());
}

#[test]
fn own_standing_says_what_happened_to_the_record() {
    let me = id("th.dsi.bob");
    let identity = key(19).public_key();
    let device = key(20).public_key();
    let l = revoked_bob(Some(1_000));
    let standing = OwnStanding::of(&l, &me, &identity, &device, Timestamp(2_000));
    assert_eq!(
        standing,
        OwnStanding::Revoked {
            version: 2,
            reason: "left".into(),
            at: Some(Timestamp(1_000)),
        }
    );
    assert!(standing.describe(&me).contains("this device was revoked"));
    // Replaced: the record names another identity.
    let other = OwnStanding::of(&l, &me, &key(99).public_key(), &device, Timestamp(2_000));
    assert_eq!(other.name(), "revoked", "a revocation says so first");
    let e = vec![
        DirectoryEntry::Authority(authority()).encode(),
        DirectoryEntry::Record(bob(1, &key(19), RecordStatus::Active)).encode(),
    ];
    let mut active = log();
    active.extend(&e, &checkpoint(&e), None).unwrap();
    assert_eq!(
        OwnStanding::of(&active, &me, &identity, &device, Timestamp(5)),
        OwnStanding::Active
    );
    assert_eq!(
        OwnStanding::of(&active, &me, &key(99).public_key(), &device, Timestamp(5)),
        OwnStanding::Replaced {
            version: 1,
            identity,
        }
    );
    assert_eq!(
        OwnStanding::of(&active, &me, &identity, &key(21).public_key(), Timestamp(5)),
        OwnStanding::DeviceRemoved { version: 1 }
    );
    assert_eq!(
        OwnStanding::of(
            &active,
            &id("th.dsi.nobody"),
            &identity,
            &device,
            Timestamp(5)
        ),
        OwnStanding::NotEnrolled
    );
}

/// A renewal moves the validity start of later versions: a message the
/// relay accepted under an earlier version that listed the device is
/// still judged by the record in force then, after a removal and after a
/// revocation.
#[test]
fn a_renewal_before_the_change_does_not_hide_earlier_messages() {
    let v1 = rec("th.dsi.bob", &key(19), &[20, 21]);
    let mut v2 = v1.clone();
    v2.version = 2;
    v2.not_before = Timestamp(50_000);
    let mut v3 = rec("th.dsi.bob", &key(19), &[20]);
    v3.version = 3;
    v3.not_before = Timestamp(100_000 - RECORD_SKEW_MS);
    let mut v4 = v3.clone();
    v4.version = 4;
    v4.status = revoked();
    v4.not_before = Timestamp(200_000);
    let e = vec![
        DirectoryEntry::Authority(authority()).encode(),
        DirectoryEntry::Record(Signed::sign(&v1, &key(2))).encode(),
        DirectoryEntry::Record(Signed::sign(&v2, &key(2))).encode(),
        DirectoryEntry::Record(Signed::sign(&v3, &key(2))).encode(),
        DirectoryEntry::Record(Signed::sign(&v4, &key(2))).encode(),
    ];
    let mut l = log();
    l.extend(&e, &checkpoint(&e), None).unwrap();
    // Device 21, accepted at 10000 under v1, removed by v3.
    let removed = key(21).public_key();
    let r = l.removal_of_device(&removed).unwrap();
    assert_eq!(r.listed_since.get(&removed), Some(&Timestamp(0)));
    assert!(r.in_force_before(&removed, Timestamp(10_000)).is_some());
    // Device 20, accepted at 10000 under v1, its record revoked by v4.
    let kept = key(20).public_key();
    let r = l.revocation(&id("th.dsi.bob")).unwrap();
    assert!(r.in_force_before(&kept, Timestamp(10_000)).is_some());
    assert!(r.in_force_before(&kept, Timestamp(200_000)).is_none());
}
