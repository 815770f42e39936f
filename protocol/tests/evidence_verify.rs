//! Evidence bundles: a genuine bundle verifies and its report says what it
//! shows; each rule of `verify_evidence` refuses the bundle that breaks it,
//! with the error that names the rule.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod evidence_support;

use evidence_support::{CASE, CREATED, EXPORTED, MSG, NOW, Net, grant, id, key};
use liaison_protocol::codec::Wire;
use liaison_protocol::consent::{Receipt, ReceiptKind};
use liaison_protocol::evidence::{
    EVIDENCE_TEXT_BEGIN, EvidenceBundle, EvidenceError, JudicialBasis, MAX_CLOCK_SKEW_MS, Pins,
    verify_evidence,
};
use liaison_protocol::handling::JudicialUse;
use liaison_protocol::log::event::{Declared, EventKind};
use liaison_protocol::log::{LogPolicy, NoteSigner};
use liaison_protocol::{DecodeError, Signed, Timestamp, VerifyError};

fn verify(net: &Net, bundle: &EvidenceBundle) -> Result<(), EvidenceError> {
    verify_evidence(bundle, &net.pins(), NOW).map(|_| ())
}

#[test]
fn genuine_bundle_verifies_and_the_report_says_what_it_shows() {
    let net = Net::default();
    let bundle = net.bundle();
    let report = verify_evidence(&bundle, &net.pins(), NOW).unwrap();
    assert_eq!(report.message_id, MSG);
    assert_eq!(report.originator.id, id("th.dsi.alice"));
    assert_eq!(report.originator.identity_key, net.alice.public_key());
    assert_eq!(report.originator.record_index, 3);
    assert_eq!(report.originator.authority, "TH authority (TH)");
    assert_eq!(report.exporter.id, id("ph.pnp.bob"));
    assert_eq!(report.exporter_role, "recipient");
    assert_eq!(report.exported_at, EXPORTED);
    assert_eq!(report.case_reference.as_deref(), Some(CASE));
    assert_eq!(report.payload.created_at, CREATED);
    assert_eq!(report.payload.recipients, vec![id("ph.pnp.bob")]);
    assert!(report.handling_text.contains("judicial=with-consent"));
    let kinds: Vec<&str> = report.events.iter().map(|e| e.record.kind.name()).collect();
    assert_eq!(
        kinds,
        [
            "accepted",
            "delivered",
            "acknowledged",
            "declared",
            "declared",
            "declared"
        ]
    );
    // Each declared entry points at the signed object it commits to.
    let declared: Vec<_> = report
        .events
        .iter()
        .filter_map(|e| match &e.record.kind {
            EventKind::Declared { kind, .. } => Some((*kind, e.matches)),
            _ => None,
        })
        .collect();
    assert_eq!(
        declared,
        [
            (Declared::DeliveryReceipt, Some(("receipt", 0))),
            (Declared::HandlingAcknowledged, Some(("receipt", 1))),
            (Declared::ConsentGranted, Some(("consent", 0))),
        ]
    );
    assert_eq!(report.receipts.len(), 2);
    assert_eq!(report.receipts[0].kind, ReceiptKind::Delivered);
    assert!(matches!(
        &report.judicial_basis,
        JudicialBasis::Consent { position: 0, decision } if decision == &grant(CASE)
    ));
    assert_eq!(report.directory_checkpoint.size, 5);
    assert_eq!(
        report.directory_checkpoint.origin,
        "liaison.example/directory"
    );
    assert_eq!(report.event_checkpoint.origin, "liaison.example/events");
}

#[test]
fn binary_and_text_forms_round_trip_and_are_strict() {
    let net = Net::default();
    let bundle = net.bundle();
    let bytes = bundle.encode();
    assert_eq!(EvidenceBundle::decode(&bytes).unwrap(), bundle);
    assert_eq!(EvidenceBundle::parse(&bytes).unwrap(), bundle);
    let text = bundle.to_text();
    assert!(text.starts_with(EVIDENCE_TEXT_BEGIN));
    assert!(text.lines().skip(1).all(|l| l.len() <= 64));
    assert_eq!(EvidenceBundle::from_text(&text).unwrap(), bundle);
    assert_eq!(EvidenceBundle::parse(text.as_bytes()).unwrap(), bundle);
    // Only the canonical text is accepted: no extra whitespace, no other
    // line length, no CRLF.
    for bad in [
        format!("{text}\n"),
        format!(" {text}"),
        text.replacen('\n', "\r\n", 2),
        text.replace('\n', "").replacen("-----B", "\n-----B", 1),
        text.trim_end().to_owned(),
    ] {
        assert!(EvidenceBundle::from_text(&bad).is_err(), "{:?}", &bad[..60]);
    }
    // A payload-sized body of garbage is refused before anything else.
    assert!(matches!(
        EvidenceBundle::decode(&[1, 0xff, 0xff, 0xff, 0xff, 0x0f]),
        Err(DecodeError::Malformed)
    ));
    assert!(EvidenceBundle::decode(&[]).is_err());
}

