//! Consent requests, decisions and receipts: text form of scopes, what a
//! grant covers, the handling in force after grants, judicial use, signed
//! round trips, and decoding hostile bytes.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod handling_support;

use handling_support::{config, handling, id, purpose, time};
use liaison_protocol::codec::Wire;
use liaison_protocol::consent::{
    ConsentDecision, ConsentError, ConsentRequest, ConsentScope, PriorDecision, Receipt,
    ReceiptKind, check_judicial_use, effective_handling, find_grant,
};
use liaison_protocol::directory::{FocalPointRecord, RecordStatus};
use liaison_protocol::handling::{Dissemination, Handling, JudicialUse, Loosening};
use liaison_protocol::message::payload_hash;
use liaison_protocol::message::{Content, Payload, SignedPayload};
use liaison_protocol::{
    ConversationId, DirectoryId, MessageId, SecretKey, Signed, Timestamp, VerifyError,
};
use proptest::prelude::*;

const MSG: MessageId = MessageId([7; 16]);
const OTHER: MessageId = MessageId([8; 16]);
const NOW: Timestamp = Timestamp(1_800_000_000_000);

fn scope(s: &str) -> ConsentScope {
    ConsentScope::parse_text(s).unwrap()
}

fn decision(s: &str, granted: bool, valid_until: Option<Timestamp>) -> ConsentDecision {
    ConsentDecision {
        request_id: [1; 16],
        message_id: MSG,
        scope: scope(s),
        granted,
        conditions: String::new(),
        decided_by: id("th.dsi.alice"),
        decided_at: Timestamp(NOW.0 - 60_000),
        valid_until,
    }
}

fn record(id_: &str, key: &SecretKey) -> FocalPointRecord {
    let id = id(id_);
    FocalPointRecord {
        country: id.country(),
        id,
        version: 1,
        name: "Test".into(),
        agency: "DSI".into(),
        unit: String::new(),
        roles: vec![],
        languages: vec![],
        time_zone: String::new(),
        working_hours: String::new(),
        notes: String::new(),
        identity_key: key.public_key(),
        devices: vec![],
        device_endorsements: vec![],
        device_proofs: vec![],
        format: liaison_protocol::directory::RecordFormat::Proofs,
        not_before: Timestamp(0),
        not_after: Timestamp(u64::MAX),
        status: RecordStatus::Active,
    }
}

// --- scopes -----------------------------------------------------------------

fn any_scope() -> impl Strategy<Value = ConsentScope> {
    prop_oneof![
        proptest::collection::btree_set(
            "(th|ph|vn)\\.[a-z]{2,5}\\.[a-z0-9]{1,8}".prop_map(|s| DirectoryId::parse(&s).unwrap()),
            1..6
        )
        .prop_map(|set| ConsentScope::Forward {
            recipients: set.into_iter().rev().collect()
        }),
        "[A-Za-z0-9/()-][A-Za-z0-9 /().:#-]{0,30}[A-Za-z0-9/()-]"
            .prop_map(|c| { ConsentScope::JudicialUse { case_reference: c } }),
        purpose().prop_map(|purpose| ConsentScope::Purpose { purpose }),
        time().prop_map(|until| ConsentScope::Retention { until }),
    ]
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn scope_text_round_trips(s in any_scope()) {
        prop_assert_eq!(s.check_wellformed(), Ok(()));
        let text = s.to_text();
        prop_assert_eq!(ConsentScope::parse_text(&text), Ok(s.clone()), "{}", text);
        prop_assert_eq!(text.parse::<ConsentScope>(), Ok(s.clone()));
        // Coverage is reflexive.
        prop_assert!(s.covers(&s));
    }

    #[test]
    fn arbitrary_scope_text_never_panics(s in ".{0,60}") {
        if let Ok(scope) = ConsentScope::parse_text(&s) {
            prop_assert_eq!(scope.check_wellformed(), Ok(()));
            prop_assert_eq!(ConsentScope::parse_text(&scope.to_text()), Ok(scope));
        }
    }

    /// A forward grant covers exactly the subsets of its recipients.
    #[test]
    fn forward_grant_covers_only_its_recipients(g in any_scope(), n in any_scope()) {
        if let (ConsentScope::Forward { recipients: gr }, ConsentScope::Forward { recipients: nr }) = (&g, &n) {
            prop_assert_eq!(g.covers(&n), nr.iter().all(|r| gr.contains(r)));
        } else if std::mem::discriminant(&g) != std::mem::discriminant(&n) {
            prop_assert!(!g.covers(&n));
        }
    }
}

