//! The signed payload, the per-device envelope, prekeys and enrolment
//! requests.
//!
//! A message is a [`Payload`] signed by the sender's identity key
//! ([`SignedPayload`]), encrypted separately for every recipient device with
//! Olm, each ciphertext carried in an [`Envelope`]. The relay sees envelopes
//! only. Because the inner signature travels inside the ciphertext, a
//! recipient (or later an auditor or a court) can verify who wrote the
//! payload without any session state.

use serde::{Deserialize, Serialize};

use crate::codec::{DecodeError, Wire};
use crate::directory::{DeviceKeys, FocalPointRecord, MAX_TEXT};
use crate::handling::Handling;
use crate::ids::{ConversationId, CountryCode, DirectoryId, MessageId, Timestamp};
use crate::keys::{PublicKey, Signature, VerifyError};
use crate::signed::{Signed, SignedBody};

/// Maximum size of a message body, in bytes of UTF-8.
pub const MAX_BODY: usize = 64 * 1024;
pub use crate::limits::MAX_RECIPIENTS;
/// Maximum encoded size of a payload (a handover package is the largest).
pub const MAX_HANDOVER: usize = 8 * 1024 * 1024;
/// Maximum number of attachment references in one payload.
pub const MAX_ATTACHMENTS: usize = 16;

/// A reference to an encrypted attachment stored elsewhere. Its `Debug`
/// leaves out the key, so that no debug output ever carries it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentRef {
    /// File name as shown to the recipient.
    pub name: String,
    /// Media type.
    pub media_type: String,
    /// Plaintext size in bytes.
    pub size: u64,
    /// SHA-256 of the plaintext.
    pub sha256: [u8; 32],
    /// ChaCha20-Poly1305 key of the ciphertext.
    pub key: [u8; 32],
    /// Where the ciphertext can be fetched (a blob id).
    pub blob: [u8; 32],
}

impl std::fmt::Debug for AttachmentRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttachmentRef")
            .field("name", &self.name)
            .field("media_type", &self.media_type)
            .field("size", &self.size)
            .field("sha256", &hex::encode(self.sha256))
            .field("key", &"[redacted]")
            .field("blob", &hex::encode(self.blob))
            .finish()
    }
}

/// What the sender signs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// Sender-chosen random id; the relay and clients deduplicate on it.
    pub message_id: MessageId,
    /// Sending focal point.
    pub sender: DirectoryId,
    /// The sender's device that encrypted it (its Olm Ed25519 key).
    pub sender_device: PublicKey,
    /// Every intended recipient (focal point or role ids).
    pub recipients: Vec<DirectoryId>,
    /// The focal points the sender's client resolved `recipients` to (role
    /// holders at sending time), so a holder who hands the role over before
    /// reading can still verify that the message was meant for them.
    pub resolved: Vec<DirectoryId>,
    /// Conversation the message belongs to.
    pub conversation_id: ConversationId,
    /// When the sender created it (sender's clock).
    pub created_at: Timestamp,
    /// Restrictions on use, set by the originator.
    pub handling: Handling,
    /// Message text.
    pub body: String,
    /// What kind of message this is beyond its text.
    pub content: Content,
    /// Attachments.
    pub attachments: Vec<AttachmentRef>,
    /// The sender's latest verified checkpoints of the relay's logs (C2SP
    /// signed notes), so a recipient shown a different history by the relay
    /// detects the fork.
    pub checkpoints: Vec<String>,
}

