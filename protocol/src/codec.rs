//! Canonical, versioned, length-limited binary encoding.
//!
//! Every value that crosses the wire or the disk is encoded with `postcard`
//! (a deterministic, non-self-describing serde format: one value has exactly
//! one encoding) behind a one-byte format version. Decoding is strict: the
//! input must not exceed the type's maximum length, the version must match,
//! and no trailing bytes are allowed (compare rustls `Reader::expect_empty`).
//! Postcard never pre-allocates from a length prefix beyond what the input can
//! hold, so hostile length prefixes cannot exhaust memory.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The current format version of every top-level encoding.
pub const FORMAT_VERSION: u8 = 1;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input is longer than the type allows.
    #[error("input of {len} bytes exceeds the limit of {max} bytes")]
    TooLong {
        /// Length of the input.
        len: usize,
        /// The type's maximum.
        max: usize,
    },
    /// The input is empty.
    #[error("empty input")]
    Empty,
    /// The format version byte is not one this implementation understands.
    #[error("unsupported format version {0}")]
    UnsupportedVersion(u8),
    /// The bytes are not a valid encoding of the type.
    #[error("malformed encoding")]
    Malformed,
    /// The bytes decode, but are not the canonical encoding of the value
    /// (for example an overlong varint): refused, so every value has
    /// exactly one accepted encoding.
    #[error("non-canonical encoding")]
    NonCanonical,
    /// A valid value was followed by extra bytes.
    #[error("{0} trailing bytes after the value")]
    TrailingBytes(usize),
    /// The value decoded but violates a constraint of its type.
    #[error("invalid value: {0}")]
    Invalid(&'static str),
}

/// A type with a canonical, versioned encoding and a maximum encoded size.
pub trait Wire: Serialize + DeserializeOwned {
    /// Largest accepted encoding, version byte included.
    const MAX_LEN: usize;

    /// Canonical encoding: version byte followed by the postcard body.
    fn encode(&self) -> Vec<u8> {
        encode_versioned(self)
    }

    /// Strict decoding of [`Wire::encode`]'s output.
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        decode_versioned(bytes, Self::MAX_LEN)
    }
}

/// Encode `value` as version byte + postcard.
pub fn encode_versioned<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let out = vec![FORMAT_VERSION];
    // Serializing into a Vec cannot fail for the types in this crate: they
    // contain no maps with non-string keys and no unsupported serde features.
    match postcard::to_extend(value, out) {
        Ok(v) => v,
        Err(_) => vec![FORMAT_VERSION],
    }
}

/// Decode version byte + postcard, rejecting oversize input and trailing bytes.
pub fn decode_versioned<T: Serialize + DeserializeOwned>(
    bytes: &[u8],
    max: usize,
) -> Result<T, DecodeError> {
    if bytes.len() > max {
        return Err(DecodeError::TooLong {
            len: bytes.len(),
            max,
        });
    }
    let (&version, body) = bytes.split_first().ok_or(DecodeError::Empty)?;
    if version != FORMAT_VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    decode_body(body)
}

/// Decode a postcard body with no version byte (used for signed bodies, whose
/// version is carried by the enclosing object).
pub fn decode_body<T: Serialize + DeserializeOwned>(body: &[u8]) -> Result<T, DecodeError> {
    let (value, rest) = postcard::take_from_bytes::<T>(body).map_err(|e| match e {
        postcard::Error::DeserializeBadUtf8 => DecodeError::Invalid("string is not utf-8"),
        _ => DecodeError::Malformed,
    })?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes(rest.len()));
    }
    // Postcard accepts overlong varints; re-encoding exposes them.
    if postcard::to_allocvec(&value).map_err(|_| DecodeError::Malformed)? != body {
        return Err(DecodeError::NonCanonical);
    }
    Ok(value)
}

/// Encode a body without the version byte.
pub fn encode_body<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    postcard::to_allocvec(value).unwrap_or_default()
}

/// Serde helpers for fixed-size byte arrays larger than serde's built-in 32.
pub(crate) mod byte_array {
    use serde::de::{Error, SeqAccess, Visitor};
    use serde::ser::SerializeTuple;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer, const N: usize>(v: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(N)?;
        for b in v {
            t.serialize_element(b)?;
        }
        t.end()
    }

    struct ArrayVisitor<const N: usize>;

    impl<'de, const N: usize> Visitor<'de> for ArrayVisitor<N> {
        type Value = [u8; N];
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(f, "{N} bytes")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<[u8; N], A::Error> {
            let mut out = [0u8; N];
            for (i, slot) in out.iter_mut().enumerate() {
                *slot = seq
                    .next_element()?
                    .ok_or_else(|| A::Error::invalid_length(i, &self))?;
            }
            Ok(out)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        d.deserialize_tuple(N, ArrayVisitor::<N>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_trailing_bytes_and_bad_version() {
        let mut bytes = encode_versioned(&(7u32, String::from("x")));
        assert_eq!(
            decode_versioned::<(u32, String)>(&bytes, 64),
            Ok((7, "x".into()))
        );
        bytes.push(0);
        assert_eq!(
            decode_versioned::<(u32, String)>(&bytes, 64),
            Err(DecodeError::TrailingBytes(1))
        );
        bytes.pop();
        bytes[0] = 9;
        assert_eq!(
            decode_versioned::<(u32, String)>(&bytes, 64),
            Err(DecodeError::UnsupportedVersion(9))
        );
        assert_eq!(
            decode_versioned::<(u32, String)>(&[], 64),
            Err(DecodeError::Empty)
        );
        assert!(matches!(
            decode_versioned::<(u32, String)>(&[1; 100], 64),
            Err(DecodeError::TooLong { len: 100, max: 64 })
        ));
    }

    #[test]
    fn overlong_varints_are_refused() {
        assert_eq!(decode_versioned::<u32>(&[1, 3], 8), Ok(3));
        assert_eq!(
            decode_versioned::<u32>(&[1, 0x83, 0x00], 8),
            Err(DecodeError::NonCanonical)
        );
    }

    #[test]
    fn hostile_length_prefix_does_not_allocate() {
        // A Vec<u8> claiming u32::MAX elements in a 6-byte input.
        let bytes = [1u8, 0xff, 0xff, 0xff, 0xff, 0x0f];
        assert!(decode_versioned::<Vec<u8>>(&bytes, 64).is_err());
    }
}