#[test]
fn scope_errors() {
    assert_eq!(ConsentScope::parse_text(" "), Err(ConsentError::Empty));
    assert!(matches!(
        ConsentScope::parse_text("export:x"),
        Err(ConsentError::UnknownKind { .. })
    ));
    assert!(matches!(
        ConsentScope::parse_text("forward:ph.pnp.bob,ph.pnp.bob"),
        Err(ConsentError::Duplicate { .. })
    ));
    assert!(matches!(
        ConsentScope::parse_text("purpose:fishing"),
        Err(ConsentError::Purpose(_))
    ));
    let long = format!("judicial:{}", "C".repeat(129));
    assert!(matches!(
        ConsentScope::parse_text(&long),
        Err(ConsentError::BadValue { .. })
    ));
    let many: Vec<String> = (0..65).map(|i| format!("ph.pnp.p{i}")).collect();
    assert!(matches!(
        ConsentScope::parse_text(&format!("forward:{}", many.join(","))),
        Err(ConsentError::BadValue { .. })
    ));
    assert_eq!(
        scope("forward:ph.pnp.bob,vn.mps.lan").describe(),
        "forward it to ph.pnp.bob, vn.mps.lan"
    );
    assert_eq!(
        scope("purpose:prosecution").describe(),
        "use it for prosecuting offenders"
    );
}

// --- coverage -----------------------------------------------------------------

#[test]
fn a_grant_for_x_does_not_cover_y() {
    let g = decision("forward:ph.pnp.bob", true, None);
    assert!(g.covers(&MSG, &scope("forward:ph.pnp.bob"), NOW));
    assert!(!g.covers(&MSG, &scope("forward:vn.mps.lan"), NOW));
    assert!(!g.covers(&MSG, &scope("forward:ph.pnp.bob,vn.mps.lan"), NOW));
    assert!(!g.covers(&OTHER, &scope("forward:ph.pnp.bob"), NOW));
}

#[test]
fn judicial_consent_covers_only_its_message_and_case() {
    let g = decision("judicial:CASE-123", true, None);
    assert!(g.covers(&MSG, &scope("judicial:CASE-123"), NOW));
    assert!(!g.covers(&OTHER, &scope("judicial:CASE-123"), NOW));
    assert!(!g.covers(&MSG, &scope("judicial:CASE-124"), NOW));
    assert!(!g.covers(&MSG, &scope("forward:ph.pnp.bob"), NOW));
    assert!(!g.covers(&MSG, &scope("purpose:prosecution"), NOW));
}

#[test]
fn expired_and_refused_decisions_cover_nothing() {
    let lapsed = decision("forward:ph.pnp.bob", true, Some(NOW));
    assert!(!lapsed.covers(&MSG, &scope("forward:ph.pnp.bob"), NOW));
    assert!(lapsed.covers(&MSG, &scope("forward:ph.pnp.bob"), Timestamp(NOW.0 - 1)));
    let refused = decision("forward:ph.pnp.bob", false, None);
    assert!(!refused.covers(&MSG, &scope("forward:ph.pnp.bob"), NOW));
    let alice = id("th.dsi.alice");
    let mallory = id("th.dsi.mallory");
    let grants = [decision("forward:ph.pnp.bob", true, None)];
    assert!(find_grant(&grants, &MSG, &alice, &scope("forward:ph.pnp.bob"), NOW).is_some());
    assert!(find_grant(&grants, &MSG, &mallory, &scope("forward:ph.pnp.bob"), NOW).is_none());
}