/// The kind of a payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Content {
    /// An ordinary message: the body is the text.
    #[default]
    Text,
    /// A forward: `original` is the encoded [`SignedPayload`] being
    /// forwarded, unchanged (it may itself be a forward: the chain of
    /// custody). The forward's own handling must be at least as strict as
    /// the original's.
    Forward {
        /// The forwarded signed payload, byte for byte.
        original: Vec<u8>,
    },
    /// Signed receipts (delivered, handling acknowledged, deleted) for the
    /// originator of each receipt's `message_id`.
    Receipts(Vec<Signed<crate::consent::Receipt>>),
    /// A signed consent request to the originator of a message.
    ConsentRequest(Signed<crate::consent::ConsentRequest>),
    /// The originator's signed grant or refusal.
    ConsentDecision(Signed<crate::consent::ConsentDecision>),
    /// A role handover package: the outgoing holder of `role` hands the
    /// role's conversation history to the incoming holder. Each item is an
    /// encoded [`SignedPayload`] exactly as originally received or sent, so
    /// every message keeps its originator's signature and handling.
    Handover {
        /// The role handed over.
        role: DirectoryId,
        /// The history.
        messages: Vec<Vec<u8>>,
    },
    /// A forward that the handling allows only with the originator's
    /// consent: `original` as in [`Content::Forward`], with the
    /// originator's signed grants that allow it (and whose conditions the
    /// recipient is shown). Added after the other kinds, so payloads of
    /// the earlier kinds keep their encoding; a release that predates it
    /// rejects such a payload as undecodable instead of misreading it.
    ForwardWithConsent {
        /// The forwarded signed payload, byte for byte.
        original: Vec<u8>,
        /// The originator's grants for this forward's recipients.
        grants: Vec<Signed<crate::consent::ConsentDecision>>,
    },
    /// A case opened or its membership changed, by its owner
    /// ([`crate::case`]); the payload's `conversation_id` is the case id.
    /// Appended after the other kinds, so their encoding is unchanged; a
    /// release that predates cases rejects it as undecodable.
    Case(crate::case::CaseChange),
    /// A step of a structured request ([`crate::request`]): its opening,
    /// acknowledgement, progress, answer, refusal, withdrawal, outcome or
    /// escalation; the body is the step's free text. Appended after the
    /// other kinds, so their encoding is unchanged; a release that
    /// predates requests rejects it as undecodable.
    Request(crate::request::RequestEvent),
    /// A text answering message `to`, with a short quote of it (empty when
    /// some recipient of the reply did not receive the message answered:
    /// a reply never carries content to someone it was not sent to). The
    /// body is the text. Appended after the other kinds.
    Reply {
        /// The message answered.
        to: crate::ids::MessageId,
        /// The beginning of its text, at most [`MAX_QUOTE`] bytes.
        quote: String,
    },
}

/// Most bytes of the quote a reply carries.
pub const MAX_QUOTE: usize = 280;

/// Most consent grants a forward carries.
pub const MAX_FORWARD_GRANTS: usize = MAX_RECIPIENTS;

impl Content {
    /// The forwarded signed payload, for either kind of forward.
    pub fn forwarded(&self) -> Option<&[u8]> {
        match self {
            Content::Forward { original } | Content::ForwardWithConsent { original, .. } => {
                Some(original)
            }
            _ => None,
        }
    }

    /// The originator's grants a forward carries (none for other kinds).
    pub fn forward_grants(&self) -> &[Signed<crate::consent::ConsentDecision>] {
        match self {
            Content::ForwardWithConsent { grants, .. } => grants,
            _ => &[],
        }
    }
}

/// Most checkpoints carried in a payload, and the size of each.
pub const MAX_PAYLOAD_CHECKPOINTS: usize = 2;
/// Largest checkpoint note carried in a payload.
pub const MAX_CHECKPOINT_NOTE: usize = 8 * 1024;

impl SignedBody for Payload {
    const DOMAIN: &'static str = "payload";
    const MAX_BODY: usize = MAX_HANDOVER;
}

