//! Durability under crash: concurrent senders while the relay is killed with
//! SIGKILL and restarted several times. Every send the relay acknowledged
//! must be delivered exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use liaison_client::Client;
use liaison_protocol::handling::Handling;
use liaison_protocol::{DirectoryId, MessageId};
use liaison_tests::{DevNet, inproc};
use tokio::sync::Mutex;

const SENDERS: usize = 4;
const PER_SENDER: usize = 600;
const KILLS: usize = 4;

async fn reconnect(c: &mut Client) {
    c.disconnect().await;
    loop {
        match c.connect().await {
            Ok(()) => return,
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "slow: a few thousand messages and several relay kills; run by scripts/test"]
async fn nothing_acknowledged_is_lost_across_sigkill() {
    let net = Arc::new(Mutex::new(DevNet::start()));
    let receivers = ["ph.pnp.bob", "ph.pnp.dave"];
    let (mut rx_clients, mut tx_clients) = (Vec::new(), Vec::new());
    {
        let n = net.lock().await;
        for (i, id) in receivers.iter().enumerate() {
            rx_clients.push(
                inproc::enrol(&n, &format!("rx{i}"), id, "PNP")
                    .await
                    .unwrap(),
            );
        }
        for i in 0..SENDERS {
            tx_clients.push(
                inproc::enrol(&n, &format!("tx{i}"), &format!("th.dsi.sender{i}"), "DSI")
                    .await
                    .unwrap(),
            );
        }
    }

    let done = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (s, mut client) in tx_clients.into_iter().enumerate() {
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            client.set_request_timeout(Duration::from_secs(3));
            reconnect(&mut client).await;
            let mut acked: Vec<MessageId> = Vec::new();
            let mut failed = 0usize;
            for i in 0..PER_SENDER {
                let to = DirectoryId::parse(receivers[i % receivers.len()]).unwrap();
                let text = format!("sender {s} message {i}");
                match client.send(&[to], &text, Handling::default()).await {
                    Ok(id) => acked.push(id),
                    Err(_) => {
                        failed += 1;
                        reconnect(&mut client).await;
                    }
                }
            }
            done.store(true, Ordering::SeqCst);
            // Confirm whatever is still in the outbox once the relay is stable.
            (client, acked, failed)
        }));
    }

    // Kill the relay with SIGKILL at intervals while the senders run.
    let mut kills = 0;
    while kills < KILLS && !done.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let net2 = net.clone();
        tokio::task::spawn_blocking(move || {
            let mut n = net2.blocking_lock();
            n.kill();
            std::thread::sleep(Duration::from_millis(300));
            n.restart();
        })
        .await
        .unwrap();
        kills += 1;
    }

    let mut acked_all: BTreeSet<MessageId> = BTreeSet::new();
    let mut failed_all = 0;
    let mut acked_count = 0;
    for t in tasks {
        let (mut client, acked, failed) = t.await.unwrap();
        acked_count += acked.len();
        acked_all.extend(acked);
        failed_all += failed;
        // Outbox items whose acceptance was never confirmed: resend now.
        client.set_request_timeout(Duration::from_secs(30));
        reconnect(&mut client).await;
        client.flush_outbox().await.unwrap();
        client.disconnect().await;
    }
    assert_eq!(acked_count, acked_all.len(), "message ids are unique");

    // Receivers fetch everything.
    let mut delivered: BTreeMap<MessageId, usize> = BTreeMap::new();
    let mut suppressed = 0;
    for c in rx_clients.iter_mut() {
        reconnect(c).await;
        let report = c.sync().await.unwrap();
        suppressed += report.duplicates;
        assert!(report.rejected.is_empty(), "{:?}", report.rejected);
        for m in c.inbox().unwrap() {
            *delivered.entry(m.id).or_default() += 1;
        }
        c.disconnect().await;
    }
    let lost: Vec<_> = acked_all
        .iter()
        .filter(|id| !delivered.contains_key(id))
        .collect();
    let dup: Vec<_> = delivered.iter().filter(|(_, n)| **n > 1).collect();
    println!(
        "{{\"senders\":{SENDERS},\"attempted\":{},\"acknowledged\":{},\"send_errors\":{failed_all},\"relay_kills\":{kills},\"delivered\":{},\"duplicates_suppressed\":{suppressed},\"acknowledged_but_lost\":{}}}",
        SENDERS * PER_SENDER,
        acked_all.len(),
        delivered.len(),
        lost.len()
    );
    assert!(
        kills >= 2,
        "the relay was killed only {kills} times: senders finished too fast"
    );
    assert!(
        acked_all.len() >= SENDERS * PER_SENDER / 2,
        "too few acknowledged sends to mean anything"
    );
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    assert!(dup.is_empty(), "delivered more than once: {dup:?}");
}
