//! RFC 6962 / RFC 9162 Merkle tree hashing, proofs and an append-only
//! compact range.
//!
//! Semantics follow RFC 9162 §2.1 and, for the corner cases the RFC leaves
//! open, github.com/transparency-dev/merkle:
//!
//! - an inclusion proof requires `index < size` (so nothing is included in the
//!   empty tree);
//! - a consistency proof between equal sizes is empty and the two roots must be
//!   equal; a consistency proof *from* the empty tree to a non-empty one is
//!   rejected as meaningless (a client with no previous checkpoint has nothing
//!   to check);
//! - stricter than transparency-dev: a tree of size 0 has exactly one valid
//!   root, [`empty_root`] (`MTH({}) = SHA-256()`, RFC 9162 §2.1.1), so two
//!   "equal" roots for size 0 that are not the empty-tree hash are rejected.
//!
//! Verification is `O(log n)`. Proof generation reads the roots of perfect
//! subtrees through [`HashReader`]: a reader that stores them (as the relay
//! does, one hash per complete subtree, written when the subtree completes,
//! see [`CompactRange::append_with`]) makes every proof and every root
//! `O(log n)` reads; a reader that holds only leaf hashes gets the provided
//! [`HashReader::perfect_subtree`], which recomputes them (`O(n)`). Either
//! way the proofs are the same bytes.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Length of a SHA-256 tree hash in bytes.
pub const HASH_LEN: usize = 32;

/// Longest possible inclusion or consistency proof for a `u64`-sized tree.
pub const MAX_PROOF_LEN: usize = 64;

/// A SHA-256 Merkle tree hash: a leaf hash, an interior node hash or a root.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Hash(pub [u8; HASH_LEN]);

impl Hash {
    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; HASH_LEN] {
        &self.0
    }

    /// Exactly 32 bytes, or `None`.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; HASH_LEN]>::try_from(bytes).ok().map(Hash)
    }

    /// Standard base64 with padding (RFC 4648 §4), as used by checkpoints
    /// and proofs.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Strict inverse of [`Hash::to_base64`]: canonical padded base64 of
    /// exactly 32 bytes.
    pub fn from_base64(s: &str) -> Option<Self> {
        // 32 bytes encode to exactly 44 characters; checking first bounds the
        // work done on hostile input.
        if s.len() != 44 {
            return None;
        }
        let bytes = STANDARD.decode(s).ok()?;
        Hash::from_slice(&bytes)
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Why a proof could not be generated or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The leaf index is not inside the tree (`index >= size`).
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange {
        /// The requested leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A consistency proof was requested or presented from a larger tree to a
    /// smaller one (a rollback).
    #[error("tree size {size1} is larger than tree size {size2}")]
    SizeDecreased {
        /// The earlier (claimed smaller) size.
        size1: u64,
        /// The later (claimed larger) size.
        size2: u64,
    },
    /// A consistency proof from the empty tree to a non-empty tree carries no
    /// information and is refused.
    #[error("consistency proof from the empty tree is meaningless")]
    EmptyTreeConsistency,
    /// The proof has the wrong number of hashes for the index and sizes.
    #[error("proof has {got} hashes, expected {want}")]
    WrongProofLength {
        /// Hashes presented.
        got: usize,
        /// Hashes required.
        want: usize,
    },
    /// The root recomputed from the proof differs from the expected root.
    #[error("root hash mismatch")]
    RootMismatch,
    /// A root claimed for the empty tree is not `SHA-256()`.
    #[error("root of the empty tree is not the empty-tree hash")]
    BadEmptyRoot,
    /// The hash store has no leaf hash at this index (storage is shorter than
    /// the requested tree size).
    #[error("leaf hash {0} is not available")]
    MissingLeaf(u64),
    /// The hash store has no hash for this complete subtree.
    #[error("subtree hash {index} at level {level} is not available")]
    MissingNode {
        /// Height of the subtree (0 is a leaf).
        level: u32,
        /// Position of the subtree among those of its height.
        index: u64,
    },
    /// Appending would overflow a `u64` tree size.
    #[error("tree is full")]
    TreeFull,
    /// A compact range was rebuilt from parts that do not fit together.
    #[error("compact range has {got} hashes, its size needs {want}")]
    BadCompactRange {
        /// Hashes supplied.
        got: usize,
        /// Hashes required (the number of one bits in the size).
        want: usize,
    },
}

/// `SHA-256(0x00 || data)`: the hash of a leaf (RFC 9162 §2.1.1).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    Hash(h.finalize().into())
}