impl Payload {
    /// Structural limits.
    pub fn check_wellformed(&self) -> Result<(), VerifyError> {
        if let Content::Handover { messages, .. } = &self.content
            && messages.len() > 10_000
        {
            return Err(VerifyError::Inconsistent("handover package too large"));
        }
        if let Content::Case(change) = &self.content {
            change.check_wellformed()?;
        }
        if let Content::Request(event) = &self.content {
            event.check_wellformed()?;
        }
        if let Content::Reply { quote, .. } = &self.content
            && quote.len() > MAX_QUOTE
        {
            return Err(VerifyError::Inconsistent("a reply's quote is too long"));
        }
        if self.content.forward_grants().len() > MAX_FORWARD_GRANTS {
            return Err(VerifyError::Inconsistent(
                "a forward carries at most 64 grants",
            ));
        }
        if self.body.len() > MAX_BODY {
            return Err(VerifyError::Inconsistent("body too long"));
        }
        if self.recipients.is_empty()
            || self.recipients.len() > MAX_RECIPIENTS
            || self.resolved.len() > 4 * MAX_RECIPIENTS
        {
            return Err(VerifyError::Inconsistent(
                "a payload has 1 to 64 recipients",
            ));
        }
        if self.attachments.len() > MAX_ATTACHMENTS
            || self
                .attachments
                .iter()
                .any(|a| a.name.len() > MAX_TEXT || a.media_type.len() > MAX_TEXT)
        {
            return Err(VerifyError::Inconsistent(
                "too many or malformed attachments",
            ));
        }
        self.handling
            .check_wellformed()
            .map_err(VerifyError::Inconsistent)
    }
}

/// A payload with its sender's signature.
pub type SignedPayload = Signed<Payload>;

impl Wire for SignedPayload {
    const MAX_LEN: usize = Payload::MAX_BODY + 256;
}

/// A new device asking to join a focal point's identity: made on the new
/// device, approved (endorsed) on a device holding the identity key, then
/// countersigned by the authority in a new record version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRequest {
    /// The focal point the device joins.
    pub id: DirectoryId,
    /// The new device's keys.
    pub device: DeviceKeys,
    /// X25519 public key the approving device encrypts the identity key to.
    pub transfer_key: [u8; 32],
    /// Initial prekeys of the new device.
    pub prekeys: Vec<Prekey>,
    /// When made.
    pub created_at: Timestamp,
}

impl SignedBody for DeviceRequest {
    const DOMAIN: &'static str = "device-request";
    const MAX_BODY: usize = 32 * 1024;
}

impl Wire for Signed<DeviceRequest> {
    const MAX_LEN: usize = DeviceRequest::MAX_BODY + 256;
}

/// The confirmation code of a device request: twelve digits (40 bits of a
/// SHA-256 over the signed request) in three groups, such as
/// `0412-7730-9281`. The new device shows it when it makes the request, and
/// the person approving on another device types it: the identity key is
/// then sealed only to the request the person made, not to one swapped on
/// its way (by whoever carried or relayed the file), which would have
/// another code. Digits read aloud the same in every language.
pub fn device_request_code(signed: &Signed<DeviceRequest>) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"liaison device-request code\0");
    h.update(signed.encode());
    let digest = h.finalize();
    let n = digest
        .iter()
        .take(5)
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
        % 1_000_000_000_000;
    format!(
        "{:04}-{:04}-{:04}",
        n / 100_000_000,
        n / 10_000 % 10_000,
        n % 10_000
    )
}

/// Whether `typed` is the confirmation `code`, ignoring spaces, dashes and
/// anything else that is not a digit (ASCII digits only).
pub fn device_code_matches(code: &str, typed: &str) -> bool {
    let digits = |s: &str| -> String { s.chars().filter(char::is_ascii_digit).collect() };
    let want = digits(code);
    !want.is_empty() && want == digits(typed)
}

impl DeviceRequest {
    /// Verify the new device's own signature (the request is signed with the
    /// device key) and its prekeys.
    pub fn verify(signed: &Signed<DeviceRequest>) -> Result<DeviceRequest, VerifyError> {
        let r = signed.verify()?;
        if signed.signer() != &r.device.signing {
            return Err(VerifyError::WrongSigner);
        }
        if r.prekeys.len() > 200 {
            return Err(VerifyError::Inconsistent("too many prekeys"));
        }
        for p in &r.prekeys {
            if p.device != r.device.signing {
                return Err(VerifyError::Inconsistent("prekey for another device"));
            }
            p.verify()?;
        }
        Ok(r)
    }
}

