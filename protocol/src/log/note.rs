//! C2SP signed notes (<https://c2sp.org/signed-note>), parsed the way
//! golang.org/x/mod/sumdb/note parses them.
//!
//! A signed note is a UTF-8 text ending in a newline, a blank line, and one or
//! more lines `— <key name> base64(key ID || signature)`. Verifier keys are
//! `<name>+<hex8 key ID>+base64(type || public key)`; signer keys are
//! `PRIVATE+KEY+<name>+<hex8 key ID>+base64(type || seed)`.
//!
//! Stricter than Go in four places, all of which only reject inputs no
//! honest encoder produces: base64 must be canonical (no stray padding bits),
//! key IDs in key strings must be lower-case hex, Ed25519 signatures are
//! checked with `verify_strict` and weak public keys are refused, and every
//! signature from a known key is verified (Go skips a second signature by
//! the same key).
//!
//! Non-features: ECDSA (type `0x02`) and RFC 6962 (type `0x05`) keys; notes
//! signed with them parse, but their signatures are treated as unknown.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::cosigned;

/// Largest signed note accepted, in bytes. Leaves room for 100 post-quantum
/// sized signatures of unknown keys; the spec asks for at least 16.
pub const MAX_NOTE_LEN: usize = 1 << 20;

/// Most signature lines accepted in one note (Go's limit; the spec requires
/// at least 16).
pub const MAX_SIGNATURES: usize = 100;

const SIG_PREFIX: &str = "\u{2014} ";
const PRIVATE_KEY_PREFIX: &str = "PRIVATE+KEY+";

/// Why a note or a key did not parse or verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// The note is longer than [`MAX_NOTE_LEN`].
    #[error("note of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Length of the input.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The note does not follow the signed-note syntax.
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    /// The note has more than [`MAX_SIGNATURES`] signature lines.
    #[error("note has more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    /// A key name is empty, or contains a space or a plus sign.
    #[error("invalid key name")]
    InvalidKeyName,
    /// A verifier or signer key string is malformed.
    #[error("malformed key: {0}")]
    MalformedKey(&'static str),
    /// A key uses a signature type this implementation does not support
    /// where it is used.
    #[error("unsupported key type 0x{0:02x}")]
    UnsupportedKeyType(u8),
    /// A key's ID does not match its name and public key.
    #[error("key id does not match the key")]
    KeyIdMismatch,
    /// Text given to be signed is not valid note text.
    #[error("invalid note text: {0}")]
    InvalidText(&'static str),
    /// Two configured verifiers share a key name and key ID.
    #[error("ambiguous verifier {name}+{key_id:08x}")]
    AmbiguousVerifier {
        /// The shared key name.
        name: String,
        /// The shared key ID.
        key_id: u32,
    },
    /// A signature by a known key failed to verify. Deliberately opaque.
    #[error("signature verification failed")]
    BadSignature,
    /// No signature in the note is from a known key.
    #[error("note has no signature from a known key")]
    Unverified,
    /// A note must carry at least one signature to be encoded.
    #[error("note has no signatures")]
    Unsigned,
}

/// Signature type identifier bytes (c2sp.org/signed-note, "Signature types").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureType {
    /// `0x01`: Ed25519 over the note text.
    Ed25519,
    /// `0x04`: timestamped Ed25519 witness cosignature
    /// (c2sp.org/tlog-cosignature).
    CosignatureV1,
}

impl SignatureType {
    /// The identifier byte.
    pub const fn id(self) -> u8 {
        match self {
            SignatureType::Ed25519 => 0x01,
            SignatureType::CosignatureV1 => 0x04,
        }
    }

    /// The type for an identifier byte, if supported.
    pub const fn from_id(id: u8) -> Option<Self> {
        match id {
            0x01 => Some(SignatureType::Ed25519),
            0x04 => Some(SignatureType::CosignatureV1),
            _ => None,
        }
    }
}

