//! Writes a focal point's home as the release that runs it writes homes,
//! for the format-compatibility test (`tests/tests/home_format.rs`). Run it
//! with the release whose format the fixture captures, before that format
//! changes:
//!
//! ```sh
//! cargo build --workspace --bins
//! cargo run -p liaison-tests --example make-home-fixture -- tests/fixtures/home-format-1
//! ```
//!
//! It starts a throwaway development network, enrols Alice (TH) and Bob
//! (PH), has Alice send Bob two messages (one RED, one AMBER with a
//! retention date far ahead), and Bob sync and acknowledge the first. Bob's
//! home is copied to OUT/bob; the passphrase is the test harness's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use liaison_tests::{DevNet, assert_success};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn main() {
    let out: PathBuf = std::env::args_os()
        .nth(1)
        .expect("usage: make-home-fixture OUT_DIR")
        .into();
    assert!(!out.exists(), "{} exists already", out.display());
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    let first = alice.run(&[
        "send",
        "--to",
        "ph.pnp.bob",
        "Two victims identified at the pier.",
    ]);
    assert_success(&first, "send");
    let first = String::from_utf8(first.stdout).unwrap().trim().to_owned();
    let second = alice.run(&[
        "send",
        "--to",
        "ph.pnp.bob",
        "--handling",
        "AMBER retain=2099-01-01T00:00:00Z",
        "Boat registration follows.",
    ]);
    assert_success(&second, "send");
    assert_success(&bob.run(&["sync"]), "sync");
    assert_success(&bob.run(&["read", &first, "--accept"]), "read --accept");
    // No liaison process is running for Bob's home now.
    copy_dir(&bob.home, &out.join("bob"));
    drop(net);
    println!("wrote {}", out.display());
}
