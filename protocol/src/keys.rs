//! Ed25519 keys, domain-separated signatures, fingerprints and safety numbers.
//!
//! Every signature in Liaison is made over `"liaison/1 " || domain || 0x00 ||
//! message`, so a signature made for one purpose (a directory record, a
//! payload, a relay challenge) can never be replayed as another.

use std::fmt;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};

use crate::codec::byte_array;

/// Why a signature or a signed object did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The signature does not verify under the expected key. Deliberately
    /// opaque: the cause (bad key encoding, bad signature) is not revealed.
    #[error("signature verification failed")]
    BadSignature,
    /// The object was signed by a key other than the one required.
    #[error("signed by an unexpected key")]
    WrongSigner,
    /// The signed body could not be decoded.
    #[error("signed body is malformed: {0}")]
    Decode(#[from] crate::codec::DecodeError),
    /// A certificate or record is not valid at the given time.
    #[error("not valid at this time ({0})")]
    Expired(&'static str),
    /// An authority signed for a country other than its own.
    #[error("authority for {authority} cannot sign for {subject}")]
    CountryMismatch {
        /// The authority's country.
        authority: String,
        /// The country claimed by the signed object.
        subject: String,
    },
    /// No trusted certificate exists for the signing authority.
    #[error("signing authority is not certified by the network root")]
    UnknownAuthority,
    /// The object has been revoked.
    #[error("revoked")]
    Revoked,
    /// Fields of the object contradict each other or the context.
    #[error("inconsistent: {0}")]
    Inconsistent(&'static str),
}

/// An Ed25519 public key (32 bytes, compressed Edwards point).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// Verify `signature` over `message` for `domain`. Uses strict
    /// verification (rejects small-order keys and non-canonical encodings).
    pub fn verify(
        &self,
        domain: &str,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), VerifyError> {
        let key = VerifyingKey::from_bytes(&self.0).map_err(|_| VerifyError::BadSignature)?;
        if key.is_weak() {
            return Err(VerifyError::BadSignature);
        }
        let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
        key.verify_strict(&domain_message(domain, message), &sig)
            .map_err(|_| VerifyError::BadSignature)
    }

    /// A short, stable fingerprint: SHA-256 over a label and the key, shown as
    /// twelve groups of four hex digits.
    pub fn fingerprint(&self) -> Fingerprint {
        let mut h = Sha256::new();
        h.update(b"liaison/1 fingerprint\0");
        h.update(self.0);
        Fingerprint(h.finalize().into())
    }

    /// Lowercase hex of the key.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parse lowercase or uppercase hex.
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut out).ok()?;
        Some(PublicKey(out))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", &self.to_hex()[..16])
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A key fingerprint (SHA-256 of the labelled key).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = hex::encode(self.0.get(..24).unwrap_or(&[]));
        let groups: Vec<&str> = hex
            .as_bytes()
            .chunks(4)
            .filter_map(|c| std::str::from_utf8(c).ok())
            .collect();
        f.write_str(&groups.join(" "))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// An Ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature(#[serde(with = "byte_array")] pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Signature({}…)",
            hex::encode(self.0.get(..8).unwrap_or(&[]))
        )
    }
}

/// An Ed25519 signing key. Its `Debug` never prints key material and its
/// memory is wiped on drop.
pub struct SecretKey {
    inner: SigningKey,
}

impl SecretKey {
    /// Build a key from a 32-byte seed. The caller supplies the randomness
    /// (this crate never touches the OS random number generator).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        SecretKey {
            inner: SigningKey::from_bytes(seed),
        }
    }

    /// The 32-byte seed, for storage. Wrapped so it is wiped after use.
    pub fn to_seed(&self) -> SecretSeed {
        zeroize::Zeroizing::new(self.inner.to_bytes())
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.inner.verifying_key().to_bytes())
    }

    /// Sign `message` for `domain`.
    pub fn sign(&self, domain: &str, message: &[u8]) -> Signature {
        Signature(self.inner.sign(&domain_message(domain, message)).to_bytes())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(public={:?})", self.public_key())
    }
}

impl Clone for SecretKey {
    fn clone(&self) -> Self {
        SecretKey::from_seed(&self.inner.to_bytes())
    }
}

/// The byte string that is actually signed for `domain`.
pub fn domain_message(domain: &str, message: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(10 + domain.len() + 1 + message.len());
    m.extend_from_slice(b"liaison/1 ");
    m.extend_from_slice(domain.as_bytes());
    m.push(0);
    m.extend_from_slice(message);
    m
}

/// A human-comparable safety number for a pair of contacts, in the manner of
/// Signal: each side contributes 30 digits derived by iterated hashing of its
/// id and identity key; the two halves are ordered so both parties see the
/// same 60 digits (12 groups of 5). Comparing it in person proves both hold
/// the keys the other believes they hold.
pub fn safety_number(a_id: &str, a_key: &PublicKey, b_id: &str, b_key: &PublicKey) -> String {
    let mut a = safety_half(a_id, a_key);
    let mut b = safety_half(b_id, b_key);
    if (a_id, a_key) > (b_id, b_key) {
        std::mem::swap(&mut a, &mut b);
    }
    let digits = format!("{a}{b}");
    digits
        .as_bytes()
        .chunks(5)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect::<Vec<_>>()
        .join(" ")
}

fn safety_half(id: &str, key: &PublicKey) -> String {
    // Iterating the hash makes brute-forcing a colliding key expensive.
    let mut digest: [u8; 64] = {
        let mut h = Sha512::new();
        h.update(b"liaison/1 safety-number\0");
        h.update((id.len() as u32).to_be_bytes());
        h.update(id.as_bytes());
        h.update(key.0);
        h.finalize().into()
    };
    for _ in 0..5200 {
        let mut h = Sha512::new();
        h.update(digest);
        h.update(key.0);
        digest = h.finalize().into();
    }
    let mut out = String::with_capacity(30);
    for chunk in digest.chunks(5).take(6) {
        let mut v: u64 = 0;
        for &byte in chunk {
            v = (v << 8) | u64::from(byte);
        }
        out.push_str(&format!("{:05}", v % 100_000));
    }
    out
}

/// A 32-byte secret seed, wiped on drop.
pub type SecretSeed = zeroize::Zeroizing<[u8; 32]>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_domain_separation() {
        let k = SecretKey::from_seed(&[7; 32]);
        let sig = k.sign("payload", b"hello");
        assert!(k.public_key().verify("payload", b"hello", &sig).is_ok());
        assert_eq!(
            k.public_key().verify("record", b"hello", &sig),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            k.public_key().verify("payload", b"hellp", &sig),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn safety_number_is_symmetric_and_key_sensitive() {
        let a = SecretKey::from_seed(&[1; 32]).public_key();
        let b = SecretKey::from_seed(&[2; 32]).public_key();
        let c = SecretKey::from_seed(&[3; 32]).public_key();
        let ab = safety_number("th.dsi.a", &a, "ph.pnp.b", &b);
        assert_eq!(ab, safety_number("ph.pnp.b", &b, "th.dsi.a", &a));
        assert_ne!(ab, safety_number("th.dsi.a", &a, "ph.pnp.b", &c));
        assert_eq!(ab.len(), 60 + 11);
        assert!(ab.chars().all(|c| c.is_ascii_digit() || c == ' '));
    }

    #[test]
    fn debug_does_not_leak_secret() {
        let k = SecretKey::from_seed(&[9; 32]);
        let dbg = format!("{k:?}");
        assert!(!dbg.contains(&hex::encode([9u8; 32])));
    }
}