/// A device approval: the identity key's endorsement of the new device, and
/// the identity key itself sealed to the device's transfer key. The new
/// device completes it with its proof of possession when it links
/// ([`DeviceApproval::device_proof`]); the authority countersigns only a
/// completed approval.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceApproval {
    /// The request approved (as signed by the new device).
    pub request: Signed<DeviceRequest>,
    /// The approving identity key (must be the record's identity key).
    pub identity_key: PublicKey,
    /// The devices the approver knows as its own (so the new device does
    /// not raise an alert about them).
    pub known_devices: Vec<PublicKey>,
    /// Endorsement by the identity key.
    pub endorsement: Signature,
    /// Ephemeral X25519 public key of the approver.
    pub ephemeral: [u8; 32],
    /// The identity key seed, sealed (X25519 + HKDF-SHA256 +
    /// ChaCha20-Poly1305) to `request.transfer_key`.
    pub sealed_identity: Vec<u8>,
    /// The new device's proof of possession over (id, identity key, its
    /// keys), added by `liaison device link` once the device has opened the
    /// identity key; `None` in an approval fresh from the approving device.
    pub device_proof: Option<Signature>,
}

/// A device approval as the previous release wrote it (format 1, without
/// the proof slot). Read and migrated: the new device adds the proof.
#[derive(Serialize, Deserialize)]
struct DeviceApprovalFormat1 {
    request: Signed<DeviceRequest>,
    identity_key: PublicKey,
    known_devices: Vec<PublicKey>,
    endorsement: Signature,
    ephemeral: [u8; 32],
    sealed_identity: Vec<u8>,
}

/// Format byte of a [`DeviceApproval`] encoding (format 1 is still read).
pub const DEVICE_APPROVAL_FORMAT: u8 = 2;

impl Wire for DeviceApproval {
    const MAX_LEN: usize = DeviceRequest::MAX_BODY + 1024;

    fn encode(&self) -> Vec<u8> {
        let mut out = vec![DEVICE_APPROVAL_FORMAT];
        out.extend_from_slice(&crate::codec::encode_body(self));
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > Self::MAX_LEN {
            return Err(DecodeError::TooLong {
                len: bytes.len(),
                max: Self::MAX_LEN,
            });
        }
        match bytes.split_first() {
            None => Err(DecodeError::Empty),
            Some((&DEVICE_APPROVAL_FORMAT, body)) => crate::codec::decode_body(body),
            Some((&1, _)) => {
                let old: DeviceApprovalFormat1 =
                    crate::codec::decode_versioned(bytes, Self::MAX_LEN)?;
                Ok(DeviceApproval {
                    request: old.request,
                    identity_key: old.identity_key,
                    known_devices: old.known_devices,
                    endorsement: old.endorsement,
                    ephemeral: old.ephemeral,
                    sealed_identity: old.sealed_identity,
                    device_proof: None,
                })
            }
            Some((&v, _)) => Err(DecodeError::UnsupportedVersion(v)),
        }
    }
}

/// Verify a decrypted payload against the sender's verified record.
///
/// Checks, in order: the signer is the record's identity key and the
/// signature holds; the payload names the record as sender; the device that
/// encrypted it (as authenticated by the Olm session) belongs to the record
/// and matches the payload; the envelope's message id matches; `me` is a
/// recipient.
pub fn verify_payload(
    signed: &SignedPayload,
    sender: &FocalPointRecord,
    olm_sender_device: &PublicKey,
    envelope_message_id: &MessageId,
    addressed_to_me: impl Fn(&DirectoryId) -> bool,
) -> Result<Payload, VerifyError> {
    let p = signed.verify_by(&sender.identity_key)?;
    p.check_wellformed()?;
    if p.sender != sender.id {
        return Err(VerifyError::Inconsistent(
            "payload sender is not the signer's record",
        ));
    }
    if &p.sender_device != olm_sender_device
        || !sender
            .devices
            .iter()
            .any(|d| &d.signing == olm_sender_device)
    {
        return Err(VerifyError::Inconsistent(
            "encrypting device does not belong to the sender",
        ));
    }
    if &p.message_id != envelope_message_id {
        return Err(VerifyError::Inconsistent(
            "envelope and payload message ids differ",
        ));
    }
    if !p.recipients.iter().chain(&p.resolved).any(addressed_to_me) {
        return Err(VerifyError::Inconsistent(
            "this device's owner is not a recipient",
        ));
    }
    Ok(p)
}

