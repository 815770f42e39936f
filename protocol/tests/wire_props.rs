//! Property tests for every wire and disk type: `decode(encode(x)) == x`,
//! decoding arbitrary bytes never panics, and any accepted input re-encodes
//! to exactly the bytes consumed (canonical encoding).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use liaison_protocol::codec::{Wire, decode_versioned, encode_versioned};
use liaison_protocol::directory::{
    AuthorityCertificate, DeviceKeys, FocalPointRecord, RecordFormat, RecordStatus, RoleRecord,
};
use liaison_protocol::frames::{
    Declaration, ErrorCode, FrameReader, IndexedEvent, LogEntry, LogId, Queued, Request, Response,
    WireError, decode_frame, encode_frame,
};
use liaison_protocol::handling::{Dissemination, Handling, JudicialUse, Onward};
use liaison_protocol::log::event::Declared;
use liaison_protocol::message::{
    Content, EnrolmentRequest, Envelope, OlmKind, Payload, Prekey, SignedPayload,
};
use liaison_protocol::{
    ConversationId, CountryCode, DirectoryId, MessageId, PublicKey, SecretKey, Signature, Signed,
    Timestamp,
};
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

fn key() -> impl Strategy<Value = PublicKey> {
    any::<[u8; 32]>().prop_map(PublicKey)
}

fn sig() -> impl Strategy<Value = Signature> {
    (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(a, b)| {
        let mut s = [0u8; 64];
        s[..32].copy_from_slice(&a);
        s[32..].copy_from_slice(&b);
        Signature(s)
    })
}

fn id() -> impl Strategy<Value = DirectoryId> {
    (
        "(th|ph|vn|my)",
        "[a-z]{2,6}",
        "[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?",
    )
        .prop_map(|(c, a, n)| DirectoryId::parse(&format!("{c}.{a}.{n}")).unwrap())
}

fn text() -> impl Strategy<Value = String> {
    ".{0,40}"
}

fn handling() -> impl Strategy<Value = Handling> {
    (
        prop_oneof![
            Just(Dissemination::Red),
            Just(Dissemination::AmberStrict),
            Just(Dissemination::Amber),
            Just(Dissemination::Green),
            Just(Dissemination::Clear)
        ],
        prop_oneof![
            Just(JudicialUse::Prohibited),
            Just(JudicialUse::WithConsent),
            Just(JudicialUse::Permitted)
        ],
        any::<bool>(),
        proptest::collection::vec("[a-z-]{1,12}", 0..4),
        any::<bool>(),
        proptest::option::of(any::<u64>().prop_map(Timestamp)),
        text(),
    )
        .prop_map(|(d, j, o, purposes, pv, retain, conditions)| Handling {
            dissemination: d,
            judicial_use: j,
            onward: if o {
                Onward::WithConsent
            } else {
                Onward::PerDissemination
            },
            purposes,
            protect_victims: pv,
            retain_until: retain,
            conditions,
            evaluation: None,
        })
}

fn envelope() -> impl Strategy<Value = Envelope> {
    (
        any::<[u8; 16]>(),
        key(),
        key(),
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 1..200),
    )
        .prop_map(|(m, s, r, pre, ct)| Envelope {
            message_id: MessageId(m),
            sender_device: s,
            recipient_device: r,
            kind: if pre {
                OlmKind::PreKey
            } else {
                OlmKind::Normal
            },
            ciphertext: ct,
        })
}

fn prekey() -> impl Strategy<Value = Prekey> {
    (key(), any::<[u8; 32]>(), any::<bool>(), sig()).prop_map(
        |(device, key, fallback, signature)| Prekey {
            device,
            key,
            fallback,
            signature,
        },
    )
}

fn record() -> impl Strategy<Value = FocalPointRecord> {
    (
        id(),
        any::<u64>(),
        text(),
        text(),
        key(),
        proptest::collection::vec((key(), any::<[u8; 32]>()), 1..3),
        any::<bool>(),
    )
        .prop_map(|(id, version, name, agency, identity_key, devs, revoked)| {
            FocalPointRecord {
                country: id.country(),
                id,
                version,
                name,
                agency,
                unit: "unit".into(),
                roles: vec!["th.dsi.tip-duty".into()],
                languages: vec!["th".into()],
                time_zone: "Asia/Bangkok".into(),
                working_hours: String::new(),
                notes: String::new(),
                identity_key,
                device_endorsements: devs.iter().map(|_| Signature([3; 64])).collect(),
                device_proofs: devs.iter().map(|_| Some(Signature([4; 64]))).collect(),
                format: RecordFormat::Proofs,
                devices: devs
                    .into_iter()
                    .map(|(signing, agreement)| DeviceKeys { signing, agreement })
                    .collect(),
                not_before: Timestamp(1),
                not_after: Timestamp(2),
                status: if revoked {
                    RecordStatus::Revoked {
                        reason: "left".into(),
                    }
                } else {
                    RecordStatus::Active
                },
            }
        })
}

