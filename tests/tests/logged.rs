//! `"logged": true` means the relay's event log shows the message as the
//! client knows it, and a relay that omits or alters a message's events is
//! caught: the client warns once and keeps evidence in `HOME/evidence/`.
//! Each test makes the relay misbehave through its test hooks; the time an
//! omission takes to be overdue passes on a virtual clock
//! (`LIAISON_TEST_CLOCK_OFFSET_MS` for the `liaison` binary, a
//! `ManualClock` in process).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use liaison_client::Client;
use liaison_client::client::now;
use liaison_client::core::clock::ManualClock;
use liaison_client::core::logged::OMISSION_GRACE_MS;
use liaison_protocol::handling::Handling;
use liaison_protocol::{DirectoryId, MessageId};
use liaison_tests::{DevNet, assert_success, inproc, output_text};

fn id(s: &str) -> DirectoryId {
    DirectoryId::parse(s).unwrap()
}

/// The omission evidence files kept in `home` about `message`.
fn evidence(home: &Path, message: &str) -> Vec<PathBuf> {
    std::fs::read_dir(home.join("evidence"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(&format!("events-omission-{message}-")))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Sync `c` until `done` holds of the report's omissions and the stored
/// message `m`; the relay signs a checkpoint within a second (bounded).
async fn sync_until(
    c: &mut Client,
    m: MessageId,
    mut done: impl FnMut(&[String], bool) -> bool,
) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..20 {
        c.connect().await.unwrap();
        let report = c.sync().await.unwrap();
        c.disconnect().await;
        seen.extend(report.log_omissions);
        let logged = c.message(m).unwrap().unwrap().logged;
        if done(&seen, logged) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    seen
}

/// A relay that never shows the sender its message's events: `liaison
/// sync` says nothing while they may still come, then, once a checkpoint
/// taken well after the message lacks them, warns once and keeps the
/// checkpoint and what was served as evidence.
#[test]
fn a_relay_that_omits_a_sent_messages_events_is_reported_by_sync() {
    let mut net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    let out = alice.run(&["whoami", "--json"]);
    assert_success(&out, "whoami");
    let who: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let device = who["device_key"].as_str().unwrap().to_owned();
    net.kill();
    net.restart_with(&[("LIAISON_RELAY_TEST_OMIT_EVENTS", &device)]);

    let out = alice.run(&["send", "--to", "ph.pnp.bob", "pier 7 at dawn"]);
    assert_success(&out, "send");
    let mid = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_success(&bob.run(&["sync"]), "bob sync");

    // Right away: nothing is overdue, nothing is said.
    let out = alice.run(&["sync"]);
    assert_success(&out, "alice sync");
    assert!(
        !output_text(&out).contains("OMISSION"),
        "{}",
        output_text(&out)
    );
    assert!(evidence(&alice.home, &mid).is_empty());

    // Later (the clock of this run of `liaison` is moved past the grace).
    let later = (OMISSION_GRACE_MS + 60_000).to_string();
    let run_later = |args: &[&str]| {
        alice
            .command(args)
            .env("LIAISON_TEST_CLOCK_OFFSET_MS", &later)
            .output()
            .unwrap()
    };
    let out = run_later(&["sync"]);
    assert_success(&out, "alice sync, later");
    let text = output_text(&out);
    assert!(
        text.contains(&format!("RELAY EVENT LOG OMISSION for message {mid}"))
            && text.contains("accepted event(s) are still missing"),
        "{text}"
    );
    let files = evidence(&alice.home, &mid);
    assert_eq!(files.len(), 1, "{files:?}");
    let kept = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        kept.contains("--- checkpoint judged against ---") && kept.contains("/events"),
        "{kept}"
    );
    let out = alice.run(&["sent", "--json"]);
    assert_success(&out, "sent --json");
    let sent: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let m = sent.iter().find(|m| m["id"] == mid.as_str()).unwrap();
    assert_eq!(m["logged"], false, "{m}");

    // Reported once.
    let out = run_later(&["sync"]);
    assert_success(&out, "alice sync, again");
    assert!(
        !output_text(&out).contains(&format!("message {mid}")),
        "{}",
        output_text(&out)
    );
    assert_eq!(evidence(&alice.home, &mid).len(), 1);
}

/// A relay that hides from the recipient that it delivered a message: the
/// recipient's client checks for the delivery event too, and reports it
/// missing once overdue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_omits_a_delivery_event_is_caught_by_the_recipient() {
    let mut net = DevNet::start();
    let (mut alice, mut bob) = inproc::alice_and_bob(&net).await;
    let clock = ManualClock::new(now());
    bob.set_clock(Arc::new(clock.clone()));
    let bob_device = bob.device_key().to_hex();
    net.kill();
    net.restart_with(&[("LIAISON_RELAY_TEST_OMIT_DELIVERED", &bob_device)]);

    alice.connect().await.unwrap();
    let m = alice
        .send(&[id("ph.pnp.bob")], "pier 7 at dawn", Handling::default())
        .await
        .unwrap();
    alice.disconnect().await;
    bob.connect().await.unwrap();
    let report = bob.sync().await.unwrap();
    bob.disconnect().await;
    assert_eq!(report.received.len(), 1);
    assert!(report.log_omissions.is_empty(), "{report:?}");

    // The accepted event is there and covered (Alice sees hers logged).
    let seen = sync_until(&mut alice, m, |_, logged| logged).await;
    assert!(seen.is_empty(), "{seen:?}");
    assert!(alice.message(m).unwrap().unwrap().logged);

    clock.advance(OMISSION_GRACE_MS + 60_000);
    let seen = sync_until(&mut bob, m, |seen, _| !seen.is_empty()).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        seen[0].contains(&format!("message {m}"))
            && seen[0].contains("its delivered event(s) are still missing"),
        "{seen:?}"
    );
    assert!(!bob.message(m).unwrap().unwrap().logged);
    let home = net.dir.path().join("homes").join("bob");
    assert_eq!(evidence(&home, &m.to_hex()).len(), 1);
}

/// A relay that stores, delivers and logs the message for fewer devices
/// than the sender encrypted it to: the logged event is compared with what
/// the sender sent, the message is not `logged`, and the sender is warned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_logs_an_altered_event_is_caught_by_the_sender() {
    let mut net = DevNet::start();
    let (mut alice, _bob) = inproc::alice_and_bob(&net).await;
    let _dan = inproc::enrol(&net, "dan", "ph.pnp.dan", "PNP")
        .await
        .unwrap();
    let alice_device = alice.device_key().to_hex();
    net.kill();
    net.restart_with(&[("LIAISON_RELAY_TEST_DROP_RECIPIENT", &alice_device)]);

    alice.connect().await.unwrap();
    let m = alice
        .send(
            &[id("ph.pnp.bob"), id("ph.pnp.dan")],
            "pier 7 at dawn",
            Handling::default(),
        )
        .await
        .unwrap();
    alice.disconnect().await;

    let seen = sync_until(&mut alice, m, |seen, logged| !seen.is_empty() || logged).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        seen[0].contains(&format!("message {m}"))
            && seen[0].contains("the accepted event lists 1 recipient device(s), not the 2"),
        "{seen:?}"
    );
    assert!(!alice.message(m).unwrap().unwrap().logged);
    let home = net.dir.path().join("homes").join("alice");
    assert_eq!(evidence(&home, &m.to_hex()).len(), 1);
}
