//! Judicial evidence bundles: one message with everything a court or an
//! auditor needs to check, offline, who wrote it, what restrictions it
//! carried, that the relay accepted and delivered it, who acknowledged it,
//! and that its originator permitted (or consented to) its judicial use.
//!
//! An [`EvidenceBundle`] is an [`Evidence`] signed by the exporter's
//! identity key (domain `evidence-bundle`), so every byte of it is
//! attributable to the focal point who exported it. Inside:
//!
//! - the [`SignedPayload`] exactly as the originator signed it;
//! - the originator's [`FocalPointRecord`] version in force when it signed,
//!   the root-signed [`AuthorityCertificate`] of its country authority, and
//!   c2sp.org/tlog-proof inclusion proofs of both
//!   [`DirectoryEntry`] leaves in the relay's directory log;
//! - c2sp.org/tlog-proof inclusion proofs of the message's event-log entries
//!   (accepted, delivered, acknowledged, and the `declared` entries of
//!   receipts and consents referring to it), each carrying the disclosed
//!   event (salt and record) in its `extra` line;
//! - the recipients' signed [`Receipt`]s and the originator's judicial
//!   [`ConsentDecision`]s, with the records (and log proofs) of every other
//!   signer, the exporter included;
//! - who exported it, when, and for which case.
//!
//! [`verify_evidence`] checks all of it against [`Pins`]: the network root
//! and the two log keys, obtained independently of the bundle.
//!
//! # Time
//!
//! Records and certificates expire and are superseded; evidence must still
//! verify years later. So each signature is judged at the time it claims to
//! have been made, never at the verifier's clock: the originator's chain at
//! the payload's `created_at`, a receipt signer's at the receipt's `at`, a
//! consent at its `decided_at`, the exporter's at `exported_at`. `now` is
//! used only to refuse a bundle exported in the future. The bundle shows that
//! the keys were certified and published at those times, and the
//! `accepted` entry shows that the relay, which admits only devices of the
//! current, unrevoked directory, took the message from the originator's
//! device. It cannot show that no later record version revoked the key
//! before the message was signed: the directory log export can (it holds
//! every version and revocation).
//!
//! # Encodings
//!
//! [`Wire::encode`] (version byte, postcard) is the file format;
//! [`EvidenceBundle::to_text`] is a strict PEM-like armour of the same bytes
//! (`-----BEGIN LIAISON EVIDENCE BUNDLE-----`, base64 lines of 64
//! characters), for mail. Both decoders accept exactly one encoding of a
//! bundle, so any changed byte is either refused by the decoder or breaks
//! the exporter's signature.
//!
//! Non-features: attachments are referenced (their hashes are in the signed
//! payload) but not carried; consistency between the bundle's checkpoints
//! and an auditor's own checkpoints is left to `liaison-audit compare`.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::bundle::{Bundle, BundleError};
use crate::codec::{DecodeError, Wire};
use crate::consent::{
    ConsentDecision, ConsentScope, JudicialRefusal, PriorDecision, Receipt, ReceiptKind,
    check_judicial_use,
};
use crate::directory::{
    AuthorityCertificate, FocalPointRecord, MAX_TEXT, RecordStatus, verify_authority, verify_record,
};
use crate::frames::LogId;
use crate::handling::{Handling, JudicialUse};
use crate::ids::{DirectoryId, MessageId, Timestamp};
use crate::keys::{PublicKey, SecretKey, VerifyError};
use crate::log::event::{Declared, DirectoryEntry, DisclosedEvent, EventKind, EventRecord};
use crate::log::{Hash, LogPolicy, SignedCheckpoint, TlogProof, leaf_hash};
use crate::message::payload_hash;
use crate::message::{Content, Payload, SignedPayload};
use crate::signed::{Signed, SignedBody};

/// Largest signed evidence body: the largest signed payload and 8 MiB of
/// proofs, receipts, consents and records.
pub const MAX_EVIDENCE_BODY: usize = SignedPayload::MAX_LEN + 8 * 1024 * 1024;
/// Most event-log proofs in one bundle.
pub const MAX_EVIDENCE_EVENTS: usize = 8192;
/// Most receipts in one bundle.
pub const MAX_EVIDENCE_RECEIPTS: usize = 1024;
/// Most consent decisions in one bundle.
pub const MAX_EVIDENCE_CONSENTS: usize = 64;
/// Most signer records (besides the originator's) in one bundle.
pub const MAX_EVIDENCE_SIGNERS: usize = 256;
/// How far the verifier tolerates clocks of different parties to disagree
/// (the exporter's against the verifier's, a grant's against the export).
pub const MAX_CLOCK_SKEW_MS: u64 = 10 * 60 * 1000;

/// First line of the text form.
pub const EVIDENCE_TEXT_BEGIN: &str = "-----BEGIN LIAISON EVIDENCE BUNDLE-----";
/// Last line of the text form.
pub const EVIDENCE_TEXT_END: &str = "-----END LIAISON EVIDENCE BUNDLE-----";
/// Base64 characters per line of the text form.
const TEXT_LINE: usize = 64;
/// Largest text form accepted.
pub const MAX_EVIDENCE_TEXT: usize = EvidenceBundle::MAX_LEN.div_ceil(3) * 4
    + EvidenceBundle::MAX_LEN.div_ceil(3) * 4 / TEXT_LINE
    + 2
    + EVIDENCE_TEXT_BEGIN.len()
    + EVIDENCE_TEXT_END.len()
    + 2;

