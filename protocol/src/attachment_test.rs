#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;
use proptest::prelude::*;

const KEY: [u8; 32] = [7; 32];
const OTHER_KEY: [u8; 32] = [9; 32];

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn reference(key: [u8; 32], sealed: &Sealed) -> AttachmentRef {
    AttachmentRef {
        name: "passport.pdf".into(),
        media_type: "application/pdf".into(),
        size: sealed.size,
        sha256: sealed.sha256,
        key,
        blob: [1; 32],
    }
}

/// A three-chunk file, its sealed chunks and its signed reference.
fn three_chunks() -> (Vec<u8>, Vec<Vec<u8>>, AttachmentRef) {
    let plain = data(2 * CHUNK_SIZE + 1000);
    let (chunks, sealed) = seal_all(&KEY, &plain).unwrap();
    assert_eq!(chunks.len(), 3);
    (plain, chunks, reference(KEY, &sealed))
}

#[test]
fn round_trip_at_chunk_boundaries() {
    for len in [
        0,
        1,
        CHUNK_SIZE - 1,
        CHUNK_SIZE,
        CHUNK_SIZE + 1,
        3 * CHUNK_SIZE,
        3 * CHUNK_SIZE + 5,
    ] {
        let plain = data(len);
        let (chunks, sealed) = seal_all(&KEY, &plain).unwrap();
        assert_eq!(sealed.size, len as u64);
        assert_eq!(sealed.chunks, chunks.len() as u64);
        assert_eq!(Some(sealed.chunks), chunk_count(len as u64), "len {len}");
        let stored: u64 = chunks.iter().map(|c| c.len() as u64).sum();
        assert_eq!(Some(stored), sealed_size(len as u64), "len {len}");
        let sha: [u8; 32] = Sha256::digest(&plain).into();
        assert_eq!(sealed.sha256, sha);
        let opened = open_all(&reference(KEY, &sealed), &chunks).unwrap();
        assert_eq!(*opened, plain, "len {len}");
    }
}

#[test]
fn a_resumed_download_checks_the_kept_chunks_against_the_signed_hash() {
    let (plain, chunks, reference) = three_chunks();
    let mut opener = Opener::new(&reference).unwrap();
    opener.resume_chunk(&plain[..CHUNK_SIZE]).unwrap();
    assert_eq!(opener.next_index(), 1);
    let mut out = plain[..CHUNK_SIZE].to_vec();
    for chunk in &chunks[1..] {
        out.extend_from_slice(&opener.open_chunk(chunk).unwrap());
    }
    opener.finish().unwrap();
    assert_eq!(out, plain);

    // A kept chunk altered on disk fails the whole file.
    let mut altered = plain[..CHUNK_SIZE].to_vec();
    altered[10] ^= 1;
    let mut opener = Opener::new(&reference).unwrap();
    opener.resume_chunk(&altered).unwrap();
    for chunk in &chunks[1..] {
        opener.open_chunk(chunk).unwrap();
    }
    assert_eq!(opener.finish(), Err(AttachmentError::HashMismatch));

    // Never a short piece, nor the final chunk.
    let mut opener = Opener::new(&reference).unwrap();
    assert_eq!(
        opener.resume_chunk(&plain[..CHUNK_SIZE - 1]),
        Err(AttachmentError::ChunkRejected { index: 0 })
    );
    opener.resume_chunk(&plain[..CHUNK_SIZE]).unwrap();
    opener
        .resume_chunk(&plain[CHUNK_SIZE..2 * CHUNK_SIZE])
        .unwrap();
    assert_eq!(
        opener.resume_chunk(&plain[2 * CHUNK_SIZE..]),
        Err(AttachmentError::ChunkRejected { index: 2 })
    );
    assert!(opener.finish().is_err());
}

#[test]
fn chunks_never_contain_the_plaintext() {
    let plain = vec![b'A'; 2 * CHUNK_SIZE];
    let (chunks, _) = seal_all(&KEY, &plain).unwrap();
    for chunk in &chunks {
        assert!(!chunk.windows(64).any(|w| w == &plain[..64]));
    }
    // Equal plaintext chunks seal differently: each position has its nonce.
    assert_ne!(chunks[0], chunks[1]);
}

