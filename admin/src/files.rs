//! The files an authority and the root keep: bundles, key files, the
//! root key. Secret files are created owner-only and never overwritten in
//! place.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use liaison_protocol::SecretKey;
use liaison_protocol::Signed;
use liaison_protocol::bundle::{
    AuthorityKeyFile, Bundle, BundleError, PendingAuthorityKey, UNSEALED_DEVELOPMENT,
    key_file_protection, parse_root_key_file, root_key_toml, toml_lite,
};
use zeroize::Zeroizing;

use crate::sealed::{self, SealParams};
use liaison_protocol::message::EnrolmentRequest;

use crate::error::AdminError;

/// Read a text file, naming it (`what`, such as "bundle") in the error.
pub fn read_text(path: &Path, what: &'static str) -> Result<String, AdminError> {
    std::fs::read_to_string(path).map_err(|source| AdminError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

fn write_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> AdminError {
    let path = path.to_owned();
    move |source| AdminError::Write {
        action,
        path,
        source,
    }
}

/// Create `path` (never overwriting) with `text`; owner-only (0600) if
/// `secret`. Synced before returning.
pub fn write_new_file(path: &Path, text: &str, secret: bool) -> Result<(), AdminError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut f = opts.open(path).map_err(write_error("creating", path))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(write_error("writing", path))
}

/// Refuse before doing anything if one of `paths` exists: nothing is
/// overwritten, and nothing is half written.
pub fn check_absent(paths: &[&Path]) -> Result<(), AdminError> {
    match paths.iter().find(|p| p.exists()) {
        Some(p) => Err(AdminError::Exists {
            path: p.to_path_buf(),
        }),
        None => Ok(()),
    }
}

/// Replace the secret file `path` with `text` atomically (a 0600 temporary
/// file beside it, synced, then renamed over it).
pub fn replace_secret_file(path: &Path, text: &str) -> Result<(), AdminError> {
    let name = path.file_name().ok_or_else(|| AdminError::NotAFilePath {
        path: path.to_owned(),
    })?;
    let mut tmp_name = name.to_os_string();
    tmp_name.push(".new");
    let tmp = path.with_file_name(tmp_name);
    let _ = std::fs::remove_file(&tmp);
    write_new_file(&tmp, text, true)?;
    std::fs::rename(&tmp, path).map_err(write_error("replacing", path))
}

/// Load a bundle.
pub fn load_bundle(path: &Path) -> Result<Bundle, AdminError> {
    Bundle::from_toml(&read_text(path, "bundle")?).map_err(|source| AdminError::BundleFile {
        path: path.to_owned(),
        source,
    })
}

/// Asks for the passphrase of a sealed key file (named by its path); called
/// only when the file is sealed.
pub type AskPassphrase<'a> = &'a mut dyn FnMut(&Path) -> Result<Zeroizing<String>, AdminError>;

/// How a secret key file was kept on disk.
#[derive(Debug)]
pub enum Protection {
    /// Sealed under this passphrase.
    Sealed(Zeroizing<String>),
    /// In the clear, marked as a development network's key.
    Development,
    /// In the clear and not marked: written by an earlier release, or by
    /// hand. Refused until sealed (`liaison-admin key seal`).
    Clear,
}

/// A secret key file's clear text and how it was kept.
#[derive(Debug)]
pub struct KeyText {
    /// The clear key file.
    pub text: Zeroizing<String>,
    /// How it was kept.
    pub protection: Protection,
}

impl KeyText {
    /// Refuse a key that was kept in the clear without the development
    /// mark. Callers parse first, so a malformed file is reported as such.
    pub fn check_sealed(&self, path: &Path) -> Result<(), AdminError> {
        match self.protection {
            Protection::Clear => Err(AdminError::Unsealed {
                path: path.to_owned(),
            }),
            Protection::Sealed(_) | Protection::Development => Ok(()),
        }
    }

    /// The passphrase it was sealed under, if it was.
    pub fn passphrase(&self) -> Option<&str> {
        match &self.protection {
            Protection::Sealed(p) => Some(p),
            Protection::Development | Protection::Clear => None,
        }
    }
}

/// Read a secret key file (`what` names it in errors): open it with the
/// passphrase `ask` gives when it is sealed.
pub fn read_key_text(
    path: &Path,
    what: &'static str,
    ask: AskPassphrase<'_>,
) -> Result<KeyText, AdminError> {
    let text = Zeroizing::new(read_text(path, what)?);
    if sealed::is_sealed(&text) {
        let passphrase = ask(path)?;
        let opened = sealed::open(&text, &passphrase).map_err(|source| AdminError::Sealed {
            path: path.to_owned(),
            source,
        })?;
        return Ok(KeyText {
            text: opened.plain,
            protection: Protection::Sealed(passphrase),
        });
    }
    let protection = if key_file_protection(&text).as_deref() == Some(UNSEALED_DEVELOPMENT) {
        Protection::Development
    } else {
        Protection::Clear
    };
    Ok(KeyText { text, protection })
}

/// Seal the clear key file `plain` under `passphrase` (fresh salt and
/// nonce from the OS), naming what it holds from its own fields.
pub fn seal_key_text(plain: &str, passphrase: &str) -> Result<String, AdminError> {
    let (contains, label) = describe_key_file(plain)?;
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; 24];
    getrandom::fill(&mut salt).map_err(AdminError::Random)?;
    getrandom::fill(&mut nonce).map_err(AdminError::Random)?;
    sealed::seal(
        plain,
        &contains,
        &label,
        passphrase,
        SealParams::default(),
        salt,
        nonce,
    )
    .map_err(|source| AdminError::Sealed {
        path: PathBuf::new(),
        source,
    })
}