/// `SHA-256(0x01 || left || right)`: the hash of an interior node
/// (RFC 9162 §2.1.1).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left.0);
    h.update(right.0);
    Hash(h.finalize().into())
}

/// `MTH({}) = SHA-256()`: the root of the empty tree (RFC 9162 §2.1.1).
pub fn empty_root() -> Hash {
    Hash(Sha256::digest([]).into())
}

/// Read access to stored tree hashes, so proofs can be produced without this
/// crate touching storage (compare cloudflare/azul `HashReader`).
pub trait HashReader {
    /// The hash of leaf `index`, or `None` if it is not stored.
    fn leaf_hash(&self, index: u64) -> Option<Hash>;

    /// The root of the perfect subtree of `2^level` leaves that starts at
    /// leaf `index << level` (level 0 is the leaf itself).
    ///
    /// The provided method recomputes it from the leaf hashes, reading
    /// `2^level` of them; a store that keeps interior hashes answers with
    /// one read.
    fn perfect_subtree(&self, level: u32, index: u64) -> Result<Hash, ProofError> {
        let width = 1u64.checked_shl(level).ok_or(ProofError::TreeFull)?;
        let start = index.checked_mul(width).ok_or(ProofError::TreeFull)?;
        let end = start.checked_add(width).ok_or(ProofError::TreeFull)?;
        let mut range = CompactRange::new();
        for i in start..end {
            range.append(self.leaf_hash(i).ok_or(ProofError::MissingLeaf(i))?)?;
        }
        Ok(range.root())
    }
}

impl HashReader for [Hash] {
    fn leaf_hash(&self, index: u64) -> Option<Hash> {
        self.get(usize::try_from(index).ok()?).copied()
    }
}

impl HashReader for Vec<Hash> {
    fn leaf_hash(&self, index: u64) -> Option<Hash> {
        self.as_slice().leaf_hash(index)
    }
}

impl<R: HashReader + ?Sized> HashReader for &R {
    fn leaf_hash(&self, index: u64) -> Option<Hash> {
        (**self).leaf_hash(index)
    }

    fn perfect_subtree(&self, level: u32, index: u64) -> Result<Hash, ProofError> {
        (**self).perfect_subtree(level, index)
    }
}

/// The Merkle tree hash (MTH, RFC 9162 §2.1.1) of a list of leaf hashes.
pub fn root(leaves: &[Hash]) -> Hash {
    let mut range = CompactRange::new();
    for leaf in leaves {
        // A slice cannot hold 2^64 hashes, so the tree never fills up.
        let _ = range.append(*leaf);
    }
    range.root()
}

/// The MTH of leaves `[start, end)` read from `reader`.
///
/// `D[start:end]` splits into perfect subtrees, one per one bit of
/// `end - start`, largest first (RFC 9162 §2.1.1 applied repeatedly); the
/// ranges the proofs of this module ask for start at a multiple of their
/// largest power of two, so each piece is one [`HashReader::perfect_subtree`]
/// read. A piece that is not aligned is split until it is.
pub fn subtree_root<R: HashReader + ?Sized>(
    reader: &R,
    start: u64,
    end: u64,
) -> Result<Hash, ProofError> {
    let n = end.saturating_sub(start);
    let mut pieces = Vec::with_capacity(n.count_ones() as usize);
    let mut at = start;
    for level in (0..64u32).rev() {
        let width = 1u64 << level;
        if n & width != 0 {
            pieces.push(perfect_at(reader, level, at)?);
            at += width;
        }
    }
    let mut iter = pieces.iter().rev();
    Ok(match iter.next() {
        None => empty_root(),
        Some(last) => iter.fold(*last, |acc, left| node_hash(left, &acc)),
    })
}

/// The root of the `2^level` leaves starting at leaf `at`, whether or not
/// `at` is a multiple of `2^level`.
fn perfect_at<R: HashReader + ?Sized>(reader: &R, level: u32, at: u64) -> Result<Hash, ProofError> {
    let width = 1u64 << level;
    if at.is_multiple_of(width) {
        return reader.perfect_subtree(level, at >> level);
    }
    // level >= 1 here: every position is a multiple of 1.
    let half = width >> 1;
    let left = perfect_at(reader, level - 1, at)?;
    let right = perfect_at(reader, level - 1, at + half)?;
    Ok(node_hash(&left, &right))
}