#[test]
fn altered_chunk_is_rejected() {
    let (_, chunks, r) = three_chunks();
    for index in 0..chunks.len() {
        for at in [0, 100, chunks[index].len() - 1] {
            let mut bad = chunks.clone();
            bad[index][at] ^= 0x01;
            assert_eq!(
                open_all(&r, &bad),
                Err(AttachmentError::ChunkRejected {
                    index: index as u64
                }),
            );
        }
    }
}

#[test]
fn reordered_chunks_are_rejected() {
    let (_, chunks, r) = three_chunks();
    let mut swapped = chunks.clone();
    swapped.swap(0, 1);
    assert_eq!(
        open_all(&r, &swapped),
        Err(AttachmentError::ChunkRejected { index: 0 })
    );
}

#[test]
fn a_full_chunk_repeated_is_rejected() {
    let (_, chunks, r) = three_chunks();
    let repeated = vec![chunks[0].clone(), chunks[0].clone(), chunks[2].clone()];
    assert_eq!(
        open_all(&r, &repeated),
        Err(AttachmentError::ChunkRejected { index: 1 })
    );
}

#[test]
fn chunk_from_another_file_is_rejected() {
    let (_, chunks, r) = three_chunks();
    let (other, _) = seal_all(&OTHER_KEY, &data(2 * CHUNK_SIZE + 1000)).unwrap();
    let mut mixed = chunks.clone();
    mixed[1] = other[1].clone();
    assert_eq!(
        open_all(&r, &mixed),
        Err(AttachmentError::ChunkRejected { index: 1 })
    );
}

#[test]
fn truncation_is_detected() {
    let (_, chunks, r) = three_chunks();
    // Dropping the final chunk: what was opened is not the whole file.
    let mut opener = Opener::new(&r).unwrap();
    opener.open_chunk(&chunks[0]).unwrap();
    opener.open_chunk(&chunks[1]).unwrap();
    assert_eq!(
        opener.finish(),
        Err(AttachmentError::Truncated {
            received: 2,
            expected: 3
        })
    );
    // Dropping a middle chunk: the next one is at the wrong position.
    let dropped = vec![chunks[0].clone(), chunks[2].clone()];
    assert_eq!(
        open_all(&r, &dropped),
        Err(AttachmentError::ChunkRejected { index: 1 })
    );
    // No chunk at all.
    assert!(matches!(
        open_all(&r, &[]),
        Err(AttachmentError::Truncated { received: 0, .. })
    ));
}

#[test]
fn a_shorter_file_cannot_pass_for_a_truncated_one() {
    // A file whose real last chunk is dropped cannot end early: the chunk
    // before it was sealed as not final, so it fails as the last one even
    // under a signed size that would end there.
    let (_, chunks, r) = three_chunks();
    let shorter = AttachmentRef {
        size: 2 * CHUNK_SIZE as u64,
        ..r
    };
    assert_eq!(
        open_all(&shorter, &chunks[..2]),
        Err(AttachmentError::ChunkRejected { index: 1 })
    );
}

#[test]
fn extra_chunk_is_rejected() {
    let (_, mut chunks, r) = three_chunks();
    chunks.push(chunks[2].clone());
    assert_eq!(
        open_all(&r, &chunks),
        Err(AttachmentError::ExtraChunk { expected: 3 })
    );
}

#[test]
fn wrong_key_is_rejected() {
    let (_, chunks, r) = three_chunks();
    let wrong = AttachmentRef {
        key: OTHER_KEY,
        ..r
    };
    assert_eq!(
        open_all(&wrong, &chunks),
        Err(AttachmentError::ChunkRejected { index: 0 })
    );
}

#[test]
fn hash_differing_from_the_signed_one_is_rejected() {
    let (_, chunks, r) = three_chunks();
    let mut sha = r.sha256;
    sha[0] ^= 1;
    let lying = AttachmentRef { sha256: sha, ..r };
    assert_eq!(
        open_all(&lying, &chunks),
        Err(AttachmentError::HashMismatch)
    );
}

