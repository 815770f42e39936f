//! Attachment encryption: a file sealed in chunks under a fresh key, in the
//! STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár ("Online
//! Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance", CRYPTO
//! 2015, section 7) over ChaCha20-Poly1305 (RFC 8439).
//!
//! The sender draws a fresh 32-byte key per file, cuts the plaintext into
//! [`CHUNK_SIZE`] pieces (the last one shorter, possibly empty) and seals
//! chunk `i` with the nonce `prefix || i (u32, big-endian) || last`, where
//! `last` is 1 for the final chunk and 0 otherwise. A chunk therefore opens
//! only at its own position, and only the final chunk opens as final, so a
//! relay that reorders, swaps, drops, truncates or alters chunks is caught.
//! The key, the plaintext size and its SHA-256 travel in the signed
//! [`AttachmentRef`], so the recipient also knows how many chunks to expect
//! and checks the whole file against what the sender signed.
//!
//! Non-features: no I/O (the client driver reads and writes files and the
//! relay's blob store holds the sealed chunks), no randomness (the caller
//! hands in the key).

use chacha20poly1305::ChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::message::AttachmentRef;

/// Plaintext bytes in every chunk but the last.
pub const CHUNK_SIZE: usize = 256 * 1024;

/// Bytes the AEAD adds to each chunk (the Poly1305 tag).
pub const TAG_SIZE: usize = 16;

/// The largest sealed chunk: a full plaintext chunk and its tag.
pub const MAX_SEALED_CHUNK: usize = CHUNK_SIZE + TAG_SIZE;

/// The most chunks one attachment may have: the STREAM counter is 32 bits.
pub const MAX_CHUNKS: u64 = 1 << 32;

/// The largest plaintext the construction can carry (1 PiB); the operator's
/// configured limit is far lower.
pub const MAX_SIZE: u64 = MAX_CHUNKS * CHUNK_SIZE as u64;

/// The nonce prefix. Each key seals exactly one file, so a constant prefix
/// never repeats a (key, nonce) pair; it only separates this use.
const NONCE_PREFIX: [u8; 7] = *b"lsnatt1";

/// Associated data of every chunk.
const AAD: &[u8] = b"liaison attachment v1";

/// A sender's mistake in driving [`Sealer`]: never caused by a peer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SealError {
    /// A chunk before the last must hold exactly [`CHUNK_SIZE`] bytes.
    #[error("a chunk before the last holds {len} bytes, not {CHUNK_SIZE}")]
    ChunkSize {
        /// Bytes given.
        len: usize,
    },
    /// The file is larger than the construction can carry.
    #[error("the file is larger than {MAX_SIZE} bytes")]
    TooLarge,
    /// The AEAD refused to seal (not expected with valid lengths).
    #[error("a chunk could not be sealed")]
    Crypto,
}

/// Why a received attachment is refused. Every variant means the chunks do
/// not match what the sender signed; nothing of the file may be kept.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttachmentError {
    /// A chunk did not authenticate at its position (altered, swapped,
    /// reordered, from another file, or of the wrong length). Which check
    /// failed is deliberately not said.
    #[error("chunk {index} of the attachment does not authenticate")]
    ChunkRejected {
        /// Position of the chunk (from 0).
        index: u64,
    },
    /// A chunk came after the last one the signed size allows.
    #[error("the attachment has more chunks than its signed size allows ({expected})")]
    ExtraChunk {
        /// Chunks the signed size implies.
        expected: u64,
    },
    /// The chunks ended before the last one (truncation).
    #[error("the attachment ends after {received} of {expected} chunks")]
    Truncated {
        /// Chunks opened.
        received: u64,
        /// Chunks the signed size implies.
        expected: u64,
    },
    /// Every chunk opened but the whole plaintext's SHA-256 differs from the
    /// signed one (a sender that sealed other content than it signed).
    #[error("the attachment's SHA-256 differs from the one its sender signed")]
    HashMismatch,
    /// The signed size is larger than the construction can carry.
    #[error("the attachment's signed size is larger than {MAX_SIZE} bytes")]
    TooLarge,
}

/// How many chunks a plaintext of `size` bytes is sealed in (an empty file is
/// one empty final chunk), or `None` beyond [`MAX_SIZE`].
pub fn chunk_count(size: u64) -> Option<u64> {
    if size > MAX_SIZE {
        return None;
    }
    Some(size.div_ceil(CHUNK_SIZE as u64).max(1))
}

