//! Relay stores written by an earlier release open with this one. The
//! fixture in tests/fixtures/relay-store-format-0 was written by the release
//! before the store recorded its format (see
//! tests/examples/make-relay-store-fixture.rs), with what that release served
//! from it in expected.json.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::Path;

use liaison_protocol::codec::Wire;
use liaison_protocol::frames::Declaration;
use liaison_protocol::frames::LogId;
use liaison_protocol::log::event::{Declared, EventKind};
use liaison_protocol::log::{Checkpoint, Hash, verify_consistency, verify_inclusion};
use liaison_protocol::message::{Envelope, OlmKind};
use liaison_protocol::{MessageId, PublicKey};
use liaison_relay::store::{QueueLimits, RedbStore, STORE_FORMAT, SendOp, SendOutcome, Store};
use liaison_tests::TempDir;

fn fixture_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/relay-store-format-0")
}

fn hashes(v: &serde_json::Value) -> Vec<Hash> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| Hash::from_slice(&hex_decode(h.as_str().unwrap())).unwrap())
        .collect()
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The checkpoint a stored note carries (its signature is the relay's; the
/// clients' tests verify those).
fn checkpoint(note: &str) -> Checkpoint {
    let (body, _) = note.split_once("\n\n").expect("a signed note");
    Checkpoint::from_text(&format!("{body}\n")).unwrap()
}

#[test]
fn a_format_0_store_migrates_and_serves_the_same_proofs_and_checkpoints() {
    let tmp = TempDir::new("relay-store-format");
    let path = tmp.path().join("relay.redb");
    std::fs::copy(fixture_dir().join("relay.redb"), &path).unwrap();
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture_dir().join("expected.json")).unwrap(),
    )
    .unwrap();

    let store = RedbStore::open(&path).unwrap();
    assert_eq!(store.format().unwrap(), STORE_FORMAT);
    for log in [LogId::Directory, LogId::Events] {
        let want = &expected[log.name()];
        let (size, root) = store.log_head(log).unwrap();
        assert_eq!(size, want["size"].as_u64().unwrap(), "{log:?} size");
        assert_eq!(
            root.to_hex(),
            want["root"].as_str().unwrap(),
            "{log:?} root"
        );
        assert!(size > 1, "the fixture's {log:?} log has leaves");

        let checkpoints = store.recent_checkpoints(log, usize::MAX).unwrap();
        let want_checkpoints: Vec<(u64, String)> = want["checkpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["size"].as_u64().unwrap(),
                    c["note"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(checkpoints, want_checkpoints, "{log:?} checkpoints");
        assert!(!checkpoints.is_empty());

        for p in want["inclusion"].as_array().unwrap() {
            let (index, size) = (p["index"].as_u64().unwrap(), p["size"].as_u64().unwrap());
            let proof = store.inclusion_proof(log, index, size).unwrap().unwrap();
            assert_eq!(
                proof,
                hashes(&p["proof"]),
                "{log:?} inclusion {index}/{size}"
            );
            let entry = &store.log_entries(log, index, 1).unwrap()[0];
            let leaf = match log {
                LogId::Directory => liaison_protocol::log::leaf_hash(entry),
                LogId::Events => liaison_protocol::log::event::DisclosedEvent::decode(entry)
                    .unwrap()
                    .leaf_hash(),
            };
            verify_inclusion(&leaf, index, size, &proof, &root).unwrap();
        }
        for p in want["consistency"].as_array().unwrap() {
            let (old, new) = (p["old"].as_u64().unwrap(), p["new"].as_u64().unwrap());
            let proof = store.consistency_proof(log, old, new).unwrap().unwrap();
            assert_eq!(
                proof,
                hashes(&p["proof"]),
                "{log:?} consistency {old}->{new}"
            );
        }
        // Every checkpoint that release signed is consistent with the head
        // this one serves.
        for (cp_size, note) in &checkpoints {
            let cp = checkpoint(note);
            assert_eq!(cp.size(), *cp_size);
            if *cp_size == 0 {
                continue;
            }
            let proof = store
                .consistency_proof(log, *cp_size, size)
                .unwrap()
                .unwrap();
            verify_consistency(*cp_size, size, &proof, cp.root(), &root).unwrap();
        }
    }
    // The messages accepted before the migration are indexed by device: the
    // recipient of one may declare an event about it, another device not.
    let entries = store.log_entries(LogId::Events, 0, u64::MAX).unwrap();
    let (message_id, sender, recipient) = entries
        .iter()
        .find_map(|e| {
            let record = liaison_protocol::log::event::DisclosedEvent::decode(e)
                .unwrap()
                .decode_record()
                .unwrap();
            match record.kind {
                EventKind::Accepted {
                    message_id,
                    sender_device,
                    recipient_devices,
                    ..
                } => Some((message_id, sender_device, recipient_devices[0])),
                _ => None,
            }
        })
        .expect("the fixture's event log holds an accepted message");
    let declaring = |n: u8, from: PublicKey| SendOp {
        message_id: MessageId([n; 16]),
        envelopes: vec![Envelope {
            message_id: MessageId([n; 16]),
            sender_device: from,
            recipient_device: sender,
            kind: OlmKind::Normal,
            ciphertext: vec![1; 64],
        }],
        declare: vec![Declaration {
            kind: Declared::DeliveryReceipt,
            refers_to: message_id,
            commitment: [0; 32],
        }],
    };
    let outcomes = store
        .commit_sends(
            &[
                declaring(0xd1, recipient),
                declaring(0xd2, PublicKey([9; 32])),
            ],
            // Later than anything in the fixture (ms since the epoch).
            4_102_444_800_000,
            QueueLimits::depth(100),
        )
        .unwrap();
    assert!(
        matches!(outcomes[0], SendOutcome::Accepted { .. }),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[1], SendOutcome::UnknownReference);
    drop(store);
    // A migrated store opens again as it is, with the accepted message and
    // its declared event appended to the old history.
    let store = RedbStore::open(&path).unwrap();
    assert_eq!(store.format().unwrap(), STORE_FORMAT);
    assert_eq!(
        store.log_head(LogId::Directory).unwrap().1.to_hex(),
        expected["directory"]["root"].as_str().unwrap()
    );
    let old = expected["events"]["size"].as_u64().unwrap();
    let (size, root) = store.log_head(LogId::Events).unwrap();
    assert_eq!(size, old + 2);
    let proof = store
        .consistency_proof(LogId::Events, old, size)
        .unwrap()
        .unwrap();
    let old_root =
        Hash::from_slice(&hex_decode(expected["events"]["root"].as_str().unwrap())).unwrap();
    verify_consistency(old, size, &proof, &old_root, &root).unwrap();

    // The previous release kept no table of lapsed devices: the store reads
    // as one where no lapse was noted yet, and takes notes.
    assert!(store.lapsed_devices().unwrap().is_empty());
    let queued = store.queued_devices().unwrap();
    assert!(!queued.is_empty(), "the accepted message is queued");
    store.note_lapsed(&[(queued[0], 1)], &[]).unwrap();
    assert_eq!(store.lapsed_devices().unwrap().get(&queued[0]), Some(&1));
}