/// The largest power of two strictly smaller than `n` (requires `n >= 2`).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The inclusion proof `PATH(index, D[size])` (RFC 9162 §2.1.3.1), ordered from
/// the leaf's sibling up to the root's child.
pub fn inclusion_proof<R: HashReader + ?Sized>(
    reader: &R,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    // Walk from the root down, collecting siblings top-down.
    let mut path = Vec::new();
    let (mut lo, mut hi) = (0u64, size);
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        let mid = lo + k;
        if index < mid {
            path.push(subtree_root(reader, mid, hi)?);
            hi = mid;
        } else {
            path.push(subtree_root(reader, lo, mid)?);
            lo = mid;
        }
    }
    path.reverse();
    Ok(path)
}

/// The consistency proof `PROOF(size1, D[size2])` (RFC 9162 §2.1.4.1).
///
/// Empty when `size1 == size2`. A proof from the empty tree to a non-empty
/// tree is refused ([`ProofError::EmptyTreeConsistency`]), matching what
/// [`verify_consistency`] accepts.
pub fn consistency_proof<R: HashReader + ?Sized>(
    reader: &R,
    size1: u64,
    size2: u64,
) -> Result<Vec<Hash>, ProofError> {
    if size1 > size2 {
        return Err(ProofError::SizeDecreased { size1, size2 });
    }
    if size1 == size2 {
        return Ok(Vec::new());
    }
    if size1 == 0 {
        return Err(ProofError::EmptyTreeConsistency);
    }
    // SUBPROOF(m, D[lo:hi], b), unrolled; `m` is relative to `lo`.
    let mut proof = Vec::new();
    let (mut lo, mut hi, mut m, mut complete) = (0u64, size2, size1, true);
    while m != hi - lo {
        let k = split_point(hi - lo);
        let mid = lo + k;
        if m <= k {
            proof.push(subtree_root(reader, mid, hi)?);
            hi = mid;
        } else {
            proof.push(subtree_root(reader, lo, mid)?);
            lo = mid;
            m -= k;
            complete = false;
        }
    }
    if !complete {
        proof.push(subtree_root(reader, lo, hi)?);
    }
    proof.reverse();
    Ok(proof)
}

/// Split an inclusion proof for `index` in a tree of `size` into the part
/// below the point where the paths to `index` and `size - 1` diverge
/// (`inner`) and the part along the right border (`border`).
/// Requires `index < size`.
fn decompose_inclusion(index: u64, size: u64) -> (usize, usize) {
    let inner = (64 - (index ^ (size - 1)).leading_zeros()) as usize;
    let border = index.checked_shr(inner as u32).unwrap_or(0).count_ones() as usize;
    (inner, border)
}

fn chain_inner(mut seed: Hash, proof: &[Hash], index: u64) -> Hash {
    for (i, h) in proof.iter().enumerate() {
        if (index >> i) & 1 == 0 {
            seed = node_hash(&seed, h);
        } else {
            seed = node_hash(h, &seed);
        }
    }
    seed
}

/// Like [`chain_inner`] but only folds in left siblings, giving the hash of
/// the same subtree at the earlier size.
fn chain_inner_right(mut seed: Hash, proof: &[Hash], index: u64) -> Hash {
    for (i, h) in proof.iter().enumerate() {
        if (index >> i) & 1 == 1 {
            seed = node_hash(h, &seed);
        }
    }
    seed
}

fn chain_border_right(mut seed: Hash, proof: &[Hash]) -> Hash {
    for h in proof {
        seed = node_hash(h, &seed);
    }
    seed
}

/// The root implied by an inclusion proof (RFC 9162 §2.1.3.2).
pub fn root_from_inclusion_proof(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
) -> Result<Hash, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (inner, border) = decompose_inclusion(index, size);
    let want = inner + border;
    if proof.len() != want {
        return Err(ProofError::WrongProofLength {
            got: proof.len(),
            want,
        });
    }
    let (inner_part, border_part) = proof.split_at(inner);
    let res = chain_inner(*leaf, inner_part, index);
    Ok(chain_border_right(res, border_part))
}

