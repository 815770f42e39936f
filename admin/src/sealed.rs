//! Secret key files sealed under a passphrase.
//!
//! The network root key and the country authority keys are the most
//! powerful secrets of a network (an authority key enrols anyone of its
//! country), so `liaison-admin` never writes them in the clear. A sealed
//! file is flat TOML, so it can be printed, copied and backed up as text:
//!
//! ```text
//! kind = "liaison-sealed-key"
//! version = "1"
//! contains = "liaison-authority-key"     (or -pending, or liaison-root-key)
//! label = "TH"                           (the country, or "root")
//! kdf = "argon2id"
//! m_cost = "65536"  t_cost = "3"  p_cost = "1"   (one per line)
//! salt = BASE64 (16 bytes)   nonce = BASE64 (24 bytes)
//! ciphertext = BASE64        (XChaCha20-Poly1305 of the clear key file)
//! ```
//!
//! The key is Argon2id(passphrase, salt) with the file's own parameters, and
//! every field but the ciphertext is authenticated as associated data: a
//! file whose parameters, label or kind were altered (to make the passphrase
//! cheaper to guess, or to pass one country's key off as another's) does not
//! open. The plaintext is the clear key file format of
//! [`liaison_protocol::bundle`], so opening gives exactly what the tools
//! read before keys were sealed.
//!
//! Pure: the caller gives the salt and the nonce (from the OS generator).

use std::collections::BTreeMap;

use base64::Engine as _;
use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use liaison_protocol::bundle::toml_lite;
use zeroize::Zeroizing;

/// `kind` of a sealed key file.
pub const SEALED_KIND: &str = "liaison-sealed-key";

/// The format version written.
const VERSION: &str = "1";

/// Argon2id cost of a sealed key. Keys are opened rarely and by hand, so the
/// defaults are twice a home's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SealParams {
    /// Memory in KiB.
    pub m_cost: u32,
    /// Passes.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl Default for SealParams {
    fn default() -> Self {
        SealParams {
            m_cost: 128 * 1024,
            t_cost: 3,
            p_cost: 1,
        }
    }
}

/// Lowest memory cost a file may ask for (8 MiB): below it a stolen file
/// is too cheap to attack, so such a file is refused rather than opened.
const MIN_M_COST: u32 = 8 * 1024;
/// Highest costs a file may ask for: a hostile file must not make the tool
/// allocate without bound or run for hours.
const MAX_M_COST: u32 = 4 * 1024 * 1024;
const MAX_T_COST: u32 = 64;
const MAX_P_COST: u32 = 16;

/// Why a sealed key file did not open.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// Not a sealed key file of a version this tool knows.
    #[error("not a sealed key file: {0}")]
    Malformed(String),
    /// Argon2 refused the parameters.
    #[error("the key derivation failed: {0}")]
    Kdf(String),
    /// The authentication failed: wrong passphrase, or the file was altered.
    #[error("wrong passphrase, or the file was altered")]
    WrongPassphraseOrAltered,
}

/// Whether `text` is a sealed key file (by its `kind`).
pub fn is_sealed(text: &str) -> bool {
    toml_lite::from_str::<BTreeMap<String, String>>(text)
        .is_ok_and(|f| f.get("kind").map(String::as_str) == Some(SEALED_KIND))
}

/// The header fields of a sealed file, in the order written.
struct Header {
    contains: String,
    label: String,
    params: SealParams,
    salt: [u8; 16],
    nonce: [u8; 24],
}

impl Header {
    /// Every field but the ciphertext, as written; also the associated data.
    fn render(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD;
        format!(
            "kind = \"{SEALED_KIND}\"\nversion = \"{VERSION}\"\ncontains = \"{}\"\nlabel = \"{}\"\n\
             kdf = \"argon2id\"\nm_cost = \"{}\"\nt_cost = \"{}\"\np_cost = \"{}\"\n\
             salt = \"{}\"\nnonce = \"{}\"\n",
            self.contains,
            self.label,
            self.params.m_cost,
            self.params.t_cost,
            self.params.p_cost,
            b64.encode(self.salt),
            b64.encode(self.nonce),
        )
    }

