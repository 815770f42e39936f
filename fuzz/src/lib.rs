//! `liaison-fuzz`: one fuzz target per decoder of hostile input.
//!
//! Each `pub fn <target>(data: &[u8])` hands `data` to the production
//! decoder, must never panic, and, where the format is canonical, asserts
//! that a successfully decoded value re-encodes to exactly the bytes it was
//! decoded from (STYLE.md, "Decoding hostile input"). Formats that are not
//! canonical by design (TOML files, armour, the handling text form) assert
//! the weaker `decode(encode(x)) == x` instead.
//!
//! The functions run in two harnesses:
//! - `fuzz/libfuzzer/` (nightly, cargo-fuzz): one one-line target per
//!   function, driven by `scripts/fuzz`;
//! - `fuzz/tests/corpus.rs` (stable, `cargo test`): replays every file of
//!   `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`.
//!
//! Where the production code checks a signature before decoding further,
//! the target plays the attacker who holds that key (a sender, an exporter,
//! the relay signing its own checkpoints): it signs the fuzzed content with
//! a fixed test key from [`fixture`], so the fuzzer reaches the checks
//! behind the signature.
//!
//! Non-features: no I/O. Where production code reads files first
//! (`liaison-audit verify`, `RelayConfig::load`), the target calls the pure
//! function behind the read.

use std::any::type_name;

use liaison_admin as admin;
use liaison_audit as audit;
use liaison_protocol::armor;
use liaison_protocol::bundle::AuthorityRequest;
use liaison_protocol::bundle::{AuthorityKeyFile, Bundle, PendingAuthorityKey};
use liaison_protocol::codec::{Wire, encode_body};
use liaison_protocol::consent::{ConsentDecision, ConsentRequest, ConsentScope, Receipt};
use liaison_protocol::directory::{AuthorityCertificate, FocalPointRecord, RoleRecord};
use liaison_protocol::evidence::{
    EVIDENCE_TEXT_BEGIN, Evidence, EvidenceBundle, Pins, verify_evidence,
};
use liaison_protocol::frames::{
    ABSOLUTE_MAX_FRAME, DEFAULT_MAX_FRAME, FrameReader, LogId, Request, Response, decode_frame,
    encode_frame,
};
use liaison_protocol::handling::Handling;
use liaison_protocol::log::cosignature::cosignature_timestamp;
use liaison_protocol::log::event::{DirectoryEntry, DisclosedEvent, EventRecord};
use liaison_protocol::log::{
    Checkpoint, CosignatureSigner, LogPolicy, Note, NoteSigner, NoteVerifier, TlogProof, open_note,
    verify_cosignature,
};
use liaison_protocol::message::{DeviceApproval, DeviceRequest, EnrolmentRequest, SignedPayload};
use liaison_protocol::{PublicKey, Signature, Signed, SignedBody};

/// A fuzz target: decodes `data`, panics only on a bug.
pub type Target = fn(&[u8]);

/// Every target, by name: the libFuzzer target of the same name calls the
/// function, and the corpus lives in `fuzz/corpus/<name>/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("frame_request", frame_request),
    ("frame_response", frame_response),
    ("signed_payload", signed_payload),
    ("enrolment_request", enrolment_request),
    ("device_request", device_request),
    ("device_approval", device_approval),
    ("authority_request", authority_request),
    ("authority_certificate", authority_certificate),
    ("focal_point_record", focal_point_record),
    ("role_record", role_record),
    ("directory_entry", directory_entry),
    ("event_record", event_record),
    ("disclosed_event", disclosed_event),
    ("consent_request", consent_request),
    ("consent_decision", consent_decision),
    ("receipt", receipt),
    ("consent_scope_text", consent_scope_text),
    ("handling_text", handling_text),
    ("note", note),
    ("note_keys", note_keys),
    ("checkpoint", checkpoint),
    ("cosignature", cosignature),
    ("tlog_proof", tlog_proof),
    ("bundle_toml", bundle_toml),
    ("authority_key_file", authority_key_file),
    ("sealed_key", sealed_key),
    ("evidence_bundle", evidence_bundle),
    ("evidence_verify", evidence_verify),
    ("armor", armor),
    ("audit_proof_text", audit_proof_text),
    ("audit_proof_bundle", audit_proof_bundle),
    ("audit_log_export", audit_log_export),
    ("relay_config", relay_config),
    ("attachment_chunks", attachment_chunks),
];