/// Olm message kind, as in vodozemac's `OlmMessage::to_parts`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OlmKind {
    /// First messages of a session (carry the one-time key used).
    PreKey,
    /// Normal ratchet messages.
    Normal,
}

/// One device's copy of a message: what the relay stores and forwards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The message id (also inside the signed payload).
    pub message_id: MessageId,
    /// Sending device (Olm Ed25519 key).
    pub sender_device: PublicKey,
    /// Receiving device (Olm Ed25519 key).
    pub recipient_device: PublicKey,
    /// Olm message kind.
    pub kind: OlmKind,
    /// Olm ciphertext of an encoded [`SignedPayload`].
    pub ciphertext: Vec<u8>,
}

/// Maximum envelope ciphertext size (payload, signature and Olm overhead).
pub const MAX_CIPHERTEXT: usize = SignedPayload::MAX_LEN + 1024;

impl Envelope {
    /// Structural limits.
    pub fn check_wellformed(&self) -> Result<(), &'static str> {
        if self.ciphertext.is_empty() || self.ciphertext.len() > MAX_CIPHERTEXT {
            return Err("ciphertext empty or too long");
        }
        Ok(())
    }
}

/// An Olm one-time or fallback key, signed by the device that owns it so the
/// relay cannot substitute its own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prekey {
    /// The owning device (Olm Ed25519 key).
    pub device: PublicKey,
    /// The Curve25519 public key.
    pub key: [u8; 32],
    /// Fallback keys may be handed out more than once; one-time keys never.
    pub fallback: bool,
    /// Device signature over [`Prekey::signed_bytes`].
    pub signature: Signature,
}

impl Prekey {
    /// Signature domain.
    pub const DOMAIN: &'static str = "prekey";

    /// The bytes the device signs.
    pub fn signed_bytes(device: &PublicKey, key: &[u8; 32], fallback: bool) -> Vec<u8> {
        let mut m = Vec::with_capacity(65);
        m.extend_from_slice(&device.0);
        m.extend_from_slice(key);
        m.push(u8::from(fallback));
        m
    }

    /// Check the device's signature.
    pub fn verify(&self) -> Result<(), VerifyError> {
        self.device.verify(
            Self::DOMAIN,
            &Self::signed_bytes(&self.device, &self.key, self.fallback),
            &self.signature,
        )
    }
}

/// What a new focal point asks its authority to sign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolmentRequest {
    /// Requested id.
    pub id: DirectoryId,
    /// Country.
    pub country: CountryCode,
    /// Name.
    pub name: String,
    /// Agency.
    pub agency: String,
    /// Unit.
    pub unit: String,
    /// Languages.
    pub languages: Vec<String>,
    /// Time zone.
    pub time_zone: String,
    /// Identity key (signs this request).
    pub identity_key: PublicKey,
    /// The first device.
    pub device: DeviceKeys,
    /// The device's proof of possession (see
    /// `directory::device_proof_message`): it agrees to serve this id under
    /// this identity key. Copied into the record.
    pub device_proof: Signature,
    /// Identity key's endorsement of the device (see
    /// `directory::endorse_device`), copied into the record.
    pub device_endorsement: Signature,
    /// Initial prekeys, so the focal point can be written to before its first
    /// connection.
    pub prekeys: Vec<Prekey>,
    /// When the request was made.
    pub created_at: Timestamp,
}

/// First two bytes of a format 2 enrolment request body (with a device
/// proof). Format 1, written by releases before device proofs, is refused
/// with [`ENROLMENT_REQUEST_FORMAT_1`]: it cannot be migrated, since only the
/// device can make the proof.
pub const ENROLMENT_REQUEST_FORMAT_2_PREFIX: [u8; 2] = [0, 2];

