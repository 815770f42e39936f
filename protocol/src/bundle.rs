//! Enrolment bundle and authority key file formats (TOML text), parsed and
//! produced here without touching the file system.
//!
//! The enrolment bundle is what a focal point or an authority needs to join a
//! network: the pinned network root key, the relay's address and the SHA-256
//! of its TLS certificate. It contains no secret.
//!
//! The root ceremony's files are here too: an authority's key file before
//! certification ([`PendingAuthorityKey`]), the public request it sends to
//! the root ([`AuthorityRequest`]), and the full key file once the root's
//! certificate is installed ([`AuthorityKeyFile`]).

use serde::{Deserialize, Serialize};

use crate::codec::Wire;
use crate::directory::{AuthorityCertificate, MAX_TEXT};
use crate::ids::{CountryCode, Timestamp};
use crate::keys::{PublicKey, SecretKey, VerifyError};
use crate::signed::{Signed, SignedBody};

/// The TLS server name every relay certificate is issued for. Clients pin the
/// certificate itself, so the name carries no trust.
pub const RELAY_SERVER_NAME: &str = "liaison-relay";

/// Why a bundle or key file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// Not valid TOML of the expected shape.
    #[error("{0}")]
    Toml(String),
    /// A field has an invalid value.
    #[error("invalid {field}: {why}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        why: &'static str,
    },
    /// An authority key file that has no certificate yet.
    #[error(
        "this authority key is not certified yet: have the network root certify its .request \
         file, then install the certificate (liaison-admin authority install)"
    )]
    Uncertified,
}

/// An enrolment bundle (`bundle.toml`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// Network name, for display.
    pub network: String,
    /// Hex Ed25519 public key of the network root (pinned trust anchor).
    pub root_key: String,
    /// Relay address, `host:port`.
    pub relay_addr: String,
    /// Hex SHA-256 of the relay's TLS certificate (DER).
    pub relay_cert_sha256: String,
    /// C2SP verifier key of the directory log (its name is the origin).
    #[serde(default)]
    pub directory_log_key: String,
    /// C2SP verifier key of the event log.
    #[serde(default)]
    pub event_log_key: String,
    /// Comma-separated C2SP cosignature verifier keys of trusted witnesses.
    #[serde(default)]
    pub witness_keys: String,
    /// How many of those witnesses must cosign a checkpoint before clients
    /// accept it (decimal; empty or 0: none required).
    #[serde(default)]
    pub witness_quorum: String,
}

impl Bundle {
    /// Parse and validate.
    pub fn from_toml(text: &str) -> Result<Self, BundleError> {
        let b: Bundle = toml_lite::from_str(text).map_err(BundleError::Toml)?;
        b.root()?;
        b.cert_pins()?;
        if b.relay_addr.is_empty() {
            return Err(BundleError::Invalid {
                field: "relay_addr",
                why: "empty",
            });
        }
        Ok(b)
    }

    /// Render as TOML. Every bundle [`Bundle::from_toml`] accepts renders
    /// to text it reads back unchanged.
    pub fn to_toml(&self) -> String {
        format!(
            "# Liaison enrolment bundle. Contains no secret; compare root_key with\n\
             # the fingerprint your network authority publishes before trusting it.\n\
             network = {}\nroot_key = {}\nrelay_addr = {}\nrelay_cert_sha256 = {}\n\
             directory_log_key = {}\nevent_log_key = {}\nwitness_keys = {}\nwitness_quorum = {}\n",
            toml_lite::quote(&self.network),
            toml_lite::quote(&self.root_key),
            toml_lite::quote(&self.relay_addr),
            toml_lite::quote(&self.relay_cert_sha256),
            toml_lite::quote(&self.directory_log_key),
            toml_lite::quote(&self.event_log_key),
            toml_lite::quote(&self.witness_keys),
            toml_lite::quote(&self.witness_quorum)
        )
    }