// ---------------------------------------------------------------------------
// Wire frames and binary objects (codec: version byte + canonical postcard)

/// A request frame, whole ([`decode_frame`]) and streamed ([`FrameReader`]).
pub fn frame_request(data: &[u8]) {
    frames::<Request>(data);
}

/// A response frame, whole ([`decode_frame`]) and streamed ([`FrameReader`]).
pub fn frame_response(data: &[u8]) {
    frames::<Response>(data);
}

/// The signed payload carried inside an Olm ciphertext, and its body.
pub fn signed_payload(data: &[u8]) {
    let Some(signed) = wire::<SignedPayload>(data) else {
        return;
    };
    if let Some(p) = body(&signed) {
        let _ = p.check_wellformed();
        handling_has_text_form(&p.handling);
    }
}

/// `liaison init`'s enrolment request, as the authority reads it.
pub fn enrolment_request(data: &[u8]) {
    let Some(signed) = wire::<Signed<EnrolmentRequest>>(data) else {
        return;
    };
    body(&signed);
    let _ = EnrolmentRequest::verify(&signed);
}

/// A new device's request to join an identity.
pub fn device_request(data: &[u8]) {
    let Some(signed) = wire::<Signed<DeviceRequest>>(data) else {
        return;
    };
    body(&signed);
    let _ = DeviceRequest::verify(&signed);
}

/// A device approval, as the new device and the authority read it.
pub fn device_approval(data: &[u8]) {
    // Format 1 approvals (the previous release) are read and migrated, so
    // they re-encode in format 2; only the current format must round-trip.
    let approval = if data.first() == Some(&1) {
        DeviceApproval::decode(data).ok()
    } else {
        wire::<DeviceApproval>(data)
    };
    if let Some(approval) = approval {
        body(&approval.request);
    }
}

/// An authority's request to be certified by the network root.
pub fn authority_request(data: &[u8]) {
    let Some(signed) = wire::<Signed<AuthorityRequest>>(data) else {
        return;
    };
    body(&signed);
    let _ = AuthorityRequest::verify(&signed);
}

/// A root-signed authority certificate or revocation.
pub fn authority_certificate(data: &[u8]) {
    if let Some(signed) = wire::<Signed<AuthorityCertificate>>(data) {
        body(&signed);
    }
}

/// The body of a signed focal point record (it travels inside frames and
/// directory-log entries; this feeds the body decoder directly).
pub fn focal_point_record(data: &[u8]) {
    if let Some(r) = body(&unsigned::<FocalPointRecord>(data)) {
        let _ = r.check_wellformed();
        let _ = r.verify_endorsements();
        let _ = r.verify_device_proofs();
    }
}

/// The body of a signed role record.
pub fn role_record(data: &[u8]) {
    if let Some(r) = body(&unsigned::<RoleRecord>(data)) {
        let _ = r.check_wellformed();
    }
}

/// A directory-log leaf, and the signed object inside it.
pub fn directory_entry(data: &[u8]) {
    let Some(entry) = wire::<DirectoryEntry>(data) else {
        return;
    };
    let _ = entry.leaf_hash();
    match &entry {
        DirectoryEntry::Authority(s) => {
            body(s);
        }
        DirectoryEntry::Record(s) => {
            if let Some(r) = body(s) {
                let _ = r.check_wellformed();
            }
        }
        DirectoryEntry::Role(s) => {
            if let Some(r) = body(s) {
                let _ = r.check_wellformed();
            }
        }
    }
}

/// An event-log record.
pub fn event_record(data: &[u8]) {
    wire::<EventRecord>(data);
}

/// A disclosed event (salt and record), as served to auditors.
pub fn disclosed_event(data: &[u8]) {
    let Some(d) = wire::<DisclosedEvent>(data) else {
        return;
    };
    let _ = d.leaf_hash();
    if let Ok(r) = d.decode_record() {
        assert!(
            r.encode() == d.record,
            "event record re-encodes differently"
        );
    }
}

/// A signed consent request.
pub fn consent_request(data: &[u8]) {
    let Some(signed) = wire::<Signed<ConsentRequest>>(data) else {
        return;
    };
    if let Some(r) = body(&signed) {
        let _ = r.check_wellformed();
        scope_has_text_form(&r.scope);
    }
}

