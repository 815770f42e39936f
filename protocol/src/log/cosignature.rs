//! C2SP witness cosignatures, version 1 (<https://c2sp.org/tlog-cosignature>).
//!
//! A cosignature is a signed-note signature line of type `0x04` whose key ID is
//! `SHA-256(name || 0x0A || 0x04 || public key)[:4]` and whose signature is
//! `u64 timestamp (big-endian) || Ed25519 signature`, 72 bytes, over
//!
//! ```text
//! cosignature/v1
//! time <timestamp>
//! <checkpoint note text>
//! ```
//!
//! The timestamp is an argument: this module never reads a clock. Freshness
//! policy belongs to the caller.

use std::fmt;

use ed25519_dalek::{Signer as _, SigningKey};
use zeroize::Zeroizing;

use super::checkpoint::{Checkpoint, CheckpointError};
pub use super::cosigned::Cosignature;
use super::cosigned::split_v1;
pub use super::cosigned::{
    COSIGNATURE_V1_HEADER, COSIGNATURE_V1_LEN, MAX_COSIGNATURE_TIMESTAMP, cosigned_message,
};
use super::note::{
    NoteError, NoteSignature, NoteVerifier, SignatureType, format_signer_key, is_valid_key_name,
    key_id, parse_signer_key,
};

/// The timestamp carried by a cosignature line, if it has the v1 shape.
/// Unauthenticated until the line is verified.
pub fn cosignature_timestamp(signature: &NoteSignature) -> Option<u64> {
    split_v1(signature.signature()).map(|(t, _)| t)
}

/// Verify one cosignature line over `checkpoint` with a witness key.
pub fn verify_cosignature(
    witness: &NoteVerifier,
    checkpoint: &Checkpoint,
    signature: &NoteSignature,
) -> Result<Cosignature, CheckpointError> {
    if witness.signature_type() != SignatureType::CosignatureV1 {
        return Err(NoteError::UnsupportedKeyType(witness.signature_type().id()).into());
    }
    if !witness.matches(signature.name(), signature.key_id()) {
        return Err(NoteError::Unverified.into());
    }
    if !witness.verify(&checkpoint.to_text(), signature.signature()) {
        return Err(NoteError::BadSignature.into());
    }
    Cosignature::from_verified(signature.name(), signature.key_id(), signature.signature())
        .ok_or(CheckpointError::Note(NoteError::BadSignature))
}

/// A witness signing key (type `0x04`). `Debug` never prints key material;
/// the key is wiped on drop.
#[derive(Clone)]
pub struct CosignatureSigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl CosignatureSigner {
    /// A witness key from a 32-byte seed (the caller supplies the randomness).
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, NoteError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::InvalidKeyName);
        }
        let key = SigningKey::from_bytes(seed);
        Ok(CosignatureSigner {
            name: name.to_owned(),
            key_id: key_id(
                name,
                SignatureType::CosignatureV1,
                &key.verifying_key().to_bytes(),
            ),
            key,
        })
    }

    /// Parse `PRIVATE+KEY+name+hex8+base64(0x04 || seed)`, the signed-note
    /// signer key format applied to the cosignature type.
    pub fn from_skey(skey: &str) -> Result<Self, NoteError> {
        let parsed = parse_signer_key(skey)?;
        if parsed.signature_type != SignatureType::CosignatureV1 {
            return Err(NoteError::UnsupportedKeyType(parsed.signature_type.id()));
        }
        CosignatureSigner::from_seed(&parsed.name, &parsed.seed)
    }

    /// The signer key string (secret; wiped on drop).
    pub fn to_skey(&self) -> Zeroizing<String> {
        format_signer_key(
            &self.name,
            self.key_id,
            SignatureType::CosignatureV1,
            &self.key,
        )
    }

    /// The matching verifier (type `0x04`).
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier::from_parts(
            &self.name,
            self.key_id,
            SignatureType::CosignatureV1,
            self.key.verifying_key(),
        )
    }

    /// The witness key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Cosign `checkpoint` at `timestamp` (seconds since the UNIX epoch). The
    /// caller must first have checked the checkpoint's log signature and its
    /// consistency with every checkpoint it cosigned before.
    /// Fails only if `timestamp` exceeds [`MAX_COSIGNATURE_TIMESTAMP`].
    pub fn cosign(
        &self,
        checkpoint: &Checkpoint,
        timestamp: u64,
    ) -> Result<NoteSignature, CheckpointError> {
        if timestamp > MAX_COSIGNATURE_TIMESTAMP {
            return Err(CheckpointError::TimestampOutOfRange(timestamp));
        }
        let message = cosigned_message(&checkpoint.to_text(), timestamp);
        let sig = self.key.sign(message.as_bytes()).to_bytes();
        let mut raw = Vec::with_capacity(COSIGNATURE_V1_LEN);
        raw.extend_from_slice(&timestamp.to_be_bytes());
        raw.extend_from_slice(&sig);
        Ok(NoteSignature::from_parts(
            self.name.clone(),
            self.key_id,
            raw,
        ))
    }
}

impl fmt::Debug for CosignatureSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CosignatureSigner({}+{:08x})", self.name, self.key_id)
    }
}
