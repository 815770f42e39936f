//! A synthetic network for the `evidence_*` tests: a root, two country
//! authorities, an originator (`th.dsi.alice`) and a recipient
//! (`ph.pnp.bob`), a directory log and an event log with signed
//! checkpoints, and a builder for evidence bundles about one message.

#![allow(dead_code, clippy::unwrap_used, clippy::indexing_slicing)]

use liaison_protocol::codec::Wire;
use liaison_protocol::consent::{ConsentDecision, ConsentScope, Receipt, ReceiptKind};
use liaison_protocol::directory::{
    AuthorityCertificate, DeviceKeys, FocalPointRecord, RecordFormat, RecordStatus, endorse_device,
    prove_device,
};
use liaison_protocol::evidence::{Evidence, EvidenceBundle, LoggedRecord, Pins};
use liaison_protocol::handling::{Dissemination, Handling, JudicialUse};
use liaison_protocol::log::event::{
    Declared, DirectoryEntry, DisclosedEvent, EventKind, EventRecord,
};
use liaison_protocol::log::{
    Checkpoint, Hash, LogPolicy, NoteSigner, TlogProof, inclusion_proof, leaf_hash, root,
};
use liaison_protocol::message::payload_hash;
use liaison_protocol::message::{Content, Payload, SignedPayload};
use liaison_protocol::{
    ConversationId, CountryCode, DirectoryId, MessageId, PublicKey, SecretKey, Signed, Timestamp,
};
use sha2::{Digest, Sha256};

pub const MSG: MessageId = MessageId([0x42; 16]);
pub const CARRIER: MessageId = MessageId([0x43; 16]);
pub const GRANT_CARRIER: MessageId = MessageId([0x44; 16]);
pub const CASE: &str = "OSG 2026/41";
/// When the message was created.
pub const CREATED: Timestamp = Timestamp(1_800_000_000_000);
/// When the bundle was exported.
pub const EXPORTED: Timestamp = Timestamp(1_800_000_600_000);
/// The verifier's clock.
pub const NOW: Timestamp = Timestamp(1_900_000_000_000);

pub fn id(s: &str) -> DirectoryId {
    DirectoryId::parse(s).unwrap()
}

pub fn key(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32])
}

/// Everyone's keys.
pub struct Net {
    pub root: SecretKey,
    pub th: SecretKey,
    pub ph: SecretKey,
    pub alice: SecretKey,
    pub alice_device: SecretKey,
    pub bob: SecretKey,
    pub bob_device: SecretKey,
    pub mallory: SecretKey,
    pub directory_log: NoteSigner,
    pub event_log: NoteSigner,
}

impl Default for Net {
    fn default() -> Self {
        Net {
            root: key(1),
            th: key(2),
            ph: key(3),
            alice: key(4),
            alice_device: key(5),
            bob: key(6),
            bob_device: key(7),
            mallory: key(8),
            directory_log: NoteSigner::from_seed("liaison.example/directory", &[10; 32]).unwrap(),
            event_log: NoteSigner::from_seed("liaison.example/events", &[11; 32]).unwrap(),
        }
    }
}

pub fn cert(country: &str, k: &SecretKey) -> AuthorityCertificate {
    AuthorityCertificate {
        country: CountryCode::parse(country).unwrap(),
        name: format!("{country} authority"),
        key: k.public_key(),
        serial: 1,
        not_before: Timestamp(CREATED.0 - 86_400_000),
        not_after: Timestamp(CREATED.0 + 30 * 86_400_000),
        revoked: false,
    }
}

pub fn record(id_: &str, identity: &SecretKey, device: &SecretKey) -> FocalPointRecord {
    let id = id(id_);
    let dev = DeviceKeys {
        signing: device.public_key(),
        agreement: device.public_key().0,
    };
    FocalPointRecord {
        country: id.country(),
        version: 1,
        name: format!("Officer {id_}"),
        agency: "Agency".into(),
        unit: "Anti-trafficking".into(),
        roles: vec![],
        languages: vec!["en".into()],
        time_zone: "UTC".into(),
        working_hours: String::new(),
        notes: String::new(),
        identity_key: identity.public_key(),
        device_endorsements: vec![endorse_device(identity, &id, &dev)],
        device_proofs: vec![Some(prove_device(
            device,
            &id,
            &identity.public_key(),
            &dev,
        ))],
        devices: vec![dev],
        format: RecordFormat::Proofs,
        not_before: Timestamp(CREATED.0 - 86_400_000),
        not_after: Timestamp(CREATED.0 + 30 * 86_400_000),
        status: RecordStatus::Active,
        id,
    }
}