/// A signed consent decision (grant or refusal).
pub fn consent_decision(data: &[u8]) {
    let Some(signed) = wire::<Signed<ConsentDecision>>(data) else {
        return;
    };
    if let Some(d) = body(&signed) {
        let _ = d.check_wellformed();
        scope_has_text_form(&d.scope);
    }
}

/// A signed receipt (delivered, handling acknowledged, deleted).
pub fn receipt(data: &[u8]) {
    if let Some(signed) = wire::<Signed<Receipt>>(data) {
        body(&signed);
    }
}

// ---------------------------------------------------------------------------
// Text forms typed by people

/// `liaison consent request --scope TEXT`.
pub fn consent_scope_text(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(scope) = ConsentScope::parse_text(text) {
        assert_eq!(ConsentScope::parse_text(&scope.to_text()), Ok(scope));
    }
}

/// `liaison send --handling TEXT`.
pub fn handling_text(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(h) = Handling::parse_text(text) {
        assert_eq!(Handling::parse_text(&h.to_text()), Ok(h));
    }
}

// ---------------------------------------------------------------------------
// C2SP signed notes, checkpoints, cosignatures, proofs

/// A signed note (c2sp.org/signed-note), parsed and opened.
pub fn note(data: &[u8]) {
    let Ok(n) = Note::parse(data) else {
        return;
    };
    assert_eq!(n.encode().as_deref().map(str::as_bytes), Ok(data));
    let _ = open_note(data, &fixture::note_verifiers());
}

/// Verifier and signer key strings (c2sp.org/signed-note).
pub fn note_keys(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(v) = NoteVerifier::from_vkey(text) {
        assert_eq!(v.to_vkey(), text);
    }
    if let Ok(s) = NoteSigner::from_skey(text) {
        assert_eq!(s.to_skey().as_str(), text);
    }
    if let Ok(s) = CosignatureSigner::from_skey(text) {
        assert_eq!(s.to_skey().as_str(), text);
    }
}

/// A checkpoint note text (c2sp.org/tlog-checkpoint); once parsed, signed
/// by the log and a witness and opened again under a policy requiring both.
pub fn checkpoint(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(cp) = Checkpoint::from_text(text) else {
        return;
    };
    assert_eq!(cp.to_text(), text);
    let Ok(log) = NoteSigner::from_seed(cp.origin(), &fixture::DIRECTORY_LOG_SEED) else {
        panic!("a parsed origin is a valid key name");
    };
    let witness = fixture::witness();
    let timestamp = cp.size() % 1_000_000_007;
    let Ok(mut signed) = cp.sign(&log) else {
        panic!("a parsed checkpoint can be signed by a key named after its origin");
    };
    let Ok(cosignature) = witness.cosign(&cp, timestamp) else {
        panic!("a small timestamp is a valid cosignature time");
    };
    if signed.add_signature(cosignature).is_err() {
        panic!("two signatures fit a note");
    }
    let Ok(msg) = signed.encode() else {
        return; // over the note size limit
    };
    let Ok(policy) = LogPolicy::with_witnesses(log.verifier(), vec![witness.verifier()], 1) else {
        panic!("the fixture policy is valid");
    };
    let opened = policy.open(msg.as_bytes());
    let Ok(opened) = opened else {
        panic!("a freshly signed checkpoint does not open: {opened:?}");
    };
    assert_eq!(opened.checkpoint(), &cp);
    assert_eq!(opened.cosignatures().len(), 1);
}

/// A signed checkpoint with cosignature lines (c2sp.org/tlog-cosignature).
pub fn cosignature(data: &[u8]) {
    let _ = fixture::events_policy_with_witness().open(data);
    let Ok(n) = Note::parse(data) else {
        return;
    };
    let Ok(cp) = Checkpoint::from_text(n.text()) else {
        return;
    };
    let witness = fixture::witness().verifier();
    for s in n.signatures() {
        let _ = cosignature_timestamp(s);
        let _ = verify_cosignature(&witness, &cp, s);
    }
}

