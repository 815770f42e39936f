//! Homes written by an earlier release open with this one. The fixture in
//! tests/fixtures/home-format-1 was written by the release before the home
//! recorded its format (see tests/examples/make-home-fixture.rs).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::Path;

use liaison_client::Client;
use liaison_client::client::MessageKind;
use liaison_client::home::{HOME_FORMAT, Home};
use liaison_tests::{PASSPHRASE, Person, TempDir, assert_success};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn fixture() -> (TempDir, Person) {
    let tmp = TempDir::new("home-format");
    let home = tmp.path().join("bob");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/home-format-1/bob"),
        &home,
    );
    (tmp, Person { home })
}

#[test]
fn a_format_1_home_opens_and_keeps_its_messages() {
    let (_tmp, bob) = fixture();
    let out = bob.run(&["whoami"]);
    assert_success(&out, "whoami");
    assert!(String::from_utf8_lossy(&out.stdout).contains("ph.pnp.bob"));

    let inbox = bob.inbox();
    assert_eq!(inbox.len(), 2, "{inbox:?}");
    let pier = inbox
        .iter()
        .find(|m| m["text"] == "Two victims identified at the pier.")
        .expect("the acknowledged message keeps its text");
    assert_eq!(pier["from"], "th.dsi.alice");
    assert_eq!(pier["verified"], true);
    assert_eq!(pier["handling"]["tlp"], "RED");
    let boat = inbox
        .iter()
        .find(|m| m["id"] != pier["id"])
        .expect("the second message");
    assert_eq!(boat["handling"]["tlp"], "AMBER");
    assert_eq!(boat["verified"], true);
    // Not acknowledged in the fixture: its text stays withheld.
    assert_eq!(boat["withheld"], true);
    assert_eq!(boat["text"], serde_json::Value::Null);
    // A home written before cases holds none (its case book key is absent).
    let out = bob.run(&["--json", "case", "list"]);
    assert_success(&out, "case list");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
}

#[tokio::test]
async fn opening_stamps_the_format_and_the_library_reads_every_field() {
    let (_tmp, bob) = fixture();
    let client = Client::open(&bob.home, PASSPHRASE).unwrap();
    let mut inbox = client.inbox().unwrap();
    inbox.sort_by_key(|m| m.sent_at);
    assert_eq!(inbox.len(), 2);
    assert!(inbox.iter().all(|m| m.kind == MessageKind::Text));
    assert!(inbox[0].acknowledged_at.is_some(), "{:?}", inbox[0]);
    assert!(inbox[1].acknowledged_at.is_none(), "{:?}", inbox[1]);
    assert_ne!(inbox[0].payload_hash, [0; 32]);
    drop(client);
    assert_eq!(Home::format_of(&bob.home).unwrap(), Some(HOME_FORMAT));
}

/// Format 1 stored the table keys in clear (message ids, peers' device
/// keys); the migration to format 2 reseals the home into a fresh file, so
/// none of them is left in it.
#[test]
fn migration_leaves_no_table_key_in_clear() {
    let (_tmp, bob) = fixture();
    let raw = |path: &Path| std::fs::read(path.join("home.redb")).unwrap();
    let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    let before = raw(&bob.home);
    let ids: Vec<Vec<u8>> = bob
        .inbox()
        .iter()
        .map(|m| hex::decode(m["id"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(
        ids.iter().all(|id| contains(&before, id)),
        "the format-1 fixture holds its message ids in clear"
    );
    let after = raw(&bob.home);
    for id in &ids {
        assert!(
            !contains(&after, id),
            "message id {} left in clear",
            hex::encode(id)
        );
    }
}