#[test]
fn retention_grant_extends_to_its_date() {
    let g = decision("retain:2028-01-01", true, None);
    assert!(g.covers(&MSG, &scope("retain:2027-12-31"), NOW));
    assert!(g.covers(&MSG, &scope("retain:2028-01-01"), NOW));
    assert!(!g.covers(&MSG, &scope("retain:2028-01-02"), NOW));
}

// --- effective handling ---------------------------------------------------------

#[test]
fn effective_handling_applies_current_grants_of_the_originator() {
    let alice = id("th.dsi.alice");
    let original = Handling::parse_text("AMBER purpose=rescue retain=2027-06-30").unwrap();
    let mut purpose = decision("purpose:prosecution", true, None);
    purpose.conditions = "only for the Mae Sot case".into();
    let retain = decision("retain:2028-01-01", true, None);
    let shorter = decision("retain:2027-01-01", true, None);
    let lapsed = decision("purpose:intelligence-analysis", true, Some(NOW));
    let refused = decision("purpose:border-control", false, None);
    let mut foreign = decision("purpose:victim-support", true, None);
    foreign.decided_by = id("th.dsi.somchai");
    let mut other_msg = decision("purpose:prevention", true, None);
    other_msg.message_id = OTHER;
    let grants = [
        purpose, retain, shorter, lapsed, refused, foreign, other_msg,
    ];
    let e = effective_handling(&original, &MSG, &alice, &grants, NOW);
    assert_eq!(e.purposes, ["rescue", "prosecution"]);
    assert_eq!(e.retain_until, Timestamp::parse_rfc3339("2028-01-01"));
    assert_eq!(
        e.conditions,
        "(purpose:prosecution) only for the Mae Sot case"
    );
    assert_eq!(e.dissemination, original.dissemination);
    assert!(
        e.explain()
            .iter()
            .any(|l| l.contains("prosecuting offenders"))
    );
    // Without grants, nothing changes; with no purpose list, a purpose
    // grant adds nothing (purposes were not restricted).
    assert_eq!(
        effective_handling(&original, &MSG, &alice, &[], NOW),
        original
    );
    let open = Handling::default();
    assert_eq!(effective_handling(&open, &MSG, &alice, &grants, NOW), open);
}

proptest! {
    #![proptest_config(config(256))]

    /// Grants only ever loosen purposes and retention, never anything else.
    #[test]
    fn effective_handling_only_touches_granted_fields(h in handling(), s in any_scope(), granted in any::<bool>()) {
        let alice = id("th.dsi.alice");
        let mut d = decision("judicial:X", granted, None);
        d.scope = s;
        let e = effective_handling(&h, &MSG, &alice, &[d], NOW);
        for l in e.loosenings(&h) {
            prop_assert!(
                matches!(l, Loosening::PurposesAdded { .. } | Loosening::RetentionExtended { .. }),
                "{:?}", l
            );
        }
        prop_assert_eq!(e.dissemination, h.dissemination);
        prop_assert_eq!(e.judicial_use, h.judicial_use);
        prop_assert_eq!(e.onward, h.onward);
        prop_assert_eq!(e.protect_victims, h.protect_victims);
        prop_assert_eq!(e.evaluation, h.evaluation);
        if !granted {
            prop_assert_eq!(e, h);
        }
    }
}

// --- judicial use ---------------------------------------------------------------