#[test]
fn judicial_use_permitted_by_handling_needs_no_consent() {
    let net = Net::default();
    let mut spec = net.spec();
    spec.handling.judicial_use = JudicialUse::Permitted;
    spec.consents.clear();
    spec.case_reference = None;
    let report = verify_evidence(&net.sign(&net.evidence(&spec)), &net.pins(), NOW).unwrap();
    assert_eq!(report.judicial_basis, JudicialBasis::PermittedByHandling);
    assert!(report.consents.is_empty());
}

#[test]
fn a_bundle_without_permission_or_grant_is_refused() {
    let net = Net::default();
    for judicial in [JudicialUse::WithConsent, JudicialUse::Prohibited] {
        let mut spec = net.spec();
        spec.handling.judicial_use = judicial;
        spec.consents.clear();
        let e = verify(&net, &net.sign(&net.evidence(&spec))).unwrap_err();
        assert!(
            matches!(&e, EvidenceError::NoJudicialConsent { judicial_use, case_reference, .. }
                if *judicial_use == judicial.label() && case_reference == CASE),
            "{e:?}"
        );
        assert!(e.to_string().contains("th.dsi.alice"), "{e}");
    }
    // The originator may lift a prohibition too.
    let mut spec = net.spec();
    spec.handling.judicial_use = JudicialUse::Prohibited;
    verify(&net, &net.sign(&net.evidence(&spec))).unwrap();
}

#[test]
fn a_grant_covers_only_its_case_and_only_while_in_force() {
    let net = Net::default();
    let mut spec = net.spec();
    spec.consents = vec![grant("ANOTHER-CASE")];
    assert!(matches!(
        verify(&net, &net.sign(&net.evidence(&spec))),
        Err(EvidenceError::NoJudicialConsent { .. })
    ));

    let mut spec = net.spec();
    let mut lapsed = grant(CASE);
    lapsed.valid_until = Some(Timestamp(EXPORTED.0 - 1));
    spec.consents = vec![lapsed];
    let e = verify(&net, &net.sign(&net.evidence(&spec))).unwrap_err();
    assert!(e.to_string().contains("lapsed"), "{e}");

    let mut spec = net.spec();
    let mut refusal = grant(CASE);
    refusal.granted = false;
    spec.consents = vec![refusal];
    let e = verify(&net, &net.sign(&net.evidence(&spec))).unwrap_err();
    assert!(e.to_string().contains("refused"), "{e}");

    // Consent is per case: a bundle that names no case is refused.
    let mut spec = net.spec();
    spec.case_reference = None;
    assert_eq!(
        verify(&net, &net.sign(&net.evidence(&spec))),
        Err(EvidenceError::MissingCaseReference("with-consent"))
    );

    // A grant decided after the claimed export time.
    let mut spec = net.spec();
    let mut late = grant(CASE);
    late.decided_at = EXPORTED.plus_millis(MAX_CLOCK_SKEW_MS + 1);
    spec.consents = vec![late];
    assert!(matches!(
        verify(&net, &net.sign(&net.evidence(&spec))),
        Err(EvidenceError::Inconsistent { .. })
    ));
}

#[test]
fn a_grant_from_anyone_but_the_originator_is_refused() {
    let net = Net::default();
    // Signed by mallory in mallory's name.
    let mut spec = net.spec();
    let mut g = grant(CASE);
    g.decided_by = id("th.dsi.mallory");
    spec.consents = vec![g];
    spec.consent_signer = Some(net.mallory.clone());
    let e = verify(&net, &net.sign(&net.evidence(&spec))).unwrap_err();
    assert!(
        matches!(&e, EvidenceError::ForeignConsent { position: 0, originator, .. } if originator == &id("th.dsi.alice")),
        "{e:?}"
    );
    // Signed by mallory in alice's name.
    let mut spec = net.spec();
    spec.consent_signer = Some(net.mallory.clone());
    assert!(matches!(
        verify(&net, &net.sign(&net.evidence(&spec))),
        Err(EvidenceError::ForeignConsent { .. })
    ));
    // Signed by the recipient (who has a logged record in the bundle).
    let mut spec = net.spec();
    spec.consent_signer = Some(net.bob.clone());
    assert!(matches!(
        verify(&net, &net.sign(&net.evidence(&spec))),
        Err(EvidenceError::ForeignConsent { .. })
    ));
}