/// A per-entry proof bundle (c2sp.org/tlog-proof).
pub fn tlog_proof(data: &[u8]) {
    let Ok(p) = TlogProof::parse(data) else {
        return;
    };
    assert_eq!(p.encode().as_bytes(), data);
    let leaf = liaison_protocol::log::leaf_hash(p.extra().unwrap_or_default());
    let _ = p.verify(&leaf, &fixture::events_policy_with_witness());
}

// ---------------------------------------------------------------------------
// Files: enrolment bundle, authority key files, evidence, armour

/// The enrolment bundle (`bundle.toml`) and what is derived from it.
pub fn bundle_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(b) = Bundle::from_toml(text) else {
        return;
    };
    assert_eq!(Bundle::from_toml(&b.to_toml()), Ok(b.clone()));
    let _ = b.log_policy(LogId::Directory);
    let _ = b.log_policy(LogId::Events);
    let _ = b.quorum();
    let _ = b.cert_pin();
    let _ = Pins::from_bundle(&b);
    let _ = audit::Trust::from_args(Some(&b), &[], &[], None, None);
}

/// A sealed root or authority key file (`liaison-admin`), opened with the
/// passphrase the seeds use, and a clear root key file. Opening runs
/// Argon2id at the file's costs, bounded by the parser (at least 8 MiB), so
/// this target is slow per input: the parser refuses before deriving.
pub fn sealed_key(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = liaison_protocol::bundle::key_file_protection(text);
    if let Ok(root) = liaison_protocol::bundle::parse_root_key_file(text) {
        let written = liaison_protocol::bundle::root_key_toml(&root, true);
        let again = liaison_protocol::bundle::parse_root_key_file(&written);
        let Ok(again) = again else {
            panic!("a written root key file does not parse: {again:?}");
        };
        assert_eq!(again.public_key(), root.public_key());
    }
    if let Ok(opened) = liaison_admin::sealed::open(text, SEALED_PASSPHRASE) {
        let _ = liaison_admin::canonical_key_text(&opened.plain);
    }
}

/// The passphrase of the sealed key seeds.
pub const SEALED_PASSPHRASE: &str = "fuzz passphrase";

/// An authority key file, certified or pending.
pub fn authority_key_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(f) = AuthorityKeyFile::from_toml(text) {
        let written = f.to_toml();
        let again = AuthorityKeyFile::from_toml(&written);
        let Ok(again) = again else {
            panic!("a written authority key file does not parse: {again:?}");
        };
        assert_eq!(again.key.public_key(), f.key.public_key());
        assert_eq!(again.certificate, f.certificate);
        assert_eq!(again.country, f.country);
    }
    if let Ok(p) = PendingAuthorityKey::from_toml(text) {
        let again = PendingAuthorityKey::from_toml(&p.to_toml());
        let Ok(again) = again else {
            panic!("a written pending authority key does not parse: {again:?}");
        };
        assert_eq!(again.key.public_key(), p.key.public_key());
        assert_eq!((again.country, &again.name), (p.country, &p.name));
        let request = p.request(fixture::NOW);
        assert!(AuthorityRequest::verify(&request).is_ok());
    }
}

/// An evidence bundle file, binary or armoured, as `liaison-audit
/// verify-message` reads it.
pub fn evidence_bundle(data: &[u8]) {
    let Ok(bundle) = EvidenceBundle::parse(data) else {
        return;
    };
    if data.starts_with(EVIDENCE_TEXT_BEGIN.as_bytes()) {
        assert!(
            bundle.to_text().as_bytes() == data,
            "armour is not canonical"
        );
    } else {
        assert!(
            bundle.encode() == data,
            "evidence bundle re-encodes differently"
        );
    }
    if let Ok(ev) = bundle.evidence_unverified() {
        assert!(encode_body(&ev) == bundle.signed().body_bytes());
    }
    let _ = verify_evidence(&bundle, &fixture::pins(), fixture::NOW);
}

/// The body of an evidence bundle, signed by the fixture exporter and
/// verified against the fixture network: a dishonest exporter signs what it
/// likes, so everything behind the exporter's signature is hostile too.
pub fn evidence_verify(data: &[u8]) {
    let Some(ev) = body(&unsigned::<Evidence>(data)) else {
        return;
    };
    let bundle = EvidenceBundle::sign(&ev, &fixture::exporter());
    let _ = verify_evidence(&bundle, &fixture::pins(), fixture::NOW);
}

