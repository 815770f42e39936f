//! Signed objects: an exact body encoding, the signer's key and a signature.
//!
//! The signature covers the body bytes as they travel, not a re-encoding, so a
//! verifier never depends on re-serialising a value identically.

use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::codec::{DecodeError, decode_body, encode_body};
use crate::keys::{PublicKey, SecretKey, Signature, VerifyError};

/// A type that can be signed. `DOMAIN` separates its signatures from every
/// other kind; `MAX_BODY` bounds its encoded body.
pub trait SignedBody: Serialize + DeserializeOwned {
    /// Signature domain label.
    const DOMAIN: &'static str;
    /// Largest accepted body encoding.
    const MAX_BODY: usize;

    /// The exact bytes signed. By default the bare canonical encoding; a
    /// type whose body format changed overrides this to mark its version.
    fn to_body(&self) -> Vec<u8> {
        encode_body(self)
    }

    /// Strict decoding of [`SignedBody::to_body`]'s output (and of any older
    /// format the type still reads).
    fn from_body(body: &[u8]) -> Result<Self, DecodeError> {
        decode_body(body)
    }
}

/// A body of type `T`, signed by `signer`.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Signed<T> {
    body: Vec<u8>,
    signer: PublicKey,
    signature: Signature,
    #[serde(skip)]
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for Signed<T> {
    fn clone(&self) -> Self {
        Signed {
            body: self.body.clone(),
            signer: self.signer,
            signature: self.signature,
            _t: PhantomData,
        }
    }
}

impl<T> PartialEq for Signed<T> {
    fn eq(&self, other: &Self) -> bool {
        self.body == other.body && self.signer == other.signer && self.signature == other.signature
    }
}
impl<T> Eq for Signed<T> {}

impl<T> fmt::Debug for Signed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signed")
            .field("type", &std::any::type_name::<T>())
            .field("body_len", &self.body.len())
            .field("signer", &self.signer)
            .finish()
    }
}

impl<T: SignedBody> Signed<T> {
    /// Encode and sign `value` with `key`.
    pub fn sign(value: &T, key: &SecretKey) -> Self {
        let body = value.to_body();
        let signature = key.sign(T::DOMAIN, &body);
        Signed {
            body,
            signer: key.public_key(),
            signature,
            _t: PhantomData,
        }
    }

    /// Build from parts (for tests and tools that carry signatures apart).
    pub fn from_parts(body: Vec<u8>, signer: PublicKey, signature: Signature) -> Self {
        Signed {
            body,
            signer,
            signature,
            _t: PhantomData,
        }
    }

    /// The key that claims to have signed.
    pub fn signer(&self) -> &PublicKey {
        &self.signer
    }

    /// The exact signed body bytes.
    pub fn body_bytes(&self) -> &[u8] {
        &self.body
    }

    /// The signature.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// Verify the signature under the claimed signer and decode the body.
    /// The caller must still decide whether it trusts [`Signed::signer`].
    pub fn verify(&self) -> Result<T, VerifyError> {
        if self.body.len() > T::MAX_BODY {
            return Err(VerifyError::Decode(crate::codec::DecodeError::TooLong {
                len: self.body.len(),
                max: T::MAX_BODY,
            }));
        }
        self.signer.verify(T::DOMAIN, &self.body, &self.signature)?;
        Ok(T::from_body(&self.body)?)
    }

    /// Verify that `expected` signed it, and decode the body.
    pub fn verify_by(&self, expected: &PublicKey) -> Result<T, VerifyError> {
        if &self.signer != expected {
            return Err(VerifyError::WrongSigner);
        }
        self.verify()
    }

    /// Decode the body without checking the signature. Only for display of
    /// objects that failed verification, or after verification elsewhere.
    pub fn decode_unverified(&self) -> Result<T, VerifyError> {
        if self.body.len() > T::MAX_BODY {
            return Err(VerifyError::Inconsistent("body too long"));
        }
        Ok(T::from_body(&self.body)?)
    }

    /// A hash identifying this exact signed object.
    pub fn digest(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(T::DOMAIN.as_bytes());
        h.update([0]);
        h.update(&self.body);
        h.update(self.signer.0);
        h.update(self.signature.0);
        h.finalize().into()
    }
}