/// Why a format 1 enrolment request is refused.
pub const ENROLMENT_REQUEST_FORMAT_1: &str = "this enrolment request was made by an older release \
     of liaison and carries no device proof; the focal point makes a new request with this \
     release (liaison init, in a new home) and you enrol that one";

impl SignedBody for EnrolmentRequest {
    const DOMAIN: &'static str = "enrolment-request";
    const MAX_BODY: usize = 32 * 1024;

    fn to_body(&self) -> Vec<u8> {
        let mut out = ENROLMENT_REQUEST_FORMAT_2_PREFIX.to_vec();
        out.extend_from_slice(&crate::codec::encode_body(self));
        out
    }

    fn from_body(body: &[u8]) -> Result<Self, DecodeError> {
        match body {
            [0, 2, rest @ ..] => crate::codec::decode_body(rest),
            [0, v, ..] => Err(DecodeError::UnsupportedVersion(*v)),
            _ => Err(DecodeError::Invalid(ENROLMENT_REQUEST_FORMAT_1)),
        }
    }
}

impl Wire for Signed<EnrolmentRequest> {
    const MAX_LEN: usize = EnrolmentRequest::MAX_BODY + 256;
}

/// Why an armoured enrolment request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnrolmentRequestError {
    /// The text is not an armoured enrolment request.
    #[error("not a Liaison enrolment request: {0}")]
    Armor(crate::armor::ArmorError),
    /// The request's self-signatures or limits do not verify.
    #[error("the enrolment request does not verify: {0}")]
    Verify(VerifyError),
}

impl From<crate::armor::ArmorError> for EnrolmentRequestError {
    fn from(e: crate::armor::ArmorError) -> Self {
        EnrolmentRequestError::Armor(e)
    }
}

impl From<VerifyError> for EnrolmentRequestError {
    fn from(e: VerifyError) -> Self {
        EnrolmentRequestError::Verify(e)
    }
}

impl EnrolmentRequest {
    /// Armour a signed request for carrying by mail or USB.
    pub fn armor(signed: &Signed<EnrolmentRequest>) -> String {
        crate::armor::armor_wire(crate::armor::ArmorKind::EnrolmentRequest, signed)
    }

    /// Read an armoured request (as written by [`EnrolmentRequest::armor`])
    /// and verify it.
    pub fn from_armored(
        text: &str,
    ) -> Result<(Signed<EnrolmentRequest>, EnrolmentRequest), EnrolmentRequestError> {
        let signed = crate::armor::dearmor_wire::<Signed<EnrolmentRequest>>(
            crate::armor::ArmorKind::EnrolmentRequest,
            text,
        )?;
        let req = EnrolmentRequest::verify(&signed)?;
        Ok((signed, req))
    }

    /// Verify the request's self-signatures (identity and device) and limits.
    pub fn verify(signed: &Signed<EnrolmentRequest>) -> Result<EnrolmentRequest, VerifyError> {
        let r = signed.verify()?;
        if signed.signer() != &r.identity_key {
            return Err(VerifyError::WrongSigner);
        }
        crate::directory::verify_device_proof(&r.id, &r.identity_key, &r.device, &r.device_proof)?;
        r.identity_key.verify(
            crate::directory::DEVICE_ENDORSEMENT_DOMAIN,
            &crate::directory::device_endorsement_message(&r.id, &r.device),
            &r.device_endorsement,
        )?;
        if r.id.country() != r.country {
            return Err(VerifyError::Inconsistent(
                "id does not start with the country code",
            ));
        }
        if [&r.name, &r.agency, &r.unit, &r.time_zone]
            .iter()
            .any(|t| t.len() > MAX_TEXT)
            || r.prekeys.len() > 200
        {
            return Err(VerifyError::Inconsistent("field too long"));
        }
        for p in &r.prekeys {
            if p.device != r.device.signing {
                return Err(VerifyError::Inconsistent("prekey for another device"));
            }
            p.verify()?;
        }
        Ok(r)
    }
}