/// ASCII armour, and the tools' readers of each armoured file.
pub fn armor(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok((kind, bytes)) = armor::dearmor(text) {
        let again = armor::armor(kind, &bytes);
        if again.len() <= armor::MAX_ARMORED {
            assert_eq!(armor::dearmor(&again), Ok((kind, bytes)));
        }
    }
    let _ = admin::views::describe_file(text);
    let _ = admin::parse_certificate_file(text);
    let _ = admin::parse_authority_request(text);
    let _ = admin::parse_device_approval(text);
    let _ = liaison_protocol::message::EnrolmentRequest::from_armored(text);
}

// ---------------------------------------------------------------------------
// The auditor's files

/// A consistency proof file of an export (`<old>-<new>.proof`), and the
/// export's file names.
pub fn audit_proof_text(data: &[u8]) {
    if let Ok(proof) = audit::parse_proof_text(data) {
        assert_eq!(audit::encode_proof_text(&proof).as_bytes(), data);
    }
    if let Ok(name) = std::str::from_utf8(data) {
        let _ = audit::parse_checkpoint_name(name);
        let _ = audit::parse_entry_name(name);
        let _ = audit::parse_proof_name(name);
    }
}

/// A proof bundle as `liaison-audit verify-proof` reads it; then the same
/// bundle with its checkpoint re-signed by the fixture log key (the relay
/// signs whatever it likes), so the inclusion proof and leaf are checked.
pub fn audit_proof_bundle(data: &[u8]) {
    let trust = fixture::trust();
    let _ = audit::verify_proof_bundle(data, &trust);
    if let Some(resigned) = fixture::resign_proof(data) {
        let _ = audit::verify_proof_bundle(resigned.as_bytes(), &trust);
    }
}

/// One log of an export, as `liaison-audit verify` checks it after reading
/// the directory ([`audit::verify_log`], the pure function behind
/// [`audit::read_log_export`]). The input is a small container of files
/// ([`export::parse`]); checkpoint texts in it are signed by the fixture
/// log key, as a dishonest relay would sign them.
pub fn audit_log_export(data: &[u8]) {
    let (log, ex) = export::parse(data);
    let Some(policy) = fixture::policy(log) else {
        return;
    };
    let root = fixture::root().public_key();
    let mut report = audit::Report::default();
    let _ = audit::verify_log(log, &ex, &policy, Some(&root), &mut report);
}

// ---------------------------------------------------------------------------
// The relay's configuration

/// `relay.toml` ([`liaison_relay::RelayConfig::from_toml`], the pure part of
/// `load`).
pub fn relay_config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = liaison_relay::RelayConfig::from_toml(text);
    }
}

// ---------------------------------------------------------------------------
// Helpers

/// Strict decode; a decoded value must re-encode to exactly `data`.
fn wire<T: Wire>(data: &[u8]) -> Option<T> {
    let value = T::decode(data).ok()?;
    assert!(
        value.encode() == data,
        "{} re-encodes differently",
        type_name::<T>()
    );
    Some(value)
}

/// Decode a signed body without its signature; a decoded body must
/// re-encode to exactly the signed bytes.
fn body<T: SignedBody>(signed: &Signed<T>) -> Option<T> {
    let value = signed.decode_unverified().ok()?;
    assert!(
        value.to_body() == signed.body_bytes(),
        "{} body re-encodes differently",
        type_name::<T>()
    );
    Some(value)
}

/// "Every well-formed handling has a text form that parses back to it"
/// ([`Handling::check_wellformed`]), for handlings that arrive in binary.
fn handling_has_text_form(h: &Handling) {
    if h.check_wellformed().is_ok() {
        assert_eq!(Handling::parse_text(&h.to_text()), Ok(h.clone()));
    }
}

/// `parse_text(&s.to_text()) == Ok(s)` for every well-formed scope
/// ([`ConsentScope::to_text`]), for scopes that arrive in binary.
fn scope_has_text_form(s: &ConsentScope) {
    if s.check_wellformed().is_ok() {
        assert_eq!(ConsentScope::parse_text(&s.to_text()), Ok(s.clone()));
    }
}

/// `data` as the body of a signed object with a null signature.
fn unsigned<T: SignedBody>(data: &[u8]) -> Signed<T> {
    Signed::from_parts(data.to_vec(), PublicKey([0; 32]), Signature([0; 64]))
}