/// A directory record with the root-signed certificate of the authority
/// that signed it, and inclusion proofs of both in the directory log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedRecord {
    /// The authority's certificate, signed by the network root.
    pub authority: Signed<AuthorityCertificate>,
    /// c2sp.org/tlog-proof (no `extra` line) of the leaf
    /// `DirectoryEntry::Authority(authority)` in the directory log.
    pub authority_proof: String,
    /// The focal point record version, signed by that authority.
    pub record: Signed<FocalPointRecord>,
    /// c2sp.org/tlog-proof (no `extra` line) of the leaf
    /// `DirectoryEntry::Record(record)` in the directory log.
    pub record_proof: String,
}

/// What the exporter signs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The encoded [`SignedPayload`], byte for byte as the originator
    /// signed it.
    pub signed_payload: Vec<u8>,
    /// The originator's record version in force when it signed.
    pub originator: LoggedRecord,
    /// Event-log proofs: c2sp.org/tlog-proof text whose `extra` line is the
    /// encoded [`DisclosedEvent`]; in increasing index order, all relative
    /// to one signed checkpoint.
    pub events: Vec<String>,
    /// Receipts about the message (delivered, handling acknowledged,
    /// deleted), signed by recipients.
    pub receipts: Vec<Signed<Receipt>>,
    /// The originator's judicial-use consent decisions about the message.
    pub consents: Vec<Signed<ConsentDecision>>,
    /// The records of every other signer: receipt signers, the exporter,
    /// and other versions of the originator's record that signed consents.
    /// All directory proofs are relative to one signed checkpoint.
    pub signers: Vec<LoggedRecord>,
    /// The focal point who exported the bundle (its identity key signs it).
    pub exporter: DirectoryId,
    /// When it was exported (exporter's clock).
    pub exported_at: Timestamp,
    /// The judicial case the evidence is for. Required unless the handling
    /// permits judicial use; then it must be the case the originator
    /// consented to.
    pub case_reference: Option<String>,
}

impl fmt::Debug for Evidence {
    // The payload is plaintext: never print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Evidence")
            .field("signed_payload_len", &self.signed_payload.len())
            .field("events", &self.events.len())
            .field("receipts", &self.receipts.len())
            .field("consents", &self.consents.len())
            .field("signers", &self.signers.len())
            .field("exporter", &self.exporter)
            .field("exported_at", &self.exported_at)
            .field("case_reference", &self.case_reference)
            .finish()
    }
}

impl SignedBody for Evidence {
    const DOMAIN: &'static str = "evidence-bundle";
    const MAX_BODY: usize = MAX_EVIDENCE_BODY;
}

/// An [`Evidence`] signed by the exporter's identity key: the file
/// `liaison export` writes and `liaison-audit verify-message` reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceBundle {
    signed: Signed<Evidence>,
}

impl Wire for EvidenceBundle {
    const MAX_LEN: usize = MAX_EVIDENCE_BODY + 256;
}

impl EvidenceBundle {
    /// Sign `evidence` with the exporter's identity key.
    pub fn sign(evidence: &Evidence, exporter_identity: &SecretKey) -> Self {
        EvidenceBundle {
            signed: Signed::sign(evidence, exporter_identity),
        }
    }

    /// Wrap an already signed evidence (tools and tests).
    pub fn from_signed(signed: Signed<Evidence>) -> Self {
        EvidenceBundle { signed }
    }

    /// The signed evidence.
    pub fn signed(&self) -> &Signed<Evidence> {
        &self.signed
    }

    /// Decode the evidence without checking anything (for display of a
    /// bundle that failed verification).
    pub fn evidence_unverified(&self) -> Result<Evidence, VerifyError> {
        self.signed.decode_unverified()
    }

    /// The text form: armour lines around the standard base64 of
    /// [`Wire::encode`] in lines of 64 characters.
    pub fn to_text(&self) -> String {
        let b64 = STANDARD.encode(self.encode());
        let mut out = String::with_capacity(b64.len() + b64.len() / TEXT_LINE + 100);
        out.push_str(EVIDENCE_TEXT_BEGIN);
        out.push('\n');
        for chunk in b64.as_bytes().chunks(TEXT_LINE) {
            out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            out.push('\n');
        }
        out.push_str(EVIDENCE_TEXT_END);
        out.push('\n');
        out
    }

    /// Strictly parse [`EvidenceBundle::to_text`]'s output: nothing else is
    /// accepted, not even other line lengths or surrounding whitespace.
    pub fn from_text(text: &str) -> Result<Self, DecodeError> {
        if text.len() > MAX_EVIDENCE_TEXT {
            return Err(DecodeError::TooLong {
                len: text.len(),
                max: MAX_EVIDENCE_TEXT,
            });
        }
        let inner = text
            .strip_prefix(EVIDENCE_TEXT_BEGIN)
            .and_then(|t| t.strip_prefix('\n'))
            .and_then(|t| t.strip_suffix('\n'))
            .and_then(|t| t.strip_suffix(EVIDENCE_TEXT_END))
            .ok_or(DecodeError::Invalid(
                "not an armoured evidence bundle (BEGIN/END lines missing or changed)",
            ))?;
        let b64: String = inner.split('\n').collect();
        let bytes = STANDARD
            .decode(b64.as_bytes())
            .map_err(|_| DecodeError::Invalid("evidence bundle armour is not valid base64"))?;
        let bundle = EvidenceBundle::decode(&bytes)?;
        if bundle.to_text() != text {
            return Err(DecodeError::NonCanonical);
        }
        Ok(bundle)
    }

    /// Parse a file in either form: the text form if it starts with the
    /// armour line, else the binary encoding.
    pub fn parse(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.starts_with(EVIDENCE_TEXT_BEGIN.as_bytes()) {
            let text = std::str::from_utf8(bytes)
                .map_err(|_| DecodeError::Invalid("armoured evidence bundle is not UTF-8"))?;
            EvidenceBundle::from_text(text)
        } else {
            EvidenceBundle::decode(bytes)
        }
    }
}

