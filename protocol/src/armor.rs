//! Text armour for the files people carry between machines: enrolment and
//! device requests, device approvals, and the root ceremony's authority
//! requests, certificates and revocations.
//!
//! The format is PEM-like (RFC 7468 §2, strict form): a line
//! `-----BEGIN LIAISON <LABEL>-----`, the standard base64 of the object's
//! canonical encoding in lines of 64 characters, and a line
//! `-----END LIAISON <LABEL>-----`. Only whitespace may surround the block,
//! so a file holds exactly one object and nothing unauthenticated travels
//! next to it. The label names the kind, so a tool can tell a certificate
//! from a revocation before decoding, and refuses a file of the wrong kind
//! with a message naming both.
//!
//! Armour carries no integrity of its own: every armoured object is signed,
//! and readers verify the signature after [`dearmor`].

use crate::{DecodeError, Wire};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Longest armoured text accepted (the largest object, a device approval
/// with its prekeys, is well below this).
pub const MAX_ARMORED: usize = 256 * 1024;

/// Characters of base64 per line.
pub const LINE: usize = 64;

/// What an armoured file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArmorKind {
    /// A `Signed<EnrolmentRequest>`, made by `liaison init`.
    EnrolmentRequest,
    /// A `Signed<DeviceRequest>`, made on a focal point's new device.
    DeviceRequest,
    /// A `DeviceApproval`, made on a device holding the identity key.
    DeviceApproval,
    /// A `Signed<AuthorityRequest>`, made by `liaison-admin authority keygen`.
    AuthorityRequest,
    /// A root-signed `Signed<AuthorityCertificate>` that is not revoked.
    AuthorityCertificate,
    /// A root-signed `Signed<AuthorityCertificate>` with `revoked` set.
    AuthorityRevocation,
}

impl ArmorKind {
    /// Every kind.
    pub const ALL: [ArmorKind; 6] = [
        ArmorKind::EnrolmentRequest,
        ArmorKind::DeviceRequest,
        ArmorKind::DeviceApproval,
        ArmorKind::AuthorityRequest,
        ArmorKind::AuthorityCertificate,
        ArmorKind::AuthorityRevocation,
    ];

    /// The label between `LIAISON` and the dashes.
    pub fn label(self) -> &'static str {
        match self {
            ArmorKind::EnrolmentRequest => "ENROLMENT REQUEST",
            ArmorKind::DeviceRequest => "DEVICE REQUEST",
            ArmorKind::DeviceApproval => "DEVICE APPROVAL",
            ArmorKind::AuthorityRequest => "AUTHORITY REQUEST",
            ArmorKind::AuthorityCertificate => "AUTHORITY CERTIFICATE",
            ArmorKind::AuthorityRevocation => "AUTHORITY REVOCATION",
        }
    }

    /// The kind with a `label`.
    pub fn from_label(label: &str) -> Option<ArmorKind> {
        ArmorKind::ALL.into_iter().find(|k| k.label() == label)
    }

    /// For messages: "an enrolment request", "a device approval", ...
    pub fn describe(self) -> &'static str {
        match self {
            ArmorKind::EnrolmentRequest => "an enrolment request",
            ArmorKind::DeviceRequest => "a device request",
            ArmorKind::DeviceApproval => "a device approval",
            ArmorKind::AuthorityRequest => "an authority certificate request",
            ArmorKind::AuthorityCertificate => "an authority certificate",
            ArmorKind::AuthorityRevocation => "an authority revocation",
        }
    }

    /// The first line of the armour.
    pub fn begin_line(self) -> String {
        format!("-----BEGIN LIAISON {}-----", self.label())
    }

    /// The last line of the armour.
    pub fn end_line(self) -> String {
        format!("-----END LIAISON {}-----", self.label())
    }
}

impl std::fmt::Display for ArmorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// Why a text could not be dearmoured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArmorError {
    /// The text is longer than [`MAX_ARMORED`].
    #[error("the file is {len} bytes long; an armoured Liaison file is at most {max}")]
    TooLong {
        /// Length of the text.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The text does not start with a `-----BEGIN LIAISON ...-----` line.
    #[error("not a Liaison file (it must start with a line -----BEGIN LIAISON ...-----)")]
    NotArmored,
    /// The label is not one this version knows.
    #[error("unknown kind of Liaison file {0:?}")]
    UnknownKind(String),
    /// The file is of another kind than the one asked for.
    #[error("this file is {found}, not {expected}")]
    WrongKind {
        /// What the caller asked for.
        expected: ArmorKind,
        /// What the file says it is.
        found: ArmorKind,
    },
    /// The end line is missing, does not match the begin line, or text
    /// follows it.
    #[error("the file is truncated or damaged: it must end with the line {0}")]
    BadEnd(String),
    /// The body is not standard base64.
    #[error("the armoured body is not valid base64 (was the file edited?)")]
    Base64,
    /// The bytes are not a valid encoding of the kind's object.
    #[error("the file holds a malformed {kind}: {source}")]
    Decode {
        /// The kind.
        kind: ArmorKind,
        /// The decoder's reason.
        source: DecodeError,
    },
}

/// Armour `bytes` as `kind`.
pub fn armor(kind: ArmorKind, bytes: &[u8]) -> String {
    let b64 = STANDARD.encode(bytes);
    let mut out = kind.begin_line();
    out.push('\n');
    // Base64 is ASCII, so every 64-byte chunk is valid UTF-8.
    for chunk in b64.as_bytes().chunks(LINE) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&kind.end_line());
    out.push('\n');
    out
}

