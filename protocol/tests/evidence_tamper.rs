//! Tampering with evidence bundles: any single-byte change anywhere in the
//! file (binary or text form) is refused; and a dishonest exporter who
//! alters any byte of a part signed or logged by someone else, then signs
//! the bundle again, is refused too.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod evidence_support;

use evidence_support::{NOW, Net};
use liaison_protocol::codec::{Wire, decode_body, encode_body};
use liaison_protocol::evidence::{EVIDENCE_TEXT_BEGIN, Evidence, EvidenceBundle, verify_evidence};
use liaison_protocol::{Signed, SignedBody};
use proptest::prelude::*;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(cases),
        ..ProptestConfig::default()
    }
}

fn refused(net: &Net, bytes: &[u8]) -> bool {
    match EvidenceBundle::parse(bytes) {
        Err(_) => true,
        Ok(b) => verify_evidence(&b, &net.pins(), NOW).is_err(),
    }
}

#[test]
fn every_single_byte_change_of_the_binary_file_is_refused() {
    let net = Net::default();
    let bytes = net.bundle().encode();
    assert!(!refused(&net, &bytes));
    for i in 0..bytes.len() {
        for mask in [0x01u8, 0x80] {
            let mut t = bytes.clone();
            t[i] ^= mask;
            assert!(refused(&net, &t), "byte {i} ^ {mask:#x} was accepted");
        }
    }
    // Truncation and extension too.
    assert!(refused(&net, &bytes[..bytes.len() - 1]));
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(refused(&net, &longer));
}

/// The parts of an evidence that someone other than the exporter signed or
/// that the relay's logs vouch for, each as bytes: (name, bytes).
fn third_party_parts(ev: &Evidence) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![
        ("signed payload".to_owned(), ev.signed_payload.clone()),
        (
            "originator authority".into(),
            encode_body(&ev.originator.authority),
        ),
        (
            "originator authority proof".into(),
            ev.originator.authority_proof.clone().into_bytes(),
        ),
        (
            "originator record".into(),
            encode_body(&ev.originator.record),
        ),
        (
            "originator record proof".into(),
            ev.originator.record_proof.clone().into_bytes(),
        ),
    ];
    for (i, e) in ev.events.iter().enumerate() {
        out.push((format!("event {i}"), e.clone().into_bytes()));
    }
    for (i, r) in ev.receipts.iter().enumerate() {
        out.push((format!("receipt {i}"), encode_body(r)));
    }
    for (i, c) in ev.consents.iter().enumerate() {
        out.push((format!("consent {i}"), encode_body(c)));
    }
    for (i, s) in ev.signers.iter().enumerate() {
        out.push((format!("signer {i} authority"), encode_body(&s.authority)));
        out.push((
            format!("signer {i} authority proof"),
            s.authority_proof.clone().into_bytes(),
        ));
        out.push((format!("signer {i} record"), encode_body(&s.record)));
        out.push((
            format!("signer {i} record proof"),
            s.record_proof.clone().into_bytes(),
        ));
    }
    out
}

/// `ev` with part `n` replaced by `bytes`, or `None` if the bytes are not
/// a value of the part's type (then no bundle can even carry them).
fn with_part(ev: &Evidence, n: usize, bytes: Vec<u8>) -> Option<Evidence> {
    let mut ev = ev.clone();
    let text = || String::from_utf8(bytes.clone()).ok();
    let fixed = 5;
    let events = ev.events.len();
    let receipts = ev.receipts.len();
    let consents = ev.consents.len();
    match n {
        0 => ev.signed_payload = bytes.clone(),
        1 => ev.originator.authority = decode_body(&bytes).ok()?,
        2 => ev.originator.authority_proof = text()?,
        3 => ev.originator.record = decode_body(&bytes).ok()?,
        4 => ev.originator.record_proof = text()?,
        n if n < fixed + events => ev.events[n - fixed] = text()?,
        n if n < fixed + events + receipts => {
            ev.receipts[n - fixed - events] = decode_body(&bytes).ok()?;
        }
        n if n < fixed + events + receipts + consents => {
            ev.consents[n - fixed - events - receipts] = decode_body(&bytes).ok()?;
        }
        n => {
            let k = n - fixed - events - receipts - consents;
            let s = &mut ev.signers[k / 4];
            match k % 4 {
                0 => s.authority = decode_body(&bytes).ok()?,
                1 => s.authority_proof = text()?,
                2 => s.record = decode_body(&bytes).ok()?,
                _ => s.record_proof = text()?,
            }
        }
    }
    Some(ev)
}

#[test]
fn the_part_table_covers_every_part() {
    let net = Net::default();
    let ev = net.evidence(&net.spec());
    let parts = third_party_parts(&ev);
    for (n, (_, bytes)) in parts.iter().enumerate() {
        assert_eq!(
            with_part(&ev, n, bytes.clone()),
            Some(ev.clone()),
            "part {n}"
        );
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_byte_change_of_the_text_form_is_refused(pos in any::<prop::sample::Index>(), mask in 1u8..=255) {
        let net = Net::default();
        let mut text = net.bundle().to_text().into_bytes();
        let i = pos.index(text.len());
        text[i] ^= mask;
        prop_assert!(refused(&net, &text), "byte {} ^ {:#x} was accepted", i, mask);
    }

    #[test]
    fn any_byte_change_of_the_binary_file_is_refused(pos in any::<prop::sample::Index>(), mask in 1u8..=255) {
        let net = Net::default();
        let mut bytes = net.bundle().encode();
        let i = pos.index(bytes.len());
        bytes[i] ^= mask;
        prop_assert!(refused(&net, &bytes));
    }

    /// The exporter's signature proves who exported, not that the contents
    /// are genuine: every part signed by someone else or logged by the
    /// relay is checked on its own.
    #[test]
    fn a_resigned_bundle_with_any_third_party_byte_changed_is_refused(
        part in any::<prop::sample::Index>(),
        pos in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        let net = Net::default();
        let ev = net.evidence(&net.spec());
        let parts = third_party_parts(&ev);
        let n = part.index(parts.len());
        let mut bytes = parts[n].1.clone();
        let i = pos.index(bytes.len());
        bytes[i] ^= mask;
        if let Some(tampered) = with_part(&ev, n, bytes) {
            let result = verify_evidence(&net.sign(&tampered), &net.pins(), NOW);
            prop_assert!(result.is_err(), "{} byte {} ^ {:#x} was accepted", parts[n].0, i, mask);
        }
    }

    /// Hostile input never panics: arbitrary bytes, arbitrary armour, and
    /// an arbitrary body that the exporter did sign.
    #[test]
    fn hostile_input_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        cut in any::<prop::sample::Index>(),
    ) {
        let net = Net::default();
        let _ = refused(&net, &bytes);
        let mut armoured = format!("{EVIDENCE_TEXT_BEGIN}\n").into_bytes();
        armoured.extend_from_slice(&bytes);
        let _ = refused(&net, &armoured);
        let signed = Signed::<Evidence>::from_parts(
            bytes.clone(),
            net.bob.public_key(),
            net.bob.sign(Evidence::DOMAIN, &bytes),
        );
        prop_assert!(verify_evidence(&EvidenceBundle::from_signed(signed), &net.pins(), NOW).is_err());
        let valid = net.bundle().encode();
        prop_assert!(refused(&net, &valid[..cut.index(valid.len())]));
    }
}
