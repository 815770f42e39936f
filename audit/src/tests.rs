#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]

use std::path::{Path, PathBuf};

use liaison_protocol::codec::Wire;
use liaison_protocol::directory::AuthorityCertificate;
use liaison_protocol::frames::LogId;
use liaison_protocol::log::event::{DirectoryEntry, DisclosedEvent, EventKind, EventRecord};
use liaison_protocol::log::{Checkpoint, CosignatureSigner, Hash, LogPolicy, TlogProof, leaf_hash};
use liaison_protocol::{MessageId, SecretKey};

use crate::files::{read_bounded, write_atomic};
use crate::layout::{
    EXPORT_README, encode_proof_text, parse_checkpoint_name, parse_entry_name, parse_proof_name,
    parse_proof_text,
};
use crate::proof::{DisclosedLeaf, describe_directory_entry, describe_event, verify_proof_bundle};
use crate::report::Report;
use crate::trust::{Trust, log_of_key_name};
use crate::verify::{EntryData, LogExport, verify_export, verify_log};
use liaison_protocol::directory::{
    DeviceKeys, FocalPointRecord, RecordFormat, RecordStatus, endorse_device, prove_device,
};
use liaison_protocol::log::{NoteSigner, inclusion_proof, root};
use liaison_protocol::{CountryCode, DirectoryId, Signed, Timestamp};

const NET: &str = "test.liaison";

fn signer(log: LogId, seed: u8) -> NoteSigner {
    NoteSigner::from_seed(&format!("{NET}/{}", log.name()), &[seed; 32]).unwrap()
}

fn policy(log: LogId) -> LogPolicy {
    LogPolicy::new(signer(log, 1).verifier()).unwrap()
}

fn key(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32])
}

fn authority(
    root: &SecretKey,
    auth: &SecretKey,
    cc: &str,
    serial: u64,
    revoked: bool,
) -> DirectoryEntry {
    DirectoryEntry::Authority(Signed::sign(
        &AuthorityCertificate {
            country: CountryCode::parse(cc).unwrap(),
            name: format!("{cc} authority"),
            key: auth.public_key(),
            serial,
            not_before: Timestamp(0),
            not_after: Timestamp(u64::MAX / 2),
            revoked,
        },
        root,
    ))
}

fn record(auth: &SecretKey, id: &str, version: u64, device: u8) -> DirectoryEntry {
    let id = DirectoryId::parse(id).unwrap();
    let dk = DeviceKeys {
        signing: key(device).public_key(),
        agreement: [device; 32],
    };
    let endorsement = endorse_device(&key(100 + device), &id, &dk);
    DirectoryEntry::Record(Signed::sign(
        &FocalPointRecord {
            country: id.country(),
            id: id.clone(),
            version,
            name: "Officer".into(),
            agency: "DSI".into(),
            unit: String::new(),
            roles: vec![],
            languages: vec!["en".into()],
            time_zone: "UTC".into(),
            working_hours: String::new(),
            notes: String::new(),
            identity_key: key(100 + device).public_key(),
            device_endorsements: vec![endorsement],
            device_proofs: vec![Some(prove_device(
                &key(device),
                &id,
                &key(100 + device).public_key(),
                &dk,
            ))],
            devices: vec![dk],
            format: RecordFormat::Proofs,
            not_before: Timestamp(0),
            not_after: Timestamp(u64::MAX / 2),
            status: RecordStatus::Active,
        },
        auth,
    ))
}

fn directory_entries() -> Vec<Vec<u8>> {
    let (root, th, ph) = (key(1), key(2), key(3));
    [
        authority(&root, &th, "TH", 1, false),
        authority(&root, &ph, "PH", 1, false),
        record(&th, "th.dsi.alice", 1, 10),
        record(&ph, "ph.pnp.bob", 1, 11),
        record(&th, "th.dsi.alice", 2, 12),
    ]
    .iter()
    .map(Wire::encode)
    .collect()
}

fn mid(n: u8) -> MessageId {
    MessageId([n; 16])
}

fn event_records() -> Vec<EventRecord> {
    let (a, b) = (key(10).public_key(), key(11).public_key());
    let kinds = vec![
        EventKind::Accepted {
            message_id: mid(1),
            sender_device: a,
            recipient_devices: vec![b],
            bytes: 120,
        },
        EventKind::Accepted {
            message_id: mid(2),
            sender_device: a,
            recipient_devices: vec![b],
            bytes: 80,
        },
        EventKind::Delivered {
            message_id: mid(1),
            recipient_device: b,
        },
        EventKind::Delivered {
            message_id: mid(2),
            recipient_device: b,
        },
        EventKind::Acknowledged {
            message_id: mid(1),
            recipient_device: b,
        },
        EventKind::Acknowledged {
            message_id: mid(2),
            recipient_device: b,
        },
        EventKind::Accepted {
            message_id: mid(3),
            sender_device: b,
            recipient_devices: vec![a],
            bytes: 64,
        },
    ];
    kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| EventRecord {
            seq: i as u64,
            time: Timestamp(1_700_000_000_000 + 10 * i as u64),
            kind,
        })
        .collect()
}