#[test]
fn wrong_signed_size_is_rejected() {
    let (_, chunks, r) = three_chunks();
    let longer = AttachmentRef {
        size: r.size + 1,
        ..r.clone()
    };
    assert_eq!(
        open_all(&longer, &chunks),
        Err(AttachmentError::ChunkRejected { index: 2 })
    );
    let huge = AttachmentRef {
        size: MAX_SIZE + 1,
        ..r
    };
    assert_eq!(Opener::new(&huge).err(), Some(AttachmentError::TooLarge));
}

#[test]
fn truncated_or_empty_chunk_bytes_are_rejected() {
    let (_, chunks, r) = three_chunks();
    for cut in [0, 1, TAG_SIZE, chunks[0].len() - 1] {
        let mut bad = chunks.clone();
        bad[0].truncate(cut);
        assert_eq!(
            open_all(&r, &bad),
            Err(AttachmentError::ChunkRejected { index: 0 })
        );
    }
}

#[test]
fn sealer_refuses_misuse() {
    let mut sealer = Sealer::new(&KEY);
    assert_eq!(
        sealer.seal_chunk(&data(10)),
        Err(SealError::ChunkSize { len: 10 })
    );
    assert_eq!(sealer.next_index(), 0);
    sealer.seal_chunk(&data(CHUNK_SIZE)).unwrap();
    assert!(matches!(
        Sealer::new(&KEY).seal_last(&data(CHUNK_SIZE + 1)),
        Err(SealError::ChunkSize { .. })
    ));
    // An empty final chunk after full ones would make two encodings of the
    // same file; only an empty file has one.
    assert_eq!(
        sealer.seal_last(&[]).err(),
        Some(SealError::ChunkSize { len: 0 })
    );
}

#[test]
fn sizes_and_counts() {
    assert_eq!(chunk_count(0), Some(1));
    assert_eq!(chunk_count(1), Some(1));
    assert_eq!(chunk_count(CHUNK_SIZE as u64), Some(1));
    assert_eq!(chunk_count(CHUNK_SIZE as u64 + 1), Some(2));
    assert_eq!(chunk_count(MAX_SIZE), Some(MAX_CHUNKS));
    assert_eq!(chunk_count(MAX_SIZE + 1), None);
    assert_eq!(chunk_plain_len(0, 0), Some(0));
    assert_eq!(chunk_plain_len(0, 1), None);
    assert_eq!(chunk_plain_len(CHUNK_SIZE as u64 + 3, 1), Some(3));
    assert_eq!(sealed_size(0), Some(TAG_SIZE as u64));
    assert_eq!(sealed_size(u64::MAX), None);
    // 100 MB, the default limit, is 382 chunks.
    assert_eq!(chunk_count(100_000_000), Some(382));
}

#[test]
fn nonce_layout() {
    let n = nonce(0x0102_0304, true).unwrap();
    assert_eq!(&n[..7], b"lsnatt1");
    assert_eq!(&n[7..11], &[1, 2, 3, 4]);
    assert_eq!(n[11], 1);
    assert_eq!(nonce(0, false).unwrap()[11], 0);
    assert_eq!(nonce(MAX_CHUNKS, false), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn any_file_round_trips_and_any_flipped_bit_fails(
        len in 0usize..(2 * CHUNK_SIZE + 100),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let plain = data(len);
        let (chunks, sealed) = seal_all(&KEY, &plain).unwrap();
        let r = reference(KEY, &sealed);
        prop_assert_eq!(&*open_all(&r, &chunks).unwrap(), &plain);
        let total: usize = chunks.iter().map(Vec::len).sum();
        let mut at = flip.index(total);
        let mut bad = chunks.clone();
        for chunk in &mut bad {
            if at < chunk.len() {
                chunk[at] ^= 1 << bit;
                break;
            }
            at -= chunk.len();
        }
        prop_assert!(open_all(&r, &bad).is_err());
    }
}
