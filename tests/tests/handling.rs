//! Handling codes end to end (Article 10(3)): each refusal and each
//! permitted path, tampering, receipts, consent and retention.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::Arc;
use std::time::Duration;

use liaison_client::Client;
use liaison_client::agent::api::{Request, Response};
use liaison_client::agent::ops;
use liaison_client::client::{Faults, now};
use liaison_client::core::clock::ManualClock;
use liaison_protocol::consent::ConsentScope;
use liaison_protocol::handling::{Dissemination, Handling};
use liaison_protocol::message::{Content, SignedPayload};
use liaison_protocol::{DirectoryId, MessageId, Timestamp, Wire};
use liaison_tests::{DevNet, assert_success, inproc};

fn id(s: &str) -> DirectoryId {
    DirectoryId::parse(s).unwrap()
}

fn h(text: &str) -> Handling {
    Handling::parse_text(text).unwrap()
}

async fn send(c: &mut Client, to: &str, text: &str, handling: Handling) -> MessageId {
    c.connect().await.unwrap();
    let m = c.send(&[id(to)], text, handling).await.unwrap();
    c.disconnect().await;
    m
}

/// Sync and acknowledge the handling of everything new; returns the new
/// messages' ids.
async fn sync_accept(c: &mut Client) -> Vec<MessageId> {
    c.connect().await.unwrap();
    let report = c.sync().await.unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    let mut ids = Vec::new();
    for m in &report.received {
        if matches!(m.kind.as_str(), "text" | "forward") {
            c.read(m.id, true).await.unwrap();
            ids.push(m.id);
        }
    }
    c.disconnect().await;
    ids
}

async fn forward(c: &mut Client, m: MessageId, to: &str) -> anyhow::Result<MessageId> {
    c.connect().await?;
    let r = c.forward(m, &[id(to)], None, "").await;
    c.disconnect().await;
    Ok(r?)
}

struct Net {
    net: DevNet,
    alice: Client,
    bob: Client,
    dan: Client,
    eve: Client,
}