fn event_entries(records: &[EventRecord]) -> Vec<Vec<u8>> {
    records
        .iter()
        .enumerate()
        .map(|(i, r)| DisclosedEvent::new([i as u8 + 1; 32], r).encode())
        .collect()
}

fn leaves_of(log: LogId, entries: &[Vec<u8>]) -> Vec<Hash> {
    entries
        .iter()
        .map(|e| match log {
            LogId::Directory => leaf_hash(e),
            LogId::Events => DisclosedEvent::decode(e)
                .map(|d| d.leaf_hash())
                .unwrap_or_else(|_| leaf_hash(e)),
        })
        .collect()
}

fn note_at(log: LogId, leaves: &[Hash], size: usize, seed: u8) -> Vec<u8> {
    let s = signer(log, seed);
    Checkpoint::new(s.name(), size as u64, root(&leaves[..size]))
        .unwrap()
        .sign(&s)
        .unwrap()
        .encode()
        .unwrap()
        .into_bytes()
}

/// An export with checkpoints at `sizes` (all signed by the real key).
fn export_of(log: LogId, entries: &[Vec<u8>], sizes: &[usize]) -> LogExport {
    let leaves = leaves_of(log, entries);
    LogExport {
        checkpoints: sizes
            .iter()
            .map(|&n| (format!("{n}.note"), note_at(log, &leaves, n, 1)))
            .collect(),
        proofs: Vec::new(),
        entries: entries
            .iter()
            .enumerate()
            .map(|(i, e)| (i as u64, EntryData::Inline(e.clone())))
            .collect(),
        leaf_hashes: None,
        problems: Vec::new(),
    }
}

fn run(log: LogId, ex: &LogExport) -> Report {
    let root_key = key(1).public_key();
    let mut report = Report::default();
    verify_log(log, ex, &policy(log), Some(&root_key), &mut report);
    report
}

fn inline(ex: &mut LogExport, i: u64) -> &mut Vec<u8> {
    match ex.entries.get_mut(&i).unwrap() {
        EntryData::Inline(b) => b,
        EntryData::File(_) => unreachable!(),
    }
}

#[test]
fn a_good_directory_log_verifies() {
    let entries = directory_entries();
    let ex = export_of(LogId::Directory, &entries, &[2, 4, 5]);
    let report = run(LogId::Directory, &ex);
    assert!(report.is_ok(), "{}", report.render());
    let mut r = Report::default();
    let summary = verify_log(
        LogId::Directory,
        &ex,
        &policy(LogId::Directory),
        None,
        &mut r,
    );
    assert!(r.is_ok(), "{}", r.render());
    assert_eq!(summary.verified_size, 5);
    assert_eq!(summary.checkpoints, 3);
    assert!(
        r.notes()
            .iter()
            .any(|n| n.contains("no network root pinned"))
    );
}

#[test]
fn a_good_event_log_verifies() {
    let entries = event_entries(&event_records());
    let ex = export_of(LogId::Events, &entries, &[1, 3, 7]);
    let report = run(LogId::Events, &ex);
    assert!(report.is_ok(), "{}", report.render());
}

#[test]
fn a_flipped_byte_is_named() {
    let entries = directory_entries();
    for i in 0..entries.len() as u64 {
        for pos in [0usize, 1, 7, 40] {
            let mut ex = export_of(LogId::Directory, &entries, &[5]);
            let b = inline(&mut ex, i);
            let pos = pos % b.len();
            b[pos] ^= 0x01;
            let report = run(LogId::Directory, &ex);
            assert!(!report.is_ok());
            assert!(report.mentions("root mismatch"), "{}", report.render());
            assert!(
                report.mentions("directory checkpoint 5.note"),
                "{}",
                report.render()
            );
        }
    }
    let records = event_records();
    let entries = event_entries(&records);
    let mut ex = export_of(LogId::Events, &entries, &[7]);
    let b = inline(&mut ex, 4);
    let last = b.len() - 1;
    b[last] ^= 0x01;
    let report = run(LogId::Events, &ex);
    assert!(
        report.mentions("events entry 4") || report.mentions("root mismatch"),
        "{}",
        report.render()
    );
    assert!(!report.is_ok());
    // The salt: still decodes, but the commitment changes.
    let mut ex = export_of(LogId::Events, &entries, &[7]);
    inline(&mut ex, 2)[3] ^= 0x80;
    let report = run(LogId::Events, &ex);
    assert!(
        report.mentions("root mismatch: recomputed"),
        "{}",
        report.render()
    );
    assert!(report.mentions("entries 0 to 6"), "{}", report.render());
}

