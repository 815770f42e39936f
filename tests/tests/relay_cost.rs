//! An insider must not be able to bloat the event log or stall the relay
//! (issue 10, item 7): a malicious enrolled device sending Sends that
//! declare events, an unauthenticated flood of proof requests, and a sender
//! filling a recipient's queue. Each test plays the attacker against a real
//! relay process and checks what the honest side sees.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use liaison_client::client::Faults;
use liaison_net::{Link, LinkError};
use liaison_protocol::DirectoryId;
use liaison_protocol::MessageId;
use liaison_protocol::bundle::Bundle;
use liaison_protocol::frames::{Declaration, ErrorCode, LogId};
use liaison_protocol::handling::Handling;
use liaison_protocol::log::event::Declared;
use liaison_relay::store::{RedbStore, Store};
use liaison_tests::{DevNet, http_get, inproc, metric_value};

fn id(s: &str) -> [DirectoryId; 1] {
    [DirectoryId::parse(s).unwrap()]
}

fn receipts_about(message: MessageId, n: usize) -> Faults {
    Faults {
        declare: Some(
            (0..n)
                .map(|i| Declaration {
                    kind: Declared::DeliveryReceipt,
                    refers_to: message,
                    commitment: [u8::try_from(i % 256).unwrap(); 32],
                })
                .collect(),
        ),
        ..Faults::default()
    }
}

/// Entries in the relay's event log, read from its store while it is
/// stopped; the relay is started again.
fn events_size(net: &mut DevNet) -> u64 {
    assert!(net.terminate().success());
    let store =
        RedbStore::open(&net.relay_data().join(liaison_relay::datadir::STORE_FILE)).unwrap();
    let (size, _) = store.log_head(LogId::Events).unwrap();
    drop(store);
    net.restart();
    size
}

/// A malicious enrolled device declares events: many per Send, about a
/// message it never saw, and fast. The relay refuses the first two outright
/// (nothing is logged) and charges declarations to the send budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_cannot_bloat_the_event_log_with_declarations() {
    let mut net = DevNet::start();
    let (mut alice, mut bob) = inproc::alice_and_bob(&net).await;
    let mut mallory = inproc::enrol(&net, "mallory", "ph.pnp.mallory", "PNP")
        .await
        .unwrap();
    alice.connect().await.unwrap();
    bob.connect().await.unwrap();
    mallory.connect().await.unwrap();
    let to_bob = id("ph.pnp.bob");
    let to_alice = id("th.dsi.alice");
    let to_mallory = id("ph.pnp.mallory");

    let m1 = alice
        .send(&to_bob, "a message mallory never sees", Handling::default())
        .await
        .unwrap();
    let m2 = bob
        .send(&to_mallory, "a message to mallory", Handling::default())
        .await
        .unwrap();
    mallory.sync().await.unwrap();
    let before = events_size(&mut net);
    mallory.connect().await.unwrap();

    // 1. A thousand declarations in one Send to one device.
    let e = mallory
        .send_with_faults(
            &to_bob,
            "receipts",
            Handling::default(),
            None,
            receipts_about(m2, 1000),
        )
        .await
        .expect_err("a thousand declarations to one device were accepted");
    let text = format!("{e:#}");
    assert!(
        text.contains("at most one event per recipient device"),
        "{text}"
    );

    // 2. A declaration about a message Mallory neither sent nor received.
    let e = mallory
        .send_with_faults(
            &to_alice,
            "a receipt",
            Handling::default(),
            None,
            receipts_about(m1, 1),
        )
        .await
        .expect_err("a declaration about someone else's message was accepted");
    let text = format!("{e:#}");
    assert!(text.contains("neither sent nor received"), "{text}");
    assert_eq!(events_size(&mut net), before, "refused Sends logged events");

    // 3. Declarations count against the send budget: one a minute, bursts
    //    of three. Declaring Sends about a message Mallory did receive are
    //    refused once the burst is spent.
    net.set_config("limits", "sends_per_minute", "1");
    net.set_config("limits", "send_burst", "3");
    net.kill();
    net.restart();
    mallory.connect().await.unwrap();
    let mut accepted = 0;
    let mut refusal = None;
    for i in 0..10 {
        match mallory
            .send_with_faults(
                &to_bob,
                &format!("receipt {i}"),
                Handling::default(),
                None,
                receipts_about(m2, 1),
            )
            .await
        {
            Ok(_) => accepted += 1,
            Err(e) => {
                refusal = Some(format!("{e:#}"));
                break;
            }
        }
    }
    let refusal = refusal.expect("declaring Sends were never rate limited");
    assert!(accepted <= 3, "{accepted} declaring Sends in a burst of 3");
    assert!(
        refusal.contains("429") && refusal.contains("rate limit"),
        "{refusal}"
    );
    assert!(
        refusal.contains("ph.pnp.mallory") && refusal.contains("retry in"),
        "{refusal}"
    );

    alice.disconnect().await;
    bob.disconnect().await;
    mallory.disconnect().await;
}

