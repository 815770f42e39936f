//! `liaison search`, through the real binaries: only what the officer may
//! read now is searched, words are found inside scripts written without
//! spaces, nothing is written to disk to search, and through an agent a
//! message that arrives later is found at once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use liaison_tests::{DevNet, Person, assert_success, dir_contains, output_text, run_as_printed};
use serde_json::Value;

fn sent_id(from: &Person, to: &str, text: &str) -> String {
    let out = from.run(&["send", "--to", to, text]);
    assert_success(&out, "send");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn search(p: &Person, text: &str) -> Value {
    let out = p.run(&["search", text, "--json"]);
    assert_success(&out, "search --json");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn hit_ids(found: &Value) -> Vec<String> {
    found["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn search_finds_only_what_may_be_read_now_in_any_script() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    assert_success(&bob.run(&["sync"]), "bob sync");
    let thai = sent_id(&alice, "ph.pnp.bob", "เรือออกจากระนองเวลาตีสาม มีเก้าคน");
    let english = sent_id(&alice, "ph.pnp.bob", "Boat leaves RANONG at 0300");
    assert_success(&bob.run(&["sync"]), "bob sync");

    // Received but not acknowledged: the handling gate keeps it out.
    let found = search(&bob, "ระนอง");
    assert_eq!(
        (found["total"].as_u64(), found["searched"].as_u64()),
        (Some(0), Some(0))
    );
    let out = bob.run(&["search", "ระนอง"]);
    assert_success(&out, "search");
    assert!(
        output_text(&out).contains("No message you may read contains \"ระนอง\""),
        "{}",
        output_text(&out)
    );

    for id in [&thai, &english] {
        assert_success(&bob.run(&["read", id, "--accept"]), "read --accept");
    }
    // A Thai word inside a run of Thai text, and English in any case.
    assert_eq!(hit_ids(&search(&bob, "ระนอง")), vec![thai.clone()]);
    assert_eq!(hit_ids(&search(&bob, "ranong")), vec![english.clone()]);
    // By the sender's id: both, newest first.
    let both = search(&bob, "th.dsi.alice");
    assert_eq!(hit_ids(&both), vec![english.clone(), thai.clone()]);
    // The sender finds her own sent messages.
    assert_eq!(hit_ids(&search(&alice, "Ranong")), vec![english.clone()]);

    // In words, with the command to read the newest, which runs as printed.
    let out = bob.run(&["search", "Ranong"]);
    assert_success(&out, "search");
    let said = output_text(&out);
    assert!(said.contains("1 message(s) contain \"Ranong\""), "{said}");
    assert!(said.contains("Boat leaves RANONG at 0300"), "{said}");
    let read = said
        .split('`')
        .find(|p| p.starts_with("liaison --home ") && p.contains(" read "))
        .unwrap_or_else(|| panic!("no read command in: {said}"));
    let out = run_as_printed(read);
    assert_success(&out, read);
    assert!(output_text(&out).contains("Boat leaves RANONG"));

    // Nothing of the search is on disk: no index, no query.
    assert_eq!(dir_contains(&bob.home, "ระนอง".as_bytes()), None);
    assert_eq!(dir_contains(&bob.home, b"RANONG"), None);

    // An empty query is refused, saying what to do.
    let out = bob.run(&["search", "  "]);
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("say what to search for"),
        "{}",
        output_text(&out)
    );
}

/// Through an agent the index is kept in memory; a message that arrives and
/// is acknowledged later is found at the next search.
#[test]
fn an_agents_search_sees_new_messages() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    assert_success(&bob.run(&["sync"]), "bob sync");
    let _agent = bob.start_agent(true);
    let first = sent_id(&alice, "ph.pnp.bob", "ស្ថានីយ៍ប៉ូលីសកំពង់ផែ first");
    assert_success(&bob.run(&["sync"]), "bob sync");
    assert_success(&bob.run(&["read", &first, "--accept"]), "read --accept");
    assert_eq!(hit_ids(&search(&bob, "កំពង់ផែ")), vec![first.clone()]);
    let second = sent_id(&alice, "ph.pnp.bob", "កំពង់ផែ second");
    assert_success(&bob.run(&["sync"]), "bob sync");
    assert_eq!(hit_ids(&search(&bob, "កំពង់ផែ")), vec![first.clone()]);
    assert_success(&bob.run(&["read", &second, "--accept"]), "read --accept");
    assert_eq!(hit_ids(&search(&bob, "កំពង់ផែ")), vec![second, first]);
}