#[test]
fn records_are_judged_when_the_message_was_signed_not_now() {
    let net = Net::default();
    // The default records expired long before NOW: still verifies.
    let spec = net.spec();
    assert!(spec.alice_record.not_after < NOW);
    verify(&net, &net.bundle()).unwrap();

    // A record not yet valid when the message was created is refused.
    let mut spec = net.spec();
    spec.alice_record.not_before = Timestamp(CREATED.0 + 1);
    let e = verify(&net, &net.sign(&net.evidence(&spec))).unwrap_err();
    assert!(
        matches!(
            &e,
            EvidenceError::Chain {
                error: VerifyError::Expired(_),
                ..
            }
        ),
        "{e:?}"
    );

    // So is an authority certificate that expired before the message.
    let mut spec = net.spec();
    spec.th_cert.not_after = Timestamp(CREATED.0 - 1);
    assert!(matches!(
        verify(&net, &net.sign(&net.evidence(&spec))),
        Err(EvidenceError::Chain {
            error: VerifyError::Expired(_),
            ..
        })
    ));

    // And a revoked authority.
    let mut spec = net.spec();
    spec.th_cert.revoked = true;
    assert!(matches!(
        verify(&net, &net.sign(&net.evidence(&spec))),
        Err(EvidenceError::Chain {
            error: VerifyError::Revoked,
            ..
        })
    ));
}

#[test]
fn only_the_pinned_keys_are_trusted() {
    let net = Net::default();
    let bundle = net.bundle();
    let other_log = |name: &str| {
        LogPolicy::new(NoteSigner::from_seed(name, &[99; 32]).unwrap().verifier()).unwrap()
    };
    let pins = Pins {
        root: key(99).public_key(),
        ..net.pins()
    };
    let e = verify_evidence(&bundle, &pins, NOW).unwrap_err();
    assert!(
        matches!(
            &e,
            EvidenceError::Chain {
                error: VerifyError::UnknownAuthority,
                ..
            }
        ),
        "{e:?}"
    );
    let pins = Pins {
        directory_log: other_log("liaison.example/directory"),
        ..net.pins()
    };
    let e = verify_evidence(&bundle, &pins, NOW).unwrap_err();
    assert!(matches!(&e, EvidenceError::LogProof { .. }), "{e:?}");
    assert!(e.to_string().contains("pinned log key"), "{e}");
    let pins = Pins {
        event_log: other_log("liaison.example/events"),
        ..net.pins()
    };
    assert!(matches!(
        verify_evidence(&bundle, &pins, NOW),
        Err(EvidenceError::LogProof { .. })
    ));
}

#[test]
fn the_events_must_prove_acceptance_and_be_about_the_message() {
    let net = Net::default();
    let mut spec = net.spec();
    spec.with_acceptance = false;
    let e = verify(&net, &net.sign(&net.evidence(&spec))).unwrap_err();
    // Without the acceptance the delivery names an unknown device first.
    assert!(
        matches!(
            e,
            EvidenceError::Inconsistent { .. } | EvidenceError::MissingAcceptance(_)
        ),
        "{e:?}"
    );
    let mut ev = net.evidence(&net.spec());
    ev.events.clear();
    assert_eq!(
        verify(&net, &net.sign(&ev)),
        Err(EvidenceError::MissingAcceptance(MSG))
    );

    let mut spec = net.spec();
    spec.unrelated_event = true;
    assert!(matches!(
        verify(&net, &net.sign(&net.evidence(&spec))),
        Err(EvidenceError::UnrelatedEvent {
            position: 0,
            index: 0,
            ..
        })
    ));

    // Out of order.
    let mut ev = net.evidence(&net.spec());
    ev.events.swap(1, 2);
    assert!(matches!(
        verify(&net, &net.sign(&ev)),
        Err(EvidenceError::Malformed { .. })
    ));

    // A proof relative to another checkpoint than the others.
    let mut other = net.spec();
    other.consents = vec![grant("ANOTHER-CASE"), grant(CASE)];
    let foreign = net.evidence(&other);
    let mut ev = net.evidence(&net.spec());
    ev.events[1] = foreign.events[1].clone();
    let e = verify(&net, &net.sign(&ev)).unwrap_err();
    assert!(
        matches!(&e, EvidenceError::LogProof { reason, .. } if reason.contains("another events checkpoint")),
        "{e:?}"
    );
}