/// Whole and streamed frame decoding; every frame taken must re-encode to
/// exactly the bytes it consumed.
fn frames<T: Wire>(data: &[u8]) {
    if let Ok(v) = decode_frame::<T>(data, ABSOLUTE_MAX_FRAME) {
        assert!(encode_frame(&v) == data, "frame re-encodes differently");
    }
    let mut reader = FrameReader::new(DEFAULT_MAX_FRAME);
    let mut offset = 0;
    let (a, b) = data.split_at(data.len() / 2);
    for piece in [a, b] {
        reader.push(piece);
        loop {
            let before = reader.buffered();
            let Ok(Some(v)) = reader.next_frame::<T>() else {
                break;
            };
            let used = before - reader.buffered();
            let consumed = data.get(offset..offset + used);
            assert!(
                Some(encode_frame(&v).as_slice()) == consumed,
                "streamed frame re-encodes differently"
            );
            offset += used;
        }
    }
}

/// The keys the seed corpus is made with, so the fuzzer starts from inputs
/// whose signatures verify. Seeds are `[n; 32]` as in the protocol's
/// evidence tests (`protocol/tests/evidence_support`).
pub mod fixture {
    use liaison_audit::Trust;
    use liaison_protocol::evidence::Pins;
    use liaison_protocol::frames::LogId;
    use liaison_protocol::log::{
        CosignatureSigner, LogPolicy, Note, NoteSigner, NoteVerifier, TlogProof, sign_note,
    };
    use liaison_protocol::{SecretKey, Timestamp};

    /// The verifier's clock.
    pub const NOW: Timestamp = Timestamp(1_900_000_000_000);
    /// Seed of the network root.
    pub const ROOT_SEED: [u8; 32] = [1; 32];
    /// Seed of the exporter of evidence bundles (`ph.pnp.bob`).
    pub const EXPORTER_SEED: [u8; 32] = [6; 32];
    /// Name of the directory log key.
    pub const DIRECTORY_LOG: &str = "liaison.example/directory";
    /// Seed of the directory log key.
    pub const DIRECTORY_LOG_SEED: [u8; 32] = [10; 32];
    /// Name of the event log key.
    pub const EVENT_LOG: &str = "liaison.example/events";
    /// Seed of the event log key.
    pub const EVENT_LOG_SEED: [u8; 32] = [11; 32];
    /// Name of the witness key.
    pub const WITNESS: &str = "witness.example";
    /// Seed of the witness key.
    pub const WITNESS_SEED: [u8; 32] = [12; 32];
    /// Verifier keys of golang.org/x/mod/sumdb/note's tests (the signed-note
    /// vectors in `protocol/tests/data/signed-note`), so mutated vector
    /// notes are verified rather than ignored.
    pub const VECTOR_VKEYS: [&str; 2] = [
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop",
    ];

    /// The network root.
    pub fn root() -> SecretKey {
        SecretKey::from_seed(&ROOT_SEED)
    }

    /// The exporter's identity key.
    pub fn exporter() -> SecretKey {
        SecretKey::from_seed(&EXPORTER_SEED)
    }

    /// The signer of `log`.
    pub fn log_signer(log: LogId) -> Option<NoteSigner> {
        match log {
            LogId::Directory => NoteSigner::from_seed(DIRECTORY_LOG, &DIRECTORY_LOG_SEED).ok(),
            LogId::Events => NoteSigner::from_seed(EVENT_LOG, &EVENT_LOG_SEED).ok(),
        }
    }

    /// The witness.
    pub fn witness() -> CosignatureSigner {
        match CosignatureSigner::from_seed(WITNESS, &WITNESS_SEED) {
            Ok(w) => w,
            Err(e) => panic!("fixture witness: {e}"),
        }
    }

    /// The policy of `log`: its key, no witnesses.
    pub fn policy(log: LogId) -> Option<LogPolicy> {
        LogPolicy::new(log_signer(log)?.verifier()).ok()
    }

    /// The event log's key and the witness, quorum 1.
    pub fn events_policy_with_witness() -> LogPolicy {
        let policy = log_signer(LogId::Events)
            .map(|s| LogPolicy::with_witnesses(s.verifier(), vec![witness().verifier()], 1));
        match policy {
            Some(Ok(p)) => p,
            _ => panic!("fixture policy"),
        }
    }