/// Whether `name` is a valid key name: non-empty, with no Unicode white space
/// and no `+` (c2sp.org/signed-note, "Format"). Rust's `char::is_whitespace`
/// is the Unicode `White_Space` property, the same set Go's `unicode.IsSpace`
/// uses.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

/// `SHA-256(name || 0x0A || type || public key)[:4]` as a big-endian `u32`
/// (c2sp.org/signed-note, "Signatures").
pub fn key_id(name: &str, signature_type: SignatureType, public_key: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', signature_type.id()]);
    h.update(public_key);
    let [a, b, c, d, ..]: [u8; 32] = h.finalize().into();
    u32::from_be_bytes([a, b, c, d])
}

/// Split at the first `+`, as Go's `chop` does: names and key IDs cannot
/// contain `+`, base64 key material can.
fn chop(s: &str) -> (&str, &str) {
    s.split_once('+').unwrap_or((s, ""))
}

/// Exactly eight lower-case hex digits, as every encoder writes them (Go's
/// `strconv.ParseUint(s, 16, 32)` with a length check). Go also accepts
/// upper case; refused here so a key has one spelling, since tools compare
/// key strings (a bundle's witness list, an export's `keys.txt`).
fn parse_hex8(s: &str) -> Option<u32> {
    if s.len() != 8
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

/// Decode `type || 32 bytes`; the buffer is wiped on drop because it may be
/// a seed.
fn decode_typed_key(b64: &str) -> Result<(u8, Zeroizing<[u8; 32]>), NoteError> {
    // 33 bytes encode to exactly 44 characters.
    if b64.len() != 44 {
        return Err(NoteError::MalformedKey(
            "key material must be a type byte and 32 bytes",
        ));
    }
    let raw = Zeroizing::new(
        STANDARD
            .decode(b64)
            .map_err(|_| NoteError::MalformedKey("bad base64"))?,
    );
    let (&ty, rest) = raw
        .split_first()
        .ok_or(NoteError::MalformedKey("empty key material"))?;
    let mut key = Zeroizing::new([0u8; 32]);
    if rest.len() != 32 {
        return Err(NoteError::MalformedKey(
            "key material must be a type byte and 32 bytes",
        ));
    }
    key.copy_from_slice(rest);
    Ok((ty, key))
}

fn verifying_key(public_key: &[u8; 32]) -> Result<VerifyingKey, NoteError> {
    let key = VerifyingKey::from_bytes(public_key)
        .map_err(|_| NoteError::MalformedKey("invalid ed25519 public key"))?;
    if key.is_weak() {
        return Err(NoteError::MalformedKey("weak ed25519 public key"));
    }
    Ok(key)
}

/// A public key that can verify note signatures, bound to a key name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: u32,
    signature_type: SignatureType,
    key: VerifyingKey,
}

