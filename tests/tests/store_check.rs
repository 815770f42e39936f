//! A relay serves only the history it signed. `liaison-relay check-store`
//! checks a stopped relay's store in full; every start checks the newest
//! entries and the roots under the newest signed checkpoints, and refuses a
//! store that no longer holds them (a tampering insider with access to the
//! disk, or disk corruption), saying what to do.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::process::Command;

use liaison_tests::{DevNet, assert_success, bin, output_text, run_as_printed, run_as_printed_in};
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
        .current_dir(net.dir.path())
        .output()
        .unwrap()
}

/// The command between backquotes in `said` that starts with `start`.
fn suggested<'a>(said: &'a str, start: &str) -> &'a str {
    said.split('`')
        .find(|part| part.starts_with(start))
        .unwrap_or_else(|| panic!("no `{start}…` suggested in:\n{said}"))
}

#[test]
fn a_tampered_store_is_refused_at_start_and_by_check_store() {
    let mut net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    assert_success(&alice.run(&["send", "--to", "ph.pnp.bob", "one"]), "send");

    // While the relay runs, the store is its own: the copy it suggests
    // checking instead is taken and checks out, as printed.
    let out = check_store(&net);
    assert_eq!(out.status.code(), Some(1));
    let said = output_text(&out);
    assert!(said.contains("in use by a running relay"), "{said}");
    let copy_and_check = suggested(&said, "liaison-relay backup ");
    let out = run_as_printed_in(net.dir.path(), copy_and_check);
    assert_success(&out, copy_and_check);
    assert!(
        output_text(&out).contains("checks out"),
        "{}",
        output_text(&out)
    );
    let copy = copy_and_check
        .rsplit(' ')
        .next()
        .map(|name| net.dir.path().join(name))
        .unwrap();
    assert!(copy.is_file(), "{}", copy.display());

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
    // What it says to run, runs as printed: the record of what is wrong...
    let record = suggested(&said, "liaison-relay check-store ");
    let out = run_as_printed(record);
    assert_eq!(out.status.code(), Some(1), "{record}");
    assert!(
        output_text(&out).contains("does not hold what the relay signed"),
        "{}",
        output_text(&out)
    );
    // ...and the restore, which fails as printed only for the dots standing
    // for the backup file, and with the copy taken earlier restores it.
    let restore = suggested(&said, "liaison-relay restore ");
    let out = run_as_printed(restore);
    assert_eq!(out.status.code(), Some(2), "{restore}");
    assert!(
        output_text(&out).contains("`...` stands for a file or directory"),
        "{}",
        output_text(&out)
    );
    let restore = restore.replacen("...", copy.to_str().unwrap(), 1);
    assert_success(&run_as_printed(&restore), &restore);
    let out = check_store(&net);
    assert_success(&out, "check-store after the restore");
    net.restart();
    assert_success(&alice.run(&["sync"]), "alice works again");
}