/// What a clear key file holds: its kind, and whose key it is (the country,
/// or "root").
fn describe_key_file(plain: &str) -> Result<(String, String), AdminError> {
    let fields: std::collections::BTreeMap<String, String> =
        toml_lite::from_str(plain).map_err(|e| AdminError::Bundle(BundleError::Toml(e)))?;
    let kind = fields.get("kind").cloned().unwrap_or_default();
    let label = match kind.as_str() {
        "liaison-root-key" => "root".to_owned(),
        _ => fields.get("country").cloned().unwrap_or_default(),
    };
    Ok((kind, label))
}

/// A clear key file rewritten in the current format, without a development
/// mark: what `key seal` seals. Accepts an authority key (certified or
/// not) and a root key (including the bare hex of earlier releases).
pub fn canonical_key_text(plain: &str) -> Result<Zeroizing<String>, AdminError> {
    let fields: std::collections::BTreeMap<String, String> =
        toml_lite::from_str(plain).unwrap_or_default();
    match fields.get("kind").map(String::as_str) {
        Some("liaison-authority-key") => Ok(Zeroizing::new(
            AuthorityKeyFile::from_toml(plain)?.to_toml(),
        )),
        Some("liaison-authority-key-pending") => Ok(Zeroizing::new(
            PendingAuthorityKey::from_toml(plain)?.to_toml(),
        )),
        _ => Ok(root_key_toml(&parse_root_key(plain)?, false)),
    }
}

/// Load an authority key file (certified).
pub fn load_authority(path: &Path, ask: AskPassphrase<'_>) -> Result<AuthorityKeyFile, AdminError> {
    let key = read_key_text(path, "authority key", ask)?;
    let file =
        AuthorityKeyFile::from_toml(&key.text).map_err(|source| AdminError::AuthorityKeyFile {
            path: path.to_owned(),
            source,
        })?;
    key.check_sealed(path)?;
    Ok(file)
}

/// Load and verify a focal point's armoured enrolment request.
pub fn load_enrolment_request(
    path: &Path,
) -> Result<(Signed<EnrolmentRequest>, EnrolmentRequest), AdminError> {
    Ok(EnrolmentRequest::from_armored(&read_text(
        path,
        "enrolment request",
    )?)?)
}

/// Fresh key material from the operating system.
pub fn new_secret_key() -> Result<SecretKey, AdminError> {
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut()).map_err(AdminError::Random)?;
    Ok(SecretKey::from_seed(&seed))
}

/// The root key as a clear key file (the plaintext of a sealed one).
pub fn root_key_text(root: &SecretKey) -> Zeroizing<String> {
    root_key_toml(root, false)
}

/// Parse a clear root key file ([`root_key_text`], a development network's,
/// or the bare hex of earlier releases).
pub fn parse_root_key(text: &str) -> Result<SecretKey, AdminError> {
    parse_root_key_file(text).map_err(|_| AdminError::RootKey)
}

/// Load the root key.
pub fn load_root(path: &Path, ask: AskPassphrase<'_>) -> Result<SecretKey, AdminError> {
    let key = read_key_text(path, "root key", ask)?;
    let root = parse_root_key(&key.text).map_err(|_| AdminError::RootKeyFile {
        path: path.to_owned(),
    })?;
    key.check_sealed(path)?;
    Ok(root)
}

/// `KEY.request`, where `authority keygen` writes the request beside the
/// key `KEY`.
pub fn request_path(key: &Path) -> PathBuf {
    let mut name = key.as_os_str().to_os_string();
    name.push(".request");
    PathBuf::from(name)
}