impl NoteVerifier {
    /// A verifier for `public_key` under `name`, with the recommended key ID.
    pub fn new(
        name: &str,
        signature_type: SignatureType,
        public_key: &[u8; 32],
    ) -> Result<Self, NoteError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::InvalidKeyName);
        }
        Ok(NoteVerifier {
            name: name.to_owned(),
            key_id: key_id(name, signature_type, public_key),
            signature_type,
            key: verifying_key(public_key)?,
        })
    }

    /// Parse a verifier key `name+hex8+base64(type || public key)`
    /// (Go `note.NewVerifier`). Types `0x01` and `0x04` are supported.
    pub fn from_vkey(vkey: &str) -> Result<Self, NoteError> {
        let (name, rest) = chop(vkey);
        let (id_hex, key_b64) = chop(rest);
        if !is_valid_key_name(name) {
            return Err(NoteError::InvalidKeyName);
        }
        let id =
            parse_hex8(id_hex).ok_or(NoteError::MalformedKey("key id must be 8 hex digits"))?;
        let (ty, public_key) = decode_typed_key(key_b64)?;
        let signature_type = SignatureType::from_id(ty).ok_or(NoteError::UnsupportedKeyType(ty))?;
        let verifier = NoteVerifier::new(name, signature_type, &public_key)?;
        if verifier.key_id != id {
            return Err(NoteError::KeyIdMismatch);
        }
        Ok(verifier)
    }

    /// The verifier key string, the inverse of [`NoteVerifier::from_vkey`].
    pub fn to_vkey(&self) -> String {
        let mut material = Vec::with_capacity(33);
        material.push(self.signature_type.id());
        material.extend_from_slice(self.key.as_bytes());
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            STANDARD.encode(material)
        )
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The signature type.
    pub fn signature_type(&self) -> SignatureType {
        self.signature_type
    }

    /// The raw Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// From already-validated parts (a name that passed
    /// [`is_valid_key_name`] and a key derived from a signing key).
    pub(crate) fn from_parts(
        name: &str,
        key_id: u32,
        signature_type: SignatureType,
        key: VerifyingKey,
    ) -> Self {
        NoteVerifier {
            name: name.to_owned(),
            key_id,
            signature_type,
            key,
        }
    }

    /// Whether `signature` (without the key ID) is valid over `text` for this
    /// key's signature type.
    pub(crate) fn verify(&self, text: &str, signature: &[u8]) -> bool {
        match self.signature_type {
            SignatureType::Ed25519 => match ed25519_dalek::Signature::from_slice(signature) {
                Ok(sig) => self.key.verify_strict(text.as_bytes(), &sig).is_ok(),
                Err(_) => false,
            },
            SignatureType::CosignatureV1 => cosigned::verify_v1(&self.key, text, signature),
        }
    }

    pub(crate) fn matches(&self, name: &str, key_id: u32) -> bool {
        self.name == name && self.key_id == key_id
    }
}

/// A parsed signer key: name, key ID, type and seed.
pub(crate) struct ParsedSignerKey {
    pub(crate) name: String,
    pub(crate) signature_type: SignatureType,
    pub(crate) seed: Zeroizing<[u8; 32]>,
}

/// Parse `PRIVATE+KEY+name+hex8+base64(type || seed)` (Go `note.NewSigner`)
/// and check the key ID against the derived public key.
pub(crate) fn parse_signer_key(skey: &str) -> Result<ParsedSignerKey, NoteError> {
    let rest = skey
        .strip_prefix(PRIVATE_KEY_PREFIX)
        .ok_or(NoteError::MalformedKey(
            "signer key must start with PRIVATE+KEY+",
        ))?;
    let (name, rest) = chop(rest);
    let (id_hex, key_b64) = chop(rest);
    if !is_valid_key_name(name) {
        return Err(NoteError::InvalidKeyName);
    }
    let id = parse_hex8(id_hex).ok_or(NoteError::MalformedKey("key id must be 8 hex digits"))?;
    let (ty, seed) = decode_typed_key(key_b64)?;
    let signature_type = SignatureType::from_id(ty).ok_or(NoteError::UnsupportedKeyType(ty))?;
    let public = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
    if key_id(name, signature_type, &public) != id {
        return Err(NoteError::KeyIdMismatch);
    }
    Ok(ParsedSignerKey {
        name: name.to_owned(),
        signature_type,
        seed,
    })
}

/// Format a signer key string; wiped on drop.
pub(crate) fn format_signer_key(
    name: &str,
    key_id: u32,
    signature_type: SignatureType,
    key: &SigningKey,
) -> Zeroizing<String> {
    let mut material = Zeroizing::new(Vec::with_capacity(33));
    material.push(signature_type.id());
    material.extend_from_slice(key.as_bytes());
    Zeroizing::new(format!(
        "{PRIVATE_KEY_PREFIX}{name}+{key_id:08x}+{}",
        STANDARD.encode(material.as_slice())
    ))
}