#[test]
fn judicial_export_refused_without_consent_and_allowed_after_a_grant() {
    let alice = id("th.dsi.alice");
    let h = Handling::parse_text("RED judicial=with-consent").unwrap();
    let e = check_judicial_use(&h, &MSG, &alice, Some("CASE-123"), &[], NOW).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "Judicial use of this message needs the originator's written consent \
             (judicial=with-consent). Ask the originator th.dsi.alice: \
             liaison consent request {} --scope judicial:CASE-123 --reason \"...\"",
            MSG.to_hex()
        )
    );
    let grants = [decision("judicial:CASE-123", true, None)];
    assert_eq!(
        check_judicial_use(&h, &MSG, &alice, Some("CASE-123"), &grants, NOW),
        Ok(Some(&grants[0]))
    );
    assert_eq!(
        check_judicial_use(&h, &MSG, &alice, None, &grants, NOW),
        Ok(Some(&grants[0]))
    );
    // Another case, another message, another signer, or lapsed: refused.
    assert!(check_judicial_use(&h, &MSG, &alice, Some("CASE-999"), &grants, NOW).is_err());
    assert!(check_judicial_use(&h, &OTHER, &alice, None, &grants, NOW).is_err());
    assert!(check_judicial_use(&h, &MSG, &id("th.dsi.bob"), None, &grants, NOW).is_err());
    let lapsed = [decision("judicial:CASE-123", true, Some(NOW))];
    let e = check_judicial_use(&h, &MSG, &alice, Some("CASE-123"), &lapsed, NOW).unwrap_err();
    assert_eq!(e.prior, PriorDecision::Lapsed(NOW));
    let refused = [decision("judicial:CASE-123", false, None)];
    let e = check_judicial_use(&h, &MSG, &alice, None, &refused, NOW).unwrap_err();
    assert!(matches!(e.prior, PriorDecision::Refused(_)));
    assert!(
        e.to_string().contains("--scope judicial:CASE-REFERENCE"),
        "{e}"
    );
}

#[test]
fn judicial_permitted_needs_nothing_and_prohibited_needs_the_originator() {
    let alice = id("th.dsi.alice");
    let permitted = Handling {
        judicial_use: JudicialUse::Permitted,
        ..Handling::default()
    };
    assert_eq!(
        check_judicial_use(&permitted, &MSG, &alice, None, &[], NOW),
        Ok(None)
    );
    let prohibited = Handling::default();
    let e = check_judicial_use(&prohibited, &MSG, &alice, None, &[], NOW).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("The originator prohibited judicial use"),
        "{e}"
    );
    let grants = [decision("judicial:CASE-1", true, None)];
    assert!(check_judicial_use(&prohibited, &MSG, &alice, None, &grants, NOW).is_ok());
}

// --- signed wire types ------------------------------------------------------------

fn round_trip<T: Wire + PartialEq + std::fmt::Debug>(v: &T) {
    let bytes = v.encode();
    let back = T::decode(&bytes).unwrap();
    assert_eq!(&back, v);
    assert_eq!(back.encode(), bytes);
}

fn never_panics<T: Wire>(bytes: &[u8]) {
    if let Ok(v) = T::decode(bytes) {
        assert_eq!(v.encode(), bytes, "accepted a non-canonical encoding");
    }
}

fn any_request() -> impl Strategy<Value = ConsentRequest> {
    (
        any::<[u8; 16]>(),
        any::<[u8; 16]>(),
        any_scope(),
        "[ -~\n]{0,80}",
        any::<u64>(),
    )
        .prop_map(|(r, m, scope, reason, t)| ConsentRequest {
            request_id: r,
            message_id: MessageId(m),
            scope,
            reason,
            requested_by: id("ph.pnp.bob"),
            created_at: Timestamp(t),
        })
}

fn any_decision() -> impl Strategy<Value = ConsentDecision> {
    (
        any::<[u8; 16]>(),
        any::<[u8; 16]>(),
        any_scope(),
        any::<bool>(),
        "[ -~\n]{0,80}",
        any::<u64>(),
        proptest::option::of(any::<u64>().prop_map(Timestamp)),
    )
        .prop_map(
            |(r, m, scope, granted, conditions, t, valid_until)| ConsentDecision {
                request_id: r,
                message_id: MessageId(m),
                scope,
                granted,
                conditions,
                decided_by: id("th.dsi.alice"),
                decided_at: Timestamp(t),
                valid_until,
            },
        )
}

