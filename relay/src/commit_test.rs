#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::sync::atomic::AtomicUsize;

use liaison_protocol::MessageId;
use liaison_protocol::frames::LogId;
use liaison_protocol::log::{Hash, empty_root};

use liaison_protocol::directory::{AuthorityCertificate, FocalPointRecord};
use liaison_protocol::message::Prekey;
use liaison_protocol::{PublicKey, Signed};

use super::*;
use crate::store::{
    PrekeyUpload, PutOutcome, QueueLimits, RedbStore, StoreError, StoreHealth, total_queued,
};
use crate::test_support::*;

fn counting_notify() -> (Notify, Arc<AtomicUsize>) {
    let n = Arc::new(AtomicUsize::new(0));
    let m = n.clone();
    (
        Arc::new(move |_q: &Queued| {
            m.fetch_add(1, Ordering::Relaxed);
        }),
        n,
    )
}

async fn wait_pending(c: &Committer, n: usize) {
    // Not a timing assumption: we wait for a condition, however long it takes.
    while c.pending() < n {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sends_share_one_commit() {
    let (_dir, store) = temp_store();
    let store = Arc::new(store);
    let (notify, notified) = counting_notify();
    let (committer, worker) = Committer::new(store.clone(), QueueLimits::depth(1000), notify);
    let committer = Arc::new(committer);
    let (s, a) = (key(9).public_key(), key(1).public_key());
    let tasks: Vec<_> = (0..64)
        .map(|n| {
            let c = committer.clone();
            tokio::spawn(async move { c.submit(op(n, &s, &[a])).await })
        })
        .collect();
    // All 64 sends are waiting before the writer starts, so its first drain
    // takes them all: one transaction, one fsync.
    wait_pending(&committer, 64).await;
    let thread = worker.spawn().unwrap();
    for t in tasks {
        assert!(matches!(t.await.unwrap(), Ok(SendOutcome::Accepted { .. })));
    }
    assert_eq!(committer.stats().commits(), 1);
    assert_eq!(committer.stats().sends(), 64);
    assert_eq!(notified.load(Ordering::Relaxed), 64);
    assert_eq!(store.queue_depth(&a).unwrap(), 64);
    committer.close();
    tokio::task::spawn_blocking(move || thread.join().unwrap())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_senders_all_accepted_with_fewer_commits() {
    let (_dir, store) = temp_store();
    let store = Arc::new(store);
    let (notify, _) = counting_notify();
    let (committer, worker) = Committer::new(store.clone(), QueueLimits::depth(10_000), notify);
    let committer = Arc::new(committer);
    let thread = worker.spawn().unwrap();
    let s = key(9).public_key();
    let recipients: Vec<PublicKey> = (1..=4).map(|n| key(n).public_key()).collect();
    let tasks: Vec<_> = (0..200)
        .map(|n| {
            let c = committer.clone();
            let to = recipients.clone();
            tokio::spawn(async move { c.submit(op(n, &s, &to)).await })
        })
        .collect();
    for t in tasks {
        assert!(matches!(t.await.unwrap(), Ok(SendOutcome::Accepted { .. })));
    }
    assert_eq!(committer.stats().sends(), 200);
    assert!(committer.stats().commits() <= 200);
    assert_eq!(total_queued(&store).unwrap(), 800);
    // A retry of an accepted message is a duplicate.
    assert!(matches!(
        committer.submit(op(7, &s, &recipients)).await,
        Ok(SendOutcome::Duplicate)
    ));
    committer.close();
    assert!(matches!(
        committer.submit(op(900, &s, &recipients)).await,
        Err(CommitError::ShuttingDown)
    ));
    tokio::task::spawn_blocking(move || thread.join().unwrap())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_send_does_not_fail_its_batch() {
    let (_dir, store) = temp_store();
    let store = Arc::new(store);
    let (notify, notified) = counting_notify();
    let (committer, worker) = Committer::new(store.clone(), QueueLimits::depth(2), notify);
    let committer = Arc::new(committer);
    let (s, a, b) = (
        key(9).public_key(),
        key(1).public_key(),
        key(2).public_key(),
    );
    let mut tasks = Vec::new();
    for (n, to) in [(1, a), (2, a), (3, a), (4, b)] {
        let c = committer.clone();
        tasks.push(tokio::spawn(
            async move { c.submit(op(n, &s, &[to])).await },
        ));
        // Keep submission order so the third send to A is the one refused.
        wait_pending(&committer, tasks.len()).await;
    }
    let thread = worker.spawn().unwrap();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap().unwrap());
    }
    assert!(matches!(out[0], SendOutcome::Accepted { .. }));
    assert!(matches!(out[1], SendOutcome::Accepted { .. }));
    assert_eq!(out[2], SendOutcome::QueueFull { device: a });
    assert!(matches!(out[3], SendOutcome::Accepted { .. }));
    assert_eq!(committer.stats().commits(), 1);
    assert_eq!(notified.load(Ordering::Relaxed), 3);
    committer.close();
    tokio::task::spawn_blocking(move || thread.join().unwrap())
        .await
        .unwrap();
}

/// A store whose disk is full: every write fails.
struct FullDisk;

fn enospc() -> StoreError {
    StoreError::Storage(Arc::new(redb::Error::Io(
        std::io::Error::from_raw_os_error(28),
    )))
}

impl Store for FullDisk {
    fn load_directory(
        &self,
    ) -> Result<
        (
            Vec<Signed<AuthorityCertificate>>,
            Vec<Signed<FocalPointRecord>>,
        ),
        StoreError,
    > {
        Ok((vec![], vec![]))
    }
    fn put_authority(
        &self,
        _: &AuthorityCertificate,
        _: &Signed<AuthorityCertificate>,
    ) -> Result<PutOutcome, StoreError> {
        Err(enospc())
    }
    fn put_record(
        &self,
        _: &FocalPointRecord,
        _: &Signed<FocalPointRecord>,
        _: &[Prekey],
        _: u32,
    ) -> Result<PutOutcome, StoreError> {
        Err(enospc())
    }
    fn load_roles(
        &self,
    ) -> Result<Vec<Signed<liaison_protocol::directory::RoleRecord>>, StoreError> {
        Ok(vec![])
    }
    fn put_role(
        &self,
        _: &liaison_protocol::directory::RoleRecord,
        _: &Signed<liaison_protocol::directory::RoleRecord>,
    ) -> Result<PutOutcome, StoreError> {
        Err(enospc())
    }
    fn record_history(&self, _: &str) -> Result<Vec<Signed<FocalPointRecord>>, StoreError> {
        Ok(vec![])
    }
    fn add_prekeys(&self, _: &PublicKey, _: &[Prekey], _: u32) -> Result<PrekeyUpload, StoreError> {
        Err(enospc())
    }
    fn claim_prekey(&self, _: &PublicKey) -> Result<Option<Prekey>, StoreError> {
        Err(enospc())
    }
    fn prekey_count(&self, _: &PublicKey) -> Result<(u32, bool), StoreError> {
        Ok((0, false))
    }
    fn commit_sends(
        &self,
        _: &[SendOp],
        _: u64,
        _: QueueLimits,
    ) -> Result<Vec<SendOutcome>, StoreError> {
        Err(enospc())
    }
    fn fetch(
        &self,
        _: &PublicKey,
        _: u64,
        _: usize,
        _: usize,
    ) -> Result<(Vec<Queued>, bool), StoreError> {
        Ok((vec![], false))
    }
    fn ack(&self, _: &PublicKey, _: &[u64], _: u64) -> Result<u64, StoreError> {
        Err(enospc())
    }
    fn last_seq(&self, _: &PublicKey) -> Result<u64, StoreError> {
        Ok(0)
    }
    fn queue_depth(&self, _: &PublicKey) -> Result<u64, StoreError> {
        Ok(0)
    }
    fn mark_delivered(
        &self,
        _: &PublicKey,
        _: &[(u64, MessageId)],
        _: u64,
    ) -> Result<(), StoreError> {
        Err(enospc())
    }
    fn drop_queue(&self, _: &PublicKey, _: &str, _: u64) -> Result<u64, StoreError> {
        Err(enospc())
    }
    fn queued_devices(&self) -> Result<Vec<PublicKey>, StoreError> {
        Ok(vec![])
    }
    fn lapsed_devices(&self) -> Result<std::collections::BTreeMap<PublicKey, u64>, StoreError> {
        Ok(std::collections::BTreeMap::new())
    }
    fn note_lapsed(&self, _: &[(PublicKey, u64)], _: &[PublicKey]) -> Result<(), StoreError> {
        Err(enospc())
    }
    fn log_head(&self, _: LogId) -> Result<(u64, Hash), StoreError> {
        Ok((0, empty_root()))
    }
    fn log_entries(&self, _: LogId, _: u64, _: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        Ok(vec![])
    }
    fn inclusion_proof(&self, _: LogId, _: u64, _: u64) -> Result<Option<Vec<Hash>>, StoreError> {
        Ok(None)
    }
    fn consistency_proof(&self, _: LogId, _: u64, _: u64) -> Result<Option<Vec<Hash>>, StoreError> {
        Ok(None)
    }
    fn put_checkpoint(&self, _: LogId, _: u64, _: &str) -> Result<(), StoreError> {
        Err(enospc())
    }
    fn checkpoint_at(&self, _: LogId, _: u64) -> Result<Option<String>, StoreError> {
        Ok(None)
    }
    fn put_cosigned(&self, _: LogId, _: u64, _: &str) -> Result<(), StoreError> {
        Err(enospc())
    }
    fn recent_cosigned(&self, _: LogId, _: usize) -> Result<Vec<(u64, String)>, StoreError> {
        Ok(vec![])
    }
    fn recent_checkpoints(&self, _: LogId, _: usize) -> Result<Vec<(u64, String)>, StoreError> {
        Ok(vec![])
    }
    fn message_events(&self, _: &MessageId) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        Ok(vec![])
    }
    fn blob_begin(
        &self,
        _: &[u8; 32],
        _: &PublicKey,
        _: &str,
        _: u64,
        _: u64,
    ) -> Result<crate::store::BlobBegin, StoreError> {
        Err(enospc())
    }
    fn blob_put_chunks(
        &self,
        _: &[u8; 32],
        _: &PublicKey,
        _: &[(u64, &[u8])],
    ) -> Result<Vec<crate::store::BlobPut>, StoreError> {
        Err(enospc())
    }
    fn blob_grant(
        &self,
        _: &[u8; 32],
        _: &PublicKey,
        _: &MessageId,
    ) -> Result<crate::store::BlobGrant, StoreError> {
        Err(enospc())
    }
    fn blob_fetch(
        &self,
        _: &[u8; 32],
        _: &PublicKey,
        _: u64,
        _: u64,
        _: usize,
    ) -> Result<crate::store::BlobFetch, StoreError> {
        Err(enospc())
    }
    fn blob_fetched(
        &self,
        _: &[u8; 32],
        _: &PublicKey,
        _: u64,
        _: u64,
    ) -> Result<bool, StoreError> {
        Err(enospc())
    }
    fn blob_expire(&self, _: u64, _: u64) -> Result<(u64, u64), StoreError> {
        Err(enospc())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_failure_fails_the_batch_and_acknowledges_nothing() {
    let (notify, notified) = counting_notify();
    let (committer, worker) = Committer::new(Arc::new(FullDisk), QueueLimits::depth(10), notify);
    let health = Arc::new(StoreHealth::default());
    let worker = worker.with_health(health.clone());
    let committer = Arc::new(committer);
    let (s, a) = (key(9).public_key(), key(1).public_key());
    let tasks: Vec<_> = (0..8)
        .map(|n| {
            let c = committer.clone();
            tokio::spawn(async move { c.submit(op(n, &s, &[a])).await })
        })
        .collect();
    wait_pending(&committer, 8).await;
    let thread = worker.spawn().unwrap();
    for t in tasks {
        match t.await.unwrap() {
            Err(CommitError::Storage(why)) => {
                assert!(why.to_string().contains("No space left"), "{why}")
            }
            other => panic!("expected a storage failure, got {other:?}"),
        }
    }
    assert_eq!(committer.stats().commits(), 0);
    assert_eq!(committer.stats().failures(), 1);
    assert_eq!(notified.load(Ordering::Relaxed), 0);
    // redb needs reopening after an I/O error: the relay is told to stop.
    assert!(
        health
            .failure()
            .unwrap()
            .to_string()
            .contains("No space left")
    );
    committer.close();
    tokio::task::spawn_blocking(move || thread.join().unwrap())
        .await
        .unwrap();
}

#[test]
fn redb_store_is_a_store() {
    fn assert_store<S: Store>() {}
    assert_store::<RedbStore>();
}
