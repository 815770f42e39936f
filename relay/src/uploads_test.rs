#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::time::Duration;

use liaison_protocol::attachment::{CHUNK_SIZE, seal_all};

use super::*;
use crate::store::{BlobBegin, BlobFetch, BlobProgress, RedbStore};
use crate::test_support::*;

const BLOB: [u8; 32] = [7; 32];
/// Long enough never to end within a test that waits on something else.
const LONG: Duration = Duration::from_secs(600);

fn progress(confirmed: u64, chunks: u64) -> BlobPut {
    BlobPut::Progress(BlobProgress { confirmed, chunks })
}

/// A store holding a begun blob of `n` whole chunks, and its sealed chunks.
fn begun(n: usize) -> (tempfile::TempDir, Arc<RedbStore>, Vec<Vec<u8>>) {
    let (dir, store) = temp_store();
    let len = n * CHUNK_SIZE;
    let a = key(1).public_key();
    let begin = store
        .blob_begin(&BLOB, &a, "th.a", len as u64, u64::MAX)
        .unwrap();
    assert!(matches!(begin, BlobBegin::Progress(_)));
    (
        dir,
        Arc::new(store),
        seal_all(&[9; 32], &vec![4u8; len]).unwrap().0,
    )
}

fn held(store: &RedbStore) -> Vec<Vec<u8>> {
    let a = key(1).public_key();
    match store.blob_fetch(&BLOB, &a, 0, 100, usize::MAX).unwrap() {
        BlobFetch::Chunks(c) => c,
        BlobFetch::Incomplete(p) => vec![Vec::new(); p.confirmed as usize],
        BlobFetch::NotFound => panic!("no such blob"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_sent_ahead_wait_for_the_ones_before_them_and_are_all_stored() {
    let (_dir, store, chunks) = begun(4);
    let uploads = Uploads::new(store.clone());
    let a = key(1).public_key();
    // Chunks 3, 2 and 1 arrive first (and 1 twice, as after a lost
    // answer): nothing can be stored before chunk 0.
    let mut ahead = Vec::new();
    for i in [3u64, 2, 1, 1] {
        let (u, c) = (uploads.clone(), chunks[i as usize].clone());
        ahead.push(tokio::spawn(
            async move { u.put(BLOB, a, i, c, LONG).await },
        ));
    }
    tokio::task::yield_now().await;
    assert_eq!(held(&store).len(), 0);
    let first = uploads.put(BLOB, a, 0, chunks[0].clone(), LONG).await;
    assert!(
        matches!(first, Some(Ok(BlobPut::Progress(p))) if p.confirmed >= 1),
        "{first:?}"
    );
    for call in ahead {
        let answer = call.await.unwrap().unwrap().unwrap();
        assert!(
            matches!(answer, BlobPut::Progress(p) if p.chunks == 4 && p.confirmed >= 2),
            "{answer:?}"
        );
    }
    // Every chunk is stored once, in its place, and nothing waits.
    assert_eq!(held(&store), chunks);
    assert!(uploads.queues().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_whose_predecessor_never_comes_is_refused_with_where_to_resume() {
    let (_dir, store, chunks) = begun(3);
    let uploads = Uploads::new(store.clone());
    let a = key(1).public_key();
    assert_eq!(
        uploads
            .put(BLOB, a, 0, chunks[0].clone(), Duration::ZERO)
            .await
            .unwrap()
            .unwrap(),
        progress(1, 3)
    );
    let late = uploads
        .put(BLOB, a, 2, chunks[2].clone(), Duration::from_millis(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        late,
        BlobPut::OutOfOrder(BlobProgress {
            confirmed: 1,
            chunks: 3
        })
    );
    assert_eq!(held(&store).len(), 1);
    assert!(uploads.queues().is_empty());
    // Too far ahead to wait at all.
    let far = MAX_AHEAD + 2;
    let (_dir, store, chunks) = begun(far as usize + 1);
    let uploads = Uploads::new(store.clone());
    let answer = uploads
        .put(BLOB, a, far, chunks[far as usize].clone(), LONG)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(answer, BlobPut::OutOfOrder(_)), "{answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beginning_again_answers_what_still_waits_from_before() {
    let (_dir, store, chunks) = begun(3);
    let uploads = Uploads::new(store.clone());
    let a = key(1).public_key();
    let (u, c) = (uploads.clone(), chunks[2].clone());
    let stale = tokio::spawn(async move { u.put(BLOB, a, 2, c, LONG).await });
    // Another device beginning the same id changes nothing for it.
    let other = key(2).public_key();
    // Once its writer found it cannot be stored yet, it waits.
    while uploads
        .queues()
        .get(&(BLOB, a))
        .is_none_or(|q| q.writing || q.waiting.is_empty())
    {
        tokio::task::yield_now().await;
    }
    uploads.restart(&BLOB, &other);
    assert!(!stale.is_finished());
    uploads.restart(&BLOB, &a);
    assert_eq!(
        stale.await.unwrap().unwrap().unwrap(),
        BlobPut::OutOfOrder(BlobProgress {
            confirmed: 0,
            chunks: 3
        })
    );
    assert!(uploads.queues().is_empty());
    assert_eq!(held(&store).len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_device_naming_the_blob_is_refused_and_disturbs_nothing() {
    let (_dir, store, chunks) = begun(2);
    let uploads = Uploads::new(store.clone());
    let (a, b) = (key(1).public_key(), key(2).public_key());
    let (u, c) = (uploads.clone(), chunks[1].clone());
    let waiting = tokio::spawn(async move { u.put(BLOB, a, 1, c, LONG).await });
    // The same index from a device that did not begin the blob: refused at
    // once, whatever the uploader has waiting.
    assert_eq!(
        uploads
            .put(BLOB, b, 1, chunks[1].clone(), LONG)
            .await
            .unwrap()
            .unwrap(),
        BlobPut::Unknown
    );
    uploads.restart(&BLOB, &b);
    assert_eq!(
        uploads
            .put(BLOB, a, 0, chunks[0].clone(), LONG)
            .await
            .unwrap()
            .unwrap(),
        progress(2, 2)
    );
    assert_eq!(waiting.await.unwrap().unwrap().unwrap(), progress(2, 2));
    assert_eq!(held(&store), chunks);
}
