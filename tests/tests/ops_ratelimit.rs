//! Abuse limits: a focal point that exceeds its send rate gets a clear,
//! retryable RateLimited (429) refusal saying when to retry, its message
//! stays in its outbox for the retry, and another focal point on the same
//! relay (and the same IP address) is unaffected. Slow clients and surplus
//! unauthenticated connections are cut off. Everything shows in the metrics.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use liaison_protocol::DirectoryId;
use liaison_protocol::frames::{ErrorCode, Response, decode_frame};
use liaison_protocol::handling::Handling;
use liaison_tests::{DevNet, http_get, inproc, metric_value};

const BURST: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_over_its_limit_does_not_affect_another() {
    let mut net = DevNet::start();
    let (mut alice, mut bob) = inproc::alice_and_bob(&net).await;
    let mut carol = inproc::enrol(&net, "carol", "ph.pnp.carol", "PNP")
        .await
        .unwrap();
    // One message a minute, bursts of three.
    net.set_config("limits", "sends_per_minute", "1");
    net.set_config("limits", "send_burst", &BURST.to_string());
    net.kill();
    net.restart();

    alice.connect().await.unwrap();
    bob.connect().await.unwrap();
    let to_bob = [DirectoryId::parse("ph.pnp.bob").unwrap()];
    let to_carol = [DirectoryId::parse("ph.pnp.carol").unwrap()];

    // Alice sends until refused: the burst passes, then 429. (A token comes
    // back only after a minute, so ten tries always reach the limit.)
    let mut accepted = 0;
    let mut refusal = None;
    for i in 0..10 {
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
    let refusal = refusal.expect("alice was never rate limited");
    assert!(
        accepted >= BURST,
        "only {accepted} accepted before the limit"
    );
    assert!(refusal.contains("429"), "{refusal}");
    assert!(refusal.contains("rate limit"), "{refusal}");
    assert!(refusal.contains("th.dsi.alice"), "{refusal}");
    assert!(refusal.contains("retry in"), "{refusal}");
    // Retryable: the client keeps the message for a later retry.
    assert_eq!(alice.outbox_len().unwrap(), 1);

    // Bob, on the same relay and address, sends his whole burst.
    for i in 0..BURST {
        bob.send(&to_carol, &format!("unaffected {i}"), Handling::default())
            .await
            .unwrap_or_else(|e| panic!("bob was limited by alice's traffic: {e:#}"));
    }

    // Carol receives Bob's messages; Bob received Alice's accepted ones.
    // (Receipts the clients send each other arrive too: count texts.)
    let texts = |r: liaison_client::client::SyncReport, prefix: &str| {
        r.received
            .iter()
            .filter(|m| m.text.starts_with(prefix))
            .count()
    };
    carol.connect().await.unwrap();
    assert_eq!(texts(carol.sync().await.unwrap(), "unaffected"), BURST);
    assert_eq!(texts(bob.sync().await.unwrap(), "flood"), accepted);

    let addr = net.metrics.clone().unwrap();
    let (_, text) = http_get(&addr, "/metrics");
    let limited = metric_value(&text, "liaison_rate_limited_total", &["limit=\"sends\""]).unwrap();
    assert!(limited >= 1.0, "{text}");
    let refused =
        metric_value(&text, "liaison_refused_total", &["reason=\"rate_limited\""]).unwrap();
    assert!(refused >= limited);

    alice.disconnect().await;
    bob.disconnect().await;
    carol.disconnect().await;
}

/// A client that starts a request and never finishes it is answered with
/// an error once `request_timeout_secs` passed; connections beyond
/// `max_unauthenticated_per_ip` from one address are closed with 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_and_unauthenticated_connections_are_limited() {
    let mut net = DevNet::start();
    net.set_config("limits", "request_timeout_secs", "1");
    net.set_config("limits", "max_unauthenticated_per_ip", "2");
    // The unauthenticated connections below must outlive the test.
    net.set_config("limits", "auth_timeout_secs", "3600");
    net.kill();
    net.restart();

    let slow = net.raw_connect().await;
    let (mut send, mut recv) = slow.open_bi().await.unwrap();
    // Announce a 10-byte frame, send 2 bytes of it, then stall.
    send.write_all(&[0, 0, 0, 10, 1, 2]).await.unwrap();
    let answer = recv.read_to_end(1 << 16).await.unwrap();
    match decode_frame::<Response>(&answer, 1 << 16).unwrap() {
        Response::Error(e) => {
            assert_eq!(e.code, ErrorCode::Malformed);
            assert!(e.message.contains("did not arrive within 1 s"), "{e}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }

    let _second = net.raw_connect().await;
    let third = net.raw_connect().await;
    match third.closed().await {
        quinn::ConnectionError::ApplicationClosed(close) => {
            assert_eq!(close.error_code, quinn::VarInt::from_u32(503), "{close:?}");
        }
        other => panic!("expected a 503 close, got {other:?}"),
    }

    let (_, text) = http_get(net.metrics.as_ref().unwrap(), "/metrics");
    let timeouts = metric_value(
        &text,
        "liaison_client_timeouts_total",
        &["phase=\"request\""],
    )
    .unwrap();
    assert!(timeouts >= 1.0, "{text}");
    let refused = metric_value(
        &text,
        "liaison_connections_refused_total",
        &["reason=\"unauthenticated_per_ip\""],
    )
    .unwrap();
    assert!(refused >= 1.0, "{text}");
}