/// Plaintext bytes of chunk `index` of a file of `size` bytes, or `None` if
/// the file has no such chunk.
pub fn chunk_plain_len(size: u64, index: u64) -> Option<usize> {
    let count = chunk_count(size)?;
    if index >= count {
        return None;
    }
    let before = index.checked_mul(CHUNK_SIZE as u64)?;
    let rest = size.checked_sub(before)?;
    usize::try_from(rest.min(CHUNK_SIZE as u64)).ok()
}

/// Sealed bytes of a whole file of `size` bytes (what the relay stores), or
/// `None` beyond [`MAX_SIZE`].
pub fn sealed_size(size: u64) -> Option<u64> {
    let tags = chunk_count(size)?.checked_mul(TAG_SIZE as u64)?;
    size.checked_add(tags)
}

fn nonce(index: u64, last: bool) -> Option<[u8; 12]> {
    let counter = u32::try_from(index).ok()?;
    let mut n = [0u8; 12];
    let (prefix, rest) = n.split_at_mut(NONCE_PREFIX.len());
    prefix.copy_from_slice(&NONCE_PREFIX);
    let (ctr, flag) = rest.split_at_mut(4);
    ctr.copy_from_slice(&counter.to_be_bytes());
    if let Some(f) = flag.first_mut() {
        *f = u8::from(last);
    }
    Some(n)
}

/// What the sender signs about a sealed file, once its last chunk is sealed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sealed {
    /// Plaintext size in bytes.
    pub size: u64,
    /// SHA-256 of the plaintext.
    pub sha256: [u8; 32],
    /// Chunks sealed.
    pub chunks: u64,
}

/// Seals one file chunk by chunk, in order. Sealing the last chunk consumes
/// it, so nothing can follow the final chunk.
pub struct Sealer {
    cipher: ChaCha20Poly1305,
    next: u64,
    size: u64,
    hasher: Sha256,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("next", &self.next)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// A sealer under `key`, which must be fresh (drawn for this file only).
    pub fn new(key: &[u8; 32]) -> Self {
        Sealer {
            cipher: ChaCha20Poly1305::new(&(*key).into()),
            next: 0,
            size: 0,
            hasher: Sha256::new(),
        }
    }

    /// Index of the next chunk to seal.
    pub fn next_index(&self) -> u64 {
        self.next
    }

    fn seal(&mut self, plaintext: &[u8], last: bool) -> Result<Vec<u8>, SealError> {
        let added = plaintext.len() as u64;
        let size = self
            .size
            .checked_add(added)
            .filter(|s| *s <= MAX_SIZE)
            .ok_or(SealError::TooLarge)?;
        let n = nonce(self.next, last).ok_or(SealError::TooLarge)?;
        let sealed = self
            .cipher
            .encrypt(
                &n.into(),
                Payload {
                    msg: plaintext,
                    aad: AAD,
                },
            )
            .map_err(|_| SealError::Crypto)?;
        self.hasher.update(plaintext);
        self.size = size;
        self.next += 1;
        Ok(sealed)
    }

    /// Seals a chunk that is not the last; it must hold [`CHUNK_SIZE`] bytes.
    pub fn seal_chunk(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        if plaintext.len() != CHUNK_SIZE {
            return Err(SealError::ChunkSize {
                len: plaintext.len(),
            });
        }
        self.seal(plaintext, false)
    }

    /// Seals the final chunk (at most [`CHUNK_SIZE`] bytes, empty only for an
    /// empty file) and says what to sign.
    pub fn seal_last(mut self, plaintext: &[u8]) -> Result<(Vec<u8>, Sealed), SealError> {
        if plaintext.len() > CHUNK_SIZE || (plaintext.is_empty() && self.next > 0) {
            return Err(SealError::ChunkSize {
                len: plaintext.len(),
            });
        }
        let sealed = self.seal(plaintext, true)?;
        let summary = Sealed {
            size: self.size,
            sha256: self.hasher.finalize().into(),
            chunks: self.next,
        };
        Ok((sealed, summary))
    }
}