#[test]
fn missing_reordered_and_extra_entries_are_named() {
    let entries = event_entries(&event_records());
    let mut ex = export_of(LogId::Events, &entries, &[7]);
    ex.entries.remove(&3);
    ex.entries.remove(&4);
    let report = run(LogId::Events, &ex);
    assert!(
        report.mentions("events entries missing between 3 and 4"),
        "{}",
        report.render()
    );
    assert!(
        report.mentions("cannot be recomputed"),
        "{}",
        report.render()
    );

    let mut ex = export_of(LogId::Events, &entries, &[7]);
    ex.entries.remove(&6);
    let report = run(LogId::Events, &ex);
    assert!(
        report.mentions("events entry 6 is missing"),
        "{}",
        report.render()
    );

    let mut ex = export_of(LogId::Events, &entries, &[7]);
    let a = ex.entries.remove(&2).unwrap();
    let b = ex.entries.remove(&3).unwrap();
    ex.entries.insert(2, b);
    ex.entries.insert(3, a);
    let report = run(LogId::Events, &ex);
    assert!(
        report.mentions("events entry 2: sequence number 3 is not its position"),
        "{}",
        report.render()
    );
    assert!(report.mentions("reordered"), "{}", report.render());
    assert!(report.mentions("root mismatch"), "{}", report.render());

    let dir = directory_entries();
    let mut ex = export_of(LogId::Directory, &dir, &[5]);
    let a = ex.entries.remove(&0).unwrap();
    let b = ex.entries.remove(&1).unwrap();
    ex.entries.insert(0, b);
    ex.entries.insert(1, a);
    let report = run(LogId::Directory, &ex);
    assert!(report.mentions("root mismatch"), "{}", report.render());

    // Entries beyond every checkpoint are unauthenticated.
    let ex = export_of(LogId::Events, &entries, &[5]);
    let report = run(LogId::Events, &ex);
    assert!(
        report.mentions("entries 5 to 6 are not covered"),
        "{}",
        report.render()
    );
}

#[test]
fn authenticated_leaf_hashes_name_the_exact_entry() {
    let entries = event_entries(&event_records());
    let leaves = leaves_of(LogId::Events, &entries);
    let with_list = |ex: &mut LogExport| {
        ex.leaf_hashes = Some(leaves.iter().flat_map(|h| h.0).collect());
    };
    let mut ex = export_of(LogId::Events, &entries, &[3, 7]);
    with_list(&mut ex);
    assert!(run(LogId::Events, &ex).is_ok());

    inline(&mut ex, 5)[2] ^= 0x01;
    let r = run(LogId::Events, &ex);
    assert!(
        r.mentions("events entry 5 is not the entry the log signed at index 5: altered"),
        "{}",
        r.render()
    );
    assert!(!r.mentions("events entry 4 "), "{}", r.render());

    let mut ex = export_of(LogId::Events, &entries, &[7]);
    with_list(&mut ex);
    let a = ex.entries.remove(&1).unwrap();
    let b = ex.entries.remove(&5).unwrap();
    ex.entries.insert(1, b);
    ex.entries.insert(5, a);
    let r = run(LogId::Events, &ex);
    assert!(
        r.mentions("events entry 1 holds the entry the log signed at index 5: entries reordered"),
        "{}",
        r.render()
    );
    assert!(
        r.mentions("events entry 5 holds the entry the log signed at index 1"),
        "{}",
        r.render()
    );

    // A deleted entry: the rest still match their signed leaves.
    let mut ex = export_of(LogId::Events, &entries, &[7]);
    with_list(&mut ex);
    ex.entries.remove(&2);
    let r = run(LogId::Events, &ex);
    assert!(r.mentions("events entry 2 is missing"), "{}", r.render());
    assert!(!r.mentions("events entry 3 "), "{}", r.render());

    // A list that no checkpoint authenticates is not used.
    let mut ex = export_of(LogId::Events, &entries, &[7]);
    with_list(&mut ex);
    ex.leaf_hashes.as_mut().unwrap()[40] ^= 1;
    let r = run(LogId::Events, &ex);
    assert!(
        r.mentions("leaf-hashes.bin: its 7 leaf hashes match no verified checkpoint"),
        "{}",
        r.render()
    );
    ex.leaf_hashes = Some(vec![0; 33]);
    assert!(run(LogId::Events, &ex).mentions("not a multiple of 32"));
}