fn role() -> Signed<RoleRecord> {
    let k = SecretKey::from_seed(&[4; 32]);
    Signed::sign(
        &RoleRecord {
            id: DirectoryId::parse("th.dsi.tip-duty").unwrap(),
            version: 3,
            country: CountryCode::parse("TH").unwrap(),
            name: "Duty desk".into(),
            description: "24/7".into(),
            holders: vec![DirectoryId::parse("th.dsi.somchai").unwrap()],
            not_before: Timestamp(0),
            not_after: Timestamp(9),
        },
        &k,
    )
}

fn signed_record() -> impl Strategy<Value = Signed<FocalPointRecord>> {
    (record(), any::<[u8; 32]>())
        .prop_map(|(r, seed)| Signed::sign(&r, &SecretKey::from_seed(&seed)))
}

fn authority() -> impl Strategy<Value = Signed<AuthorityCertificate>> {
    (text(), any::<u64>(), any::<bool>(), any::<[u8; 32]>()).prop_map(
        |(name, serial, revoked, seed)| {
            let k = SecretKey::from_seed(&seed);
            let c = AuthorityCertificate {
                country: CountryCode::parse("TH").unwrap(),
                name,
                key: k.public_key(),
                serial,
                not_before: Timestamp(0),
                not_after: Timestamp(serial),
                revoked,
            };
            Signed::sign(&c, &k)
        },
    )
}

fn queued() -> impl Strategy<Value = Queued> {
    (any::<u64>(), any::<u64>(), envelope()).prop_map(|(seq, accepted_at, envelope)| Queued {
        seq,
        accepted_at,
        envelope,
    })
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        Just(Request::Challenge),
        (key(), sig()).prop_map(|(device, signature)| Request::Authenticate { device, signature }),
        Just(Request::Ping),
        Just(Request::GetDirectory),
        authority().prop_map(Request::PublishAuthority),
        (signed_record(), proptest::collection::vec(prekey(), 0..3))
            .prop_map(|(record, prekeys)| Request::PublishRecord { record, prekeys }),
        proptest::collection::vec(prekey(), 0..3).prop_map(Request::UploadPrekeys),
        Just(Request::PrekeyCount),
        key().prop_map(|device| Request::ClaimPrekey { device }),
        (
            any::<[u8; 16]>(),
            proptest::collection::vec(envelope(), 0..3)
        )
            .prop_map(|(m, envelopes)| Request::Send {
                message_id: MessageId(m),
                envelopes,
                declare: vec![Declaration {
                    kind: Declared::HandlingAcknowledged,
                    refers_to: MessageId([m[0]; 16]),
                    commitment: [m[1]; 32],
                }],
            }),
        (any::<u64>(), any::<u32>()).prop_map(|(after, limit)| Request::Fetch { after, limit }),
        proptest::collection::vec(any::<u64>(), 0..5).prop_map(|seqs| Request::Ack { seqs }),
        Just(Request::Subscribe),
        (any::<bool>(), any::<u8>()).prop_map(|(d, m)| Request::GetCheckpoint {
            log: if d { LogId::Directory } else { LogId::Events },
            min_cosignatures: m
        }),
        (any::<u64>(), any::<u64>()).prop_map(|(old, new)| Request::GetConsistency {
            log: LogId::Events,
            old,
            new
        }),
        (any::<u64>(), any::<u64>()).prop_map(|(index, size)| Request::GetInclusion {
            log: LogId::Directory,
            index,
            size
        }),
        (any::<u64>(), any::<u32>()).prop_map(|(start, count)| Request::GetEntries {
            log: LogId::Events,
            start,
            count
        }),
        any::<[u8; 16]>().prop_map(|m| Request::GetMessageEvents {
            message_id: MessageId(m)
        }),
        text().prop_map(|note| Request::AddCosignature {
            log: LogId::Directory,
            note
        }),
        (any::<[u8; 32]>(), any::<u64>())
            .prop_map(|(blob, size)| Request::BlobBegin { blob, size }),
        (
            any::<[u8; 32]>(),
            any::<u64>(),
            proptest::collection::vec(any::<u8>(), 0..64)
        )
            .prop_map(|(blob, index, chunk)| Request::BlobChunk { blob, index, chunk }),
        (any::<[u8; 32]>(), any::<[u8; 16]>()).prop_map(|(blob, m)| Request::BlobGrant {
            blob,
            message_id: MessageId(m)
        }),
        (any::<[u8; 32]>(), any::<u64>(), any::<u32>())
            .prop_map(|(blob, start, count)| Request::BlobFetch { blob, start, count }),
    ]
}