/// An Ed25519 (type `0x01`) note signing key with its name. `Debug` never
/// prints key material; the key is wiped on drop.
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl NoteSigner {
    /// A signer from a 32-byte seed (the caller supplies the randomness).
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, NoteError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::InvalidKeyName);
        }
        let key = SigningKey::from_bytes(seed);
        Ok(NoteSigner {
            name: name.to_owned(),
            key_id: key_id(
                name,
                SignatureType::Ed25519,
                &key.verifying_key().to_bytes(),
            ),
            key,
        })
    }

    /// Parse a signer key `PRIVATE+KEY+name+hex8+base64(0x01 || seed)`.
    pub fn from_skey(skey: &str) -> Result<Self, NoteError> {
        let parsed = parse_signer_key(skey)?;
        if parsed.signature_type != SignatureType::Ed25519 {
            return Err(NoteError::UnsupportedKeyType(parsed.signature_type.id()));
        }
        NoteSigner::from_seed(&parsed.name, &parsed.seed)
    }

    /// The signer key string (secret; wiped on drop).
    pub fn to_skey(&self) -> Zeroizing<String> {
        format_signer_key(&self.name, self.key_id, SignatureType::Ed25519, &self.key)
    }

    /// The matching verifier.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier::from_parts(
            &self.name,
            self.key_id,
            SignatureType::Ed25519,
            self.key.verifying_key(),
        )
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Sign `text`, which must be valid note text.
    pub fn sign(&self, text: &str) -> Result<NoteSignature, NoteError> {
        check_text(text)?;
        Ok(NoteSignature {
            name: self.name.clone(),
            key_id: self.key_id,
            signature: self.key.sign(text.as_bytes()).to_bytes().to_vec(),
        })
    }
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoteSigner({}+{:08x})", self.name, self.key_id)
    }
}

/// One signature line of a note, verified or not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    name: String,
    key_id: u32,
    signature: Vec<u8>,
}

impl NoteSignature {
    /// A signature line by key `name`/`key_id`; `signature` excludes the key
    /// ID and must not be empty.
    pub fn new(name: &str, key_id: u32, signature: Vec<u8>) -> Result<Self, NoteError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::InvalidKeyName);
        }
        if signature.is_empty() {
            return Err(NoteError::Malformed("empty signature"));
        }
        Ok(NoteSignature {
            name: name.to_owned(),
            key_id,
            signature,
        })
    }

    /// From already-validated parts.
    pub(crate) fn from_parts(name: String, key_id: u32, signature: Vec<u8>) -> Self {
        NoteSignature {
            name,
            key_id,
            signature,
        }
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The signature bytes after the key ID.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The encoded line, `— name base64(key ID || signature)\n`.
    pub fn to_line(&self) -> String {
        let mut raw = Vec::with_capacity(4 + self.signature.len());
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(&self.signature);
        format!("{SIG_PREFIX}{} {}\n", self.name, STANDARD.encode(raw))
    }

    /// Parse one line (without its newline), c2sp.org/signed-note "Format".
    fn parse_line(line: &str) -> Result<Self, NoteError> {
        let rest = line.strip_prefix(SIG_PREFIX).ok_or(NoteError::Malformed(
            "signature line must start with an em dash and a space",
        ))?;
        let (name, b64) = rest.split_once(' ').unwrap_or((rest, ""));
        if !is_valid_key_name(name) {
            return Err(NoteError::Malformed("invalid key name in signature line"));
        }
        if b64.is_empty() {
            return Err(NoteError::Malformed("empty signature"));
        }
        let raw = STANDARD
            .decode(b64)
            .map_err(|_| NoteError::Malformed("signature is not base64"))?;
        match raw.split_first_chunk::<4>() {
            Some((id, sig)) if !sig.is_empty() => Ok(NoteSignature {
                name: name.to_owned(),
                key_id: u32::from_be_bytes(*id),
                signature: sig.to_vec(),
            }),
            _ => Err(NoteError::Malformed("signature shorter than 5 bytes")),
        }
    }
}