    fn key(&self, passphrase: &str) -> Result<Zeroizing<[u8; 32]>, SealError> {
        let p = &self.params;
        let params = argon2::Params::new(p.m_cost, p.t_cost, p.p_cost, Some(32))
            .map_err(|e| SealError::Kdf(e.to_string()))?;
        let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut out = Zeroizing::new([0u8; 32]);
        a.hash_password_into(passphrase.as_bytes(), &self.salt, out.as_mut())
            .map_err(|e| SealError::Kdf(e.to_string()))?;
        Ok(out)
    }
}

/// Seal the clear key file `plain` (whose `kind` is `contains`; `label`
/// names whose key it is) under `passphrase`.
pub fn seal(
    plain: &str,
    contains: &str,
    label: &str,
    passphrase: &str,
    params: SealParams,
    salt: [u8; 16],
    nonce: [u8; 24],
) -> Result<String, SealError> {
    for (what, v) in [("contains", contains), ("label", label)] {
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(SealError::Malformed(format!("{what} {v:?}")));
        }
    }
    let header = Header {
        contains: contains.to_owned(),
        label: label.to_owned(),
        params,
        salt,
        nonce,
    };
    let head = header.render();
    let key = header.key(passphrase)?;
    let cipher = XChaCha20Poly1305::new(&(*key).into());
    let sealed = cipher
        .encrypt(
            (&nonce).into(),
            Payload {
                msg: plain.as_bytes(),
                aad: head.as_bytes(),
            },
        )
        .map_err(|_| SealError::Kdf("encryption failed".into()))?;
    Ok(format!(
        "# Liaison secret key ({contains}, {label}), encrypted under a passphrase\n\
         # (Argon2id, XChaCha20-Poly1305). Keep it offline, and the passphrase apart.\n\
         {head}ciphertext = \"{}\"\n",
        base64::engine::general_purpose::STANDARD.encode(sealed)
    ))
}

/// What [`open`] found: the clear key file and what the header says it is.
#[derive(Debug)]
pub struct Opened {
    /// The clear key file.
    pub plain: Zeroizing<String>,
    /// Its `kind`, from the authenticated header.
    pub contains: String,
    /// Whose key it is, from the authenticated header.
    pub label: String,
    /// The costs it was sealed with.
    pub params: SealParams,
}

fn field<'a>(f: &'a BTreeMap<String, String>, name: &str) -> Result<&'a str, SealError> {
    f.get(name)
        .map(String::as_str)
        .ok_or_else(|| SealError::Malformed(format!("no {name}")))
}

fn number(f: &BTreeMap<String, String>, name: &str, min: u32, max: u32) -> Result<u32, SealError> {
    let v = field(f, name)?;
    match v.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(SealError::Malformed(format!(
            "{name} = {v:?} is outside {min}..={max}"
        ))),
    }
}

fn bytes<const N: usize>(f: &BTreeMap<String, String>, name: &str) -> Result<[u8; N], SealError> {
    base64::engine::general_purpose::STANDARD
        .decode(field(f, name)?)
        .ok()
        .and_then(|v| <[u8; N]>::try_from(v).ok())
        .ok_or_else(|| SealError::Malformed(format!("{name} is not {N} bytes of base64")))
}

