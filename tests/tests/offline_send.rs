//! Nothing a user types is lost: `send` while the relay cannot be reached
//! keeps the message, signed, on the device (exit code 5) and the next sync
//! delivers it exactly once; Ctrl-C in the middle of a `send` says whether
//! the message went out, is kept, or was never kept.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::process::{Output, Stdio};
use std::time::Duration;

use liaison_tests::{DevNet, Person, assert_success, interrupt, output_text, wait_until};

/// The exit code README documents for a message kept to go out later.
const EXIT_QUEUED: i32 = 5;

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The sent messages as `sent --json` lists them.
fn sent(p: &Person) -> Vec<serde_json::Value> {
    let out = p.run(&["sent", "--json"]);
    assert_success(&out, "liaison sent --json");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `sync --json` for `p`, parsed.
fn sync(p: &Person) -> serde_json::Value {
    let out = p.run(&["sync", "--json"]);
    assert_success(&out, "liaison sync --json");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Alice and Bob enrolled, each with the other's record in their
/// directory, and Bob never written to (no session with Alice yet).
fn alice_and_bob(net: &DevNet) -> (Person, Person) {
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    sync(&alice);
    sync(&bob);
    (alice, bob)
}

#[test]
fn a_message_written_while_the_relay_is_down_is_delivered_exactly_once() {
    let mut net = DevNet::start();
    let (alice, bob) = alice_and_bob(&net);
    net.kill();

    let text = "Boat leaves Ranong at 0300; 9 on board";
    let out = alice.run(&["send", "--to", "ph.pnp.bob", text]);
    assert_eq!(
        out.status.code(),
        Some(EXIT_QUEUED),
        "{}",
        output_text(&out)
    );
    let id = stdout(&out);
    assert_eq!(id.len(), 32, "the id of the kept message: {id:?}");
    let err = stderr(&out);
    assert!(err.contains("cannot be reached"), "{err}");
    assert!(
        err.contains(&format!(
            "Your message {id} is signed and kept on this device"
        )),
        "{err}"
    );
    assert!(err.contains("sync`"), "says what delivers it: {err}");

    // Kept, shown as not sent yet, in text and JSON.
    let kept = sent(&alice);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0]["id"], id.as_str());
    assert_eq!(kept[0]["accepted"], false);
    assert_eq!(kept[0]["text"], text);
    let listing = stdout(&alice.run(&["sent"]));
    assert!(listing.contains("NOT SENT YET"), "{listing}");
    let who: serde_json::Value =
        serde_json::from_slice(&alice.run(&["whoami", "--json"]).stdout).unwrap();
    assert_eq!(who["outbox"], 1, "{who}");

    // A sync while the relay is still down fails, keeping the message.
    let out = alice.run(&["sync"]);
    assert!(!out.status.success());
    assert_eq!(sent(&alice)[0]["accepted"], false);

    net.restart();
    let report = sync(&alice);
    assert_eq!(report["resent"], 1, "{report}");
    assert_eq!(sent(&alice)[0]["accepted"], true);
    let report = sync(&bob);
    assert_eq!(report["received"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["received"][0]["id"], id.as_str());
    assert_eq!(report["received"][0]["verified"], true, "{report}");

    // Exactly once: nothing more on either side.
    assert_eq!(sync(&alice)["resent"], 0);
    let again = sync(&bob);
    assert_eq!(again["received"].as_array().unwrap().len(), 0, "{again}");
    assert_eq!(again["duplicates"], 0, "{again}");
    assert_eq!(bob.inbox().len(), 1);
    let out = bob.run(&["read", &id, "--accept", "--json"]);
    assert_success(&out, "read --accept");
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(m["message"]["text"], text, "{m}");
}

/// A kept message whose only recipient is revoked before it could go out
/// is dropped at the next sync, said so, and `sent` shows it as not sent
/// (no longer "not sent yet").
#[test]
fn a_kept_message_to_someone_revoked_meanwhile_is_shown_as_not_sent() {
    let mut net = DevNet::start();
    let (alice, _bob) = alice_and_bob(&net);
    net.kill();
    let out = alice.run(&["send", "--to", "ph.pnp.bob", "for bob only"]);
    assert_eq!(
        out.status.code(),
        Some(EXIT_QUEUED),
        "{}",
        output_text(&out)
    );
    assert_eq!(sent(&alice)[0]["queued"], true);
    net.restart();
    let revoked = liaison_tests::admin_command()
        .args(["revoke", "--authority"])
        .arg(net.authority("PH"))
        .arg("--bundle")
        .arg(net.bundle())
        .args(["--id", "ph.pnp.bob", "--reason", "left the unit"])
        .output()
        .unwrap();
    assert_success(&revoked, "liaison-admin revoke");
    let out = alice.run(&["sync"]);
    assert!(
        stderr(&out).contains("was not sent: none of its recipients is active any more"),
        "{}",
        output_text(&out)
    );
    let kept = sent(&alice);
    assert_eq!(
        (&kept[0]["accepted"], &kept[0]["queued"]),
        (
            &serde_json::Value::Bool(false),
            &serde_json::Value::Bool(false)
        ),
        "{kept:?}"
    );
    let listing = stdout(&alice.run(&["sent"]));
    assert!(!listing.contains("NOT SENT YET"), "{listing}");
    assert!(
        listing.contains("NOT SENT: it is no longer kept to go out"),
        "{listing}"
    );
}

#[test]
fn an_agent_sends_a_kept_message_as_soon_as_the_relay_is_back() {
    let mut net = DevNet::start();
    let (alice, bob) = alice_and_bob(&net);
    let mut agent = alice.start_agent(true);
    net.kill();

    let out = alice.run(&["send", "--to", "ph.pnp.bob", "through the agent"]);
    assert_eq!(
        out.status.code(),
        Some(EXIT_QUEUED),
        "{}",
        output_text(&out)
    );
    let id = stdout(&out);
    assert_eq!(sent(&alice)[0]["accepted"], false);

    net.restart();
    // No sync by Alice: her agent reconnects by itself and sends it.
    wait_until(
        "the agent sends the kept message",
        Duration::from_secs(120),
        || sent(&alice)[0]["accepted"] == true,
    );
    let report = sync(&bob);
    assert_eq!(report["received"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["received"][0]["id"], id.as_str());
    agent.kill();
}

#[test]
fn ctrl_c_after_the_message_was_kept_says_it_goes_out_at_the_next_sync() {
    let mut net = DevNet::start();
    let (alice, bob) = alice_and_bob(&net);
    let marker = net.restart_holding_sends_of(&alice);

    let out = alice.interrupted_when_held(
        &["send", "--to", "ph.pnp.bob", "interrupted on the way"],
        &marker,
    );
    assert_eq!(
        out.status.code(),
        Some(EXIT_QUEUED),
        "{}",
        output_text(&out)
    );
    let err = stderr(&out);
    assert!(
        err.contains("interrupted (Ctrl-C) before the relay confirmed it"),
        "{err}"
    );
    assert!(err.contains("goes out at the next"), "{err}");
    let id = stdout(&out);
    assert_eq!(sent(&alice)[0]["id"], id.as_str());
    assert_eq!(sent(&alice)[0]["accepted"], false);

    net.kill();
    net.restart();
    assert_eq!(sync(&alice)["resent"], 1);
    let report = sync(&bob);
    assert_eq!(report["received"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["received"][0]["id"], id.as_str());
    assert_eq!(sync(&bob)["received"].as_array().unwrap().len(), 0);
}

/// Ctrl-C on a `send` that goes through the agent: the command says the
/// agent finishes it, and it does (the relay holds the message and never
/// answers; once a relay that answers is back, the agent sends it once).
#[test]
fn ctrl_c_with_an_agent_says_the_agent_finishes_the_send() {
    let mut net = DevNet::start();
    let (alice, bob) = alice_and_bob(&net);
    let marker = net.restart_holding_sends_of(&alice);
    let mut agent = alice.start_agent(true);

    let out = alice.interrupted_when_held(
        &["send", "--to", "ph.pnp.bob", "the agent carries on"],
        &marker,
    );
    assert_eq!(out.status.code(), Some(130), "{}", output_text(&out));
    let err = stderr(&out);
    assert!(
        err.contains("the agent for this home finishes the send by itself"),
        "{err}"
    );
    assert!(err.contains("sent`"), "says where to look: {err}");

    // The agent kept it when the relay did not answer, and sends it once a
    // relay that answers is back.
    net.kill();
    net.restart();
    wait_until(
        "the agent sends the message",
        Duration::from_secs(120),
        || sent(&alice).first().is_some_and(|m| m["accepted"] == true),
    );
    let report = sync(&bob);
    assert_eq!(report["received"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["received"][0]["text"], serde_json::Value::Null);
    assert_eq!(sync(&bob)["received"].as_array().unwrap().len(), 0);
    agent.kill();
}

#[test]
fn ctrl_c_before_the_message_was_kept_says_nothing_was_sent() {
    let mut net = DevNet::start();
    let (alice, _bob) = alice_and_bob(&net);
    net.kill();
    // Whatever answers on the relay's address now never answers: the
    // client is stuck connecting when it is interrupted.
    let hole = std::net::UdpSocket::bind(&net.addr).expect("the relay's port is free");
    hole.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();

    let child = alice
        .command(&["send", "--to", "ph.pnp.bob", "never kept"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 2048];
    hole.recv_from(&mut buf)
        .expect("the client tries to connect to the relay");
    interrupt(child.id());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", output_text(&out));
    let err = stderr(&out);
    assert!(
        err.contains("interrupted (Ctrl-C) before the message was kept: nothing was sent"),
        "{err}"
    );
    assert!(stdout(&out).is_empty());
    assert!(sent(&alice).is_empty(), "nothing kept");
}

/// A message kept while the relay was down is not encrypted to a new
/// identity key its recipient got meanwhile: it waits, with a warning,
/// until the change is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_message_waits_when_the_recipients_key_changed_meanwhile() {
    use liaison_client::agent::api::{Request as Api, Response as Answer};
    use liaison_client::agent::ops;
    use liaison_protocol::directory::{DeviceKeys, endorse_device, prove_device};
    use liaison_protocol::frames::Response;
    use liaison_protocol::handling::Handling;
    use liaison_tests::inproc;

    let net = DevNet::start();
    let (mut alice, _bob) = inproc::alice_and_bob(&net).await;
    let bob_id = liaison_protocol::DirectoryId::parse("ph.pnp.bob").unwrap();
    alice.connect().await.unwrap();
    alice.disconnect().await;

    // Not connected: the message is kept.
    let answer = ops::handle(
        &mut alice,
        Api::Send {
            to: vec![bob_id.clone()],
            text: "written before the change".to_owned(),
            handling: Handling::default(),
            conversation: None,
            attach: Vec::new(),
        },
    )
    .await
    .unwrap();
    let Answer::Queued { id, .. } = answer else {
        panic!("expected queued, got {answer:?}");
    };
    assert_eq!(alice.outbox_len().unwrap(), 1);

    // Bob's record gets a new identity key and device.
    let ph = inproc::authority(&net, "PH");
    let new_identity = liaison_protocol::SecretKey::from_seed(&[0x77; 32]);
    let new_device = liaison_protocol::SecretKey::from_seed(&[0x78; 32]);
    let keys = DeviceKeys {
        signing: new_device.public_key(),
        agreement: new_device.public_key().0,
    };
    let mut rec = inproc::current_record(&net, &ph, "ph.pnp.bob")
        .await
        .unwrap();
    rec.version += 1;
    rec.identity_key = new_identity.public_key();
    rec.devices = vec![keys];
    rec.device_endorsements = vec![endorse_device(&new_identity, &rec.id, &keys)];
    rec.device_proofs = vec![Some(prove_device(
        &new_device,
        &rec.id,
        &new_identity.public_key(),
        &keys,
    ))];
    assert!(matches!(
        inproc::publish(&net, &ph, &rec, vec![]).await,
        Ok(Response::Ok)
    ));

    alice.connect().await.unwrap();
    let report = alice.sync().await.unwrap();
    assert_eq!(report.flushed, 0, "not sent to the new key");
    assert_eq!(alice.outbox_len().unwrap(), 1, "still kept");
    let warnings = alice.take_warnings();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains(&format!("message {id} waits")) && w.contains("ph.pnp.bob")),
        "{warnings:?}"
    );

    // Once Alice accepts the change, the next sync encrypts it to the new
    // device; this one has not connected yet, so it has no prekey for her:
    // the message waits again, with the relay's reason, and the sync itself
    // goes through.
    alice.accept_contact_key(&bob_id).unwrap();
    let report = alice.sync().await.unwrap();
    assert_eq!(report.flushed, 0);
    assert_eq!(alice.outbox_len().unwrap(), 1);
    let warnings = alice.take_warnings();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains(&format!("message {id} waits")) && w.contains("no prekey")),
        "{warnings:?}"
    );
    alice.disconnect().await;
}
