//! Property tests for `liaison_protocol::log`: generated proofs verify and
//! any single change is rejected; text formats round-trip; decoders never
//! panic on arbitrary input.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]

use std::collections::HashMap;

use liaison_protocol::log::{
    Checkpoint, CompactRange, CosignatureSigner, Hash, HashReader, LogPolicy, Note, NoteSignature,
    NoteSigner, NoteVerifier, ProofError, TlogProof, consistency_proof, empty_root,
    inclusion_proof, leaf_hash, open_note, root, verify_consistency, verify_inclusion,
};
use proptest::prelude::*;

const MAX_LEAVES: u64 = 2000;

fn leaves(n: u64) -> Vec<Hash> {
    (0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect()
}

fn flip(mut h: Hash, byte: usize, mask: u8) -> Hash {
    h.0[byte % 32] ^= mask;
    h
}

/// `cases` by default (kept small so the suite stays fast in debug builds);
/// set `PROPTEST_CASES` to run deeper.
fn config(cases: u32) -> ProptestConfig {
    let default = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_some() {
        default
    } else {
        ProptestConfig { cases, ..default }
    }
}

/// A reader that keeps every complete subtree's hash, as the relay's store
/// does: the fast path, one read per perfect subtree.
struct StoredNodes {
    leaves: Vec<Hash>,
    nodes: HashMap<(u32, u64), Hash>,
}

impl StoredNodes {
    fn build(leaves: &[Hash]) -> Self {
        let mut nodes = HashMap::new();
        let mut range = CompactRange::new();
        for leaf in leaves {
            range
                .append_with(*leaf, |level, index, hash| {
                    assert!(nodes.insert((level, index), *hash).is_none());
                })
                .unwrap();
        }
        StoredNodes {
            leaves: leaves.to_vec(),
            nodes,
        }
    }
}

impl HashReader for StoredNodes {
    fn leaf_hash(&self, index: u64) -> Option<Hash> {
        self.leaves.leaf_hash(index)
    }

    fn perfect_subtree(&self, level: u32, index: u64) -> Result<Hash, ProofError> {
        if level == 0 {
            return self.leaf_hash(index).ok_or(ProofError::MissingLeaf(index));
        }
        self.nodes
            .get(&(level, index))
            .copied()
            .ok_or(ProofError::MissingNode { level, index })
    }
}

/// A tree of `total` leaves and three sizes within it, plus mutation choices.
fn tree_and_sizes() -> impl Strategy<Value = (u64, u64, u64, u64)> {
    (1..=MAX_LEAVES).prop_flat_map(|total| (Just(total), 1..=total, 1..=total, 1..=total))
}

proptest! {
    #![proptest_config(config(200))]

    #[test]
    fn inclusion_proofs_verify_and_bind_everything(
        (total, size, alt_size, _) in tree_and_sizes(),
        index_seed in any::<u64>(),
        alt_index_seed in any::<u64>(),
        pick in any::<usize>(),
        byte in 0usize..32,
        mask in 1u8..=255,
    ) {
        let all = leaves(total);
        let index = index_seed % size;
        let r = root(&all[..size as usize]);
        let leaf = all[index as usize];
        let proof = inclusion_proof(&all, index, size).unwrap();
        prop_assert!(proof.len() <= 64);
        prop_assert_eq!(verify_inclusion(&leaf, index, size, &proof, &r), Ok(()));

        if !proof.is_empty() {
            let mut bad = proof.clone();
            let i = pick % bad.len();
            bad[i] = flip(bad[i], byte, mask);
            prop_assert!(verify_inclusion(&leaf, index, size, &bad, &r).is_err());
            // Dropping or adding a hash is rejected too.
            prop_assert!(verify_inclusion(&leaf, index, size, &proof[1..], &r).is_err());
        }
        let mut longer = proof.clone();
        longer.push(r);
        prop_assert!(verify_inclusion(&leaf, index, size, &longer, &r).is_err());
        prop_assert!(verify_inclusion(&leaf, index, size, &proof, &flip(r, byte, mask)).is_err());
        prop_assert!(verify_inclusion(&flip(leaf, byte, mask), index, size, &proof, &r).is_err());

        // Another index in the same tree.
        let alt_index = alt_index_seed % size;
        if alt_index != index {
            prop_assert!(verify_inclusion(&leaf, alt_index, size, &proof, &r).is_err());
        }
        prop_assert!(verify_inclusion(&leaf, size + (alt_index_seed % 3), size, &proof, &r).is_err());
        // Another tree size, with that size's real root: a proof is bound to
        // the (size, root) pair a checkpoint signs. (With the *same* root a
        // different size can share the proof's shape; that pair is never
        // signed.)
        if alt_size != size && index < alt_size {
            let alt_root = root(&all[..alt_size as usize]);
            prop_assert!(verify_inclusion(&leaf, index, alt_size, &proof, &alt_root).is_err());
        }
    }

    #[test]
    fn consistency_proofs_verify_and_bind_everything(
        (total, a, b, c) in tree_and_sizes(),
        pick in any::<usize>(),
        byte in 0usize..32,
        mask in 1u8..=255,
    ) {
        let all = leaves(total);
        let (size1, size2) = (a.min(b), a.max(b));
        let root_at = |n: u64| root(&all[..n as usize]);
        let (r1, r2) = (root_at(size1), root_at(size2));
        let proof = consistency_proof(&all, size1, size2).unwrap();
        prop_assert!(proof.len() <= 64);
        prop_assert_eq!(verify_consistency(size1, size2, &proof, &r1, &r2), Ok(()));

        if !proof.is_empty() {
            let mut bad = proof.clone();
            let i = pick % bad.len();
            bad[i] = flip(bad[i], byte, mask);
            prop_assert!(verify_consistency(size1, size2, &bad, &r1, &r2).is_err());
            prop_assert!(verify_consistency(size1, size2, &proof[1..], &r1, &r2).is_err());
        }
        let mut longer = proof.clone();
        longer.push(r2);
        prop_assert!(verify_consistency(size1, size2, &longer, &r1, &r2).is_err());
        prop_assert!(verify_consistency(size1, size2, &proof, &flip(r1, byte, mask), &r2).is_err());
        prop_assert!(verify_consistency(size1, size2, &proof, &r1, &flip(r2, byte, mask)).is_err());
        // Rollback.
        if size1 != size2 {
            prop_assert!(verify_consistency(size2, size1, &proof, &r2, &r1).is_err());
        }
        // Other sizes, with their real roots.
        if c != size1 && c <= size2 {
            prop_assert!(verify_consistency(c, size2, &proof, &root_at(c), &r2).is_err());
        }
        if c != size2 && c >= size1 {
            prop_assert!(verify_consistency(size1, c, &proof, &r1, &root_at(c)).is_err());
        }
    }

    /// Proofs and roots read from stored subtree hashes are the very bytes
    /// the leaf-reading path computes, and every stored hash is the root of
    /// the leaves it covers.
    #[test]
    fn stored_subtrees_give_the_same_proofs(
        (total, size1, size2, index) in tree_and_sizes(),
    ) {
        let all = leaves(total);
        let fast = StoredNodes::build(&all);
        for (&(level, i), hash) in &fast.nodes {
            let start = (i << level) as usize;
            prop_assert_eq!(*hash, root(&all[start..start + (1usize << level)]));
        }
        let (old, new) = (size1.min(size2), size1.max(size2));
        let index = index - 1;
        prop_assert_eq!(
            inclusion_proof(&fast, index, total).unwrap(),
            inclusion_proof(&all, index, total).unwrap()
        );
        if index < new {
            prop_assert_eq!(
                inclusion_proof(&fast, index, new).unwrap(),
                inclusion_proof(&all, index, new).unwrap()
            );
        }
        prop_assert_eq!(
            consistency_proof(&fast, old, new).unwrap(),
            consistency_proof(&all, old, new).unwrap()
        );
        prop_assert_eq!(
            CompactRange::from_reader(&fast, new).unwrap().root(),
            root(&all[..new as usize])
        );
        prop_assert_eq!(
            liaison_protocol::log::merkle::subtree_root(&fast, 0, old).unwrap(),
            root(&all[..old as usize])
        );
    }

    #[test]
    fn compact_range_matches_root(n in 0u64..300) {
        let all = leaves(n);
        let mut range = CompactRange::new();
        prop_assert_eq!(range.root(), empty_root());
        for (i, leaf) in all.iter().enumerate() {
            range.append(*leaf).unwrap();
            prop_assert_eq!(range.size(), i as u64 + 1);
            prop_assert_eq!(range.hashes().len(), (i as u64 + 1).count_ones() as usize);
        }
        prop_assert_eq!(range.root(), root(&all));
        let rebuilt = CompactRange::from_parts(range.size(), range.hashes().to_vec()).unwrap();
        prop_assert_eq!(&rebuilt, &range);
        prop_assert_eq!(CompactRange::from_reader(&all, n).unwrap(), range);
    }
}

// ---------------------------------------------------------------------------
// Text formats.

/// Key names: printable, no white space, no `+`.
fn key_name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9./_:\\-é\u{4e16}]{1,40}"
}

