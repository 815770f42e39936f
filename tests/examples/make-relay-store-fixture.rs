//! Writes a relay store as the release that runs it writes stores, for the
//! store-format test (`tests/tests/relay_store_format.rs`). Run it with the
//! release whose format the fixture captures, before that format changes:
//!
//! ```sh
//! cargo build --workspace --bins
//! cargo run -p liaison-tests --example make-relay-store-fixture -- tests/fixtures/relay-store-format-0
//! ```
//!
//! It starts a throwaway development network, enrols Alice (TH) and Bob
//! (PH), has Alice send Bob three messages and Bob sync and accept them (so
//! the event log holds accepted, delivered, acknowledged and declared
//! events), then stops the relay gracefully. OUT/relay.redb is the relay's
//! store; OUT/expected.json records what this release serves from it: each
//! log's size and root, every stored checkpoint, and inclusion and
//! consistency proofs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use liaison_protocol::frames::LogId;
use liaison_relay::store::{RedbStore, Store};
use liaison_tests::{DevNet, assert_success};

fn hashes(proof: &[liaison_protocol::log::Hash]) -> serde_json::Value {
    proof.iter().map(|h| h.to_hex()).collect()
}

fn main() {
    let out: PathBuf = std::env::args_os()
        .nth(1)
        .expect("usage: make-relay-store-fixture OUT_DIR")
        .into();
    assert!(!out.exists(), "{} exists already", out.display());
    let mut net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    for text in [
        "Two victims identified at the pier.",
        "Boat registration follows.",
        "The boat left at dawn.",
    ] {
        let sent = alice.run(&["send", "--to", "ph.pnp.bob", text]);
        assert_success(&sent, "send");
        let id = String::from_utf8(sent.stdout).unwrap().trim().to_owned();
        assert_success(&bob.run(&["sync"]), "sync");
        assert_success(&bob.run(&["read", &id, "--accept"]), "read --accept");
    }
    assert_success(&alice.run(&["sync"]), "sync");
    assert!(net.terminate().success(), "the relay stops cleanly");

    std::fs::create_dir_all(&out).unwrap();
    let stored = out.join("relay.redb");
    std::fs::copy(
        net.relay_data().join(liaison_relay::datadir::STORE_FILE),
        &stored,
    )
    .unwrap();

    let store = RedbStore::open(&stored).unwrap();
    let mut logs = serde_json::Map::new();
    for log in [LogId::Directory, LogId::Events] {
        let (size, root) = store.log_head(log).unwrap();
        let checkpoints: Vec<serde_json::Value> = store
            .recent_checkpoints(log, usize::MAX)
            .unwrap()
            .into_iter()
            .map(|(size, note)| serde_json::json!({ "size": size, "note": note }))
            .collect();
        let mut inclusion = Vec::new();
        for index in 0..size {
            let proof = store.inclusion_proof(log, index, size).unwrap().unwrap();
            inclusion.push(serde_json::json!({
                "index": index, "size": size, "proof": hashes(&proof),
            }));
        }
        let mut consistency = Vec::new();
        for old in 1..size {
            let proof = store.consistency_proof(log, old, size).unwrap().unwrap();
            consistency.push(serde_json::json!({
                "old": old, "new": size, "proof": hashes(&proof),
            }));
        }
        logs.insert(
            log.name().to_owned(),
            serde_json::json!({
                "size": size,
                "root": root.to_hex(),
                "checkpoints": checkpoints,
                "inclusion": inclusion,
                "consistency": consistency,
            }),
        );
    }
    drop(store);
    std::fs::write(
        out.join("expected.json"),
        serde_json::to_string_pretty(&serde_json::Value::Object(logs)).unwrap() + "\n",
    )
    .unwrap();
    drop(net);
    println!("wrote {}", out.display());
}
