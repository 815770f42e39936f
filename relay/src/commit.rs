//! Group commit: one writer thread turns many concurrent Sends into one
//! durable transaction.
//!
//! Each Send is handed to the writer over a bounded channel with a oneshot
//! for its answer. The writer takes everything pending (up to
//! [`MAX_BATCH`] sends or [`MAX_BATCH_BYTES`] of ciphertext), applies it in
//! one [`Store::commit_sends`] call (one redb write transaction, one fsync),
//! and only after the commit returns answers each sender and notifies live
//! subscribers. N concurrent senders therefore share one fsync, and nothing
//! is acknowledged before it is on disk.
//!
//! A Send refused on its own merits (queue full) does not affect the others in
//! its batch; a storage failure fails the whole batch, and since the
//! transaction is then never committed, nothing of it was stored.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use liaison_protocol::frames::Queued;
use tokio::sync::{mpsc, oneshot};

use crate::store::{QueueLimits, SendOp, SendOutcome, Store, StoreError, StoreHealth};

/// Most sends applied in one transaction.
pub const MAX_BATCH: usize = 1024;
/// Most ciphertext bytes applied in one transaction (a batch always takes at
/// least one send).
pub const MAX_BATCH_BYTES: usize = 64 * 1024 * 1024;
/// Sends that may wait for the writer before submitters are slowed down.
pub const QUEUE_CAPACITY: usize = 4096;

/// Why a send was not committed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CommitError {
    /// The writer has stopped (the relay is shutting down).
    #[error("the relay is shutting down")]
    ShuttingDown,
    /// The store failed; nothing of the batch was stored.
    #[error(transparent)]
    Storage(StoreError),
}

/// Called for every envelope committed, after the commit.
pub type Notify = Arc<dyn Fn(&Queued) + Send + Sync>;

struct Job {
    op: SendOp,
    bytes: usize,
    reply: oneshot::Sender<Result<SendOutcome, CommitError>>,
}

/// Counters of the writer.
#[derive(Debug, Default)]
pub struct CommitStats {
    commits: AtomicU64,
    sends: AtomicU64,
    failures: AtomicU64,
    /// Duration of each commit transaction, fsync included.
    pub latency: crate::metrics::Histogram,
}

impl CommitStats {
    /// Transactions committed.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }
    /// Sends answered from a committed transaction.
    pub fn sends(&self) -> u64 {
        self.sends.load(Ordering::Relaxed)
    }
    /// Batches that failed in the store.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
}

/// The submitting side of the group committer.
pub struct Committer {
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    stats: Arc<CommitStats>,
}

impl std::fmt::Debug for Committer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Committer")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// The writer; run it on a thread of its own with [`CommitWorker::spawn`].
pub struct CommitWorker {
    rx: mpsc::Receiver<Job>,
    store: Arc<dyn Store>,
    queue_limits: QueueLimits,
    notify: Notify,
    stats: Arc<CommitStats>,
    health: Arc<StoreHealth>,
}

impl std::fmt::Debug for CommitWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitWorker").finish_non_exhaustive()
    }
}

impl Committer {
    /// A committer and its (not yet running) writer.
    pub fn new(
        store: Arc<dyn Store>,
        queue_limits: QueueLimits,
        notify: Notify,
    ) -> (Committer, CommitWorker) {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let stats = Arc::new(CommitStats::default());
        (
            Committer {
                tx: Mutex::new(Some(tx)),
                stats: stats.clone(),
            },
            CommitWorker {
                rx,
                store,
                queue_limits,
                notify,
                stats,
                health: Arc::new(StoreHealth::default()),
            },
        )
    }

    fn sender(&self) -> Option<mpsc::Sender<Job>> {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Submit one send and wait until it is durably committed (or refused).
    pub async fn submit(&self, op: SendOp) -> Result<SendOutcome, CommitError> {
        let tx = self.sender().ok_or(CommitError::ShuttingDown)?;
        let bytes = op.envelopes.iter().map(|e| e.ciphertext.len()).sum();
        let (reply, answer) = oneshot::channel();
        tx.send(Job { op, bytes, reply })
            .await
            .map_err(|_| CommitError::ShuttingDown)?;
        drop(tx);
        answer.await.unwrap_or(Err(CommitError::ShuttingDown))
    }

    /// Sends waiting for the writer.
    pub fn pending(&self) -> usize {
        self.sender()
            .map(|tx| tx.max_capacity() - tx.capacity())
            .unwrap_or(0)
    }

    /// Stop accepting sends. The writer finishes what is queued, then exits.
    pub fn close(&self) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// The writer's counters.
    pub fn stats(&self) -> &Arc<CommitStats> {
        &self.stats
    }
}

impl CommitWorker {
    /// Report fatal store failures to `health`.
    pub fn with_health(mut self, health: Arc<StoreHealth>) -> Self {
        self.health = health;
        self
    }

    /// Run the writer on a dedicated thread until every [`Committer`] handle
    /// is closed or dropped and the queue is empty.
    pub fn spawn(self) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name("liaison-commit".into())
            .spawn(move || self.run())
    }

    fn run(mut self) {
        while let Some(first) = self.rx.blocking_recv() {
            let mut bytes = first.bytes;
            let mut jobs = vec![first];
            while jobs.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
                match self.rx.try_recv() {
                    Ok(job) => {
                        bytes = bytes.saturating_add(job.bytes);
                        jobs.push(job);
                    }
                    Err(_) => break,
                }
            }
            self.commit(jobs, bytes);
        }
        tracing::debug!("group committer stopped");
    }

    fn commit(&self, jobs: Vec<Job>, bytes: usize) {
        let (ops, replies): (Vec<SendOp>, Vec<_>) =
            jobs.into_iter().map(|j| (j.op, j.reply)).unzip();
        // One clock reading per batch: every send of a commit shares it.
        let accepted_at = liaison_clock::now().0;
        let started = std::time::Instant::now();
        let committed = self
            .store
            .commit_sends(&ops, accepted_at, self.queue_limits);
        self.stats.latency.observe(started.elapsed());
        match committed {
            Ok(outcomes) => {
                self.stats.commits.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .sends
                    .fetch_add(ops.len() as u64, Ordering::Relaxed);
                tracing::debug!(sends = ops.len(), bytes, "group commit");
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    if let SendOutcome::Accepted { queued } = &outcome {
                        for q in queued {
                            (self.notify)(q);
                        }
                    }
                    // The sender may have gone away; the message is stored
                    // regardless and a retry will be answered as a duplicate.
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                self.stats.failures.fetch_add(1, Ordering::Relaxed);
                self.health.check(&e);
                tracing::error!(error = %e, sends = ops.len(), "group commit failed; nothing of the batch was stored");
                let err = CommitError::Storage(e);
                for reply in replies {
                    let _ = reply.send(Err(err.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "commit_test.rs"]
mod tests;