/// Note text: lines of printable characters (possibly empty lines, possibly
/// an em dash), ending in a newline.
fn note_text() -> impl Strategy<Value = String> {
    prop::collection::vec("[ -~\u{a0}\u{2014}é]{0,30}", 1..6).prop_map(|lines| {
        let mut t = lines.join("\n");
        t.push('\n');
        t
    })
}

fn hash() -> impl Strategy<Value = Hash> {
    any::<[u8; 32]>().prop_map(Hash)
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn note_sign_encode_parse_open_round_trip(
        text in note_text(),
        names in prop::collection::vec(key_name(), 1..4),
        seed in any::<[u8; 32]>(),
    ) {
        let signers: Vec<NoteSigner> = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let mut s = seed;
                s[0] = s[0].wrapping_add(i as u8);
                NoteSigner::from_seed(n, &s).unwrap()
            })
            .collect();
        let mut note = Note::new(&text).unwrap();
        for s in &signers {
            note.sign(s).unwrap();
        }
        let msg = note.encode().unwrap();
        let parsed = Note::parse(msg.as_bytes()).unwrap();
        prop_assert_eq!(&parsed, &note);
        prop_assert_eq!(parsed.encode().unwrap(), msg.clone());
        let verifiers: Vec<NoteVerifier> = signers.iter().map(NoteSigner::verifier).collect();
        let opened = open_note(msg.as_bytes(), &verifiers).unwrap();
        prop_assert_eq!(opened.text(), text.as_str());
        for v in &verifiers {
            prop_assert_eq!(NoteVerifier::from_vkey(&v.to_vkey()).unwrap(), v.clone());
        }
    }

    #[test]
    fn checkpoint_round_trip_and_tamper(
        origin in key_name(),
        size in any::<u64>(),
        root_hash in hash(),
        extensions in prop::collection::vec("[ -~]{1,20}", 0..3),
        seed in any::<[u8; 32]>(),
        timestamp in 0..=i64::MAX as u64,
        position in any::<usize>(),
        replacement in any::<u8>(),
    ) {
        let root_hash = if size == 0 { empty_root() } else { root_hash };
        let cp = Checkpoint::with_extensions(&origin, size, root_hash, extensions).unwrap();
        prop_assert_eq!(Checkpoint::from_text(&cp.to_text()).unwrap(), cp.clone());

        let log = NoteSigner::from_seed(&origin, &seed).unwrap();
        let witness = CosignatureSigner::from_seed("w.example", &seed).unwrap();
        let mut note = cp.sign(&log).unwrap();
        note.add_signature(witness.cosign(&cp, timestamp).unwrap()).unwrap();
        let msg = note.encode().unwrap();
        let policy = LogPolicy::with_witnesses(log.verifier(), vec![witness.verifier()], 1).unwrap();
        let signed = policy.open(msg.as_bytes()).unwrap();
        prop_assert_eq!(signed.checkpoint(), &cp);
        prop_assert_eq!(signed.cosignatures()[0].timestamp(), timestamp);

        // Any single-byte change to the signed checkpoint is rejected.
        let mut bytes = msg.into_bytes();
        let i = position % bytes.len();
        if bytes[i] != replacement {
            bytes[i] = replacement;
            prop_assert!(policy.open(&bytes).is_err());
        }
    }

    #[test]
    fn tlog_proof_round_trip(
        total in 1u64..300,
        index_seed in any::<u64>(),
        extra in prop::option::of(prop::collection::vec(any::<u8>(), 1..100)),
        seed in any::<[u8; 32]>(),
    ) {
        let all = leaves(total);
        let index = index_seed % total;
        let log = NoteSigner::from_seed("log.example", &seed).unwrap();
        let cp = Checkpoint::new(log.name(), total, root(&all)).unwrap();
        let signed = cp.sign(&log).unwrap().encode().unwrap();
        let mut p = TlogProof::new(index, inclusion_proof(&all, index, total).unwrap(), &signed).unwrap();
        if let Some(extra) = extra {
            p = p.with_extra(extra).unwrap();
        }
        let text = p.encode();
        let parsed = TlogProof::parse(text.as_bytes()).unwrap();
        prop_assert_eq!(&parsed, &p);
        prop_assert_eq!(parsed.encode(), text);
        let policy = LogPolicy::new(log.verifier()).unwrap();
        prop_assert!(parsed.verify(&all[index as usize], &policy).is_ok());
        prop_assert!(parsed.verify(&leaf_hash(b"not in the log"), &policy).is_err());
    }
}

