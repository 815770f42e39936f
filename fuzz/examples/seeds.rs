//! Writes the seed corpus into `fuzz/corpus/<target>/seed-*`:
//!
//! ```text
//! cargo run -p liaison-fuzz --example seeds
//! ```
//!
//! Seeds are real encodings made with the protocol's own constructors and
//! the evidence tests' synthetic network (`protocol/tests/evidence_support`,
//! whose keys are the ones in `liaison_fuzz::fixture`), the published
//! signed-note and Merkle vectors the project keeps in `protocol/tests/data`,
//! and the example relay configurations in `deploy/`. Run it once, then let
//! `scripts/fuzz` grow and minimise the corpus; the replay test
//! (`tests/corpus.rs`) runs whatever is committed.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]

#[path = "../../protocol/tests/evidence_support/mod.rs"]
mod evidence_support;

use std::path::{Path, PathBuf};

use evidence_support::{CASE, CREATED, MSG, Net, cert, grant, id, key, record};
use liaison_fuzz::export::{self, File};
use liaison_fuzz::fixture;
use liaison_protocol::armor::{ArmorKind, armor_wire};
use liaison_protocol::bundle::{AuthorityKeyFile, Bundle, PendingAuthorityKey};
use liaison_protocol::codec::{Wire, encode_body};
use liaison_protocol::consent::{ConsentRequest, ConsentScope, Receipt, ReceiptKind};
use liaison_protocol::directory::{
    DeviceKeys, FocalPointRecord, RecordStatus, RoleRecord, endorse_device, prove_device,
};
use liaison_protocol::evidence::Evidence;
use liaison_protocol::frames::{
    Declaration, ErrorCode, IndexedEvent, LogEntry, LogId, Queued, Request, Response, WireError,
    encode_frame,
};
use liaison_protocol::handling::Handling;
use liaison_protocol::log::event::{
    Declared, DirectoryEntry, DisclosedEvent, EventKind, EventRecord,
};
use liaison_protocol::log::{
    Checkpoint, Hash, Note, NoteSigner, TlogProof, consistency_proof, inclusion_proof, leaf_hash,
    root,
};
use liaison_protocol::message::{
    AttachmentRef, Content, DeviceApproval, DeviceRequest, EnrolmentRequest, Envelope, OlmKind,
    Prekey, SignedPayload,
};
use liaison_protocol::{
    CountryCode, MessageId, PublicKey, SecretKey, Signed, SignedBody, Timestamp,
};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

/// Write one seed; every seed must already pass its target.
fn put(target: &str, name: &str, bytes: impl AsRef<[u8]>) {
    let bytes = bytes.as_ref();
    let f = liaison_fuzz::TARGETS
        .iter()
        .find(|(n, _)| *n == target)
        .unwrap_or_else(|| panic!("no target {target}"))
        .1;
    f(bytes);
    let dir = corpus_dir().join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
}

fn prekey(device: &SecretKey, n: u8, fallback: bool) -> Prekey {
    let key = [n; 32];
    Prekey {
        device: device.public_key(),
        key,
        fallback,
        signature: device.sign(
            Prekey::DOMAIN,
            &Prekey::signed_bytes(&device.public_key(), &key, fallback),
        ),
    }
}

fn envelope(net: &Net, ciphertext: Vec<u8>) -> Envelope {
    Envelope {
        message_id: MSG,
        sender_device: net.alice_device.public_key(),
        recipient_device: net.bob_device.public_key(),
        kind: OlmKind::PreKey,
        ciphertext,
    }
}

fn role() -> RoleRecord {
    RoleRecord {
        id: id("th.dsi.tip-duty"),
        version: 3,
        country: CountryCode::parse("TH").unwrap(),
        name: "DSI trafficking duty desk".into(),
        description: "Round the clock; escalate to the deputy director.".into(),
        holders: vec![id("th.dsi.alice"), id("th.dsi.carol")],
        not_before: Timestamp(CREATED.0 - 86_400_000),
        not_after: Timestamp(CREATED.0 + 86_400_000),
    }
}