/// The keys a verifier pins, obtained independently of the bundle (from the
/// network's enrolment bundle or its published keys).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pins {
    /// The network root key.
    pub root: PublicKey,
    /// The directory log's key (and witness policy).
    pub directory_log: LogPolicy,
    /// The event log's key (and witness policy).
    pub event_log: LogPolicy,
}

impl Pins {
    /// The pins of an enrolment bundle.
    pub fn from_bundle(bundle: &Bundle) -> Result<Pins, BundleError> {
        Ok(Pins {
            root: bundle.root()?,
            directory_log: bundle.log_policy(LogId::Directory)?,
            event_log: bundle.log_policy(LogId::Events)?,
        })
    }
}

/// Why an evidence bundle was refused. Each variant names the part of the
/// bundle concerned; signature failures never say more than that they
/// failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvidenceError {
    /// The exporter's signature over the bundle does not verify under the
    /// key the bundle names: the bundle was altered after export.
    #[error(
        "the exporter's signature over the bundle does not verify: the bundle was altered after \
         it was exported"
    )]
    ExporterSignature,
    /// A part does not decode canonically or breaks a limit.
    #[error("{part} is malformed: {reason}")]
    Malformed {
        /// The part.
        part: String,
        /// What is wrong.
        reason: String,
    },
    /// The signature on a part does not verify.
    #[error("{part}: signature verification failed")]
    Signature {
        /// The part.
        part: String,
    },
    /// A certificate or record is not valid for its use (wrong signer,
    /// another country, revoked, expired at the time of use).
    #[error("{part}: {error}")]
    Chain {
        /// The part.
        part: String,
        /// Why.
        error: VerifyError,
    },
    /// A transparency log proof does not verify under the pinned log key.
    #[error("{part}: {reason}")]
    LogProof {
        /// The proof concerned.
        part: String,
        /// Why.
        reason: String,
    },
    /// An event-log entry is about another message.
    #[error("event proof {position} (log index {index}) is about message {other}, not {message}")]
    UnrelatedEvent {
        /// Position in the bundle's event list.
        position: usize,
        /// Event log index.
        index: u64,
        /// The message the entry is about.
        other: MessageId,
        /// The bundle's message.
        message: MessageId,
    },
    /// The payload is a forward or a handover package: its content was
    /// written by someone else, whose own consent and logs a bundle about
    /// the carrying message cannot show.
    #[error(
        "the bundle's message is a {0}, not an original message: judicial export covers original \
         messages only (the originator of the forwarded content must consent)"
    )]
    NotAnOriginal(&'static str),
    /// There is no proof that the relay accepted the message.
    #[error(
        "the bundle has no event-log proof that the relay accepted message {0} (the `accepted` \
         entry is required)"
    )]
    MissingAcceptance(MessageId),
    /// Parts of the bundle contradict each other.
    #[error("{part}: {reason}")]
    Inconsistent {
        /// The part.
        part: String,
        /// What contradicts what.
        reason: String,
    },
    /// No included record of the claimed signer, with the signing key and
    /// in force at the time of signing.
    #[error("{part}: the bundle holds no record of {id} with its signing key in force at {at}")]
    UnknownSigner {
        /// The signed part.
        part: String,
        /// Who claims to have signed it.
        id: DirectoryId,
        /// When.
        at: Timestamp,
    },
    /// A consent decision not made by the message's originator.
    #[error("consent decision {position} was not made by the originator {originator}: {reason}")]
    ForeignConsent {
        /// Position in the bundle's consent list.
        position: usize,
        /// The originator.
        originator: DirectoryId,
        /// What is wrong.
        reason: String,
    },
    /// The handling does not permit judicial use and no included grant of
    /// the originator, in force when the bundle was exported, covers the
    /// bundle's case.
    #[error(
        "judicial use is not permitted: the handling says judicial={judicial_use} and the bundle \
         holds no grant by the originator {originator} for case {case_reference:?} in force when \
         it was exported{prior}"
    )]
    NoJudicialConsent {
        /// The handling's judicial-use code.
        judicial_use: &'static str,
        /// The originator, the only one who can consent.
        originator: DirectoryId,
        /// The case the bundle names.
        case_reference: String,
        /// What the originator decided before, if anything (a sentence
        /// starting with "; ", or empty).
        prior: String,
    },
    /// Judicial use needs a consent, and a consent is for one case, but the
    /// bundle names none.
    #[error(
        "the message's handling is judicial={0}: the bundle must name the case the originator \
         consented to, and it names none"
    )]
    MissingCaseReference(&'static str),
    /// The bundle claims to have been exported after the verifier's clock.
    #[error(
        "the bundle claims to have been exported at {exported_at}, later than this verifier's \
         clock ({now}) allows"
    )]
    FromTheFuture {
        /// The claimed export time.
        exported_at: Timestamp,
        /// The verifier's time.
        now: Timestamp,
    },
}

fn malformed(part: impl Into<String>, reason: impl fmt::Display) -> EvidenceError {
    EvidenceError::Malformed {
        part: part.into(),
        reason: reason.to_string(),
    }
}

fn inconsistent(part: impl Into<String>, reason: impl Into<String>) -> EvidenceError {
    EvidenceError::Inconsistent {
        part: part.into(),
        reason: reason.into(),
    }
}

/// Map a [`VerifyError`] of a signed part: signature failures stay opaque.
fn signed_part_error(part: &str, e: VerifyError) -> EvidenceError {
    match e {
        VerifyError::BadSignature => EvidenceError::Signature { part: part.into() },
        VerifyError::Decode(d) => malformed(part, d),
        error => EvidenceError::Chain {
            part: part.into(),
            error,
        },
    }
}

