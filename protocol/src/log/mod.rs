//! Transparency logs: RFC 6962/9162 Merkle trees and the C2SP text formats
//! built on them.
//!
//! - [`merkle`]: leaf and node hashing, roots, inclusion and consistency
//!   proofs (generation and `O(log n)` verification), and the
//!   [`CompactRange`] a log appends to.
//! - [`note`]: c2sp.org/signed-note (verifier and signer keys, signing,
//!   strict parsing and verification).
//! - [`checkpoint`]: c2sp.org/tlog-checkpoint and the [`LogPolicy`] a client
//!   or auditor pins (log key, witness keys, cosignature quorum).
//! - [`cosignature`]: c2sp.org/tlog-cosignature v1 witness cosignatures.
//! - [`proof`]: c2sp.org/tlog-proof per-entry proof bundles.
//! - [`compare`]: how one checkpoint relates to another of the same log
//!   (identical, fork, newer or older) and judging the consistency proof
//!   that decides the last two.
//!
//! Everything here is pure: no I/O, no clock (timestamps are arguments), no
//! randomness (keys are built from caller-supplied seeds), and storage is
//! reached only through [`HashReader`]. Every decoder bounds its input and
//! rejects anything that does not re-encode to the same bytes.
//!
//! Non-features: tiles (c2sp.org/tlog-tiles), the witness HTTP protocol, ECDSA
//! note keys, and any persistence.

pub mod checkpoint;
pub mod compare;
pub mod cosignature;
mod cosigned;
pub mod event;
pub mod merkle;
pub mod note;
pub mod proof;