fn handling(text: &str) -> Handling {
    Handling::parse_text(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// A log of `leaves`, its checkpoint note at `size` signed by `log` (and
/// optionally the witness), and inclusion proofs.
fn signed_checkpoint(log: &NoteSigner, leaves: &[Hash], size: usize, cosign: bool) -> String {
    let cp = Checkpoint::new(log.name(), size as u64, root(&leaves[..size])).unwrap();
    let mut note = cp.sign(log).unwrap();
    if cosign {
        note.add_signature(fixture::witness().cosign(&cp, 1_800_000_000).unwrap())
            .unwrap();
    }
    note.encode().unwrap()
}

fn directory_entries(net: &Net) -> Vec<DirectoryEntry> {
    let th = Signed::sign(&cert("TH", &net.th), &net.root);
    let ph = Signed::sign(&cert("PH", &net.ph), &net.root);
    let mut revoked = cert("PH", &net.ph);
    revoked.serial = 2;
    revoked.revoked = true;
    let alice = Signed::sign(
        &record("th.dsi.alice", &net.alice, &net.alice_device),
        &net.th,
    );
    let bob = Signed::sign(&record("ph.pnp.bob", &net.bob, &net.bob_device), &net.ph);
    let mut alice2 = record("th.dsi.alice", &net.alice, &net.alice_device);
    alice2.version = 2;
    alice2.status = RecordStatus::Revoked {
        reason: "left the unit".into(),
    };
    vec![
        DirectoryEntry::Authority(th),
        DirectoryEntry::Authority(ph),
        DirectoryEntry::Record(alice),
        DirectoryEntry::Record(bob),
        DirectoryEntry::Role(Signed::sign(&role(), &net.th)),
        DirectoryEntry::Record(Signed::sign(&alice2, &net.th)),
        DirectoryEntry::Authority(Signed::sign(&revoked, &net.root)),
    ]
}

fn events(net: &Net) -> Vec<DisclosedEvent> {
    let alice = net.alice_device.public_key();
    let bob = net.bob_device.public_key();
    let kinds = vec![
        EventKind::Accepted {
            message_id: MSG,
            sender_device: alice,
            recipient_devices: vec![bob],
            bytes: 1000,
        },
        EventKind::Delivered {
            message_id: MSG,
            recipient_device: bob,
        },
        EventKind::Acknowledged {
            message_id: MSG,
            recipient_device: bob,
        },
        EventKind::Accepted {
            message_id: MessageId([0x43; 16]),
            sender_device: bob,
            recipient_devices: vec![alice],
            bytes: 300,
        },
        EventKind::Declared {
            message_id: MessageId([0x43; 16]),
            refers_to: MSG,
            kind: Declared::HandlingAcknowledged,
            commitment: [7; 32],
            by_device: bob,
        },
        EventKind::Dropped {
            message_id: MessageId([0x43; 16]),
            recipient_device: alice,
            reason: "device revoked".into(),
        },
    ];
    kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| {
            DisclosedEvent::new(
                [i as u8 + 100; 32],
                &EventRecord {
                    seq: i as u64,
                    time: Timestamp(CREATED.0 + 1000 * i as u64),
                    kind,
                },
            )
        })
        .collect()
}

fn payloads(net: &Net) -> Vec<(&'static str, SignedPayload)> {
    let spec = net.spec();
    let base = spec.payload.clone();
    let plain = Signed::sign(&base, &net.alice);
    let mut forward = base.clone();
    forward.message_id = MessageId([0x51; 16]);
    forward.content = Content::Forward {
        original: plain.encode(),
    };
    forward.handling = handling("RED judicial=prohibited");
    let receipt = Signed::sign(
        &Receipt {
            message_id: MSG,
            kind: ReceiptKind::Delivered,
            by: id("ph.pnp.bob"),
            at: CREATED,
        },
        &net.bob,
    );
    let mut receipts = base.clone();
    receipts.content = Content::Receipts(vec![receipt]);
    let mut consent = base.clone();
    consent.content = Content::ConsentDecision(Signed::sign(&grant(CASE), &net.alice));
    let mut request = base.clone();
    request.content = Content::ConsentRequest(Signed::sign(&consent_request(), &net.bob));
    let mut handover = base.clone();
    handover.content = Content::Handover {
        role: id("th.dsi.tip-duty"),
        messages: vec![plain.encode()],
    };
    let mut case = base.clone();
    case.content = Content::Case(liaison_protocol::case::CaseChange {
        seq: 1,
        previous: [4; 32],
        action: liaison_protocol::case::CaseAction::Add(vec![id("vn.mps.van")]),
        case: liaison_protocol::case::CaseInfo {
            title: "Pier 7 boat".into(),
            reference: Some("TH-2026-114".into()),
            handling: handling("AMBER"),
            owner: id("th.dsi.alice"),
            members: vec![id("th.dsi.alice"), id("ph.pnp.bob"), id("vn.mps.van")],
        },
    });
    let mut rich = base.clone();
    rich.attachments = vec![AttachmentRef {
        name: "passport.jpg".into(),
        media_type: "image/jpeg".into(),
        size: 123_456,
        sha256: [1; 32],
        key: [2; 32],
        blob: [3; 32],
    }];
    rich.checkpoints = vec![signed_checkpoint(
        &fixture::log_signer(LogId::Events).unwrap(),
        &[leaf_hash(b"a"), leaf_hash(b"b")],
        2,
        false,
    )];
    rich.handling = handling(
        "TLP:AMBER judicial=with-consent onward=with-consent purpose=investigation,prosecution \
         retain=2027-06-30 eval=B2 conditions=\"Do not contact the victim.\"",
    );
    vec![
        ("text", plain),
        ("forward", Signed::sign(&forward, &net.alice)),
        ("receipts", Signed::sign(&receipts, &net.bob)),
        ("consent-decision", Signed::sign(&consent, &net.alice)),
        ("consent-request", Signed::sign(&request, &net.bob)),
        ("handover", Signed::sign(&handover, &net.alice)),
        ("case", Signed::sign(&case, &net.alice)),
        ("attachments", Signed::sign(&rich, &net.alice)),
    ]
}

fn consent_request() -> ConsentRequest {
    ConsentRequest {
        request_id: [3; 16],
        message_id: MSG,
        scope: ConsentScope::JudicialUse {
            case_reference: CASE.into(),
        },
        reason: "The prosecutor needs the message as evidence.".into(),
        requested_by: id("ph.pnp.bob"),
        created_at: CREATED,
    }
}

fn scopes() -> Vec<(&'static str, ConsentScope)> {
    vec![
        (
            "forward",
            ConsentScope::Forward {
                recipients: vec![id("ph.pnp.bob"), id("vn.mps.lan")],
            },
        ),
        (
            "judicial",
            ConsentScope::JudicialUse {
                case_reference: CASE.into(),
            },
        ),
        (
            "purpose",
            ConsentScope::Purpose {
                purpose: "other:labour-inspection".into(),
            },
        ),
        (
            "retain",
            ConsentScope::Retention {
                until: Timestamp(1_830_000_000_123),
            },
        ),
    ]
}

fn enrolment(identity: &SecretKey, device: &SecretKey) -> Signed<EnrolmentRequest> {
    let id = id("vn.mps.lan");
    let dev = DeviceKeys {
        signing: device.public_key(),
        agreement: [9; 32],
    };
    let proof = prove_device(device, &id, &identity.public_key(), &dev);
    let r = EnrolmentRequest {
        country: id.country(),
        name: "Nguyễn Văn Lan".into(),
        agency: "Bộ Công an".into(),
        unit: "Cục Cảnh sát hình sự".into(),
        languages: vec!["vi".into(), "en".into()],
        time_zone: "Asia/Ho_Chi_Minh".into(),
        identity_key: identity.public_key(),
        device_proof: proof,
        device_endorsement: endorse_device(identity, &id, &dev),
        device: dev,
        prekeys: vec![prekey(device, 1, false), prekey(device, 2, true)],
        created_at: CREATED,
        id,
    };
    Signed::sign(&r, identity)
}

fn device_request(device: &SecretKey) -> Signed<DeviceRequest> {
    Signed::sign(
        &DeviceRequest {
            id: id("th.dsi.alice"),
            device: DeviceKeys {
                signing: device.public_key(),
                agreement: [8; 32],
            },
            transfer_key: [4; 32],
            prekeys: vec![prekey(device, 3, false)],
            created_at: CREATED,
        },
        device,
    )
}

/// A genuine attachment as the `attachment_chunks` target reads it: the
/// signed size and SHA-256, then the sealed chunks.
fn attachment_seed(plain: &[u8]) -> Vec<u8> {
    let (chunks, sealed) =
        liaison_protocol::attachment::seal_all(&liaison_fuzz::ATTACHMENT_KEY, plain).unwrap();
    let mut out = sealed.size.to_le_bytes().to_vec();
    out.extend_from_slice(&sealed.sha256);
    for c in chunks {
        out.extend_from_slice(&c);
    }
    out
}

fn main() {
    let net = Net::default();

    put("attachment_chunks", "empty", attachment_seed(b""));
    put("attachment_chunks", "small", attachment_seed(&[b'x'; 1000]));
    let chunk = liaison_protocol::attachment::CHUNK_SIZE;
    put(
        "attachment_chunks",
        "two-chunks",
        attachment_seed(&vec![7u8; chunk + 10]),
    );
    let dir_log = fixture::log_signer(LogId::Directory).unwrap();
    let ev_log = fixture::log_signer(LogId::Events).unwrap();

    // The directory log and the event log of the fixture network.
    let entries = directory_entries(&net);
    let dir_leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(&e.encode())).collect();
    let dir_note = signed_checkpoint(&dir_log, &dir_leaves, dir_leaves.len(), false);
    let disclosed = events(&net);
    let ev_leaves: Vec<Hash> = disclosed.iter().map(DisclosedEvent::leaf_hash).collect();
    let ev_note = signed_checkpoint(&ev_log, &ev_leaves, ev_leaves.len(), true);

    // Objects.
    let payloads = payloads(&net);
    let th_cert = Signed::sign(&cert("TH", &net.th), &net.root);
    let alice_record = Signed::sign(
        &record("th.dsi.alice", &net.alice, &net.alice_device),
        &net.th,
    );
    let role = Signed::sign(&role(), &net.th);
    let enrol = enrolment(&key(30), &key(31));
    let dev_req = device_request(&key(32));
    let approval = DeviceApproval {
        request: dev_req.clone(),
        identity_key: net.alice.public_key(),
        known_devices: vec![net.alice_device.public_key()],
        endorsement: net.alice.sign("device-endorsement", b"x"),
        ephemeral: [5; 32],
        sealed_identity: vec![0xa5; 80],
        device_proof: Some(net.alice.sign("device-proof", b"x")),
    };
    let pending = PendingAuthorityKey {
        key: net.th.clone(),
        country: CountryCode::parse("TH").unwrap(),
        name: "กองบังคับการปราบปรามการกระทำความผิดเกี่ยวกับการค้ามนุษย์".into(),
    };
    let auth_req = pending.request(CREATED);
    let envelopes = vec![
        envelope(&net, payloads[0].1.encode()),
        Envelope {
            kind: OlmKind::Normal,
            ..envelope(&net, vec![1, 2, 3])
        },
    ];

    // frame_request / frame_response: every variant.
    let requests = vec![
        Request::Challenge,
        Request::Authenticate {
            device: net.bob_device.public_key(),
            signature: net.bob_device.sign("device-auth", &[0; 64]),
        },
        Request::Ping,
        Request::GetDirectory,
        Request::PublishAuthority(th_cert.clone()),
        Request::PublishRecord {
            record: alice_record.clone(),
            prekeys: vec![prekey(&net.alice_device, 1, false)],
        },
        Request::PublishRole(role.clone()),
        Request::UploadPrekeys(vec![
            prekey(&net.bob_device, 1, false),
            prekey(&net.bob_device, 2, true),
        ]),
        Request::PrekeyCount,
        Request::ClaimPrekey {
            device: net.alice_device.public_key(),
        },
        Request::Send {
            message_id: MSG,
            envelopes: envelopes.clone(),
            declare: vec![Declaration {
                kind: Declared::DeliveryReceipt,
                refers_to: MSG,
                commitment: [6; 32],
            }],
        },
        Request::Fetch {
            after: 17,
            limit: 256,
        },
        Request::Ack {
            seqs: vec![1, 2, 300, u64::MAX],
        },
        Request::Subscribe,
        Request::GetCheckpoint {
            log: LogId::Events,
            min_cosignatures: 1,
        },
        Request::GetConsistency {
            log: LogId::Directory,
            old: 3,
            new: 7,
        },
        Request::GetInclusion {
            log: LogId::Events,
            index: 2,
            size: 6,
        },
        Request::GetEntries {
            log: LogId::Directory,
            start: 0,
            count: 512,
        },
        Request::GetMessageEvents { message_id: MSG },
        Request::AddCosignature {
            log: LogId::Events,
            note: ev_note.clone(),
        },
    ];
    let mut stream = Vec::new();
    for (i, r) in requests.iter().enumerate() {
        put("frame_request", &format!("{i:02}"), encode_frame(r));
        stream.extend(encode_frame(r));
    }
    put("frame_request", "stream", &stream);

    let queued = Queued {
        seq: 9,
        accepted_at: CREATED.0,
        envelope: envelopes[0].clone(),
    };
    let responses = vec![
        Response::Challenge { nonce: [3; 32] },
        Response::Authenticated {
            id: id("ph.pnp.bob"),
        },
        Response::AuditorAuthenticated,
        Response::AuthorityAuthenticated {
            country: CountryCode::parse("PH").unwrap(),
        },
        Response::Ok,
        Response::Pong { now: CREATED.0 },
        Response::Directory {
            authorities: vec![th_cert.clone()],
            records: vec![alice_record.clone()],
            roles: vec![role.clone()],
        },
        Response::PrekeyCount {
            one_time: 42,
            fallback: true,
        },
        Response::Prekey(prekey(&net.alice_device, 7, false)),
        Response::Accepted {
            message_id: MSG,
            duplicate: false,
        },
        Response::Messages {
            items: vec![queued.clone()],
            more: true,
        },
        Response::Push(queued),
        Response::Checkpoint {
            note: dir_note.clone(),
        },
        Response::Proof {
            hashes: inclusion_proof(&dir_leaves, 2, dir_leaves.len() as u64)
                .unwrap()
                .iter()
                .map(|h| h.0)
                .collect(),
        },
        Response::Entries {
            entries: vec![
                LogEntry::Directory(entries[0].encode()),
                LogEntry::Event(disclosed[0].encode()),
                LogEntry::Commitment(disclosed[1].commitment()),
            ],
        },
        Response::MessageEvents {
            events: vec![IndexedEvent {
                index: 0,
                event: disclosed[0].encode(),
            }],
        },
        Response::Error(WireError::new(ErrorCode::RateLimited, "slow down")),
    ];
    let mut stream = Vec::new();
    for (i, r) in responses.iter().enumerate() {
        put("frame_response", &format!("{i:02}"), encode_frame(r));
        stream.extend(encode_frame(r));
    }
    put("frame_response", "stream", &stream);

    // Signed objects and bodies.
    for (name, p) in &payloads {
        put("signed_payload", name, p.encode());
    }
    put("enrolment_request", "valid", enrol.encode());
    put("device_request", "valid", dev_req.encode());
    put("device_approval", "valid", approval.encode());
    put("authority_request", "valid", auth_req.encode());
    put("authority_certificate", "th", th_cert.encode());
    for (i, e) in entries.iter().enumerate() {
        put("directory_entry", &format!("{i}"), e.encode());
        match e {
            DirectoryEntry::Authority(s) => {
                put("authority_certificate", &format!("entry-{i}"), s.encode())
            }
            DirectoryEntry::Record(s) => {
                put("focal_point_record", &format!("entry-{i}"), s.body_bytes())
            }
            DirectoryEntry::Role(s) => put("role_record", &format!("entry-{i}"), s.body_bytes()),
        }
    }
    let mut big: FocalPointRecord = record("my.pdrm.siti", &key(40), &key(41));
    for n in 42..50u8 {
        let d = DeviceKeys {
            signing: key(n).public_key(),
            agreement: [n; 32],
        };
        big.device_endorsements
            .push(endorse_device(&key(40), &big.id, &d));
        big.device_proofs
            .push(Some(prove_device(&key(n), &big.id, &big.identity_key, &d)));
        big.devices.push(d);
    }
    big.roles = vec!["my.pdrm.atip-duty".into()];
    big.working_hours = "Isnin-Jumaat 08:00-17:00".into();
    big.notes = "Bahasa Melayu, English".into();
    put("focal_point_record", "many-devices", big.to_body());
    for (i, d) in disclosed.iter().enumerate() {
        put("disclosed_event", &format!("{i}"), d.encode());
        put("event_record", &format!("{i}"), &d.record);
    }
    put(
        "consent_request",
        "judicial",
        Signed::sign(&consent_request(), &net.bob).encode(),
    );
    for (name, scope) in scopes() {
        let mut r = consent_request();
        r.scope = scope.clone();
        put("consent_request", name, Signed::sign(&r, &net.bob).encode());
        let mut d = grant(CASE);
        d.scope = scope.clone();
        d.granted = name != "forward";
        d.valid_until = Some(Timestamp(CREATED.0 + 86_400_000));
        put(
            "consent_decision",
            name,
            Signed::sign(&d, &net.alice).encode(),
        );
        put("consent_scope_text", name, scope.to_text());
    }
    put("consent_scope_text", "date", "retain:2028-01-01");
    put("consent_scope_text", "purpose-label", "purpose:prosecution");
    for (name, kind) in [
        ("delivered", ReceiptKind::Delivered),
        (
            "acknowledged",
            ReceiptKind::HandlingAcknowledged {
                payload_hash: [1; 32],
            },
        ),
        (
            "deleted",
            ReceiptKind::Deleted {
                payload_hash: [2; 32],
            },
        ),
    ] {
        let r = Receipt {
            message_id: MSG,
            kind,
            by: id("ph.pnp.bob"),
            at: CREATED,
        };
        put("receipt", name, Signed::sign(&r, &net.bob).encode());
    }
    for (name, text) in [
        ("red", "RED"),
        ("clear", "TLP:CLEAR onward=per-tlp protect-victims=no"),
        ("white", "tlp:white"),
        (
            "full",
            "TLP:AMBER+STRICT judicial=with-consent onward=with-consent \
             purpose=victim-identification,rescue,other:labour-inspection protect-victims \
             retain=2027-06-30T12:00:00.250Z eval=A1 conditions=\"No copies.\\nNo press.\"",
        ),
        (
            "green",
            "GREEN judicial=permitted purposes=prevention retain=2030-01-01",
        ),
    ] {
        put("handling_text", name, text);
        put(
            "handling_text",
            &format!("{name}-canonical"),
            handling(text).to_text(),
        );
    }

    // Signed notes, keys, checkpoints, cosignatures, proofs.
    let vectors: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../protocol/tests/data/signed-note/go-sumdb-note.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let s = |k: &str| vectors[k].as_str().unwrap().to_owned();
    put("note", "vector-one", s("signed_by_PeterNeumann"));
    put("note", "vector-both", s("signed_by_both"));
    for (i, bad) in vectors["malformed_notes_must_be_rejected"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        put("note", &format!("vector-bad-{i}"), bad.as_str().unwrap());
    }
    put("note", "directory-checkpoint", &dir_note);
    put("note", "cosigned-checkpoint", &ev_note);
    put("note_keys", "vector-skey", s("signer_key"));
    for (name, v) in vectors["verifier_keys"].as_object().unwrap() {
        put(
            "note_keys",
            &format!("vector-vkey-{name}"),
            v.as_str().unwrap(),
        );
    }
    for (i, bad) in vectors["bad_verifier_keys"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        put(
            "note_keys",
            &format!("vector-bad-{i}"),
            bad.as_str().unwrap(),
        );
    }
    put("note_keys", "log-vkey", dir_log.verifier().to_vkey());
    put("note_keys", "log-skey", dir_log.to_skey().as_bytes());
    put(
        "note_keys",
        "witness-vkey",
        fixture::witness().verifier().to_vkey(),
    );
    put(
        "note_keys",
        "witness-skey",
        fixture::witness().to_skey().as_bytes(),
    );

    let note_text = |n: &str| Note::parse(n.as_bytes()).unwrap().text().to_owned();
    put("checkpoint", "directory", note_text(&dir_note));
    put("checkpoint", "events", note_text(&ev_note));
    put(
        "checkpoint",
        "empty",
        Checkpoint::new("liaison.example/events", 0, root(&[]))
            .unwrap()
            .to_text(),
    );
    put(
        "checkpoint",
        "extensions",
        Checkpoint::with_extensions(
            "example.com/log",
            u64::MAX,
            leaf_hash(b"x"),
            vec!["ext one".into(), "— x".into()],
        )
        .unwrap()
        .to_text(),
    );
    put("cosignature", "events", &ev_note);
    put("cosignature", "directory", &dir_note);
    let mut two = Note::parse(ev_note.as_bytes()).unwrap();
    let ev_cp = Checkpoint::from_text(two.text()).unwrap();
    two.add_signature(
        liaison_protocol::log::CosignatureSigner::from_seed("witness2.example", &[13; 32])
            .unwrap()
            .cosign(&ev_cp, 7)
            .unwrap(),
    )
    .unwrap();
    put("cosignature", "two-witnesses", two.encode().unwrap());

    for (i, d) in disclosed.iter().enumerate() {
        let p = TlogProof::new(
            i as u64,
            inclusion_proof(&ev_leaves, i as u64, ev_leaves.len() as u64).unwrap(),
            &ev_note,
        )
        .unwrap()
        .with_extra(d.encode())
        .unwrap()
        .encode();
        put("tlog_proof", &format!("event-{i}"), &p);
        put("audit_proof_bundle", &format!("event-{i}"), &p);
        liaison_audit::verify_proof_bundle(p.as_bytes(), &fixture::trust()).unwrap();
    }
    for (i, e) in entries.iter().enumerate() {
        let p = TlogProof::new(
            i as u64,
            inclusion_proof(&dir_leaves, i as u64, dir_leaves.len() as u64).unwrap(),
            &dir_note,
        )
        .unwrap();
        put("tlog_proof", &format!("directory-{i}"), p.encode());
        let p = p.with_extra(e.encode()).unwrap().encode();
        put("audit_proof_bundle", &format!("directory-{i}"), &p);
        liaison_audit::verify_proof_bundle(p.as_bytes(), &fixture::trust()).unwrap();
    }

    // The Merkle vectors: inclusion proofs as tlog-proof bundles relative
    // to a checkpoint of their tree, consistency proofs as proof files.
    let merkle = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../protocol/tests/data/transparency-dev-merkle");
    for kind in ["inclusion", "consistency"] {
        let mut files = Vec::new();
        walk(&merkle.join(kind), &mut files);
        files.sort();
        for f in files {
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
            let hashes: Vec<Hash> = v["proof"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|h| Hash::from_base64(h.as_str()?))
                        .collect()
                })
                .unwrap_or_default();
            let name = f
                .strip_prefix(&merkle)
                .unwrap()
                .to_string_lossy()
                .replace(['/', '[', ']', '@'], "-");
            if v["wantErr"].as_bool() == Some(false) {
                put(
                    "audit_proof_text",
                    &name,
                    hashes
                        .iter()
                        .map(|h| h.to_base64() + "\n")
                        .collect::<String>(),
                );
            }
            if kind == "inclusion"
                && v["wantErr"].as_bool() == Some(false)
                && let (Some(size), Some(index), Some(r)) = (
                    v["treeSize"].as_u64(),
                    v["leafIdx"].as_u64(),
                    v["root"].as_str().and_then(Hash::from_base64),
                )
                && size > 0
            {
                let cp = Checkpoint::new(ev_log.name(), size, r).unwrap();
                let note = cp.sign(&ev_log).unwrap().encode().unwrap();
                let p = TlogProof::new(index, hashes, &note).unwrap().encode();
                put("tlog_proof", &name, p);
            }
        }
    }
    for name in [
        "12.note",
        "12-1.note",
        "0.note",
        "3.bin",
        "5-12.proof",
        "012.note",
    ] {
        put("audit_proof_text", &format!("name-{name}"), name);
    }

    // The auditor's export of each log, as the container of
    // `liaison_fuzz::export`.
    let dir_files = log_files(
        &dir_log,
        &dir_leaves,
        &entries.iter().map(Wire::encode).collect::<Vec<_>>(),
    );
    put(
        "audit_log_export",
        "directory",
        export::encode(LogId::Directory, &dir_files),
    );
    let ev_files = log_files(
        &ev_log,
        &ev_leaves,
        &disclosed.iter().map(Wire::encode).collect::<Vec<_>>(),
    );
    put(
        "audit_log_export",
        "events",
        export::encode(LogId::Events, &ev_files),
    );
    // The genuine exports verify, so the fuzzer starts past the signatures.
    for (log, files) in [(LogId::Directory, &dir_files), (LogId::Events, &ev_files)] {
        let (l, ex) = export::parse(&export::encode(log, files));
        let mut report = liaison_audit::Report::default();
        let summary = liaison_audit::verify_log(
            l,
            &ex,
            &fixture::policy(log).unwrap(),
            Some(&fixture::root().public_key()),
            &mut report,
        );
        assert!(report.is_ok(), "{}", report.render());
        assert_eq!(summary.roots_matched, 2);
    }
    let mut swapped = ev_files.clone();
    let (a, b) = (swapped[5].data.clone(), swapped[6].data.clone());
    swapped[5].data = b;
    swapped[6].data = a;
    put(
        "audit_log_export",
        "events-swapped",
        export::encode(LogId::Events, &swapped),
    );

    // Files: bundle, authority key files, evidence, armour.
    let bundle = Bundle {
        network: "ASEAN anti-trafficking liaison".into(),
        root_key: net.root.public_key().to_hex(),
        relay_addr: "relay.liaison.example:7443".into(),
        relay_cert_sha256: format!("{}, {}", "ab".repeat(32), "cd".repeat(32)),
        directory_log_key: dir_log.verifier().to_vkey(),
        event_log_key: ev_log.verifier().to_vkey(),
        witness_keys: fixture::witness().verifier().to_vkey(),
        witness_quorum: "1".into(),
    };
    put("bundle_toml", "full", bundle.to_toml());
    put(
        "bundle_toml",
        "minimal",
        format!(
            "network = \"dev\"\nroot_key = \"{}\"\nrelay_addr = \"127.0.0.1:7443\"\n\
             relay_cert_sha256 = \"{}\"\n",
            net.root.public_key().to_hex(),
            "00".repeat(32)
        ),
    );
    let th_file = AuthorityKeyFile {
        key: net.th.clone(),
        certificate: th_cert.clone(),
        country: CountryCode::parse("TH").unwrap(),
    };
    put("authority_key_file", "certified", th_file.to_toml());
    put("authority_key_file", "pending", pending.to_toml());
    put(
        "authority_key_file",
        "development",
        th_file.to_development_toml(),
    );
    let cheap = liaison_admin::sealed::SealParams {
        m_cost: 8 * 1024,
        t_cost: 1,
        p_cost: 1,
    };
    let root_plain = liaison_protocol::bundle::root_key_toml(&net.root, false);
    let sealed = |plain: &str, contains: &str, label: &str| {
        liaison_admin::sealed::seal(
            plain,
            contains,
            label,
            liaison_fuzz::SEALED_PASSPHRASE,
            cheap,
            [7; 16],
            [9; 24],
        )
        .unwrap()
    };
    put(
        "sealed_key",
        "root",
        sealed(&root_plain, "liaison-root-key", "root"),
    );
    put(
        "sealed_key",
        "authority",
        sealed(&th_file.to_toml(), "liaison-authority-key", "TH"),
    );
    put("sealed_key", "root-clear", root_plain.as_bytes());
    put(
        "sealed_key",
        "root-development",
        liaison_protocol::bundle::root_key_toml(&net.root, true).as_bytes(),
    );
    put("sealed_key", "root-hex", format!("{}\n", "ab".repeat(32)));

    let evidence: Evidence = net.evidence(&net.spec());
    let bundle = net.sign(&evidence);
    put("evidence_bundle", "binary", bundle.encode());
    put("evidence_bundle", "text", bundle.to_text());
    put("evidence_verify", "genuine", encode_body(&evidence));
    liaison_protocol::evidence::verify_evidence(&bundle, &fixture::pins(), fixture::NOW).unwrap();
    let mut spec = net.spec();
    spec.unrelated_event = true;
    spec.receipts = false;
    put(
        "evidence_verify",
        "unrelated-event",
        encode_body(&net.evidence(&spec)),
    );

    put(
        "armor",
        "enrolment-request",
        armor_wire(ArmorKind::EnrolmentRequest, &enrol),
    );
    put(
        "armor",
        "device-request",
        armor_wire(ArmorKind::DeviceRequest, &dev_req),
    );
    put(
        "armor",
        "device-approval",
        armor_wire(ArmorKind::DeviceApproval, &approval),
    );
    put(
        "armor",
        "authority-request",
        armor_wire(ArmorKind::AuthorityRequest, &auth_req),
    );
    put(
        "armor",
        "authority-certificate",
        armor_wire(ArmorKind::AuthorityCertificate, &th_cert),
    );
    let mut revoked = cert("TH", &net.th);
    revoked.revoked = true;
    put(
        "armor",
        "authority-revocation",
        armor_wire(
            ArmorKind::AuthorityRevocation,
            &Signed::sign(&revoked, &net.root),
        ),
    );

    // The relay's configuration: the shipped examples and a full one.
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    for name in ["relay.dev.toml", "relay.prod.toml"] {
        put(
            "relay_config",
            name,
            std::fs::read(deploy.join(name)).unwrap(),
        );
    }
    put(
        "relay_config",
        "full",
        format!(
            "listen = \"[::]:7443\"\ndata_dir = \"data\"\nroot_key = \"{}\"\n\
             tls_cert = \"tls.crt\"\ntls_key = \"tls.key\"\ncontrol_socket = \"c.sock\"\n\n\
             [limits]\nmax_frame = 4096\nfetch_batch = 1\nsend_burst = 0\n\n\
             [logs]\nname = \"relay.example\"\nwitnesses = [\"{}\"]\nauditors = [\"{}\"]\n\n\
             [metrics]\nlisten = \"127.0.0.1:9464\"\n\n[logging]\nformat = \"json\"\nlevel = \"warn\"\n",
            PublicKey([7; 32]).to_hex(),
            fixture::witness().verifier().to_vkey(),
            PublicKey([8; 32]).to_hex(),
        ),
    );
}