/// A verified checkpoint, for the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointSummary {
    /// The log's origin line.
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
    /// Trusted witnesses whose cosignature verified, with their times
    /// (seconds since the epoch).
    pub cosignatures: Vec<(String, u64)>,
}

impl CheckpointSummary {
    fn of(cp: &SignedCheckpoint) -> Self {
        CheckpointSummary {
            origin: cp.checkpoint().origin().to_owned(),
            size: cp.checkpoint().size(),
            root: *cp.checkpoint().root(),
            cosignatures: cp
                .cosignatures()
                .iter()
                .map(|c| (c.witness().to_owned(), c.timestamp()))
                .collect(),
        }
    }
}

/// A verified signer, for the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartySummary {
    /// Directory id.
    pub id: DirectoryId,
    /// Name.
    pub name: String,
    /// Agency.
    pub agency: String,
    /// Unit.
    pub unit: String,
    /// Identity key.
    pub identity_key: PublicKey,
    /// Record version.
    pub version: u64,
    /// The certifying authority's name and country.
    pub authority: String,
    /// Directory log index of the record.
    pub record_index: u64,
}

/// One verified event-log entry, for the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventSummary {
    /// Event log index.
    pub index: u64,
    /// Relay time.
    pub time: Timestamp,
    /// The record.
    pub record: EventRecord,
    /// For a `declared` entry: the position in the bundle's receipts or
    /// consents of the signed object whose hash it commits to, if included.
    pub matches: Option<(&'static str, usize)>,
}

/// One verified receipt, for the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptSummary {
    /// The recipient.
    pub by: DirectoryId,
    /// What it reports.
    pub kind: ReceiptKind,
    /// When (recipient's clock).
    pub at: Timestamp,
}

/// Why judicial use is allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JudicialBasis {
    /// The handling says `judicial=permitted`.
    PermittedByHandling,
    /// The originator's grant at this position of the bundle's consents.
    Consent {
        /// Position in the consents list.
        position: usize,
        /// The grant.
        decision: ConsentDecision,
    },
}

/// What a verified bundle shows, for printing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvidenceReport {
    /// The message.
    pub message_id: MessageId,
    /// [`payload_hash`] of the signed payload (`sha256sum` of its encoding).
    pub payload_hash: [u8; 32],
    /// The originator, as certified when it signed.
    pub originator: PartySummary,
    /// The verified payload (its body is the message text).
    pub payload: Payload,
    /// The handling's canonical text form.
    pub handling_text: String,
    /// Event-log entries, in log order.
    pub events: Vec<EventSummary>,
    /// Receipts.
    pub receipts: Vec<ReceiptSummary>,
    /// Consent decisions (verified, by the originator).
    pub consents: Vec<ConsentDecision>,
    /// Why judicial use is allowed.
    pub judicial_basis: JudicialBasis,
    /// The exporter.
    pub exporter: PartySummary,
    /// Whether the exporter is the originator, a recipient, or neither.
    pub exporter_role: &'static str,
    /// When exported.
    pub exported_at: Timestamp,
    /// The case.
    pub case_reference: Option<String>,
    /// The directory checkpoint the records are proven against.
    pub directory_checkpoint: CheckpointSummary,
    /// The event-log checkpoint the events are proven against.
    pub event_checkpoint: CheckpointSummary,
}

/// All proofs of one log in a bundle must be relative to the same signed
/// checkpoint; it is opened once.
struct LogView<'p> {
    policy: &'p LogPolicy,
    log: &'static str,
    opened: Option<SignedCheckpoint>,
}

impl<'p> LogView<'p> {
    fn new(policy: &'p LogPolicy, log: &'static str) -> Self {
        LogView {
            policy,
            log,
            opened: None,
        }
    }

    /// Parse a directory tlog-proof strictly (it must re-encode to the same
    /// text and carry no `extra` line) and verify that `leaf` is included
    /// in the shared checkpoint (RFC 9162 §2.1.3.2).
    fn verify(&mut self, part: &str, text: &str, leaf: &Hash) -> Result<TlogProof, EvidenceError> {
        let proof = self.parse(part, text)?;
        if proof.extra().is_some() {
            return Err(malformed(
                part,
                "a directory proof in an evidence bundle carries no extra data",
            ));
        }
        self.check_inclusion(part, &proof, leaf)?;
        Ok(proof)
    }

    fn parse(&self, part: &str, text: &str) -> Result<TlogProof, EvidenceError> {
        let proof = TlogProof::parse(text.as_bytes()).map_err(|e| malformed(part, e))?;
        if proof.encode() != text {
            return Err(malformed(part, "not the canonical tlog-proof encoding"));
        }
        Ok(proof)
    }

    fn check_inclusion(
        &mut self,
        part: &str,
        proof: &TlogProof,
        leaf: &Hash,
    ) -> Result<(), EvidenceError> {
        let cp = match &self.opened {
            Some(cp) => {
                if cp.signed_note() != proof.signed_checkpoint() {
                    return Err(EvidenceError::LogProof {
                        part: part.into(),
                        reason: format!(
                            "relative to another {} checkpoint than the bundle's other proofs \
                             (all must share one)",
                            self.log
                        ),
                    });
                }
                cp
            }
            None => {
                let cp = self
                    .policy
                    .open(proof.signed_checkpoint().as_bytes())
                    .map_err(|e| EvidenceError::LogProof {
                        part: part.into(),
                        reason: format!(
                            "the {} checkpoint does not verify under the pinned log key {}: {e}",
                            self.log,
                            self.policy.log().name()
                        ),
                    })?;
                self.opened.insert(cp)
            }
        };
        cp.checkpoint()
            .verify_inclusion(leaf, proof.index(), proof.proof())
            .map_err(|e| EvidenceError::LogProof {
                part: part.into(),
                reason: format!(
                    "not leaf {} of the {} log at size {} ({e})",
                    proof.index(),
                    self.log,
                    cp.checkpoint().size()
                ),
            })
    }
}

