//! Attachment uploads with several chunks in flight.
//!
//! An uploader may send the chunks after the next one the store expects
//! before that one is answered, each on its own stream. A chunk that
//! arrives ahead waits here (at most [`MAX_AHEAD`] chunks ahead, for at
//! most the wait given) for the chunks before it; the chunks of a blob
//! that wait when its writer is free are handed to the store in one
//! [`Store::blob_put_chunks`] call, one durable transaction and one fsync,
//! and each is answered only after that transaction committed. Nothing is
//! confirmed that is not on disk, and what the store holds is still every
//! chunk from the first up to the confirmed count, so an upload resumes
//! from there as before.
//!
//! What waits is bounded by the connection's read budget (a request's
//! frame counts against it until it is answered) and by the wait: a chunk
//! whose predecessor never comes is answered as the store judges it alone
//! (out of order, with the count to resume from). Beginning an upload
//! again ([`Uploads::restart`]) answers the chunks still waiting from
//! before the same way at once, so a client that lost its link and
//! resumes is not raced by its own earlier chunks.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use liaison_protocol::PublicKey;
use tokio::sync::oneshot;

use crate::store::{BlobPut, Store, StoreError};

/// How far beyond the next chunk the store expects a chunk may arrive and
/// wait; one further ahead is refused at once.
pub const MAX_AHEAD: u64 = 32;
/// How long a chunk that arrived ahead waits for those before it (they
/// were sent before it, so they normally follow within milliseconds).
pub const WAIT: Duration = Duration::from_secs(2);
/// Most sealed bytes handed to the store in one transaction.
const MAX_RUN_BYTES: usize = 16 * 1024 * 1024;

type Reply = oneshot::Sender<Result<BlobPut, StoreError>>;

struct Waiting {
    chunk: Vec<u8>,
    /// The requests that sent this chunk: more than one when it was sent
    /// again while the first copy waited (its answer lost, then resent on
    /// a new link); all get the one answer.
    replies: Vec<Reply>,
}

impl Waiting {
    fn answer(self, outcome: &Result<BlobPut, StoreError>) {
        for reply in self.replies {
            let _ = reply.send(outcome.clone());
        }
    }
}

/// The chunks of one blob from one uploader waiting for the store.
#[derive(Default)]
struct Queue {
    /// A writer takes chunks from `waiting` now.
    writing: bool,
    /// Counts the chunks added, so that a writer that stored nothing can
    /// tell whether one came meanwhile (a predecessor it waited for).
    added: u64,
    waiting: BTreeMap<u64, Waiting>,
}

/// A blob and its uploader's device key: chunks are queued per uploader,
/// so a device that names another's blob never mixes with its chunks (the
/// store refuses it).
type Key = ([u8; 32], PublicKey);

/// The chunks in flight, per blob and uploader.
pub struct Uploads {
    store: Arc<dyn Store>,
    queues: Mutex<HashMap<Key, Queue>>,
}

impl std::fmt::Debug for Uploads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uploads").finish_non_exhaustive()
    }
}

impl Uploads {
    /// Uploads into `store`.
    pub fn new(store: Arc<dyn Store>) -> Arc<Uploads> {
        Arc::new(Uploads {
            store,
            queues: Mutex::new(HashMap::new()),
        })
    }