#[test]
fn checkpoints_by_other_keys_forks_and_bad_names() {
    let entries = directory_entries();
    let leaves = leaves_of(LogId::Directory, &entries);
    let mut ex = export_of(LogId::Directory, &entries, &[3, 5]);
    ex.checkpoints[0].1 = note_at(LogId::Directory, &leaves, 3, 9);
    let report = run(LogId::Directory, &ex);
    assert!(
        report.mentions("checkpoint directory/3.note: signature by unknown key"),
        "{}",
        report.render()
    );
    assert_eq!(report.failure_count(), 1, "{}", report.render());

    // A fork: the log key signed two roots for size 5.
    let mut ex = export_of(LogId::Directory, &entries, &[5]);
    let mut other = leaves.clone();
    other[4] = leaf_hash(b"another history");
    ex.checkpoints
        .push(("5-1.note".into(), note_at(LogId::Directory, &other, 5, 1)));
    let report = run(LogId::Directory, &ex);
    assert!(
        report.mentions("FORK in the directory log: checkpoints 5-1.note and 5.note"),
        "{}",
        report.render()
    );
    assert!(
        report.mentions("checkpoint 5-1.note: root mismatch"),
        "{}",
        report.render()
    );

    // A file name lying about the size.
    let mut ex = export_of(LogId::Directory, &entries, &[5]);
    ex.checkpoints[0].0 = "4.note".into();
    let report = run(LogId::Directory, &ex);
    assert!(
        report.mentions("the file name says size 4, the signed checkpoint says 5"),
        "{}",
        report.render()
    );

    // A flipped byte in the note.
    let mut ex = export_of(LogId::Directory, &entries, &[5]);
    let n = ex.checkpoints[0].1.len();
    ex.checkpoints[0].1[n - 10] ^= 1;
    let report = run(LogId::Directory, &ex);
    assert!(
        report.mentions("checkpoint directory/5.note"),
        "{}",
        report.render()
    );

    // No checkpoint at all.
    let mut ex = export_of(LogId::Directory, &entries, &[]);
    ex.checkpoints.clear();
    let report = run(LogId::Directory, &ex);
    assert!(
        report.mentions("no checkpoint verifies"),
        "{}",
        report.render()
    );
}

#[test]
fn witness_quorum_is_enforced() {
    let entries = directory_entries();
    let leaves = leaves_of(LogId::Directory, &entries);
    let w = CosignatureSigner::from_seed("witness.test", &[5; 32]).unwrap();
    let s = signer(LogId::Directory, 1);
    let cp = Checkpoint::new(s.name(), 5, root(&leaves)).unwrap();
    let mut note = cp.sign(&s).unwrap();
    let plain = note.encode().unwrap();
    note.add_signature(w.cosign(&cp, 1_700_000_000).unwrap())
        .unwrap();
    let cosigned = note.encode().unwrap();
    let quorum = LogPolicy::with_witnesses(s.verifier(), vec![w.verifier()], 1).unwrap();
    let mut ex = export_of(LogId::Directory, &entries, &[]);
    ex.checkpoints = vec![("5.note".into(), cosigned.into_bytes())];
    let mut r = Report::default();
    verify_log(LogId::Directory, &ex, &quorum, None, &mut r);
    assert!(r.is_ok(), "{}", r.render());
    ex.checkpoints = vec![("5.note".into(), plain.into_bytes())];
    let mut r = Report::default();
    verify_log(LogId::Directory, &ex, &quorum, None, &mut r);
    assert!(
        r.mentions("0 trusted cosignatures, policy requires 1"),
        "{}",
        r.render()
    );
}

#[test]
fn directory_chain_is_checked() {
    let (root_k, th, rogue) = (key(1), key(2), key(7));
    let build = |entries: Vec<DirectoryEntry>| {
        let bytes: Vec<Vec<u8>> = entries.iter().map(Wire::encode).collect();
        let n = bytes.len();
        run(LogId::Directory, &export_of(LogId::Directory, &bytes, &[n]))
    };
    // Certified by a key that is not the pinned root.
    let r = build(vec![authority(&rogue, &th, "TH", 1, false)]);
    assert!(r.mentions("directory entry 0: authority certificate for TH does not verify against the pinned network root"), "{}", r.render());
    // A record from an authority never certified.
    let r = build(vec![
        authority(&root_k, &th, "TH", 1, false),
        record(&rogue, "th.dsi.eve", 1, 20),
    ]);
    assert!(
        r.mentions("directory entry 1: record th.dsi.eve is signed by key"),
        "{}",
        r.render()
    );
    // An authority signing for another country.
    let r = build(vec![
        authority(&root_k, &th, "TH", 1, false),
        record(&th, "ph.pnp.bob", 1, 20),
    ]);
    assert!(
        r.mentions("directory entry 1: record ph.pnp.bob does not verify"),
        "{}",
        r.render()
    );
    // A record after its authority's revocation.
    let r = build(vec![
        authority(&root_k, &th, "TH", 1, false),
        authority(&root_k, &th, "TH", 2, true),
        record(&th, "th.dsi.alice", 1, 20),
    ]);
    assert!(r.mentions("directory entry 2: record th.dsi.alice is signed by an authority key revoked at entry 1"), "{}", r.render());
    // A version that does not increase.
    let r = build(vec![
        authority(&root_k, &th, "TH", 1, false),
        record(&th, "th.dsi.alice", 2, 20),
        record(&th, "th.dsi.alice", 2, 21),
    ]);
    assert!(r.mentions("directory entry 2: record th.dsi.alice version 2 does not supersede version 2 of entry 1"), "{}", r.render());
}

