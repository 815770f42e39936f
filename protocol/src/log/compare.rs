//! Comparing two checkpoints of one log: the one decision every holder of a
//! checkpoint (client, auditor, witness) makes when it sees another one.
//!
//! Two verified checkpoints can be told apart offline when their origins or
//! sizes are equal: same size and root is the same tree, same size and
//! another root is a fork (both signed notes are the evidence). When the
//! sizes differ, only a consistency proof between them (RFC 9162 §2.1.4)
//! can decide, except from the empty tree, which every tree extends.
//! Fetching that proof is the caller's business; [`judge_consistency`]
//! checks it.
//!
//! Signatures are not looked at here: open both checkpoints under the
//! pinned [`LogPolicy`](super::LogPolicy) first.

use super::checkpoint::{Checkpoint, CheckpointError};
use super::merkle::Hash;

/// How a checkpoint `b` relates to a checkpoint `a`, decided without a
/// proof (see [`compare_checkpoints`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckpointRelation {
    /// The origins differ: these are not checkpoints of one log.
    DifferentOrigins,
    /// Same origin, size and root: the same tree.
    Identical,
    /// Same origin and size, different roots: the log forked.
    Fork {
        /// The size both checkpoints claim.
        size: u64,
    },
    /// `b` is larger than `a`: `b` must extend `a`.
    Newer(Extension),
    /// `b` is smaller than `a`: `a` must extend `b`. Served to someone who
    /// holds `a`, that is a rollback.
    Older(Extension),
}

/// Two different sizes of one log: the smaller `old` must be a prefix of the
/// larger `new`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extension {
    /// The smaller size.
    pub old: u64,
    /// The larger size.
    pub new: u64,
}

impl Extension {
    /// Whether only a consistency proof from `old` to `new` can decide. The
    /// empty tree needs none: every tree extends it.
    pub fn needs_proof(&self) -> bool {
        self.old != 0
    }
}

impl CheckpointRelation {
    /// The sizes a consistency proof must cover before the two checkpoints
    /// can be called consistent, if one is needed.
    pub fn proof_needed(&self) -> Option<Extension> {
        match self {
            CheckpointRelation::Newer(e) | CheckpointRelation::Older(e) if e.needs_proof() => {
                Some(*e)
            }
            _ => None,
        }
    }

    /// Whether the checkpoints are consistent without any proof: the same
    /// tree, or one of them is the empty tree.
    pub fn is_consistent_offline(&self) -> bool {
        match self {
            CheckpointRelation::Identical => true,
            CheckpointRelation::Newer(e) | CheckpointRelation::Older(e) => !e.needs_proof(),
            CheckpointRelation::DifferentOrigins | CheckpointRelation::Fork { .. } => false,
        }
    }
}

/// Compare `b` with `a` without a proof.
pub fn compare_checkpoints(a: &Checkpoint, b: &Checkpoint) -> CheckpointRelation {
    if a.origin() != b.origin() {
        return CheckpointRelation::DifferentOrigins;
    }
    match a.size().cmp(&b.size()) {
        std::cmp::Ordering::Equal if a.root() == b.root() => CheckpointRelation::Identical,
        std::cmp::Ordering::Equal => CheckpointRelation::Fork { size: a.size() },
        std::cmp::Ordering::Less => CheckpointRelation::Newer(Extension {
            old: a.size(),
            new: b.size(),
        }),
        std::cmp::Ordering::Greater => CheckpointRelation::Older(Extension {
            old: b.size(),
            new: a.size(),
        }),
    }
}

/// Judge `proof`, a consistency proof between two checkpoints of one log
/// given in either order: `Ok(())` when the larger extends the smaller
/// (RFC 9162 §2.1.4.2). Equal sizes need an empty proof and equal roots; the
/// empty tree needs an empty proof.
pub fn judge_consistency(
    a: &Checkpoint,
    b: &Checkpoint,
    proof: &[Hash],
) -> Result<(), CheckpointError> {
    let (old, new) = if a.size() <= b.size() { (a, b) } else { (b, a) };
    old.verify_consistency(new, proof)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::log::{consistency_proof, leaf_hash, root};

    const ORIGIN: &str = "o.example/events";

    fn leaves() -> Vec<Hash> {
        (0..9u8).map(|i| leaf_hash(&[i])).collect()
    }

    fn at(n: usize) -> Checkpoint {
        Checkpoint::new(ORIGIN, n as u64, root(&leaves()[..n])).unwrap()
    }

    #[test]
    fn relations_without_a_proof() {
        use CheckpointRelation::*;
        assert_eq!(compare_checkpoints(&at(5), &at(5)), Identical);
        assert!(compare_checkpoints(&at(5), &at(5)).is_consistent_offline());
        let fork = Checkpoint::new(ORIGIN, 5, leaf_hash(b"f")).unwrap();
        assert_eq!(compare_checkpoints(&at(5), &fork), Fork { size: 5 });
        assert!(!compare_checkpoints(&at(5), &fork).is_consistent_offline());
        let grows = Extension { old: 5, new: 9 };
        assert_eq!(compare_checkpoints(&at(5), &at(9)), Newer(grows));
        assert_eq!(compare_checkpoints(&at(9), &at(5)), Older(grows));
        assert_eq!(
            compare_checkpoints(&at(9), &at(5)).proof_needed(),
            Some(grows)
        );
        // Every tree extends the empty tree, in either order.
        let from_empty = compare_checkpoints(&at(0), &at(5));
        assert_eq!(from_empty, Newer(Extension { old: 0, new: 5 }));
        assert!(from_empty.is_consistent_offline());
        assert_eq!(from_empty.proof_needed(), None);
        assert!(compare_checkpoints(&at(5), &at(0)).is_consistent_offline());
        let other = Checkpoint::new("other.example/events", 5, root(&leaves()[..5])).unwrap();
        assert_eq!(compare_checkpoints(&at(5), &other), DifferentOrigins);
        assert_eq!(
            compare_checkpoints(&at(5), &other).proof_needed(),
            None,
            "no proof decides checkpoints of different logs"
        );
    }

    #[test]
    fn consistency_proofs_are_judged_in_either_order() {
        let l = leaves();
        let proof = consistency_proof(&l, 5, 9).unwrap();
        judge_consistency(&at(5), &at(9), &proof).unwrap();
        judge_consistency(&at(9), &at(5), &proof).unwrap();
        judge_consistency(&at(0), &at(9), &[]).unwrap();
        judge_consistency(&at(5), &at(5), &[]).unwrap();
        let wrong = consistency_proof(&l, 4, 9).unwrap();
        assert!(judge_consistency(&at(5), &at(9), &wrong).is_err());
        let fork = Checkpoint::new(ORIGIN, 9, leaf_hash(b"f")).unwrap();
        assert!(judge_consistency(&at(5), &fork, &proof).is_err());
        let other = Checkpoint::new("other.example/events", 9, root(&l)).unwrap();
        assert_eq!(
            judge_consistency(&at(5), &other, &proof).unwrap_err(),
            CheckpointError::OriginMismatch
        );
    }
}