fn any_receipt() -> impl Strategy<Value = Receipt> {
    (any::<[u8; 16]>(), 0u8..3, any::<[u8; 32]>(), any::<u64>()).prop_map(|(m, k, h, t)| Receipt {
        message_id: MessageId(m),
        kind: match k {
            0 => ReceiptKind::Delivered,
            1 => ReceiptKind::HandlingAcknowledged { payload_hash: h },
            _ => ReceiptKind::Deleted { payload_hash: h },
        },
        by: id("ph.pnp.bob"),
        at: Timestamp(t),
    })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn signed_consent_types_round_trip_and_verify(
        req in any_request(),
        dec in any_decision(),
        rec in any_receipt(),
        seed in any::<[u8; 32]>(),
    ) {
        let bob_key = SecretKey::from_seed(&seed);
        let alice_key = SecretKey::from_seed(&[seed[0] ^ 0x55; 32]);
        let bob = record("ph.pnp.bob", &bob_key);
        let alice = record("th.dsi.alice", &alice_key);

        let s = Signed::sign(&req, &bob_key);
        round_trip(&s);
        prop_assert_eq!(ConsentRequest::verify(&s, &bob), Ok(req.clone()));
        prop_assert!(ConsentRequest::verify(&s, &alice).is_err());

        let s = Signed::sign(&dec, &alice_key);
        round_trip(&s);
        prop_assert_eq!(ConsentDecision::verify(&s, &alice), Ok(dec.clone()));
        prop_assert!(ConsentDecision::verify(&s, &bob).is_err());

        let s = Signed::sign(&rec, &bob_key);
        round_trip(&s);
        prop_assert_eq!(Receipt::verify(&s, &bob), Ok(rec.clone()));
        prop_assert!(Receipt::verify(&s, &alice).is_err());
    }

    #[test]
    fn any_single_byte_change_to_a_decision_is_detected(dec in any_decision(), pos in any::<usize>(), bit in 0u8..8) {
        let key = SecretKey::from_seed(&[3; 32]);
        let alice = record("th.dsi.alice", &key);
        let mut bytes = Signed::sign(&dec, &key).encode();
        let i = pos % bytes.len();
        bytes[i] ^= 1 << bit;
        if let Ok(s) = Signed::<ConsentDecision>::decode(&bytes) {
            prop_assert!(ConsentDecision::verify(&s, &alice).is_err());
        }
    }
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        never_panics::<Signed<ConsentRequest>>(&bytes);
        never_panics::<Signed<ConsentDecision>>(&bytes);
        never_panics::<Signed<Receipt>>(&bytes);
        // Bodies too, as a relay or client would see them after a signature check.
        let key = SecretKey::from_seed(&[9; 32]);
        let _ = Signed::<ConsentRequest>::from_parts(bytes.clone(), key.public_key(), liaison_protocol::Signature([0; 64])).decode_unverified();
        let _ = Signed::<ConsentDecision>::from_parts(bytes.clone(), key.public_key(), liaison_protocol::Signature([0; 64])).decode_unverified();
        let _ = Signed::<Receipt>::from_parts(bytes, key.public_key(), liaison_protocol::Signature([0; 64])).decode_unverified();
    }

    /// Valid encodings with bytes changed: still never a panic.
    #[test]
    fn mutated_valid_encodings_never_panic(dec in any_decision(), req in any_request(), pos in any::<usize>(), b in any::<u8>()) {
        let key = SecretKey::from_seed(&[4; 32]);
        for mut bytes in [Signed::sign(&dec, &key).encode(), Signed::sign(&req, &key).encode()] {
            let i = pos % bytes.len();
            bytes[i] = b;
            never_panics::<Signed<ConsentDecision>>(&bytes);
            never_panics::<Signed<ConsentRequest>>(&bytes);
            bytes.truncate(i);
            never_panics::<Signed<ConsentDecision>>(&bytes);
            never_panics::<Signed<ConsentRequest>>(&bytes);
        }
    }
}