/// Check the rules every note text obeys: ends in a newline, no ASCII
/// control characters other than newline (c2sp.org/signed-note "Format").
fn check_text(text: &str) -> Result<(), NoteError> {
    if text.len() > MAX_NOTE_LEN {
        return Err(NoteError::TooLarge {
            len: text.len(),
            max: MAX_NOTE_LEN,
        });
    }
    if !text.ends_with('\n') {
        return Err(NoteError::InvalidText("text must end with a newline"));
    }
    if has_control(text) {
        return Err(NoteError::InvalidText("text contains a control character"));
    }
    Ok(())
}

fn has_control(s: &str) -> bool {
    s.bytes().any(|b| b < 0x20 && b != b'\n')
}

/// A note: text and signature lines, not (yet) verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

impl Note {
    /// An unsigned note; `text` must end in a newline and contain no control
    /// characters other than newline.
    pub fn new(text: &str) -> Result<Self, NoteError> {
        check_text(text)?;
        Ok(Note {
            text: text.to_owned(),
            signatures: Vec::new(),
        })
    }

    /// The text, including its final newline.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signature lines in order.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Add a signature line, replacing any existing line with the same key
    /// name and key ID (as Go's `note.Sign` does).
    pub fn add_signature(&mut self, signature: NoteSignature) -> Result<(), NoteError> {
        self.signatures
            .retain(|s| !(s.name == signature.name && s.key_id == signature.key_id));
        if self.signatures.len() >= MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        self.signatures.push(signature);
        Ok(())
    }

    /// Sign the text with `signer` and add the signature.
    pub fn sign(&mut self, signer: &NoteSigner) -> Result<(), NoteError> {
        let signature = signer.sign(&self.text)?;
        self.add_signature(signature)
    }

    /// Encode as a signed note: text, blank line, signature lines.
    pub fn encode(&self) -> Result<String, NoteError> {
        if self.signatures.is_empty() {
            return Err(NoteError::Unsigned);
        }
        let mut out = String::with_capacity(self.text.len() + 1 + self.signatures.len() * 100);
        out.push_str(&self.text);
        out.push('\n');
        for s in &self.signatures {
            out.push_str(&s.to_line());
        }
        if out.len() > MAX_NOTE_LEN {
            return Err(NoteError::TooLarge {
                len: out.len(),
                max: MAX_NOTE_LEN,
            });
        }
        Ok(out)
    }

    /// Parse the syntax of a signed note without checking any signature
    /// (c2sp.org/signed-note "Format"; Go `note.Open` minus verification).
    /// The text of an unverified note must not be trusted: use [`open_note`].
    pub fn parse(msg: &[u8]) -> Result<Self, NoteError> {
        if msg.len() > MAX_NOTE_LEN {
            return Err(NoteError::TooLarge {
                len: msg.len(),
                max: MAX_NOTE_LEN,
            });
        }
        let msg = std::str::from_utf8(msg).map_err(|_| NoteError::Malformed("not valid UTF-8"))?;
        if has_control(msg) {
            return Err(NoteError::Malformed("contains a control character"));
        }
        // The text ends at the last blank line; it keeps its final newline.
        let split = msg
            .rfind("\n\n")
            .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
        let text = msg.get(..split + 1).unwrap_or_default();
        let sigs = msg.get(split + 2..).unwrap_or_default();
        let body = sigs.strip_suffix('\n').ok_or(NoteError::Malformed(
            "signature block must be non-empty and end with a newline",
        ))?;
        let mut signatures = Vec::new();
        for line in body.split('\n') {
            if signatures.len() >= MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures);
            }
            signatures.push(NoteSignature::parse_line(line)?);
        }
        Ok(Note {
            text: text.to_owned(),
            signatures,
        })
    }
}

/// A note whose signatures have been checked against known keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedNote {
    text: String,
    verified: Vec<NoteSignature>,
    unverified: Vec<NoteSignature>,
}

impl VerifiedNote {
    /// The authenticated text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Signatures by known keys that verified, one per key, in note order.
    pub fn verified(&self) -> &[NoteSignature] {
        &self.verified
    }

    /// Signatures by unknown keys (ignored, not checked), duplicates removed.
    pub fn unverified(&self) -> &[NoteSignature] {
        &self.unverified
    }