/// SHA-256 of a signed payload's canonical encoding ([`Wire::encode`]): the
/// hash a deletion record keeps, which anyone holding the payload bytes can
/// recompute with `sha256sum`.
pub fn payload_hash(signed: &SignedPayload) -> [u8; 32] {
    payload_hash_of(&signed.encode())
}

/// [`payload_hash`] of a signed payload already in its canonical encoding.
pub fn payload_hash_of(encoded: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(encoded).into()
}

#[cfg(test)]
mod format_tests {
    use super::*;

    /// Debug output of an attachment reference (and so of a payload) never
    /// carries the file's key.
    #[test]
    fn an_attachment_key_never_shows_in_debug_output() {
        let a = AttachmentRef {
            name: "passport.jpg".into(),
            media_type: "image/jpeg".into(),
            size: 3,
            sha256: [1; 32],
            key: [0xab; 32],
            blob: [2; 32],
        };
        let shown = format!("{a:?}");
        assert!(
            shown.contains("[redacted]") && shown.contains("passport.jpg"),
            "{shown}"
        );
        assert!(!shown.contains(&hex::encode([0xab_u8; 32])), "{shown}");
        assert!(!shown.contains("171, 171"), "{shown}");
    }

    /// The earlier content kinds keep the bytes the previous release wrote
    /// (a postcard variant index, then the fields), and the forward with
    /// consent comes after all of them.
    #[test]
    fn content_kinds_keep_their_encoding_and_the_forward_with_consent_is_new() {
        use crate::codec::{decode_body, encode_body};
        assert_eq!(encode_body(&Content::Text), [0]);
        let previous_release_forward = [1u8, 2, 7, 8];
        assert_eq!(
            decode_body::<Content>(&previous_release_forward),
            Ok(Content::Forward {
                original: vec![7, 8]
            })
        );
        let with = Content::ForwardWithConsent {
            original: vec![7],
            grants: Vec::new(),
        };
        assert_eq!(encode_body(&with), [6, 1, 7, 0]);
        assert_eq!(with.forwarded(), Some(&[7u8][..]));
        assert_eq!(Content::Text.forwarded(), None);
    }
    use crate::codec::{encode_body, encode_versioned};
    use crate::directory::{endorse_device, prove_device};
    use crate::keys::SecretKey;

    fn key(n: u8) -> SecretKey {
        SecretKey::from_seed(&[n; 32])
    }

    fn request(proof_by: &SecretKey) -> (EnrolmentRequest, SecretKey) {
        let (identity, device) = (key(1), key(2));
        let id = DirectoryId::parse("th.dsi.alice").unwrap_or_else(|_| unreachable!());
        let keys = DeviceKeys {
            signing: device.public_key(),
            agreement: [3; 32],
        };
        let r = EnrolmentRequest {
            country: id.country(),
            name: "Alice".into(),
            agency: "DSI".into(),
            unit: String::new(),
            languages: vec![],
            time_zone: "UTC".into(),
            identity_key: identity.public_key(),
            device: keys,
            device_proof: prove_device(proof_by, &id, &identity.public_key(), &keys),
            device_endorsement: endorse_device(&identity, &id, &keys),
            prekeys: vec![],
            created_at: Timestamp(1),
            id,
        };
        (r, identity)
    }