/// A [`LoggedRecord`] whose chain and directory proofs verified.
struct VerifiedRecord<'b> {
    signed_authority: &'b Signed<AuthorityCertificate>,
    authority: AuthorityCertificate,
    record: FocalPointRecord,
    record_index: u64,
}

impl VerifiedRecord<'_> {
    fn summary(&self) -> PartySummary {
        PartySummary {
            id: self.record.id.clone(),
            name: self.record.name.clone(),
            agency: self.record.agency.clone(),
            unit: self.record.unit.clone(),
            identity_key: self.record.identity_key,
            version: self.record.version,
            authority: format!("{} ({})", self.authority.name, self.authority.country),
            record_index: self.record_index,
        }
    }

    /// Whether this record and its authority were in force at `at`.
    fn in_force(&self, root: &PublicKey, at: Timestamp) -> Result<(), VerifyError> {
        verify_authority(root, self.signed_authority, at)?;
        if let RecordStatus::Revoked { .. } = self.record.status {
            return Err(VerifyError::Revoked);
        }
        if at < self.record.not_before || at >= self.record.not_after {
            return Err(VerifyError::Expired("focal point record"));
        }
        Ok(())
    }
}

fn verify_logged<'b>(
    part: &str,
    logged: &'b LoggedRecord,
    root: &PublicKey,
    directory: &mut LogView<'_>,
) -> Result<VerifiedRecord<'b>, EvidenceError> {
    let cert_part = format!("{part}: the authority certificate");
    let authority = logged.authority.verify_by(root).map_err(|e| match e {
        VerifyError::WrongSigner => EvidenceError::Chain {
            part: cert_part.clone(),
            error: VerifyError::UnknownAuthority,
        },
        e => signed_part_error(&cert_part, e),
    })?;
    if authority.name.len() > MAX_TEXT {
        return Err(malformed(&cert_part, "authority name too long"));
    }
    let record_part = format!("{part}: the record");
    let record = verify_record(&authority, &logged.record).map_err(|e| match e {
        VerifyError::WrongSigner => EvidenceError::Chain {
            part: record_part.clone(),
            error: VerifyError::Inconsistent("not signed by the included authority certificate"),
        },
        e => signed_part_error(&record_part, e),
    })?;
    let auth_leaf = leaf_hash(&DirectoryEntry::Authority(logged.authority.clone()).encode());
    directory.verify(
        &format!("{part}: the authority certificate's directory log proof"),
        &logged.authority_proof,
        &auth_leaf,
    )?;
    let record_leaf = leaf_hash(&DirectoryEntry::Record(logged.record.clone()).encode());
    let proof = directory.verify(
        &format!("{part}: the record's directory log proof"),
        &logged.record_proof,
        &record_leaf,
    )?;
    Ok(VerifiedRecord {
        signed_authority: &logged.authority,
        authority,
        record,
        record_index: proof.index(),
    })
}

fn check_limits(ev: &Evidence) -> Result<(), EvidenceError> {
    let counts = [
        ("event proofs", ev.events.len(), MAX_EVIDENCE_EVENTS),
        ("receipts", ev.receipts.len(), MAX_EVIDENCE_RECEIPTS),
        (
            "consent decisions",
            ev.consents.len(),
            MAX_EVIDENCE_CONSENTS,
        ),
        ("signer records", ev.signers.len(), MAX_EVIDENCE_SIGNERS),
    ];
    for (what, n, max) in counts {
        if n > max {
            return Err(malformed(
                "the bundle",
                format!("{n} {what}, more than the limit of {max}"),
            ));
        }
    }
    if let Some(c) = &ev.case_reference {
        (ConsentScope::JudicialUse {
            case_reference: c.clone(),
        })
        .check_wellformed()
        .map_err(|e| malformed("the case reference", e))?;
    }
    for (i, s) in ev.signers.iter().enumerate() {
        if ev.signers.iter().skip(i + 1).any(|t| t == s) || s == &ev.originator {
            return Err(malformed(format!("signer record {i}"), "included twice"));
        }
    }
    for (i, r) in ev.receipts.iter().enumerate() {
        if ev.receipts.iter().skip(i + 1).any(|t| t == r) {
            return Err(malformed(format!("receipt {i}"), "included twice"));
        }
    }
    for (i, c) in ev.consents.iter().enumerate() {
        if ev.consents.iter().skip(i + 1).any(|t| t == c) {
            return Err(malformed(format!("consent decision {i}"), "included twice"));
        }
    }
    Ok(())
}

/// SHA-256 of a signed object's canonical encoding: what a `declared`
/// event-log entry commits to.
fn object_hash<T: SignedBody>(signed: &Signed<T>) -> [u8; 32]
where
    Signed<T>: Wire,
{
    use sha2::{Digest, Sha256};
    Sha256::digest(signed.encode()).into()
}

