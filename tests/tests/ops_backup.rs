//! Online backup and restore: `liaison-relay backup` runs while senders
//! stream messages; the backup is restored into a new data directory, a
//! relay is started on it, and (1) every message acknowledged before the
//! backup started is delivered from the restored relay, and (2) the
//! restored relay's next checkpoint of its event log is consistent with the
//! last checkpoint it signed before the backup (an RFC 9162 consistency
//! proof from the restored relay verifies against both signed notes).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use liaison_client::core::checkpoints::{self, Source, Step};
use liaison_client::logs;
use liaison_net::Link;
use liaison_protocol::bundle::Bundle;
use liaison_protocol::frames::{LogId, Request, Response};
use liaison_protocol::handling::Handling;
use liaison_protocol::log::Checkpoint;
use liaison_protocol::{DirectoryId, MessageId};
use liaison_tests::{DevNet, assert_success, bin, inproc};

const SENDERS: usize = 2;
/// Acknowledged messages before the backup starts.
const BEFORE_BACKUP: usize = 40;

/// The relay's latest signed checkpoint of `log`, verified with the
/// bundle's log key: (note, checkpoint).
async fn checkpoint(conn: &Link, bundle: &Bundle, log: LogId) -> (String, Checkpoint) {
    let note = match conn
        .call(&Request::GetCheckpoint {
            log,
            min_cosignatures: 0,
        })
        .await
        .unwrap()
    {
        Response::Checkpoint { note } => note,
        other => panic!("unexpected answer to GetCheckpoint: {other:?}"),
    };
    let policy = logs::policy(bundle, log).unwrap();
    let cp = logs::open(&policy, &note).unwrap().checkpoint().clone();
    (note, cp)
}

/// Poll `cond` every 20 ms; fail the test if it is still false after five
/// minutes (a wedged sender, not a slow machine).
async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..15_000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("gave up waiting for {what}");
}