    /// The request body of the previous release: a device signature over
    /// the identity key instead of the proof, and no format prefix.
    #[derive(Serialize)]
    struct RequestFormat1<'a> {
        id: &'a DirectoryId,
        country: CountryCode,
        name: &'a str,
        agency: &'a str,
        unit: &'a str,
        languages: &'a [String],
        time_zone: &'a str,
        identity_key: PublicKey,
        device: DeviceKeys,
        device_signature: Signature,
        device_endorsement: Signature,
        prekeys: &'a [Prekey],
        created_at: Timestamp,
    }

    #[test]
    fn enrolment_requests_carry_a_verified_proof_and_format_1_is_refused_by_name() {
        let (good, identity) = request(&key(2));
        let signed = Signed::sign(&good, &identity);
        assert_eq!(
            signed.body_bytes().get(..2),
            Some(&ENROLMENT_REQUEST_FORMAT_2_PREFIX[..])
        );
        assert_eq!(EnrolmentRequest::verify(&signed), Ok(good.clone()));
        // A proof made by any key but the device's is refused.
        let (bad, identity) = request(&key(9));
        assert!(EnrolmentRequest::verify(&Signed::sign(&bad, &identity)).is_err());
        // A request of the previous release verifies as signed, then is
        // refused with a message saying what to do.
        let old = encode_body(&RequestFormat1 {
            id: &good.id,
            country: good.country,
            name: &good.name,
            agency: &good.agency,
            unit: &good.unit,
            languages: &good.languages,
            time_zone: &good.time_zone,
            identity_key: good.identity_key,
            device: good.device,
            device_signature: good.device_proof,
            device_endorsement: good.device_endorsement,
            prekeys: &good.prekeys,
            created_at: good.created_at,
        });
        let sig = identity.sign(EnrolmentRequest::DOMAIN, &old);
        let old = Signed::<EnrolmentRequest>::from_parts(old, identity.public_key(), sig);
        let err = EnrolmentRequest::verify(&old).unwrap_err();
        assert!(err.to_string().contains("older release"), "{err}");
    }

    #[test]
    fn format_1_device_approvals_are_migrated_and_format_2_round_trips() {
        let device = key(2);
        let request = Signed::sign(
            &DeviceRequest {
                id: DirectoryId::parse("th.dsi.alice").unwrap_or_else(|_| unreachable!()),
                device: DeviceKeys {
                    signing: device.public_key(),
                    agreement: [3; 32],
                },
                transfer_key: [4; 32],
                prekeys: vec![],
                created_at: Timestamp(1),
            },
            &device,
        );
        let old = encode_versioned(&DeviceApprovalFormat1 {
            request: request.clone(),
            identity_key: key(1).public_key(),
            known_devices: vec![],
            endorsement: Signature([5; 64]),
            ephemeral: [6; 32],
            sealed_identity: vec![7; 48],
        });
        let migrated = DeviceApproval::decode(&old).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(migrated.device_proof, None);
        assert_eq!(migrated.request, request);
        let mut linked = migrated.clone();
        linked.device_proof = Some(Signature([8; 64]));
        let bytes = linked.encode();
        assert_eq!(bytes.first(), Some(&DEVICE_APPROVAL_FORMAT));
        assert_eq!(DeviceApproval::decode(&bytes), Ok(linked));
        assert_eq!(
            DeviceApproval::decode(&[9, 0]),
            Err(DecodeError::UnsupportedVersion(9))
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod device_code_tests {
    use super::*;
    use crate::directory::DeviceKeys;
    use crate::keys::SecretKey;

    fn request(transfer: u8) -> Signed<DeviceRequest> {
        let device = SecretKey::from_seed(&[1; 32]);
        Signed::sign(
            &DeviceRequest {
                id: DirectoryId::parse("th.dsi.alice").unwrap(),
                device: DeviceKeys {
                    signing: device.public_key(),
                    agreement: [2; 32],
                },
                transfer_key: [transfer; 32],
                prekeys: Vec::new(),
                created_at: Timestamp(1),
            },
            &device,
        )
    }

    #[test]
    fn the_code_names_one_request() {
        let code = device_request_code(&request(3));
        assert_eq!(code.len(), 14, "{code}");
        assert!(
            code.chars().all(|c| c.is_ascii_digit() || c == '-'),
            "{code}"
        );
        assert_eq!(code, device_request_code(&request(3)), "stable");
        // A request swapped for another (another transfer key) has another
        // code.
        assert_ne!(code, device_request_code(&request(4)));
        assert!(device_code_matches(&code, &code.replace('-', " ")));
        assert!(device_code_matches(&code, &code.replace('-', "")));
        assert!(!device_code_matches(
            &code,
            &device_request_code(&request(4))
        ));
        assert!(!device_code_matches(&code, ""));
        assert!(!device_code_matches("", ""));
    }
}