pub use checkpoint::{
    Checkpoint, CheckpointError, LogPolicy, SignedCheckpoint, explain_checkpoint_error, key_label,
    open_checkpoint,
};
pub use compare::{CheckpointRelation, Extension, compare_checkpoints, judge_consistency};
pub use cosignature::{Cosignature, CosignatureSigner, cosigned_message, verify_cosignature};
pub use merkle::{
    CompactRange, Hash, HashReader, ProofError, consistency_proof, empty_root, inclusion_proof,
    leaf_hash, node_hash, root, verify_consistency, verify_inclusion,
};
pub use note::{
    Note, NoteError, NoteSignature, NoteSigner, NoteVerifier, SignatureType, VerifiedNote,
    open_note, sign_note,
};
pub use proof::TlogProof;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::note::parse_decimal;
    use super::*;

    fn log_signer() -> NoteSigner {
        NoteSigner::from_seed("liaison.example/events", &[1; 32]).unwrap()
    }

    fn witness(n: u8) -> CosignatureSigner {
        CosignatureSigner::from_seed(&format!("witness{n}.example"), &[n; 32]).unwrap()
    }

    fn tree(n: u64) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("event {i}").as_bytes()))
            .collect()
    }

    #[test]
    fn decimal() {
        assert_eq!(parse_decimal("0"), Some(0));
        assert_eq!(parse_decimal("18446744073709551615"), Some(u64::MAX));
        for bad in [
            "",
            "00",
            "01",
            "+1",
            "-1",
            " 1",
            "1 ",
            "18446744073709551616",
            "1e3",
        ] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn checkpoint_text_is_strict() {
        let root = root(&tree(5));
        let cp = Checkpoint::new("o.example", 5, root).unwrap();
        let text = cp.to_text();
        assert_eq!(Checkpoint::from_text(&text).unwrap(), cp);
        let r = root.to_base64();
        for bad in [
            "o.example\n5\n".to_owned(),
            format!("o.example\n5\n{r}"),
            format!("o.example\n05\n{r}\n"),
            format!("o.example\n+5\n{r}\n"),
            format!("o.example\n5\n{r}\n\n"),
            format!("\n5\n{r}\n"),
            format!("o example\n5\n{r}\n"),
            format!("o.example\n5\n{}\n", &r[..43]),
            format!("o.example\n0\n{r}\n"),
            format!("o.example\n5\n{r}\next\n\nmore\n"),
        ] {
            assert!(Checkpoint::from_text(&bad).is_err(), "{bad:?}");
        }
        let ext = Checkpoint::from_text(&format!("o.example\n5\n{r}\nx y\n")).unwrap();
        assert_eq!(ext.extensions(), ["x y"]);
        assert_eq!(Checkpoint::from_text(&ext.to_text()).unwrap(), ext);
        let empty = Checkpoint::new("o.example", 0, empty_root()).unwrap();
        assert_eq!(Checkpoint::from_text(&empty.to_text()).unwrap(), empty);
    }

    #[test]
    fn checkpoint_sign_open_with_witnesses() {
        let log = log_signer();
        let leaves = tree(11);
        let cp = Checkpoint::new(log.name(), 11, root(&leaves)).unwrap();
        let mut note = cp.sign(&log).unwrap();
        let (w1, w2, w3) = (witness(1), witness(2), witness(3));
        note.add_signature(w1.cosign(&cp, 1_700_000_000).unwrap())
            .unwrap();
        note.add_signature(w2.cosign(&cp, 1_700_000_001).unwrap())
            .unwrap();
        let msg = note.encode().unwrap();

        let policy = LogPolicy::with_witnesses(
            log.verifier(),
            vec![w1.verifier(), w2.verifier(), w3.verifier()],
            2,
        )
        .unwrap();
        let signed = policy.open(msg.as_bytes()).unwrap();
        assert_eq!(signed.checkpoint(), &cp);
        assert_eq!(signed.cosignatures().len(), 2);
        assert_eq!(signed.cosignatures()[1].timestamp(), 1_700_000_001);
        assert_eq!(signed.signed_note(), msg);

        let strict = LogPolicy::with_witnesses(
            log.verifier(),
            vec![w1.verifier(), w2.verifier(), w3.verifier()],
            3,
        )
        .unwrap();
        assert_eq!(
            strict.open(msg.as_bytes()).unwrap_err(),
            CheckpointError::InsufficientCosignatures { got: 2, need: 3 }
        );

        // A cosignature over a different checkpoint, or with a changed
        // timestamp, fails and rejects the whole note.
        let other = Checkpoint::new(log.name(), 10, root(&leaves[..10])).unwrap();
        let mut forged = cp.sign(&log).unwrap();
        let mut bad = w1.cosign(&other, 5).unwrap().signature().to_vec();
        forged
            .add_signature(NoteSignature::new(w1.name(), w1.key_id(), bad.clone()).unwrap())
            .unwrap();
        assert_eq!(
            policy
                .open(forged.encode().unwrap().as_bytes())
                .unwrap_err(),
            CheckpointError::Note(NoteError::BadSignature)
        );
        let good = w1.cosign(&cp, 5).unwrap();
        bad = good.signature().to_vec();
        bad[7] ^= 1;
        let mut forged = cp.sign(&log).unwrap();
        forged
            .add_signature(NoteSignature::new(w1.name(), w1.key_id(), bad).unwrap())
            .unwrap();
        assert!(policy.open(forged.encode().unwrap().as_bytes()).is_err());
        assert_eq!(
            verify_cosignature(&w1.verifier(), &cp, &good)
                .unwrap()
                .timestamp(),
            5
        );
        assert!(verify_cosignature(&w1.verifier(), &other, &good).is_err());
        assert!(verify_cosignature(&w2.verifier(), &cp, &good).is_err());

        // Signed only by a witness: not a checkpoint from the log.
        let mut only_witness = Note::new(&cp.to_text()).unwrap();
        only_witness
            .add_signature(w1.cosign(&cp, 9).unwrap())
            .unwrap();
        let lax = LogPolicy::with_witnesses(log.verifier(), vec![w1.verifier()], 0).unwrap();
        assert_eq!(
            lax.open(only_witness.encode().unwrap().as_bytes())
                .unwrap_err(),
            CheckpointError::MissingLogSignature
        );

        // The log key name must be the origin.
        let impostor = NoteSigner::from_seed("other.example", &[1; 32]).unwrap();
        assert_eq!(
            cp.sign(&impostor).unwrap_err(),
            CheckpointError::OriginMismatch
        );
    }

    #[test]
    fn cosignature_key_ids_use_type_4() {
        let w = witness(7);
        let v = w.verifier();
        assert_eq!(v.signature_type(), SignatureType::CosignatureV1);
        assert_eq!(
            v.key_id(),
            note::key_id(w.name(), SignatureType::CosignatureV1, &v.public_key())
        );
        assert_ne!(
            v.key_id(),
            note::key_id(w.name(), SignatureType::Ed25519, &v.public_key())
        );
        assert_eq!(NoteVerifier::from_vkey(&v.to_vkey()).unwrap(), v);
        assert_eq!(
            CosignatureSigner::from_skey(&w.to_skey())
                .unwrap()
                .verifier(),
            v
        );
        assert!(NoteSigner::from_skey(&w.to_skey()).is_err());
        assert!(CosignatureSigner::from_skey(&log_signer().to_skey()).is_err());
        assert_eq!(
            cosigned_message("o\n1\nAAAA\n", 1_679_315_147),
            "cosignature/v1\ntime 1679315147\no\n1\nAAAA\n"
        );
    }

    #[test]
    fn cosignature_timestamp_bound() {
        let log = log_signer();
        let w = witness(4);
        let cp = Checkpoint::new(log.name(), 0, empty_root()).unwrap();
        assert_eq!(
            w.cosign(&cp, u64::MAX).unwrap_err(),
            CheckpointError::TimestampOutOfRange(u64::MAX)
        );
        let max = cosignature::MAX_COSIGNATURE_TIMESTAMP;
        let ok = w.cosign(&cp, max).unwrap();
        assert_eq!(
            verify_cosignature(&w.verifier(), &cp, &ok)
                .unwrap()
                .timestamp(),
            max
        );
        // A line claiming 2^63 is refused even with an otherwise valid layout.
        let mut raw = ok.signature().to_vec();
        raw[0] = 0x80;
        let over = NoteSignature::new(w.name(), w.key_id(), raw).unwrap();
        assert!(verify_cosignature(&w.verifier(), &cp, &over).is_err());
        assert_eq!(cosignature::cosignature_timestamp(&over), None);
    }

    /// The example in c2sp.org/tlog-cosignature: its keys are not published,
    /// so only the layout is checked (key IDs, a 72-byte timestamped
    /// signature whose timestamp is the one in the example signed message).
    #[test]
    fn cosignature_spec_example_layout() {
        let example = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\
            \u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n\
            \u{2014} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n";
        let note = Note::parse(example.as_bytes()).unwrap();
        let cp = Checkpoint::from_text(note.text()).unwrap();
        assert_eq!(cp.size(), 20852163);
        assert_eq!(cp.to_text(), note.text());
        let [log_sig, cosig] = note.signatures() else {
            panic!("two signatures expected")
        };
        assert_eq!(log_sig.key_id(), 0x033de0ae);
        assert_eq!(log_sig.signature().len(), 64);
        assert_eq!(cosig.key_id(), 0x8d66cf3f);
        assert_eq!(cosig.signature().len(), cosignature::COSIGNATURE_V1_LEN);
        assert_eq!(
            cosignature::cosignature_timestamp(cosig),
            Some(1_679_315_147)
        );
        assert_eq!(
            cosigned_message(note.text(), 1_679_315_147),
            "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n\
             CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        );
    }

    #[test]
    fn checkpoint_consistency() {
        let log = log_signer();
        let leaves = tree(20);
        let at = |n: u64| Checkpoint::new(log.name(), n, root(&leaves[..n as usize])).unwrap();
        let proof = consistency_proof(&leaves, 7, 20).unwrap();
        at(7).verify_consistency(&at(20), &proof).unwrap();
        assert!(at(20).verify_consistency(&at(7), &proof).is_err());
        at(0).verify_consistency(&at(20), &[]).unwrap();
        at(20).verify_consistency(&at(20), &[]).unwrap();
        let fork = Checkpoint::new(log.name(), 20, leaf_hash(b"fork")).unwrap();
        assert!(at(20).verify_consistency(&fork, &[]).is_err());
        let other = Checkpoint::new("other.example", 20, root(&leaves)).unwrap();
        assert_eq!(
            at(7).verify_consistency(&other, &proof).unwrap_err(),
            CheckpointError::OriginMismatch
        );
    }

    #[test]
    fn tlog_proof_round_trip_and_verify() {
        let log = log_signer();
        let w = witness(1);
        let leaves = tree(13);
        let cp = Checkpoint::new(log.name(), 13, root(&leaves)).unwrap();
        let mut note = cp.sign(&log).unwrap();
        note.add_signature(w.cosign(&cp, 42).unwrap()).unwrap();
        let signed = note.encode().unwrap();
        let p = TlogProof::new(6, inclusion_proof(&leaves, 6, 13).unwrap(), &signed)
            .unwrap()
            .with_extra(b"salt".to_vec())
            .unwrap();
        let text = p.encode();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra c2FsdA==\nindex 6\n"));
        let parsed = TlogProof::parse(text.as_bytes()).unwrap();
        assert_eq!(parsed, p);
        assert_eq!(parsed.encode(), text);

        let policy = LogPolicy::with_witnesses(log.verifier(), vec![w.verifier()], 1).unwrap();
        let ok = parsed.verify(&leaves[6], &policy).unwrap();
        assert_eq!(ok.checkpoint().size(), 13);
        assert!(parsed.verify(&leaves[5], &policy).is_err());
        let other_log = LogPolicy::new(
            NoteSigner::from_seed(log.name(), &[2; 32])
                .unwrap()
                .verifier(),
        )
        .unwrap();
        assert!(parsed.verify(&leaves[6], &other_log).is_err());

        let no_extra =
            TlogProof::new(0, inclusion_proof(&leaves, 0, 13).unwrap(), &signed).unwrap();
        assert_eq!(
            TlogProof::parse(no_extra.encode().as_bytes()).unwrap(),
            no_extra
        );

        for bad in [
            text.replacen("index 6", "index 06", 1),
            text.replacen("c2sp.org/tlog-proof@v1", "c2sp.org/tlog-proof@v2", 1),
            text.replacen("extra c2FsdA==", "extra ", 1),
            text.replacen("extra c2FsdA==\n", "", 1).replacen(
                "index 6\n",
                "index 6\nextra c2FsdA==\n",
                1,
            ),
            text.replacen("\n\n", "\n", 1),
            text.replacen("index 6\n", "index 6\n\n", 1)
                .replacen(&signed, "", 1),
            text.replacen(&signed, &signed.replacen("13\n", "13 \n", 1), 1),
            text[..text.len() - 1].to_owned(),
        ] {
            assert!(TlogProof::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }
}