/// Verify an evidence bundle offline against `pins`.
///
/// In order: the exporter's signature over the bundle; limits; the
/// originator's authority certificate (signed by the pinned root) and
/// record (signed by that authority, for its own country), both included in
/// the pinned directory log; the payload (canonical, signed by the record's
/// identity key, sent by that record from one of its devices, with the
/// record and certificate in force at `created_at`, an original message
/// rather than a forward or handover package); every event-log proof
/// (canonical, under the pinned event log key, sequence number equal to the
/// index, about this message) and the `accepted` entry among them, from the
/// payload's sending device and not before the payload's creation; every receipt (by a recipient, in force when
/// signed, about this exact payload); every consent decision (by the
/// originator, about this message, judicial use); the exporter (a logged
/// record with the key that signed the bundle, in force at `exported_at`,
/// which must not be after `now`); and finally that judicial use is
/// permitted by the handling or by an included grant for the bundle's case
/// in force at `exported_at`.
pub fn verify_evidence(
    bundle: &EvidenceBundle,
    pins: &Pins,
    now: Timestamp,
) -> Result<EvidenceReport, EvidenceError> {
    let ev = bundle.signed.verify().map_err(|e| match e {
        VerifyError::Decode(d) => malformed("the evidence", d),
        _ => EvidenceError::ExporterSignature,
    })?;
    check_limits(&ev)?;
    if ev.exported_at > now.plus_millis(MAX_CLOCK_SKEW_MS) {
        return Err(EvidenceError::FromTheFuture {
            exported_at: ev.exported_at,
            now,
        });
    }
    let root = &pins.root;
    let mut directory = LogView::new(&pins.directory_log, "directory");
    let mut event_log = LogView::new(&pins.event_log, "events");

    // The originator and every other signer: chains and directory proofs.
    let originator = verify_logged(
        "the originator's record",
        &ev.originator,
        root,
        &mut directory,
    )?;
    let mut records = vec![];
    for (i, s) in ev.signers.iter().enumerate() {
        records.push(verify_logged(
            &format!("signer record {i}"),
            s,
            root,
            &mut directory,
        )?);
    }
    let mut used = vec![false; records.len()];

    // The payload.
    let signed = SignedPayload::decode(&ev.signed_payload)
        .map_err(|e| malformed("the signed payload", e))?;
    let payload = signed
        .verify_by(&originator.record.identity_key)
        .map_err(|e| match e {
            VerifyError::WrongSigner => inconsistent(
                "the signed payload",
                "not signed by the identity key of the included originator record",
            ),
            e => signed_part_error("the signed payload", e),
        })?;
    payload
        .check_wellformed()
        .map_err(|e| malformed("the signed payload", e))?;
    let message_id = payload.message_id;
    if matches!(
        payload.content,
        Content::Forward { .. } | Content::ForwardWithConsent { .. } | Content::Handover { .. }
    ) {
        return Err(EvidenceError::NotAnOriginal(content_kind(&payload.content)));
    }
    if payload.sender != originator.record.id {
        return Err(inconsistent(
            "the signed payload",
            format!(
                "sent by {}, but the included record is {}'s",
                payload.sender, originator.record.id
            ),
        ));
    }
    if !originator
        .record
        .devices
        .iter()
        .any(|d| d.signing == payload.sender_device)
    {
        return Err(inconsistent(
            "the signed payload",
            "sent from a device the originator's record does not list",
        ));
    }
    originator
        .in_force(root, payload.created_at)
        .map_err(|error| EvidenceError::Chain {
            part: format!(
                "the originator's record or its authority at the message's creation time {}",
                payload.created_at
            ),
            error,
        })?;
    let hash = payload_hash(&signed);

    let cx = Context {
        root,
        ev: &ev,
        payload: &payload,
        payload_hash: hash,
        originator: &originator,
        records: &records,
    };
    // Receipts and consents before events: declared entries point at them.
    let receipts = check_receipts(&cx, &mut used)?;
    let consents = check_consents(&cx, &mut used)?;
    let events = check_events(&cx, &mut event_log)?;
    let exporter = check_exporter(&cx, bundle.signed.signer(), &mut used)?;
    if let Some(unused) = used.iter().position(|u| !u) {
        return Err(inconsistent(
            format!("signer record {unused}"),
            "signs nothing in the bundle (no receipt, consent or the export)",
        ));
    }
    let exporter_role = if exporter.record.id == payload.sender {
        "originator"
    } else if cx.is_addressed_to(&exporter.record.id) {
        "recipient"
    } else {
        "neither originator nor recipient"
    };

    // Judicial use.
    let judicial_basis = judicial_basis(&payload.handling, &payload, &ev, &consents)?;

    let directory_checkpoint = directory
        .opened
        .as_ref()
        .map(CheckpointSummary::of)
        .ok_or_else(|| malformed("the bundle", "no directory proof"))?;
    let event_checkpoint = event_log
        .opened
        .as_ref()
        .map(CheckpointSummary::of)
        .ok_or(EvidenceError::MissingAcceptance(message_id))?;
    Ok(EvidenceReport {
        message_id,
        payload_hash: hash,
        originator: originator.summary(),
        handling_text: payload.handling.to_text(),
        events,
        receipts,
        consents,
        judicial_basis,
        exporter: exporter.summary(),
        exporter_role,
        exported_at: ev.exported_at,
        case_reference: ev.case_reference.clone(),
        directory_checkpoint,
        event_checkpoint,
        payload,
    })
}

/// What the checks after the originator's chain and the payload share.
struct Context<'a> {
    root: &'a PublicKey,
    ev: &'a Evidence,
    payload: &'a Payload,
    payload_hash: [u8; 32],
    originator: &'a VerifiedRecord<'a>,
    records: &'a [VerifiedRecord<'a>],
}

impl Context<'_> {
    /// The first signer record of `id` with identity key `key` in force at
    /// `at` (the exporter builds the bundle so that this is the one meant).
    fn signer(&self, id: &DirectoryId, key: &PublicKey, at: Timestamp) -> Option<usize> {
        self.records.iter().position(|r| {
            &r.record.id == id && &r.record.identity_key == key && r.in_force(self.root, at).is_ok()
        })
    }

    fn is_addressed_to(&self, id: &DirectoryId) -> bool {
        self.payload
            .recipients
            .iter()
            .chain(&self.payload.resolved)
            .any(|x| x == id)
    }
}