    /// The pinned root key.
    pub fn root(&self) -> Result<PublicKey, BundleError> {
        PublicKey::from_hex(&self.root_key).ok_or(BundleError::Invalid {
            field: "root_key",
            why: "expected 64 hex digits",
        })
    }

    /// The log verification policy for `log` (log key, witnesses, quorum).
    pub fn log_policy(
        &self,
        log: crate::frames::LogId,
    ) -> Result<crate::log::LogPolicy, BundleError> {
        use crate::log::{LogPolicy, NoteVerifier};
        let key = match log {
            crate::frames::LogId::Directory => &self.directory_log_key,
            crate::frames::LogId::Events => &self.event_log_key,
        };
        let field = match log {
            crate::frames::LogId::Directory => "directory_log_key",
            crate::frames::LogId::Events => "event_log_key",
        };
        let log_key = NoteVerifier::from_vkey(key).map_err(|_| BundleError::Invalid {
            field,
            why: "not a C2SP verifier key",
        })?;
        let mut witnesses = Vec::new();
        for w in self
            .witness_keys
            .split(',')
            .map(str::trim)
            .filter(|w| !w.is_empty())
        {
            witnesses.push(
                NoteVerifier::from_vkey(w).map_err(|_| BundleError::Invalid {
                    field: "witness_keys",
                    why: "not a C2SP cosignature verifier key",
                })?,
            );
        }
        let quorum = self.quorum()?;
        LogPolicy::with_witnesses(log_key, witnesses, quorum).map_err(|_| BundleError::Invalid {
            field: "witness_quorum",
            why: "more than the number of witness keys",
        })
    }

    /// Witness cosignatures required.
    pub fn quorum(&self) -> Result<usize, BundleError> {
        if self.witness_quorum.trim().is_empty() {
            return Ok(0);
        }
        self.witness_quorum
            .trim()
            .parse()
            .map_err(|_| BundleError::Invalid {
                field: "witness_quorum",
                why: "expected a number",
            })
    }

    /// The pinned certificate hash.
    pub fn cert_pin(&self) -> Result<[u8; 32], BundleError> {
        self.cert_pins()?
            .first()
            .copied()
            .ok_or(BundleError::Invalid {
                field: "relay_cert_sha256",
                why: "empty",
            })
    }

    /// Every pinned certificate hash. `relay_cert_sha256` may list several,
    /// comma-separated, so an operator can rotate the relay's TLS key
    /// without downtime: bundles first pin the current and the next
    /// certificate, then the relay switches, then the old pin is dropped.
    pub fn cert_pins(&self) -> Result<Vec<[u8; 32]>, BundleError> {
        let mut pins = Vec::new();
        for part in self.relay_cert_sha256.split(',').map(str::trim) {
            let mut out = [0u8; 32];
            hex::decode_to_slice(part, &mut out).map_err(|_| BundleError::Invalid {
                field: "relay_cert_sha256",
                why: "expected 64 hex digits (several separated by commas)",
            })?;
            pins.push(out);
        }
        if pins.is_empty() || pins.len() > 4 {
            return Err(BundleError::Invalid {
                field: "relay_cert_sha256",
                why: "one to four certificate hashes",
            });
        }
        Ok(pins)
    }
}