#[test]
fn verify_rejects_ill_formed_or_misattributed_bodies() {
    let key = SecretKey::from_seed(&[5; 32]);
    let alice = record("th.dsi.alice", &key);
    let mut d = decision("forward:ph.pnp.bob", true, None);
    d.conditions = "hidden \u{202E}text".into();
    assert_eq!(
        ConsentDecision::verify(&Signed::sign(&d, &key), &alice),
        Err(VerifyError::Inconsistent(
            "consent conditions are at most 2048 bytes of printable text"
        ))
    );
    let mut d = decision("forward:ph.pnp.bob", true, None);
    d.decided_by = id("th.dsi.somchai");
    assert!(matches!(
        ConsentDecision::verify(&Signed::sign(&d, &key), &alice),
        Err(VerifyError::Inconsistent(_))
    ));
    let mut d = decision("forward:ph.pnp.bob", true, None);
    d.scope = ConsentScope::Forward { recipients: vec![] };
    assert!(ConsentDecision::verify(&Signed::sign(&d, &key), &alice).is_err());
    let r = Receipt {
        message_id: MSG,
        kind: ReceiptKind::Delivered,
        by: id("ph.pnp.bob"),
        at: NOW,
    };
    assert!(matches!(
        Receipt::verify(&Signed::sign(&r, &key), &alice),
        Err(VerifyError::Inconsistent(_))
    ));
}

/// Known answer: the encodings are pinned, so a change to the wire format
/// is deliberate.
#[test]
fn encodings_are_pinned() {
    let r = Receipt {
        message_id: MessageId([0xab; 16]),
        kind: ReceiptKind::Deleted {
            payload_hash: [0x11; 32],
        },
        by: id("ph.pnp.bob"),
        at: Timestamp(1),
    };
    let body = liaison_protocol::codec::encode_body(&r);
    let mut expected = vec![0xab; 16];
    expected.push(2); // ReceiptKind::Deleted
    expected.extend([0x11; 32]);
    expected.push(10);
    expected.extend(b"ph.pnp.bob");
    expected.push(1);
    assert_eq!(body, expected);

    let s = ConsentScope::Forward {
        recipients: vec![id("ph.pnp.bob")],
    };
    let body = liaison_protocol::codec::encode_body(&s);
    let mut expected = vec![0, 1, 10];
    expected.extend(b"ph.pnp.bob");
    assert_eq!(body, expected);
}

#[test]
fn deletion_record_carries_the_sha256_of_the_signed_payload() {
    let key = SecretKey::from_seed(&[6; 32]);
    let p = Payload {
        message_id: MSG,
        sender: id("th.dsi.alice"),
        sender_device: key.public_key(),
        recipients: vec![id("ph.pnp.bob")],
        resolved: vec![id("ph.pnp.bob")],
        conversation_id: ConversationId([1; 16]),
        created_at: NOW,
        handling: Handling::with_dissemination(Dissemination::AmberStrict),
        body: "victim located".into(),
        content: Content::Text,
        attachments: vec![],
        checkpoints: vec![],
    };
    let signed: SignedPayload = Signed::sign(&p, &key);
    let h = payload_hash(&signed);
    use sha2::Digest;
    let direct: [u8; 32] = sha2::Sha256::digest(signed.encode()).into();
    assert_eq!(h, direct);
    // Any change to the payload changes the hash.
    let mut p2 = p.clone();
    p2.handling.retain_until = Some(NOW);
    assert_ne!(payload_hash(&Signed::sign(&p2, &key)), h);
}