async fn network() -> Net {
    let net = DevNet::start();
    let (alice, bob) = inproc::alice_and_bob(&net).await;
    let dan = inproc::enrol(&net, "dan", "ph.pnp.dan", "PNP")
        .await
        .unwrap();
    let eve = inproc::enrol(&net, "eve", "ph.nbi.eve", "NBI")
        .await
        .unwrap();
    Net {
        net,
        alice,
        bob,
        dan,
        eve,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn red_is_named_recipients_only_and_amber_strict_stays_in_the_agency() {
    let Net {
        net: _net,
        mut alice,
        mut bob,
        mut dan,
        mut eve,
    } = network().await;

    // TLP:RED: no forward to anyone.
    let red = send(&mut alice, "ph.pnp.bob", "red", h("RED")).await;
    // AMBER+STRICT: inside Bob's own agency (PNP) only.
    let amber = send(
        &mut alice,
        "ph.pnp.bob",
        "amber strict",
        h("AMBER+STRICT purpose=rescue"),
    )
    .await;
    let got = sync_accept(&mut bob).await;
    assert!(got.contains(&red) && got.contains(&amber));

    let err = forward(&mut bob, red, "ph.pnp.dan").await.unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("forward refused") && msg.contains("TLP:RED"),
        "{msg}"
    );
    assert!(
        msg.contains("liaison consent request"),
        "the refusal says how to ask: {msg}"
    );
    // The same check without sending (`forward-check`, which the web app
    // runs as recipients are chosen): the rule, who can consent and the
    // consent that would allow it; back to the originator is allowed.
    let answer = ops::handle(
        &mut bob,
        Request::ForwardCheck {
            id: red,
            to: vec![id("ph.pnp.dan"), id("th.dsi.alice")],
        },
    )
    .await
    .unwrap();
    let Response::ForwardChecked { checks } = answer else {
        panic!("{answer:?}");
    };
    assert_eq!(checks.len(), 2, "{checks:?}");
    let (dan_check, alice_check) = (&checks[0], &checks[1]);
    assert_eq!(dan_check.recipient, "ph.pnp.dan");
    assert!(!dan_check.allowed);
    assert_eq!(dan_check.rule.as_deref(), Some("tlp-red"));
    assert_eq!(dan_check.originator.as_deref(), Some("th.dsi.alice"));
    assert_eq!(
        dan_check.consent_scope.as_deref(),
        Some("forward:ph.pnp.dan")
    );
    let words = dan_check.explanation.as_deref().unwrap_or_default();
    assert!(
        words.contains("TLP:RED") && msg.contains(words),
        "the same words as the forward: {words}"
    );
    assert!(
        alice_check.allowed && alice_check.rule.is_none(),
        "{checks:?}"
    );
    // Nothing was sent.
    dan.connect().await.unwrap();
    assert!(dan.sync().await.unwrap().received.is_empty());
    dan.disconnect().await;

    // Same agency: allowed, and the handling travels with it.
    forward(&mut bob, amber, "ph.pnp.dan").await.unwrap();
    sync_accept(&mut dan).await;
    let fwd = dan
        .inbox()
        .unwrap()
        .into_iter()
        .find(|m| m.kind.as_str() == "forward")
        .unwrap();
    assert_eq!(fwd.original_from.as_deref(), Some("th.dsi.alice"));
    assert_eq!(fwd.from, "ph.pnp.bob");
    assert_eq!(fwd.text, "amber strict");
    assert_eq!(fwd.handling.dissemination, Dissemination::AmberStrict);
    assert!(fwd.verified);

    // Another agency: refused, naming the rule.
    let err = forward(&mut bob, amber, "ph.nbi.eve").await.unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("AMBER+STRICT") && msg.contains("ph.nbi.eve"),
        "{msg}"
    );
    eve.connect().await.unwrap();
    assert!(eve.sync().await.unwrap().received.is_empty());
    eve.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_for_one_recipient_does_not_unlock_another() {
    let Net {
        net: _net,
        mut alice,
        mut bob,
        mut dan,
        eve: _,
    } = network().await;
    let m = send(&mut alice, "ph.pnp.bob", "rescue details", h("RED")).await;
    sync_accept(&mut bob).await;

    bob.connect().await.unwrap();
    let rid = bob
        .request_consent(
            m,
            ConsentScope::parse_text("forward:ph.pnp.dan").unwrap(),
            "Dan leads the raid",
        )
        .await
        .unwrap();
    bob.disconnect().await;
    alice.connect().await.unwrap();
    alice.sync().await.unwrap();
    alice
        .decide_consent(rid, true, "operational use only", None)
        .await
        .unwrap();
    alice.disconnect().await;
    bob.connect().await.unwrap();
    bob.sync().await.unwrap();
    bob.disconnect().await;

    forward(&mut bob, m, "ph.pnp.dan").await.unwrap();
    sync_accept(&mut dan).await;
    assert!(
        dan.inbox()
            .unwrap()
            .iter()
            .any(|x| x.kind.as_str() == "forward" && x.text == "rescue details")
    );
    let err = forward(&mut bob, m, "ph.nbi.eve").await.unwrap_err();
    assert!(format!("{err:#}").contains("TLP:RED"), "{err:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_handling_and_loosened_forwards_are_rejected() {
    let Net {
        net: _net,
        mut alice,
        mut bob,
        mut dan,
        eve: _,
    } = network().await;

    // The handling is edited after signing (RED → CLEAR), then encrypted.
    alice.connect().await.unwrap();
    let faults = Faults {
        alter_signed_payload: Some(Box::new(|bytes: &mut Vec<u8>| {
            let s = SignedPayload::decode(bytes).unwrap();
            let mut p = s.decode_unverified().unwrap();
            p.handling.dissemination = Dissemination::Clear;
            let forged = SignedPayload::from_parts(
                liaison_protocol::codec::encode_body(&p),
                *s.signer(),
                *s.signature(),
            );
            *bytes = forged.encode();
        })),
        ..Faults::default()
    };
    alice
        .send_with_faults(
            &[id("ph.pnp.bob")],
            "edited handling",
            h("RED"),
            None,
            faults,
        )
        .await
        .unwrap();
    let good = alice
        .send(&[id("ph.pnp.bob")], "strict", h("AMBER+STRICT"))
        .await
        .unwrap();
    alice.disconnect().await;
    bob.connect().await.unwrap();
    let report = bob.sync().await.unwrap();
    assert_eq!(report.rejected.len(), 1, "{report:?}");
    assert!(
        report.rejected[0]
            .1
            .contains("signature verification failed"),
        "{:?}",
        report.rejected
    );
    bob.read(good, true).await.unwrap();

    // Bob forwards to Dan, embedding a copy of Alice's payload whose
    // handling he loosened: Dan's client rejects it.
    let original = bob.message(good).unwrap().unwrap().signed_payload;
    let s = SignedPayload::decode(&original).unwrap();
    let mut p = s.decode_unverified().unwrap();
    p.handling = h("CLEAR");
    let loosened = SignedPayload::from_parts(
        liaison_protocol::codec::encode_body(&p),
        *s.signer(),
        *s.signature(),
    )
    .encode();
    let faults = Faults {
        content: Some(Content::Forward { original: loosened }),
        ..Faults::default()
    };
    bob.send_with_faults(&[id("ph.pnp.dan")], "", h("CLEAR"), None, faults)
        .await
        .unwrap();
    // And a forward whose own handling is looser than the original's.
    let faults = Faults {
        content: Some(Content::Forward { original }),
        ..Faults::default()
    };
    bob.send_with_faults(&[id("ph.pnp.dan")], "", h("GREEN"), None, faults)
        .await
        .unwrap();
    bob.disconnect().await;

    dan.connect().await.unwrap();
    let report = dan.sync().await.unwrap();
    dan.disconnect().await;
    assert_eq!(report.rejected.len(), 2, "{report:?}");
    let reasons: Vec<&String> = report.rejected.iter().map(|(_, r)| r).collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("signature by th.dsi.alice does not verify")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("loosens the original handling")),
        "{reasons:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_destroys_the_content_and_the_originator_gets_the_deletion_record() {
    let Net {
        net: _net,
        mut alice,
        mut bob,
        dan: _,
        eve: _,
    } = network().await;
    // Bob's client reads a clock the test moves, instead of waiting.
    let clock = ManualClock::new(now());
    bob.set_clock(Arc::new(clock.clone()));
    let retain = now().plus_millis(3_600_000);
    let handling = h(&format!("RED retain={}", retain.to_rfc3339()));
    let m = send(&mut alice, "ph.pnp.bob", "short-lived", handling).await;
    sync_accept(&mut bob).await;
    assert_eq!(bob.read(m, true).await.unwrap().0.text, "short-lived");

    // Still within retention: nothing is destroyed.
    clock.set(Timestamp(retain.0 - 1_000));
    bob.connect().await.unwrap();
    let report = bob.sync().await.unwrap();
    bob.disconnect().await;
    assert!(report.destroyed.is_empty(), "{report:?}");

    // The retention time passes.
    clock.set(retain.plus_millis(1_000));
    bob.connect().await.unwrap();
    let report = bob.sync().await.unwrap();
    bob.disconnect().await;
    assert_eq!(report.destroyed, vec![m]);
    let tomb = bob.message(m).unwrap().unwrap();
    assert!(tomb.text.is_empty() && tomb.signed_payload.is_empty() && tomb.destroyed_at.is_some());
    assert_ne!(
        tomb.payload_hash, [0; 32],
        "the tombstone keeps the payload hash"
    );
    let err = bob.read(m, true).await.unwrap_err();
    assert!(format!("{err:#}").contains("destroyed"), "{err:#}");

    alice.connect().await.unwrap();
    alice.sync().await.unwrap();
    alice.disconnect().await;
    let kinds: Vec<String> = alice
        .receipt_records(m)
        .unwrap()
        .iter()
        .map(|r| r.kind.clone())
        .collect();
    assert!(kinds.contains(&"deleted".to_owned()), "{kinds:?}");
    let deleted = alice
        .receipts(m)
        .unwrap()
        .into_iter()
        .map(|s| s.decode_unverified().unwrap())
        .find(|r| {
            matches!(
                r.kind,
                liaison_protocol::consent::ReceiptKind::Deleted { .. }
            )
        })
        .unwrap();
    match deleted.kind {
        liaison_protocol::consent::ReceiptKind::Deleted { payload_hash } => {
            assert_eq!(payload_hash, tomb.payload_hash)
        }
        _ => unreachable!(),
    }
}

/// The originator's `liaison receipts ID --json` shows delivery and
/// acknowledgement per recipient, each logged with a verified proof.
#[test]
fn receipts_json_shows_delivered_and_acknowledged_with_logged_events() {
    let net = DevNet::start();
    let alice = net.enrol("alice", "th.dsi.alice", "TH", "DSI");
    let bob = net.enrol("bob", "ph.pnp.bob", "PH", "PNP");
    let out = alice.run(&[
        "send",
        "--to",
        "ph.pnp.bob",
        "--handling",
        "AMBER judicial=with-consent",
        "status report",
    ]);
    assert_success(&out, "send");
    let mid = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_success(&bob.run(&["sync"]), "bob sync");
    // Before acknowledging, the text is withheld from the human view.
    let out = bob.run(&["read", &mid]);
    assert_success(&out, "read");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("AMBER") && !text.contains("status report"),
        "{text}"
    );
    let out = bob.run(&["read", &mid, "--accept"]);
    assert_success(&out, "read --accept");
    assert!(String::from_utf8_lossy(&out.stdout).contains("status report"));

    // The originator syncs until the receipts' events are covered by a
    // checkpoint (the relay signs one within a second); bounded.
    let mut rows = Vec::new();
    for _ in 0..20 {
        assert_success(&alice.run(&["sync"]), "alice sync");
        let out = alice.run(&["receipts", &mid, "--json"]);
        assert_success(&out, "receipts");
        rows = serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).unwrap();
        if rows.len() == 1
            && rows[0]["delivered_logged"] == true
            && rows[0]["acknowledged_logged"] == true
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert_eq!(r["recipient"], "ph.pnp.bob");
    assert!(r["delivered_at"].as_str().unwrap().ends_with('Z'), "{r}");
    assert!(r["acknowledged_at"].as_str().unwrap().ends_with('Z'), "{r}");
    assert_eq!(r["delivered_logged"], true, "{r}");
    assert_eq!(r["acknowledged_logged"], true, "{r}");
}