/// An authority's key file: its secret key and its root-signed certificate.
#[derive(Debug)]
pub struct AuthorityKeyFile {
    /// The authority's signing key.
    pub key: SecretKey,
    /// Its certificate from the network root.
    pub certificate: Signed<AuthorityCertificate>,
    /// Country, for display and checks.
    pub country: CountryCode,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthorityKeyToml {
    kind: String,
    country: String,
    secret_key: String,
    certificate: String,
    #[serde(default)]
    protection: String,
}

/// The `protection` of a key file that a development network
/// (`liaison-relay dev`) writes in the clear. Every other secret key file is
/// sealed under a passphrase by `liaison-admin`; a clear key file without
/// this mark is refused by `liaison-admin` until it is sealed.
pub const UNSEALED_DEVELOPMENT: &str = "none: development network only";

/// The header of a key file written in the clear for a development network.
const DEVELOPMENT_HEADER: &str = "# DEVELOPMENT NETWORK ONLY: this key is NOT encrypted. A real network's keys\n\
                                  # are made by liaison-admin, which encrypts them under a passphrase.\n";

/// The `protection` field of a flat key file (`None` when it has none, or
/// is not a flat key file, such as a bare hex root key).
pub fn key_file_protection(text: &str) -> Option<String> {
    toml_lite::from_str::<std::collections::BTreeMap<String, String>>(text)
        .ok()?
        .remove("protection")
}

/// Refuse a `protection` value other than none (empty) or
/// [`UNSEALED_DEVELOPMENT`].
fn check_protection(p: &str) -> Result<(), BundleError> {
    match p {
        "" | UNSEALED_DEVELOPMENT => Ok(()),
        _ => Err(BundleError::Invalid {
            field: "protection",
            why: "unknown protection",
        }),
    }
}

/// `kind` of a network root key file.
const ROOT_KIND: &str = "liaison-root-key";

/// The network root's key file: the secret key in the clear, as the
/// plaintext of a sealed file or, marked [`UNSEALED_DEVELOPMENT`], for a
/// development network.
pub fn root_key_toml(key: &SecretKey, development: bool) -> zeroize::Zeroizing<String> {
    zeroize::Zeroizing::new(format!(
        "{}# Liaison network root key. SECRET: keep it offline.\n\
         kind = \"{ROOT_KIND}\"\n{}secret_key = \"{}\"\n",
        if development { DEVELOPMENT_HEADER } else { "" },
        if development {
            format!("protection = \"{UNSEALED_DEVELOPMENT}\"\n")
        } else {
            String::new()
        },
        hex::encode(*key.to_seed())
    ))
}

/// Parse [`root_key_toml`], or the bare 64 hex digits of earlier releases.
pub fn parse_root_key_file(text: &str) -> Result<SecretKey, BundleError> {
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    let trimmed = text.trim();
    if trimmed.len() == 64 && trimmed.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode_to_slice(trimmed, seed.as_mut()).map_err(|_| BundleError::Invalid {
            field: "secret_key",
            why: "expected 64 hex digits",
        })?;
        return Ok(SecretKey::from_seed(&seed));
    }
    let mut fields: std::collections::BTreeMap<String, String> =
        toml_lite::from_str(text).map_err(BundleError::Toml)?;
    if fields.get("kind").map(String::as_str) != Some(ROOT_KIND) {
        return Err(BundleError::Invalid {
            field: "kind",
            why: "not a root key file",
        });
    }
    check_protection(fields.get("protection").map_or("", String::as_str))?;
    let hex_seed = zeroize::Zeroizing::new(fields.remove("secret_key").unwrap_or_default());
    hex::decode_to_slice(hex_seed.as_str(), seed.as_mut()).map_err(|_| BundleError::Invalid {
        field: "secret_key",
        why: "expected 64 hex digits",
    })?;
    Ok(SecretKey::from_seed(&seed))
}

impl AuthorityKeyFile {
    /// [`Self::to_toml`] marked [`UNSEALED_DEVELOPMENT`], for a development
    /// network's key files, which are written in the clear.
    pub fn to_development_toml(&self) -> String {
        format!(
            "{DEVELOPMENT_HEADER}{}protection = \"{UNSEALED_DEVELOPMENT}\"\n",
            self.to_toml()
        )
    }

    /// Render as TOML. The result contains the secret key: seal it, or
    /// write it with owner-only permissions.
    pub fn to_toml(&self) -> String {
        use base64::Engine;
        let cert = base64::engine::general_purpose::STANDARD.encode(self.certificate.encode());
        format!(
            "# Liaison country authority key. SECRET: keep offline or owner-readable only.\n\
             kind = \"liaison-authority-key\"\ncountry = {:?}\nsecret_key = {:?}\ncertificate = {:?}\n",
            self.country.as_str(),
            hex::encode(*self.key.to_seed()),
            cert
        )
    }

