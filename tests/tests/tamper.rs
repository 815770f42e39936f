//! A recipient rejects messages whose envelope or inner signature was
//! altered, with a clear error, and keeps working afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use liaison_client::Client;
use liaison_client::client::Faults;
use liaison_protocol::DirectoryId;
use liaison_protocol::handling::Handling;
use liaison_tests::{DevNet, inproc};

async fn send_faulty(
    alice: &mut Client,
    text: &str,
    faults: Faults,
) -> liaison_protocol::MessageId {
    let bob = DirectoryId::parse("ph.pnp.bob").unwrap();
    alice
        .send_with_faults(&[bob], text, Handling::default(), None, faults)
        .await
        .expect("relay accepts the (tampered) envelope: it cannot tell")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn altered_envelope_and_forged_signature_are_rejected() {
    let net = DevNet::start();
    let (mut alice, mut bob) = inproc::alice_and_bob(&net).await;
    alice.connect().await.unwrap();
    bob.connect().await.unwrap();

    // 1. A good message establishes the session.
    let good = send_faulty(&mut alice, "first, untouched", Faults::default()).await;

    // 2. The ciphertext is altered in transit (one bit flipped).
    let flipped = send_faulty(
        &mut alice,
        "second, ciphertext altered",
        Faults {
            alter_envelope: Some(Box::new(|e| {
                let n = e.ciphertext.len();
                e.ciphertext[n / 2] ^= 0x01;
            })),
            ..Faults::default()
        },
    )
    .await;

    // 3. The payload is changed after signing (e.g. handling loosened),
    //    then properly encrypted: the inner signature no longer matches.
    let forged = send_faulty(
        &mut alice,
        "third, signed text",
        Faults {
            alter_signed_payload: Some(Box::new(|p| {
                let needle = b"third, signed text";
                let pos = p
                    .windows(needle.len())
                    .position(|w| w == needle)
                    .expect("body in payload");
                p[pos] = b'T';
            })),
            ..Faults::default()
        },
    )
    .await;

    // 4. A later good message still gets through.
    let after = send_faulty(&mut alice, "fourth, untouched", Faults::default()).await;

    let report = bob.sync().await.unwrap();
    let received: Vec<_> = report.received.iter().map(|m| m.id).collect();
    assert!(received.contains(&good), "{report:?}");
    assert!(received.contains(&after), "{report:?}");
    assert_eq!(report.rejected.len(), 2, "{report:?}");
    let reason = |id| {
        report
            .rejected
            .iter()
            .find(|(r, _)| *r == id)
            .map(|(_, why)| why.clone())
            .unwrap_or_else(|| panic!("{id} not rejected: {report:?}"))
    };
    assert!(
        reason(flipped).contains("failed to decrypt"),
        "{}",
        reason(flipped)
    );
    assert!(
        reason(forged).contains("signature verification failed"),
        "{}",
        reason(forged)
    );

    // Rejected messages are kept as records without content, marked unverified.
    let inbox = bob.inbox().unwrap();
    let rejected: Vec<_> = inbox.iter().filter(|m| !m.verified).collect();
    assert_eq!(rejected.len(), 2);
    assert!(
        rejected
            .iter()
            .all(|m| m.text.is_empty() && m.error.is_some())
    );
    assert!(
        inbox
            .iter()
            .filter(|m| m.verified)
            .all(|m| m.text.ends_with("untouched"))
    );
    alice.disconnect().await;
    bob.disconnect().await;
}

/// A relay that knows the id of a message still queued for Alice (it sees
/// every id) delivers a forged envelope with that id first. The forgery is
/// rejected and kept apart; the genuine message with the same id is then
/// stored and verified, not taken for a duplicate and dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_envelope_cannot_shadow_a_genuine_message() {
    use liaison_protocol::frames::Queued;
    use liaison_protocol::message::{Envelope, OlmKind};
    let net = DevNet::start();
    let (mut alice, mut bob) = inproc::alice_and_bob(&net).await;
    bob.connect().await.unwrap();
    let genuine = bob
        .send(
            &[DirectoryId::parse("th.dsi.alice").unwrap()],
            "the real one",
            liaison_protocol::handling::Handling::default(),
        )
        .await
        .unwrap();
    bob.disconnect().await;

    let forged = Queued {
        seq: 999,
        accepted_at: 1,
        envelope: Envelope {
            message_id: genuine,
            sender_device: bob.device_key(),
            recipient_device: alice.device_key(),
            kind: OlmKind::Normal,
            ciphertext: vec![7; 64],
        },
    };
    alice.connect().await.unwrap();
    assert!(matches!(
        alice.process(&forged).unwrap(),
        liaison_client::client::Received::Rejected { .. }
    ));
    let report = alice.sync().await.unwrap();
    alice.disconnect().await;
    let m = report
        .received
        .iter()
        .find(|m| m.id == genuine)
        .expect("the genuine message is stored");
    assert!(m.verified, "{m:?}");
    assert_eq!(m.text, "the real one");
    // Both are in the home: the genuine one, and the forgery's record.
    let all = alice.messages().unwrap();
    assert_eq!(all.iter().filter(|m| m.id == genuine).count(), 2, "{all:?}");
    assert_eq!(
        all.iter().filter(|m| m.id == genuine && m.verified).count(),
        1
    );
}