// ---------------------------------------------------------------------------
// Decoders never panic.

/// Bytes biased towards the formats' own alphabet, so parsing gets deep.
fn note_like_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..400),
        "([a-zA-Z0-9+/=\n ]|\u{2014} |\n\n|index |extra |c2sp.org/tlog-proof@v1\n){0,60}"
            .prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn decoders_never_panic(bytes in note_like_bytes()) {
        let verifier = NoteSigner::from_seed("log.example", &[1; 32]).unwrap().verifier();
        let policy = LogPolicy::new(verifier.clone()).unwrap();
        let _ = Note::parse(&bytes);
        let _ = open_note(&bytes, std::slice::from_ref(&verifier));
        let _ = policy.open(&bytes);
        let _ = TlogProof::parse(&bytes);
        let s = String::from_utf8_lossy(&bytes);
        let _ = Checkpoint::from_text(&s);
        let _ = NoteVerifier::from_vkey(&s);
        let _ = NoteSigner::from_skey(&s);
        let _ = CosignatureSigner::from_skey(&s);
        let _ = Hash::from_base64(&s);
    }

    #[test]
    fn key_like_strings_never_panic(
        name in "[a-zA-Z+ ]{0,8}",
        id in "[0-9a-fA-F+-]{0,10}",
        b64 in "[a-zA-Z0-9+/=]{0,60}",
        private in any::<bool>(),
    ) {
        let s = if private { format!("PRIVATE+KEY+{name}+{id}+{b64}") } else { format!("{name}+{id}+{b64}") };
        let _ = NoteVerifier::from_vkey(&s);
        let _ = NoteSigner::from_skey(&s);
        let _ = CosignatureSigner::from_skey(&s);
    }

    #[test]
    fn signature_lines_never_panic(name in "[a-zA-Z]{1,8}", raw in prop::collection::vec(any::<u8>(), 0..100)) {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&raw);
        let msg = format!("text\n\n\u{2014} {name} {b64}\n");
        let parsed = Note::parse(msg.as_bytes());
        prop_assert_eq!(parsed.is_ok(), raw.len() >= 5);
        if let Ok(note) = parsed {
            let sig: &NoteSignature = &note.signatures()[0];
            prop_assert_eq!(sig.to_line(), format!("\u{2014} {name} {b64}\n"));
        }
    }
}