/// Verify that `leaf` is at `index` in the tree of `size` with `root`
/// (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if root_from_inclusion_proof(leaf, index, size, proof)? == *root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// Verify that the tree of `size2` with `root2` extends the tree of `size1`
/// with `root1` (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    proof: &[Hash],
    root1: &Hash,
    root2: &Hash,
) -> Result<(), ProofError> {
    if size2 < size1 {
        return Err(ProofError::SizeDecreased { size1, size2 });
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(ProofError::WrongProofLength {
                got: proof.len(),
                want: 0,
            });
        }
        if size1 == 0 && *root1 != empty_root() {
            return Err(ProofError::BadEmptyRoot);
        }
        return if root1 == root2 {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    if size1 == 0 {
        return Err(ProofError::EmptyTreeConsistency);
    }

    // The proof is a suffix of the inclusion proof of leaf `size1 - 1` in the
    // tree of `size2`, starting at the level of the largest perfect subtree
    // that ends at `size1`.
    let (inner, border) = decompose_inclusion(size1 - 1, size2);
    let shift = size1.trailing_zeros() as usize;
    // size1 < size2 implies shift < inner.
    let inner = inner.checked_sub(shift).ok_or(ProofError::RootMismatch)?;

    // Unless size1 is itself 2^shift, the proof begins with the hash of that
    // subtree.
    let size1_is_subtree = size1 == 1u64 << shift;
    let want = usize::from(!size1_is_subtree) + inner + border;
    if proof.len() != want {
        return Err(ProofError::WrongProofLength {
            got: proof.len(),
            want,
        });
    }
    let (seed, rest) = match (size1_is_subtree, proof.split_first()) {
        (true, _) => (*root1, proof),
        (false, Some((first, rest))) => (*first, rest),
        (false, None) => return Err(ProofError::WrongProofLength { got: 0, want }),
    };
    let (inner_part, border_part) = rest.split_at(inner);
    let mask = (size1 - 1) >> shift;

    let hash1 = chain_border_right(chain_inner_right(seed, inner_part, mask), border_part);
    if hash1 != *root1 {
        return Err(ProofError::RootMismatch);
    }
    let hash2 = chain_border_right(chain_inner(seed, inner_part, mask), border_part);
    if hash2 != *root2 {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The right edge of a Merkle tree: the roots of the perfect subtrees that
/// make up `[0, size)`, largest first (one per one bit of `size`).
///
/// Lets a log append a leaf and obtain the new root in `O(log n)` time and
/// space without rereading earlier leaves. Persist [`CompactRange::size`] and
/// [`CompactRange::hashes`] and rebuild with [`CompactRange::from_parts`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactRange {
    size: u64,
    hashes: Vec<Hash>,
}

impl CompactRange {
    /// The empty tree.
    pub fn new() -> Self {
        CompactRange::default()
    }

    /// Rebuild from a stored size and subtree roots; the number of hashes
    /// must equal the number of one bits in `size`.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Result<Self, ProofError> {
        let want = size.count_ones() as usize;
        if hashes.len() != want {
            return Err(ProofError::BadCompactRange {
                got: hashes.len(),
                want,
            });
        }
        Ok(CompactRange { size, hashes })
    }

    /// Recompute the range for the first `size` leaves of `reader` (`O(size)`).
    pub fn from_reader<R: HashReader + ?Sized>(reader: &R, size: u64) -> Result<Self, ProofError> {
        let mut hashes = Vec::new();
        let mut start = 0u64;
        for bit in (0..64).rev() {
            let width = 1u64 << bit;
            if size & width != 0 {
                hashes.push(subtree_root(reader, start, start + width)?);
                start += width;
            }
        }
        CompactRange::from_parts(size, hashes)
    }

    /// Number of leaves covered.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The perfect-subtree roots, largest (leftmost) first.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Append one leaf hash.
    pub fn append(&mut self, leaf: Hash) -> Result<(), ProofError> {
        self.append_with(leaf, |_, _, _| {})
    }

    /// Append one leaf hash and report each perfect subtree it completes, as
    /// `(level, index, hash)` for the subtree of `2^level` leaves starting at
    /// leaf `index << level`, lowest first (level 1 upwards; the leaf itself
    /// is not reported). A store that keeps these answers
    /// [`HashReader::perfect_subtree`] with one read. `O(log n)`.
    pub fn append_with(
        &mut self,
        leaf: Hash,
        mut completed: impl FnMut(u32, u64, &Hash),
    ) -> Result<(), ProofError> {
        let new_size = self.size.checked_add(1).ok_or(ProofError::TreeFull)?;
        let mut hash = leaf;
        let mut s = self.size;
        let mut level = 0u32;
        // Each trailing one bit is a perfect subtree of the same height as the
        // one being carried; merge them.
        while s & 1 == 1 {
            match self.hashes.pop() {
                Some(left) => hash = node_hash(&left, &hash),
                None => break,
            }
            s >>= 1;
            level += 1;
            // The merged subtree ends at the new leaf: it is the last one of
            // its height inside `new_size` leaves.
            completed(level, (new_size >> level) - 1, &hash);
        }
        self.hashes.push(hash);
        self.size = new_size;
        Ok(())
    }

    /// The tree root (RFC 9162 §2.1.1 MTH) at the current size.
    pub fn root(&self) -> Hash {
        let mut iter = self.hashes.iter().rev();
        match iter.next() {
            None => empty_root(),
            Some(last) => iter.fold(*last, |acc, left| node_hash(left, &acc)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    /// Direct transcription of the recursive MTH definition.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    #[test]
    fn root_matches_recursive_definition() {
        for n in 0..70 {
            let l = leaves(n);
            assert_eq!(root(&l), mth(&l), "n={n}");
            assert_eq!(CompactRange::from_reader(&l, n).unwrap().root(), mth(&l));
        }
    }

    #[test]
    fn all_small_proofs_verify() {
        for n in 1..40u64 {
            let l = leaves(n);
            let r = root(&l);
            for i in 0..n {
                let p = inclusion_proof(&l, i, n).unwrap();
                verify_inclusion(&l[i as usize], i, n, &p, &r).unwrap();
            }
            for m in 1..=n {
                let p = consistency_proof(&l, m, n).unwrap();
                verify_consistency(m, n, &p, &root(&l[..m as usize]), &r).unwrap();
            }
        }
    }

    #[test]
    fn edge_cases() {
        let e = empty_root();
        assert_eq!(
            e.to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(matches!(
            inclusion_proof(&leaves(0), 0, 0),
            Err(ProofError::IndexOutOfRange { .. })
        ));
        assert_eq!(verify_consistency(0, 0, &[], &e, &e), Ok(()));
        assert_eq!(
            verify_consistency(0, 0, &[], &leaf_hash(b""), &leaf_hash(b"")),
            Err(ProofError::BadEmptyRoot)
        );
        assert_eq!(
            consistency_proof(&leaves(3), 0, 3),
            Err(ProofError::EmptyTreeConsistency)
        );
        assert_eq!(consistency_proof(&leaves(3), 0, 0), Ok(vec![]));
        assert_eq!(
            inclusion_proof(&leaves(3), 1, 4),
            Err(ProofError::MissingLeaf(3))
        );
        // Huge sizes must not overflow or panic.
        let h = leaf_hash(b"x");
        assert!(verify_inclusion(&h, u64::MAX - 1, u64::MAX, &[h; 64], &h).is_err());
        assert!(verify_inclusion(&h, 0, u64::MAX, &[h; 64], &h).is_err());
        assert!(verify_consistency(u64::MAX - 1, u64::MAX, &[h; 64], &h, &h).is_err());
        assert!(verify_consistency(1 << 63, u64::MAX, &[h; 63], &h, &h).is_err());
        assert!(verify_consistency(1, u64::MAX, &[h; 64], &h, &h).is_err());
        assert!(CompactRange::from_parts(3, vec![h]).is_err());
        let mut full = CompactRange::from_parts(u64::MAX, vec![h; 64]).unwrap();
        assert_eq!(full.append(h), Err(ProofError::TreeFull));
    }

    #[test]
    fn hash_base64_is_strict() {
        let h = leaf_hash(b"");
        assert_eq!(Hash::from_base64(&h.to_base64()), Some(h));
        assert_eq!(Hash::from_base64(""), None);
        assert_eq!(Hash::from_base64(&h.to_base64().replace('=', "A")), None);
        assert_eq!(Hash::from_slice(&[0; 31]), None);
    }
}