/// Receipts: each by a recipient whose logged record was in force when it
/// signed, about this message, and binding this exact payload.
fn check_receipts(
    cx: &Context<'_>,
    used: &mut [bool],
) -> Result<Vec<ReceiptSummary>, EvidenceError> {
    let message_id = cx.payload.message_id;
    let mut out = Vec::new();
    for (i, s) in cx.ev.receipts.iter().enumerate() {
        let part = format!("receipt {i}");
        let claimed = s
            .decode_unverified()
            .map_err(|e| signed_part_error(&part, e))?;
        let pos = cx
            .signer(&claimed.by, s.signer(), claimed.at)
            .ok_or_else(|| EvidenceError::UnknownSigner {
                part: part.clone(),
                id: claimed.by.clone(),
                at: claimed.at,
            })?;
        let signer = cx
            .records
            .get(pos)
            .ok_or_else(|| malformed(&part, "signer vanished"))?;
        let r = Receipt::verify(s, &signer.record).map_err(|e| signed_part_error(&part, e))?;
        if let Some(u) = used.get_mut(pos) {
            *u = true;
        }
        if r.message_id != message_id {
            return Err(inconsistent(
                &part,
                format!("about message {}, not {message_id}", r.message_id),
            ));
        }
        if !cx.is_addressed_to(&r.by) {
            return Err(inconsistent(
                &part,
                format!("{} is not a recipient of the message", r.by),
            ));
        }
        if let ReceiptKind::HandlingAcknowledged { payload_hash: h }
        | ReceiptKind::Deleted { payload_hash: h } = &r.kind
            && h != &cx.payload_hash
        {
            return Err(inconsistent(
                &part,
                "acknowledges or deletes another payload than the one in the bundle",
            ));
        }
        out.push(ReceiptSummary {
            by: r.by,
            kind: r.kind,
            at: r.at,
        });
    }
    Ok(out)
}

/// Consent decisions: each signed by the originator (its identity key in
/// force when it decided), about this message, about judicial use, and not
/// decided after the export.
fn check_consents(
    cx: &Context<'_>,
    used: &mut [bool],
) -> Result<Vec<ConsentDecision>, EvidenceError> {
    let message_id = cx.payload.message_id;
    let originator = &cx.payload.sender;
    let mut out = Vec::new();
    for (i, s) in cx.ev.consents.iter().enumerate() {
        let part = format!("consent decision {i}");
        let foreign = |reason: String| EvidenceError::ForeignConsent {
            position: i,
            originator: originator.clone(),
            reason,
        };
        let claimed = s
            .decode_unverified()
            .map_err(|e| signed_part_error(&part, e))?;
        if &claimed.decided_by != originator {
            return Err(foreign(format!("it is signed as {}", claimed.decided_by)));
        }
        let (signer, slot) = if &cx.originator.record.identity_key == s.signer()
            && cx.originator.in_force(cx.root, claimed.decided_at).is_ok()
        {
            (cx.originator, None)
        } else {
            let pos = cx
                .signer(originator, s.signer(), claimed.decided_at)
                .ok_or_else(|| {
                    foreign(
                        "its signing key is not the originator's identity key in force when it \
                         was decided"
                            .to_owned(),
                    )
                })?;
            let r = cx
                .records
                .get(pos)
                .ok_or_else(|| malformed(&part, "signer vanished"))?;
            (r, Some(pos))
        };
        let d =
            ConsentDecision::verify(s, &signer.record).map_err(|e| signed_part_error(&part, e))?;
        if let Some(u) = slot.and_then(|p| used.get_mut(p)) {
            *u = true;
        }
        if d.message_id != message_id {
            return Err(inconsistent(
                &part,
                format!("about message {}, not {message_id}", d.message_id),
            ));
        }
        if !matches!(d.scope, ConsentScope::JudicialUse { .. }) {
            return Err(inconsistent(
                &part,
                format!(
                    "about {}, not judicial use (only judicial consents belong in evidence)",
                    d.scope.to_text()
                ),
            ));
        }
        if d.decided_at > cx.ev.exported_at.plus_millis(MAX_CLOCK_SKEW_MS) {
            return Err(inconsistent(
                &part,
                format!(
                    "decided at {}, after the bundle was exported ({})",
                    d.decided_at, cx.ev.exported_at
                ),
            ));
        }
        out.push(d);
    }
    Ok(out)
}