async fn connect(net: &DevNet) -> (Link, Bundle) {
    let bundle = Bundle::from_toml(&std::fs::read_to_string(net.bundle()).unwrap()).unwrap();
    let conn = Link::connect(&bundle.relay_addr, bundle.cert_pin().unwrap())
        .await
        .unwrap();
    (conn, bundle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_backup_during_sends_restores_everything_acknowledged_before_it() {
    let mut net = DevNet::start();
    let mut bob = inproc::enrol(&net, "bob", "ph.pnp.bob", "PNP")
        .await
        .unwrap();
    let mut senders = Vec::new();
    for i in 0..SENDERS {
        let id = format!("th.dsi.sender{i}");
        senders.push(
            inproc::enrol(&net, &format!("tx{i}"), &id, "DSI")
                .await
                .unwrap(),
        );
    }

    let acked = Arc::new(Mutex::new(Vec::<MessageId>::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (s, mut client) in senders.into_iter().enumerate() {
        let (acked, count, stop) = (acked.clone(), count.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            client.connect().await.unwrap();
            let to = [DirectoryId::parse("ph.pnp.bob").unwrap()];
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let id = client
                    .send(&to, &format!("sender {s} message {i}"), Handling::default())
                    .await
                    .unwrap();
                acked.lock().unwrap().push(id);
                count.fetch_add(1, Ordering::SeqCst);
                i += 1;
            }
            client.disconnect().await;
            i
        }));
    }
    wait_for("the first acknowledgements", || {
        count.load(Ordering::SeqCst) >= BEFORE_BACKUP
    })
    .await;

    // The last checkpoint signed before the backup: wait (while the senders
    // go on) for one covering a good part of the traffic, so that the
    // consistency check below is not trivial. Then every message
    // acknowledged before the backup starts.
    let (conn, bundle) = connect(&net).await;
    let (mut before_note, mut before) = checkpoint(&conn, &bundle, LogId::Events).await;
    for round in 0.. {
        if before.size() >= BEFORE_BACKUP as u64 {
            break;
        }
        assert!(round < 3000, "no checkpoint covers the traffic");
        tokio::time::sleep(Duration::from_millis(100)).await;
        (before_note, before) = checkpoint(&conn, &bundle, LogId::Events).await;
    }
    conn.close().await;
    let acked_before: BTreeSet<MessageId> = acked.lock().unwrap().iter().copied().collect();
    assert!(acked_before.len() >= BEFORE_BACKUP);

    // Online backup while the senders keep going.
    let backup = net.dir.path().join("relay-backup.redb");
    let out = {
        let (config, backup) = (net.config(), backup.clone());
        tokio::task::spawn_blocking(move || {
            Command::new(bin("liaison-relay"))
                .args(["backup", "--config"])
                .arg(config)
                .arg("--out")
                .arg(backup)
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    };
    assert_success(&out, "liaison-relay backup");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("online from the running relay"), "{report}");
    assert!(report.contains("queues="), "{report}");
    let during = count.load(Ordering::SeqCst);

    // A few more sends after the backup, then stop.
    wait_for("sends after the backup", || {
        count.load(Ordering::SeqCst) >= during + 10
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }
    assert!(net.terminate().success());

    // Restore into a new data directory, as an operator would: the store
    // from the backup, the keys from the (separate) key backup.
    let restored = net.dir.path().join("restored");
    let out = Command::new(bin("liaison-relay"))
        .args(["restore", "--from"])
        .arg(&backup)
        .arg("--data-dir")
        .arg(&restored)
        .output()
        .unwrap();
    assert_success(&out, "liaison-relay restore");
    for key in ["tls.crt", "tls.key", "log-directory.key", "log-events.key"] {
        let to = restored.join(key);
        std::fs::copy(net.relay_data().join(key), &to).unwrap();
    }
    // Restoring over an existing store is refused without --force.
    let again = Command::new(bin("liaison-relay"))
        .args(["restore", "--from"])
        .arg(&backup)
        .arg("--data-dir")
        .arg(&restored)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    net.set_config("", "data_dir", "\"restored\"");
    net.restart();

    // (1) Everything acknowledged before the backup is there.
    bob.connect().await.unwrap();
    let report = bob.sync().await.unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    let received: BTreeSet<MessageId> = bob.inbox().unwrap().iter().map(|m| m.id).collect();
    let lost: Vec<_> = acked_before.difference(&received).collect();
    assert!(
        lost.is_empty(),
        "acknowledged before the backup, missing after restore: {lost:?}"
    );
    bob.disconnect().await;

    // (2) Bob's fetches and acknowledgements grew the event log; the
    // restored relay signs a next checkpoint, which must extend the one
    // signed before the backup.
    let (conn, bundle) = connect(&net).await;
    let mut next = checkpoint(&conn, &bundle, LogId::Events).await;
    for round in 0.. {
        if next.1.size() > before.size() {
            break;
        }
        assert!(round < 3000, "the restored relay signs no new checkpoint");
        tokio::time::sleep(Duration::from_millis(100)).await;
        next = checkpoint(&conn, &bundle, LogId::Events).await;
    }
    let step = match checkpoints::judge(Some(&before), &next.1, Source::Relay) {
        Step::Prove(ext) => {
            let proof = conn.consistency(LogId::Events, ext.old, ext.new).await;
            let proof = proof.as_deref().map_err(|e| e.to_string());
            checkpoints::judge_proof(
                &before,
                &next.1,
                Source::Relay,
                proof.as_ref().map(|p| &p[..]).map_err(String::as_str),
            )
        }
        other => other,
    };
    match step {
        Step::Adopt => {}
        other => panic!(
            "restored relay's checkpoint is not consistent with the one signed before the \
             backup: {other:?}\nbefore:\n{before_note}\nafter:\n{}",
            next.0
        ),
    }
    // The directory log survived too.
    let (_, dir_cp) = checkpoint(&conn, &bundle, LogId::Directory).await;
    assert!(dir_cp.size() >= 3, "authorities and records are logged");
    conn.close().await;
    println!(
        "{{\"acknowledged_before_backup\":{},\"received_after_restore\":{},\"checkpoint_before\":{},\"checkpoint_after\":{}}}",
        acked_before.len(),
        received.len(),
        before.size(),
        next.1.size()
    );
}