    /// Parse and check that the certificate is for this key and country.
    pub fn from_toml(text: &str) -> Result<Self, BundleError> {
        use base64::Engine;
        let fields: std::collections::BTreeMap<String, String> =
            toml_lite::from_str(text).map_err(BundleError::Toml)?;
        if fields.get("kind").map(String::as_str) == Some(PENDING_KIND) {
            return Err(BundleError::Uncertified);
        }
        let t: AuthorityKeyToml = toml_lite::from_str(text).map_err(BundleError::Toml)?;
        check_protection(&t.protection)?;
        if t.kind != "liaison-authority-key" {
            return Err(BundleError::Invalid {
                field: "kind",
                why: "not an authority key file",
            });
        }
        let country = CountryCode::parse(&t.country).map_err(|_| BundleError::Invalid {
            field: "country",
            why: "not a country code",
        })?;
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(&t.secret_key, seed.as_mut()).map_err(|_| BundleError::Invalid {
            field: "secret_key",
            why: "expected 64 hex digits",
        })?;
        let key = SecretKey::from_seed(&seed);
        let cert_bytes = base64::engine::general_purpose::STANDARD
            .decode(t.certificate.as_bytes())
            .map_err(|_| BundleError::Invalid {
                field: "certificate",
                why: "not base64",
            })?;
        let certificate = Signed::<AuthorityCertificate>::decode(&cert_bytes).map_err(|_| {
            BundleError::Invalid {
                field: "certificate",
                why: "malformed",
            }
        })?;
        let c = certificate
            .decode_unverified()
            .map_err(|_| BundleError::Invalid {
                field: "certificate",
                why: "malformed body",
            })?;
        if c.key != key.public_key() || c.country != country {
            return Err(BundleError::Invalid {
                field: "certificate",
                why: "does not match the key and country in this file",
            });
        }
        Ok(AuthorityKeyFile {
            key,
            certificate,
            country,
        })
    }
}

/// A root-signed authority certificate (or revocation) travels on its own in
/// the root ceremony and in the key file, with this encoding.
impl Wire for Signed<AuthorityCertificate> {
    const MAX_LEN: usize = 4096;
}

/// `kind` of an authority key file that has no certificate yet.
const PENDING_KIND: &str = "liaison-authority-key-pending";

/// An authority's key before the root has certified it: the secret key and
/// what the authority asks the root to certify. Written by `liaison-admin
/// authority keygen`, replaced by an [`AuthorityKeyFile`] at install.
#[derive(Debug)]
pub struct PendingAuthorityKey {
    /// The authority's new signing key.
    pub key: SecretKey,
    /// The State it will speak for.
    pub country: CountryCode,
    /// The authority's name, as it should appear in its certificate.
    pub name: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PendingAuthorityToml {
    kind: String,
    country: String,
    name: String,
    secret_key: String,
    #[serde(default)]
    protection: String,
}

/// Check that a name fits the files' flat TOML (no quotes, backslashes or
/// control characters) and the certificate's limit.
pub fn check_authority_name(name: &str) -> Result<(), BundleError> {
    if name.trim().is_empty() {
        return Err(BundleError::Invalid {
            field: "name",
            why: "empty",
        });
    }
    if name.len() > MAX_TEXT {
        return Err(BundleError::Invalid {
            field: "name",
            why: "longer than 256 bytes",
        });
    }
    if name
        .chars()
        .any(|c| c == '"' || c == '\\' || c.is_control())
    {
        return Err(BundleError::Invalid {
            field: "name",
            why: "quotes, backslashes and control characters are not allowed",
        });
    }
    Ok(())
}

impl PendingAuthorityKey {
    /// Render as TOML. Contains the secret key: write it owner-only.
    pub fn to_toml(&self) -> String {
        // The name is checked at parse and creation; written verbatim (not
        // Debug-escaped) so names in any script survive the flat format.
        format!(
            "# Liaison country authority key, NOT YET CERTIFIED. SECRET: keep offline or\n\
             # owner-readable only. Send the matching .request file to the network root,\n\
             # then run: liaison-admin authority install --key THIS_FILE --cert CERT_FILE\n\
             kind = \"{PENDING_KIND}\"\ncountry = \"{}\"\nname = \"{}\"\nsecret_key = \"{}\"\n",
            self.country.as_str(),
            self.name,
            hex::encode(*self.key.to_seed())
        )
    }

