//! A relay serves only the history it signed. `liaison-relay check-store`
//! checks a stopped relay's store in full; every start checks the newest
//! entries and the roots under the newest signed checkpoints, and refuses a
//! store that no longer holds them (a tampering insider with access to the
//! disk, or disk corruption), saying what to do.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::process::Command;

use liaison_tests::{DevNet, assert_success, bin, output_text};
use redb::{ReadableDatabase, TableDefinition};

/// The relay store's table of log entries, keyed by (log tag, index); the
/// event log's tag is 1.
const LOG_ENTRIES: TableDefinition<(u8, u64), &[u8]> = TableDefinition::new("log_entries");
const EVENTS: u8 = 1;

fn check_store(net: &DevNet) -> std::process::Output {
    Command::new(bin("liaison-relay"))
        .arg("check-store")
        .arg("--config")
        .arg(net.config())
        .output()
        .unwrap()
}

#[test]
fn a_tampered_store_is_refused_at_start_and_by_check_store() {
    let mut net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    assert_success(&alice.run(&["send", "--to", "ph.pnp.bob", "one"]), "send");

    // While the relay runs, the store is its own.
    let out = check_store(&net);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        output_text(&out).contains("in use by a running relay"),
        "{}",
        output_text(&out)
    );

    // Stopped, the store checks out in full.
    net.terminate();
    let out = check_store(&net);
    assert_success(&out, "check-store");
    assert!(
        output_text(&out).contains("checks out"),
        "{}",
        output_text(&out)
    );

    // Someone with the disk rewrites the newest event (who sent what to
    // whom) behind the relay's back.
    let store = net.relay_data().join("relay.redb");
    {
        let db = redb::Database::open(&store).unwrap();
        let newest = {
            let r = db.begin_read().unwrap();
            let t = r.open_table(LOG_ENTRIES).unwrap();
            t.range((EVENTS, 0)..=(EVENTS, u64::MAX))
                .unwrap()
                .next_back()
                .unwrap()
                .unwrap()
                .0
                .value()
                .1
        };
        let w = db.begin_write().unwrap();
        w.open_table(LOG_ENTRIES)
            .unwrap()
            .insert((EVENTS, newest), b"another history".as_slice())
            .unwrap();
        w.commit().unwrap();
    }

    // The relay refuses to serve it, and says what to do.
    let out = Command::new(bin("liaison-relay"))
        .args(["dev", "--dir"])
        .arg(net.dir.path())
        .args(["--listen", &net.addr])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = output_text(&out);
    assert!(
        said.contains("does not match what this relay signed"),
        "{said}"
    );
    assert!(said.contains("no longer hashes to its leaf"), "{said}");
    assert!(said.contains("liaison-relay restore"), "{said}");

    let out = check_store(&net);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        output_text(&out).contains("does not hold what the relay signed"),
        "{}",
        output_text(&out)
    );
}