    /// The verified signature by `verifier`'s key, if any.
    pub fn signature_by(&self, verifier: &NoteVerifier) -> Option<&NoteSignature> {
        self.verified
            .iter()
            .find(|s| verifier.matches(&s.name, s.key_id))
    }
}

/// Sign `text` with each signer and encode the signed note (Go `note.Sign`).
pub fn sign_note(text: &str, signers: &[&NoteSigner]) -> Result<String, NoteError> {
    let mut note = Note::new(text)?;
    for signer in signers {
        note.sign(signer)?;
    }
    note.encode()
}

/// Parse `msg` and verify its signatures against `verifiers`
/// (c2sp.org/signed-note "Signatures"; Go `note.Open`).
///
/// Signatures from unknown keys (name and key ID not both matching a
/// verifier) are ignored. Every signature from a known key is verified, and
/// one that fails rejects the whole note. At least one must verify.
pub fn open_note(msg: &[u8], verifiers: &[NoteVerifier]) -> Result<VerifiedNote, NoteError> {
    let note = Note::parse(msg)?;
    let mut verified: Vec<NoteSignature> = Vec::new();
    let mut unverified: Vec<NoteSignature> = Vec::new();
    for sig in note.signatures {
        let mut known = verifiers
            .iter()
            .filter(|v| v.matches(&sig.name, sig.key_id));
        let Some(verifier) = known.next() else {
            if !unverified.contains(&sig) {
                unverified.push(sig);
            }
            continue;
        };
        if known.next().is_some() {
            return Err(NoteError::AmbiguousVerifier {
                name: sig.name,
                key_id: sig.key_id,
            });
        }
        if !verifier.verify(&note.text, &sig.signature) {
            return Err(NoteError::BadSignature);
        }
        if !verified
            .iter()
            .any(|s| s.name == sig.name && s.key_id == sig.key_id)
        {
            verified.push(sig);
        }
    }
    if verified.is_empty() {
        return Err(NoteError::Unverified);
    }
    Ok(VerifiedNote {
        text: note.text,
        verified,
        unverified,
    })
}