#[test]
fn event_semantics_are_checked() {
    let records = event_records();
    let check = |records: &[EventRecord]| {
        let entries = event_entries(records);
        run(
            LogId::Events,
            &export_of(LogId::Events, &entries, &[entries.len()]),
        )
    };
    let mut orphan = records.clone();
    orphan.swap(0, 2);
    orphan[0].seq = 0;
    orphan[2].seq = 2;
    let r = check(&orphan);
    assert!(
        r.mentions("events entry 0: delivered of message"),
        "{}",
        r.render()
    );
    let mut back = records.clone();
    back[5].time = Timestamp(1);
    let r = check(&back);
    assert!(r.mentions("events entry 5: time"), "{}", r.render());
    let mut twice = records.clone();
    twice[6].kind = twice[0].kind.clone();
    let r = check(&twice);
    assert!(r.mentions("accepted twice"), "{}", r.render());
    let mut gap = records.clone();
    gap[3].seq = 9;
    let r = check(&gap);
    assert!(
        r.mentions("events entry 3: sequence number 9"),
        "{}",
        r.render()
    );
}

#[test]
fn non_canonical_entries_are_named() {
    let records = event_records();
    let mut entries = event_entries(&records);
    // Trailing bytes after a valid disclosed event.
    entries[1].push(0);
    let r = run(LogId::Events, &export_of(LogId::Events, &entries, &[]));
    assert!(
        r.mentions("events entry 1: does not decode as a disclosed event"),
        "{}",
        r.render()
    );
    // A record with a non-minimal varint for `seq` (0 as 0x80 0x00),
    // committed to and signed as such.
    let mut entries = event_entries(&records);
    let mut rec = records[0].encode();
    assert_eq!(rec[1], 0);
    rec.splice(1..2, [0x80, 0x00]);
    entries[0] = DisclosedEvent {
        salt: [1; 32],
        record: rec,
    }
    .encode();
    let r = run(LogId::Events, &export_of(LogId::Events, &entries, &[7]));
    assert!(!r.is_ok());
    assert!(r.mentions("events entry 0"), "{}", r.render());
    assert!(!r.mentions("root mismatch"), "{}", r.render());
}

#[test]
fn relay_consistency_proofs_are_checked() {
    let entries = directory_entries();
    let leaves = leaves_of(LogId::Directory, &entries);
    let mut ex = export_of(LogId::Directory, &entries, &[3, 5]);
    let proof = liaison_protocol::log::consistency_proof(&leaves, 3, 5).unwrap();
    ex.proofs
        .push(("3-5.proof".into(), encode_proof_text(&proof).into_bytes()));
    assert!(run(LogId::Directory, &ex).is_ok());
    let mut bad = proof.clone();
    bad[0] = leaf_hash(b"x");
    ex.proofs[0].1 = encode_proof_text(&bad).into_bytes();
    let r = run(LogId::Directory, &ex);
    assert!(
        r.mentions("INCONSISTENT directory log: the relay's consistency proof 3-5.proof"),
        "{}",
        r.render()
    );
    ex.proofs[0].1 = b"not base64\n".to_vec();
    assert!(run(LogId::Directory, &ex).mentions("malformed proof"));
    assert_eq!(parse_proof_text(b"").unwrap(), vec![]);
    assert!(parse_proof_text(encode_proof_text(&proof).trim_end().as_bytes()).is_err());
}