    /// Every key a fuzzed note may be verified with.
    pub fn note_verifiers() -> Vec<NoteVerifier> {
        let mut out: Vec<NoteVerifier> = VECTOR_VKEYS
            .iter()
            .filter_map(|k| NoteVerifier::from_vkey(k).ok())
            .collect();
        out.extend(
            LogId::ALL
                .into_iter()
                .filter_map(log_signer)
                .map(|s| s.verifier()),
        );
        out.push(witness().verifier());
        out
    }

    /// The pins of the fixture network.
    pub fn pins() -> Pins {
        match (policy(LogId::Directory), policy(LogId::Events)) {
            (Some(directory_log), Some(event_log)) => Pins {
                root: root().public_key(),
                directory_log,
                event_log,
            },
            _ => panic!("fixture pins"),
        }
    }

    /// What an auditor pins for the fixture network.
    pub fn trust() -> Trust {
        let mut t = Trust::default().with_root(root().public_key());
        for log in LogId::ALL {
            if let Some(p) = policy(log) {
                t = t.with_policy(log, p);
            }
        }
        t
    }

    /// A proof bundle with its checkpoint's text signed afresh by the
    /// fixture key of the log its origin names.
    pub fn resign_proof(data: &[u8]) -> Option<String> {
        let p = TlogProof::parse(data).ok()?;
        let text = Note::parse(p.signed_checkpoint().as_bytes())
            .ok()?
            .text()
            .to_owned();
        let origin = text.split('\n').next()?;
        let log = LogId::ALL
            .into_iter()
            .find(|l| log_signer(*l).is_some_and(|s| s.name() == origin))?;
        let note = sign_note(&text, &[&log_signer(log)?]).ok()?;
        let mut again = TlogProof::new(p.index(), p.proof().to_vec(), &note).ok()?;
        if let Some(extra) = p.extra() {
            again = again.with_extra(extra.to_vec()).ok()?;
        }
        Some(again.encode())
    }
}

/// The container format of the `audit_log_export` target: one log's files
/// in one input.
///
/// ```text
/// input  = log:u8 file*                (log even: directory, odd: events)
/// file   = tag:u8 name_len:u8 name data_len:u16be data
/// tag%5  = 0 checkpoints/<name> (a signed note, as is)
///          1 checkpoints/<name> (a note text, signed by the log key here)
///          2 proofs/<name>
///          3 entries/<name>
///          4 leaf-hashes.bin
/// ```
///
/// A truncated file ends the input. Names are checked as
/// [`audit::read_log_export`] checks them.
pub mod export {
    use liaison_audit::{self as audit, EntryData, LogExport, MAX_ENTRIES};
    use liaison_protocol::frames::LogId;
    use liaison_protocol::log::sign_note;

    use super::fixture;

