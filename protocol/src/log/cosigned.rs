//! The message a C2SP witness cosignature (v1) signs, and checking one line
//! of it: what a signed-note verifier needs to accept cosignature lines,
//! without the rest of the witness machinery in `cosignature`.

use ed25519_dalek::VerifyingKey;

/// The fixed header line of the v1 signed message.
pub const COSIGNATURE_V1_HEADER: &str = "cosignature/v1";

/// Length of a v1 `timestamped_signature`: 8-byte timestamp, 64-byte
/// signature.
pub const COSIGNATURE_V1_LEN: usize = 72;

/// The message a witness signs: header line, `time <decimal>` line, then the
/// checkpoint note text (c2sp.org/tlog-cosignature "Signed message").
pub fn cosigned_message(checkpoint_text: &str, timestamp: u64) -> String {
    format!("{COSIGNATURE_V1_HEADER}\ntime {timestamp}\n{checkpoint_text}")
}

/// Largest timestamp a cosignature may carry, `2^63 - 1`
/// (c2sp.org/tlog-cosignature "Format").
pub const MAX_COSIGNATURE_TIMESTAMP: u64 = i64::MAX as u64;

/// Split a v1 `timestamped_signature`; `None` unless exactly 72 bytes with a
/// timestamp of at most [`MAX_COSIGNATURE_TIMESTAMP`].
pub(crate) fn split_v1(signature: &[u8]) -> Option<(u64, &[u8; 64])> {
    let (ts, sig) = signature.split_first_chunk::<8>()?;
    let sig: &[u8; 64] = sig.try_into().ok()?;
    let ts = u64::from_be_bytes(*ts);
    (ts <= MAX_COSIGNATURE_TIMESTAMP).then_some((ts, sig))
}

/// Whether `signature` is a valid v1 cosignature by `key` over `text`.
pub(crate) fn verify_v1(key: &VerifyingKey, text: &str, signature: &[u8]) -> bool {
    let Some((timestamp, sig)) = split_v1(signature) else {
        return false;
    };
    let sig = ed25519_dalek::Signature::from_bytes(sig);
    key.verify_strict(cosigned_message(text, timestamp).as_bytes(), &sig)
        .is_ok()
}

/// A verified witness cosignature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cosignature {
    witness: String,
    key_id: u32,
    timestamp: u64,
}

impl Cosignature {
    /// The witness key name.
    pub fn witness(&self) -> &str {
        &self.witness
    }

    /// The witness key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// When the witness cosigned, in seconds since the UNIX epoch.
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// Build from a signature line (key name, key ID, signature bytes)
    /// that a type `0x04` verifier has already verified.
    pub(crate) fn from_verified(name: &str, key_id: u32, signature: &[u8]) -> Option<Self> {
        Some(Cosignature {
            witness: name.to_owned(),
            key_id,
            timestamp: split_v1(signature)?.0,
        })
    }
}
