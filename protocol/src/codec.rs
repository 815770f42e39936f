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

/// Serde helpers for a `Vec<u8>` written as one byte string rather than
/// element by element. Postcard encodes both the same way (the length as a
/// varint, then the bytes), so a field may switch to this helper without
/// any change on the wire or on disk; it only spares the per-byte work,
/// which dominates for large payloads such as attachment chunks.
pub(crate) mod byte_vec {
    use serde::de::{SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub(super) struct BytesVisitor;

    impl<'de> Visitor<'de> for BytesVisitor {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("bytes")
        }
        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }
        fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }
        // Formats that write bytes as a sequence (JSON) hand them back so.
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            while let Some(b) = seq.next_element()? {
                out.push(b);
            }
            Ok(out)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_byte_buf(BytesVisitor)
    }
}

/// [`byte_vec`] for a `Vec<Vec<u8>>`: the same encoding as without it.
pub(crate) mod byte_vecs {
    use serde::de::{DeserializeSeed, SeqAccess, Visitor};
    use serde::ser::SerializeSeq;
    use serde::{Deserializer, Serialize, Serializer};

    struct Bytes<'a>(&'a [u8]);

    impl Serialize for Bytes<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(self.0)
        }
    }

    pub fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for item in v {
            seq.serialize_element(&Bytes(item))?;
        }
        seq.end()
    }

    struct Element;

    impl<'de> DeserializeSeed<'de> for Element {
        type Value = Vec<u8>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<u8>, D::Error> {
            super::byte_vec::deserialize(d)
        }
    }

    struct SeqVisitor;

    impl<'de> Visitor<'de> for SeqVisitor {
        type Value = Vec<Vec<u8>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a sequence of byte strings")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Vec<u8>>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
            while let Some(v) = seq.next_element_seed(Element)? {
                out.push(v);
            }
            Ok(out)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        d.deserialize_seq(SeqVisitor)
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
        assert!(decode_versioned::<Blob>(&bytes, 64).is_err());
        assert!(decode_versioned::<Blobs>(&[1u8, 1, 0xff, 0xff, 0xff, 0xff, 0x0f], 64).is_err());
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Blob(#[serde(with = "byte_vec")] Vec<u8>);

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Blobs(#[serde(with = "byte_vecs")] Vec<Vec<u8>>);

    #[test]
    fn byte_strings_encode_as_plain_byte_vectors_do() {
        for len in [0usize, 1, 127, 128, 16_383, 16_384, 262_160] {
            let v: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
            let plain = encode_versioned(&v);
            assert_eq!(encode_versioned(&Blob(v.clone())), plain, "{len} bytes");
            assert_eq!(decode_versioned(&plain, usize::MAX), Ok(Blob(v.clone())));
            // A truncated one is refused, as before.
            let short = plain.get(..plain.len() - 1).unwrap_or_default();
            if len > 0 {
                assert!(decode_versioned::<Blob>(short, usize::MAX).is_err());
            }
            let many = vec![v.clone(), Vec::new(), v];
            let plain = encode_versioned(&many);
            assert_eq!(encode_versioned(&Blobs(many.clone())), plain, "{len} bytes");
            assert_eq!(decode_versioned(&plain, usize::MAX), Ok(Blobs(many)));
        }
        // JSON, which writes bytes as numbers, reads them back the same.
        let json = serde_json::to_string(&Blob(vec![1, 2, 255])).unwrap_or_default();
        assert_eq!(json, "[1,2,255]");
        assert_eq!(
            serde_json::from_str::<Blob>(&json).ok(),
            Some(Blob(vec![1, 2, 255]))
        );
    }
}