/// The files of one exported log: entries, checkpoints at two sizes (one
/// as a signed note, one as text the harness signs), the consistency proof
/// between them and the leaf hashes.
fn log_files(log: &NoteSigner, leaves: &[Hash], entries: &[Vec<u8>]) -> Vec<File> {
    let n = leaves.len();
    let old = n / 2;
    let mut files: Vec<File> = Vec::new();
    files.push(File {
        tag: 0,
        name: format!("{n}.note"),
        data: signed_checkpoint(log, leaves, n, false).into_bytes(),
    });
    files.push(File {
        tag: 1,
        name: format!("{old}.note"),
        data: Checkpoint::new(log.name(), old as u64, root(&leaves[..old]))
            .unwrap()
            .to_text()
            .into_bytes(),
    });
    files.push(File {
        tag: 2,
        name: format!("{old}-{n}.proof"),
        data: consistency_proof(leaves, old as u64, n as u64)
            .unwrap()
            .iter()
            .map(|h| h.to_base64() + "\n")
            .collect::<String>()
            .into_bytes(),
    });
    files.push(File {
        tag: 4,
        name: String::new(),
        data: leaves.iter().flat_map(|h| h.0).collect(),
    });
    for (i, e) in entries.iter().enumerate() {
        files.push(File {
            tag: 3,
            name: format!("{i}.bin"),
            data: e.clone(),
        });
    }
    files
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}