    /// One file of the container.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct File {
        /// What it is (see the module docs).
        pub tag: u8,
        /// Its name inside its directory.
        pub name: String,
        /// Its contents.
        pub data: Vec<u8>,
    }

    /// Encode a container (for the seed generator).
    pub fn encode(log: LogId, files: &[File]) -> Vec<u8> {
        let mut out = vec![u8::from(log == LogId::Events)];
        for f in files {
            let name = f.name.as_bytes();
            let name = name.get(..usize::from(u8::MAX)).unwrap_or(name);
            let data = f.data.get(..usize::from(u16::MAX)).unwrap_or(&f.data);
            out.push(f.tag);
            out.push(name.len() as u8);
            out.extend_from_slice(name);
            out.extend_from_slice(&(data.len() as u16).to_be_bytes());
            out.extend_from_slice(data);
        }
        out
    }

    /// Split a container into its files.
    pub fn files(data: &[u8]) -> (LogId, Vec<File>) {
        let Some((&log, mut rest)) = data.split_first() else {
            return (LogId::Directory, Vec::new());
        };
        let log = if log % 2 == 0 {
            LogId::Directory
        } else {
            LogId::Events
        };
        let mut out = Vec::new();
        while let Some((&tag, r)) = rest.split_first() {
            let Some((&name_len, r)) = r.split_first() else {
                break;
            };
            let Some((name, r)) = r.split_at_checked(usize::from(name_len)) else {
                break;
            };
            let Some((len, r)) = r.split_first_chunk::<2>() else {
                break;
            };
            let Some((body, r)) = r.split_at_checked(usize::from(u16::from_be_bytes(*len))) else {
                break;
            };
            out.push(File {
                tag: tag % 5,
                name: String::from_utf8_lossy(name).into_owned(),
                data: body.to_vec(),
            });
            rest = r;
        }
        (log, out)
    }

    /// The export the container describes.
    pub fn parse(data: &[u8]) -> (LogId, LogExport) {
        let (log, files) = files(data);
        let mut ex = LogExport::default();
        for f in files {
            match f.tag {
                0 => checkpoint(&mut ex, f.name, f.data),
                1 => {
                    let signed = std::str::from_utf8(&f.data).ok().and_then(|text| {
                        let signer = fixture::log_signer(log)?;
                        sign_note(text, &[&signer]).ok()
                    });
                    checkpoint(
                        &mut ex,
                        f.name,
                        signed.map(String::into_bytes).unwrap_or(f.data),
                    );
                }
                2 => {
                    if audit::parse_proof_name(&f.name).is_some() {
                        ex.proofs.push((f.name, f.data));
                    } else {
                        ex.problems
                            .push(format!("unexpected proof file {}", f.name));
                    }
                }
                3 => match audit::parse_entry_name(&f.name) {
                    Some(i) if i < MAX_ENTRIES => {
                        ex.entries.insert(i, EntryData::Inline(f.data));
                    }
                    _ => ex
                        .problems
                        .push(format!("unexpected entry file {}", f.name)),
                },
                _ => ex.leaf_hashes = Some(f.data),
            }
        }
        ex.checkpoints.sort();
        ex.proofs.sort();
        (log, ex)
    }

    fn checkpoint(ex: &mut LogExport, name: String, data: Vec<u8>) {
        if audit::parse_checkpoint_name(&name).is_some() {
            ex.checkpoints.push((name, data));
        } else {
            ex.problems
                .push(format!("unexpected checkpoint file {name}"));
        }
    }
}

// ---------------------------------------------------------------------------
// Attachments (sealed chunks served by a relay)

/// The key the attachment seeds are sealed under: the target plays a
/// recipient that holds it from a genuine signed reference.
pub const ATTACHMENT_KEY: [u8; 32] = [0x42; 32];

/// Sealed chunks of one attachment as a relay serves them. `data` is the
/// signed size (8 bytes, little-endian, bounded to four chunks), the signed
/// SHA-256 (32 bytes), then the sealed bytes, cut at each chunk's expected
/// sealed length (the last piece possibly short or long). Opening must not
/// panic, and must succeed only when the plaintext hashes to the signed
/// SHA-256.
pub fn attachment_chunks(data: &[u8]) {
    use liaison_protocol::attachment::{CHUNK_SIZE, Opener, TAG_SIZE, chunk_plain_len};
    use liaison_protocol::message::AttachmentRef;
    use sha2::{Digest, Sha256};

    let Some((size, rest)) = data.split_first_chunk::<8>() else {
        return;
    };
    let Some((sha256, mut sealed)) = rest.split_first_chunk::<32>() else {
        return;
    };
    let size = u64::from_le_bytes(*size) % (4 * CHUNK_SIZE as u64 + 1);
    let reference = AttachmentRef {
        name: String::new(),
        media_type: String::new(),
        size,
        sha256: *sha256,
        key: ATTACHMENT_KEY,
        blob: [0; 32],
    };
    let Ok(mut opener) = Opener::new(&reference) else {
        return;
    };
    let mut hasher = Sha256::new();
    let mut index = 0u64;
    while !sealed.is_empty() {
        let want = chunk_plain_len(size, index).map_or(sealed.len(), |n| n + TAG_SIZE);
        let (chunk, tail) = sealed.split_at(want.min(sealed.len()));
        sealed = tail;
        match opener.open_chunk(chunk) {
            Ok(plain) => hasher.update(&*plain),
            Err(_) => return,
        }
        index += 1;
    }
    if opener.finish().is_ok() {
        let digest: [u8; 32] = hasher.finalize().into();
        assert_eq!(&digest, sha256, "an attachment opened under another hash");
    }
}