    /// Parse.
    pub fn from_toml(text: &str) -> Result<Self, BundleError> {
        let fields: std::collections::BTreeMap<String, String> =
            toml_lite::from_str(text).map_err(BundleError::Toml)?;
        if fields.get("kind").map(String::as_str) != Some(PENDING_KIND) {
            return Err(BundleError::Invalid {
                field: "kind",
                why: "not an uncertified authority key file",
            });
        }
        let t: PendingAuthorityToml = toml_lite::from_str(text).map_err(BundleError::Toml)?;
        check_protection(&t.protection)?;
        let country = CountryCode::parse(&t.country).map_err(|_| BundleError::Invalid {
            field: "country",
            why: "not a country code",
        })?;
        check_authority_name(&t.name)?;
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(&t.secret_key, seed.as_mut()).map_err(|_| BundleError::Invalid {
            field: "secret_key",
            why: "expected 64 hex digits",
        })?;
        Ok(PendingAuthorityKey {
            key: SecretKey::from_seed(&seed),
            country,
            name: t.name,
        })
    }

    /// The public request to send to the root, signed by the new key
    /// (proof of possession).
    pub fn request(&self, created_at: Timestamp) -> Signed<AuthorityRequest> {
        Signed::sign(
            &AuthorityRequest {
                country: self.country,
                name: self.name.clone(),
                key: self.key.public_key(),
                created_at,
            },
            &self.key,
        )
    }
}

/// What an authority asks the network root to certify. Signed by the key to
/// be certified, so the root knows the requester holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorityRequest {
    /// The State the authority will speak for.
    pub country: CountryCode,
    /// The authority's name.
    pub name: String,
    /// The key to certify.
    pub key: PublicKey,
    /// When the request was made.
    pub created_at: Timestamp,
}

impl SignedBody for AuthorityRequest {
    const DOMAIN: &'static str = "authority-request";
    const MAX_BODY: usize = 1024;
}

impl Wire for Signed<AuthorityRequest> {
    const MAX_LEN: usize = AuthorityRequest::MAX_BODY + 256;
}

impl AuthorityRequest {
    /// Verify the request's self-signature and fields. The root must still
    /// confirm the key fingerprint with the authority out of band.
    pub fn verify(signed: &Signed<AuthorityRequest>) -> Result<AuthorityRequest, VerifyError> {
        let r = signed.verify()?;
        if signed.signer() != &r.key {
            return Err(VerifyError::WrongSigner);
        }
        check_authority_name(&r.name).map_err(|_| {
            VerifyError::Inconsistent("authority name empty, too long or with forbidden characters")
        })?;
        Ok(r)
    }
}

/// A minimal reader for the flat `key = "string"` TOML these files use, so
/// this pure crate needs no TOML dependency. Comments and blank lines are
/// ignored; anything else is an error.
/// The flat TOML of bundles and key files: `key = "value"` lines and
/// comments, no escapes.
pub mod toml_lite {
    use serde::de::DeserializeOwned;
    use serde::de::value::MapDeserializer;

    pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, String> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| format!("line {}: expected key = \"value\"", n + 1))?;
            let k = k.trim();
            let v = v.trim();
            let inner = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .ok_or_else(|| format!("line {}: value of {k} must be a quoted string", n + 1))?;
            if inner.contains(['"', '\\']) {
                return Err(format!("line {}: escapes are not supported in {k}", n + 1));
            }
            if pairs.iter().any(|(x, _)| x == k) {
                return Err(format!("line {}: duplicate key {k}", n + 1));
            }
            pairs.push((k.to_owned(), inner.to_owned()));
        }
        let de = MapDeserializer::<_, serde::de::value::Error>::new(pairs.into_iter());
        T::deserialize(de).map_err(|e| e.to_string())
    }

    /// A value as [`from_str`] reads it back: verbatim between quotes. Rust's
    /// `{:?}` is no substitute: it escapes control characters and
    /// combining marks (Thai vowels, for one), and escapes are refused on
    /// reading. A value no file can hold (a quote, a backslash or a line
    /// break) keeps its escaped form, so reading it fails loudly instead of
    /// reading a different value.
    pub fn quote(value: &str) -> String {
        if value.contains(['"', '\\', '\n']) {
            format!("{value:?}")
        } else {
            format!("\"{value}\"")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Timestamp;

    #[test]
    fn key_files_in_the_clear_carry_the_development_mark_only_when_asked() {
        let root = SecretKey::from_seed(&[3; 32]);
        let sealed_plain = root_key_toml(&root, false);
        let dev = root_key_toml(&root, true);
        assert_eq!(key_file_protection(&sealed_plain), None);
        assert_eq!(
            key_file_protection(&dev).as_deref(),
            Some(UNSEALED_DEVELOPMENT)
        );
        for text in [
            sealed_plain.as_str(),
            dev.as_str(),
            &format!("{}\n", hex::encode([3u8; 32])),
        ] {
            assert_eq!(
                parse_root_key_file(text).unwrap().public_key(),
                root.public_key()
            );
        }
        let other = dev.replace(UNSEALED_DEVELOPMENT, "none");
        assert!(
            parse_root_key_file(&other).is_err(),
            "an unknown protection is refused"
        );

        let cert = AuthorityCertificate {
            country: CountryCode::parse("TH").unwrap(),
            name: "TH".into(),
            key: SecretKey::from_seed(&[4; 32]).public_key(),
            serial: 1,
            not_before: Timestamp(0),
            not_after: Timestamp(1),
            revoked: false,
        };
        let file = AuthorityKeyFile {
            key: SecretKey::from_seed(&[4; 32]),
            certificate: Signed::sign(&cert, &root),
            country: cert.country,
        };
        let dev = file.to_development_toml();
        assert_eq!(
            key_file_protection(&dev).as_deref(),
            Some(UNSEALED_DEVELOPMENT)
        );
        assert_eq!(key_file_protection(&file.to_toml()), None);
        let back = AuthorityKeyFile::from_toml(&dev).unwrap();
        assert_eq!(back.key.public_key(), file.key.public_key());
        assert!(AuthorityKeyFile::from_toml(&dev.replace(UNSEALED_DEVELOPMENT, "x")).is_err());
    }

    #[test]
    fn several_certificate_pins_for_rotation() {
        let mut b = Bundle {
            network: "dev".into(),
            root_key: SecretKey::from_seed(&[1; 32]).public_key().to_hex(),
            relay_addr: "127.0.0.1:7443".into(),
            relay_cert_sha256: format!("{}, {}", hex::encode([7u8; 32]), hex::encode([8u8; 32])),
            directory_log_key: String::new(),
            event_log_key: String::new(),
            witness_keys: String::new(),
            witness_quorum: String::new(),
        };
        assert_eq!(b.cert_pins(), Ok(vec![[7u8; 32], [8u8; 32]]));
        assert_eq!(b.cert_pin(), Ok([7u8; 32]));
        b.relay_cert_sha256 = format!("{},zz", hex::encode([7u8; 32]));
        assert!(b.cert_pins().is_err());
    }

    #[test]
    fn bundle_round_trip() {
        let b = Bundle {
            network: "dev".into(),
            root_key: SecretKey::from_seed(&[1; 32]).public_key().to_hex(),
            relay_addr: "127.0.0.1:7443".into(),
            relay_cert_sha256: hex::encode([7u8; 32]),
            directory_log_key: String::new(),
            event_log_key: String::new(),
            witness_keys: String::new(),
            witness_quorum: String::new(),
        };
        assert_eq!(Bundle::from_toml(&b.to_toml()), Ok(b));
        assert!(Bundle::from_toml("network = \"x\"\nbogus = \"y\"\n").is_err());
    }

    #[test]
    fn bundle_values_round_trip_verbatim() {
        // Found by fuzz/regressions/bundle_toml: values were written with
        // `{:?}`, whose escapes the reader refuses, so a bundle with a Thai
        // network name (or any control character) could not be read back.
        let b = Bundle {
            network: "ตำรวจสากล สิงคโปร์\u{0}\t".into(),
            root_key: SecretKey::from_seed(&[1; 32]).public_key().to_hex(),
            relay_addr: "127.0.0.1:7443".into(),
            relay_cert_sha256: hex::encode([7u8; 32]),
            directory_log_key: String::new(),
            event_log_key: String::new(),
            witness_keys: String::new(),
            witness_quorum: String::new(),
        };
        assert_eq!(Bundle::from_toml(&b.to_toml()), Ok(b.clone()));
        // What no file can hold is still refused, not silently changed.
        let quoted = Bundle {
            network: "a \"b\"\nrelay_addr = \"x\"".into(),
            ..b
        };
        assert!(Bundle::from_toml(&quoted.to_toml()).is_err());
    }

    #[test]
    fn authority_key_round_trip_and_mismatch() {
        let root = SecretKey::from_seed(&[1; 32]);
        let key = SecretKey::from_seed(&[2; 32]);
        let country = CountryCode::parse("TH").unwrap_or_else(|_| unreachable!());
        let cert = AuthorityCertificate {
            country,
            name: "TH".into(),
            key: key.public_key(),
            serial: 1,
            not_before: Timestamp(0),
            not_after: Timestamp(u64::MAX),
            revoked: false,
        };
        let f = AuthorityKeyFile {
            key,
            certificate: Signed::sign(&cert, &root),
            country,
        };
        let text = f.to_toml();
        let back = AuthorityKeyFile::from_toml(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.key.public_key(), f.key.public_key());
        let wrong = text.replace("country = \"TH\"", "country = \"PH\"");
        assert!(AuthorityKeyFile::from_toml(&wrong).is_err());
    }

    #[test]
    fn pending_authority_key_and_request() {
        let country = CountryCode::parse("VN").unwrap_or_else(|_| unreachable!());
        let pending = PendingAuthorityKey {
            key: SecretKey::from_seed(&[3; 32]),
            country,
            name: "Bộ Công an — Cục Cảnh sát hình sự".into(),
        };
        let text = pending.to_toml();
        let back = PendingAuthorityKey::from_toml(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.name, pending.name);
        assert_eq!(back.key.public_key(), pending.key.public_key());
        // The certified-file parser names what is missing.
        assert!(matches!(
            AuthorityKeyFile::from_toml(&text),
            Err(BundleError::Uncertified)
        ));
        assert!(PendingAuthorityKey::from_toml(&text.replace("-pending", "")).is_err());

        let req = pending.request(Timestamp(5));
        let r = AuthorityRequest::verify(&req).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((r.country, r.key), (country, pending.key.public_key()));
        let decoded =
            Signed::<AuthorityRequest>::decode(&req.encode()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(decoded, req);
        // Signed by a key other than the one to certify: no proof of possession.
        let other = Signed::sign(&r, &SecretKey::from_seed(&[4; 32]));
        assert_eq!(
            AuthorityRequest::verify(&other),
            Err(VerifyError::WrongSigner)
        );
    }

    #[test]
    fn authority_names_fit_the_flat_format() {
        assert!(check_authority_name("Royal Thai Police — ATPD").is_ok());
        assert!(check_authority_name("กองบังคับการปราบปรามการกระทำความผิดเกี่ยวกับการค้ามนุษย์").is_ok());
        for bad in ["", "  ", "a \"quoted\" name", "back\\slash", "two\nlines"] {
            assert!(check_authority_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_authority_name(&"x".repeat(MAX_TEXT + 1)).is_err());
    }
}