/// Seals a whole plaintext held in memory (tests and small files).
pub fn seal_all(key: &[u8; 32], plaintext: &[u8]) -> Result<(Vec<Vec<u8>>, Sealed), SealError> {
    let mut sealer = Sealer::new(key);
    let mut chunks = Vec::new();
    let mut rest = plaintext;
    while rest.len() > CHUNK_SIZE {
        let (head, tail) = rest.split_at(CHUNK_SIZE);
        chunks.push(sealer.seal_chunk(head)?);
        rest = tail;
    }
    let (last, sealed) = sealer.seal_last(rest)?;
    chunks.push(last);
    Ok((chunks, sealed))
}

/// Opens the chunks of one attachment in order against its signed
/// [`AttachmentRef`]: each chunk at its position, the final one as final,
/// then the whole plaintext's size and SHA-256.
pub struct Opener {
    cipher: ChaCha20Poly1305,
    size: u64,
    sha256: [u8; 32],
    expected: u64,
    next: u64,
    hasher: Sha256,
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opener")
            .field("next", &self.next)
            .field("expected", &self.expected)
            .finish_non_exhaustive()
    }
}

impl Opener {
    /// An opener for the attachment `reference` names.
    pub fn new(reference: &AttachmentRef) -> Result<Self, AttachmentError> {
        let expected = chunk_count(reference.size).ok_or(AttachmentError::TooLarge)?;
        Ok(Opener {
            cipher: ChaCha20Poly1305::new(&reference.key.into()),
            size: reference.size,
            sha256: reference.sha256,
            expected,
            next: 0,
            hasher: Sha256::new(),
        })
    }

    /// Chunks the signed size implies.
    pub fn chunk_count(&self) -> u64 {
        self.expected
    }

    /// Index of the next chunk to open.
    pub fn next_index(&self) -> u64 {
        self.next
    }

    /// Opens the next chunk. The plaintext is returned only once its chunk
    /// authenticated; the caller must still not keep the file unless
    /// [`Opener::finish`] succeeds.
    pub fn open_chunk(&mut self, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, AttachmentError> {
        let index = self.next;
        if index >= self.expected {
            return Err(AttachmentError::ExtraChunk {
                expected: self.expected,
            });
        }
        let rejected = || AttachmentError::ChunkRejected { index };
        let plain_len = chunk_plain_len(self.size, index).ok_or_else(rejected)?;
        if sealed.len() != plain_len + TAG_SIZE {
            return Err(rejected());
        }
        let last = index + 1 == self.expected;
        let n = nonce(index, last).ok_or_else(rejected)?;
        let plain = self
            .cipher
            .decrypt(
                &n.into(),
                Payload {
                    msg: sealed,
                    aad: AAD,
                },
            )
            .map_err(|_| rejected())?;
        self.hasher.update(&plain);
        self.next += 1;
        Ok(Zeroizing::new(plain))
    }

    /// Takes the next chunk as plaintext opened in an earlier run and kept
    /// (a download resumed from its partial file): it is only hashed, so
    /// [`Opener::finish`] still checks it, with the rest, against the signed
    /// SHA-256. The final chunk is never taken this way: it must
    /// authenticate as final. A wrong length is refused as that chunk.
    pub fn resume_chunk(&mut self, plaintext: &[u8]) -> Result<(), AttachmentError> {
        let index = self.next;
        let rejected = || AttachmentError::ChunkRejected { index };
        if index.saturating_add(1) >= self.expected {
            return Err(rejected());
        }
        if chunk_plain_len(self.size, index) != Some(plaintext.len()) {
            return Err(rejected());
        }
        self.hasher.update(plaintext);
        self.next += 1;
        Ok(())
    }

    /// Checks that every chunk was opened and that the plaintext is the one
    /// the sender signed.
    pub fn finish(self) -> Result<(), AttachmentError> {
        if self.next != self.expected {
            return Err(AttachmentError::Truncated {
                received: self.next,
                expected: self.expected,
            });
        }
        let digest: [u8; 32] = self.hasher.finalize().into();
        if digest != self.sha256 {
            return Err(AttachmentError::HashMismatch);
        }
        Ok(())
    }
}

/// Opens a whole attachment held in memory (tests and small files).
pub fn open_all(
    reference: &AttachmentRef,
    chunks: &[Vec<u8>],
) -> Result<Zeroizing<Vec<u8>>, AttachmentError> {
    let mut opener = Opener::new(reference)?;
    let mut out = Zeroizing::new(Vec::new());
    for chunk in chunks {
        out.extend_from_slice(&opener.open_chunk(chunk)?);
    }
    opener.finish()?;
    Ok(out)
}

#[cfg(test)]
#[path = "attachment_test.rs"]
mod tests;