#[test]
fn receipts_must_be_by_recipients_about_this_payload() {
    let net = Net::default();
    let bad = |receipt: Receipt, key: &liaison_protocol::SecretKey| {
        let mut ev = net.evidence(&net.spec());
        ev.receipts.push(Signed::sign(&receipt, key));
        verify(&net, &net.sign(&ev)).unwrap_err()
    };
    let e = bad(
        Receipt {
            message_id: MSG,
            kind: ReceiptKind::HandlingAcknowledged {
                payload_hash: [0; 32],
            },
            by: id("ph.pnp.bob"),
            at: Timestamp(CREATED.0 + 9_000),
        },
        &net.bob,
    );
    assert!(e.to_string().contains("another payload"), "{e}");
    let e = bad(
        Receipt {
            message_id: liaison_protocol::MessageId([9; 16]),
            kind: ReceiptKind::Delivered,
            by: id("ph.pnp.bob"),
            at: Timestamp(CREATED.0 + 9_000),
        },
        &net.bob,
    );
    assert!(matches!(e, EvidenceError::Inconsistent { .. }), "{e:?}");
    // A receipt by someone whose record is not in the bundle.
    let e = bad(
        Receipt {
            message_id: MSG,
            kind: ReceiptKind::Delivered,
            by: id("ph.pnp.mallory"),
            at: Timestamp(CREATED.0 + 9_000),
        },
        &net.mallory,
    );
    assert!(matches!(e, EvidenceError::UnknownSigner { .. }), "{e:?}");
    // A receipt made with bob's name and mallory's key.
    let e = bad(
        Receipt {
            message_id: MSG,
            kind: ReceiptKind::Delivered,
            by: id("ph.pnp.bob"),
            at: Timestamp(CREATED.0 + 9_000),
        },
        &net.mallory,
    );
    assert!(matches!(e, EvidenceError::UnknownSigner { .. }), "{e:?}");
}

#[test]
fn the_exporter_must_be_a_logged_focal_point_and_not_in_the_future() {
    let net = Net::default();
    // Signed by a key with no record.
    let ev = net.evidence(&net.spec());
    assert!(matches!(
        verify_evidence(&EvidenceBundle::sign(&ev, &net.mallory), &net.pins(), NOW),
        Err(EvidenceError::UnknownSigner { .. })
    ));
    // Naming another exporter than the key's owner.
    let mut spec = net.spec();
    spec.exporter = id("th.dsi.alice");
    assert!(matches!(
        verify(&net, &net.sign(&net.evidence(&spec))),
        Err(EvidenceError::UnknownSigner { .. })
    ));
    // The originator may export its own message (its record is the one
    // already in the bundle; bob's is then needed only for the receipts).
    let mut spec = net.spec();
    spec.exporter = id("th.dsi.alice");
    let report = verify_evidence(
        &EvidenceBundle::sign(&net.evidence(&spec), &net.alice),
        &net.pins(),
        NOW,
    )
    .unwrap();
    assert_eq!(report.exporter_role, "originator");
    // Exported in the future.
    let mut spec = net.spec();
    spec.exported_at = NOW.plus_millis(MAX_CLOCK_SKEW_MS + 1);
    spec.consents[0].decided_at = NOW;
    assert!(matches!(
        verify(&net, &net.sign(&net.evidence(&spec))),
        Err(EvidenceError::FromTheFuture { .. })
    ));
    // A signer record nothing in the bundle uses.
    let mut spec = net.spec();
    spec.receipts = false;
    spec.exporter = id("th.dsi.alice");
    assert!(matches!(
        verify_evidence(
            &EvidenceBundle::sign(&net.evidence(&spec), &net.alice),
            &net.pins(),
            NOW
        ),
        Err(EvidenceError::Inconsistent { .. })
    ));
}

#[test]
fn only_original_messages_are_evidence() {
    let net = Net::default();
    let mut spec = net.spec();
    spec.payload.content = liaison_protocol::message::Content::Forward {
        original: vec![1, 2, 3],
    };
    assert_eq!(
        verify(&net, &net.sign(&net.evidence(&spec))),
        Err(EvidenceError::NotAnOriginal("forward"))
    );
    // A payload claiming a creation time after the relay accepted it.
    let mut spec = net.spec();
    spec.payload.created_at = CREATED.plus_millis(MAX_CLOCK_SKEW_MS + 10_000);
    let e = verify(&net, &net.sign(&net.evidence(&spec))).unwrap_err();
    assert!(e.to_string().contains("before it claims"), "{e}");
}
