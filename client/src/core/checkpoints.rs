//! What a client does with a checkpoint it is shown, given the one it holds.
//!
//! A client keeps, per log, the newest checkpoint it verified. A newer one
//! is adopted only once a consistency proof (RFC 9162 §2.1.4) shows it
//! extends the held one; an older one served by the relay is a rollback; a
//! different tree of the same size, an unprovable extension or a proof that
//! fails is a fork. Checkpoints carried by a peer are compared the same way
//! but never adopted, and an older one is fine there (the peer saw the log
//! earlier). Signatures are checked before this: both checkpoints have
//! opened under the pinned log key.

use liaison_protocol::log::{
    Checkpoint, CheckpointRelation, Extension, Hash, compare_checkpoints, judge_consistency,
};

/// Where a checkpoint came from, which decides whether it may replace the
/// held one and whether an older one is a rollback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The relay served it as its newest.
    Relay,
    /// A peer carried it in a signed payload.
    Peer,
}

/// The next step for a shown checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Hold the shown checkpoint from now on.
    Adopt,
    /// Keep the held checkpoint; the shown one is consistent with it.
    Keep,
    /// Ask the relay for a consistency proof between these sizes and judge
    /// it with [`judge_proof`].
    Prove(Extension),
    /// The relay showed an inconsistent history: keep both checkpoints as
    /// evidence and refuse. The text says what was seen.
    Inconsistent(String),
}

/// Judge `shown` against `held` (if any) without a proof.
pub fn judge(held: Option<&Checkpoint>, shown: &Checkpoint, source: Source) -> Step {
    let Some(held) = held else {
        return match source {
            Source::Relay => Step::Adopt,
            Source::Peer => Step::Keep,
        };
    };
    match compare_checkpoints(held, shown) {
        CheckpointRelation::DifferentOrigins => {
            Step::Inconsistent("checkpoints name different origins".into())
        }
        CheckpointRelation::Identical => Step::Keep,
        CheckpointRelation::Fork { size } => {
            Step::Inconsistent(format!("two different roots for the same size {size}"))
        }
        relation => match relation.proof_needed() {
            Some(extension) => Step::Prove(extension),
            None => consistent(held, shown, source),
        },
    }
}

/// Judge `shown` against `held` once the relay answered the consistency
/// proof [`judge`] asked for: `Ok(proof)`, or `Err(why)` when it refused.
pub fn judge_proof(
    held: &Checkpoint,
    shown: &Checkpoint,
    source: Source,
    proof: Result<&[Hash], &str>,
) -> Step {
    let (old, new) = if held.size() <= shown.size() {
        (held.size(), shown.size())
    } else {
        (shown.size(), held.size())
    };
    match proof {
        Err(why) => Step::Inconsistent(format!(
            "the relay cannot prove that size {new} extends size {old} ({why})"
        )),
        Ok(proof) => match judge_consistency(held, shown, proof) {
            Ok(()) => consistent(held, shown, source),
            Err(e) => Step::Inconsistent(format!(
                "the consistency proof from size {old} to {new} does not verify ({e})"
            )),
        },
    }
}

/// `shown` is consistent with `held`: adopt it if the relay served a larger
/// tree; a smaller one from the relay is a rollback.
fn consistent(held: &Checkpoint, shown: &Checkpoint, source: Source) -> Step {
    match (source, shown.size().cmp(&held.size())) {
        (Source::Relay, std::cmp::Ordering::Greater) => Step::Adopt,
        (Source::Relay, std::cmp::Ordering::Less) => Step::Inconsistent(format!(
            "rollback: the relay served size {} after this client verified size {}",
            shown.size(),
            held.size()
        )),
        _ => Step::Keep,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use liaison_protocol::log::{consistency_proof, leaf_hash, root};

    use super::*;

    const ORIGIN: &str = "relay.example/events";

    fn leaves() -> Vec<Hash> {
        (0..12u8).map(|i| leaf_hash(&[i])).collect()
    }

    fn at(n: usize) -> Checkpoint {
        Checkpoint::new(ORIGIN, n as u64, root(&leaves()[..n])).unwrap()
    }

    fn forked(n: u64) -> Checkpoint {
        Checkpoint::new(ORIGIN, n, leaf_hash(b"another history")).unwrap()
    }

    fn proof(old: u64, new: u64) -> Vec<Hash> {
        consistency_proof(&leaves(), old, new).unwrap()
    }

    #[test]
    fn the_first_checkpoint_from_the_relay_is_held_and_a_peers_is_not() {
        assert_eq!(judge(None, &at(5), Source::Relay), Step::Adopt);
        assert_eq!(judge(None, &at(5), Source::Peer), Step::Keep);
    }

    #[test]
    fn a_larger_tree_is_adopted_only_with_a_proof() {
        let step = judge(Some(&at(5)), &at(9), Source::Relay);
        assert_eq!(step, Step::Prove(Extension { old: 5, new: 9 }));
        let good = proof(5, 9);
        assert_eq!(
            judge_proof(&at(5), &at(9), Source::Relay, Ok(&good)),
            Step::Adopt
        );
        // A peer's newer checkpoint is checked the same way, never adopted.
        assert_eq!(
            judge_proof(&at(5), &at(9), Source::Peer, Ok(&good)),
            Step::Keep
        );
        // From the empty tree no proof is needed.
        assert_eq!(judge(Some(&at(0)), &at(9), Source::Relay), Step::Adopt);
    }

    #[test]
    fn the_relay_serving_a_smaller_tree_is_a_rollback_a_peer_is_not() {
        let step = judge(Some(&at(9)), &at(5), Source::Relay);
        assert_eq!(step, Step::Prove(Extension { old: 5, new: 9 }));
        let good = proof(5, 9);
        match judge_proof(&at(9), &at(5), Source::Relay, Ok(&good)) {
            Step::Inconsistent(what) => assert!(what.starts_with("rollback"), "{what}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            judge_proof(&at(9), &at(5), Source::Peer, Ok(&good)),
            Step::Keep
        );
        match judge(Some(&at(9)), &at(0), Source::Relay) {
            Step::Inconsistent(what) => assert!(what.starts_with("rollback"), "{what}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn forks_and_failed_or_refused_proofs_are_inconsistent() {
        for source in [Source::Relay, Source::Peer] {
            assert_eq!(judge(Some(&at(5)), &at(5), source), Step::Keep);
            assert!(matches!(
                judge(Some(&at(5)), &forked(5), source),
                Step::Inconsistent(w) if w.contains("same size 5")
            ));
            let other = Checkpoint::new("other.example/events", 5, root(&leaves()[..5])).unwrap();
            assert!(matches!(
                judge(Some(&at(5)), &other, source),
                Step::Inconsistent(w) if w.contains("different origins")
            ));
            // The relay grew a different history from size 5 to 9.
            let wrong = proof(5, 9);
            assert!(matches!(
                judge_proof(&at(5), &forked(9), source, Ok(&wrong)),
                Step::Inconsistent(w) if w.contains("does not verify")
            ));
            assert!(matches!(
                judge_proof(&at(5), &at(9), source, Err("not found")),
                Step::Inconsistent(w) if w.contains("cannot prove") && w.contains("not found")
            ));
        }
    }
}