#[test]
fn names_are_strict() {
    assert_eq!(parse_checkpoint_name("12.note"), Some(12));
    assert_eq!(parse_checkpoint_name("12-1.note"), Some(12));
    assert_eq!(parse_checkpoint_name("0.note"), Some(0));
    for bad in [
        "012.note",
        "12-0.note",
        "12-01.note",
        "12.notes",
        "a.note",
        "-1.note",
        "12",
    ] {
        assert_eq!(parse_checkpoint_name(bad), None, "{bad}");
    }
    assert_eq!(parse_entry_name("0.bin"), Some(0));
    assert_eq!(parse_entry_name("00.bin"), None);
    assert_eq!(parse_entry_name("1.bin.tmp"), None);
    assert_eq!(parse_proof_name("3-5.proof"), Some((3, 5)));
    assert_eq!(parse_proof_name("3-05.proof"), None);
    assert_eq!(log_of_key_name("liaison-dev/events"), Some(LogId::Events));
    assert_eq!(log_of_key_name("liaison-dev/other"), None);
}

/// Deterministic xorshift bytes, for the no-panic test.
fn noise(state: &mut u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            *state as u8
        })
        .collect()
}

#[test]
fn hostile_bytes_never_panic() {
    let entries = directory_entries();
    let leaves = leaves_of(LogId::Directory, &entries);
    let good_note = note_at(LogId::Directory, &leaves, 5, 1);
    let mut s = 0x1234_5678_9abc_def0u64;
    for round in 0..300 {
        let len = (round * 7) % 300;
        for log in LogId::ALL {
            let mut ex = export_of(log, &[], &[]);
            ex.entries.insert(0, EntryData::Inline(noise(&mut s, len)));
            ex.entries
                .insert(2, EntryData::Inline(noise(&mut s, len / 2)));
            let mut note = good_note.clone();
            if !note.is_empty() {
                let i = round % note.len();
                note[i] = noise(&mut s, 1)[0];
            }
            ex.checkpoints.push(("5.note".into(), note));
            ex.checkpoints.push(("1.note".into(), noise(&mut s, len)));
            ex.proofs.push(("1-5.proof".into(), noise(&mut s, len)));
            let r = run(log, &ex);
            assert!(!r.is_ok());
        }
        let trust = Trust::default().with_policy(LogId::Events, policy(LogId::Events));
        assert!(verify_proof_bundle(&noise(&mut s, len), &trust).is_err());
    }
    // Oversized inline entries are refused before decoding.
    let mut ex = export_of(LogId::Events, &[], &[]);
    ex.entries
        .insert(0, EntryData::Inline(vec![1; DisclosedEvent::MAX_LEN + 1]));
    assert!(run(LogId::Events, &ex).mentions("exceeds the limit"));
}

fn trust_events() -> Trust {
    Trust::default()
        .with_policy(LogId::Events, policy(LogId::Events))
        .with_policy(LogId::Directory, policy(LogId::Directory))
}