    fn queues(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Queue>> {
        // A panic while holding the lock leaves whole entries behind; the
        // map stays usable.
        self.queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Store chunk `index` of `blob` from `uploader` once the chunks before
    /// it are stored, waiting at most `wait` for them; answers as
    /// [`Store::blob_put_chunk`] does, after the commit. `None` if the
    /// writer stopped without answering (it panicked).
    pub async fn put(
        self: &Arc<Self>,
        blob: [u8; 32],
        uploader: PublicKey,
        index: u64,
        chunk: Vec<u8>,
        wait: Duration,
    ) -> Option<Result<BlobPut, StoreError>> {
        let (tx, mut rx) = oneshot::channel();
        let start_writer = {
            let mut queues = self.queues();
            let queue = queues.entry((blob, uploader)).or_default();
            queue.added = queue.added.wrapping_add(1);
            let mut replies = vec![tx];
            if let Some(earlier) = queue.waiting.remove(&index) {
                replies.extend(earlier.replies);
            }
            queue.waiting.insert(index, Waiting { chunk, replies });
            !std::mem::replace(&mut queue.writing, true)
        };
        if start_writer {
            let uploads = self.clone();
            tokio::task::spawn_blocking(move || uploads.write((blob, uploader)));
        }
        if let Ok(answer) = tokio::time::timeout(wait, &mut rx).await {
            return answer.ok();
        }
        // Its predecessor did not come in time: answered as the store
        // judges it alone (out of order, or held already), unless a writer
        // took it meanwhile, whose commit answers soon.
        let key = (blob, uploader);
        let stale = self.withdraw(&key, index);
        let uploads = self.clone();
        tokio::task::spawn_blocking(move || uploads.judge_alone(&key, stale))
            .await
            .ok()?;
        rx.await.ok()
    }

    /// Remove chunk `index` of `blob` from the waiting ones (`None` if a
    /// writer took it already).
    fn withdraw(&self, key: &Key, index: u64) -> Option<(u64, Waiting)> {
        let mut queues = self.queues();
        let queue = queues.get_mut(key)?;
        let taken = queue.waiting.remove(&index);
        if queue.waiting.is_empty() && !queue.writing {
            queues.remove(key);
        }
        taken.map(|w| (index, w))
    }

    /// Answer each of `stale` as the store judges it alone.
    fn judge_alone(&self, (blob, uploader): &Key, stale: impl IntoIterator<Item = (u64, Waiting)>) {
        for (index, w) in stale {
            let outcome = self.store.blob_put_chunk(blob, uploader, index, &w.chunk);
            w.answer(&outcome);
        }
    }

    /// `uploader` begins its upload of `blob` again (on a blocking thread):
    /// answer its chunks still waiting from before as the store judges each
    /// alone.
    pub fn restart(&self, blob: &[u8; 32], uploader: &PublicKey) {
        let key = (*blob, *uploader);
        let stale = {
            let mut queues = self.queues();
            let Some(queue) = queues.get_mut(&key) else {
                return;
            };
            let stale = std::mem::take(&mut queue.waiting);
            if !queue.writing {
                queues.remove(&key);
            }
            stale
        };
        self.judge_alone(&key, stale);
    }

    /// The writer of `blob` (on a blocking thread): hand what waits to the
    /// store, answer what it stored or refused, and keep waiting what comes
    /// ahead of a chunk not arrived yet; stop when nothing can move. It
    /// stops (and forgets the blob once nothing waits) before it answers,
    /// so a chunk sent after an answer finds no writer and starts one.
    fn write(&self, key: Key) {
        loop {
            let (taken, added) = {
                let mut queues = self.queues();
                let Some(queue) = queues.get_mut(&key) else {
                    return;
                };
                let mut taken = Vec::new();
                let mut bytes = 0usize;
                while let Some(entry) = queue.waiting.first_entry() {
                    let len = entry.get().chunk.len();
                    if !taken.is_empty() && bytes.saturating_add(len) > MAX_RUN_BYTES {
                        break;
                    }
                    bytes = bytes.saturating_add(len);
                    taken.push(entry.remove_entry());
                }
                if taken.is_empty() {
                    queues.remove(&key);
                    return;
                }
                (taken, queue.added)
            };
            let (answers, back) = self.write_run(&key, taken);
            let stop = {
                let mut queues = self.queues();
                let queue = queues.entry(key).or_default();
                for (index, w) in back {
                    // A copy sent again meanwhile waits with it.
                    match queue.waiting.entry(index) {
                        Entry::Vacant(e) => {
                            e.insert(w);
                        }
                        Entry::Occupied(mut e) => e.get_mut().replies.extend(w.replies),
                    }
                }
                // Nothing left, or everything waits for a chunk before it
                // and none arrived meanwhile (its request found this writer
                // running and started none).
                let stop = queue.waiting.is_empty() || (answers.is_empty() && queue.added == added);
                if stop {
                    queue.writing = false;
                    if queue.waiting.is_empty() {
                        queues.remove(&key);
                    }
                }
                stop
            };
            for (w, outcome) in answers {
                w.answer(&outcome);
            }
            if stop {
                return;
            }
        }
    }

    /// Store `taken` (ascending) in one transaction. Returns the chunks it
    /// stored or refused, with their answers, and those that wait for a
    /// chunk before them.
    fn write_run(
        &self,
        (blob, uploader): &Key,
        taken: Vec<(u64, Waiting)>,
    ) -> (Answers, Vec<(u64, Waiting)>) {
        let run: Vec<(u64, &[u8])> = taken
            .iter()
            .map(|(index, w)| (*index, w.chunk.as_slice()))
            .collect();
        let outcomes = self.store.blob_put_chunks(blob, uploader, &run);
        drop(run);
        let outcomes = match outcomes {
            Ok(o) => o,
            // Nothing of the run was stored: every chunk of it is told.
            Err(e) => {
                let answers = taken
                    .into_iter()
                    .map(|(_, w)| (w, Err(e.clone())))
                    .collect();
                return (answers, Vec::new());
            }
        };
        let mut answers = Vec::new();
        let mut back = Vec::new();
        for ((index, w), outcome) in taken.into_iter().zip(outcomes) {
            match outcome {
                BlobPut::OutOfOrder(p)
                    if index > p.confirmed
                        && index < p.chunks
                        && index - p.confirmed <= MAX_AHEAD =>
                {
                    back.push((index, w));
                }
                outcome => answers.push((w, Ok(outcome))),
            }
        }
        (answers, back)
    }
}

/// Chunks answered by one commit, with their answers.
type Answers = Vec<(Waiting, Result<BlobPut, StoreError>)>;

#[cfg(test)]
#[path = "uploads_test.rs"]
mod tests;