/// A focal point who learned the id of a message it did not receive (the
/// relay, or anyone who saw it, knows ids) sends its originator a signed
/// delivery receipt for it. The originator's client refuses it: receipts
/// count only from the message's recipients.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_from_someone_who_was_not_a_recipient_is_refused() {
    use liaison_protocol::consent::{Receipt, ReceiptKind};
    use liaison_protocol::message::Content;
    use liaison_protocol::{SecretKey, Signed};
    let net = DevNet::start();
    let (mut alice, mut bob) = inproc::alice_and_bob(&net).await;
    drop(
        inproc::enrol(&net, "carol", "th.dsi.carol", "DSI")
            .await
            .unwrap(),
    );
    let carol_home = net.dir.path().join("homes").join("carol");
    let carol_key = {
        let home =
            liaison_client::home::Home::open(&carol_home, liaison_tests::PASSPHRASE).unwrap();
        let seed: [u8; 32] = home.get_secret("identity").unwrap().unwrap();
        SecretKey::from_seed(&seed)
    };
    let mut carol = Client::open(&carol_home, liaison_tests::PASSPHRASE).unwrap();

    alice.connect().await.unwrap();
    let m = alice
        .send(
            &[DirectoryId::parse("ph.pnp.bob").unwrap()],
            "for bob",
            Handling::default(),
        )
        .await
        .unwrap();
    alice.disconnect().await;
    let forged = Signed::sign(
        &Receipt {
            message_id: m,
            kind: ReceiptKind::Delivered,
            by: DirectoryId::parse("th.dsi.carol").unwrap(),
            at: liaison_client::client::now(),
        },
        &carol_key,
    );
    carol.connect().await.unwrap();
    carol
        .send_with_faults(
            &[DirectoryId::parse("th.dsi.alice").unwrap()],
            "1 receipt(s)",
            Handling::default(),
            None,
            Faults {
                content: Some(Content::Receipts(vec![forged])),
                ..Faults::default()
            },
        )
        .await
        .unwrap();
    carol.disconnect().await;

    alice.connect().await.unwrap();
    let report = alice.sync().await.unwrap();
    alice.disconnect().await;
    assert!(
        report
            .rejected
            .iter()
            .any(|(_, why)| why.contains("who was not one of its recipients")),
        "{:?}",
        report.rejected
    );
    assert!(
        alice
            .receipt_records(m)
            .unwrap()
            .iter()
            .all(|r| r.by != "th.dsi.carol"),
        "carol's receipt was counted"
    );
    // Bob, the real recipient, still reports delivery as before.
    bob.connect().await.unwrap();
    bob.sync().await.unwrap();
    bob.disconnect().await;
    alice.connect().await.unwrap();
    alice.sync().await.unwrap();
    alice.disconnect().await;
    assert!(
        alice
            .receipt_records(m)
            .unwrap()
            .iter()
            .any(|r| r.by == "ph.pnp.bob"),
        "bob's receipt counts"
    );
}