/// An ASCII decimal `u64` with no sign and no leading zeros (except `0`
/// itself), as checkpoint sizes, proof indices and cosignature times are
/// written.
pub(crate) fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn key_round_trip() {
        let s = NoteSigner::from_seed("example.com/log", &[3; 32]).unwrap();
        let v = s.verifier();
        assert_eq!(NoteVerifier::from_vkey(&v.to_vkey()).unwrap(), v);
        let s2 = NoteSigner::from_skey(&s.to_skey()).unwrap();
        assert_eq!(s2.verifier(), v);
        assert!(!format!("{s:?}").contains(&STANDARD.encode([3u8; 32])));
    }

    #[test]
    fn names() {
        assert!(is_valid_key_name("example.com/log"));
        for bad in [
            "",
            "a b",
            "a+b",
            "a\u{a0}b",
            "a\u{2028}b",
            "a\tb",
            "a\u{3000}",
        ] {
            assert!(!is_valid_key_name(bad), "{bad:?}");
            assert_eq!(
                NoteSigner::from_seed(bad, &[1; 32]).unwrap_err(),
                NoteError::InvalidKeyName
            );
        }
    }

    #[test]
    fn vkey_rejections() {
        let v = NoteSigner::from_seed("n", &[5; 32])
            .unwrap()
            .verifier()
            .to_vkey();
        let (name, rest) = v.split_once('+').unwrap();
        let (id, b64) = rest.split_once('+').unwrap();
        for bad in [
            format!("{name}+{id}"),
            format!("{name}+{id}+"),
            format!("{name}++{b64}"),
            format!("{name}+{}+{b64}", &id[1..]),
            format!("{name}+0{id}+{b64}"),
            format!("{name}+{}+{b64}", id.replacen(&id[..1], "+", 1)),
            format!("+{id}+{b64}"),
            format!("{name}x+{id}+{b64}"),
            format!("{name}+{id}+{b64}="),
            format!("{name}+{id}+{}", &b64[..b64.len() - 4]),
            String::new(),
            "+++".to_owned(),
        ] {
            assert!(NoteVerifier::from_vkey(&bad).is_err(), "{bad:?}");
        }
        // A non-canonical identity point is refused as weak.
        let mut zero = vec![0x01];
        zero.extend_from_slice(&[0u8; 32]);
        zero[1] = 1;
        let id = key_id("n", SignatureType::Ed25519, &zero[1..].try_into().unwrap());
        let weak = format!("n+{id:08x}+{}", STANDARD.encode(&zero));
        assert!(NoteVerifier::from_vkey(&weak).is_err());
    }

    #[test]
    fn key_ids_have_one_spelling() {
        // Found by fuzz/regressions/note_keys: an upper-case key ID parsed,
        // so one key had several strings and string comparisons missed it.
        use crate::log::cosignature::CosignatureSigner;
        let s = CosignatureSigner::from_seed("witness.example", &[12; 32]).unwrap();
        let skey = s.to_skey();
        let vkey = s.verifier().to_vkey();
        let id = format!("{:08x}", s.key_id());
        assert!(id.bytes().any(|b| b.is_ascii_alphabetic()), "{id}");
        let upper = |k: &str| k.replacen(&id, &id.to_ascii_uppercase(), 1);
        assert!(CosignatureSigner::from_skey(&upper(&skey)).is_err());
        assert!(NoteVerifier::from_vkey(&upper(&vkey)).is_err());
        assert_eq!(CosignatureSigner::from_skey(&skey).unwrap().to_skey(), skey);
        assert_eq!(NoteVerifier::from_vkey(&vkey).unwrap().to_vkey(), vkey);
    }

    #[test]
    fn sign_open_and_tamper() {
        let a = NoteSigner::from_seed("a.example", &[1; 32]).unwrap();
        let b = NoteSigner::from_seed("b.example", &[2; 32]).unwrap();
        let msg = sign_note("hello\n\nworld\n", &[&a, &b]).unwrap();
        let n = open_note(msg.as_bytes(), &[a.verifier()]).unwrap();
        assert_eq!(n.text(), "hello\n\nworld\n");
        assert_eq!(n.verified().len(), 1);
        assert_eq!(n.unverified().len(), 1);
        assert!(n.signature_by(&a.verifier()).is_some());
        assert_eq!(
            open_note(msg.as_bytes(), &[]).unwrap_err(),
            NoteError::Unverified
        );
        let tampered = msg.replacen("world", "World", 1);
        assert_eq!(
            open_note(tampered.as_bytes(), &[a.verifier()]).unwrap_err(),
            NoteError::BadSignature
        );
        assert!(matches!(
            open_note(msg.as_bytes(), &[a.verifier(), a.verifier()]),
            Err(NoteError::AmbiguousVerifier { .. })
        ));
        assert!(sign_note("no newline", &[&a]).is_err());
        assert!(sign_note("tab\there\n", &[&a]).is_err());
        assert_eq!(Note::new("x\n").unwrap().encode(), Err(NoteError::Unsigned));
    }

    #[test]
    fn signature_limit() {
        let a = NoteSigner::from_seed("a", &[1; 32]).unwrap();
        let line = a.sign("t\n").unwrap().to_line();
        let unknown = NoteSignature::new("z", 7, vec![1; 64]).unwrap().to_line();
        let mut msg = String::from("t\n\n");
        msg.push_str(&line);
        for _ in 1..MAX_SIGNATURES {
            msg.push_str(&unknown);
        }
        let n = open_note(msg.as_bytes(), &[a.verifier()]).unwrap();
        assert_eq!(n.unverified().len(), 1);
        msg.push_str(&unknown);
        assert_eq!(
            open_note(msg.as_bytes(), &[a.verifier()]).unwrap_err(),
            NoteError::TooManySignatures
        );
    }
}