/// Proof requests are answered before authentication, on purpose (auditors
/// and witnesses have no device key). A flood of them from one address is
/// refused with a retryable RateLimited saying when to retry, and the focal
/// points behind that address still authenticate and work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unauthenticated_proof_flood_is_limited_and_locks_no_one_out() {
    const BURST: usize = 20;
    let mut net = DevNet::start();
    let (mut alice, mut bob) = inproc::alice_and_bob(&net).await;
    // Tokens come back once a minute: the test is over before any does.
    net.set_config("limits", "unauthenticated_requests_per_minute", "1");
    net.set_config("limits", "unauthenticated_burst", &BURST.to_string());
    net.set_config("limits", "log_reads_per_minute", "1");
    net.set_config("limits", "log_read_burst", &BURST.to_string());
    net.kill();
    net.restart();

    let bundle = Bundle::from_toml(&std::fs::read_to_string(net.bundle()).unwrap()).unwrap();
    let flood = Link::connect(&net.addr, bundle.cert_pin().unwrap())
        .await
        .unwrap();
    let (mut served, mut refused) = (0, None);
    for _ in 0..(3 * BURST) {
        match flood.inclusion(LogId::Directory, 0, 1).await {
            Ok(_) => served += 1,
            Err(LinkError::Refused(w)) if w.code == ErrorCode::RateLimited => {
                refused = Some(w);
            }
            Err(e) => panic!("unexpected answer to a proof request: {e:#}"),
        }
    }
    assert_eq!(served, BURST, "proofs served before the limit");
    let refused = refused.expect("the flood was never limited");
    assert!(refused.message.contains("retry in"), "{refused}");
    let hint = liaison_net::tool::link_retry_hint(&LinkError::Refused(refused.clone()))
        .expect("the tools turn the refusal into a hint");
    assert!(hint.contains("run the same command again"), "{hint}");
    flood.close().await;

    // The focal points behind the same address (loopback) are unaffected.
    alice
        .connect()
        .await
        .expect("alice authenticates after the flood");
    bob.connect()
        .await
        .expect("bob authenticates after the flood");
    alice
        .send(&id("ph.pnp.bob"), "still working", Handling::default())
        .await
        .unwrap();
    let report = bob.sync().await.unwrap();
    assert!(report.received.iter().any(|m| m.text == "still working"));

    let (_, text) = http_get(&net.metrics.clone().unwrap(), "/metrics");
    let limited = metric_value(
        &text,
        "liaison_rate_limited_total",
        &["limit=\"log_reads\""],
    )
    .unwrap();
    assert!(limited >= (2 * BURST) as f64, "{text}");
    alice.disconnect().await;
    bob.disconnect().await;
}

/// One sender floods a recipient that is offline: it fills its share of
/// the recipient's queue and is refused with a retryable QueueFull, while
/// another sender still reaches the recipient.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sender_cannot_fill_a_recipients_queue() {
    let mut net = DevNet::start();
    let (mut alice, mut bob) = inproc::alice_and_bob(&net).await;
    let mut carol = inproc::enrol(&net, "carol", "th.dsi.carol", "DSI")
        .await
        .unwrap();
    // Eight envelopes per device, a quarter of them (two) per sender.
    net.set_config("limits", "max_queue_depth", "8");
    net.set_config("limits", "max_queue_share_per_sender", "25");
    net.kill();
    net.restart();
    alice.connect().await.unwrap();
    carol.connect().await.unwrap();
    let to_bob = id("ph.pnp.bob");

    let mut accepted = 0;
    let mut refusal = None;
    for i in 0..8 {
        match alice
            .send(&to_bob, &format!("flood {i}"), Handling::default())
            .await
        {
            Ok(_) => accepted += 1,
            Err(e) => {
                refusal = Some(format!("{e:#}"));
                break;
            }
        }
    }
    let refusal = refusal.expect("one sender filled the whole queue");
    assert_eq!(accepted, 2);
    assert!(refusal.contains("507"), "{refusal}");
    assert!(
        refusal.contains("the most one sender may queue for it"),
        "{refusal}"
    );
    assert!(
        refusal.contains("retry once it has fetched them"),
        "{refusal}"
    );
    // Retryable: the client keeps the message for later.
    assert_eq!(alice.outbox_len().unwrap(), 1);

    carol
        .send(&to_bob, "from another sender", Handling::default())
        .await
        .expect("another sender still reaches bob");

    // Once Bob fetched and acknowledged, Alice's share is free again.
    bob.connect().await.unwrap();
    let report = bob.sync().await.unwrap();
    let texts: Vec<&str> = report.received.iter().map(|m| m.text.as_str()).collect();
    assert!(texts.contains(&"from another sender"), "{texts:?}");
    assert_eq!(texts.iter().filter(|t| t.starts_with("flood")).count(), 2);
    alice
        .send(&to_bob, "after the queue drained", Handling::default())
        .await
        .unwrap();

    alice.disconnect().await;
    bob.disconnect().await;
    carol.disconnect().await;
}