fn error_code() -> impl Strategy<Value = ErrorCode> {
    prop_oneof![
        Just(ErrorCode::Malformed),
        Just(ErrorCode::FrameTooLarge),
        Just(ErrorCode::Unauthenticated),
        Just(ErrorCode::AuthFailed),
        Just(ErrorCode::UnknownDevice),
        Just(ErrorCode::UnknownRecipient),
        Just(ErrorCode::QueueFull),
        Just(ErrorCode::RateLimited),
        Just(ErrorCode::Internal),
        Just(ErrorCode::StaleVersion),
        Just(ErrorCode::BlobTooLarge),
        Just(ErrorCode::QuotaExceeded),
    ]
}

fn response() -> impl Strategy<Value = Response> {
    prop_oneof![
        any::<[u8; 32]>().prop_map(|nonce| Response::Challenge { nonce }),
        id().prop_map(|id| Response::Authenticated { id }),
        Just(Response::Ok),
        any::<u64>().prop_map(|now| Response::Pong { now }),
        (
            proptest::collection::vec(authority(), 0..2),
            proptest::collection::vec(signed_record(), 0..3)
        )
            .prop_map(|(authorities, records)| Response::Directory {
                authorities,
                records,
                roles: vec![role()],
            }),
        (any::<u32>(), any::<bool>())
            .prop_map(|(one_time, fallback)| Response::PrekeyCount { one_time, fallback }),
        prekey().prop_map(Response::Prekey),
        (any::<[u8; 16]>(), any::<bool>()).prop_map(|(m, duplicate)| Response::Accepted {
            message_id: MessageId(m),
            duplicate
        }),
        (proptest::collection::vec(queued(), 0..3), any::<bool>())
            .prop_map(|(items, more)| Response::Messages { items, more }),
        queued().prop_map(Response::Push),
        (error_code(), text())
            .prop_map(|(code, message)| Response::Error(WireError { code, message })),
        Just(Response::AuditorAuthenticated),
        Just(Response::AuthorityAuthenticated {
            country: CountryCode::parse("PH").unwrap()
        }),
        text().prop_map(|note| Response::Checkpoint { note }),
        proptest::collection::vec(any::<[u8; 32]>(), 0..5)
            .prop_map(|hashes| Response::Proof { hashes }),
        proptest::collection::vec(
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..40).prop_map(LogEntry::Directory),
                proptest::collection::vec(any::<u8>(), 0..40).prop_map(LogEntry::Event),
                any::<[u8; 32]>().prop_map(LogEntry::Commitment),
            ],
            0..4
        )
        .prop_map(|entries| Response::Entries { entries }),
        (any::<u64>(), proptest::collection::vec(any::<u8>(), 0..40)).prop_map(|(index, event)| {
            Response::MessageEvents {
                events: vec![IndexedEvent { index, event }],
            }
        }),
        (any::<u64>(), any::<u64>())
            .prop_map(|(confirmed, chunks)| Response::BlobProgress { confirmed, chunks }),
        (
            any::<u64>(),
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..4)
        )
            .prop_map(|(start, chunks)| Response::BlobChunks { start, chunks }),
    ]
}

fn payload() -> impl Strategy<Value = Payload> {
    (
        any::<[u8; 16]>(),
        id(),
        key(),
        proptest::collection::vec(id(), 1..4),
        any::<[u8; 16]>(),
        any::<u64>(),
        handling(),
        ".{0,200}",
    )
        .prop_map(
            |(m, sender, dev, recipients, conv, t, handling, body)| Payload {
                message_id: MessageId(m),
                sender,
                sender_device: dev,
                resolved: recipients.clone(),
                recipients,
                conversation_id: ConversationId(conv),
                created_at: Timestamp(t),
                handling,
                body,
                content: if t % 2 == 0 {
                    Content::Text
                } else {
                    Content::Handover {
                        role: DirectoryId::parse("th.dsi.tip-duty").unwrap(),
                        messages: vec![vec![1, 2, 3]],
                    }
                },
                attachments: Vec::new(),
                checkpoints: vec!["origin\n1\nAAAA\n".into()],
            },
        )
}