#[test]
fn proof_bundles_verify_and_tampering_fails() {
    let records = event_records();
    let entries = event_entries(&records);
    let leaves = leaves_of(LogId::Events, &entries);
    let note = String::from_utf8(note_at(LogId::Events, &leaves, 7, 1)).unwrap();
    let bundle = |i: usize, extra: Vec<u8>| {
        TlogProof::new(
            i as u64,
            inclusion_proof(&leaves, i as u64, 7).unwrap(),
            &note,
        )
        .unwrap()
        .with_extra(extra)
        .unwrap()
        .encode()
    };
    let ok =
        verify_proof_bundle(bundle(4, entries[4].clone()).as_bytes(), &trust_events()).unwrap();
    assert_eq!(ok.index, 4);
    assert_eq!(ok.log, LogId::Events);
    assert_eq!(ok.checkpoint.checkpoint().size(), 7);
    match &ok.leaf {
        DisclosedLeaf::Event { record, .. } => {
            assert_eq!(record, &records[4]);
            assert!(describe_event(record).contains("acknowledged by device"));
        }
        other => panic!("{other:?}"),
    }
    // Another event's data at this index.
    let e = verify_proof_bundle(bundle(4, entries[5].clone()).as_bytes(), &trust_events())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("sequence number 5 but the proof is for index 4"),
        "{e}"
    );
    // Salt changed: the leaf is not in the tree.
    let mut d = DisclosedEvent::decode(&entries[4]).unwrap();
    d.salt[0] ^= 1;
    let e = verify_proof_bundle(bundle(4, d.encode()).as_bytes(), &trust_events())
        .unwrap_err()
        .to_string();
    assert!(e.contains("inclusion proof does not verify"), "{e}");
    // No extra.
    let plain = TlogProof::new(4, inclusion_proof(&leaves, 4, 7).unwrap(), &note)
        .unwrap()
        .encode();
    assert!(
        verify_proof_bundle(plain.as_bytes(), &trust_events())
            .unwrap_err()
            .to_string()
            .contains("no `extra`")
    );
    // Another log key.
    let other = Trust::default().with_policy(
        LogId::Events,
        LogPolicy::new(signer(LogId::Events, 9).verifier()).unwrap(),
    );
    let e = verify_proof_bundle(bundle(4, entries[4].clone()).as_bytes(), &other)
        .unwrap_err()
        .to_string();
    assert!(e.contains("signature by unknown key"), "{e}");
    // No key for the origin.
    let e = verify_proof_bundle(bundle(4, entries[4].clone()).as_bytes(), &Trust::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("matches no pinned log key"), "{e}");

    // A directory entry.
    let dir = directory_entries();
    let dl = leaves_of(LogId::Directory, &dir);
    let dnote = String::from_utf8(note_at(LogId::Directory, &dl, 5, 1)).unwrap();
    let p = TlogProof::new(2, inclusion_proof(&dl, 2, 5).unwrap(), &dnote)
        .unwrap()
        .with_extra(dir[2].clone())
        .unwrap()
        .encode();
    let ok = verify_proof_bundle(p.as_bytes(), &trust_events()).unwrap();
    match ok.leaf {
        DisclosedLeaf::Directory(e) => {
            assert!(describe_directory_entry(&e).contains("th.dsi.alice version 1"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn offline_comparison() {
    // The decision is the protocol's; checkpoints of one log compare as
    // the auditor expects.
    use liaison_protocol::log::{CheckpointRelation, Extension, compare_checkpoints};
    let leaves: Vec<Hash> = (0..9u8).map(|i| leaf_hash(&[i])).collect();
    let at = |n: usize| Checkpoint::new("o.example/events", n as u64, root(&leaves[..n])).unwrap();
    assert_eq!(
        compare_checkpoints(&at(5), &at(5)),
        CheckpointRelation::Identical
    );
    assert!(compare_checkpoints(&at(0), &at(5)).is_consistent_offline());
    assert_eq!(
        compare_checkpoints(&at(9), &at(5)).proof_needed(),
        Some(Extension { old: 5, new: 9 })
    );
    let fork = Checkpoint::new("o.example/events", 5, leaf_hash(b"f")).unwrap();
    assert_eq!(
        compare_checkpoints(&at(5), &fork),
        CheckpointRelation::Fork { size: 5 }
    );
}

#[test]
fn trust_from_flags() {
    let d = signer(LogId::Directory, 1).verifier().to_vkey();
    let e = signer(LogId::Events, 1).verifier().to_vkey();
    let t = Trust::from_args(None, &[d.clone(), e.clone()], &[], None, None).unwrap();
    assert_eq!(t.policy(LogId::Events).unwrap().log().to_vkey(), e);
    assert!(t.root().is_none());
    assert_eq!(
        t.policy_for_origin("test.liaison/directory").unwrap().0,
        LogId::Directory
    );
    let w = CosignatureSigner::from_seed("w.example", &[3; 32])
        .unwrap()
        .verifier()
        .to_vkey();
    let t = Trust::from_args(
        None,
        std::slice::from_ref(&d),
        std::slice::from_ref(&w),
        None,
        None,
    )
    .unwrap();
    assert_eq!(t.policy(LogId::Directory).unwrap().min_cosignatures(), 1);
    assert!(Trust::from_args(None, std::slice::from_ref(&d), &[w], Some(2), None).is_err());
    assert!(Trust::from_args(None, &[], &[], None, None).is_err());
    let odd = NoteSigner::from_seed("test.liaison/other", &[1; 32])
        .unwrap()
        .verifier()
        .to_vkey();
    assert!(Trust::from_args(None, &[odd], &[], None, None).is_err());
    assert!(Trust::from_args(None, &["nonsense".into()], &[], None, None).is_err());
}

struct Scratch(PathBuf);
impl Scratch {
    fn new(tag: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!(
            "liaison-audit-unit-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
}
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write_export(dir: &Path, log: LogId, ex: &LogExport) {
    let ld = dir.join(log.name());
    for sub in ["checkpoints", "entries", "proofs"] {
        std::fs::create_dir_all(ld.join(sub)).unwrap();
    }
    for (n, b) in &ex.checkpoints {
        write_atomic(&ld.join("checkpoints").join(n), b, false).unwrap();
    }
    for (i, d) in &ex.entries {
        let EntryData::Inline(b) = d else {
            unreachable!()
        };
        write_atomic(&ld.join("entries").join(format!("{i}.bin")), b, false).unwrap();
    }
}

#[test]
fn export_directories_on_disk() {
    let scratch = Scratch::new("disk");
    let dir = scratch.0.join("export");
    let dentries = directory_entries();
    let eentries = event_entries(&event_records());
    write_export(
        &dir,
        LogId::Directory,
        &export_of(LogId::Directory, &dentries, &[2, 5]),
    );
    write_export(
        &dir,
        LogId::Events,
        &export_of(LogId::Events, &eentries, &[7]),
    );
    std::fs::write(dir.join("README.txt"), EXPORT_README).unwrap();
    let trust = trust_events().with_root(key(1).public_key());
    let (report, summaries) = verify_export(&dir, &trust).unwrap();
    assert!(report.is_ok(), "{}", report.render());
    assert_eq!(summaries.len(), 2);

    // Hostile files: an oversized entry, a directory and a symlink where
    // entries belong, a stray file, a leftover temporary file.
    let entries = dir.join("events").join("entries");
    std::fs::write(
        entries.join("3.bin"),
        vec![0u8; DisclosedEvent::MAX_LEN + 1],
    )
    .unwrap();
    std::fs::remove_file(entries.join("4.bin")).unwrap();
    std::fs::create_dir(entries.join("4.bin")).unwrap();
    #[cfg(unix)]
    {
        std::fs::remove_file(entries.join("5.bin")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", entries.join("5.bin")).unwrap();
    }
    std::fs::write(entries.join(".6.bin.tmp1"), b"x").unwrap();
    std::fs::write(dir.join("notes.txt"), b"x").unwrap();
    let (report, _) = verify_export(&dir, &trust).unwrap();
    let text = report.render();
    assert!(report.mentions("events entry 3: cannot be read"), "{text}");
    assert!(report.mentions("exceeds the limit"), "{text}");
    assert!(
        report.mentions("events entry 4: cannot be read: not a regular file"),
        "{text}"
    );
    #[cfg(unix)]
    assert!(
        report.mentions("events entry 5: cannot be read: not a regular file"),
        "{text}"
    );
    assert!(
        report.mentions("events/entries/.6.bin.tmp1: unexpected file"),
        "{text}"
    );
    assert!(report.mentions("notes.txt: unexpected file"), "{text}");

    // Usage errors: nothing to verify, or no key for a log present.
    let empty = scratch.0.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    assert!(verify_export(&empty, &trust).is_err());
    assert!(verify_export(&scratch.0.join("absent"), &trust).is_err());
    let only_dir = Trust::default().with_policy(LogId::Directory, policy(LogId::Directory));
    assert!(
        verify_export(&dir, &only_dir)
            .unwrap_err()
            .to_string()
            .contains("no key is pinned")
    );
}

#[test]
fn atomic_writes_and_bounded_reads() {
    let scratch = Scratch::new("io");
    let p = scratch.0.join("state.note");
    write_atomic(&p, b"one", true).unwrap();
    write_atomic(&p, b"two", true).unwrap();
    assert_eq!(read_bounded(&p, 3, false).unwrap(), b"two");
    assert!(read_bounded(&p, 2, false).is_err());
    assert_eq!(std::fs::read_dir(&scratch.0).unwrap().count(), 1);
}

/// The export's README gives the byte layout of an event entry so that an
/// outsider can recompute the roots without this code: check it against
/// the real encoding, with a record long enough for a two-byte length.
#[test]
fn the_readme_gives_the_event_entry_layout() {
    let record = EventRecord {
        seq: 7,
        time: Timestamp(1_700_000_000_000),
        kind: EventKind::Accepted {
            message_id: MessageId([9; 16]),
            sender_device: key(1).public_key(),
            recipient_devices: (2..8).map(|n| key(n).public_key()).collect(),
            bytes: 4096,
        },
    };
    let disclosed = DisclosedEvent::new([5; 32], &record);
    let bytes = disclosed.encode();
    let record_bytes = record.encode();
    assert!(record_bytes.len() >= 128, "a two-byte LEB128 length");
    assert_eq!(record_bytes[0], 0x01, "the record starts with its version");
    let len = record_bytes.len();
    let mut expected = vec![0x01];
    expected.extend_from_slice(&[5; 32]);
    expected.push(u8::try_from(len & 0x7f).unwrap() | 0x80);
    expected.push(u8::try_from(len >> 7).unwrap());
    expected.extend_from_slice(&record_bytes);
    assert_eq!(bytes, expected);
    assert!(crate::layout::EXPORT_README.contains("LEB128"));

    let mut h = <sha2::Sha256 as sha2::Digest>::new();
    sha2::Digest::update(&mut h, b"liaison/1 event-commitment\0");
    sha2::Digest::update(&mut h, [5u8; 32]);
    sha2::Digest::update(&mut h, &record_bytes);
    let commitment: [u8; 32] = sha2::Digest::finalize(h).into();
    assert_eq!(disclosed.commitment(), commitment);
    assert_eq!(disclosed.leaf_hash(), leaf_hash(&commitment));
}