/// Open a sealed key file with `passphrase`.
pub fn open(text: &str, passphrase: &str) -> Result<Opened, SealError> {
    let f: BTreeMap<String, String> = toml_lite::from_str(text).map_err(SealError::Malformed)?;
    if field(&f, "kind")? != SEALED_KIND {
        return Err(SealError::Malformed("kind".into()));
    }
    if field(&f, "version")? != VERSION {
        return Err(SealError::Malformed(format!(
            "version {:?} (this tool reads version {VERSION}: use a newer liaison-admin)",
            field(&f, "version")?
        )));
    }
    if field(&f, "kdf")? != "argon2id" {
        return Err(SealError::Malformed("kdf".into()));
    }
    let known = [
        "kind",
        "version",
        "contains",
        "label",
        "kdf",
        "m_cost",
        "t_cost",
        "p_cost",
        "salt",
        "nonce",
        "ciphertext",
    ];
    if let Some(k) = f.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(SealError::Malformed(format!("unknown field {k}")));
    }
    let header = Header {
        contains: field(&f, "contains")?.to_owned(),
        label: field(&f, "label")?.to_owned(),
        params: SealParams {
            m_cost: number(&f, "m_cost", MIN_M_COST, MAX_M_COST)?,
            t_cost: number(&f, "t_cost", 1, MAX_T_COST)?,
            p_cost: number(&f, "p_cost", 1, MAX_P_COST)?,
        },
        salt: bytes(&f, "salt")?,
        nonce: bytes(&f, "nonce")?,
    };
    let ciphertext = base64::engine::general_purpose::STANDARD
        .decode(field(&f, "ciphertext")?)
        .map_err(|_| SealError::Malformed("ciphertext is not base64".into()))?;
    let key = header.key(passphrase)?;
    let cipher = XChaCha20Poly1305::new(&(*key).into());
    let plain = cipher
        .decrypt(
            (&header.nonce).into(),
            Payload {
                msg: &ciphertext,
                aad: header.render().as_bytes(),
            },
        )
        .map_err(|_| SealError::WrongPassphraseOrAltered)?;
    let plain = Zeroizing::new(
        String::from_utf8(plain).map_err(|_| SealError::Malformed("plaintext".into()))?,
    );
    Ok(Opened {
        plain,
        contains: header.contains,
        label: header.label,
        params: header.params,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const CHEAP: SealParams = SealParams {
        m_cost: MIN_M_COST,
        t_cost: 1,
        p_cost: 1,
    };
    const PLAIN: &str = "kind = \"liaison-root-key\"\nsecret_key = \"00\"\n";

    fn sealed() -> String {
        seal(
            PLAIN,
            "liaison-root-key",
            "root",
            "correct horse",
            CHEAP,
            [1; 16],
            [2; 24],
        )
        .unwrap()
    }

    #[test]
    fn round_trip_and_nothing_in_the_clear() {
        let text = sealed();
        assert!(is_sealed(&text));
        assert!(!is_sealed(PLAIN));
        assert!(!text.contains("secret_key"));
        let o = open(&text, "correct horse").unwrap();
        assert_eq!(o.plain.as_str(), PLAIN);
        assert_eq!(
            (o.contains.as_str(), o.label.as_str()),
            ("liaison-root-key", "root")
        );
        assert_eq!(o.params, CHEAP);
    }

    #[test]
    fn wrong_passphrase_is_refused() {
        assert_eq!(
            open(&sealed(), "correct horse ").unwrap_err(),
            SealError::WrongPassphraseOrAltered
        );
    }

    #[test]
    fn every_header_field_is_authenticated() {
        let text = sealed();
        for (from, to) in [
            ("t_cost = \"1\"", "t_cost = \"2\""),
            ("m_cost = \"8192\"", "m_cost = \"8193\""),
            ("label = \"root\"", "label = \"TH\""),
            (
                "contains = \"liaison-root-key\"",
                "contains = \"liaison-authority-key\"",
            ),
        ] {
            assert!(text.contains(from), "{from}");
            let altered = text.replace(from, to);
            assert_eq!(
                open(&altered, "correct horse").unwrap_err(),
                SealError::WrongPassphraseOrAltered,
                "{to}"
            );
        }
    }

    #[test]
    fn hostile_costs_and_unknown_versions_are_refused_before_deriving() {
        let text = sealed();
        for (from, to) in [
            ("m_cost = \"8192\"", "m_cost = \"1024\""),
            ("m_cost = \"8192\"", "m_cost = \"99999999\""),
            ("t_cost = \"1\"", "t_cost = \"0\""),
            ("version = \"1\"", "version = \"2\""),
            ("kdf = \"argon2id\"", "kdf = \"pbkdf2\""),
        ] {
            let altered = text.replace(from, to);
            assert!(
                matches!(
                    open(&altered, "correct horse"),
                    Err(SealError::Malformed(_))
                ),
                "{to}"
            );
        }
        let extra = text.replace("kdf =", "hint = \"x\"\nkdf =");
        assert!(matches!(
            open(&extra, "correct horse"),
            Err(SealError::Malformed(_))
        ));
    }
}