/// Round trip plus canonicality of re-encoding.
fn round_trip<T: Wire + PartialEq + std::fmt::Debug>(v: &T) {
    let bytes = v.encode();
    let back = T::decode(&bytes).unwrap();
    assert_eq!(&back, v);
    assert_eq!(back.encode(), bytes);
    // Framed, too.
    let framed = encode_frame(v);
    assert_eq!(&decode_frame::<T>(&framed, framed.len()).unwrap(), v);
}

/// Arbitrary bytes: decoding never panics, and anything accepted is canonical.
fn never_panics<T: Wire>(bytes: &[u8]) {
    if let Ok(v) = T::decode(bytes) {
        assert_eq!(v.encode(), bytes, "accepted a non-canonical encoding");
    }
    let mut r = FrameReader::new(1 << 16);
    r.push(bytes);
    let _ = r.next_frame::<T>();
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn requests_round_trip(r in request()) {
        round_trip(&r);
    }

    #[test]
    fn responses_round_trip(r in response()) {
        round_trip(&r);
    }

    #[test]
    fn signed_payloads_round_trip_and_verify(p in payload(), seed in any::<[u8; 32]>()) {
        let k = SecretKey::from_seed(&seed);
        let s: SignedPayload = Signed::sign(&p, &k);
        round_trip(&s);
        prop_assert_eq!(s.verify_by(&k.public_key()).unwrap(), p);
    }

    #[test]
    fn any_single_byte_change_to_a_signed_payload_is_detected(p in payload(), seed in any::<[u8; 32]>(), pos in any::<usize>(), bit in 0u8..8) {
        let k = SecretKey::from_seed(&seed);
        let mut bytes = Signed::sign(&p, &k).encode();
        let i = pos % bytes.len();
        bytes[i] ^= 1 << bit;
        if let Ok(s) = SignedPayload::decode(&bytes) {
            prop_assert!(s.verify_by(&k.public_key()).is_err());
        }
    }

    #[test]
    fn enrolment_requests_round_trip(r in signed_record(), pks in proptest::collection::vec(prekey(), 0..3), seed in any::<[u8; 32]>()) {
        let rec = r.decode_unverified().unwrap();
        let req = EnrolmentRequest {
            id: rec.id.clone(),
            country: rec.country,
            name: rec.name.clone(),
            agency: rec.agency.clone(),
            unit: String::new(),
            languages: vec![],
            time_zone: String::new(),
            identity_key: rec.identity_key,
            device: rec.devices[0],
            device_proof: Signature([1; 64]),
            device_endorsement: Signature([2; 64]),
            prekeys: pks,
            created_at: Timestamp(5),
        };
        round_trip(&Signed::sign(&req, &SecretKey::from_seed(&seed)));
    }

    #[test]
    fn disk_types_round_trip(rec in record(), h in handling(), e in envelope()) {
        let rb = encode_versioned(&rec);
        prop_assert_eq!(decode_versioned::<FocalPointRecord>(&rb, 1 << 16).unwrap(), rec);
        let hb = encode_versioned(&h);
        prop_assert_eq!(decode_versioned::<Handling>(&hb, 1 << 16).unwrap(), h);
        let eb = encode_versioned(&e);
        prop_assert_eq!(decode_versioned::<Envelope>(&eb, 1 << 16).unwrap(), e);
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        never_panics::<Request>(&bytes);
        never_panics::<Response>(&bytes);
        never_panics::<SignedPayload>(&bytes);
        never_panics::<Signed<EnrolmentRequest>>(&bytes);
        let _ = decode_versioned::<FocalPointRecord>(&bytes, 1 << 16);
        let _ = decode_versioned::<Envelope>(&bytes, 1 << 16);
        let _ = decode_frame::<Request>(&bytes, 1 << 16);
    }

    #[test]
    fn mutated_valid_frames_never_panic(r in request(), pos in any::<usize>(), byte in any::<u8>(), cut in any::<usize>()) {
        let mut bytes = r.encode();
        let i = pos % bytes.len();
        bytes[i] = byte;
        never_panics::<Request>(&bytes);
        bytes.truncate(cut % (bytes.len() + 1));
        never_panics::<Request>(&bytes);
    }
}