/// Event-log proofs (c2sp.org/tlog-proof, RFC 9162 §2.1.3.2): canonical,
/// in increasing index order, the disclosed record's sequence number equal
/// to the index, about this message, included under the pinned event log
/// key; exactly one acceptance, from the payload's device and not before
/// the payload's creation; deliveries and acknowledgements only to devices
/// it names.
fn check_events(
    cx: &Context<'_>,
    event_log: &mut LogView<'_>,
) -> Result<Vec<EventSummary>, EvidenceError> {
    let message_id = cx.payload.message_id;
    let mut events: Vec<EventSummary> = Vec::new();
    let mut accepted: Option<Vec<PublicKey>> = None;
    for (i, text) in cx.ev.events.iter().enumerate() {
        let part = format!("event proof {i}");
        let proof = event_log.parse(&part, text)?;
        let extra = proof
            .extra()
            .ok_or_else(|| malformed(&part, "no extra line carrying the disclosed event"))?;
        let disclosed =
            DisclosedEvent::decode(extra).map_err(|e| malformed(format!("{part}: extra"), e))?;
        let record = disclosed
            .decode_record()
            .map_err(|e| malformed(format!("{part}: event record"), e))?;
        if record.seq != proof.index() {
            return Err(inconsistent(
                &part,
                format!(
                    "the record says sequence number {} but the proof is for index {}",
                    record.seq,
                    proof.index()
                ),
            ));
        }
        if events.last().is_some_and(|e| e.index >= proof.index()) {
            return Err(malformed(
                "the event proofs",
                "not in strictly increasing index order",
            ));
        }
        let about = record.kind.message_id() == &message_id
            || matches!(&record.kind, EventKind::Declared { refers_to, .. } if refers_to == &message_id);
        if !about {
            return Err(EvidenceError::UnrelatedEvent {
                position: i,
                index: proof.index(),
                other: *record.kind.message_id(),
                message: message_id,
            });
        }
        event_log.check_inclusion(&part, &proof, &disclosed.leaf_hash())?;
        let mut matches = None;
        match &record.kind {
            EventKind::Accepted {
                sender_device,
                recipient_devices,
                ..
            } => {
                if accepted.is_some() {
                    return Err(inconsistent(&part, "a second acceptance of the message"));
                }
                if sender_device != &cx.payload.sender_device {
                    return Err(inconsistent(
                        &part,
                        "the relay accepted the message from another device than the one the \
                         payload names",
                    ));
                }
                if cx.payload.created_at > record.time.plus_millis(MAX_CLOCK_SKEW_MS) {
                    return Err(inconsistent(
                        &part,
                        format!(
                            "the relay accepted the message at {}, before it claims to have been \
                             created ({})",
                            record.time, cx.payload.created_at
                        ),
                    ));
                }
                accepted = Some(recipient_devices.clone());
            }
            EventKind::Delivered {
                recipient_device, ..
            }
            | EventKind::Acknowledged {
                recipient_device, ..
            }
            | EventKind::Dropped {
                recipient_device, ..
            } => {
                if !accepted
                    .as_ref()
                    .is_some_and(|devs| devs.contains(recipient_device))
                {
                    return Err(inconsistent(
                        &part,
                        format!(
                            "{} for a device the preceding acceptance does not name",
                            record.kind.name()
                        ),
                    ));
                }
            }
            EventKind::Declared {
                kind, commitment, ..
            } => {
                // The commitment is SHA-256 of the signed object's encoding.
                matches = match kind {
                    Declared::DeliveryReceipt
                    | Declared::HandlingAcknowledged
                    | Declared::Deletion => cx
                        .ev
                        .receipts
                        .iter()
                        .position(|r| &object_hash(r) == commitment)
                        .map(|p| ("receipt", p)),
                    Declared::ConsentGranted | Declared::ConsentRefused => cx
                        .ev
                        .consents
                        .iter()
                        .position(|c| &object_hash(c) == commitment)
                        .map(|p| ("consent", p)),
                    Declared::ConsentRequest => None,
                };
            }
        }
        events.push(EventSummary {
            index: proof.index(),
            time: record.time,
            record,
            matches,
        });
    }
    if accepted.is_none() {
        return Err(EvidenceError::MissingAcceptance(message_id));
    }
    Ok(events)
}

/// The exporter: the focal point whose logged record (the originator's, or
/// a signer record) has the key that signed the bundle and was in force at
/// `exported_at`.
fn check_exporter<'a>(
    cx: &Context<'a>,
    key: &PublicKey,
    used: &mut [bool],
) -> Result<&'a VerifiedRecord<'a>, EvidenceError> {
    let ev = cx.ev;
    if ev.exporter == cx.originator.record.id
        && &cx.originator.record.identity_key == key
        && cx.originator.in_force(cx.root, ev.exported_at).is_ok()
    {
        return Ok(cx.originator);
    }
    let pos = cx
        .signer(&ev.exporter, key, ev.exported_at)
        .ok_or_else(|| EvidenceError::UnknownSigner {
            part: "the bundle's exporter".into(),
            id: ev.exporter.clone(),
            at: ev.exported_at,
        })?;
    if let Some(u) = used.get_mut(pos) {
        *u = true;
    }
    cx.records
        .get(pos)
        .ok_or_else(|| malformed("the bundle", "signer vanished"))
}

fn judicial_basis(
    handling: &Handling,
    payload: &Payload,
    ev: &Evidence,
    consents: &[ConsentDecision],
) -> Result<JudicialBasis, EvidenceError> {
    if handling.judicial_use == JudicialUse::Permitted {
        return Ok(JudicialBasis::PermittedByHandling);
    }
    let case = ev
        .case_reference
        .as_deref()
        .ok_or(EvidenceError::MissingCaseReference(
            handling.judicial_use.label(),
        ))?;
    let grant = check_judicial_use(
        handling,
        &payload.message_id,
        &payload.sender,
        Some(case),
        consents,
        ev.exported_at,
    )
    .map_err(|r| refusal(&r, case))?
    .ok_or_else(|| inconsistent("the judicial consent", "no grant found"))?;
    let position = consents
        .iter()
        .position(|c| std::ptr::eq(c, grant))
        .unwrap_or_default();
    Ok(JudicialBasis::Consent {
        position,
        decision: grant.clone(),
    })
}

fn refusal(r: &JudicialRefusal, case: &str) -> EvidenceError {
    let prior = match r.prior {
        PriorDecision::None => String::new(),
        PriorDecision::Lapsed(t) => format!("; the originator's grant lapsed at {t}"),
        PriorDecision::Refused(t) => format!("; the originator refused consent on {t}"),
    };
    EvidenceError::NoJudicialConsent {
        judicial_use: r.judicial_use.label(),
        originator: r.originator.clone(),
        case_reference: case.to_owned(),
        prior,
    }
}

/// A short name for what a payload's content is.
pub fn content_kind(content: &Content) -> &'static str {
    match content {
        Content::Text => "text",
        Content::Forward { .. } | Content::ForwardWithConsent { .. } => "forward",
        Content::Handover { .. } => "handover",
        Content::Case(_) => "case change",
        Content::Request(_) => "request step",
        Content::Reply { .. } => "reply",
        _ => "accountability message",
    }
}
