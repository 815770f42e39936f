//! Graceful shutdown: SIGTERM while senders are busy. The relay exits 0,
//! closes connections with 504 ("shutting down, reconnect later"), and
//! after a restart every message it acknowledged is delivered, exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use liaison_client::Client;
use liaison_protocol::handling::Handling;
use liaison_protocol::{DirectoryId, MessageId};
use liaison_tests::{DevNet, inproc};

const SENDERS: usize = 3;
/// Acknowledged messages per sender before the SIGTERM.
const BEFORE_TERM: usize = 15;

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
async fn sigterm_during_sends_loses_nothing_acknowledged() {
    let mut net = DevNet::start();
    // The idle observer below never authenticates; keep it connected.
    net.set_config("limits", "auth_timeout_secs", "3600");
    net.kill();
    net.restart();
    let receivers = ["ph.pnp.bob", "ph.pnp.dave"];
    let mut rx_clients = Vec::new();
    for (i, id) in receivers.iter().enumerate() {
        rx_clients.push(
            inproc::enrol(&net, &format!("rx{i}"), id, "PNP")
                .await
                .unwrap(),
        );
    }
    let mut tx_clients = Vec::new();
    for i in 0..SENDERS {
        let id = format!("th.dsi.sender{i}");
        tx_clients.push(
            inproc::enrol(&net, &format!("tx{i}"), &id, "DSI")
                .await
                .unwrap(),
        );
    }

    // A connected, idle client: it must be told to reconnect later (504).
    let idle = net.raw_connect().await;

    let acked = Arc::new(Mutex::new(Vec::<MessageId>::new()));
    let progress = Arc::new(AtomicUsize::new(0));
    let terminated = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (s, mut client) in tx_clients.into_iter().enumerate() {
        let (acked, progress, terminated) = (acked.clone(), progress.clone(), terminated.clone());
        tasks.push(tokio::spawn(async move {
            client.set_request_timeout(Duration::from_secs(10));
            client.connect().await.unwrap();
            let mut errors_before_term = Vec::new();
            let mut errors_after_term = Vec::new();
            // Send until the relay goes away (after the SIGTERM).
            for i in 0.. {
                let to = DirectoryId::parse(receivers[i % receivers.len()]).unwrap();
                let text = format!("sender {s} message {i}");
                match client.send(&[to], &text, Handling::default()).await {
                    Ok(id) => {
                        acked.lock().unwrap().push(id);
                        if i + 1 == BEFORE_TERM {
                            progress.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    Err(e) if terminated.load(Ordering::SeqCst) => {
                        errors_after_term.push(format!("{e:#}"));
                        break;
                    }
                    Err(e) => errors_before_term.push(format!("{e:#}")),
                }
            }
            (client, errors_before_term, errors_after_term)
        }));
    }

    // Once every sender has had BEFORE_TERM messages acknowledged, SIGTERM.
    for round in 0.. {
        if progress.load(Ordering::SeqCst) >= SENDERS {
            break;
        }
        assert!(round < 15_000, "the senders stalled before the SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    terminated.store(true, Ordering::SeqCst);
    let status = tokio::task::spawn_blocking(move || {
        let status = net.terminate();
        (net, status)
    })
    .await
    .unwrap();
    let (mut net, status) = status;
    assert_eq!(status.code(), Some(0), "SIGTERM is a clean exit");

    match idle.closed().await {
        quinn::ConnectionError::ApplicationClosed(close) => {
            assert_eq!(close.error_code, quinn::VarInt::from_u32(504), "{close:?}");
        }
        other => panic!("expected a 504 close, got {other:?}"),
    }

    let mut senders = Vec::new();
    for t in tasks {
        let (client, before, after) = t.await.unwrap();
        assert!(before.is_empty(), "errors before the SIGTERM: {before:?}");
        assert_eq!(after.len(), 1);
        senders.push(client);
    }
    let acked: BTreeSet<MessageId> = acked.lock().unwrap().iter().copied().collect();
    assert!(acked.len() >= SENDERS * BEFORE_TERM);

    // Restart; senders confirm what the shutdown interrupted (same ids, so a
    // message the relay did store is answered as a duplicate).
    let net = tokio::task::spawn_blocking(move || {
        net.restart();
        net
    })
    .await
    .unwrap();
    for mut c in senders {
        reconnect(&mut c).await;
        c.flush_outbox().await.unwrap();
        assert_eq!(c.outbox_len().unwrap(), 0);
        c.disconnect().await;
    }

    let mut delivered: BTreeMap<MessageId, usize> = BTreeMap::new();
    for c in rx_clients.iter_mut() {
        reconnect(c).await;
        let report = c.sync().await.unwrap();
        assert!(report.rejected.is_empty(), "{:?}", report.rejected);
        for m in c.inbox().unwrap() {
            *delivered.entry(m.id).or_default() += 1;
        }
        c.disconnect().await;
    }
    let lost: Vec<_> = acked
        .iter()
        .filter(|id| !delivered.contains_key(id))
        .collect();
    assert!(
        lost.is_empty(),
        "acknowledged before SIGTERM but lost: {lost:?}"
    );
    assert!(delivered.values().all(|n| *n == 1));
    println!(
        "{{\"acknowledged_before_sigterm\":{},\"delivered\":{}}}",
        acked.len(),
        delivered.len()
    );
    drop(net);
}