/// SHA-256 of a signed object's canonical encoding (what a `declared`
/// event commits to).
pub fn object_hash(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// What goes into a bundle; every field can be changed before
/// [`Spec::build`].
pub struct Spec {
    pub handling: Handling,
    pub th_cert: AuthorityCertificate,
    pub ph_cert: AuthorityCertificate,
    pub alice_record: FocalPointRecord,
    pub bob_record: FocalPointRecord,
    pub payload: Payload,
    /// Consents to include (signed by `alice` unless `consent_signer` is set).
    pub consents: Vec<ConsentDecision>,
    pub consent_signer: Option<SecretKey>,
    pub receipts: bool,
    pub with_acceptance: bool,
    /// An extra event about another message to slip into the bundle.
    pub unrelated_event: bool,
    pub case_reference: Option<String>,
    pub exporter: DirectoryId,
    pub exported_at: Timestamp,
}

pub fn grant(case: &str) -> ConsentDecision {
    ConsentDecision {
        request_id: [3; 16],
        message_id: MSG,
        scope: ConsentScope::JudicialUse {
            case_reference: case.to_owned(),
        },
        granted: true,
        conditions: "Only for the trial of the recruiters.".into(),
        decided_by: id("th.dsi.alice"),
        decided_at: Timestamp(EXPORTED.0 - 60_000),
        valid_until: None,
    }
}

impl Net {
    pub fn pins(&self) -> Pins {
        Pins {
            root: self.root.public_key(),
            directory_log: LogPolicy::new(self.directory_log.verifier()).unwrap(),
            event_log: LogPolicy::new(self.event_log.verifier()).unwrap(),
        }
    }

    /// A bundle for a `judicial=with-consent` message with a grant for
    /// [`CASE`], exported by bob.
    pub fn spec(&self) -> Spec {
        let handling = Handling {
            judicial_use: JudicialUse::WithConsent,
            ..Handling::with_dissemination(Dissemination::AmberStrict)
        };
        let payload = Payload {
            message_id: MSG,
            sender: id("th.dsi.alice"),
            sender_device: self.alice_device.public_key(),
            recipients: vec![id("ph.pnp.bob")],
            resolved: vec![id("ph.pnp.bob")],
            conversation_id: ConversationId([5; 16]),
            created_at: CREATED,
            handling: handling.clone(),
            body: "The recruiter's phone number is +00 000 000.".into(),
            content: Content::Text,
            attachments: vec![],
            checkpoints: vec![],
        };
        Spec {
            handling,
            th_cert: cert("TH", &self.th),
            ph_cert: cert("PH", &self.ph),
            alice_record: record("th.dsi.alice", &self.alice, &self.alice_device),
            bob_record: record("ph.pnp.bob", &self.bob, &self.bob_device),
            payload,
            consents: vec![grant(CASE)],
            consent_signer: None,
            receipts: true,
            with_acceptance: true,
            unrelated_event: false,
            case_reference: Some(CASE.to_owned()),
            exporter: id("ph.pnp.bob"),
            exported_at: EXPORTED,
        }
    }

    /// Build the evidence (unsigned) described by `spec`.
    pub fn evidence(&self, spec: &Spec) -> Evidence {
        let mut payload = spec.payload.clone();
        payload.handling = spec.handling.clone();
        let signed: SignedPayload = Signed::sign(&payload, &self.alice);
        let hash = payload_hash(&signed);

        // Directory log: both authorities, then both records, plus noise.
        let th = Signed::sign(&spec.th_cert, &self.root);
        let ph = Signed::sign(&spec.ph_cert, &self.root);
        let alice = Signed::sign(&spec.alice_record, &self.th);
        let bob = Signed::sign(&spec.bob_record, &self.ph);
        let noise = Signed::sign(&record("th.dsi.carol", &key(20), &key(21)), &self.th);
        let entries = [
            DirectoryEntry::Authority(th.clone()),
            DirectoryEntry::Record(noise),
            DirectoryEntry::Authority(ph.clone()),
            DirectoryEntry::Record(alice.clone()),
            DirectoryEntry::Record(bob.clone()),
        ];
        let dir_leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(&e.encode())).collect();
        let dir_note = self.note(&self.directory_log, &dir_leaves);
        let dir_proof = |i: u64| {
            TlogProof::new(
                i,
                inclusion_proof(&dir_leaves, i, dir_leaves.len() as u64).unwrap(),
                &dir_note,
            )
            .unwrap()
            .encode()
        };
        let originator = LoggedRecord {
            authority: th,
            authority_proof: dir_proof(0),
            record: alice,
            record_proof: dir_proof(3),
        };
        let bob_logged = LoggedRecord {
            authority: ph,
            authority_proof: dir_proof(2),
            record: bob,
            record_proof: dir_proof(4),
        };

        // Receipts and consents.
        let mut receipts = Vec::new();
        if spec.receipts {
            for (kind, at) in [
                (ReceiptKind::Delivered, CREATED.0 + 1_000),
                (
                    ReceiptKind::HandlingAcknowledged { payload_hash: hash },
                    CREATED.0 + 5_000,
                ),
            ] {
                receipts.push(Signed::sign(
                    &Receipt {
                        message_id: MSG,
                        kind,
                        by: id("ph.pnp.bob"),
                        at: Timestamp(at),
                    },
                    &self.bob,
                ));
            }
        }
        let consent_key = spec.consent_signer.as_ref().unwrap_or(&self.alice);
        let consents: Vec<Signed<ConsentDecision>> = spec
            .consents
            .iter()
            .map(|c| Signed::sign(c, consent_key))
            .collect();

        // Event log.
        let alice_dev = self.alice_device.public_key();
        let bob_dev = self.bob_device.public_key();
        let mut kinds = vec![EventKind::Accepted {
            message_id: MessageId([1; 16]),
            sender_device: bob_dev,
            recipient_devices: vec![alice_dev],
            bytes: 10,
        }];
        if spec.with_acceptance {
            kinds.push(EventKind::Accepted {
                message_id: MSG,
                sender_device: alice_dev,
                recipient_devices: vec![bob_dev],
                bytes: 1000,
            });
        }
        kinds.push(EventKind::Delivered {
            message_id: MSG,
            recipient_device: bob_dev,
        });
        kinds.push(EventKind::Acknowledged {
            message_id: MSG,
            recipient_device: bob_dev,
        });
        kinds.push(EventKind::Accepted {
            message_id: CARRIER,
            sender_device: bob_dev,
            recipient_devices: vec![alice_dev],
            bytes: 500,
        });
        for r in &receipts {
            let kind = match r.decode_unverified().unwrap().kind {
                ReceiptKind::Delivered => Declared::DeliveryReceipt,
                ReceiptKind::HandlingAcknowledged { .. } => Declared::HandlingAcknowledged,
                ReceiptKind::Deleted { .. } => Declared::Deletion,
            };
            kinds.push(EventKind::Declared {
                message_id: CARRIER,
                refers_to: MSG,
                kind,
                commitment: object_hash(&r.encode()),
                by_device: bob_dev,
            });
        }
        kinds.push(EventKind::Accepted {
            message_id: GRANT_CARRIER,
            sender_device: alice_dev,
            recipient_devices: vec![bob_dev],
            bytes: 500,
        });
        for c in &consents {
            kinds.push(EventKind::Declared {
                message_id: GRANT_CARRIER,
                refers_to: MSG,
                kind: Declared::ConsentGranted,
                commitment: object_hash(&c.encode()),
                by_device: alice_dev,
            });
        }
        let disclosed: Vec<DisclosedEvent> = kinds
            .into_iter()
            .enumerate()
            .map(|(i, kind)| {
                DisclosedEvent::new(
                    [i as u8 + 100; 32],
                    &EventRecord {
                        seq: i as u64,
                        time: Timestamp(CREATED.0 + 500 + i as u64 * 1000),
                        kind,
                    },
                )
            })
            .collect();
        let ev_leaves: Vec<Hash> = disclosed.iter().map(DisclosedEvent::leaf_hash).collect();
        let ev_note = self.note(&self.event_log, &ev_leaves);
        let events = disclosed
            .iter()
            .enumerate()
            .filter(|(i, d)| {
                let r = d.decode_record().unwrap();
                let about = match r.kind {
                    EventKind::Declared { refers_to, .. } => refers_to == MSG,
                    k => *k.message_id() == MSG,
                };
                about || (spec.unrelated_event && *i == 0)
            })
            .map(|(i, d)| {
                TlogProof::new(
                    i as u64,
                    inclusion_proof(&ev_leaves, i as u64, ev_leaves.len() as u64).unwrap(),
                    &ev_note,
                )
                .unwrap()
                .with_extra(d.encode())
                .unwrap()
                .encode()
            })
            .collect();

        Evidence {
            signed_payload: signed.encode(),
            originator,
            events,
            receipts,
            consents,
            signers: vec![bob_logged],
            exporter: spec.exporter.clone(),
            exported_at: spec.exported_at,
            case_reference: spec.case_reference.clone(),
        }
    }

    /// Sign as bob (the exporter).
    pub fn sign(&self, evidence: &Evidence) -> EvidenceBundle {
        EvidenceBundle::sign(evidence, &self.bob)
    }

    /// The default bundle.
    pub fn bundle(&self) -> EvidenceBundle {
        self.sign(&self.evidence(&self.spec()))
    }

    fn note(&self, signer: &NoteSigner, leaves: &[Hash]) -> String {
        Checkpoint::new(signer.name(), leaves.len() as u64, root(leaves))
            .unwrap()
            .sign(signer)
            .unwrap()
            .encode()
            .unwrap()
    }
}

/// The public key of a secret key (shorthand).
pub fn pk(k: &SecretKey) -> PublicKey {
    k.public_key()
}
