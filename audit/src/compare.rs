//! Comparing two checkpoints.

use liaison_protocol::log::Checkpoint;

/// The offline verdict on two verified checkpoints of one log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Comparison {
    /// Same size, same root.
    Identical,
    /// One is the empty tree: every tree extends it.
    Extends,
    /// Same size, different roots.
    Fork,
    /// Different sizes: only a consistency proof can decide.
    NeedsProof {
        /// The smaller size.
        old: u64,
        /// The larger size.
        new: u64,
    },
}

/// Compare two checkpoints of one log without a proof.
pub fn compare_offline(a: &Checkpoint, b: &Checkpoint) -> Comparison {
    let (old, new) = if a.size() <= b.size() { (a, b) } else { (b, a) };
    if old.size() == new.size() {
        if old.root() == new.root() {
            Comparison::Identical
        } else {
            Comparison::Fork
        }
    } else if old.size() == 0 {
        Comparison::Extends
    } else {
        Comparison::NeedsProof {
            old: old.size(),
            new: new.size(),
        }
    }
}