/// Armour the canonical encoding of `value` as `kind`.
pub fn armor_wire<T: Wire>(kind: ArmorKind, value: &T) -> String {
    armor(kind, &value.encode())
}

/// Read an armoured text: its kind and the bytes it carries.
pub fn dearmor(text: &str) -> Result<(ArmorKind, Vec<u8>), ArmorError> {
    if text.len() > MAX_ARMORED {
        return Err(ArmorError::TooLong {
            len: text.len(),
            max: MAX_ARMORED,
        });
    }
    let text = text.trim();
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    let label = first
        .trim_end()
        .strip_prefix("-----BEGIN LIAISON ")
        .and_then(|l| l.strip_suffix("-----"))
        .ok_or(ArmorError::NotArmored)?;
    let kind = ArmorKind::from_label(label).ok_or_else(|| ArmorError::UnknownKind(label.into()))?;
    let end = kind.end_line();
    let body = rest
        .trim_end()
        .strip_suffix(end.as_str())
        .ok_or_else(|| ArmorError::BadEnd(end.clone()))?;
    if body.contains("-----") {
        return Err(ArmorError::BadEnd(end));
    }
    let b64: String = body.split_whitespace().collect();
    let bytes = STANDARD
        .decode(b64.as_bytes())
        .map_err(|_| ArmorError::Base64)?;
    Ok((kind, bytes))
}

/// Read an armoured text that must be of `kind`.
pub fn dearmor_as(kind: ArmorKind, text: &str) -> Result<Vec<u8>, ArmorError> {
    let (found, bytes) = dearmor(text)?;
    if found != kind {
        return Err(ArmorError::WrongKind {
            expected: kind,
            found,
        });
    }
    Ok(bytes)
}

/// Read an armoured text of `kind` and decode the object it carries
/// (strictly: canonical encoding, no trailing bytes). The caller still
/// verifies its signatures.
pub fn dearmor_wire<T: Wire>(kind: ArmorKind, text: &str) -> Result<T, ArmorError> {
    let bytes = dearmor_as(kind, text)?;
    T::decode(&bytes).map_err(|source| ArmorError::Decode { kind, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_kind_with_64_character_lines() {
        let bytes: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        for kind in ArmorKind::ALL {
            let text = armor(kind, &bytes);
            assert!(text.starts_with(&format!("-----BEGIN LIAISON {}-----\n", kind.label())));
            assert!(text.ends_with(&format!("-----END LIAISON {}-----\n", kind.label())));
            let lines: Vec<&str> = text.lines().collect();
            let body = &lines[1..lines.len() - 1];
            assert!(body[..body.len() - 1].iter().all(|l| l.len() == LINE));
            assert_eq!(dearmor(&text), Ok((kind, bytes.clone())));
            // Surrounding whitespace and CRLF line ends are tolerated.
            let crlf = format!("\n  {}\n", text.replace('\n', "\r\n"));
            assert_eq!(dearmor_as(kind, &crlf), Ok(bytes.clone()));
        }
    }

    #[test]
    fn enrolment_label_matches_the_existing_request_files() {
        assert_eq!(
            ArmorKind::EnrolmentRequest.begin_line(),
            "-----BEGIN LIAISON ENROLMENT REQUEST-----"
        );
        assert_eq!(
            ArmorKind::DeviceApproval.end_line(),
            "-----END LIAISON DEVICE APPROVAL-----"
        );
    }

    #[test]
    fn refusals() {
        let cert = armor(ArmorKind::AuthorityCertificate, b"abc");
        assert_eq!(
            dearmor_as(ArmorKind::AuthorityRevocation, &cert),
            Err(ArmorError::WrongKind {
                expected: ArmorKind::AuthorityRevocation,
                found: ArmorKind::AuthorityCertificate
            })
        );
        assert_eq!(dearmor("hello"), Err(ArmorError::NotArmored));
        assert_eq!(
            dearmor("-----BEGIN LIAISON SECRET-----\nYWJj\n-----END LIAISON SECRET-----"),
            Err(ArmorError::UnknownKind("SECRET".into()))
        );
        // Truncated, mismatched end, trailing text, a second block.
        let truncated = cert.lines().take(2).collect::<Vec<_>>().join("\n");
        assert!(matches!(dearmor(&truncated), Err(ArmorError::BadEnd(_))));
        let mismatched = cert.replace(
            "END LIAISON AUTHORITY CERTIFICATE",
            "END LIAISON DEVICE APPROVAL",
        );
        assert!(matches!(dearmor(&mismatched), Err(ArmorError::BadEnd(_))));
        assert!(matches!(
            dearmor(&format!("{cert}extra")),
            Err(ArmorError::BadEnd(_))
        ));
        assert!(matches!(
            dearmor(&format!("{cert}{cert}")),
            Err(ArmorError::BadEnd(_))
        ));
        let garbled = cert.replace("YWJj", "YW*j");
        assert_eq!(dearmor(&garbled), Err(ArmorError::Base64));
        let huge = "a".repeat(MAX_ARMORED + 1);
        assert!(matches!(dearmor(&huge), Err(ArmorError::TooLong { .. })));
    }

    #[test]
    fn wire_objects_decode_strictly() {
        use crate::directory::AuthorityCertificate;
        use crate::signed::Signed;
        let text = armor(ArmorKind::AuthorityCertificate, &[1, 2, 3]);
        assert!(matches!(
            dearmor_wire::<Signed<AuthorityCertificate>>(ArmorKind::AuthorityCertificate, &text),
            Err(ArmorError::Decode { .. })
        ));
    }
}
